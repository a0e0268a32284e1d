#!/usr/bin/env bash
# Seeds for the fuzz targets, cut from the fixtures (run tests/fixtures/make-fixtures.sh first).
# Output: fuzz/seeds/<target>/ (not committed).
set -euo pipefail
cd "$(dirname "$0")"
fx=../tests/fixtures/out
rm -rf seeds
mkdir -p seeds/open seeds/iso9660 seeds/mbr seeds/gpt seeds/udf seeds/vhd seeds/vhdx seeds/vdi seeds/vmdk \
  seeds/vmdk_descriptor seeds/apm seeds/ntfs seeds/hfsplus seeds/apfs seeds/fat seeds/exfat seeds/ext4 seeds/squashfs seeds/qcow2 \
  seeds/cue seeds/toc seeds/nrg seeds/mds seeds/ccd seeds/cdi seeds/gdi seeds/nbd seeds/cso seeds/chd
for img in "$fx"/iso/*.iso; do
  [ -f "$img" ] || continue
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
# CHDs: the small fixtures whole (chdman's CD, DVD and hard-disk layouts).
for img in "$fx"/chd/*.chd; do
  [ -f "$img" ] || continue
  [ "$(stat -c %s "$img")" -lt 1048576 ] && cp "$img" "seeds/chd/$(basename "$img")"
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
# Compressed ISOs (make-cso.sh): the small ones whole, the fuzzer takes at most 1 MiB.
for img in "$fx"/cso/*.cso "$fx"/cso/*.zso "$fx"/cso/*.dax; do
  [ -f "$img" ] || continue
  head -c 1048576 "$img" > "seeds/cso/$(basename "$img")"
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
# APFS: the macOS-made containers whose metadata and files lie in their first MiB.
for n in case_sensitive case_insensitive case_sensitive_beta case_insensitive_beta corrupt; do
  f=$fx/apfs/macos/$n.img
  [ -f "$f" ] && head -c 1048576 "$f" > "seeds/apfs/$n"
done

# Small file systems made here (the fs fixtures are too big to mutate well).
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/tree/Sub Dir"; printf 'hello\n' > "$tmp/tree/a.txt"; printf 'long name\n' > "$tmp/tree/Sub Dir/A long file name.txt"
head -c 5000 /dev/zero | tr '\0' 'x' > "$tmp/tree/Sub Dir/five-k.bin"; ln -s a.txt "$tmp/tree/link"
if command -v mkfs.fat >/dev/null && command -v mcopy >/dev/null; then
  for bits in 12 16; do
    mkfs.fat -C -F "$bits" -s 1 "seeds/fat/fat$bits" $([ "$bits" = 12 ] && echo 128 || echo 2100) >/dev/null
    mcopy -s -i "seeds/fat/fat$bits" "$tmp/tree/a.txt" "$tmp/tree/Sub Dir" ::/
  done
fi
if command -v mke2fs >/dev/null; then
  mke2fs -q -F -t ext2 -b 1024 -N 32 -d "$tmp/tree" seeds/ext4/ext2 128
  mke2fs -q -F -t ext4 -b 1024 -N 32 -O ^has_journal,^metadata_csum -d "$tmp/tree" seeds/ext4/ext4_nocsum 256
  mke2fs -q -F -t ext4 -b 1024 -N 32 -O ^has_journal,inline_data -d "$tmp/tree" seeds/ext4/ext4_inline 256
fi
if command -v mksquashfs >/dev/null; then
  for c in gzip xz lz4 zstd lzo; do
    mksquashfs "$tmp/tree" "seeds/squashfs/$c" -comp "$c" -noappend -quiet -no-progress >/dev/null
  done
  mksquashfs "$tmp/tree" seeds/squashfs/plain -noI -noD -noF -noappend -quiet -no-progress >/dev/null
fi
if command -v mkfs.exfat >/dev/null; then
  truncate -s 1M "$tmp/ex"; mkfs.exfat -b 4096 -c 512 -L SEED "$tmp/ex" >/dev/null
  cp "$tmp/ex" seeds/exfat/empty
fi
for f in ../tests/fixtures/out/fs/exfat.img; do
  if [ -f "$f" ]; then head -c 1048576 "$f" > seeds/exfat/fixture_head; fi
done
# qcow2: whole small images (the first 1 MiB of the others), from tests/fixtures/make-qcow2.sh.
for img in "$fx"/qcow2/*.qcow2; do
  [ -f "$img" ] || continue
  head -c 1048576 "$img" > "seeds/qcow2/$(basename "$img" .qcow2)"
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
# DMG: small images whole (UDIF of every codec made here; hdiutil samples when fetched), their
# property lists and blkx tables, ADC chunks, and a sparse image built from its header layout.
mkdir -p seeds/dmg seeds/dmg_plist seeds/dmg_mish seeds/dmg_adc seeds/dmg_sparse
dmgfx=$fx/dmg
if [ -d "$dmgfx" ]; then
  bin=${DISKIMG:-${di:-}}
  head -c 2097152 "$dmgfx/fat.img" > "$tmp/small.img"
  if [ -n "$bin" ]; then
    for c in zlib bzip2 lzfse lzma none; do
      "$bin" convert -q -o "compression=$c" "$tmp/small.img" "seeds/dmg/made_$c.dmg"
    done
  fi
  for f in "$dmgfx"/hdiutil/*.dmg "$dmgfx"/mkdmg_iso.dmg; do
    [ -f "$f" ] && [ "$(stat -c %s "$f")" -lt 1048576 ] && cp "$f" seeds/dmg/
  done
  python3 - seeds <<'PY'
import base64, glob, os, plistlib, struct, sys
out = sys.argv[1]
for f in glob.glob(os.path.join(out, "dmg", "*.dmg")):
    d = open(f, "rb").read()
    if d[-512:-508] != b"koly":
        continue
    xo, xl = struct.unpack(">QQ", d[-512 + 216:-512 + 232])
    if xl == 0:
        continue
    xml = d[xo:xo + xl]
    n = os.path.basename(f)
    open(os.path.join(out, "dmg_plist", n), "wb").write(xml)
    for i, b in enumerate(plistlib.loads(xml)["resource-fork"]["blkx"][:3]):
        open(os.path.join(out, "dmg_mish", f"{n}.{i}"), "wb").write(b["Data"])
        m = b["Data"]
        for k in range(struct.unpack(">I", m[200:204])[0]):
            t, _, _, _, off, ln = struct.unpack(">IIQQQQ", m[204 + 40 * k:244 + 40 * k])
            if t == 0x80000004 and ln:
                open(os.path.join(out, "dmg_adc", f"{n}.{i}.{k}"), "wb").write(d[off:off + ln])
hdr = bytearray(4096)
hdr[0:4] = b"sprs"; hdr[4:8] = (3).to_bytes(4, "big"); hdr[8:12] = (8).to_bytes(4, "big")
hdr[12:16] = (1).to_bytes(4, "big"); hdr[16:20] = (64).to_bytes(4, "big")
hdr[64:68] = (2).to_bytes(4, "big"); hdr[68:72] = (1).to_bytes(4, "big")
open(os.path.join(out, "dmg_sparse", "two_bands"), "wb").write(bytes(hdr) + b"\x11" * 4096 + b"\x22" * 4096)
PY
fi
