#!/usr/bin/env bash
# Builds the release binary and runs it on an example image it makes with xorriso
# (installed with apt-get if missing): info, ls, cat and extract.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v xorriso >/dev/null; then
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends xorriso
fi
cargo build --release --locked
D=target/release/diskimg
ex=example; rm -rf "$ex"; mkdir -p "$ex/Fotos/2019"
for i in 1 2 3; do head -c $((i * 50000)) /dev/urandom > "$ex/Fotos/2019/img$i.jpg"; done
printf 'Holiday photos\n' > "$ex/Fotos/README.txt"; ln -s 2019/img1.jpg "$ex/Fotos/favourite.jpg"
xorriso -as mkisofs -quiet -R -J -V PHOTOS -o "$ex/photos.iso" "$ex/Fotos" 2>/dev/null
set -x
$D info "$ex/photos.iso"
$D ls -l "$ex/photos.iso" /2019
$D cat "$ex/photos.iso" /README.txt
$D extract "$ex/photos.iso" -o "$ex/out"
