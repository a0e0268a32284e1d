//! File entries (ECMA-167 4/14.9) and extended file entries (4/14.17) behind an ICB: strategy
//! 4 (one direct entry) and strategy 4096 (UDF 2.3.5.1: a direct entry followed by an
//! indirect entry that leads to a newer ICB), the ICB tag, owner, permissions, times, link
//! count, device numbers from the device specification extended attribute (4/14.10.7), and
//! the data: embedded in the entry or described by allocation descriptors.

use super::alloc::{AdKind, DataExtent};
use super::fields::{LbAddr, LongAd, le16, le32, le64, timestamp};
use super::tag::{self, id};
use super::{FORMAT, UdfFs};
use crate::error::{Error, Result};
use crate::time::Timestamp;
use std::collections::HashSet;

/// Most indirect entries followed from one ICB (strategy 4096).
pub(super) const MAX_ICB_CHAIN: usize = 1024;

/// File types of the ICB tag (4/14.6.6 and UDF 2.3.5.2).
pub(crate) mod file_type {
    pub const UNSPECIFIED: u8 = 0;
    pub const DIRECTORY: u8 = 4;
    pub const REGULAR: u8 = 5;
    pub const BLOCK_DEVICE: u8 = 6;
    pub const CHAR_DEVICE: u8 = 7;
    pub const FIFO: u8 = 9;
    pub const SOCKET: u8 = 10;
    pub const SYMLINK: u8 = 12;
    pub const STREAM_DIRECTORY: u8 = 13;
    pub const VAT: u8 = 248;
    pub const METADATA: u8 = 250;
    pub const METADATA_MIRROR: u8 = 251;
}

/// ICB flags (4/14.6.8).
mod flags {
    pub const SETUID: u16 = 1 << 6;
    pub const SETGID: u16 = 1 << 7;
    pub const STICKY: u16 = 1 << 8;
}

/// Where a file's bytes are.
#[derive(Debug, Clone)]
pub(super) enum Data {
    /// Embedded in the entry, which lies at `offset` on the device.
    Inline { bytes: Vec<u8>, offset: u64 },
    /// In extents.
    Extents(Vec<DataExtent>),
}

/// A parsed (extended) file entry.
#[derive(Debug, Clone)]
pub(super) struct FileEntry {
    /// Where the entry in use was found (after following strategy 4096).
    pub location: LbAddr,
    pub file_type: u8,
    pub icb_flags: u16,
    pub uid: u32,
    pub gid: u32,
    pub permissions: u32,
    pub link_count: u16,
    pub info_len: u64,
    pub atime: Option<Timestamp>,
    pub mtime: Option<Timestamp>,
    pub ctime: Option<Timestamp>,
    pub btime: Option<Timestamp>,
    pub rdev: Option<(u32, u32)>,
    pub data: Data,
}

impl FileEntry {
    /// POSIX permission bits (UDF 3.3.3.3: owner bits 10-14, group 5-9, other 0-4, each
    /// execute, write, read, change attributes, delete) plus set-id and sticky from the ICB.
    pub fn mode(&self) -> u32 {
        let p = self.permissions;
        let mut mode = (((p >> 10) & 7) << 6) | (((p >> 5) & 7) << 3) | (p & 7);
        if self.icb_flags & flags::SETUID != 0 {
            mode |= 0o4000;
        }
        if self.icb_flags & flags::SETGID != 0 {
            mode |= 0o2000;
        }
        if self.icb_flags & flags::STICKY != 0 {
            mode |= 0o1000;
        }
        mode
    }
}

impl UdfFs {
    /// Reads the entry of the ICB at `at`, following strategy 4096 to the newest entry.
    /// `from` is the device offset of what pointed here, for errors.
    pub(super) fn read_entry(&self, at: LbAddr, from: u64) -> Result<FileEntry> {
        let (mut block, mut offset) = self.read_block(at, "file entry", from)?;
        let mut location = at;
        tag::check(
            &block,
            &[id::FILE_ENTRY, id::EXTENDED_FILE_ENTRY],
            Some(at.block),
            "file entry",
            offset,
        )?;
        if le16(&block, 20) == 4096 {
            let mut seen = HashSet::from([at]);
            while let Some(next) = location.plus(1) {
                let Ok((ie, ie_offset)) = self.read_block(next, "indirect entry", offset) else {
                    break;
                };
                if tag::check(
                    &ie,
                    &[id::INDIRECT],
                    Some(next.block),
                    "indirect entry",
                    ie_offset,
                )
                .is_err()
                {
                    break;
                }
                let target = LongAd::parse(&ie, 36);
                if target.bytes() == 0 {
                    break;
                }
                if !seen.insert(target.location) || seen.len() > MAX_ICB_CHAIN {
                    return Err(Error::corrupt(
                        FORMAT,
                        "indirect entry",
                        ie_offset,
                        "indirect entries form a loop or a chain that is too long",
                    ));
                }
                let (b, o) = self.read_block(target.location, "file entry", ie_offset)?;
                tag::check(
                    &b,
                    &[id::FILE_ENTRY, id::EXTENDED_FILE_ENTRY],
                    Some(target.location.block),
                    "file entry",
                    o,
                )?;
                (block, offset, location) = (b, o, target.location);
            }
        }
        self.parse_entry(&block, offset, location)
    }

    fn parse_entry(&self, b: &[u8], offset: u64, location: LbAddr) -> Result<FileEntry> {
        let extended = le16(b, 0) == id::EXTENDED_FILE_ENTRY;
        let icb_flags = le16(b, 16 + 18);
        let (times, l_ea_at, header) = if extended {
            ([80, 92, 116, 104], 208, 216)
        } else {
            ([72, 84, 96, 0], 168, 176)
        };
        let l_ea = le32(b, l_ea_at) as usize;
        let l_ad = le32(b, l_ea_at + 4) as usize;
        let corrupt = |msg: String| Error::corrupt(FORMAT, "file entry", offset, msg);
        if header + l_ea + l_ad > b.len() {
            return Err(corrupt(format!(
                "{l_ea} bytes of extended attributes and {l_ad} of allocation descriptors \
                 do not fit in a block of {}",
                b.len()
            )));
        }
        let info_len = le64(b, 56);
        let ea = &b[header..header + l_ea];
        let area = &b[header + l_ea..header + l_ea + l_ad];
        let area_offset = offset + (header + l_ea) as u64;
        let kind = AdKind::from_flags(icb_flags)
            .map_err(|e| e.with_structure("file entry").with_offset(offset))?;
        let data = if kind == AdKind::Inline {
            if info_len > l_ad as u64 {
                return Err(corrupt(format!(
                    "embedded data of {info_len} bytes in {l_ad} bytes"
                )));
            }
            Data::Inline {
                bytes: area[..info_len as usize].to_vec(),
                offset: area_offset,
            }
        } else {
            let extents = self.extents(area, area_offset, kind, location.partition, info_len)?;
            let described = extents.last().map_or(0, |x| x.file_offset + x.len);
            if described < info_len {
                return Err(corrupt(format!(
                    "information length {info_len} exceeds the {described} bytes its \
                     allocation descriptors describe"
                )));
            }
            Data::Extents(extents)
        };
        let file_type = b[16 + 11];
        let rdev = if matches!(file_type, file_type::BLOCK_DEVICE | file_type::CHAR_DEVICE) {
            device_spec(ea)
        } else {
            None
        };
        Ok(FileEntry {
            location,
            file_type,
            icb_flags,
            uid: le32(b, 36),
            gid: le32(b, 40),
            permissions: le32(b, 44),
            link_count: le16(b, 48),
            info_len,
            atime: timestamp(&b[times[0]..times[0] + 12]),
            mtime: timestamp(&b[times[1]..times[1] + 12]),
            ctime: timestamp(&b[times[2]..times[2] + 12]),
            btime: (times[3] != 0)
                .then(|| timestamp(&b[times[3]..times[3] + 12]))
                .flatten(),
            rdev,
            data,
        })
    }
}

/// The major and minor numbers of a device specification extended attribute (type 12),
/// found after the extended attribute header descriptor (4/14.10.1).
fn device_spec(ea: &[u8]) -> Option<(u32, u32)> {
    if ea.len() < 24 || le16(ea, 0) != id::EA_HEADER {
        return None;
    }
    let mut at = 24;
    while at + 12 <= ea.len() {
        let (kind, len) = (le32(ea, at), le32(ea, at + 8) as usize);
        if len < 12 || at + len > ea.len() {
            return None;
        }
        if kind == 12 && len >= 24 {
            return Some((le32(ea, at + 16), le32(ea, at + 20)));
        }
        at += len;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_specification() {
        let mut ea = vec![0u8; 24 + 24];
        ea[0..2].copy_from_slice(&id::EA_HEADER.to_le_bytes());
        ea[24..28].copy_from_slice(&12u32.to_le_bytes());
        ea[32..36].copy_from_slice(&24u32.to_le_bytes());
        ea[40..44].copy_from_slice(&8u32.to_le_bytes());
        ea[44..48].copy_from_slice(&3u32.to_le_bytes());
        assert_eq!(device_spec(&ea), Some((8, 3)));
        ea[32..36].copy_from_slice(&2000u32.to_le_bytes());
        assert_eq!(device_spec(&ea), None);
    }
}
