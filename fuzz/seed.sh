#!/usr/bin/env bash
# Seeds for the fuzz targets, cut from the fixtures (run tests/fixtures/make-fixtures.sh first).
# Output: fuzz/seeds/<target>/ (not committed).
set -euo pipefail
cd "$(dirname "$0")"
fx=../tests/fixtures/out
rm -rf seeds; mkdir -p seeds/open seeds/iso9660 seeds/mbr seeds/gpt seeds/udf seeds/cue seeds/toc seeds/nrg seeds/mds seeds/ccd seeds/cdi seeds/gdi
for img in "$fx"/iso/*.iso; do
  [ "$(stat -c %s "$img")" -lt 8000000 ] || continue
  n=$(basename "$img" .iso)
  head -c 262144 "$img" > "seeds/open/$n"
  dd if="$img" of="seeds/iso9660/$n" bs=2048 skip=16 count=128 status=none
  head -c 65536 "$img" > "seeds/mbr/$n"
  head -c 65536 "$img" > "seeds/gpt/$n"
done
# UDF: images with 512-byte blocks, from byte 32768 (the recognition sequence) on, which holds
# the descriptors, the directories and the first files.
for img in "$fx"/udf/hd_512_*.img "$fx"/udf/vat_*.img; do
  [ -f "$img" ] || continue
  dd if="$img" of="seeds/udf/$(basename "$img" .img)" bs=512 skip=64 count=1536 status=none
done
# Optical descriptors: the fixtures' cue sheets, TOC and GDI files; NRG, MDS and CloneCD
# descriptors written by diskimg from them (an NRG keeps its sectors: only small images).
op=$fx/optical
if [ -d "$op" ]; then
  cp "$op"/*.cue seeds/cue/ 2>/dev/null || true
  cp "$op"/*.toc seeds/toc/ 2>/dev/null || true
  cp "$op"/*.gdi seeds/gdi/ 2>/dev/null || true
  di=${CARGO_TARGET_DIR:-../target}/debug/diskimg
  if [ -x "$di" ]; then
    t=$(mktemp -d)
    for src in mixed.cue vcd.cue extra.cue; do
      n=${src%.cue}
      "$di" convert -q "$op/$src" "$t/$n.mds" 2>/dev/null && cp "$t/$n.mds" seeds/mds/
      "$di" convert -q "$op/$src" "$t/$n.ccd" 2>/dev/null && cp "$t/$n.ccd" seeds/ccd/
    done
    "$di" convert -q "$op/vcd.cue" "$t/vcd.nrg" 2>/dev/null && tail -c 4096 "$t/vcd.nrg" > seeds/nrg/vcd_tail
    rm -rf "$t"
  fi
fi
pub=/work/shared/corpus/public/libcdio
[ -d "$pub" ] && for n in p1 videocd; do [ -f "$pub/$n.nrg" ] && cp "$pub/$n.nrg" seeds/nrg/; done
true
# Tiny images for the binary formats (the fuzzer's inputs stay under 1 MiB): a 4-sector
# disc converted to NRG by diskimg, and a CDI v3.5 laid out as optical/cdi.rs describes.
if [ -x "${di:-}" ]; then
  t=$(mktemp -d)
  head -c $((4 * 2048)) /dev/zero > "$t/z.iso"
  "$di" convert -q "$t/z.iso" "$t/z.nrg" 2>/dev/null && cp "$t/z.nrg" seeds/nrg/tiny.nrg
  rm -rf "$t"
fi
python3 - seeds/cdi/tiny.cdi <<'PY'
import struct, sys
mark = bytes([0, 0, 1, 0, 0, 0, 255, 255, 255, 255]) * 2
data = bytes(154 * 2352)
d = struct.pack("<HH", 1, 1) + struct.pack("<I", 0) + mark + bytes(4) + b"\x05a.iso" + bytes(11)
d += struct.pack("<I", 2) + bytes(4) + struct.pack("<III", 0x80000000, 360000, 0x980000)
d += struct.pack("<HII", 2, 150, 4) + bytes(6) + struct.pack("<I", 1) + bytes(4) + struct.pack("<IIII", 0, 0, 0, 154)
d += bytes(16) + struct.pack("<II", 2, 4) + b"\0" + struct.pack("<I", 154) + bytes(4) + b"USXXX2300001" + struct.pack("<I", 1)
d += b"\0" + b"\xff" * 8 + bytes(78) + bytes(13) + bytes(30)
open(sys.argv[1], "wb").write(data + d + struct.pack("<II", 0x80000006, len(d) + 8))
PY
