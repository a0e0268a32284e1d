#!/usr/bin/env bash
# Benchmark: making an ISO (Rock Ridge + Joliet) from a folder, diskimg `create iso` against
# `xorriso -as mkisofs -R -J` and `genisoimage -R -J`, on the same trees, run alternately:
# 20,000 small files (tree_small) and 20 large files (tree_big, ~4.1 GB). Each output is
# written to the same scratch folder and removed before the next run; the source trees are
# warm in the page cache. The tools take turns in every round. Prints medians, ratios and peak
# RSS (and every run's time on stderr).
# Env: DATA (datasets), WORK (scratch, needs ~5 GB), RUNS (default 3).
set -euo pipefail
source "$(dirname "$0")/bench-common.sh"
build_release
datasets tree_small tree_big
out=$WORK/create_out.iso
printf '%-8s %-12s %10s %10s %8s\n' tree tool seconds ratio rss_MiB
for t in small big; do
  src=$DATA/tree_$t
  tar -cf - "$src" 2>/dev/null | cat > /dev/null   # same warm page cache for every tool
  prep="rm -f '$out'"
  ours_cmd="'$DISKIMG' create iso -q --overwrite '$src' -o '$out'"
  xo_cmd="xorriso -as mkisofs -quiet -R -J -o '$out' '$src'"
  gi_cmd="genisoimage -quiet -R -J -o '$out' '$src'"
  { read -r ours ours_all; read -r xo xo_all; read -r gi gi_all; } < <(
    alternating_medians "$prep" "$ours_cmd" "$xo_cmd" "$gi_cmd")
  echo "runs ($t): diskimg $ours_all / xorriso $xo_all / genisoimage $gi_all" >&2
  printf '%-8s %-12s %10s %10s %8s\n' "$t" diskimg "$ours" 1.00 "$(peak_rss_mib "$prep" "$ours_cmd")"
  printf '%-8s %-12s %10s %10s %8s\n' "$t" xorriso "$xo" "$(ratio "$ours" "$xo")" "$(peak_rss_mib "$prep" "$xo_cmd")"
  printf '%-8s %-12s %10s %10s %8s\n' "$t" genisoimage "$gi" "$(ratio "$ours" "$gi")" "$(peak_rss_mib "$prep" "$gi_cmd")"
done
rm -f "$out"
echo "ratio = other tool's time / diskimg's time (above 1: diskimg is faster)"
