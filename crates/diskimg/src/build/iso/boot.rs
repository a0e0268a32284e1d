//! El Torito boot records for the writer ("El Torito Bootable CD-ROM Format Specification
//! 1.0"): the boot record volume descriptor, the boot catalog (validation entry, initial entry,
//! one section per further image), and the boot information table that isolinux and GRUB expect
//! patched into their loader.

use super::layout::BLOCK;
use crate::error::{Error, Result};

/// Which firmware a boot image is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// PC BIOS (platform 0).
    Bios,
    /// UEFI (platform 0xEF).
    Efi,
}

impl Platform {
    fn id(self) -> u8 {
        match self {
            Platform::Bios => 0,
            Platform::Efi => 0xEF,
        }
    }
}

/// How the firmware presents a boot image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emulation {
    /// The image is loaded as is (isolinux, GRUB, EFI images).
    None,
    /// The image is a 1.2, 1.44 or 2.88 MB floppy (chosen by its size).
    Floppy,
    /// The image is a hard disk with an MBR.
    HardDisk,
}

/// One boot image, by its path in the tree.
#[derive(Debug, Clone)]
pub struct BootImage {
    /// Path of the image file inside the tree.
    pub path: String,
    /// Firmware.
    pub platform: Platform,
    /// Emulation.
    pub emulation: Emulation,
    /// 512-byte sectors the BIOS loads (no emulation); `None`: 4 for BIOS, the whole image for
    /// EFI.
    pub load_size: Option<u16>,
    /// Patch a boot information table into the image (bytes 8..64).
    pub info_table: bool,
}

/// The El Torito setup of an image.
#[derive(Debug, Clone)]
pub struct BootOptions {
    /// Boot images; the first is the initial (default) entry.
    pub images: Vec<BootImage>,
    /// Path of the boot catalog file in the tree.
    pub catalog: String,
}

/// The emulation type byte of an entry, checking the image size it implies.
fn media_type(img: &BootImage, size: u64) -> Result<u8> {
    Ok(match img.emulation {
        Emulation::None => 0,
        Emulation::HardDisk => 4,
        Emulation::Floppy => match size {
            1_228_800 => 1,
            1_474_560 => 2,
            2_949_120 => 3,
            other => {
                return Err(Error::invalid_input(format!(
                    "{}: a floppy boot image must be 1228800, 1474560 or 2949120 bytes, not {other}",
                    img.path
                )));
            }
        },
    })
}

/// The boot record volume descriptor pointing at the catalog.
pub fn boot_record(catalog_lba: u32) -> [u8; BLOCK] {
    let mut b = [0u8; BLOCK];
    b[1..6].copy_from_slice(b"CD001");
    b[6] = 1;
    b[7..30].copy_from_slice(b"EL TORITO SPECIFICATION");
    b[0x47..0x4B].copy_from_slice(&catalog_lba.to_le_bytes());
    b
}

/// A placed boot image: the options, its sector and size, and the system type byte of an
/// emulated hard disk.
pub struct Placed<'a> {
    /// The image's options.
    pub image: &'a BootImage,
    /// First sector.
    pub lba: u32,
    /// Bytes.
    pub size: u64,
    /// Partition type of an emulated hard disk's first partition.
    pub system_type: u8,
}

/// The boot catalog sector.
pub fn catalog(images: &[Placed<'_>]) -> Result<[u8; BLOCK]> {
    let mut b = [0u8; BLOCK];
    let Some(first) = images.first() else {
        return Err(Error::invalid_input(
            "a boot catalog needs at least one boot image",
        ));
    };
    // Validation entry.
    b[0] = 1;
    b[1] = first.image.platform.id();
    b[4..11].copy_from_slice(b"DISKIMG");
    b[30] = 0x55;
    b[31] = 0xAA;
    let sum = b[..32].chunks_exact(2).fold(0u16, |a, w| {
        a.wrapping_add(u16::from_le_bytes([w[0], w[1]]))
    });
    b[28..30].copy_from_slice(&0u16.wrapping_sub(sum).to_le_bytes());
    b[32..64].copy_from_slice(&entry(first)?);
    let rest = &images[1..];
    let mut at = 64;
    for (i, p) in rest.iter().enumerate() {
        if at + 64 > BLOCK {
            return Err(Error::invalid_input(
                "too many boot images for one catalog sector",
            ));
        }
        // One section per image: header (0x91 on the last), then the entry.
        b[at] = if i + 1 == rest.len() { 0x91 } else { 0x90 };
        b[at + 1] = p.image.platform.id();
        b[at + 2..at + 4].copy_from_slice(&1u16.to_le_bytes());
        b[at + 32..at + 64].copy_from_slice(&entry(p)?);
        at += 64;
    }
    Ok(b)
}

fn entry(p: &Placed<'_>) -> Result<[u8; 32]> {
    let mut e = [0u8; 32];
    e[0] = 0x88;
    e[1] = media_type(p.image, p.size)?;
    e[4] = if p.image.emulation == Emulation::HardDisk {
        p.system_type
    } else {
        0
    };
    let count = match (p.image.emulation, p.image.load_size, p.image.platform) {
        (Emulation::None, Some(n), _) => n,
        (Emulation::None, None, Platform::Bios) => 4,
        (Emulation::None, None, Platform::Efi) => u16::try_from(p.size.div_ceil(512)).unwrap_or(0),
        _ => 1,
    };
    e[6..8].copy_from_slice(&count.to_le_bytes());
    e[8..12].copy_from_slice(&p.lba.to_le_bytes());
    Ok(e)
}

/// Patches the boot information table into a loader: the primary descriptor's sector, the
/// file's sector and length, and the 32-bit sum of the file from byte 64.
pub fn patch_info_table(data: &mut [u8], pvd_lba: u32, file_lba: u32) -> Result<()> {
    if data.len() < 64 {
        return Err(Error::invalid_input(
            "a boot image is too small for a boot information table",
        ));
    }
    let sum = data[64..].chunks(4).fold(0u32, |a, c| {
        let mut w = [0u8; 4];
        w[..c.len()].copy_from_slice(c);
        a.wrapping_add(u32::from_le_bytes(w))
    });
    data[8..12].copy_from_slice(&pvd_lba.to_le_bytes());
    data[12..16].copy_from_slice(&file_lba.to_le_bytes());
    let len = data.len() as u32;
    data[16..20].copy_from_slice(&len.to_le_bytes());
    data[20..24].copy_from_slice(&sum.to_le_bytes());
    data[24..64].fill(0);
    Ok(())
}

/// Whether a loader leaves room for a boot information table: bytes 8..64 all zero (GRUB's
/// El Torito image), or the placeholder isolinux ships (the descriptor sector 16 and the file's
/// own length already in place, `DEADBEEF` filler after them).
pub fn wants_info_table(head: &[u8], file_len: u64) -> bool {
    if head.len() < 64 {
        return false;
    }
    let u32_at =
        |at: usize| u32::from_le_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
    let zeros = head[8..64].iter().all(|&b| b == 0);
    let isolinux = u32_at(8) == 16
        && u64::from(u32_at(16)) == file_len
        && head[24..64]
            .chunks_exact(4)
            .all(|w| w == [0xEF, 0xBE, 0xAD, 0xDE]);
    zeros || isolinux
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_validates_and_reads_back() {
        let bios = BootImage {
            path: "/isolinux.bin".into(),
            platform: Platform::Bios,
            emulation: Emulation::None,
            load_size: None,
            info_table: true,
        };
        let efi = BootImage {
            path: "/efi.img".into(),
            platform: Platform::Efi,
            emulation: Emulation::None,
            load_size: None,
            info_table: false,
        };
        let placed = [
            Placed {
                image: &bios,
                lba: 40,
                size: 38912,
                system_type: 0,
            },
            Placed {
                image: &efi,
                lba: 60,
                size: 2_949_120,
                system_type: 0,
            },
        ];
        let cat = catalog(&placed).unwrap();
        let dev = crate::io::MemorySource::new({
            let mut v = vec![0u8; 20 * 2048];
            v[10 * 2048..11 * 2048].copy_from_slice(&cat);
            v
        });
        let read = crate::fs::iso9660::testing::read_catalog(&dev, 10).unwrap();
        assert_eq!(read.entries.len(), 2);
        assert_eq!(
            (
                read.entries[0].platform,
                read.entries[0].load_lba,
                read.entries[0].sector_count
            ),
            ("x86", 40, 4)
        );
        assert_eq!(
            (
                read.entries[1].platform,
                read.entries[1].load_lba,
                read.entries[1].sector_count
            ),
            ("efi", 60, 5760)
        );
    }

    #[test]
    fn info_table_sums_from_byte_64() {
        let mut data = vec![0u8; 128];
        data[64] = 1;
        data[68] = 2;
        patch_info_table(&mut data, 16, 33).unwrap();
        assert_eq!(u32::from_le_bytes(data[8..12].try_into().unwrap()), 16);
        assert_eq!(u32::from_le_bytes(data[12..16].try_into().unwrap()), 33);
        assert_eq!(u32::from_le_bytes(data[16..20].try_into().unwrap()), 128);
        assert_eq!(u32::from_le_bytes(data[20..24].try_into().unwrap()), 3);
    }
}
