//! The FAT boot sector and BIOS parameter block: geometry of the volume and its FAT type.
//!
//! The FAT type follows from the number of clusters, as the specification says (fewer than 4085:
//! FAT12; fewer than 65525: FAT16; else FAT32), never from the type string, which is only a
//! label. Every field is checked before it sizes anything.

use super::FORMAT;
use super::chain::Heap;
use super::names;
use crate::error::{Error, Result};

/// FAT12, FAT16 or FAT32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FatType {
    /// 12-bit entries, fewer than 4085 clusters.
    Fat12,
    /// 16-bit entries, fewer than 65525 clusters.
    Fat16,
    /// 28-bit entries in 32-bit slots.
    Fat32,
}

impl FatType {
    /// The name used as the file system's kind.
    pub fn name(self) -> &'static str {
        match self {
            FatType::Fat12 => "fat12",
            FatType::Fat16 => "fat16",
            FatType::Fat32 => "fat32",
        }
    }
}

/// What the boot sector says, checked and derived.
#[derive(Debug, Clone)]
pub(crate) struct FatBootSector {
    /// FAT type from the cluster count.
    pub fat_type: FatType,
    /// Bytes per logical sector.
    pub bytes_per_sector: u32,
    /// Byte offset of the first FAT.
    pub fat_offset: u64,
    /// Bytes in one FAT.
    pub fat_size: u64,
    /// Number of FATs.
    pub fat_count: u32,
    /// FAT12/16: byte offset and length of the fixed root directory.
    pub root_dir: Option<(u64, u64)>,
    /// FAT32: first cluster of the root directory.
    pub root_cluster: u32,
    /// The cluster heap.
    pub heap: Heap,
    /// Volume size in bytes.
    pub volume_size: u64,
    /// Label from the extended boot record, if set.
    pub label: Option<String>,
    /// Volume serial number.
    pub serial: Option<u32>,
    /// OEM name (bytes 3-10).
    pub oem_name: String,
}

fn u16le(b: &[u8], at: usize) -> u32 {
    u32::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn u32le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Whether the type string of an extended boot record names FAT (`FAT12   `, `FAT16   `,
/// `FAT     ` at byte 54, or `FAT32   ` at byte 82).
pub fn has_fat_type_string(b: &[u8]) -> bool {
    b.len() >= 90
        && ((b[38] == 0x29 || b[38] == 0x28) && b[54..57] == *b"FAT"
            || (b[66] == 0x29 || b[66] == 0x28) && b[82..90] == *b"FAT32   ")
}

impl FatBootSector {
    /// Parses and checks a boot sector (at least 512 bytes).
    pub fn parse(b: &[u8]) -> Result<Self> {
        let bad = |msg: String| Error::corrupt(FORMAT, "boot sector", 0, msg);
        if b.len() < 512 {
            return Err(bad("shorter than 512 bytes".into()));
        }
        if b[0] != 0xEB && b[0] != 0xE9 {
            return Err(bad(format!(
                "no jump instruction (byte 0 is {:#04x})",
                b[0]
            )));
        }
        if &b[3..11] == b"EXFAT   " || &b[3..11] == b"NTFS    " {
            return Err(bad("an exFAT or NTFS boot sector".into()));
        }
        let bps = u16le(b, 11);
        if !matches!(bps, 512 | 1024 | 2048 | 4096) {
            return Err(bad(format!("{bps} bytes per sector")));
        }
        let spc = u32::from(b[13]);
        if spc == 0 || !spc.is_power_of_two() {
            return Err(bad(format!("{spc} sectors per cluster")));
        }
        let reserved = u16le(b, 14);
        let fat_count = u32::from(b[16]);
        let root_entries = u16le(b, 17);
        let total16 = u16le(b, 19);
        let media = b[21];
        let fat16_size = u16le(b, 22);
        let total32 = u32le(b, 32);
        if reserved == 0 {
            return Err(bad("no reserved sectors".into()));
        }
        if !(1..=4).contains(&fat_count) {
            return Err(bad(format!("{fat_count} FATs")));
        }
        if media != 0xF0 && media < 0xF8 {
            return Err(bad(format!("media descriptor {media:#04x}")));
        }
        let total = if total16 != 0 { total16 } else { total32 };
        let fat_sectors = if fat16_size != 0 {
            fat16_size
        } else {
            u32le(b, 36)
        };
        if total == 0 || fat_sectors == 0 {
            return Err(bad("zero total sectors or zero FAT size".into()));
        }
        let bps64 = u64::from(bps);
        let root_dir_sectors = (u64::from(root_entries) * 32).div_ceil(bps64);
        let data_start =
            u64::from(reserved) + u64::from(fat_count) * u64::from(fat_sectors) + root_dir_sectors;
        if data_start >= u64::from(total) {
            return Err(bad(format!(
                "the data area starts at sector {data_start}, past the volume's {total} sectors"
            )));
        }
        let cluster_size = bps64 * u64::from(spc);
        if cluster_size > 2 * 1024 * 1024 {
            return Err(bad(format!("clusters of {cluster_size} bytes")));
        }
        let mut count = (u64::from(total) - data_start) / u64::from(spc);
        let fat_type = if count < 4085 {
            FatType::Fat12
        } else if count < 65525 {
            FatType::Fat16
        } else {
            FatType::Fat32
        };
        // The FAT may describe fewer clusters than the volume holds: use only those.
        let fat_size = u64::from(fat_sectors) * bps64;
        let described = match fat_type {
            FatType::Fat12 => fat_size * 2 / 3,
            FatType::Fat16 => fat_size / 2,
            FatType::Fat32 => fat_size / 4,
        };
        count = count.min(described.saturating_sub(2)).min(0x0FFF_FFF5);
        let (root_dir, root_cluster, ebr) = match fat_type {
            FatType::Fat32 => {
                if root_entries != 0 || fat16_size != 0 {
                    return Err(bad(
                        "a FAT32 volume with FAT16 root or FAT size fields".into()
                    ));
                }
                (None, u32le(b, 44), 64)
            }
            _ => {
                if root_entries == 0 {
                    return Err(bad(
                        "a FAT12/16 volume without root directory entries".into()
                    ));
                }
                let off =
                    (u64::from(reserved) + u64::from(fat_count) * u64::from(fat_sectors)) * bps64;
                (Some((off, u64::from(root_entries) * 32)), 0, 36)
            }
        };
        let heap = Heap {
            offset: data_start * bps64,
            cluster_size,
            count: count as u32,
        };
        if fat_type == FatType::Fat32 && !heap.valid(root_cluster) {
            return Err(bad(format!(
                "root directory cluster {root_cluster} is outside the volume"
            )));
        }
        let has_ebr = b[ebr + 2] == 0x29 || b[ebr + 2] == 0x28;
        let label = if b[ebr + 2] == 0x29 {
            names::label(&b[ebr + 7..ebr + 18])
        } else {
            None
        };
        Ok(FatBootSector {
            fat_type,
            bytes_per_sector: bps,
            fat_offset: u64::from(reserved) * bps64,
            fat_size,
            fat_count,
            root_dir,
            root_cluster,
            heap,
            volume_size: u64::from(total) * bps64,
            label,
            serial: has_ebr.then(|| u32le(b, ebr + 3)),
            oem_name: String::from_utf8_lossy(&b[3..11]).trim_end().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A FAT16 boot sector as mkfs.fat writes for a 32 MiB volume.
    pub(crate) fn fat16_sector() -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[0..3].copy_from_slice(&[0xEB, 0x3C, 0x90]);
        b[3..11].copy_from_slice(b"mkfs.fat");
        b[11..13].copy_from_slice(&512u16.to_le_bytes());
        b[13] = 4;
        b[14..16].copy_from_slice(&4u16.to_le_bytes());
        b[16] = 2;
        b[17..19].copy_from_slice(&512u16.to_le_bytes());
        b[19..21].copy_from_slice(&0u16.to_le_bytes());
        b[21] = 0xF8;
        b[22..24].copy_from_slice(&64u16.to_le_bytes());
        b[32..36].copy_from_slice(&65536u32.to_le_bytes());
        b[38] = 0x29;
        b[39..43].copy_from_slice(&0x1234_5678u32.to_le_bytes());
        b[43..54].copy_from_slice(b"LABEL16    ");
        b[54..62].copy_from_slice(b"FAT16   ");
        b[510] = 0x55;
        b[511] = 0xAA;
        b
    }

    #[test]
    fn reads_geometry_and_type_from_cluster_count() {
        let b = fat16_sector();
        let bs = FatBootSector::parse(&b).unwrap();
        assert_eq!(bs.fat_type, FatType::Fat16);
        assert_eq!(bs.root_dir, Some((132 * 512, 512 * 32)));
        assert_eq!(bs.heap.offset, (132 + 32) * 512);
        assert_eq!(bs.heap.cluster_size, 2048);
        assert_eq!(bs.label.as_deref(), Some("LABEL16"));
        assert!(has_fat_type_string(&b));
    }

    #[test]
    fn rejects_absurd_fields() {
        for (at, v) in [(12usize, 3u8), (13, 3), (14, 0), (16, 0), (21, 0x12)] {
            let mut b = fat16_sector();
            b[at] = v;
            if at == 14 {
                b[15] = 0;
            }
            assert!(FatBootSector::parse(&b).is_err(), "byte {at} = {v}");
        }
        let mut b = fat16_sector();
        b[22..24].copy_from_slice(&0xFFFFu16.to_le_bytes());
        assert!(
            FatBootSector::parse(&b).is_err(),
            "FATs larger than the volume"
        );
    }
}
