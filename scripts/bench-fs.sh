#!/usr/bin/env bash
# Benchmark: extracting the files of a 2 GiB ext4 partition and of a 2 GiB FAT32 partition of a
# qcow2 disk, diskimg (`extract -p N`, one step) against 7-Zip on the same image. 7-Zip opens a
# qcow2 as its partitions, so it takes two steps, both timed: the partition out of the qcow2,
# then the files out of the partition. Each partition holds the 20,000 small files of tree_small
# and four 205 MB files of tree_big (ext4 made by mke2fs -d, FAT32 by mkfs.fat + mcopy; the disk
# by sgdisk, converted with qemu-img). Prints medians, ratios and peak RSS.
# Env: DATA (datasets), WORK (scratch, needs ~12 GB), RUNS (default 3).
set -euo pipefail
source "$(dirname "$0")/bench-common.sh"
build_release
datasets tree_small tree_big
disk=$WORK/fs_disk.qcow2
if [ ! -f "$disk" ]; then
  src=$WORK/fs_src
  rm -rf "$src"; mkdir -p "$src/big"
  cp -r "$DATA/tree_small" "$src/small"
  for i in 00 01 02 03; do cp "$DATA/tree_big/large_$i.bin" "$src/big/"; done
  part=$((2048 * 1024 * 1024))
  rm -f "$WORK/p1.img" "$WORK/p2.img" "$WORK/fs_disk.raw"
  mke2fs -q -F -t ext4 -d "$src" "$WORK/p1.img" $((part / 1024))k
  truncate -s $part "$WORK/p2.img"
  mkfs.fat -F 32 -n BENCH "$WORK/p2.img" >/dev/null
  MTOOLS_SKIP_CHECK=1 mcopy -s -m -i "$WORK/p2.img" "$src/small" "$src/big" ::/
  truncate -s $((2 * part + 4 * 1024 * 1024)) "$WORK/fs_disk.raw"
  s2=$((2048 + part / 512))
  sgdisk -n 1:2048:$((s2 - 1)) -t 1:8300 -n 2:$s2:$((s2 + part / 512 - 1)) -t 2:0700 "$WORK/fs_disk.raw" >/dev/null
  dd if="$WORK/p1.img" of="$WORK/fs_disk.raw" bs=4M seek=$((2048 * 512)) oflag=seek_bytes conv=notrunc,sparse status=none
  dd if="$WORK/p2.img" of="$WORK/fs_disk.raw" bs=4M seek=$((s2 * 512)) oflag=seek_bytes conv=notrunc,sparse status=none
  qemu-img convert -O qcow2 "$WORK/fs_disk.raw" "$disk"
  rm -rf "$src" "$WORK/p1.img" "$WORK/p2.img" "$WORK/fs_disk.raw"
fi
out=$WORK/fs_out
printf '%-6s %-8s %10s %10s %8s\n' part tool seconds ratio rss_MiB
for p in 1 2; do
  cat "$disk" > /dev/null   # same warm page cache for every tool
  prep="rm -rf '$out'; mkdir -p '$out'"
  ours_cmd="'$DISKIMG' extract -q -p $p '$disk' -o '$out'"
  z_cmd="7zz x -y -o'$out/part' '$disk' '$((p - 1)).*' >/dev/null && 7zz x -y -o'$out/files' '$out'/part/* >/dev/null"
  ours=$(median_seconds diskimg "$prep" "$ours_cmd")
  z=$(median_seconds 7zz "$prep" "$z_cmd")
  name=$([ $p = 1 ] && echo ext4 || echo fat32)
  printf '%-6s %-8s %10s %10s %8s\n' "$name" diskimg "$ours" 1.00 "$(peak_rss_mib "$prep" "$ours_cmd")"
  printf '%-6s %-8s %10s %10s %8s\n' "$name" 7zz "$z" "$(ratio "$ours" "$z")" "$(peak_rss_mib "$prep" "$z_cmd")"
done
rm -rf "$out"
echo "ratio = 7-Zip's time / diskimg's time (above 1: diskimg is faster)"
