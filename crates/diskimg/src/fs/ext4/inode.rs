//! Inodes: reading one by number (checksum checked), its type, size, owner, times, device
//! numbers, and the in-inode extended attribute that holds inline data.

use super::superblock::{Superblock, ro_compat};
use super::{FORMAT, csum, group};
use crate::error::{Error, Result};
use crate::fs::FileType;
use crate::io::ReadAt;
use crate::time::Timestamp;

/// Inode flags (`i_flags`).
pub(crate) mod flags {
    pub const ENCRYPT: u32 = 0x800;
    pub const HUGE_FILE: u32 = 0x40000;
    pub const EXTENTS: u32 = 0x80000;
    pub const EA_INODE: u32 = 0x20_0000;
    pub const INLINE_DATA: u32 = 0x1000_0000;
}

/// Size of `i_block`: block pointers, an extent tree root, or inline bytes.
pub(crate) const I_BLOCK_LEN: usize = 60;

/// One inode, as read from its table.
#[derive(Debug, Clone)]
pub(crate) struct Inode {
    pub ino: u32,
    /// Where the inode lies on the device.
    pub offset: u64,
    pub mode: u16,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub links: u16,
    pub flags: u32,
    /// 512-byte units, or blocks with the HUGE_FILE flag.
    pub blocks: u64,
    pub file_acl: u64,
    pub i_block: [u8; I_BLOCK_LEN],
    pub atime: Option<Timestamp>,
    pub ctime: Option<Timestamp>,
    pub mtime: Option<Timestamp>,
    pub crtime: Option<Timestamp>,
    /// The in-inode extended attribute area (after `i_extra_isize`), possibly empty.
    pub xattrs: Vec<u8>,
    /// Seed of the checksums of this inode's extent and directory blocks.
    pub csum_seed: Option<u32>,
}

fn u16le(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// A time from its 32-bit seconds and, when the inode has room, its extra field (two epoch
/// bits above bit 31, then nanoseconds).
fn time(b: &[u8], at: usize, extra_at: Option<usize>) -> Option<Timestamp> {
    let mut secs = i64::from(u32le(b, at) as i32);
    let mut nanos = 0;
    if let Some(x) = extra_at {
        let extra = u32le(b, x);
        secs += i64::from(extra & 3) << 32;
        nanos = (extra >> 2).min(999_999_999);
    }
    Some(Timestamp { secs, nanos })
}

/// Reads inode `ino`.
pub(crate) fn read(dev: &dyn ReadAt, sb: &Superblock, ino: u32) -> Result<Inode> {
    if ino == 0 || ino > sb.inodes_count {
        return Err(Error::corrupt(
            FORMAT,
            "inode",
            0,
            format!("inode number {ino} is outside 1..={}", sb.inodes_count),
        ));
    }
    let group = u64::from(ino - 1) / u64::from(sb.inodes_per_group);
    let index = u64::from(ino - 1) % u64::from(sb.inodes_per_group);
    let table = group::inode_table(dev, sb, group)?;
    let offset = table * sb.block_size + index * u64::from(sb.inode_size);
    let mut b = vec![0u8; sb.inode_size as usize];
    dev.read_exact_at(offset, &mut b)
        .map_err(|e| e.with_format(FORMAT).with_structure("inode"))?;
    let large = b.len() > 128;
    let extra_isize = if large {
        usize::from(u16le(&b, 0x80))
    } else {
        0
    };
    if large && (128 + extra_isize > b.len() || extra_isize % 4 != 0) {
        return Err(Error::corrupt(
            FORMAT,
            "inode",
            offset,
            format!("i_extra_isize {extra_isize} of inode {ino}"),
        ));
    }
    let generation = u32le(&b, 0x64);
    let csum_seed = sb.csum_seed.map(|seed| {
        let c = csum::update(seed, &ino.to_le_bytes());
        csum::update(c, &generation.to_le_bytes())
    });
    if let Some(seed) = csum_seed {
        verify(&b, extra_isize, seed, ino, offset)?;
    }
    // An extra field counts only when i_extra_isize covers it.
    let has = |end: usize| (large && 128 + extra_isize >= end).then_some(end - 4);
    let huge = sb.has_ro_compat(ro_compat::HUGE_FILE);
    let blocks = u64::from(u32le(&b, 0x1C))
        | if huge {
            u64::from(u16le(&b, 0x74)) << 32
        } else {
            0
        };
    let size = u64::from(u32le(&b, 0x4)) | u64::from(u32le(&b, 0x6C)) << 32;
    Ok(Inode {
        ino,
        offset,
        mode: u16le(&b, 0x0),
        uid: u32::from(u16le(&b, 0x2)) | u32::from(u16le(&b, 0x78)) << 16,
        gid: u32::from(u16le(&b, 0x18)) | u32::from(u16le(&b, 0x7A)) << 16,
        size,
        links: u16le(&b, 0x1A),
        flags: u32le(&b, 0x20),
        blocks,
        file_acl: u64::from(u32le(&b, 0x68)) | u64::from(u16le(&b, 0x76)) << 32,
        i_block: b[0x28..0x28 + I_BLOCK_LEN].try_into().expect("60 bytes"),
        ctime: time(&b, 0xC, has(0x88)),
        mtime: time(&b, 0x10, has(0x8C)),
        atime: time(&b, 0x8, has(0x90)),
        crtime: has(0x94).and_then(|at| time(&b, at, has(0x98))),
        xattrs: if large {
            b[128 + extra_isize..].to_vec()
        } else {
            Vec::new()
        },
        csum_seed,
    })
}

fn verify(b: &[u8], extra_isize: usize, seed: u32, ino: u32, offset: u64) -> Result<()> {
    let has_hi = b.len() > 128 && extra_isize >= 4;
    let mut c = csum::update(seed, &b[..0x7C]);
    c = csum::update(c, &[0, 0]);
    c = csum::update(c, &b[0x7E..0x80]);
    let stored = if b.len() > 128 {
        if has_hi {
            c = csum::update(c, &b[0x80..0x82]);
            c = csum::update(c, &[0, 0]);
            c = csum::update(c, &b[0x84..]);
        } else {
            c = csum::update(c, &b[0x80..]);
        }
        u32::from(u16le(b, 0x7C))
            | if has_hi {
                u32::from(u16le(b, 0x82)) << 16
            } else {
                0
            }
    } else {
        u32::from(u16le(b, 0x7C))
    };
    let computed = if has_hi { c } else { c & 0xFFFF };
    if stored != computed {
        return Err(Error::corrupt(
            FORMAT,
            "inode",
            offset,
            format!("checksum of inode {ino} does not match its contents"),
        ));
    }
    Ok(())
}

impl Inode {
    pub fn file_type(&self) -> Option<FileType> {
        FileType::from_mode(u32::from(self.mode))
    }

    pub fn has_flag(&self, f: u32) -> bool {
        self.flags & f != 0
    }

    /// Major and minor numbers of a device node: the old 16-bit encoding in the first
    /// pointer, else the new 32-bit one in the second.
    pub fn rdev(&self) -> (u32, u32) {
        let b0 = u32le(&self.i_block, 0);
        if b0 != 0 {
            ((b0 >> 8) & 0xFF, b0 & 0xFF)
        } else {
            let b1 = u32le(&self.i_block, 4);
            ((b1 & 0xFFF00) >> 8, (b1 & 0xFF) | ((b1 >> 12) & 0xFFF00))
        }
    }

    /// Whether a symbolic link keeps its target in `i_block` (no data blocks of its own).
    pub fn is_fast_symlink(&self, sb: &Superblock) -> bool {
        if self.has_flag(flags::INLINE_DATA) {
            return false;
        }
        if self.has_flag(flags::EA_INODE) {
            return self.size > 0 && self.size < I_BLOCK_LEN as u64;
        }
        let units_per_block = if self.has_flag(flags::HUGE_FILE) {
            1
        } else {
            sb.block_size / 512
        };
        let ea_blocks = if self.file_acl != 0 {
            units_per_block
        } else {
            0
        };
        self.blocks.saturating_sub(ea_blocks) == 0 && self.size < I_BLOCK_LEN as u64
    }

    /// The value of the `system.data` attribute in the inode (where inline data continues past
    /// `i_block`), or `None` when there is none.
    pub fn inline_xattr(&self) -> Result<Option<&[u8]>> {
        let x = &self.xattrs;
        if x.len() < 4 || u32le(x, 0) != 0xEA02_0000 {
            return Ok(None);
        }
        let entries = &x[4..];
        let mut at = 0usize;
        while at + 16 <= entries.len() {
            let e = &entries[at..];
            let name_len = usize::from(e[0]);
            let index = e[1];
            if name_len == 0 && index == 0 && u16le(e, 2) == 0 && u32le(e, 4) == 0 {
                break;
            }
            let value_offs = usize::from(u16le(e, 2));
            let value_inum = u32le(e, 4);
            let value_size = u32le(e, 8) as usize;
            let name = entries
                .get(at + 16..at + 16 + name_len)
                .ok_or_else(|| self.xattr_error())?;
            if index == 7 && name == b"data" {
                if value_inum != 0 {
                    return Err(self.xattr_error());
                }
                return entries
                    .get(value_offs..value_offs + value_size)
                    .map(Some)
                    .ok_or_else(|| self.xattr_error());
            }
            at += (16 + name_len).div_ceil(4) * 4;
        }
        Ok(None)
    }

    fn xattr_error(&self) -> Error {
        Error::corrupt(
            FORMAT,
            "inode extended attributes",
            self.offset,
            format!("the attributes of inode {} run past the inode", self.ino),
        )
    }

    /// The inline data of an inode with the INLINE_DATA flag: `i_block` then `system.data`,
    /// cut at the inode's size. A file may be longer than what is stored inline (mke2fs
    /// writes a file of zeros that way); the kernel reads the rest as zeros, and so do we.
    pub fn inline_data(&self) -> Result<Vec<u8>> {
        let extra = self.inline_xattr()?.unwrap_or(&[]);
        let mut data = Vec::with_capacity(I_BLOCK_LEN + extra.len());
        data.extend_from_slice(&self.i_block);
        data.extend_from_slice(extra);
        data.truncate(usize::try_from(self.size).unwrap_or(usize::MAX));
        Ok(data)
    }
}
