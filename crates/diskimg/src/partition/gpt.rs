//! GUID Partition Tables (UEFI specification, chapter 5): primary and backup headers with
//! their CRC32s, 512- and 4096-byte sectors, falling back to the backup header (and saying
//! so) when the primary is damaged. A hybrid MBR in front of the GPT is reported in `details`.

use super::mbr::{self, MbrEntry};
use super::types::gpt_type_name;
use super::{Partition, PartitionTable, check_layout};
use crate::error::{Error, Result};
use crate::format::{Confidence, FormatDescriptor, Opener, ProbeInput};
use crate::io::{ReadAt, read_vec};
use serde_json::json;

/// Format name used in errors.
pub const FORMAT: &str = "gpt";
/// Most partition entries accepted in a header.
pub const MAX_ENTRIES: u32 = 16_384;
/// Largest partition entry array read, in bytes.
pub const MAX_ENTRY_ARRAY: u64 = 4 * 1024 * 1024;

const SIGNATURE: &[u8; 8] = b"EFI PART";
const SECTOR_SIZES: [u64; 2] = [512, 4096];

/// The registry entry.
pub static DESCRIPTOR: FormatDescriptor = FormatDescriptor {
    name: FORMAT,
    description: "GUID partition table",
    extensions: &[],
    probe,
    opener: Opener::PartitionTable(|dev| Ok(Box::new(Gpt::read(dev.as_ref())?))),
    create: None,
    check: None,
};

/// How sure the device carries a GPT: a header signature at LBA 1, or only at the last
/// sector (a damaged primary), for either sector size.
pub fn probe(p: &ProbeInput<'_>) -> Confidence {
    let at = |offset: usize| {
        p.head
            .get(offset..offset + 8)
            .is_some_and(|s| s == SIGNATURE)
    };
    if SECTOR_SIZES.iter().any(|&ss| at(ss as usize)) {
        return Confidence::CERTAIN;
    }
    let size = p.device.size();
    let backup = SECTOR_SIZES.iter().any(|&ss| {
        let mut sig = [0u8; 8];
        size >= 3 * ss
            && p.device
                .read_exact_at((size / ss - 1) * ss, &mut sig)
                .is_ok()
            && &sig == SIGNATURE
    });
    if backup {
        Confidence::LIKELY
    } else {
        Confidence::NONE
    }
}

/// A GPT header (the fields this reader uses).
#[derive(Debug, Clone)]
struct Header {
    my_lba: u64,
    alternate_lba: u64,
    first_usable: u64,
    last_usable: u64,
    disk_guid: [u8; 16],
    entries_lba: u64,
    entry_count: u32,
    entry_size: u32,
    entries_crc: u32,
}

/// A parsed GPT.
#[derive(Debug)]
pub struct Gpt {
    partitions: Vec<Partition>,
    header: Header,
    sector_size: u64,
    used_backup: bool,
    mbr: Vec<MbrEntry>,
    warnings: Vec<String>,
}

impl Gpt {
    /// Reads the GPT of `dev`, trying 512- then 4096-byte sectors.
    pub fn read(dev: &dyn ReadAt) -> Result<Self> {
        let mut last_err = None;
        for ss in SECTOR_SIZES {
            let mut sig = [0u8; 8];
            let primary_sig = dev.read_exact_at(ss, &mut sig).is_ok() && &sig == SIGNATURE;
            let backup_lba = (dev.size() / ss).saturating_sub(1);
            let backup_sig = backup_lba > 1
                && dev.read_exact_at(backup_lba * ss, &mut sig).is_ok()
                && &sig == SIGNATURE;
            if !primary_sig && !backup_sig {
                continue;
            }
            match Self::read_with(dev, ss) {
                Ok(g) => return Ok(g),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| {
            Error::new(crate::ErrorKind::NotRecognized, "no GPT header").with_format(FORMAT)
        }))
    }

    fn read_with(dev: &dyn ReadAt, ss: u64) -> Result<Self> {
        let mut warnings = Vec::new();
        let primary = header_at(dev, 1, ss).and_then(|h| {
            let parts = entries(dev, &h, ss)?;
            Ok((h, parts))
        });
        let (header, raw, used_backup) = match primary {
            Ok((h, parts)) => {
                let backup_lba = if h.alternate_lba > 1 {
                    h.alternate_lba
                } else {
                    (dev.size() / ss).saturating_sub(1)
                };
                if let Err(e) = header_at(dev, backup_lba, ss) {
                    warnings.push(format!(
                        "backup GPT header is damaged or missing: {}",
                        e.message()
                    ));
                }
                (h, parts, false)
            }
            Err(primary_err) => {
                let last = (dev.size() / ss).saturating_sub(1);
                let backup = header_at(dev, last, ss).and_then(|h| {
                    let parts = entries(dev, &h, ss)?;
                    Ok((h, parts))
                });
                let Ok((h, parts)) = backup else {
                    return Err(primary_err);
                };
                warnings.push(format!(
                    "primary GPT header is damaged ({}); using the backup header at sector {last}",
                    primary_err.message()
                ));
                (h, parts, true)
            }
        };
        let mut partitions = Vec::new();
        for (i, e) in raw.chunks_exact(header.entry_size as usize).enumerate() {
            let type_guid: [u8; 16] = e[0..16].try_into().expect("16 bytes");
            if type_guid == [0; 16] {
                continue;
            }
            let first = u64::from_le_bytes(e[32..40].try_into().expect("8 bytes"));
            let last = u64::from_le_bytes(e[40..48].try_into().expect("8 bytes"));
            let attributes = u64::from_le_bytes(e[48..56].try_into().expect("8 bytes"));
            let index = i as u32 + 1;
            if last < first {
                warnings.push(format!(
                    "partition {index} ends (sector {last}) before it starts (sector {first}); skipped"
                ));
                continue;
            }
            let type_id = guid_string(&type_guid);
            let units: Vec<u16> = e[56..128]
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .take_while(|&u| u != 0)
                .collect();
            let name = String::from_utf16_lossy(&units);
            partitions.push(Partition {
                index,
                start: first.saturating_mul(ss),
                length: (last - first + 1).saturating_mul(ss),
                type_name: gpt_type_name(&type_id),
                type_id,
                name: (!name.is_empty()).then_some(name),
                guid: Some(guid_string(e[16..32].try_into().expect("16 bytes"))),
                bootable: attributes & 0b100 != 0,
            });
        }
        check_layout(&partitions, dev.size(), &mut warnings);
        let mut s0 = [0u8; 512];
        let mbr = if dev.read_exact_at(0, &mut s0).is_ok() {
            mbr::entries(&s0)
                .map(|e| e.into_iter().filter(|x| x.sectors != 0).collect())
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        Ok(Gpt {
            partitions,
            header,
            sector_size: ss,
            used_backup,
            mbr,
            warnings,
        })
    }

    /// Whether the MBR in front of the table is protective, hybrid or missing.
    fn mbr_kind(&self) -> &'static str {
        match self.mbr.as_slice() {
            [] => "none",
            [only] if only.kind == 0xEE => "protective",
            _ => "hybrid",
        }
    }
}

fn header_at(dev: &dyn ReadAt, lba: u64, ss: u64) -> Result<Header> {
    let offset = lba * ss;
    let mut b = vec![0u8; ss as usize];
    dev.read_exact_at(offset, &mut b).map_err(|e| {
        e.with_format(FORMAT)
            .with_structure("header")
            .with_offset(offset)
    })?;
    let bad = |msg: String| Error::corrupt(FORMAT, "header", offset, msg);
    if &b[0..8] != SIGNATURE {
        return Err(bad("no EFI PART signature".into()));
    }
    let size = u32::from_le_bytes(b[12..16].try_into().expect("4 bytes")) as usize;
    if size < 92 || size > b.len() {
        return Err(bad(format!("header size {size} is invalid")));
    }
    let stored = u32::from_le_bytes(b[16..20].try_into().expect("4 bytes"));
    let mut copy = b[..size].to_vec();
    copy[16..20].fill(0);
    let actual = crc32fast::hash(&copy);
    if stored != actual {
        return Err(bad(format!(
            "header CRC32 is {stored:08x}, computed {actual:08x}"
        )));
    }
    let u64_at = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
    let u32_at = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"));
    let h = Header {
        my_lba: u64_at(24),
        alternate_lba: u64_at(32),
        first_usable: u64_at(40),
        last_usable: u64_at(48),
        disk_guid: b[56..72].try_into().expect("16 bytes"),
        entries_lba: u64_at(72),
        entry_count: u32_at(80),
        entry_size: u32_at(84),
        entries_crc: u32_at(88),
    };
    if h.my_lba != lba {
        return Err(bad(format!(
            "header says it lies at sector {}, found at {lba}",
            h.my_lba
        )));
    }
    if h.entry_count > MAX_ENTRIES {
        return Err(Error::limit(
            FORMAT,
            "header",
            offset,
            format!(
                "{} partition entries exceed the limit of {MAX_ENTRIES}",
                h.entry_count
            ),
        ));
    }
    if h.entry_size < 128 || h.entry_size % 8 != 0 || h.entry_size > 4096 {
        return Err(bad(format!(
            "partition entry size {} is invalid",
            h.entry_size
        )));
    }
    Ok(h)
}

fn entries(dev: &dyn ReadAt, h: &Header, ss: u64) -> Result<Vec<u8>> {
    let len = u64::from(h.entry_count) * u64::from(h.entry_size);
    let offset = h.entries_lba.checked_mul(ss).ok_or_else(|| {
        Error::corrupt(
            FORMAT,
            "header",
            h.my_lba * ss,
            "entry array location overflows",
        )
    })?;
    let raw = read_vec(dev, offset, len, MAX_ENTRY_ARRAY).map_err(|e| {
        e.with_format(FORMAT)
            .with_structure("partition entry array")
    })?;
    let actual = crc32fast::hash(&raw);
    if actual != h.entries_crc {
        return Err(Error::corrupt(
            FORMAT,
            "partition entry array",
            offset,
            format!("CRC32 is {:08x}, computed {actual:08x}", h.entries_crc),
        ));
    }
    Ok(raw)
}

/// One checksum a GPT carries, checked: the primary and backup header CRC32s and the CRC32 of
/// each header's partition entry array (`diskimg verify`).
#[derive(Debug)]
pub struct CrcCheck {
    /// `primary header`, `primary entry array`, `backup header`, `backup entry array`.
    pub structure: &'static str,
    /// Byte offset of the structure.
    pub offset: u64,
    /// Sector size the table was found with.
    pub sector_size: u64,
    /// `Ok` when the stored CRC matches; the error says what was stored and computed.
    pub result: Result<()>,
}

/// Checks every CRC of the GPT on `dev`; empty when the device has no GPT signature.
pub fn check_crcs(dev: &dyn ReadAt) -> Vec<CrcCheck> {
    for ss in SECTOR_SIZES {
        let mut sig = [0u8; 8];
        let has = |lba: u64, sig: &mut [u8; 8]| {
            lba > 0 && dev.read_exact_at(lba * ss, sig).is_ok() && sig == SIGNATURE
        };
        let last = (dev.size() / ss).saturating_sub(1);
        if !has(1, &mut sig) && !has(last, &mut sig) {
            continue;
        }
        let mut out = Vec::new();
        let primary = header_at(dev, 1, ss);
        let backup_lba = match &primary {
            Ok(h) if h.alternate_lba > 1 && h.alternate_lba <= last => h.alternate_lba,
            _ => last,
        };
        for (lba, which) in [(1, "primary"), (backup_lba, "backup")] {
            let header = if lba == 1 {
                primary.clone()
            } else {
                header_at(dev, lba, ss)
            };
            let entries_check = header.as_ref().ok().map(|h| CrcCheck {
                structure: if lba == 1 {
                    "primary entry array"
                } else {
                    "backup entry array"
                },
                offset: h.entries_lba.saturating_mul(ss),
                sector_size: ss,
                result: entries(dev, h, ss).map(|_| ()),
            });
            out.push(CrcCheck {
                structure: if which == "primary" {
                    "primary header"
                } else {
                    "backup header"
                },
                offset: lba * ss,
                sector_size: ss,
                result: header.map(|_| ()),
            });
            out.extend(entries_check);
        }
        return out;
    }
    Vec::new()
}

/// A GUID in its registry form (first three fields little-endian).
pub fn guid_string(g: &[u8; 16]) -> String {
    format!(
        "{:08X}-{:04X}-{:04X}-{:02X}{:02X}-{:02X}{:02X}{:02X}{:02X}{:02X}{:02X}",
        u32::from_le_bytes([g[0], g[1], g[2], g[3]]),
        u16::from_le_bytes([g[4], g[5]]),
        u16::from_le_bytes([g[6], g[7]]),
        g[8],
        g[9],
        g[10],
        g[11],
        g[12],
        g[13],
        g[14],
        g[15]
    )
}

impl PartitionTable for Gpt {
    fn scheme(&self) -> &'static str {
        "gpt"
    }

    fn partitions(&self) -> &[Partition] {
        &self.partitions
    }

    fn details(&self) -> serde_json::Value {
        json!({
            "disk_guid": guid_string(&self.header.disk_guid),
            "sector_size": self.sector_size,
            "header": if self.used_backup { "backup" } else { "primary" },
            "entries": self.header.entry_count,
            "first_usable_lba": self.header.first_usable,
            "last_usable_lba": self.header.last_usable,
            "mbr": self.mbr_kind(),
            "mbr_partitions": self.mbr.iter().map(|e| json!({
                "type": format!("0x{:02x}", e.kind),
                "start": u64::from(e.start_lba) * self.sector_size,
                "length": u64::from(e.sectors) * self.sector_size,
                "bootable": e.status == 0x80,
            })).collect::<Vec<_>>(),
        })
    }

    fn warnings(&self) -> &[String] {
        &self.warnings
    }
}
