//! How the writer cuts a disk into blkx tables, as hdiutil does: one table per region of the
//! disk's partition map (the protective MBR, each GPT header and entry array, each partition,
//! each free gap), or one table for the whole disk when the disk has no partition map.
//!
//! The map is read from the first chunk of the disk (the first 1 MiB), where MBR, GPT headers
//! with their entry arrays and Apple partition maps live; a map that does not fit there, or
//! whose regions overlap, gives one whole-disk table.

use crate::container::bytes::{le32, le64};
use crate::io::{MemorySource, ReadAt};
use crate::partition::PartitionTable;
use crate::partition::{apm::Apm, gpt::Gpt, mbr::Mbr};

/// One table to write: sectors `[first, first + sectors)` and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    /// First sector.
    pub first: u64,
    /// Sectors.
    pub sectors: u64,
    /// `Name` in the property list, without the ` : N)` numbering.
    pub name: String,
    /// The partition type shown in the name (`Apple_HFS`, `Apple_Free`, ...).
    pub kind: String,
}

/// The bytes of the first chunk seen as the whole disk (zeros past them).
struct Head<'a> {
    data: &'a [u8],
    size: u64,
}

impl ReadAt for Head<'_> {
    fn size(&self) -> u64 {
        self.size
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> crate::Result<usize> {
        let n = crate::io::clamp_len(offset, buf.len(), self.size);
        for (i, b) in buf[..n].iter_mut().enumerate() {
            *b = usize::try_from(offset + i as u64)
                .ok()
                .and_then(|o| self.data.get(o))
                .copied()
                .unwrap_or(0);
        }
        Ok(n)
    }
}

fn region(first: u64, sectors: u64, name: &str, kind: &str) -> TableSpec {
    TableSpec {
        first,
        sectors,
        name: name.to_owned(),
        kind: kind.to_owned(),
    }
}

/// The tables for a disk of `sectors` 512-byte sectors whose first bytes are `head`: one per
/// partition-map region when `per_partition`, else one.
pub fn plan(head: &[u8], sectors: u64, per_partition: bool) -> Vec<TableSpec> {
    let regions = if per_partition {
        partitioned(head, sectors).unwrap_or_default()
    } else {
        Vec::new()
    };
    let whole = || vec![region(0, sectors, "whole disk", whole_kind(head))];
    if regions.is_empty() {
        return whole();
    }
    let mut regions = regions;
    regions.sort_by_key(|r| r.first);
    let mut out = Vec::new();
    let mut at = 0u64;
    for r in regions {
        if r.sectors == 0 {
            continue;
        }
        if r.first < at || r.first + r.sectors > sectors {
            return whole();
        }
        if r.first > at {
            out.push(region(at, r.first - at, "", "Apple_Free"));
        }
        at = r.first + r.sectors;
        out.push(r);
    }
    if at < sectors {
        out.push(region(at, sectors - at, "", "Apple_Free"));
    }
    out
}

/// What a single-table disk holds, for its name.
fn whole_kind(head: &[u8]) -> &'static str {
    match head.get(1024..1026) {
        Some(b"H+" | b"HX") => "Apple_HFS",
        _ if head.get(0x8001..0x8006) == Some(b"CD001") => "Apple_ISO",
        _ if head.get(32..36) == Some(b"NXSB") => "Apple_APFS",
        _ => "Apple_Free",
    }
}

fn partitioned(head: &[u8], sectors: u64) -> Option<Vec<TableSpec>> {
    let size = sectors.checked_mul(512)?;
    let dev = Head { data: head, size };
    if head.get(512..520) == Some(b"EFI PART") {
        return gpt_regions(&dev, head);
    }
    if head.get(0..2) == Some(b"ER") && head.get(512..514) == Some(b"PM") {
        return apm_regions(&dev);
    }
    if head.get(510..512) == Some(&[0x55, 0xaa]) {
        let mbr = Mbr::read(&MemorySource::new(head.get(..512)?.to_vec()), 512).ok()?;
        if mbr.partitions().is_empty() {
            return None;
        }
        let mut r = vec![region(0, 1, "Master Boot Record", "MBR")];
        for p in mbr.partitions() {
            let kind = format!("DOS type {}", p.type_id);
            r.push(region(p.start / 512, p.length / 512, "", &kind));
        }
        return Some(r);
    }
    None
}

fn gpt_regions(dev: &Head<'_>, head: &[u8]) -> Option<Vec<TableSpec>> {
    let gpt = Gpt::read(dev).ok()?;
    let h = &head[512..1024];
    let alternate = le64(h, 32);
    let entries_lba = le64(h, 72);
    let entry_sectors = (u64::from(le32(h, 80)) * u64::from(le32(h, 84))).div_ceil(512);
    let mut r = vec![
        region(0, 1, "Protective Master Boot Record", "MBR"),
        region(1, 1, "GPT Header", "Primary GPT Header"),
        region(
            entries_lba,
            entry_sectors,
            "GPT Partition Data",
            "Primary GPT Table",
        ),
    ];
    for p in gpt.partitions() {
        let kind = match p.type_name {
            Some("Apple HFS+") => "Apple_HFS".to_owned(),
            Some("Apple APFS") => "Apple_APFS".to_owned(),
            Some(n) => n.to_owned(),
            None => p.type_id.clone(),
        };
        r.push(region(
            p.start / 512,
            p.length / 512,
            p.name.as_deref().unwrap_or(""),
            &kind,
        ));
    }
    if alternate > entry_sectors {
        r.push(region(
            alternate - entry_sectors,
            entry_sectors,
            "GPT Partition Data",
            "Backup GPT Table",
        ));
        r.push(region(alternate, 1, "GPT Header", "Backup GPT Header"));
    }
    Some(r)
}

fn apm_regions(dev: &Head<'_>) -> Option<Vec<TableSpec>> {
    let apm = Apm::read(dev).ok()?;
    let bs = apm.block_size() / 512;
    let mut r = vec![region(0, bs.max(1), "Driver Descriptor Map", "DDM")];
    for p in apm.partitions() {
        r.push(region(
            p.start / 512,
            p.length / 512,
            p.name.as_deref().unwrap_or(""),
            &p.type_id,
        ));
    }
    Some(r)
}
