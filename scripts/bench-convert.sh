#!/usr/bin/env bash
# diskimg convert against qemu-img convert on the same disk image, per format pair: wall time
# (best of RUNS), the ratio (qemu-img time / diskimg time: above 1 means diskimg is faster) and
# peak RSS (/usr/bin/time -v). Every output is checked with qemu-img compare (untimed).
#
# The input is an 8 GiB raw disk (SIZE_GIB), half random data and half holes in 4 MiB granules
# (in each pair of granules one is data, chosen by a seeded generator), like the `sparse`
# dataset of /work/shared/bench/gen_datasets.sh. It is generated here, deterministically.
#
# Usage: scripts/bench-convert.sh [WORKDIR]
#   env: DISKIMG (default target/release/diskimg), SIZE_GIB=8, RUNS=2, KEEP=1 keeps the qcow2
#        input, ONLY=REGEX runs only the pairs whose name matches
# Needs: qemu-img, python3, /usr/bin/time. Build first: cargo build --release -p diskimg-cli
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-${TMPDIR:-/tmp}/diskimg-bench-convert}
DISKIMG=${DISKIMG:-${CARGO_TARGET_DIR:-$root/target}/release/diskimg}
SIZE_GIB=${SIZE_GIB:-8}
RUNS=${RUNS:-2}
for t in qemu-img python3 /usr/bin/time "$DISKIMG"; do
  command -v "$t" >/dev/null || { echo "bench-convert: missing $t" >&2; exit 3; }
done
mkdir -p "$work"
disk=$work/disk${SIZE_GIB}g.raw

if [ ! -f "$disk" ] || [ "$(stat -c %s "$disk")" != $((SIZE_GIB << 30)) ]; then
  echo "bench-convert: generating $disk (${SIZE_GIB} GiB, half data, half holes)" >&2
  python3 - "$disk" $((SIZE_GIB << 30)) <<'PY'
import random, sys
path, size = sys.argv[1], int(sys.argv[2])
chunk = 4 << 20
rng = random.Random(20260101)
with open(path, "wb") as f:
    f.truncate(size)
    for off in range(0, size, 2 * chunk):
        at = off + (chunk if rng.getrandbits(1) else 0)
        if at < size:
            f.seek(at)
            f.write(rng.randbytes(min(chunk, size - at)))
PY
fi

# One timed run: prints "seconds max_rss_kib".
timed() {
  sync
  /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" >/dev/null 2>"$work/err.txt" || {
    cat "$work/err.txt" >&2; return 1; }
  cat "$work/time.txt"
}

# best_of CMD...: the best time of RUNS runs and the peak RSS of that run.
best_of() {
  local best="" rss="" t m
  for _ in $(seq "$RUNS"); do
    read -r t m < <(timed "$@")
    if [ -z "$best" ] || python3 -c "import sys; sys.exit(0 if $t < $best else 1)"; then
      best=$t; rss=$m
    fi
  done
  echo "$best $rss"
}

# Pairs: name | input (relative to WORKDIR) | output format | extra options (both tools).
# The vmdk (streamOptimized) and vhdx rows run once diskimg has those writers
# (`diskimg convert --list-options FORMAT` succeeds); until then they are reported as skipped.
PAIRS=(
  "raw->qcow2|disk${SIZE_GIB}g.raw|qcow2|"
  "qcow2->raw|ref.qcow2|raw|"
  "raw->qcow2 -c (zlib)|disk${SIZE_GIB}g.raw|qcow2|-c"
  "raw->qcow2 -c zstd|disk${SIZE_GIB}g.raw|qcow2|-c -o compression_type=zstd"
  "raw->vmdk streamOptimized|disk${SIZE_GIB}g.raw|vmdk|-o subformat=streamOptimized"
  "raw->vhdx|disk${SIZE_GIB}g.raw|vhdx|"
)

[ -f "$work/ref.qcow2" ] || qemu-img convert -O qcow2 "$disk" "$work/ref.qcow2"

printf '%-28s %10s %10s %7s %12s %12s\n' pair qemu-img diskimg ratio "qemu RSS" "diskimg RSS"
for p in "${PAIRS[@]}"; do
  IFS='|' read -r name input fmt extra <<<"$p"
  [[ -z "${ONLY:-}" || "$name" =~ $ONLY ]] || continue
  if ! "$DISKIMG" convert --list-options "$fmt" >/dev/null 2>&1; then
    printf '%-28s %s\n' "$name" "skipped: diskimg has no $fmt writer yet"
    continue
  fi
  in=$work/$input
  # shellcheck disable=SC2086
  read -r qt qm < <(best_of qemu-img convert -O "$fmt" $extra "$in" "$work/out.qemu")
  # shellcheck disable=SC2086
  read -r dt dm < <(best_of "$DISKIMG" convert -q --overwrite -O "$fmt" $extra "$in" "$work/out.diskimg")
  qemu-img compare -q "$in" "$work/out.diskimg" || { echo "bench-convert: $name: output differs!" >&2; exit 1; }
  ratio=$(python3 -c "print(f'{$qt / max($dt, 0.001):.2f}x')")
  printf '%-28s %9ss %9ss %7s %9s MiB %9s MiB\n' "$name" "$qt" "$dt" "$ratio" $((qm / 1024)) $((dm / 1024))
  rm -f "$work/out.qemu" "$work/out.diskimg"
done
[ -n "${KEEP:-}" ] || rm -f "$work/ref.qcow2"
