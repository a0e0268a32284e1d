#!/usr/bin/env bash
# Seeds for the fuzz targets, cut from the fixtures (run tests/fixtures/make-fixtures.sh first).
# Output: fuzz/seeds/<target>/ (not committed).
set -euo pipefail
cd "$(dirname "$0")"
fx=../tests/fixtures/out
rm -rf seeds; mkdir -p seeds/open seeds/iso9660 seeds/mbr seeds/gpt seeds/fat seeds/exfat seeds/ext4 seeds/squashfs
for img in "$fx"/iso/*.iso; do
  [ -f "$img" ] || continue
  [ "$(stat -c %s "$img")" -lt 8000000 ] || continue
  n=$(basename "$img" .iso)
  head -c 262144 "$img" > "seeds/open/$n"
  dd if="$img" of="seeds/iso9660/$n" bs=2048 skip=16 count=128 status=none
  head -c 65536 "$img" > "seeds/mbr/$n"
  head -c 65536 "$img" > "seeds/gpt/$n"
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
