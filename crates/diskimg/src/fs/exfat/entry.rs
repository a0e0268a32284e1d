//! Directory entries and entry sets: a File entry, its Stream Extension and File Name entries,
//! tied together by the set checksum; and the critical primary entries of the root
//! (allocation bitmap, up-case table, volume label).

use super::FORMAT;
use crate::error::{Error, Result};
use crate::fs::fat::time::exfat_timestamp;
use crate::time::Timestamp;

pub(crate) const TYPE_END: u8 = 0x00;
pub(crate) const TYPE_BITMAP: u8 = 0x81;
pub(crate) const TYPE_UPCASE: u8 = 0x82;
pub(crate) const TYPE_LABEL: u8 = 0x83;
pub(crate) const TYPE_FILE: u8 = 0x85;
const TYPE_STREAM: u8 = 0xC0;
const TYPE_NAME: u8 = 0xC1;
/// File attribute: read-only.
pub(crate) const ATTR_READ_ONLY: u16 = 0x01;
/// File attribute: directory.
pub(crate) const ATTR_DIRECTORY: u16 = 0x10;

fn u16le(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn u64le(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// A parsed file entry set.
#[derive(Debug, Clone)]
pub(crate) struct FileSet {
    pub name: String,
    pub name_units: Vec<u16>,
    pub attributes: u16,
    pub no_fat_chain: bool,
    pub first_cluster: u32,
    pub data_length: u64,
    pub valid_data_length: u64,
    pub created: Option<Timestamp>,
    pub modified: Option<Timestamp>,
    pub accessed: Option<Timestamp>,
}

impl FileSet {
    pub fn is_dir(&self) -> bool {
        self.attributes & ATTR_DIRECTORY != 0
    }
}

/// The number of secondary entries a File entry announces (its set is that plus one).
pub(crate) fn secondary_count(file: &[u8]) -> usize {
    usize::from(file[1])
}

/// Parses a whole entry set (`set` holds the File entry and its secondaries); `at` is the
/// File entry's device offset, for messages.
pub(crate) fn parse_set(set: &[u8], at: u64) -> Result<FileSet> {
    let bad = |msg: String| Error::corrupt(FORMAT, "directory entry set", at, msg);
    let n = secondary_count(set);
    if !(2..=18).contains(&n) || set.len() != (n + 1) * 32 {
        return Err(bad(format!("{n} secondary entries")));
    }
    let mut sum = 0u16;
    for (i, &b) in set.iter().enumerate() {
        if i == 2 || i == 3 {
            continue;
        }
        sum = sum.rotate_right(1).wrapping_add(u16::from(b));
    }
    if sum != u16le(set, 2) {
        return Err(bad("set checksum does not match its entries".into()));
    }
    let f = &set[..32];
    let s = &set[32..64];
    if s[0] != TYPE_STREAM {
        return Err(bad(format!(
            "a file entry followed by entry type {:#04x}, not a stream extension",
            s[0]
        )));
    }
    let name_len = usize::from(s[3]);
    let name_entries = name_len.div_ceil(15);
    if name_len == 0 || name_entries > n - 1 {
        return Err(bad(format!(
            "a name of {name_len} characters in {} entries",
            n - 1
        )));
    }
    let mut units = Vec::with_capacity(name_len);
    for e in set[64..].chunks_exact(32).take(name_entries) {
        if e[0] != TYPE_NAME {
            return Err(bad(format!(
                "entry type {:#04x} where a file name entry belongs",
                e[0]
            )));
        }
        units.extend(
            e[2..32]
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]])),
        );
    }
    units.truncate(name_len);
    let data_length = u64le(s, 24);
    let valid_data_length = u64le(s, 8);
    if valid_data_length > data_length {
        return Err(bad(format!(
            "valid data length {valid_data_length} exceeds data length {data_length}"
        )));
    }
    Ok(FileSet {
        name: String::from_utf16_lossy(&units),
        name_units: units,
        attributes: u16le(f, 4),
        no_fat_chain: s[1] & 2 != 0,
        first_cluster: u32le(s, 20),
        data_length,
        valid_data_length,
        created: exfat_timestamp(u32le(f, 8), f[20], f[22]),
        modified: exfat_timestamp(u32le(f, 12), f[21], f[23]),
        accessed: exfat_timestamp(u32le(f, 16), 0, f[24]),
    })
}

/// The volume label of a label entry.
pub(crate) fn label(e: &[u8]) -> Option<String> {
    let n = usize::from(e[1]).min(11);
    let units: Vec<u16> = e[2..2 + n * 2]
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let s = String::from_utf16_lossy(&units);
    (!s.is_empty()).then_some(s)
}

/// First cluster and length of a bitmap or up-case table entry.
pub(crate) fn table_location(e: &[u8]) -> (u32, u64) {
    (u32le(e, 20), u64le(e, 24))
}

/// The table checksum an up-case table entry records.
pub(crate) fn upcase_checksum(e: &[u8]) -> u32 {
    u32le(e, 4)
}
