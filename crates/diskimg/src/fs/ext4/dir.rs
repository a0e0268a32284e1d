//! Directory entries: the linear format every ext directory block holds (htree index blocks
//! look like one empty entry, so a linear read sees every name), the checksum tail of
//! metadata_csum leaf blocks, and inline directories.

use super::FORMAT;
use super::csum;
use crate::error::{Error, Result};
use crate::fs::FileType;

/// One entry: inode, name bytes, and the type from the entry when the volume records it.
#[derive(Debug, Clone)]
pub(crate) struct RawEntry {
    pub ino: u32,
    pub name: Vec<u8>,
    pub file_type: Option<FileType>,
}

fn u16le(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn entry_type(t: u8) -> Option<FileType> {
    Some(match t {
        1 => FileType::File,
        2 => FileType::Directory,
        3 => FileType::CharDevice,
        4 => FileType::BlockDevice,
        5 => FileType::Fifo,
        6 => FileType::Socket,
        7 => FileType::Symlink,
        _ => return None,
    })
}

/// Checks the checksum tail of a leaf block, if it has one. An htree index block (a first
/// entry of inode 0 spanning the whole block) carries a different tail, not checked here:
/// nothing is read from it.
pub(crate) fn verify_block(b: &[u8], seed: u32, at: u64, ino: u32) -> Result<()> {
    let n = b.len();
    let is_index = u32le(b, 0) == 0 && usize::from(u16le(b, 4)) == n;
    let has_tail = n >= 12
        && u32le(b, n - 12) == 0
        && u16le(b, n - 8) == 12
        && b[n - 6] == 0
        && b[n - 5] == 0xDE;
    if is_index || !has_tail {
        return Ok(());
    }
    if u32le(b, n - 4) != csum::update(seed, &b[..n - 12]) {
        return Err(Error::corrupt(
            FORMAT,
            "directory block",
            at,
            format!("checksum of a block of directory inode {ino} does not match"),
        ));
    }
    Ok(())
}

/// Parses the entries of one directory block (or one inline region) into `out`.
/// `filetype` says whether entries carry a type byte (else the name length is 16 bits).
pub(crate) fn parse(b: &[u8], at: u64, filetype: bool, out: &mut Vec<RawEntry>) -> Result<()> {
    let mut pos = 0usize;
    while pos + 8 <= b.len() {
        let ino = u32le(b, pos);
        let rec_len = usize::from(u16le(b, pos + 4));
        let (name_len, t) = if filetype {
            (usize::from(b[pos + 6]), entry_type(b[pos + 7]))
        } else {
            (usize::from(u16le(b, pos + 6)), None)
        };
        if rec_len < 8 || rec_len % 4 != 0 || pos + rec_len > b.len() || 8 + name_len > rec_len {
            return Err(Error::corrupt(
                FORMAT,
                "directory entry",
                at + pos as u64,
                format!("record length {rec_len} with a name of {name_len} bytes"),
            ));
        }
        let name = &b[pos + 8..pos + 8 + name_len];
        if ino != 0 && name != b"." && name != b".." && !name.is_empty() {
            out.push(RawEntry {
                ino,
                name: name.to_vec(),
                file_type: t,
            });
        }
        pos += rec_len;
    }
    Ok(())
}

/// Parses an inline directory: the parent's inode number (4 bytes), then entries in the rest
/// of `i_block`, then entries in the `system.data` attribute.
pub(crate) fn parse_inline(
    data: &[u8],
    at: u64,
    filetype: bool,
    out: &mut Vec<RawEntry>,
) -> Result<()> {
    let first = data.len().min(60);
    if first < 4 {
        return Ok(());
    }
    parse(&data[4..first], at, filetype, out)?;
    if data.len() > 60 {
        parse(&data[60..], at, filetype, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ino: u32, name: &[u8], t: u8, rec_len: u16) -> Vec<u8> {
        let mut e = ino.to_le_bytes().to_vec();
        e.extend_from_slice(&rec_len.to_le_bytes());
        e.push(name.len() as u8);
        e.push(t);
        e.extend_from_slice(name);
        e.resize(usize::from(rec_len), 0);
        e
    }

    #[test]
    fn skips_dots_and_deleted_entries_and_rejects_bad_lengths() {
        let mut b = entry(2, b".", 2, 12);
        b.extend(entry(2, b"..", 2, 12));
        b.extend(entry(0, b"gone", 1, 12));
        b.extend(entry(12, b"file", 1, 1024 - 36));
        let mut out = Vec::new();
        parse(&b, 0, true, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].name, b"file");
        assert_eq!(out[0].file_type, Some(FileType::File));
        let mut bad = entry(12, b"file", 1, 12);
        bad[4] = 6;
        assert!(parse(&bad, 0, true, &mut Vec::new()).is_err());
        let cut = entry(12, b"file", 1, 12);
        assert!(
            parse(&cut[..8], 0, true, &mut Vec::new()).is_err(),
            "record past the block"
        );
        let mut past = entry(12, b"file", 1, 12);
        past[4] = 16;
        assert!(parse(&past, 0, true, &mut Vec::new()).is_err());
    }
}
