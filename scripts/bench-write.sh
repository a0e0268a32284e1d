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
# A fresh, empty 4 GiB "drive" before each run.
fresh() { detach; rm -f "$back"; truncate -s 4G "$back"; loop=$(losetup --find --show "$back"); export loop; cat "$img" > /dev/null; }
prep='fresh'
have_bmap=0
if command -v bmaptool >/dev/null; then
  have_bmap=1
  [ -f "$img.bmap" ] || bmaptool -q create -o "$img.bmap" "$img"
fi
run() { median_seconds "$1" "$prep" "$2"; }
printf '%-34s %10s %10s\n' tool seconds ratio
ours=$(run diskimg "'$DISKIMG' write -q --yes '$img' \$loop")
printf '%-34s %10s %10s\n' "diskimg write (verified)" "$ours" 1.00
t=$(run dd "dd if='$img' of=\$loop bs=4M conv=fsync status=none && cmp '$img' \$loop")
printf '%-34s %10s %10s\n' "dd conv=fsync + cmp (cached)" "$t" "$(ratio "$ours" "$t")"
t=$(run dd2 "dd if='$img' of=\$loop bs=4M conv=fsync status=none && blockdev --flushbufs \$loop && cmp '$img' \$loop")
printf '%-34s %10s %10s\n' "dd conv=fsync + flushbufs + cmp" "$t" "$(ratio "$ours" "$t")"
sparse=$(run diskimg-sparse "'$DISKIMG' write -q --yes --sparse '$img' \$loop")
printf '%-34s %10s %10s\n' "diskimg write --sparse (verified)" "$sparse" "$(ratio "$ours" "$sparse")"
if [ $have_bmap = 1 ]; then
  t=$(run bmaptool "bmaptool -q copy --bmap '$img.bmap' '$img' \$loop")
  printf '%-34s %10s %10s\n' "bmaptool copy" "$t" "$(ratio "$ours" "$t")"
fi
echo "ratio = other tool's time / diskimg write's time (above 1: diskimg is faster)"
