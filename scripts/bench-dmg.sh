#!/usr/bin/env bash
# diskimg against dmg2img on the same DMG: wall time (best of RUNS), the ratio (reference time /
# diskimg time: above 1 means diskimg is faster) and peak RSS (/usr/bin/time). Rows:
#   dmg->raw        dmg2img -s IN OUT        vs  diskimg convert -O raw IN OUT
#   raw->dmg (UDZO) shared/bench/mkdmg.py    vs  diskimg convert -O dmg (zlib: mkdmg.py at
#                   level 1 as hdiutil, diskimg at its default, zlib-rs level 2, which gives
#                   the same size; zlib-rs level 1 is a faster, weaker strategy)
#                   (there is no Linux build of hdiutil; mkdmg.py is the bench's own UDZO
#                   writer: Python, zlib on every core; skipped when it is not found)
#   raw->dmg (ULFO) diskimg alone (no other LZFSE writer runs here)
# Every output is checked, untimed: the raw disks must be identical, and our DMGs must read back
# in dmg2img (UDZO) or diskimg (ULFO) as the raw disk.
#
# The input is DMG (default /work/bench-data/cd.dmg when it exists). Without it, a 2 GiB disk is
# generated (half compressible text, a quarter random, a quarter zeros, deterministic) and
# written as UDZO by mkdmg.py when found, else by diskimg.
#
# Usage: scripts/bench-dmg.sh [DMG] [WORKDIR]
#   env: DISKIMG (default $CARGO_TARGET_DIR/release/diskimg), RUNS=2, MKDMG=path/to/mkdmg.py
# Needs: dmg2img, python3, /usr/bin/time. Build first: cargo build --release -p diskimg-cli
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dmg=${1:-/work/bench-data/cd.dmg}
work=${2:-${TMPDIR:-/tmp}/diskimg-bench-dmg}
DISKIMG=${DISKIMG:-${CARGO_TARGET_DIR:-$root/target}/release/diskimg}
RUNS=${RUNS:-2}
for t in dmg2img python3 /usr/bin/time "$DISKIMG"; do
  command -v "$t" >/dev/null || { echo "bench-dmg: missing $t" >&2; exit 3; }
done
mkdmg=${MKDMG:-}
for m in "$root/../shared/bench/mkdmg.py" /work/shared/bench/mkdmg.py; do
  [ -n "$mkdmg" ] || { [ -f "$m" ] && mkdmg=$m; } || true
done
mkdir -p "$work"

if [ ! -f "$dmg" ]; then
  dmg=$work/generated.dmg
  if [ ! -f "$dmg" ]; then
    echo "bench-dmg: generating a 2 GiB disk and $dmg" >&2
    python3 - "$work/generated.raw" $((2 << 30)) <<'PY'
import random, sys
path, size = sys.argv[1], int(sys.argv[2])
rng = random.Random(9)
step = 4 << 20
text = b"".join(b"line %d of a compressible file, with some words in it\n" % i for i in range(80000))[:step]
with open(path, "wb") as f:
    f.truncate(size)
    for off in range(0, size, step):
        kind = rng.choice(["text", "text", "random", "zero"])
        if kind == "zero":
            continue
        f.seek(off)
        f.write(text if kind == "text" else rng.randbytes(step))
PY
    if [ -n "$mkdmg" ]; then
      python3 "$mkdmg" "$work/generated.raw" "$dmg" 1 2048
    else
      "$DISKIMG" convert -q -O dmg "$work/generated.raw" "$dmg"
    fi
    rm -f "$work/generated.raw"
  fi
fi

# One timed run: prints "seconds max_rss_kib".
timed() {
  sync
  /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" >/dev/null 2>"$work/err.txt" || {
    cat "$work/err.txt" >&2; return 1; }
  cat "$work/time.txt"
}

# best_of OUT CMD...: the best time of RUNS runs of CMD (writing OUT, removed before each run)
# and the peak RSS of that run.
best_of() {
  local out=$1 best="" rss="" t m
  shift
  for _ in $(seq "$RUNS"); do
    rm -f "$out"
    read -r t m < <(timed "$@")
    if [ -z "$best" ] || python3 -c "import sys; sys.exit(0 if $t < $best else 1)"; then
      best=$t; rss=$m
    fi
  done
  echo "$best $rss"
}

row() { # name ref_time ref_rss our_time our_rss
  local ratio="-" ref="-" refm="-"
  if [ -n "$2" ]; then
    ratio=$(python3 -c "print(f'{$2 / max($4, 0.001):.2f}x')"); ref="$2s"; refm="$(($3 / 1024)) MiB"
  fi
  printf '%-18s %10s %10s %7s %12s %12s\n' "$1" "$ref" "$4s" "$ratio" "$refm" "$(($5 / 1024)) MiB"
}

size=$(stat -c %s "$dmg")
echo "input: $dmg ($((size >> 20)) MiB), $("$DISKIMG" info "$dmg" | awk '/variant:|virtual_size:/{printf "%s %s  ", $1, $2}')"
printf '%-18s %10s %10s %7s %12s %12s\n' pair reference diskimg ratio "ref RSS" "diskimg RSS"

# dmg -> raw
read -r rt rm_ < <(best_of "$work/out.dmg2img" dmg2img -s "$dmg" "$work/out.dmg2img")
mv "$work/out.dmg2img" "$work/ref.raw"
read -r dt dm < <(best_of "$work/out.raw" "$DISKIMG" convert -q -O raw "$dmg" "$work/out.raw")
cmp -s "$work/ref.raw" "$work/out.raw" || { echo "bench-dmg: dmg->raw: diskimg and dmg2img differ!" >&2; exit 1; }
row "dmg->raw" "$rt" "$rm_" "$dt" "$dm"
rm -f "$work/out.raw"

# raw -> dmg, UDZO (sizes printed: the two writers compress alike)
mt="" mm=""
if [ -n "$mkdmg" ]; then
  read -r mt mm < <(best_of "$work/out.mkdmg.dmg" python3 "$mkdmg" "$work/ref.raw" "$work/out.mkdmg.dmg" 1 2048)
fi
read -r dt dm < <(best_of "$work/out.udzo.dmg" "$DISKIMG" convert -q -O dmg --compression zlib "$work/ref.raw" "$work/out.udzo.dmg")
dmg2img -s "$work/out.udzo.dmg" "$work/check.raw" >/dev/null
cmp -s "$work/ref.raw" "$work/check.raw" || { echo "bench-dmg: raw->dmg: dmg2img reads another disk!" >&2; exit 1; }
row "raw->dmg (UDZO)" "$mt" "$mm" "$dt" "$dm"
echo "  sizes: diskimg UDZO $(($(stat -c %s "$work/out.udzo.dmg") >> 20)) MiB${mkdmg:+, mkdmg.py $(($(stat -c %s "$work/out.mkdmg.dmg") >> 20)) MiB}"
rm -f "$work/check.raw"

# raw -> dmg, ULFO (diskimg alone)
read -r dt dm < <(best_of "$work/out.ulfo.dmg" "$DISKIMG" convert -q -O dmg --compression lzfse "$work/ref.raw" "$work/out.ulfo.dmg")
rm -f "$work/check.raw"
"$DISKIMG" convert -q -O raw "$work/out.ulfo.dmg" "$work/check.raw"
cmp -s "$work/ref.raw" "$work/check.raw" || { echo "bench-dmg: raw->dmg (ULFO) reads back wrong!" >&2; exit 1; }
row "raw->dmg (ULFO)" "" "" "$dt" "$dm"
echo "  size: diskimg ULFO $(($(stat -c %s "$work/out.ulfo.dmg") >> 20)) MiB"
rm -f "$work"/out.* "$work/check.raw" "$work/ref.raw" "$work/time.txt" "$work/err.txt"
