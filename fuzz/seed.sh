#!/usr/bin/env bash
# Seeds for the fuzz targets, cut from the fixtures (run tests/fixtures/make-fixtures.sh first).
# Output: fuzz/seeds/<target>/ (not committed).
set -euo pipefail
cd "$(dirname "$0")"
fx=../tests/fixtures/out
rm -rf seeds
mkdir -p seeds/open seeds/iso9660 seeds/mbr seeds/gpt seeds/udf seeds/vhd seeds/vhdx seeds/vdi seeds/vmdk seeds/vmdk_descriptor seeds/apm seeds/ntfs seeds/hfsplus
for img in "$fx"/iso/*.iso; do
  [ -e "$img" ] || continue
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
# VM disks: small images whole (the fuzzers read every structure), descriptors as text.
vm=$fx/vmreaders
for img in "$vm"/*.vhd "$vm"/*.vhdx "$vm"/*.vdi "$vm"/*.vmdk; do
  [ -f "$img" ] || continue
  n=$(basename "$img"); ext=${n##*.}
  if head -c 21 "$img" | grep -q '^# Disk DescriptorFile'; then
    cp "$img" "seeds/vmdk_descriptor/$n"
  else
    head -c 1048576 "$img" > "seeds/$ext/$n"   # the fuzzers take at most 1 MiB
  fi
done
if [ -d "$fx/ntfs-hfs" ]; then
  cp "$fx/ntfs-hfs/ntfs_small.img" seeds/ntfs/small
  # The HFS+ partition of the small hybrid (APM entry 3 in 512-byte blocks).
  python3 - "$fx/ntfs-hfs/hfsplus_small.iso" seeds/hfsplus/small <<'PY'
import struct, sys
img = open(sys.argv[1], "rb").read()
for i in range(1, struct.unpack(">I", img[516:520])[0] + 1):
    e = img[512 * i:512 * (i + 1)]
    if e[48:57] == b"Apple_HFS":
        start, n = struct.unpack(">II", e[8:16])
        open(sys.argv[2], "wb").write(img[start * 512:(start + n) * 512])
PY
  for f in apm_parted.img hfsplus_hybrid_2048.iso hfsplus_small.iso; do
    head -c 65536 "$fx/ntfs-hfs/$f" > "seeds/apm/$f"
  done
fi
