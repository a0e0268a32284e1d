#!/usr/bin/env bash
# diskimg against maxcso on compressed ISOs: compress to CSO v1 and ZSO (2048-byte blocks, both
# tools' default level, diskimg level=best against maxcso's default again, and diskimg
# level=fast against maxcso --fast), and decompress back to an
# ISO. Reports wall time, output size and peak RSS (/usr/bin/time -v) of each; every output is
# decompressed by the other tool and compared with the input (untimed).
#
# Inputs: a 700 MiB CD image (BENCH_DATA/cd.iso) and a 2 GiB DVD-like image made here,
# deterministically, from cd.iso + the first GiB of BENCH_DATA/disk1g.raw + the head of
# BENCH_DATA/mixed.bin (in WORKDIR/dvd.iso).
#
# Usage: scripts/bench-cso.sh [WORKDIR]
#   env: DISKIMG (default target/release/diskimg), MAXCSO (default: the fixture copy, else
#        npm pack @emmercm/maxcso-linux-x64), BENCH_DATA=/work/bench-data, RUNS=1,
#        ONLY=REGEX runs only the rows whose name matches
# Build first: cargo build --release -p diskimg-cli
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-/work/bench-work/cso}
data=${BENCH_DATA:-/work/bench-data}
DISKIMG=${DISKIMG:-${CARGO_TARGET_DIR:-$root/target}/release/diskimg}
RUNS=${RUNS:-1}
mkdir -p "$work"
if [ -z "${MAXCSO:-}" ]; then
  MAXCSO=$root/tests/fixtures/out/cso/maxcso
  if [ ! -x "$MAXCSO" ]; then
    MAXCSO=$work/maxcso
    if [ ! -x "$MAXCSO" ]; then
      (cd "$work" && npm pack --silent @emmercm/maxcso-linux-x64@0.1130.16 >/dev/null &&
        tar -xzf emmercm-maxcso-linux-x64-0.1130.16.tgz && cp package/dist/maxcso maxcso &&
        rm -rf package ./*.tgz) || { echo "bench-cso: cannot get maxcso" >&2; exit 3; }
    fi
  fi
fi
for t in python3 /usr/bin/time "$DISKIMG" "$MAXCSO" "$data/cd.iso" "$data/disk1g.raw" "$data/mixed.bin"; do
  [ -e "$t" ] || command -v "$t" >/dev/null || { echo "bench-cso: missing $t" >&2; exit 3; }
done

# The DVD image is made only when a dvd row runs (ONLY may select none).
make_dvd() {
  local dvd=$work/dvd.iso
  if [ ! -f "$dvd" ] || [ "$(stat -c %s "$dvd")" != $((2 << 30)) ]; then
    echo "bench-cso: making $dvd (2 GiB)" >&2
    cd_size=$(stat -c %s "$data/cd.iso")
    { cat "$data/cd.iso"; head -c $((1 << 30)) "$data/disk1g.raw"
      head -c $(((2 << 30) - (1 << 30) - cd_size)) "$data/mixed.bin"; } > "$dvd"
  fi
}
# A hard link when the work directory is on the same file system, else a copy.
ln "$data/cd.iso" "$work/cd.iso" 2>/dev/null || cp -n "$data/cd.iso" "$work/cd.iso" 2>/dev/null || true

# timed CMD...: one run; prints "seconds max_rss_kib".
timed() {
  sync
  /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" >/dev/null 2>"$work/err.txt" || {
    cat "$work/err.txt" >&2; return 1; }
  cat "$work/time.txt"
}
best_of() {
  local best="" rss="" t m
  for _ in $(seq "$RUNS"); do
    rm -f "$out"
    read -r t m < <(timed "$@")
    if [ -z "$best" ] || python3 -c "import sys; sys.exit(0 if $t < $best else 1)"; then best=$t; rss=$m; fi
  done
  echo "$best $rss"
}
size_mib() { python3 -c "print(f'{$(stat -c %s "$1") / 1048576:.1f}')"; }
same() { cmp -s "$1" "$2" || { echo "bench-cso: $3: output differs from the input!" >&2; exit 1; }; }

printf '%-26s %9s %9s %7s %11s %11s %9s %9s\n' row maxcso diskimg ratio "maxcso MiB" "diskimg MiB" "maxcso RSS" "diskimg RSS"
row() { # name maxcso-time maxcso-rss diskimg-time diskimg-rss maxcso-out diskimg-out
  local ratio; ratio=$(python3 -c "print(f'{$2 / max($4, 0.001):.2f}x')")
  printf '%-26s %8ss %8ss %7s %11s %11s %6s MiB %6s MiB\n' "$1" "$2" "$4" "$ratio" "$(size_mib "$6")" "$(size_mib "$7")" $(($3 / 1024)) $(($5 / 1024))
}
for img in cd dvd; do
  in=$work/$img.iso
  # name | maxcso arguments | diskimg arguments | extension
  for p in "cso|--block=2048|-O cso|cso" "cso best|--block=2048|-O cso -o level=best|cso" "cso fast|--block=2048 --fast|-O cso -o level=fast|cso" "zso|--block=2048 --format=zso|-O zso|zso"; do
    IFS='|' read -r what margs dargs ext <<<"$p"
    name="$img $what"
    [[ -z "${ONLY:-}" || "$name" =~ $ONLY ]] || continue
    [ "$img" = cd ] || make_dvd
    mo=$work/m.$ext; do_=$work/d.$ext
    out=$mo
    # shellcheck disable=SC2086
    read -r mt mm < <(best_of "$MAXCSO" --quiet --threads=2 $margs "$in" -o "$mo")
    out=$do_
    # shellcheck disable=SC2086
    read -r dt dm < <(best_of "$DISKIMG" convert -q --overwrite $dargs "$in" "$do_")
    row "$name" "$mt" "$mm" "$dt" "$dm" "$mo" "$do_"
    # Checks: maxcso reads ours, diskimg reads maxcso's (the decompress row, timed).
    "$MAXCSO" --quiet --threads=2 --decompress "$do_" -o "$work/check.iso"; same "$work/check.iso" "$in" "$name (maxcso reading diskimg)"
    if [ "$what" = cso ] || [ "$what" = zso ]; then
      out=$work/m.iso
      read -r mt mm < <(best_of "$MAXCSO" --quiet --threads=2 --decompress "$mo" -o "$work/m.iso")
      out=$work/d.iso
      read -r dt dm < <(best_of "$DISKIMG" convert -q --overwrite "$mo" "$work/d.iso")
      same "$work/d.iso" "$in" "$name (diskimg reading maxcso)"
      row "$img $what -> iso" "$mt" "$mm" "$dt" "$dm" "$work/m.iso" "$work/d.iso"
    fi
    rm -f "$mo" "$do_" "$work/check.iso" "$work/m.iso" "$work/d.iso"
  done
done
