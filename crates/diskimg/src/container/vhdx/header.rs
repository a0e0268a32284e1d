//! The VHDX file type identifier, the two headers and the two region tables ([MS-VHDX]
//! 2.2).
//!
//! The identifier (`vhdxfile` and a UTF-16 creator) fills the first 64 KiB; headers sit at
//! 64 KiB and 128 KiB, each 4 KiB with a CRC-32C, and the one with the larger sequence number
//! wins; region tables at 192 KiB and 256 KiB (64 KiB each, CRC-32C) place the block allocation
//! table and the metadata region. Little-endian throughout.

use crate::container::bytes::{id16, le16, le32, le64, utf16};
use crate::error::{Error, Result};
use crate::io::{ReadAt, read_vec};

/// Offsets of the two headers.
pub const HEADER_OFFSETS: [u64; 2] = [64 * 1024, 128 * 1024];
/// Offsets of the two region tables.
pub const REGION_TABLE_OFFSETS: [u64; 2] = [192 * 1024, 256 * 1024];
/// Size of a header.
pub const HEADER_LEN: u64 = 4096;
/// Size of a region table.
pub const REGION_TABLE_LEN: u64 = 64 * 1024;
/// Most region table entries ([MS-VHDX]: 2047).
pub const MAX_REGION_ENTRIES: u32 = 2047;
/// The region holding the block allocation table.
pub const BAT_REGION: [u8; 16] = guid(
    0x2DC2_7766,
    0xF623,
    0x4200,
    [0x9D, 0x64, 0x11, 0x5E, 0x9B, 0xFD, 0x4A, 0x08],
);
/// The region holding the metadata.
pub const METADATA_REGION: [u8; 16] = guid(
    0x8B7C_A206,
    0x4790,
    0x4B9A,
    [0xB8, 0xFE, 0x57, 0x5F, 0x05, 0x0F, 0x88, 0x6E],
);

/// A GUID in on-disk (mixed-endian) byte order.
pub const fn guid(d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> [u8; 16] {
    let a = d1.to_le_bytes();
    let b = d2.to_le_bytes();
    let c = d3.to_le_bytes();
    [
        a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d4[0], d4[1], d4[2], d4[3], d4[4], d4[5],
        d4[6], d4[7],
    ]
}

/// CRC-32C of `b` with the 4-byte checksum field at `at` taken as zero.
pub fn crc32c_without(b: &[u8], at: usize) -> u32 {
    let head = crc32c::crc32c(&b[..at]);
    let zero = crc32c::crc32c_append(head, &[0u8; 4]);
    crc32c::crc32c_append(zero, &b[at + 4..])
}

/// The creator string of the file type identifier, if the signature is there.
pub fn file_identifier(head: &[u8]) -> Option<String> {
    (head.len() >= 520 && &head[..8] == b"vhdxfile").then(|| utf16(&head[8..520], false))
}

/// A VHDX header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VhdxHeader {
    /// Where it was read.
    pub offset: u64,
    /// Larger is newer.
    pub sequence_number: u64,
    /// Changes whenever the file is opened for writing.
    pub file_write_guid: [u8; 16],
    /// Changes whenever guest-visible data changes; children record it as `parent_linkage`.
    pub data_write_guid: [u8; 16],
    /// Non-zero when the log may hold entries to replay.
    pub log_guid: [u8; 16],
    /// Log format version (0).
    pub log_version: u16,
    /// Format version (1).
    pub version: u16,
    /// Bytes of the log.
    pub log_length: u32,
    /// File offset of the log.
    pub log_offset: u64,
}

impl VhdxHeader {
    /// Reads and checks the header at `offset`.
    pub fn read(file: &dyn ReadAt, offset: u64) -> Result<VhdxHeader> {
        let b = read_vec(file, offset, HEADER_LEN, HEADER_LEN)?;
        let bad = |msg: String| Error::corrupt("vhdx", "header", offset, msg);
        if &b[..4] != b"head" {
            return Err(bad("no \"head\" signature".into()));
        }
        let stored = le32(&b, 4);
        let computed = crc32c_without(&b, 4);
        if stored != computed {
            return Err(bad(format!(
                "CRC-32C is {stored:#010x}, computed {computed:#010x}"
            )));
        }
        let h = VhdxHeader {
            offset,
            sequence_number: le64(&b, 8),
            file_write_guid: id16(&b, 16),
            data_write_guid: id16(&b, 32),
            log_guid: id16(&b, 48),
            log_version: le16(&b, 64),
            version: le16(&b, 66),
            log_length: le32(&b, 68),
            log_offset: le64(&b, 72),
        };
        if h.version != 1 {
            return Err(Error::unsupported(
                "vhdx",
                format!("header version {} (only 1 exists)", h.version),
            ));
        }
        Ok(h)
    }

    /// The 4 KiB of this header, its CRC-32C computed (`offset` is not stored).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = vec![0u8; HEADER_LEN as usize];
        b[..4].copy_from_slice(b"head");
        b[8..16].copy_from_slice(&self.sequence_number.to_le_bytes());
        b[16..32].copy_from_slice(&self.file_write_guid);
        b[32..48].copy_from_slice(&self.data_write_guid);
        b[48..64].copy_from_slice(&self.log_guid);
        b[64..66].copy_from_slice(&self.log_version.to_le_bytes());
        b[66..68].copy_from_slice(&self.version.to_le_bytes());
        b[68..72].copy_from_slice(&self.log_length.to_le_bytes());
        b[72..80].copy_from_slice(&self.log_offset.to_le_bytes());
        let c = crc32c_without(&b, 4);
        b[4..8].copy_from_slice(&c.to_le_bytes());
        b
    }

    /// The current header: the valid one with the larger sequence number.
    pub fn current(file: &dyn ReadAt, warnings: &mut Vec<String>) -> Result<VhdxHeader> {
        let a = VhdxHeader::read(file, HEADER_OFFSETS[0]);
        let b = VhdxHeader::read(file, HEADER_OFFSETS[1]);
        match (a, b) {
            (Ok(a), Ok(b)) => Ok(if b.sequence_number > a.sequence_number {
                b
            } else {
                a
            }),
            (Ok(h), Err(e)) | (Err(e), Ok(h)) => {
                warnings.push(format!("one header is damaged and was ignored: {e}"));
                Ok(h)
            }
            (Err(e), Err(_)) => Err(e),
        }
    }
}

/// A region table entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionEntry {
    /// Region type.
    pub guid: [u8; 16],
    /// File offset.
    pub file_offset: u64,
    /// Length in bytes.
    pub length: u32,
    /// Whether a reader must understand the region.
    pub required: bool,
}

/// The 64 KiB file type identifier with `creator`.
pub fn file_identifier_bytes(creator: &str) -> Vec<u8> {
    let mut b = vec![0u8; 64 * 1024];
    b[..8].copy_from_slice(b"vhdxfile");
    for (i, u) in creator.encode_utf16().take(255).enumerate() {
        b[8 + i * 2..10 + i * 2].copy_from_slice(&u.to_le_bytes());
    }
    b
}

/// The 64 KiB region table holding `entries`, its CRC-32C computed.
pub fn region_table_bytes(entries: &[RegionEntry]) -> Vec<u8> {
    let mut b = vec![0u8; REGION_TABLE_LEN as usize];
    b[..4].copy_from_slice(b"regi");
    b[8..12].copy_from_slice(&(entries.len() as u32).to_le_bytes());
    for (i, e) in entries.iter().enumerate() {
        let o = 16 + i * 32;
        b[o..o + 16].copy_from_slice(&e.guid);
        b[o + 16..o + 24].copy_from_slice(&e.file_offset.to_le_bytes());
        b[o + 24..o + 28].copy_from_slice(&e.length.to_le_bytes());
        b[o + 28..o + 32].copy_from_slice(&u32::from(e.required).to_le_bytes());
    }
    let c = crc32c_without(&b, 4);
    b[4..8].copy_from_slice(&c.to_le_bytes());
    b
}

/// Reads the region table at `offset`.
pub fn read_region_table(file: &dyn ReadAt, offset: u64) -> Result<Vec<RegionEntry>> {
    let b = read_vec(file, offset, REGION_TABLE_LEN, REGION_TABLE_LEN)?;
    let bad = |msg: String| Error::corrupt("vhdx", "region table", offset, msg);
    if &b[..4] != b"regi" {
        return Err(bad("no \"regi\" signature".into()));
    }
    let stored = le32(&b, 4);
    let computed = crc32c_without(&b, 4);
    if stored != computed {
        return Err(bad(format!(
            "CRC-32C is {stored:#010x}, computed {computed:#010x}"
        )));
    }
    let count = le32(&b, 8);
    if count > MAX_REGION_ENTRIES {
        return Err(bad(format!(
            "{count} entries (at most {MAX_REGION_ENTRIES})"
        )));
    }
    Ok((0..count as usize)
        .map(|i| 16 + i * 32)
        .map(|o| RegionEntry {
            guid: id16(&b, o),
            file_offset: le64(&b, o + 16),
            length: le32(&b, o + 24),
            required: le32(&b, o + 28) & 1 != 0,
        })
        .collect())
}

/// The region table in use: the first valid one.
pub fn current_region_table(
    file: &dyn ReadAt,
    warnings: &mut Vec<String>,
) -> Result<Vec<RegionEntry>> {
    match read_region_table(file, REGION_TABLE_OFFSETS[0]) {
        Ok(t) => Ok(t),
        Err(e) => {
            let t = read_region_table(file, REGION_TABLE_OFFSETS[1])?;
            warnings.push(format!(
                "the first region table is damaged, used the second: {e}"
            ));
            Ok(t)
        }
    }
}
