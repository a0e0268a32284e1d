//! Directory records (ECMA-119 9.1) and the reading of a directory's extent.

use super::bytes::{le32, record_date};
use super::{FORMAT, IsoFs};
use crate::error::{Error, Result};
use crate::time::Timestamp;

/// Smallest valid record: 33 fixed bytes and a one-byte name.
pub const MIN_RECORD_LEN: usize = 34;

/// Record flag bits (9.1.6).
pub mod flags {
    /// The record describes a directory.
    pub const DIRECTORY: u8 = 0x02;
    /// An associated file (a Macintosh resource fork, usually).
    pub const ASSOCIATED: u8 = 0x04;
    /// Another record for the same file follows (multi-extent).
    pub const MULTI_EXTENT: u8 = 0x80;
}

/// A parsed directory record.
#[derive(Debug, Clone)]
pub struct DirRecord {
    /// Byte offset of the record on the device.
    pub offset: u64,
    /// Record length.
    pub len: u8,
    /// Extended attribute record length, in logical blocks before the data.
    pub ext_attr_len: u8,
    /// First logical block of the extent.
    pub extent_lba: u32,
    /// Data length of this extent.
    pub data_len: u32,
    /// Recording date.
    pub recorded: Option<Timestamp>,
    /// Flag bits.
    pub flags: u8,
    /// File unit size for interleaved files (0 if not interleaved).
    pub unit_size: u8,
    /// Interleave gap.
    pub gap_size: u8,
    /// The file identifier, raw.
    pub name: Vec<u8>,
    /// The system use area, raw.
    pub system_use: Vec<u8>,
}

impl DirRecord {
    /// Parses one record from `b`, which starts at the record and holds at least its length.
    pub fn parse(b: &[u8], offset: u64) -> Result<Self> {
        let len = b[0];
        let name_len = usize::from(*b.get(32).unwrap_or(&0));
        if usize::from(len) < MIN_RECORD_LEN - 1 + name_len.max(1)
            || b.len() < usize::from(len)
            || name_len == 0
        {
            return Err(Error::corrupt(
                FORMAT,
                "directory record",
                offset,
                format!("record length {len} cannot hold a {name_len}-byte name"),
            ));
        }
        let name = b[33..33 + name_len].to_vec();
        // The system use area starts after the name and a padding byte that keeps it even.
        let su_start = 33 + name_len + usize::from(name_len % 2 == 0);
        let system_use = b
            .get(su_start..usize::from(len))
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        Ok(DirRecord {
            offset,
            len,
            ext_attr_len: b[1],
            extent_lba: le32(b, 2),
            data_len: le32(b, 10),
            recorded: record_date(&b[18..25]),
            flags: b[25],
            unit_size: b[26],
            gap_size: b[27],
            name,
            system_use,
        })
    }

    /// Whether this is the `.` record (identifier 0x00).
    pub fn is_self(&self) -> bool {
        self.name == [0]
    }

    /// Whether this is the `..` record (identifier 0x01).
    pub fn is_parent(&self) -> bool {
        self.name == [1]
    }

    /// Whether the directory bit is set.
    pub fn is_dir(&self) -> bool {
        self.flags & flags::DIRECTORY != 0
    }
}

/// Most bytes read for one directory's extent.
pub const MAX_DIR_SIZE: u64 = 64 * 1024 * 1024;
/// Most records in one directory.
pub const MAX_DIR_RECORDS: usize = 1_000_000;

impl IsoFs {
    /// Reads the record at `offset`.
    pub(super) fn record_at(&self, offset: u64) -> Result<DirRecord> {
        let mut len = [0u8; 1];
        self.meta_read(offset, &mut len, "directory record")?;
        let mut buf = vec![0u8; usize::from(len[0]).max(MIN_RECORD_LEN)];
        let n = usize::from(len[0]);
        if n < MIN_RECORD_LEN || (offset % self.block_size) + n as u64 > self.block_size {
            return Err(Error::corrupt(
                FORMAT,
                "directory record",
                offset,
                format!("record length {n} is invalid here"),
            ));
        }
        self.meta_read(offset, &mut buf[..n], "directory record")?;
        DirRecord::parse(&buf[..n], offset)
    }

    /// All records of the directory whose extent is `[start, start + len)`, in order,
    /// including `.` and `..`.
    pub(super) fn dir_records(&self, start: u64, len: u64) -> Result<Vec<DirRecord>> {
        if len > MAX_DIR_SIZE {
            return Err(Error::limit(
                FORMAT,
                "directory",
                start,
                format!("directory of {len} bytes exceeds the limit of {MAX_DIR_SIZE}"),
            ));
        }
        let bs = self.block_size;
        let mut out = Vec::new();
        let mut block = vec![0u8; bs as usize];
        let mut pos = 0u64;
        while pos < len {
            self.meta_read(start + pos, &mut block, "directory")?;
            let in_block = (len - pos).min(bs) as usize;
            let mut at = 0usize;
            while at < in_block {
                let rlen = usize::from(block[at]);
                if rlen == 0 {
                    break; // the rest of the block is padding
                }
                let offset = start + pos + at as u64;
                if rlen < MIN_RECORD_LEN || at + rlen > in_block {
                    return Err(Error::corrupt(
                        FORMAT,
                        "directory record",
                        offset,
                        format!("record length {rlen} is invalid here"),
                    ));
                }
                out.push(DirRecord::parse(&block[at..at + rlen], offset)?);
                if out.len() > MAX_DIR_RECORDS {
                    return Err(Error::limit(
                        FORMAT,
                        "directory",
                        start,
                        format!("more than {MAX_DIR_RECORDS} records"),
                    ));
                }
                at += rlen;
            }
            pos += bs;
        }
        Ok(out)
    }
}
