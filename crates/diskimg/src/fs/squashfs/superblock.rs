//! The squashfs 4.0 superblock, checked against the device before anything is read.

use super::FORMAT;
use super::codec::Codec;
use crate::error::{Error, Result};

/// "hsqs": squashfs 4.0, little-endian.
pub(crate) const MAGIC: &[u8; 4] = b"hsqs";
/// Table offsets that are not set.
pub(crate) const NOT_SET: u64 = u64::MAX;

/// The superblock fields this reader uses.
#[derive(Debug, Clone)]
pub(crate) struct Superblock {
    pub inode_count: u32,
    pub mod_time: u32,
    pub block_size: u32,
    pub fragment_count: u32,
    pub codec: Codec,
    pub id_count: u16,
    pub root_inode: u64,
    pub bytes_used: u64,
    pub id_table: u64,
    pub xattr_table: u64,
    pub inode_table: u64,
    pub dir_table: u64,
    pub fragment_table: u64,
    pub export_table: u64,
}

fn u16le(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn u64le(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

impl Superblock {
    /// Parses the first 96 bytes of a device of `dev_size` bytes.
    pub fn parse(b: &[u8], dev_size: u64) -> Result<Self> {
        let bad = |msg: String| Error::corrupt(FORMAT, "superblock", 0, msg);
        if b.len() < 96 || &b[..4] != MAGIC {
            return Err(bad("no squashfs magic".into()));
        }
        let (major, minor) = (u16le(b, 28), u16le(b, 30));
        if (major, minor) != (4, 0) {
            return Err(Error::unsupported(
                FORMAT,
                format!("squashfs version {major}.{minor} (only 4.0 is read)"),
            ));
        }
        let block_size = u32le(b, 12);
        if !(4096..=1 << 20).contains(&block_size)
            || !block_size.is_power_of_two()
            || u32::from(u16le(b, 22)) != block_size.trailing_zeros()
        {
            return Err(bad(format!(
                "block size {block_size} with block_log {}",
                u16le(b, 22)
            )));
        }
        let compression = u16le(b, 20);
        let codec = Codec::from_id(compression)
            .ok_or_else(|| Error::unsupported(FORMAT, format!("compression id {compression}")))?;
        let sb = Superblock {
            inode_count: u32le(b, 4),
            mod_time: u32le(b, 8),
            block_size,
            fragment_count: u32le(b, 16),
            codec,
            id_count: u16le(b, 26),
            root_inode: u64le(b, 32),
            bytes_used: u64le(b, 40),
            id_table: u64le(b, 48),
            xattr_table: u64le(b, 56),
            inode_table: u64le(b, 64),
            dir_table: u64le(b, 72),
            fragment_table: u64le(b, 80),
            export_table: u64le(b, 88),
        };
        if sb.bytes_used > dev_size {
            return Err(bad(format!(
                "{} bytes used but the device holds {dev_size}",
                sb.bytes_used
            )));
        }
        if !(96 <= sb.inode_table && sb.inode_table < sb.dir_table && sb.dir_table < sb.bytes_used)
        {
            return Err(bad(format!(
                "inode table at {} and directory table at {} are not in order inside {} bytes",
                sb.inode_table, sb.dir_table, sb.bytes_used
            )));
        }
        for (name, t) in [
            ("id", sb.id_table),
            ("fragment", sb.fragment_table),
            ("export", sb.export_table),
            ("xattr", sb.xattr_table),
        ] {
            if t != NOT_SET && (t < sb.dir_table || t >= sb.bytes_used) {
                return Err(bad(format!("{name} table at {t} lies outside the tables")));
            }
        }
        if sb.id_count == 0 || sb.id_table == NOT_SET {
            return Err(bad("no id table".into()));
        }
        if sb.root_inode >> 16 >= sb.dir_table - sb.inode_table {
            return Err(bad("root inode outside the inode table".into()));
        }
        Ok(sb)
    }
}
