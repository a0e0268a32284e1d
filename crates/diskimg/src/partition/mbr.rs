//! Master Boot Record partition tables: four primary entries, extended partitions with their
//! chain of extended boot records (logical partitions numbered from 5, as fdisk does), and the
//! protective or hybrid MBR in front of a GPT.

use super::types::mbr_type_name;
use super::{Partition, PartitionTable, check_layout};
use crate::error::{Error, Result};
use crate::format::{Confidence, FormatDescriptor, Opener};
use crate::io::ReadAt;
use serde_json::json;
use std::collections::HashSet;

/// Format name used in errors.
pub const FORMAT: &str = "mbr";
/// Most logical partitions followed through an extended partition.
pub const MAX_LOGICAL_PARTITIONS: usize = 256;

/// One raw 16-byte entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MbrEntry {
    /// Status byte (0x80 active).
    pub status: u8,
    /// Partition type byte.
    pub kind: u8,
    /// First sector.
    pub start_lba: u32,
    /// Number of sectors.
    pub sectors: u32,
}

impl MbrEntry {
    fn parse(b: &[u8]) -> Self {
        MbrEntry {
            status: b[0],
            kind: b[4],
            start_lba: u32::from_le_bytes([b[8], b[9], b[10], b[11]]),
            sectors: u32::from_le_bytes([b[12], b[13], b[14], b[15]]),
        }
    }

    fn is_used(&self) -> bool {
        self.sectors != 0
    }

    fn is_extended(&self) -> bool {
        is_extended_type(self.kind)
    }
}

/// Whether an MBR type byte marks an extended partition (a container of logical ones).
pub fn is_extended_type(kind: u8) -> bool {
    matches!(kind, 0x05 | 0x0F | 0x85)
}

/// The four entries of a boot sector, if it carries a plausible partition table.
pub fn entries(sector: &[u8]) -> Option<[MbrEntry; 4]> {
    if sector.len() < 512 || sector[510..512] != [0x55, 0xAA] {
        return None;
    }
    let e: [MbrEntry; 4] = std::array::from_fn(|i| MbrEntry::parse(&sector[446 + i * 16..]));
    if e.iter().any(|x| x.status & 0x7F != 0) || !e.iter().any(MbrEntry::is_used) {
        return None;
    }
    Some(e)
}

/// Whether a sector is a FAT/NTFS/exFAT boot sector rather than a partition table.
pub fn is_volume_boot_sector(b: &[u8]) -> bool {
    if b.len() < 512 {
        return false;
    }
    let bps = u16::from_le_bytes([b[11], b[12]]);
    let jump = b[0] == 0xEB || b[0] == 0xE9;
    let fs_name = &b[54..59] == b"FAT12"
        || &b[54..59] == b"FAT16"
        || &b[82..87] == b"FAT32"
        || &b[3..11] == b"NTFS    "
        || &b[3..11] == b"EXFAT   ";
    jump && fs_name && matches!(bps, 0 | 512 | 1024 | 2048 | 4096)
}

/// The registry entry.
pub static DESCRIPTOR: FormatDescriptor = FormatDescriptor {
    name: FORMAT,
    description: "MBR partition table",
    extensions: &[],
    probe: |p| probe(p.head),
    opener: Opener::PartitionTable(|dev| {
        let sector_size = u64::from(dev.geometry().sector_size);
        Ok(Box::new(Mbr::read(dev.as_ref(), sector_size)?))
    }),
    create: None,
    check: None,
};

/// How sure the first sector is an MBR partition table.
pub fn probe(head: &[u8]) -> Confidence {
    match entries(head) {
        Some(e) if !is_volume_boot_sector(head) => {
            if e.iter().any(|x| x.kind == 0xEE) {
                Confidence::WEAK // a GPT will claim the disk
            } else {
                Confidence::LIKELY
            }
        }
        _ => Confidence::NONE,
    }
}

/// A parsed MBR.
#[derive(Debug)]
pub struct Mbr {
    partitions: Vec<Partition>,
    disk_signature: u32,
    sector_size: u64,
    warnings: Vec<String>,
}

impl Mbr {
    /// Reads the MBR of `dev` with `sector_size`-byte sectors.
    pub fn read(dev: &dyn ReadAt, sector_size: u64) -> Result<Self> {
        let mut s0 = [0u8; 512];
        dev.read_exact_at(0, &mut s0)?;
        let primary = entries(&s0)
            .ok_or_else(|| Error::corrupt(FORMAT, "boot sector", 0, "no valid partition table"))?;
        let mut warnings = Vec::new();
        let mut partitions = Vec::new();
        for (i, e) in primary.iter().enumerate() {
            if !e.is_used() {
                continue;
            }
            partitions.push(partition(i as u32 + 1, e, 0, sector_size));
            if e.is_extended() {
                logical(dev, e, sector_size, &mut partitions, &mut warnings)?;
            }
        }
        partitions.sort_by_key(|p| p.index);
        let data: Vec<Partition> = partitions
            .iter()
            .filter(|p| !is_extended_type(type_byte(p)))
            .cloned()
            .collect();
        check_layout(&data, dev.size(), &mut warnings);
        Ok(Mbr {
            partitions,
            disk_signature: u32::from_le_bytes([s0[440], s0[441], s0[442], s0[443]]),
            sector_size,
            warnings,
        })
    }
}

/// The type byte of an MBR partition (its `type_id` is `0xNN`).
pub fn type_byte(p: &Partition) -> u8 {
    u8::from_str_radix(p.type_id.trim_start_matches("0x"), 16).unwrap_or(0)
}

fn partition(index: u32, e: &MbrEntry, base_lba: u64, sector_size: u64) -> Partition {
    Partition {
        index,
        start: (base_lba + u64::from(e.start_lba)) * sector_size,
        length: u64::from(e.sectors) * sector_size,
        type_id: format!("0x{:02x}", e.kind),
        type_name: mbr_type_name(e.kind),
        name: None,
        guid: None,
        bootable: e.status == 0x80,
    }
}

/// Follows the chain of extended boot records inside an extended partition.
fn logical(
    dev: &dyn ReadAt,
    ext: &MbrEntry,
    sector_size: u64,
    out: &mut Vec<Partition>,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let ext_start = u64::from(ext.start_lba);
    let mut ebr_lba = ext_start;
    let mut seen = HashSet::new();
    let mut index = 5u32;
    loop {
        if !seen.insert(ebr_lba) {
            warnings.push(format!(
                "extended boot record chain loops back to sector {ebr_lba}; stopped there"
            ));
            return Ok(());
        }
        if seen.len() > MAX_LOGICAL_PARTITIONS {
            return Err(Error::limit(
                FORMAT,
                "extended boot record",
                ebr_lba * sector_size,
                format!("more than {MAX_LOGICAL_PARTITIONS} logical partitions"),
            ));
        }
        let mut s = [0u8; 512];
        if dev.read_exact_at(ebr_lba * sector_size, &mut s).is_err() || s[510..512] != [0x55, 0xAA]
        {
            warnings.push(format!(
                "extended boot record at sector {ebr_lba} is missing or damaged; logical partitions stop there"
            ));
            return Ok(());
        }
        let this = MbrEntry::parse(&s[446..]);
        let next = MbrEntry::parse(&s[462..]);
        if this.is_used() {
            out.push(partition(index, &this, ebr_lba, sector_size));
            index += 1;
        }
        if !next.is_used() || !next.is_extended() {
            return Ok(());
        }
        ebr_lba = ext_start + u64::from(next.start_lba);
    }
}

impl PartitionTable for Mbr {
    fn scheme(&self) -> &'static str {
        "mbr"
    }

    fn partitions(&self) -> &[Partition] {
        &self.partitions
    }

    fn details(&self) -> serde_json::Value {
        json!({
            "disk_signature": format!("0x{:08x}", self.disk_signature),
            "sector_size": self.sector_size,
        })
    }

    fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::MemorySource;

    fn put(sector: &mut [u8], slot: usize, status: u8, kind: u8, start: u32, len: u32) {
        let e = &mut sector[446 + slot * 16..462 + slot * 16];
        e[0] = status;
        e[4] = kind;
        e[8..12].copy_from_slice(&start.to_le_bytes());
        e[12..16].copy_from_slice(&len.to_le_bytes());
        sector[510] = 0x55;
        sector[511] = 0xAA;
    }

    #[test]
    fn primary_extended_and_logical() {
        let mut disk = vec![0u8; 64 * 512];
        put(&mut disk[..512], 0, 0x80, 0x83, 1, 7);
        put(&mut disk[..512], 1, 0, 0x05, 8, 40);
        // First EBR at 8: logical at 8+1 len 4, next EBR at ext+16.
        put(&mut disk[8 * 512..9 * 512], 0, 0, 0x83, 1, 4);
        put(&mut disk[8 * 512..9 * 512], 1, 0, 0x05, 16, 10);
        put(&mut disk[24 * 512..25 * 512], 0, 0, 0x07, 2, 5);
        assert_eq!(probe(&disk), Confidence::LIKELY);
        let m = Mbr::read(&MemorySource::new(disk), 512).unwrap();
        let idx: Vec<_> = m
            .partitions()
            .iter()
            .map(|p| (p.index, p.start / 512, p.length / 512))
            .collect();
        assert_eq!(idx, vec![(1, 1, 7), (2, 8, 40), (5, 9, 4), (6, 26, 5)]);
        assert!(m.partitions()[0].bootable);
        assert!(m.warnings().is_empty(), "{:?}", m.warnings());
    }

    #[test]
    fn ebr_loop_is_reported_not_followed_forever() {
        let mut disk = vec![0u8; 32 * 512];
        put(&mut disk[..512], 0, 0, 0x0F, 4, 20);
        put(&mut disk[4 * 512..5 * 512], 0, 0, 0x83, 1, 2);
        put(&mut disk[4 * 512..5 * 512], 1, 0, 0x05, 0, 20); // points back at itself
        let m = Mbr::read(&MemorySource::new(disk), 512).unwrap();
        assert_eq!(m.partitions().len(), 2);
        assert!(m.warnings()[0].contains("loops"));
    }

    #[test]
    fn fat_boot_sector_is_not_a_table() {
        let mut s = vec![0u8; 512];
        s[0] = 0xEB;
        s[11..13].copy_from_slice(&512u16.to_le_bytes());
        s[54..59].copy_from_slice(b"FAT12");
        put(&mut s, 0, 0, 0x01, 1, 10);
        assert_eq!(probe(&s), Confidence::NONE);
    }
}
