//! The boot sector (BIOS parameter block and extended boot record) and the FAT32 FSInfo
//! sector, as the Microsoft FAT specification (fatgen103) lays them out.
//!
//! The OEM name is `MSWIN4.1`, the value the specification recommends for compatibility. The
//! boot code only asks the BIOS to try the next device (`int 18h`): these volumes are data
//! volumes, not boot disks.

use super::geometry::Geometry;
use crate::fs::fat::FatType;

/// The boot code: `int 18h` (boot failed, try the next device), then halt in a loop.
const BOOT_CODE: [u8; 4] = [0xCD, 0x18, 0xEB, 0xFE];
/// Sector of the FSInfo structure (FAT32).
pub(crate) const FSINFO_SECTOR: u16 = 1;
/// Sector of the backup boot sector (FAT32); the backup FSInfo follows it.
pub(crate) const BACKUP_BOOT_SECTOR: u16 = 6;

/// What the boot sector records besides the geometry.
pub(crate) struct BootFields {
    /// Sectors before the volume (the partition's start, 0 for a superfloppy).
    pub hidden_sectors: u32,
    /// Volume serial number.
    pub serial: u32,
    /// Volume label, or `None` (`NO NAME`).
    pub label: Option<[u8; 11]>,
    /// First cluster of the FAT32 root directory.
    pub root_cluster: u32,
}

fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// The boot sector.
pub(crate) fn boot_sector(g: &Geometry, f: &BootFields) -> [u8; 512] {
    let mut b = [0u8; 512];
    let fat32 = g.fat_type == FatType::Fat32;
    let code_at = if fat32 { 90 } else { 62 };
    b[0] = 0xEB;
    b[1] = (code_at - 2) as u8;
    b[2] = 0x90;
    b[3..11].copy_from_slice(b"MSWIN4.1");
    put16(&mut b, 11, 512);
    b[13] = g.sectors_per_cluster as u8;
    put16(&mut b, 14, g.reserved_sectors as u16);
    b[16] = super::geometry::FAT_COUNT as u8;
    put16(&mut b, 17, g.root_entries as u16);
    let small = !fat32 && g.total_sectors < 0x10000;
    put16(&mut b, 19, if small { g.total_sectors as u16 } else { 0 });
    b[21] = g.media;
    put16(&mut b, 22, if fat32 { 0 } else { g.fat_sectors as u16 });
    put16(&mut b, 24, g.sectors_per_track);
    put16(&mut b, 26, g.heads);
    put32(&mut b, 28, f.hidden_sectors);
    put32(&mut b, 32, if small { 0 } else { g.total_sectors });
    let ebr = if fat32 {
        put32(&mut b, 36, g.fat_sectors);
        put16(&mut b, 40, 0); // both FATs mirrored
        put16(&mut b, 42, 0); // version 0.0
        put32(&mut b, 44, f.root_cluster);
        put16(&mut b, 48, FSINFO_SECTOR);
        put16(&mut b, 50, BACKUP_BOOT_SECTOR);
        64
    } else {
        36
    };
    b[ebr] = if g.is_floppy() { 0x00 } else { 0x80 };
    b[ebr + 2] = 0x29;
    put32(&mut b, ebr + 3, f.serial);
    b[ebr + 7..ebr + 18].copy_from_slice(&f.label.unwrap_or(*b"NO NAME    "));
    b[ebr + 18..ebr + 26].copy_from_slice(match g.fat_type {
        FatType::Fat12 => b"FAT12   ",
        FatType::Fat16 => b"FAT16   ",
        FatType::Fat32 => b"FAT32   ",
    });
    b[code_at..code_at + BOOT_CODE.len()].copy_from_slice(&BOOT_CODE);
    b[510] = 0x55;
    b[511] = 0xAA;
    b
}

/// The FSInfo sector: free clusters and the first free cluster.
pub(crate) fn fsinfo(free: u32, next_free: u32) -> [u8; 512] {
    let mut b = [0u8; 512];
    put32(&mut b, 0, 0x4161_5252);
    put32(&mut b, 484, 0x6141_7272);
    put32(&mut b, 488, free);
    put32(&mut b, 492, next_free);
    put32(&mut b, 508, 0xAA55_0000);
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::MemorySource;
    use std::sync::Arc;

    #[test]
    fn our_reader_accepts_each_boot_sector() {
        for (size, ft) in [
            (1440 << 10, FatType::Fat12),
            (64 << 20, FatType::Fat16),
            (600 << 20, FatType::Fat32),
        ] {
            let g = super::super::geometry::choose(size, None, 0, true).unwrap();
            assert_eq!(g.fat_type, ft);
            let f = BootFields {
                hidden_sectors: 0,
                serial: 0x1234_ABCD,
                label: Some(*b"HELLO      "),
                root_cluster: 2,
            };
            // A volume with an empty FAT and root: enough for the reader to open it.
            let mut img = vec![0u8; g.data_offset() as usize + g.cluster_size() as usize];
            img[..512].copy_from_slice(&boot_sector(&g, &f));
            for n in 0..2 {
                let at = g.fat_offset(n) as usize;
                let head: &[u8] = match ft {
                    FatType::Fat12 => &[g.media, 0xFF, 0xFF],
                    FatType::Fat16 => &[g.media, 0xFF, 0xFF, 0xFF],
                    FatType::Fat32 => &[
                        g.media, 0xFF, 0xFF, 0x0F, 0xFF, 0xFF, 0xFF, 0x0F, 0xFF, 0xFF, 0xFF, 0x0F,
                    ],
                };
                img[at..at + head.len()].copy_from_slice(head);
            }
            let dev: crate::device::DeviceRef = Arc::new(MemorySource::new(img));
            let vol = crate::fs::fat::open_volume(dev).unwrap();
            let e = &vol.file_systems[0];
            assert_eq!(e.kind, ft.name());
            assert_eq!(e.label.as_deref(), Some("HELLO"));
            assert_eq!(e.details["serial"], "1234-ABCD");
            assert_eq!(e.details["clusters"], g.clusters);
        }
    }
}
