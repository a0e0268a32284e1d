#!/usr/bin/env bash
# Provides qemu-system-x86_64 for the boot tests without touching the machine's qemu-utils:
# installing Debian's qemu-system-x86 would remove a newer qemu-utils, so its packages are
# downloaded and unpacked under DIR instead (default: target/qemu-system), the shared libraries
# they need are installed with apt-get, and a wrapper that finds the modules and firmware is
# written. Prints the wrapper's path. Does nothing if a qemu-system-x86_64 is already on PATH.
set -euo pipefail
if command -v qemu-system-x86_64 >/dev/null; then command -v qemu-system-x86_64; exit 0; fi
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$root/target/qemu-system}
wrapper=$dir/qemu-system-x86_64
if [ -x "$wrapper" ]; then echo "$wrapper"; exit 0; fi
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
libs=(libcapstone4 libfdt1 libpmem1 librdmacm1 libibverbs1 libslirp0 libvdeplug2 libaio1 liburing2 libpixman-1-0 libnuma1 libjpeg62-turbo libpng16-16 libusb-1.0-0 libgnutls30 libsnappy1v5 liblzo2-2 libzstd1 libglib2.0-0 libseccomp2)
missing=()
for p in "${libs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download qemu-system-x86 qemu-system-common qemu-system-data seabios ipxe-qemu >&2 2>/dev/null)
mkdir -p "$dir/root" "$dir/bios"
for d in "$work"/*.deb; do dpkg -x "$d" "$dir/root"; done
cp -L "$dir"/root/usr/share/qemu/* "$dir/bios/" 2>/dev/null || true
cp "$dir"/root/usr/share/seabios/* "$dir/bios/" 2>/dev/null || true
cat > "$wrapper" <<WRAP
#!/bin/sh
QEMU_MODULE_DIR=$dir/root/usr/lib/x86_64-linux-gnu/qemu exec $dir/root/usr/bin/qemu-system-x86_64 -L $dir/bios "\$@"
WRAP
chmod +x "$wrapper"
"$wrapper" --version >&2
echo "$wrapper"
