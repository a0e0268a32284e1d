#!/usr/bin/env bash
# Benchmark: extracting ISO images, diskimg against `7zz x` and `bsdtar -xf`, on the same image,
# run alternately. Images: 20,000 small files (tree_small) and 20 large files (tree_big, ~4.1 GB),
# made with xorriso -R -J from the shared datasets. Prints medians, ratios and peak RSS.
# Env: DATA (datasets), WORK (scratch, needs ~9 GB), RUNS (default 3).
set -euo pipefail
source "$(dirname "$0")/bench-common.sh"
build_release
datasets tree_small tree_big
for t in small big; do
  iso=$WORK/extract_$t.iso
  [ -f "$iso" ] || SOURCE_DATE_EPOCH=1700000000 xorriso -as mkisofs -quiet -R -J -V BENCH_$t -o "$iso" "$DATA/tree_$t" 2>/dev/null
done
out=$WORK/extract_out
printf '%-8s %-8s %10s %10s %8s %10s\n' image tool seconds ratio rss_MiB
for t in small big; do
  iso=$WORK/extract_$t.iso
  cat "$iso" > /dev/null   # same warm page cache for every tool
  prep="rm -rf '$out'; mkdir -p '$out'"
  ours=$(median_seconds diskimg "$prep" "'$DISKIMG' extract -q '$iso' -o '$out'")
  sz=$(median_seconds 7zz "$prep" "7zz x -y -o'$out' '$iso'")
  bt=$(median_seconds bsdtar "$prep" "bsdtar -xf '$iso' -C '$out'")
  printf '%-8s %-8s %10s %10s %8s\n' "$t" diskimg "$ours" 1.00 "$(peak_rss_mib "$prep" "'$DISKIMG' extract -q '$iso' -o '$out'")"
  printf '%-8s %-8s %10s %10s %8s\n' "$t" 7zz "$sz" "$(ratio "$ours" "$sz")" "$(peak_rss_mib "$prep" "7zz x -y -o'$out' '$iso'")"
  printf '%-8s %-8s %10s %10s %8s\n' "$t" bsdtar "$bt" "$(ratio "$ours" "$bt")" "$(peak_rss_mib "$prep" "bsdtar -xf '$iso' -C '$out'")"
done
rm -rf "$out"
echo "ratio = other tool's time / diskimg's time (above 1: diskimg is faster)"
