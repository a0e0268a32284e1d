#!/usr/bin/env bash
# Seeds for the fuzz targets, cut from the fixtures (run tests/fixtures/make-fixtures.sh first).
# Output: fuzz/seeds/<target>/ (not committed).
set -euo pipefail
cd "$(dirname "$0")"
fx=../tests/fixtures/out
rm -rf seeds; mkdir -p seeds/open seeds/iso9660 seeds/mbr seeds/gpt seeds/apm seeds/ntfs seeds/hfsplus
for img in "$fx"/iso/*.iso; do
  [ -e "$img" ] || continue
  [ "$(stat -c %s "$img")" -lt 8000000 ] || continue
  n=$(basename "$img" .iso)
  head -c 262144 "$img" > "seeds/open/$n"
  dd if="$img" of="seeds/iso9660/$n" bs=2048 skip=16 count=128 status=none
  head -c 65536 "$img" > "seeds/mbr/$n"
  head -c 65536 "$img" > "seeds/gpt/$n"
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
