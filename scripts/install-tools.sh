#!/usr/bin/env bash
# Installs the reference tools the test suite compares diskimg with (Debian/Ubuntu, apt-get),
# and cargo-fuzz. Does nothing for what is already installed. Runs apt-get as root or via sudo.
# qemu-img/qemu-io/qemu-nbd are used as found: this script never installs qemu-utils over a newer
# qemu (the qcow2 fixtures and tests need qemu-img and qemu-io).
set -euo pipefail
PACKAGES=(
  xorriso genisoimage isolinux syslinux-common syslinux-utils   # ISO writers, boot loaders
  dosfstools mtools fdisk gdisk                                   # FAT images, partition tables
  libarchive-tools 7zip                                           # bsdtar, 7zz: independent readers
  udftools udfclient python3-pycdlib                              # UDF writers (mkudffs, newfs_udf, udfclient, pycdlib)
  e2fsprogs squashfs-tools exfatprogs exfat-fuse fuse3           # ext/squashfs/exFAT images and readers
  python3 time hyperfine                                          # fixture generation, benchmarks
  libvhdi-utils libvmdk-utils python3-libvhdi python3-libvmdk     # independent VHD/VHDX/VMDK readers
  python3-vmdkstream                                              # an independent streamOptimized writer
  ntfs-3g attr parted                                             # NTFS (mkntfs, FUSE, ntfsls/ntfscat), APM
  libqcow-utils                                                   # qcowinfo: independent qcow2 reader
  mame-tools cdrdao sox vcdimager mjpegtools libcdio-utils        # optical fixtures: chdman, toc2cue, cd-info
  bchunk nrg2iso mdf2iso ccd2iso iat flac                         # optical: independent readers, FLAC decoder
  isomd5sum libnbd-bin bmap-tools b3sum                           # verify (implantisomd5,
                                                                  # checkisomd5), NBD clients, bench-write.sh, BLAKE3
  dmg2img python3-venv                                            # independent DMG reader; venv for pydmg (PyPI)
  apfsprogs libfsapfs-utils python3-fsapfs                        # APFS: mkapfs/apfsck, independent reader (fsapfsinfo, pyfsapfs)
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  echo "install-tools: apt-get install ${missing[*]}" >&2
  $SUDO apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi
# npm fetches maxcso and chdman 0.289 (make-cso.sh, make-chd.sh); Debian ships it apart from
# nodejs, other nodejs packages include it.
if ! command -v npm >/dev/null; then
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends npm >&2
fi
if ! command -v cargo >/dev/null; then
  echo "install-tools: cargo not found; install Rust first: https://rustup.rs" >&2; exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "install-tools: cargo install cargo-fuzz (a few minutes)" >&2
  cargo install cargo-fuzz --locked >&2
fi
