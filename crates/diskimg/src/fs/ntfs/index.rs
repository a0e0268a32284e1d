//! NTFS directory indexes (`$I30`): the entries of `$INDEX_ROOT` and of every in-use `INDX`
//! record of `$INDEX_ALLOCATION`.
//!
//! The B-tree is not walked: every index record marked in use by the directory's `$BITMAP` is
//! scanned once, in order, so a damaged tree (a subnode pointing back at its parent) cannot make
//! a loop, and the work is bounded by the size of the allocation. Entries are returned sorted
//! by name.

use super::FORMAT;
use super::reparse::utf16;
use crate::error::{Error, Result};

/// `INDX` records of one directory scanned at most (4 KiB each: 256 MiB of index).
pub const MAX_INDEX_RECORDS: u64 = 65_536;
/// Entries of one directory returned at most.
pub const MAX_DIR_ENTRIES: usize = 1 << 20;

/// Entry flag: the entry points to a subnode.
const INDEX_ENTRY_NODE: u32 = 0x1;
/// Entry flag: the last entry of a node, without a key.
const INDEX_ENTRY_END: u32 = 0x2;
/// `$FILE_NAME` namespace of a DOS 8.3 alias, hidden from listings.
const NAMESPACE_DOS: u8 = 2;

/// One `$FILE_NAME` key of a directory index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// MFT record number of the named file.
    pub record: u64,
    /// The name.
    pub name: String,
    /// `FILE_ATTRIBUTE_*` flags as the index recorded them (0x1000_0000: a directory).
    pub file_attributes: u32,
    /// The reparse tag, when the file is a reparse point.
    pub reparse_tag: u32,
    /// Size of the data, as the index recorded it (may be stale).
    pub data_size: u64,
}

/// Parses the entries of one index node (`INDEX_HEADER` at `header` in `buf`), appending the
/// named, non-DOS entries to `out`. `offset` is the node's position, for errors.
pub fn node_entries(
    buf: &[u8],
    header: usize,
    offset: u64,
    out: &mut Vec<IndexEntry>,
) -> Result<()> {
    let bad = |msg: &str| Error::corrupt(FORMAT, "index node", offset, msg.to_owned());
    let u32_at = |b: &[u8], o: usize| -> Option<u32> {
        Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?))
    };
    let first = u32_at(buf, header).ok_or_else(|| bad("header is cut short"))? as usize;
    let used = u32_at(buf, header + 4).ok_or_else(|| bad("header is cut short"))? as usize;
    let end = header
        .checked_add(used)
        .filter(|&e| e <= buf.len())
        .ok_or_else(|| bad("entries run past the node"))?;
    let mut pos = header
        .checked_add(first)
        .ok_or_else(|| bad("entries start past the node"))?;
    while pos + 16 <= end {
        let e = &buf[pos..end];
        let record = u64::from_le_bytes(e[0..8].try_into().unwrap_or_default()) & 0xFFFF_FFFF_FFFF;
        let len = usize::from(u16::from_le_bytes([e[8], e[9]]));
        let key_len = usize::from(u16::from_le_bytes([e[10], e[11]]));
        let flags = u32::from_le_bytes(e[12..16].try_into().unwrap_or_default());
        if flags & INDEX_ENTRY_END != 0 {
            break;
        }
        if len < 16 || len > e.len() || len % 8 != 0 {
            return Err(bad("index entry has an impossible length"));
        }
        let min_len = 16 + key_len + if flags & INDEX_ENTRY_NODE != 0 { 8 } else { 0 };
        if key_len < 66 || min_len > len {
            return Err(bad("index entry key does not fit in the entry"));
        }
        let key = &e[16..16 + key_len];
        let name_len = usize::from(key[64]) * 2;
        let namespace = key[65];
        let name_bytes = key
            .get(66..66 + name_len)
            .ok_or_else(|| bad("file name runs past its key"))?;
        if namespace != NAMESPACE_DOS {
            if out.len() >= MAX_DIR_ENTRIES {
                return Err(Error::limit(
                    FORMAT,
                    "directory index",
                    offset,
                    format!("more than {MAX_DIR_ENTRIES} entries"),
                ));
            }
            let name = utf16(name_bytes).unwrap_or_else(|| lossy(name_bytes));
            out.push(IndexEntry {
                record,
                name,
                file_attributes: u32::from_le_bytes(key[56..60].try_into().unwrap_or_default()),
                reparse_tag: u32::from_le_bytes(key[60..64].try_into().unwrap_or_default()),
                data_size: u64::from_le_bytes(key[48..56].try_into().unwrap_or_default()),
            });
        }
        pos += len;
    }
    Ok(())
}

/// Applies the update sequence array of a multi-sector record (`FILE` or `INDX`) in place:
/// the last two bytes of every 512-byte sector must hold the update sequence number and are
/// replaced by the saved bytes.
pub fn apply_fixups(buf: &mut [u8], offset: u64) -> Result<()> {
    let bad = |msg: &str| Error::corrupt(FORMAT, "update sequence array", offset, msg.to_owned());
    if buf.len() < 8 {
        return Err(bad("record is too short"));
    }
    let usa = usize::from(u16::from_le_bytes([buf[4], buf[5]]));
    let count = usize::from(u16::from_le_bytes([buf[6], buf[7]]));
    if count == 0 || (count - 1) * 512 > buf.len() || usa + count * 2 > buf.len() {
        return Err(bad("update sequence array does not fit the record"));
    }
    let usn = [buf[usa], buf[usa + 1]];
    for i in 1..count {
        let end = i * 512;
        if buf[end - 2..end] != usn {
            return Err(bad(
                "sector does not end with the update sequence number (torn write)",
            ));
        }
        let saved = [buf[usa + i * 2], buf[usa + i * 2 + 1]];
        buf[end - 2..end].copy_from_slice(&saved);
    }
    Ok(())
}

/// Offset of the `INDEX_HEADER` inside an `INDX` record.
pub const INDX_HEADER: usize = 24;

/// Checks an `INDX` record's signature and applies its fixups.
pub fn check_indx(buf: &mut [u8], offset: u64) -> Result<()> {
    if buf.get(..4) != Some(b"INDX") {
        return Err(Error::corrupt(
            FORMAT,
            "index record",
            offset,
            "no INDX signature",
        ));
    }
    apply_fixups(buf, offset)
}

fn lossy(b: &[u8]) -> String {
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16_lossy(&units)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(record: u64, name: &str, namespace: u8) -> Vec<u8> {
        let units: Vec<u8> = name.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let key_len = 66 + units.len();
        let len = (16 + key_len).div_ceil(8) * 8;
        let mut e = vec![0u8; len];
        e[0..8].copy_from_slice(&record.to_le_bytes());
        e[8..10].copy_from_slice(&(len as u16).to_le_bytes());
        e[10..12].copy_from_slice(&(key_len as u16).to_le_bytes());
        e[16 + 64] = (units.len() / 2) as u8;
        e[16 + 65] = namespace;
        e[16 + 66..16 + 66 + units.len()].copy_from_slice(&units);
        e
    }

    fn node(entries: &[Vec<u8>]) -> Vec<u8> {
        let mut body: Vec<u8> = entries.concat();
        let mut end = vec![0u8; 16];
        end[8] = 16;
        end[12] = INDEX_ENTRY_END as u8;
        body.extend(end);
        let mut b = vec![0u8; 16];
        b[0..4].copy_from_slice(&16u32.to_le_bytes());
        b[4..8].copy_from_slice(&(16 + body.len() as u32).to_le_bytes());
        b.extend(body);
        b
    }

    #[test]
    fn named_entries_without_dos_aliases() {
        let b = node(&[entry(40, "LONGNA~1.TXT", 2), entry(40, "long name.txt", 1)]);
        let mut out = Vec::new();
        node_entries(&b, 0, 0, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].record, out[0].name.as_str()), (40, "long name.txt"));
    }

    #[test]
    fn damaged_entries_are_errors() {
        let mut b = node(&[entry(40, "a", 1)]);
        b[16 + 8] = 3; // entry length 3
        assert!(node_entries(&b, 0, 0, &mut Vec::new()).is_err());
        let mut b = node(&[entry(40, "a", 1)]);
        b[4] = 0xFF; // used length past the buffer
        assert!(node_entries(&b, 0, 0, &mut Vec::new()).is_err());
    }

    #[test]
    fn fixups_are_checked_and_applied() {
        let mut r = vec![0u8; 1024];
        r[4..6].copy_from_slice(&48u16.to_le_bytes());
        r[6..8].copy_from_slice(&3u16.to_le_bytes());
        r[48..54].copy_from_slice(&[7, 0, 0xAA, 0xBB, 0xCC, 0xDD]);
        r[510..512].copy_from_slice(&[7, 0]);
        r[1022..1024].copy_from_slice(&[7, 0]);
        apply_fixups(&mut r, 0).unwrap();
        assert_eq!(&r[510..512], &[0xAA, 0xBB]);
        assert_eq!(&r[1022..1024], &[0xCC, 0xDD]);
        let mut torn = vec![0u8; 1024];
        torn[4..6].copy_from_slice(&48u16.to_le_bytes());
        torn[6..8].copy_from_slice(&3u16.to_le_bytes());
        torn[48] = 7;
        assert!(apply_fixups(&mut torn, 0).is_err());
    }
}
