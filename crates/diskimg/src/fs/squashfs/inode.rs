//! Inodes of the inode table: the common header and each type's fields.

use super::FORMAT;
use super::meta::Cursor;
use crate::error::{Error, Result};
use crate::fs::FileType;

/// A file's tail is not in a fragment.
pub(crate) const NO_FRAGMENT: u32 = 0xFFFF_FFFF;
/// Most data blocks of one file (a 64 MiB block list).
pub const MAX_FILE_BLOCKS: u64 = 16 << 20;
/// Longest symbolic link target.
pub const MAX_LINK_LEN: u32 = 65536;

/// What a type of inode holds.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Dir {
        /// Directory table block (relative to the table) and offset of the listing.
        block: u32,
        offset: u16,
        /// Listing size + 3, as squashfs stores it.
        size: u32,
    },
    File(FileInode),
    Symlink(Vec<u8>),
    Device {
        block: bool,
        number: u32,
    },
    Fifo,
    Socket,
}

/// A regular file's data layout.
#[derive(Debug, Clone)]
pub(crate) struct FileInode {
    pub blocks_start: u64,
    pub size: u64,
    pub fragment: u32,
    pub fragment_offset: u32,
    /// Stored size of each full block (bit 24: stored uncompressed; 0: a sparse block).
    pub block_sizes: Vec<u32>,
}

/// An inode.
#[derive(Debug, Clone)]
pub(crate) struct Inode {
    pub mode: u16,
    pub uid_index: u16,
    pub gid_index: u16,
    pub mtime: u32,
    pub number: u32,
    pub nlink: u32,
    pub kind: Kind,
}

impl Inode {
    pub fn file_type(&self) -> FileType {
        match &self.kind {
            Kind::Dir { .. } => FileType::Directory,
            Kind::File(_) => FileType::File,
            Kind::Symlink(_) => FileType::Symlink,
            Kind::Device { block: true, .. } => FileType::BlockDevice,
            Kind::Device { block: false, .. } => FileType::CharDevice,
            Kind::Fifo => FileType::Fifo,
            Kind::Socket => FileType::Socket,
        }
    }

    pub fn size(&self) -> u64 {
        match &self.kind {
            Kind::Dir { size, .. } => u64::from(*size),
            Kind::File(f) => f.size,
            Kind::Symlink(t) => t.len() as u64,
            _ => 0,
        }
    }

    /// Major and minor numbers (Linux's encoding of a 32-bit device number).
    pub fn rdev(&self) -> Option<(u32, u32)> {
        match self.kind {
            Kind::Device { number, .. } => Some((
                (number >> 8) & 0xFFF,
                (number & 0xFF) | ((number >> 12) & 0xFFF00),
            )),
            _ => None,
        }
    }
}

/// Reads the inode at the cursor. `block_size` sizes the block list of files.
pub(crate) fn read(c: &mut Cursor<'_>, block_size: u32, at: u64) -> Result<Inode> {
    let kind_id = c.u16()?;
    let mode = c.u16()?;
    let uid_index = c.u16()?;
    let gid_index = c.u16()?;
    let mtime = c.u32()?;
    let number = c.u32()?;
    let bad = |msg: String| Error::corrupt(FORMAT, "inode", at, msg);
    let (nlink, kind) = match kind_id {
        1 => {
            let block = c.u32()?;
            let nlink = c.u32()?;
            let size = u32::from(c.u16()?);
            let offset = c.u16()?;
            let _parent = c.u32()?;
            (
                nlink,
                Kind::Dir {
                    block,
                    offset,
                    size,
                },
            )
        }
        8 => {
            let nlink = c.u32()?;
            let size = c.u32()?;
            let block = c.u32()?;
            let _parent = c.u32()?;
            let _index_count = c.u16()?;
            let offset = c.u16()?;
            let _xattr = c.u32()?;
            (
                nlink,
                Kind::Dir {
                    block,
                    offset,
                    size,
                },
            )
        }
        2 | 9 => {
            let (blocks_start, size, fragment, fragment_offset, nlink) = if kind_id == 2 {
                let start = u64::from(c.u32()?);
                let frag = c.u32()?;
                let off = c.u32()?;
                let size = u64::from(c.u32()?);
                (start, size, frag, off, 1)
            } else {
                let start = c.u64()?;
                let size = c.u64()?;
                let _sparse = c.u64()?;
                let nlink = c.u32()?;
                let frag = c.u32()?;
                let off = c.u32()?;
                let _xattr = c.u32()?;
                (start, size, frag, off, nlink)
            };
            let bs = u64::from(block_size);
            let count = if fragment == NO_FRAGMENT {
                size.div_ceil(bs)
            } else {
                size / bs
            };
            if count > MAX_FILE_BLOCKS {
                return Err(Error::limit(
                    FORMAT,
                    "inode",
                    at,
                    format!("file of {size} bytes has {count} blocks"),
                ));
            }
            // Read the list in pieces: its length is checked by the table running out,
            // never by an allocation sized from the inode.
            let mut block_sizes = Vec::new();
            let mut chunk = [0u8; 4096];
            let mut left = count as usize * 4;
            while left > 0 {
                let n = left.min(chunk.len());
                c.read(&mut chunk[..n])?;
                block_sizes.extend(
                    chunk[..n]
                        .chunks_exact(4)
                        .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes"))),
                );
                left -= n;
            }
            (
                nlink,
                Kind::File(FileInode {
                    blocks_start,
                    size,
                    fragment,
                    fragment_offset,
                    block_sizes,
                }),
            )
        }
        3 | 10 => {
            let nlink = c.u32()?;
            let len = c.u32()?;
            if len > MAX_LINK_LEN {
                return Err(bad(format!("symbolic link target of {len} bytes")));
            }
            let mut target = vec![0u8; len as usize];
            c.read(&mut target)?;
            (nlink, Kind::Symlink(target))
        }
        4 | 5 | 11 | 12 => {
            let nlink = c.u32()?;
            let number = c.u32()?;
            (
                nlink,
                Kind::Device {
                    block: kind_id == 4 || kind_id == 11,
                    number,
                },
            )
        }
        6 | 13 => (c.u32()?, Kind::Fifo),
        7 | 14 => (c.u32()?, Kind::Socket),
        t => return Err(bad(format!("inode type {t}"))),
    };
    Ok(Inode {
        mode,
        uid_index,
        gid_index,
        mtime,
        number,
        nlink,
        kind,
    })
}
