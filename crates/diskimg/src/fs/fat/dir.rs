//! FAT directories: 32-byte entries, long-name runs, the volume label entry.

use super::FORMAT;
use super::names::{self, LongName};
use crate::error::{Error, Result};
use crate::time::Timestamp;

/// Attribute bits.
pub(crate) const ATTR_READ_ONLY: u8 = 0x01;
pub(crate) const ATTR_VOLUME_ID: u8 = 0x08;
pub(crate) const ATTR_DIRECTORY: u8 = 0x10;
/// Read-only + hidden + system + volume ID: a long-name entry.
const ATTR_LONG_NAME: u8 = 0x0F;

/// The short (8.3) directory entry that describes a file or directory.
#[derive(Debug, Clone)]
pub(crate) struct ShortEntry {
    pub raw_name: [u8; 11],
    pub attr: u8,
    pub case_flags: u8,
    pub first_cluster: u32,
    pub size: u32,
    pub created: Option<Timestamp>,
    pub accessed: Option<Timestamp>,
    pub modified: Option<Timestamp>,
}

fn u16le(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

impl ShortEntry {
    /// Parses 32 bytes; `fat32` says whether the high cluster word counts.
    pub fn parse(e: &[u8], fat32: bool) -> Self {
        let hi = if fat32 { u32::from(u16le(e, 20)) } else { 0 };
        ShortEntry {
            raw_name: e[..11].try_into().expect("11 bytes"),
            attr: e[11],
            case_flags: e[12],
            first_cluster: hi << 16 | u32::from(u16le(e, 26)),
            size: u32::from_le_bytes([e[28], e[29], e[30], e[31]]),
            created: super::time::dos_datetime(u16le(e, 16), u16le(e, 14), e[13]),
            accessed: super::time::dos_datetime(u16le(e, 18), 0, 0),
            modified: super::time::dos_datetime(u16le(e, 24), u16le(e, 22), 0),
        }
    }

    pub fn is_dir(&self) -> bool {
        self.attr & ATTR_DIRECTORY != 0
    }
}

/// Whether 32 bytes are an entry that names a file or directory (in use, not a long-name
/// part, not the volume label, not `.` or `..`).
pub(crate) fn is_named_entry(e: &[u8]) -> bool {
    e[0] != 0
        && e[0] != 0xE5
        && e[11] & 0x3F != ATTR_LONG_NAME
        && e[11] & ATTR_VOLUME_ID == 0
        && e[..11] != *b".          "
        && e[..11] != *b"..         "
}

/// One named entry of a directory.
pub(crate) struct Listed {
    /// The long name, else the short name.
    pub name: String,
    /// The short name, which also finds the entry.
    pub short: String,
    /// Device offset of the short entry (the node id).
    pub offset: u64,
    pub entry: ShortEntry,
}

/// What a directory's bytes hold.
#[derive(Default)]
pub(crate) struct Listing {
    pub entries: Vec<Listed>,
    /// The volume label entry (in the root directory).
    pub label: Option<String>,
}

/// Parses a directory's bytes. `spans` are the device ranges the bytes came from, in order,
/// so that each entry's device offset is known.
pub(crate) fn parse(bytes: &[u8], spans: &[(u64, u64)], fat32: bool) -> Result<Listing> {
    let mut out = Listing::default();
    let mut long = LongName::default();
    let mut span = spans.iter();
    let mut cur: Option<(u64, u64)> = None;
    let mut used_in_span = 0u64;
    for e in bytes.chunks_exact(32) {
        // The device offset of this entry.
        let offset = loop {
            match cur {
                Some((start, len)) if used_in_span + 32 <= len => {
                    let at = start + used_in_span;
                    used_in_span += 32;
                    break at;
                }
                _ => {
                    cur = span.next().copied();
                    used_in_span = 0;
                    if cur.is_none() {
                        return Err(Error::corrupt(
                            FORMAT,
                            "directory",
                            spans.first().map_or(0, |s| s.0),
                            "directory bytes outrun their clusters",
                        ));
                    }
                }
            }
        };
        if e[0] == 0 {
            break;
        }
        if e[0] == 0xE5 {
            long.reset();
            continue;
        }
        if e[11] & 0x3F == ATTR_LONG_NAME {
            long.push(e);
            continue;
        }
        if e[11] & ATTR_VOLUME_ID != 0 {
            if out.label.is_none() && e[11] & ATTR_DIRECTORY == 0 {
                out.label = names::label(&e[..11]);
            }
            long.reset();
            continue;
        }
        if !is_named_entry(e) {
            long.reset();
            continue;
        }
        let entry = ShortEntry::parse(e, fat32);
        let short = names::short_name(&entry.raw_name, entry.case_flags);
        let name = long.take(&entry.raw_name).unwrap_or_else(|| short.clone());
        out.entries.push(Listed {
            name,
            short,
            offset,
            entry,
        });
    }
    Ok(out)
}
