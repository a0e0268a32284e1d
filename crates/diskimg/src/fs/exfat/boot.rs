//! The exFAT main boot region: boot sector fields, checked, and the boot checksum over the
//! region's first eleven sectors.

use super::FORMAT;
use crate::error::{Error, Result};
use crate::fs::fat::chain::Heap;

/// The checked geometry of a volume.
#[derive(Debug, Clone)]
pub(crate) struct BootSector {
    pub bytes_per_sector: u64,
    pub fat_offset: u64,
    pub fat_length: u64,
    pub heap: Heap,
    pub root_cluster: u32,
    pub serial: u32,
    pub revision: (u8, u8),
    pub active_fat: u32,
    pub dirty: bool,
    pub volume_size: u64,
    pub percent_in_use: u8,
}

fn u16le(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn u64le(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Whether the first sector names exFAT.
pub(crate) fn has_name(b: &[u8]) -> bool {
    b.len() >= 11 && &b[3..11] == b"EXFAT   "
}

/// The boot checksum of a region's first 11 sectors (`region` holds at least 12 sectors of
/// `sector` bytes); whether sector 11 repeats it.
pub(crate) fn checksum_ok(region: &[u8], sector: usize) -> bool {
    if region.len() < 12 * sector {
        return false;
    }
    let mut sum = 0u32;
    for (i, &b) in region[..11 * sector].iter().enumerate() {
        if i == 106 || i == 107 || i == 112 {
            continue;
        }
        sum = sum.rotate_right(1).wrapping_add(u32::from(b));
    }
    region[11 * sector..12 * sector]
        .chunks_exact(4)
        .all(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) == sum)
}

impl BootSector {
    /// Parses and checks the boot sector.
    pub fn parse(b: &[u8]) -> Result<Self> {
        let bad = |msg: String| Error::corrupt(FORMAT, "boot sector", 0, msg);
        if b.len() < 512 || !has_name(b) {
            return Err(bad("no EXFAT name".into()));
        }
        if b[11..64].iter().any(|&x| x != 0) {
            return Err(bad("the FAT parameter block area is not zero".into()));
        }
        let bpss = u32::from(b[108]);
        let spcs = u32::from(b[109]);
        if !(9..=12).contains(&bpss) || bpss + spcs > 25 {
            return Err(bad(format!("sector shift {bpss}, cluster shift {spcs}")));
        }
        let bps = 1u64 << bpss;
        let fats = u32::from(b[110]);
        if !(1..=2).contains(&fats) {
            return Err(bad(format!("{fats} FATs")));
        }
        let volume_length = u64le(b, 72);
        let fat_offset = u64::from(u32le(b, 80));
        let fat_length = u64::from(u32le(b, 84));
        let heap_offset = u64::from(u32le(b, 88));
        let count = u32le(b, 92);
        let root = u32le(b, 96);
        if fat_offset < 24
            || heap_offset < fat_offset + fat_length * u64::from(fats)
            || heap_offset >= volume_length
        {
            return Err(bad(format!(
                "FAT at sector {fat_offset} (+{fat_length}) and heap at {heap_offset} do not fit"
            )));
        }
        if u64::from(count) > (volume_length - heap_offset) >> spcs || count > 0xFFFF_FFF5 {
            return Err(bad(format!("{count} clusters do not fit the volume")));
        }
        if (u64::from(count) + 2) * 4 > fat_length * bps {
            return Err(bad(format!(
                "a FAT of {fat_length} sectors cannot map {count} clusters"
            )));
        }
        let heap = Heap {
            offset: heap_offset * bps,
            cluster_size: bps << spcs,
            count,
        };
        if !heap.valid(root) {
            return Err(bad(format!("root directory cluster {root}")));
        }
        let flags = u16le(b, 106);
        Ok(BootSector {
            bytes_per_sector: bps,
            fat_offset: fat_offset * bps,
            fat_length: fat_length * bps,
            heap,
            root_cluster: root,
            serial: u32le(b, 100),
            revision: (b[105], b[104]),
            active_fat: if fats == 2 { u32::from(flags & 1) } else { 0 },
            dirty: flags & 2 != 0,
            volume_size: volume_length.saturating_mul(bps),
            percent_in_use: b[112],
        })
    }
}
