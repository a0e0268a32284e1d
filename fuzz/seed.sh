#!/usr/bin/env bash
# Seeds for the fuzz targets, cut from the fixtures (run tests/fixtures/make-fixtures.sh first).
# Output: fuzz/seeds/<target>/ (not committed).
set -euo pipefail
cd "$(dirname "$0")"
fx=../tests/fixtures/out
rm -rf seeds
mkdir -p seeds/open seeds/iso9660 seeds/mbr seeds/gpt seeds/udf seeds/vhd seeds/vhdx seeds/vdi seeds/vmdk seeds/vmdk_descriptor seeds/apm seeds/ntfs seeds/hfsplus seeds/nbd
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
# NBD: client byte streams as proto.md describes them (no fixture needed): fixed newstyle
# flags, options (STRUCTURED_REPLY, SET_META_CONTEXT base:allocation, LIST, INFO, GO or
# EXPORT_NAME), then requests of every kind against the fuzz target's "rw" and "ro" exports.
python3 - seeds/nbd <<'PY'
import struct, sys, os
out = sys.argv[1]
IHAVEOPT = 0x49484156454F5054
def opt(o, data=b""): return struct.pack(">QII", IHAVEOPT, o, len(data)) + data
def name(n): return struct.pack(">I", len(n)) + n
def req(kind, off, ln, flags=0, cookie=1, payload=b""):
    return struct.pack(">IHHQQI", 0x25609513, flags, kind, cookie, off, ln) + payload
reqs = (req(0, 0, 4096) + req(1, 512, 1024, 1, 2, b"\xab" * 1024) + req(0, 0, 8192, 4, 3)
        + req(7, 0, 65536, 8, 4) + req(7, 0, 1 << 20, 0, 5) + req(4, 4096, 8192, 0, 6)
        + req(6, 0, 4096, 2, 7) + req(3, 0, 0, 0, 8) + req(0, (1 << 20) - 10, 100, 0, 9)
        + req(9, 0, 0) + req(2, 0, 0))
meta = name(b"rw") + struct.pack(">I", 1) + name(b"base:allocation")
go = name(b"rw") + struct.pack(">H", 1) + struct.pack(">H", 3)
seeds = {
    "go_structured": struct.pack(">I", 3) + opt(8) + opt(10, meta) + opt(3) + opt(6, go) + opt(7, go) + reqs,
    "go_simple": struct.pack(">I", 1) + opt(7, name(b"ro") + b"\0\0") + reqs,
    "export_name": struct.pack(">I", 3) + opt(1, b"rw") + reqs,
    "abort": struct.pack(">I", 1) + opt(9, meta) + opt(5) + opt(2),
}
for n, b in seeds.items():
    open(os.path.join(out, n), "wb").write(b)
PY
