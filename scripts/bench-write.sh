#!/usr/bin/env bash
# Benchmark: writing a 4 GiB half-sparse disk image to a drive (a loop device over a fresh
# sparse file) and proving it arrived. diskimg write (writes the data, zeroes the rest with
# BLKZEROOUT, reads everything back with O_DIRECT) against `dd bs=4M conv=fsync` followed by
# `cmp` (once reading back through the page cache as people usually do, once after dropping
# the device's buffers), and `bmaptool copy` (writes only mapped data, checks the image's
# checksums while reading it; no read-back) beside `diskimg write --sparse` (the same
# promise). Needs root (losetup). Prints medians and ratios.
# Env: DATA (datasets: disk8g.raw), WORK (scratch, needs ~10 GB), RUNS (default 3).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DISKIMG=${DISKIMG:-${CARGO_TARGET_DIR:-$ROOT/target}/release/diskimg}
source "$(dirname "$0")/bench-common.sh"
build_release
img=$WORK/disk4g.raw
if [ ! -f "$img" ]; then
  src=$DATA/disk8g.raw
  [ -f "$src" ] || datasets disk8g.raw
  # The first 4 GiB, keeping its holes: half data, half holes, as the 8 GiB set.
  dd if="$src" of="$img" bs=4M count=1024 conv=sparse status=none
fi
back=$WORK/stick.img
loop=
detach() { [ -z "$loop" ] || losetup -d "$loop" 2>/dev/null || true; loop=; }
trap detach EXIT
# A fresh, empty 4 GiB "drive" before each run, attached in this shell so that the EXIT trap
# detaches the last one.
fresh() { detach; rm -f "$back"; truncate -s 4G "$back"; loop=$(losetup --find --show "$back"); export loop; cat "$img" > /dev/null; }
# timed CMD: runs CMD $RUNS times on a fresh drive; sets MEDIAN to the median seconds.
timed() {
  local i times=()
  for i in $(seq "$RUNS"); do
    fresh; sync
    /usr/bin/time -f '%e' -o "$WORK/.time" bash -c "$1" >/dev/null 2>&1 || { echo "bench: failed: $1" >&2; exit 1; }
    times+=("$(tail -1 "$WORK/.time")")
  done
  detach
  MEDIAN=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
}
have_bmap=0
if command -v bmaptool >/dev/null; then
  have_bmap=1
  [ -f "$img.bmap" ] || bmaptool -q create -o "$img.bmap" "$img"
fi
row() { printf '%-34s %10s %10s\n' "$1" "$2" "$3"; }
row tool seconds ratio
timed "'$DISKIMG' write -q --yes '$img' \$loop"; ours=$MEDIAN
row "diskimg write (verified)" "$ours" 1.00
timed "dd if='$img' of=\$loop bs=4M conv=fsync status=none && cmp '$img' \$loop"
row "dd conv=fsync + cmp (cached)" "$MEDIAN" "$(ratio "$ours" "$MEDIAN")"
timed "dd if='$img' of=\$loop bs=4M conv=fsync status=none && blockdev --flushbufs \$loop && cmp '$img' \$loop"
row "dd conv=fsync + flushbufs + cmp" "$MEDIAN" "$(ratio "$ours" "$MEDIAN")"
timed "'$DISKIMG' write -q --yes --sparse '$img' \$loop"
row "diskimg write --sparse (verified)" "$MEDIAN" "$(ratio "$ours" "$MEDIAN")"
if [ $have_bmap = 1 ]; then
  timed "bmaptool -q copy --bmap '$img.bmap' '$img' \$loop"
  row "bmaptool copy" "$MEDIAN" "$(ratio "$ours" "$MEDIAN")"
fi
rm -f "$back"
echo "ratio = other tool's time / diskimg write's time (above 1: diskimg is faster)"
