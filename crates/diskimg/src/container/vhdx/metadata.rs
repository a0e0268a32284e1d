//! The VHDX metadata region ([MS-VHDX] 2.6): a table of items, and the known items (file
//! parameters, virtual disk size and id, logical and physical sector size, parent locator).

use super::header::guid;
use crate::container::bytes::{id16, le16, le32, le64, utf16};
use crate::error::{Error, Result};
use crate::io::{ReadAt, read_vec};

/// Most metadata table entries ([MS-VHDX]: 2047).
pub const MAX_METADATA_ENTRIES: u16 = 2047;
/// Longest metadata item read.
pub const MAX_ITEM_LEN: u32 = 1 << 20;
/// Most parent locator entries.
pub const MAX_LOCATOR_ENTRIES: u16 = 256;

/// File parameters item.
pub const FILE_PARAMETERS: [u8; 16] = guid(
    0xCAA1_6737,
    0xFA36,
    0x4D43,
    [0xB3, 0xB6, 0x33, 0xF0, 0xAA, 0x44, 0xE7, 0x6B],
);
/// Virtual disk size item.
pub const VIRTUAL_DISK_SIZE: [u8; 16] = guid(
    0x2FA5_4224,
    0xCD1B,
    0x4876,
    [0xB2, 0x11, 0x5D, 0xBE, 0xD8, 0x3B, 0xF4, 0xB8],
);
/// Virtual disk id item.
pub const VIRTUAL_DISK_ID: [u8; 16] = guid(
    0xBECA_12AB,
    0xB2E6,
    0x4523,
    [0x93, 0xEF, 0xC3, 0x09, 0xE0, 0x00, 0xC7, 0x46],
);
/// Logical sector size item.
pub const LOGICAL_SECTOR_SIZE: [u8; 16] = guid(
    0x8141_BF1D,
    0xA96F,
    0x4709,
    [0xBA, 0x47, 0xF2, 0x33, 0xA8, 0xFA, 0xAB, 0x5F],
);
/// Physical sector size item.
pub const PHYSICAL_SECTOR_SIZE: [u8; 16] = guid(
    0xCDA3_48C7,
    0x445D,
    0x4471,
    [0x9C, 0xC9, 0xE9, 0x88, 0x52, 0x51, 0xC5, 0x56],
);
/// Parent locator item.
pub const PARENT_LOCATOR: [u8; 16] = guid(
    0xA8D3_5F2D,
    0xB30B,
    0x454D,
    [0xAB, 0xF7, 0xD3, 0xD8, 0x48, 0x34, 0xAB, 0x0C],
);
/// The locator type of a VHDX parent.
pub const VHDX_PARENT_LOCATOR_TYPE: [u8; 16] = guid(
    0xB04A_EFB7,
    0xD19E,
    0x4A81,
    [0xB7, 0x89, 0x25, 0xB8, 0xE9, 0x44, 0x59, 0x13],
);

/// What the metadata says about the virtual disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VhdxMetadata {
    /// Bytes per payload block (1 MiB to 256 MiB, a power of two).
    pub block_size: u32,
    /// Blocks stay allocated when trimmed.
    pub leave_blocks_allocated: bool,
    /// A differencing disk.
    pub has_parent: bool,
    /// Guest size in bytes.
    pub virtual_disk_size: u64,
    /// The disk's identity.
    pub virtual_disk_id: [u8; 16],
    /// 512 or 4096.
    pub logical_sector_size: u32,
    /// 512 or 4096.
    pub physical_sector_size: u32,
    /// Parent locator key/value pairs (differencing disks).
    pub parent_locator: Vec<(String, String)>,
}

struct Entry {
    id: [u8; 16],
    offset: u32,
    length: u32,
    required: bool,
}

impl VhdxMetadata {
    /// Reads the metadata table at `region` (`region_len` bytes) and the items it lists.
    pub fn read(file: &dyn ReadAt, region: u64, region_len: u32) -> Result<VhdxMetadata> {
        let bad = |at: u64, msg: String| Error::corrupt("vhdx", "metadata", at, msg);
        let t = read_vec(file, region, 64 * 1024, 64 * 1024)?;
        if &t[..8] != b"metadata" {
            return Err(bad(region, "no \"metadata\" signature".into()));
        }
        let count = le16(&t, 10);
        if count > MAX_METADATA_ENTRIES {
            return Err(bad(
                region,
                format!("{count} entries (at most {MAX_METADATA_ENTRIES})"),
            ));
        }
        let entries: Vec<Entry> = (0..count as usize)
            .map(|i| 32 + i * 32)
            .map(|o| Entry {
                id: id16(&t, o),
                offset: le32(&t, o + 16),
                length: le32(&t, o + 20),
                required: le32(&t, o + 24) & 4 != 0,
            })
            .collect();
        let item = |id: [u8; 16]| -> Result<Option<Vec<u8>>> {
            let Some(e) = entries.iter().find(|e| e.id == id) else {
                return Ok(None);
            };
            if e.length > MAX_ITEM_LEN
                || u64::from(e.offset) + u64::from(e.length) > u64::from(region_len)
            {
                return Err(bad(
                    region,
                    format!(
                        "item at {} of {} bytes lies outside the region",
                        e.offset, e.length
                    ),
                ));
            }
            read_vec(
                file,
                region + u64::from(e.offset),
                u64::from(e.length),
                u64::from(MAX_ITEM_LEN),
            )
            .map(Some)
        };
        let known = [
            FILE_PARAMETERS,
            VIRTUAL_DISK_SIZE,
            VIRTUAL_DISK_ID,
            LOGICAL_SECTOR_SIZE,
            PHYSICAL_SECTOR_SIZE,
            PARENT_LOCATOR,
        ];
        if let Some(e) = entries
            .iter()
            .find(|e| e.required && !known.contains(&e.id))
        {
            return Err(Error::unsupported(
                "vhdx",
                format!(
                    "required metadata item {}",
                    crate::container::bytes::guid_le(&e.id)
                ),
            ));
        }
        let need = |id, name: &str| -> Result<Vec<u8>> {
            item(id)?.ok_or_else(|| bad(region, format!("the {name} item is missing")))
        };
        let fp = need(FILE_PARAMETERS, "file parameters")?;
        let block_size = le32(&fp, 0);
        let flags = le32(&fp, 4);
        if !block_size.is_power_of_two() || !((1 << 20)..=(256 << 20)).contains(&block_size) {
            return Err(bad(
                region,
                format!("block size {block_size} is not a power of two from 1 MiB to 256 MiB"),
            ));
        }
        let lss = le32(&need(LOGICAL_SECTOR_SIZE, "logical sector size")?, 0);
        let pss = le32(&need(PHYSICAL_SECTOR_SIZE, "physical sector size")?, 0);
        for (name, v) in [("logical", lss), ("physical", pss)] {
            if v != 512 && v != 4096 {
                return Err(bad(
                    region,
                    format!("{name} sector size {v} is neither 512 nor 4096"),
                ));
            }
        }
        let size = le64(&need(VIRTUAL_DISK_SIZE, "virtual disk size")?, 0);
        if size % u64::from(lss) != 0 {
            return Err(bad(
                region,
                format!("virtual size {size} is not a multiple of the {lss}-byte sector"),
            ));
        }
        let id = id16(&need(VIRTUAL_DISK_ID, "virtual disk id")?, 0);
        let has_parent = flags & 2 != 0;
        let parent_locator = match item(PARENT_LOCATOR)? {
            Some(b) if has_parent => parse_locator(&b, region)?,
            _ => Vec::new(),
        };
        Ok(VhdxMetadata {
            block_size,
            leave_blocks_allocated: flags & 1 != 0,
            has_parent,
            virtual_disk_size: size,
            virtual_disk_id: id,
            logical_sector_size: lss,
            physical_sector_size: pss,
            parent_locator,
        })
    }

    /// A parent locator value.
    pub fn locator(&self, key: &str) -> Option<&str> {
        self.parent_locator
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Metadata entry flags ([MS-VHDX] 2.6.1.2).
pub mod entry_flags {
    /// User metadata.
    pub const IS_USER: u32 = 1;
    /// Virtual disk (not file) metadata.
    pub const IS_VIRTUAL_DISK: u32 = 2;
    /// A reader must understand the item.
    pub const IS_REQUIRED: u32 = 4;
}

/// Where the items of a metadata region start.
pub const ITEMS_OFFSET: u32 = 64 * 1024;

/// A metadata table entry to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataEntry {
    /// Item GUID.
    pub id: [u8; 16],
    /// Offset of the item from the start of the region.
    pub offset: u32,
    /// Length of the item.
    pub length: u32,
    /// [`entry_flags`].
    pub flags: u32,
}

/// The 64 KiB metadata table holding `entries`.
pub fn metadata_table_bytes(entries: &[MetadataEntry]) -> Vec<u8> {
    let mut b = vec![0u8; ITEMS_OFFSET as usize];
    b[..8].copy_from_slice(b"metadata");
    b[10..12].copy_from_slice(&(entries.len() as u16).to_le_bytes());
    for (i, e) in entries.iter().enumerate() {
        let o = 32 + i * 32;
        b[o..o + 16].copy_from_slice(&e.id);
        b[o + 16..o + 20].copy_from_slice(&e.offset.to_le_bytes());
        b[o + 20..o + 24].copy_from_slice(&e.length.to_le_bytes());
        b[o + 24..o + 28].copy_from_slice(&e.flags.to_le_bytes());
    }
    b
}

/// The metadata table entries of the region at `region` (for rewriting an item in place).
pub fn read_entries(file: &dyn ReadAt, region: u64) -> Result<Vec<MetadataEntry>> {
    let t = read_vec(
        file,
        region,
        u64::from(ITEMS_OFFSET),
        u64::from(ITEMS_OFFSET),
    )?;
    if &t[..8] != b"metadata" {
        return Err(Error::corrupt(
            "vhdx",
            "metadata",
            region,
            "no \"metadata\" signature",
        ));
    }
    let count = le16(&t, 10).min(MAX_METADATA_ENTRIES);
    Ok((0..count as usize)
        .map(|i| 32 + i * 32)
        .map(|o| MetadataEntry {
            id: id16(&t, o),
            offset: le32(&t, o + 16),
            length: le32(&t, o + 20),
            flags: le32(&t, o + 24),
        })
        .collect())
}

/// A VHDX parent locator item holding `pairs` (keys and values as UTF-16LE).
pub fn locator_bytes(pairs: &[(&str, &str)]) -> Vec<u8> {
    let wide = |s: &str| -> Vec<u8> { s.encode_utf16().flat_map(u16::to_le_bytes).collect() };
    let mut b = vec![0u8; 20 + pairs.len() * 12];
    b[..16].copy_from_slice(&VHDX_PARENT_LOCATOR_TYPE);
    b[18..20].copy_from_slice(&(pairs.len() as u16).to_le_bytes());
    for (i, (k, v)) in pairs.iter().enumerate() {
        let (k, v) = (wide(k), wide(v));
        let o = 20 + i * 12;
        let ko = b.len() as u32;
        b.extend_from_slice(&k);
        let vo = b.len() as u32;
        b.extend_from_slice(&v);
        b[o..o + 4].copy_from_slice(&ko.to_le_bytes());
        b[o + 4..o + 8].copy_from_slice(&vo.to_le_bytes());
        b[o + 8..o + 10].copy_from_slice(&(k.len() as u16).to_le_bytes());
        b[o + 10..o + 12].copy_from_slice(&(v.len() as u16).to_le_bytes());
    }
    b
}

/// Parses a parent locator item: a header and UTF-16LE key/value pairs.
fn parse_locator(b: &[u8], region: u64) -> Result<Vec<(String, String)>> {
    let bad = |msg: String| Error::corrupt("vhdx", "parent locator", region, msg);
    if id16(b, 0) != VHDX_PARENT_LOCATOR_TYPE {
        return Err(Error::unsupported(
            "vhdx",
            "a parent locator of an unknown type",
        ));
    }
    let count = le16(b, 18);
    if count > MAX_LOCATOR_ENTRIES {
        return Err(bad(format!(
            "{count} entries (at most {MAX_LOCATOR_ENTRIES})"
        )));
    }
    let text = |off: u32, len: u16| -> Result<String> {
        let (o, l) = (off as usize, usize::from(len));
        b.get(o..o + l)
            .map(|s| utf16(s, false))
            .ok_or_else(|| bad(format!("text at {o} of {l} bytes lies outside the item")))
    };
    (0..count as usize)
        .map(|i| 20 + i * 12)
        .map(|o| {
            Ok((
                text(le32(b, o), le16(b, o + 8))?,
                text(le32(b, o + 4), le16(b, o + 10))?,
            ))
        })
        .collect()
}
