#!/usr/bin/env bash
# Seeds for the fuzz targets, cut from the fixtures (run tests/fixtures/make-fixtures.sh first).
# Output: fuzz/seeds/<target>/ (not committed).
set -euo pipefail
cd "$(dirname "$0")"
fx=../tests/fixtures/out
rm -rf seeds; mkdir -p seeds/open seeds/iso9660 seeds/mbr seeds/gpt seeds/qcow2
for img in "$fx"/iso/*.iso; do
  [ "$(stat -c %s "$img")" -lt 8000000 ] || continue
  n=$(basename "$img" .iso)
  head -c 262144 "$img" > "seeds/open/$n"
  dd if="$img" of="seeds/iso9660/$n" bs=2048 skip=16 count=128 status=none
  head -c 65536 "$img" > "seeds/mbr/$n"
  head -c 65536 "$img" > "seeds/gpt/$n"
done
# qcow2: whole small images (the first 1 MiB of the others), from tests/fixtures/make-qcow2.sh.
for img in "$fx"/qcow2/*.qcow2; do
  [ -f "$img" ] || continue
  head -c 1048576 "$img" > "seeds/qcow2/$(basename "$img" .qcow2)"
done
