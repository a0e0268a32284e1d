//! Apple Partition Map (Inside Macintosh: Devices, chapter 3 "SCSI Manager", *Driver
//! Descriptor Map* and *Partition Map*): the scheme of old Macintosh disks, of hybrid Mac CDs
//! (next to ISO 9660) and of the disks `hdiutil` writes inside DMGs.
//!
//! Block 0 holds the driver descriptor map (signature `ER`, the device block size and block
//! count); the partition map starts at block 1, one entry (signature `PM`) per block, and every
//! entry repeats the number of entries in the map (`pmMapBlkCnt`). Partition starts and
//! lengths count blocks of the map's block size.
//!
//! Supported: block sizes 512 to 4096 (taken from the driver descriptor map, else found where the
//! first entry is), maps without a driver descriptor map, names, types and status flags. Entries
//! are numbered from 1 in map order, as Linux and `pdisk` number them (the map itself is usually
//! partition 1); `Apple_Free` entries are not listed but keep their number. Not supported: the
//! driver descriptors themselves (listed by count only), writing.

use super::{Partition, PartitionTable, check_layout};
use crate::error::{Error, Result};
use crate::format::{Confidence, FormatDescriptor, Opener, ProbeInput};
use crate::io::ReadAt;
use serde_json::json;

/// Format name used in errors.
pub const FORMAT: &str = "apm";
/// Most partition map entries read.
pub const MAX_ENTRIES: u32 = 1024;

/// `sbSig` of the driver descriptor map.
const DDM_SIGNATURE: &[u8; 2] = b"ER";
/// `pmSig` of a partition map entry.
const ENTRY_SIGNATURE: &[u8; 2] = b"PM";
/// Block sizes tried when the driver descriptor map does not give a usable one.
const BLOCK_SIZES: [u64; 4] = [512, 2048, 1024, 4096];
/// Bytes of an entry that this reader uses.
const ENTRY_LEN: usize = 136;

/// The registry entry.
pub static DESCRIPTOR: FormatDescriptor = FormatDescriptor {
    create: None,
    check: None,
    name: FORMAT,
    description: "Apple partition map",
    extensions: &[],
    probe,
    opener: Opener::PartitionTable(|dev| Ok(Box::new(Apm::read(dev.as_ref())?))),
};

/// How sure the device carries an Apple partition map: a partition map entry at block 1 for the
/// block size of the driver descriptor map (likely), or, without one, an entry at block 1 of a
/// usual block size that describes the map itself (weak). The second rule keeps the map's own
/// partition (`Apple_partition_map`, which starts at block 1) from probing as a map again.
///
/// `xorriso` writes an MBR, a GPT and an APM on the same hybrid disc; the registry lists APM after
/// them and an MBR also probes as likely, so on such discs the PC tables win (one table is shown
/// per device).
pub fn probe(p: &ProbeInput<'_>) -> Confidence {
    let entry_at = |bs: u64| {
        p.head
            .get(bs as usize..bs as usize + ENTRY_LEN)
            .and_then(ApmEntry::parse)
    };
    match ddm_block_size(p.head) {
        Some(bs) if entry_at(bs).is_some() => Confidence::LIKELY,
        _ if BLOCK_SIZES.iter().any(|&bs| {
            entry_at(bs).is_some_and(|e| e.kind == "Apple_partition_map" && e.start_block == 1)
        }) =>
        {
            Confidence::WEAK
        }
        _ => Confidence::NONE,
    }
}

/// The block size of a driver descriptor map in `block0`, when it has one of a usable size.
fn ddm_block_size(block0: &[u8]) -> Option<u64> {
    if block0.get(..2)? != DDM_SIGNATURE {
        return None;
    }
    let bs = u64::from(u16::from_be_bytes([*block0.get(2)?, *block0.get(3)?]));
    (bs.is_power_of_two() && (512..=4096).contains(&bs)).then_some(bs)
}

/// One partition map entry (`Partition` record of Inside Macintosh), the fields used here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApmEntry {
    /// `pmMapBlkCnt`: entries in the map.
    pub map_entries: u32,
    /// `pmPyPartStart`: first block.
    pub start_block: u32,
    /// `pmPartBlkCnt`: length in blocks.
    pub block_count: u32,
    /// `pmPartName`.
    pub name: String,
    /// `pmParType`, such as `Apple_HFS`.
    pub kind: String,
    /// `pmPartStatus` flags (valid, allocated, in use, bootable, readable, writable...).
    pub status: u32,
    /// `pmBootSize`: bytes of boot code.
    pub boot_size: u32,
}

impl ApmEntry {
    /// Parses an entry; `None` without the `PM` signature.
    pub fn parse(b: &[u8]) -> Option<Self> {
        if b.len() < ENTRY_LEN || &b[0..2] != ENTRY_SIGNATURE {
            return None;
        }
        let be32 = |o: usize| u32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        Some(ApmEntry {
            map_entries: be32(4),
            start_block: be32(8),
            block_count: be32(12),
            name: c_string(&b[16..48]),
            kind: c_string(&b[48..80]),
            status: be32(88),
            boot_size: be32(96),
        })
    }
}

/// A NUL-terminated Mac Roman string of a fixed field; bytes above 0x7F are kept as Latin-1,
/// which is right for the ASCII names tools write.
fn c_string(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    b[..end].iter().map(|&c| char::from(c)).collect()
}

/// Human name of an APM partition type.
pub fn type_name(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "Apple_partition_map" => "partition map",
        "Apple_Driver" | "Apple_Driver43" | "Apple_Driver43_CD" | "Apple_Driver_ATA"
        | "Apple_Driver_ATAPI" | "Apple_Driver_IOKit" | "Apple_FWDriver" => "driver",
        "Apple_Patches" => "patches",
        "Apple_HFS" => "HFS/HFS+",
        "Apple_HFSX" => "HFSX",
        "Apple_MFS" => "MFS",
        "Apple_UFS" | "Apple_Rhapsody_UFS" => "UFS",
        "Apple_Unix_SVR2" | "Apple_UNIX_SVR2" => "Unix (A/UX)",
        "Apple_PRODOS" => "ProDOS",
        "Apple_Free" => "free",
        "Apple_Scratch" => "scratch",
        "Apple_Void" => "void",
        "Apple_Boot" | "Apple_Bootstrap" | "Apple_Loader" => "boot",
        "Apple_RAID" => "RAID",
        "Apple_APFS" => "APFS",
        "DOS_FAT_12" | "DOS_FAT_16" | "DOS_FAT_32" => "FAT",
        "Linux" | "Linux_UFS" => "Linux",
        "Linux_swap" => "Linux swap",
        "CD_partition_scheme" => "CD partition scheme",
        _ => return None,
    })
}

/// A parsed Apple partition map.
#[derive(Debug)]
pub struct Apm {
    partitions: Vec<Partition>,
    block_size: u64,
    device_blocks: Option<u32>,
    driver_count: Option<u16>,
    free_entries: usize,
    warnings: Vec<String>,
}

impl Apm {
    /// Reads the map of `dev`.
    pub fn read(dev: &dyn ReadAt) -> Result<Self> {
        let mut block0 = [0u8; 512];
        dev.read_exact_at(0, &mut block0)?;
        let ddm_bs = ddm_block_size(&block0);
        let mut warnings = Vec::new();
        let mut candidates: Vec<u64> = ddm_bs.into_iter().collect();
        candidates.extend(BLOCK_SIZES.iter().filter(|&&bs| Some(bs) != ddm_bs));
        let (block_size, first) = candidates
            .iter()
            .find_map(|&bs| entry_at(dev, bs, 1).map(|e| (bs, e)))
            .ok_or_else(|| {
                Error::corrupt(
                    FORMAT,
                    "partition map entry",
                    ddm_bs.unwrap_or(512),
                    "no partition map entry (signature PM) at block 1",
                )
            })?;
        if let Some(bs) = ddm_bs.filter(|&bs| bs != block_size) {
            warnings.push(format!(
                "the driver descriptor map gives {bs}-byte blocks but the partition map uses {block_size}-byte blocks"
            ));
        }
        let count = first.map_entries;
        if count == 0 || count > MAX_ENTRIES {
            return Err(Error::limit(
                FORMAT,
                "partition map entry",
                block_size,
                format!("map claims {count} entries (at most {MAX_ENTRIES} are read)"),
            ));
        }
        let mut partitions = Vec::new();
        let mut free_entries = 0;
        for i in 1..=count {
            let entry = if i == 1 {
                first.clone()
            } else {
                match entry_at(dev, block_size, u64::from(i)) {
                    Some(e) => e,
                    None => {
                        warnings.push(format!(
                            "partition map entry {i} of {count} is missing or damaged; the map stops there"
                        ));
                        break;
                    }
                }
            };
            if entry.kind == "Apple_Free" {
                free_entries += 1;
                continue;
            }
            partitions.push(Partition {
                index: i,
                start: u64::from(entry.start_block) * block_size,
                length: u64::from(entry.block_count) * block_size,
                type_name: type_name(&entry.kind),
                type_id: entry.kind,
                name: (!entry.name.is_empty()).then_some(entry.name),
                guid: None,
                // pmPartStatus bit 3 (boot code is valid) with some boot code.
                bootable: entry.status & 0x8 != 0 && entry.boot_size > 0,
            });
        }
        check_layout(&partitions, dev.size(), &mut warnings);
        let is_ddm = &block0[..2] == DDM_SIGNATURE;
        Ok(Apm {
            partitions,
            block_size,
            device_blocks: is_ddm
                .then(|| u32::from_be_bytes([block0[4], block0[5], block0[6], block0[7]])),
            driver_count: is_ddm.then(|| u16::from_be_bytes([block0[16], block0[17]])),
            free_entries,
            warnings,
        })
    }

    /// Size of the map's blocks in bytes.
    pub fn block_size(&self) -> u64 {
        self.block_size
    }
}

fn entry_at(dev: &dyn ReadAt, block_size: u64, block: u64) -> Option<ApmEntry> {
    let mut b = [0u8; ENTRY_LEN];
    dev.read_exact_at(block.checked_mul(block_size)?, &mut b)
        .ok()?;
    ApmEntry::parse(&b)
}

impl PartitionTable for Apm {
    fn scheme(&self) -> &'static str {
        FORMAT
    }

    fn partitions(&self) -> &[Partition] {
        &self.partitions
    }

    fn details(&self) -> serde_json::Value {
        json!({
            "block_size": self.block_size,
            "device_blocks": self.device_blocks,
            "drivers": self.driver_count,
            "free_entries": self.free_entries,
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

    fn entry(map: u32, start: u32, len: u32, name: &str, kind: &str, bs: usize) -> Vec<u8> {
        let mut b = vec![0u8; bs];
        b[0..2].copy_from_slice(ENTRY_SIGNATURE);
        b[4..8].copy_from_slice(&map.to_be_bytes());
        b[8..12].copy_from_slice(&start.to_be_bytes());
        b[12..16].copy_from_slice(&len.to_be_bytes());
        b[16..16 + name.len()].copy_from_slice(name.as_bytes());
        b[48..48 + kind.len()].copy_from_slice(kind.as_bytes());
        b[88..92].copy_from_slice(&0x33u32.to_be_bytes());
        b
    }

    fn disk(bs: usize, map: u32, blocks: usize) -> Vec<u8> {
        let mut d = vec![0u8; bs];
        d[0..2].copy_from_slice(DDM_SIGNATURE);
        d[2..4].copy_from_slice(&(bs as u16).to_be_bytes());
        d[4..8].copy_from_slice(&(blocks as u32).to_be_bytes());
        d.extend(entry(map, 1, 3, "Apple", "Apple_partition_map", bs));
        d.extend(entry(map, 4, 10, "disk image", "Apple_HFS", bs));
        d.extend(entry(map, 14, 2, "", "Apple_Free", bs));
        d.resize(bs * blocks, 0);
        d
    }

    #[test]
    fn reads_entries_for_each_block_size() {
        for bs in [512usize, 2048] {
            let d = disk(bs, 3, 16);
            let p = ProbeInput {
                head: &d,
                device: &MemorySource::new(d.clone()),
            };
            assert_eq!(probe(&p), Confidence::LIKELY);
            let apm = Apm::read(&MemorySource::new(d)).unwrap();
            assert_eq!(apm.block_size(), bs as u64);
            let got: Vec<_> = apm
                .partitions()
                .iter()
                .map(|p| (p.index, p.start, p.length, p.type_id.as_str()))
                .collect();
            let bs = bs as u64;
            assert_eq!(
                got,
                vec![
                    (1, bs, 3 * bs, "Apple_partition_map"),
                    (2, 4 * bs, 10 * bs, "Apple_HFS")
                ]
            );
            assert_eq!(apm.partitions()[1].name.as_deref(), Some("disk image"));
            assert!(apm.warnings().is_empty(), "{:?}", apm.warnings());
        }
    }

    #[test]
    fn absurd_entry_count_is_refused() {
        let d = disk(512, 0x7FFF_FFFF, 16);
        let e = Apm::read(&MemorySource::new(d)).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::LimitExceeded);
    }

    #[test]
    fn short_map_stops_with_a_warning() {
        let d = disk(512, 5, 16);
        let apm = Apm::read(&MemorySource::new(d)).unwrap();
        assert_eq!(apm.partitions().len(), 2);
        assert!(apm.warnings()[0].contains("entry 4 of 5"));
    }

    #[test]
    fn map_without_a_driver_descriptor() {
        let mut d = disk(512, 3, 16);
        d[..512].fill(0);
        let p = ProbeInput {
            head: &d,
            device: &MemorySource::new(d.clone()),
        };
        assert_eq!(probe(&p), Confidence::WEAK);
        assert_eq!(
            Apm::read(&MemorySource::new(d)).unwrap().partitions().len(),
            2
        );
    }
}
