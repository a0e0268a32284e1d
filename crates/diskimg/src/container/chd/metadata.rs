//! CHD metadata: a linked list of tagged entries (MAME `chd.h`: a 16-byte header of tag,
//! flags and 24-bit length, offset of the next entry; then the data).
//!
//! Read here with our own bounded walk (at most [`MAX_METADATA_ENTRIES`], each entry at most
//! [`MAX_METADATA_LEN`] bytes, an entry met twice is a loop). Known tags: `CHT2`/`CHTR` (CD
//! tracks), `CHGD` (GD-ROM tracks), `GDDD` (hard-disk geometry), `DVD ` (DVD), `CHCD` (binary
//! CD table of contents, not decoded).

use super::FORMAT;
use crate::error::{Error, Result};
use crate::io::{ReadAt, read_vec};
use std::collections::HashSet;

/// Most metadata entries read.
pub const MAX_METADATA_ENTRIES: usize = 1024;
/// Largest metadata entry read, in bytes.
pub const MAX_METADATA_LEN: u64 = 64 * 1024;
/// Flag of an entry that counts in the overall SHA-1.
pub const FLAG_CHECKSUM: u8 = 1;

/// Hard-disk geometry (`CYLS:%d,HEADS:%d,SECS:%d,BPS:%d`).
pub const HARD_DISK: u32 = tag(b"GDDD");
/// CD track, version 2 (with pregap and postgap).
pub const CD_TRACK2: u32 = tag(b"CHT2");
/// CD track, version 1.
pub const CD_TRACK: u32 = tag(b"CHTR");
/// Binary CD table of contents (old images).
pub const CD_OLD: u32 = tag(b"CHCD");
/// GD-ROM track.
pub const GD_TRACK: u32 = tag(b"CHGD");
/// DVD.
pub const DVD: u32 = tag(b"DVD ");

/// A tag from its four characters.
pub const fn tag(t: &[u8; 4]) -> u32 {
    u32::from_be_bytes(*t)
}

/// One metadata entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataEntry {
    /// Four-character tag.
    pub tag: u32,
    /// Flags ([`FLAG_CHECKSUM`]).
    pub flags: u8,
    /// The data.
    pub data: Vec<u8>,
    /// Where the entry's header is.
    pub offset: u64,
}

impl MetadataEntry {
    /// The data as text, without the trailing NUL that chdman writes.
    pub fn text(&self) -> String {
        let end = self
            .data
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.data.len());
        String::from_utf8_lossy(&self.data[..end]).into_owned()
    }

    /// The tag as text.
    pub fn tag_name(&self) -> String {
        super::header::codec_name(self.tag)
    }
}

/// Reads the metadata list starting at `offset` (0: none).
pub fn read_metadata(src: &dyn ReadAt, mut offset: u64) -> Result<Vec<MetadataEntry>> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    while offset != 0 {
        if !seen.insert(offset) {
            return Err(Error::corrupt(
                FORMAT,
                "metadata",
                offset,
                "the metadata list loops back to an earlier entry",
            ));
        }
        if out.len() >= MAX_METADATA_ENTRIES {
            return Err(Error::limit(
                FORMAT,
                "metadata",
                offset,
                format!("more than {MAX_METADATA_ENTRIES} metadata entries"),
            ));
        }
        let h = read_vec(src, offset, 16, 16).map_err(|e| {
            Error::corrupt(FORMAT, "metadata", offset, format!("entry header: {e}"))
        })?;
        let tag = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
        let flags = h[4];
        let len = u64::from(u32::from_be_bytes([0, h[5], h[6], h[7]]));
        let next = u64::from_be_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]]);
        let data = read_vec(src, offset + 16, len, MAX_METADATA_LEN)
            .map_err(|e| Error::corrupt(FORMAT, "metadata", offset, format!("entry data: {e}")))?;
        out.push(MetadataEntry {
            tag,
            flags,
            data,
            offset,
        });
        offset = next;
    }
    Ok(out)
}

/// Parses `KEY:value` fields separated by spaces or commas (`TRACK:1 TYPE:MODE1 ...`,
/// `CYLS:32,HEADS:16,...`).
pub fn fields(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.split([' ', ','])
        .filter_map(|f| f.split_once(':'))
        .map(|(k, v)| (k.trim(), v.trim()))
}

/// The number in field `key`, if present and numeric.
pub fn number(text: &str, key: &str) -> Option<u64> {
    fields(text)
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::MemorySource;

    fn entry(tag: &[u8; 4], data: &[u8], next: u64) -> Vec<u8> {
        let mut e = tag.to_vec();
        e.push(FLAG_CHECKSUM);
        e.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
        e.extend_from_slice(&next.to_be_bytes());
        e.extend_from_slice(data);
        e
    }

    #[test]
    fn reads_a_list_and_refuses_loops() {
        let mut img = vec![0u8; 16];
        let first = entry(b"GDDD", b"CYLS:1,HEADS:2,SECS:3,BPS:512\0", 0);
        img.extend(entry(b"DVD ", b"\0", 16 + 16 + 1));
        img.extend(first);
        let list = read_metadata(&MemorySource::new(img.clone()), 16).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(number(&list[1].text(), "BPS"), Some(512));
        // The second entry pointing back at the first is a loop.
        let mut looped = img;
        let at = 16 + 17 + 8;
        looped[at..at + 8].copy_from_slice(&16u64.to_be_bytes());
        assert!(read_metadata(&MemorySource::new(looped), 16).is_err());
    }
}
