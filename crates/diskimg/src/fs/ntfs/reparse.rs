//! Symbolic links on NTFS: reparse points ([MS-FSCC] 2.1.2, `REPARSE_DATA_BUFFER`) and the
//! Interix links that ntfs-3g writes by default.
//!
//! Shown as symlinks: `IO_REPARSE_TAG_SYMLINK` (Windows symbolic links, relative or absolute),
//! `IO_REPARSE_TAG_MOUNT_POINT` (junctions), `IO_REPARSE_TAG_LX_SYMLINK` (WSL), and Interix
//! links (a system file whose data is `IntxLNK\1` then the UTF-16 target). Windows targets keep
//! their form with `\` turned into `/`; the NT prefix `\??\` is dropped, so a junction to
//! `C:\Users` reads `C:/Users` (it cannot be followed inside the image). Other reparse tags
//! (deduplication, cloud files, WOF) leave the node a file or directory flagged `reparse`.

use super::FORMAT;
use crate::error::{Error, Result};

/// Windows symbolic link.
pub const IO_REPARSE_TAG_SYMLINK: u32 = 0xA000_000C;
/// Junction (directory mount point).
pub const IO_REPARSE_TAG_MOUNT_POINT: u32 = 0xA000_0003;
/// Symbolic link made by the Windows Subsystem for Linux.
pub const IO_REPARSE_TAG_LX_SYMLINK: u32 = 0xA000_001D;
/// Magic of an Interix symbolic link's data.
pub const INTERIX_SYMLINK: &[u8; 8] = b"IntxLNK\x01";

/// Whether a reparse tag is shown as a symbolic link.
pub fn is_link_tag(tag: u32) -> bool {
    matches!(
        tag,
        IO_REPARSE_TAG_SYMLINK | IO_REPARSE_TAG_MOUNT_POINT | IO_REPARSE_TAG_LX_SYMLINK
    )
}

/// The tag of a reparse point's data.
pub fn tag(data: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(data.get(..4)?.try_into().ok()?))
}

/// The link target of a reparse point's data (`REPARSE_DATA_BUFFER`) at `offset`.
pub fn target(data: &[u8], offset: u64) -> Result<String> {
    let bad = |msg: &str| Error::corrupt(FORMAT, "reparse point", offset, msg.to_owned());
    let tag = tag(data).ok_or_else(|| bad("shorter than its header"))?;
    let u16_at = |o: usize| -> Result<usize> {
        data.get(o..o + 2)
            .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))
            .ok_or_else(|| bad("shorter than its header"))
    };
    let path_buffer = match tag {
        IO_REPARSE_TAG_SYMLINK => 20,
        IO_REPARSE_TAG_MOUNT_POINT => 16,
        IO_REPARSE_TAG_LX_SYMLINK => {
            let text = data
                .get(12..)
                .ok_or_else(|| bad("shorter than its header"))?;
            return String::from_utf8(text.to_vec())
                .map_err(|_| bad("WSL link target is not UTF-8"));
        }
        _ => {
            return Err(Error::unsupported(
                FORMAT,
                format!("reparse tag {tag:#010x}"),
            ));
        }
    };
    let name = |off: usize, len: usize| -> Result<String> {
        let start = path_buffer + off;
        let bytes = data
            .get(start..start + len)
            .ok_or_else(|| bad("name lies outside the reparse data"))?;
        utf16(bytes).ok_or_else(|| bad("name is not UTF-16"))
    };
    let print = name(u16_at(12)?, u16_at(14)?)?;
    let raw = if print.is_empty() {
        name(u16_at(8)?, u16_at(10)?)?
    } else {
        print
    };
    Ok(windows_path(&raw))
}

/// The target of an Interix symbolic link from its data, or `None` if it is not one.
pub fn interix_target(data: &[u8]) -> Option<String> {
    let text = data.strip_prefix(INTERIX_SYMLINK)?;
    utf16(text)
}

/// UTF-16LE to a string; `None` for an odd length or unpaired surrogates.
pub fn utf16(b: &[u8]) -> Option<String> {
    if b.len() % 2 != 0 {
        return None;
    }
    let units = b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]));
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .ok()
}

fn windows_path(raw: &str) -> String {
    let s = raw.strip_prefix(r"\??\").unwrap_or(raw);
    s.replace('\\', "/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16le(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    fn symlink(substitute: &str, print: &str, relative: bool) -> Vec<u8> {
        let (sub, pr) = (utf16le(substitute), utf16le(print));
        let mut d = IO_REPARSE_TAG_SYMLINK.to_le_bytes().to_vec();
        d.extend(((12 + sub.len() + pr.len()) as u16).to_le_bytes());
        d.extend([0, 0]);
        for v in [0, sub.len(), sub.len(), pr.len()] {
            d.extend((v as u16).to_le_bytes());
        }
        d.extend(u32::from(relative).to_le_bytes());
        d.extend(sub);
        d.extend(pr);
        d
    }

    #[test]
    fn windows_symlinks() {
        let d = symlink(r"..\dir\file.txt", r"..\dir\file.txt", true);
        assert_eq!(target(&d, 0).unwrap(), "../dir/file.txt");
        let d = symlink(r"\??\C:\Windows", "", false);
        assert_eq!(target(&d, 0).unwrap(), "C:/Windows");
    }

    #[test]
    fn interix_and_damaged() {
        let mut d = INTERIX_SYMLINK.to_vec();
        d.extend(utf16le("a/b"));
        assert_eq!(interix_target(&d).as_deref(), Some("a/b"));
        assert!(interix_target(b"IntxCHR\0").is_none());
        let mut d = symlink("x", "y", true);
        d[12] = 200; // print name offset far outside
        assert!(target(&d, 0).is_err());
        assert!(target(&[1, 2], 0).is_err());
    }
}
