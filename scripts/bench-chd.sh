#!/usr/bin/env bash
# Benchmark: writing CHDs, diskimg against chdman on the same data, one run each (RUNS is not
# used: a run takes minutes). Inputs: the 700 MiB CD image (DATA/cd.iso) as a CUE sheet
# (MODE1/2048) and as a bare ISO, both written with the CD layout (chdman createcd), and a
# 2 GiB DVD-like ISO made here deterministically (the CD image, 1 GiB of the mixed dataset,
# zeros) written with the DVD layout and 2048-byte hunks (chdman 0.289 createdvd -hs 2048).
# Prints seconds, output size and peak RSS for each tool, and checks every output with
# `chdman verify`. Env: DATA, WORK (default /work/bench-work/chd), CHDMAN, CHDMAN289.
set -euo pipefail
export WORK=${WORK:-/work/bench-work/chd}
given=${DISKIMG:-}
source "$(dirname "$0")/bench-common.sh"
DISKIMG=${given:-${CARGO_TARGET_DIR:-$ROOT/target}/release/diskimg}
CHDMAN=${CHDMAN:-chdman}
CHDMAN289=${CHDMAN289:-$WORK/npm/package/dist/chdman}
build_release
datasets cd.iso mixed.bin
if [ ! -x "$CHDMAN289" ]; then
  mkdir -p "$WORK/npm"
  (cd "$WORK/npm" && npm pack --silent @emmercm/chdman-linux-x64@0.289.0 >/dev/null && tar -xzf emmercm-chdman-linux-x64-0.289.0.tgz)
  chmod +x "$CHDMAN289"
fi
cue=$WORK/cd.cue
ln -sf "$DATA/cd.iso" "$WORK/cd.iso"   # cue sheets name their data files beside them
printf 'FILE "cd.iso" BINARY\n  TRACK 01 MODE1/2048\n    INDEX 01 00:00:00\n' > "$cue"
dvd=$WORK/dvd.iso
if [ ! -f "$dvd" ] || [ "$(stat -c %s "$dvd")" != 2147483648 ]; then
  { cat "$DATA/cd.iso"; head -c 1073741824 "$DATA/mixed.bin"; } > "$dvd"
  truncate -s 2G "$dvd"
fi
# one LABEL VERIFY_TOOL OUT CMD: runs CMD once under /usr/bin/time -v, prints a row.
one() {
  local label=$1 checker=$2 out=$3 cmd=$4
  rm -f "$out"; cat "$DATA/cd.iso" "$dvd" > /dev/null; sync
  /usr/bin/time -v -o "$WORK/.time" bash -c "$cmd" >/dev/null 2>&1 || { echo "bench: failed: $cmd" >&2; exit 1; }
  local secs rss size
  secs=$(awk -F': ' '/Elapsed \(wall clock\)/{n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; printf "%.1f", s}' "$WORK/.time")
  rss=$(awk '/Maximum resident set size/{printf "%.0f", $6/1024}' "$WORK/.time")
  size=$(stat -c %s "$out")
  "$checker" verify -i "$out" >/dev/null 2>&1 || { echo "bench: chdman verify failed on $out" >&2; exit 1; }
  printf '%-44s %8s s %14s bytes %6s MiB\n' "$label" "$secs" "$size" "$rss"
  rm -f "$out"
}
echo "CD image $(stat -c %s "$DATA/cd.iso") bytes; DVD image $(stat -c %s "$dvd") bytes; $(nproc) cores"
one "diskimg convert cd.cue (CD layout)" "$CHDMAN" "$WORK/a.chd" "'$DISKIMG' convert -q '$cue' '$WORK/a.chd'"
one "chdman createcd -i cd.cue" "$CHDMAN" "$WORK/b.chd" "'$CHDMAN' createcd -i '$cue' -o '$WORK/b.chd'"
one "diskimg convert -o layout=cd cd.iso" "$CHDMAN" "$WORK/a.chd" "'$DISKIMG' convert -q -o layout=cd '$DATA/cd.iso' '$WORK/a.chd'"
one "chdman createcd -i cd.iso" "$CHDMAN" "$WORK/b.chd" "'$CHDMAN' createcd -i '$DATA/cd.iso' -o '$WORK/b.chd'"
one "diskimg convert dvd.iso (DVD, 2048-byte hunks)" "$CHDMAN289" "$WORK/a.chd" "'$DISKIMG' convert -q '$dvd' '$WORK/a.chd'"
one "chdman 0.289 createdvd -hs 2048" "$CHDMAN289" "$WORK/b.chd" "'$CHDMAN289' createdvd -hs 2048 -i '$dvd' -o '$WORK/b.chd'"
