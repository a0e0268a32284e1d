//! File-system records ("Apple File System Reference", File-System Objects): keys of the
//! file-system tree (`j_key_t`: object id and record type), inodes with their extended fields,
//! directory records, file extents, extended attributes.

use super::FORMAT;
use super::object::{le16, le32, le64};
use crate::error::{Error, Result};
use crate::time::Timestamp;
use std::cmp::Ordering;

/// `OBJ_ID_MASK`.
const OBJ_ID_MASK: u64 = 0x0FFF_FFFF_FFFF_FFFF;
/// `OBJ_TYPE_SHIFT`.
const OBJ_TYPE_SHIFT: u32 = 60;
/// `APFS_TYPE_INODE`.
pub const TYPE_INODE: u8 = 3;
/// `APFS_TYPE_XATTR`.
pub const TYPE_XATTR: u8 = 4;
/// `APFS_TYPE_FILE_EXTENT`.
pub const TYPE_FILE_EXTENT: u8 = 8;
/// `APFS_TYPE_DIR_REC`.
pub const TYPE_DIR_REC: u8 = 9;
/// `INO_EXT_TYPE_NAME`.
const INO_EXT_TYPE_NAME: u8 = 4;
/// `INO_EXT_TYPE_DSTREAM`.
const INO_EXT_TYPE_DSTREAM: u8 = 8;
/// `INO_EXT_TYPE_SPARSE_BYTES`.
const INO_EXT_TYPE_SPARSE_BYTES: u8 = 13;
/// `INO_EXT_TYPE_RDEV`.
const INO_EXT_TYPE_RDEV: u8 = 14;
/// `XATTR_DATA_STREAM`.
const XATTR_DATA_STREAM: u16 = 0x1;
/// `J_FILE_EXTENT_LEN_MASK`.
const J_FILE_EXTENT_LEN_MASK: u64 = 0x00FF_FFFF_FFFF_FFFF;
/// `J_DREC_LEN_MASK`.
const J_DREC_LEN_MASK: u32 = 0x3FF;
/// `DREC_TYPE_MASK`.
const DREC_TYPE_MASK: u16 = 0x000F;

/// The object id and record type of a key.
pub fn key_header(k: &[u8]) -> Option<(u64, u8)> {
    let v = le64(k, 0)?;
    Some((v & OBJ_ID_MASK, (v >> OBJ_TYPE_SHIFT) as u8))
}

/// Orders a key against the records of type `kind` of object `id` (`Equal`: one of them).
pub fn cmp_records(k: &[u8], id: u64, kind: u8) -> Ordering {
    key_header(k).map_or(Ordering::Less, |h| h.cmp(&(id, kind)))
}

/// A timestamp in nanoseconds since 1970 (`0`: not set).
pub fn apfs_time(ns: u64) -> Option<Timestamp> {
    (ns != 0).then_some(Timestamp {
        secs: (ns / 1_000_000_000) as i64,
        nanos: (ns % 1_000_000_000) as u32,
    })
}

/// `j_dstream_t`: the size of a data stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dstream {
    /// `size`: logical length in bytes.
    pub size: u64,
    /// `alloced_size`.
    pub alloced_size: u64,
}

impl Dstream {
    fn parse(b: &[u8]) -> Option<Self> {
        Some(Dstream {
            size: le64(b, 0)?,
            alloced_size: le64(b, 8)?,
        })
    }
}

/// `j_inode_val_t` and the extended fields used here.
#[derive(Debug, Clone, Default)]
pub struct Inode {
    /// `private_id`: the id of the data stream's extents.
    pub private_id: u64,
    /// `create_time`, `mod_time`, `change_time`, `access_time`.
    pub times: [u64; 4],
    /// `internal_flags`.
    pub internal_flags: u64,
    /// `nchildren` (directories) or `nlink` (others).
    pub nchildren_or_nlink: i32,
    /// `bsd_flags`.
    pub bsd_flags: u32,
    /// `owner`.
    pub owner: u32,
    /// `group`.
    pub group: u32,
    /// `mode`.
    pub mode: u16,
    /// `INO_EXT_TYPE_DSTREAM`.
    pub dstream: Option<Dstream>,
    /// `INO_EXT_TYPE_NAME`.
    pub name: Option<String>,
    /// `INO_EXT_TYPE_RDEV`.
    pub rdev: Option<u32>,
    /// `INO_EXT_TYPE_SPARSE_BYTES`.
    pub sparse_bytes: Option<u64>,
}

impl Inode {
    /// Parses an inode value; `at` names it in errors.
    pub fn parse(v: &[u8], at: u64) -> Result<Self> {
        if v.len() < 92 {
            return Err(Error::corrupt(
                FORMAT,
                "inode record",
                at,
                "shorter than j_inode_val_t",
            ));
        }
        let f64 = |o| le64(v, o).unwrap_or(0);
        let f32 = |o| le32(v, o).unwrap_or(0);
        let mut ino = Inode {
            private_id: f64(8),
            times: [f64(16), f64(24), f64(32), f64(40)],
            internal_flags: f64(48),
            nchildren_or_nlink: f32(56) as i32,
            bsd_flags: f32(68),
            owner: f32(72),
            group: f32(76),
            mode: le16(v, 80).unwrap_or(0),
            ..Inode::default()
        };
        for (kind, data) in xfields(&v[92..], at)? {
            match kind {
                INO_EXT_TYPE_NAME => ino.name = Some(c_string(data)),
                INO_EXT_TYPE_DSTREAM => ino.dstream = Dstream::parse(data),
                INO_EXT_TYPE_RDEV => ino.rdev = le32(data, 0),
                INO_EXT_TYPE_SPARSE_BYTES => ino.sparse_bytes = le64(data, 0),
                _ => {}
            }
        }
        Ok(ino)
    }

    /// Logical size of the data stream (0 without one).
    pub fn size(&self) -> u64 {
        self.dstream.map_or(0, |d| d.size)
    }
}

/// The extended fields of a blob (`xf_blob_t`): `(x_type, data)`, each value 8-byte aligned.
fn xfields(b: &[u8], at: u64) -> Result<Vec<(u8, &[u8])>> {
    if b.len() < 4 {
        return Ok(Vec::new());
    }
    let bad = |msg: &str| Error::corrupt(FORMAT, "extended fields", at, msg.to_owned());
    let n = usize::from(le16(b, 0).unwrap_or(0));
    let mut data = 4 + n * 4;
    if data > b.len() {
        return Err(bad("field table runs past the record"));
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let e = 4 + i * 4;
        let kind = b[e];
        let size = usize::from(le16(b, e + 2).unwrap_or(0));
        let v = b
            .get(data..data + size)
            .ok_or_else(|| bad("field value runs past the record"))?;
        out.push((kind, v));
        data += size.div_ceil(8) * 8;
    }
    Ok(out)
}

/// Bytes up to the first NUL, as text (invalid UTF-8 replaced).
fn c_string(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// A directory record: name, the inode it names, its type (`DT_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirRecord {
    /// The entry's name.
    pub name: String,
    /// `file_id`.
    pub file_id: u64,
    /// `flags & DREC_TYPE_MASK`.
    pub dtype: u16,
}

impl DirRecord {
    /// Parses a directory record's key and value (`hashed`: `j_drec_hashed_key_t`).
    pub fn parse(k: &[u8], v: &[u8], hashed: bool, at: u64) -> Result<Self> {
        let bad = |msg: &str| Error::corrupt(FORMAT, "directory record", at, msg.to_owned());
        let name = if hashed {
            let len = (le32(k, 8).ok_or_else(|| bad("key cut short"))? & J_DREC_LEN_MASK) as usize;
            k.get(12..12 + len)
        } else {
            let len = usize::from(le16(k, 8).ok_or_else(|| bad("key cut short"))?);
            k.get(10..10 + len)
        }
        .ok_or_else(|| bad("name runs past the key"))?;
        Ok(DirRecord {
            name: c_string(name),
            file_id: le64(v, 0).ok_or_else(|| bad("value cut short"))?,
            dtype: le16(v, 16).ok_or_else(|| bad("value cut short"))? & DREC_TYPE_MASK,
        })
    }
}

/// A file extent: `len` bytes at `logical` in the file, from block `phys` (0: a hole).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileExtentRec {
    /// `logical_addr`.
    pub logical: u64,
    /// `len_and_flags & J_FILE_EXTENT_LEN_MASK`.
    pub len: u64,
    /// `phys_block_num`.
    pub phys: u64,
}

impl FileExtentRec {
    /// Parses a file extent: `logical` from the key, length and block from `v`
    /// (`j_file_extent_val_t` and `fext_tree_val_t` start alike).
    pub fn parse(logical: u64, v: &[u8], at: u64) -> Result<Self> {
        let bad = || Error::corrupt(FORMAT, "file extent", at, "value cut short");
        Ok(FileExtentRec {
            logical,
            len: le64(v, 0).ok_or_else(bad)? & J_FILE_EXTENT_LEN_MASK,
            phys: le64(v, 8).ok_or_else(bad)?,
        })
    }
}

/// Where an extended attribute's value is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XattrData {
    /// In the record.
    Embedded(Vec<u8>),
    /// In a data stream: extents under `id`, `size` bytes.
    Stream {
        /// `xattr_obj_id`.
        id: u64,
        /// The stream's size.
        size: u64,
    },
}

/// An extended attribute record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Xattr {
    /// The name.
    pub name: String,
    /// The value's place.
    pub data: XattrData,
}

impl Xattr {
    /// Parses an extended attribute's key and value.
    pub fn parse(k: &[u8], v: &[u8], at: u64) -> Result<Self> {
        let bad = |msg: &str| Error::corrupt(FORMAT, "extended attribute", at, msg.to_owned());
        let len = usize::from(le16(k, 8).ok_or_else(|| bad("key cut short"))?);
        let name = c_string(
            k.get(10..10 + len)
                .ok_or_else(|| bad("name runs past the key"))?,
        );
        let flags = le16(v, 0).ok_or_else(|| bad("value cut short"))?;
        let xlen = usize::from(le16(v, 2).ok_or_else(|| bad("value cut short"))?);
        let x = v
            .get(4..4 + xlen)
            .ok_or_else(|| bad("data runs past the value"))?;
        let data = if flags & XATTR_DATA_STREAM != 0 {
            let id = le64(x, 0).ok_or_else(|| bad("stream cut short"))?;
            let ds =
                Dstream::parse(x.get(8..).unwrap_or(&[])).ok_or_else(|| bad("stream cut short"))?;
            XattrData::Stream { id, size: ds.size }
        } else {
            XattrData::Embedded(x.to_vec())
        };
        Ok(Xattr { name, data })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: u64, kind: u8) -> Vec<u8> {
        (id | (u64::from(kind) << 60)).to_le_bytes().to_vec()
    }

    #[test]
    fn inode_with_name_and_dstream_xfields() {
        let mut v = vec![0u8; 92];
        v[8..16].copy_from_slice(&77u64.to_le_bytes());
        v[56..60].copy_from_slice(&2i32.to_le_bytes());
        v[80..82].copy_from_slice(&0o100644u16.to_le_bytes());
        // Two fields: a 6-byte name (padded to 8) and a 40-byte dstream.
        v.extend(2u16.to_le_bytes());
        v.extend(48u16.to_le_bytes());
        v.extend([INO_EXT_TYPE_NAME, 0, 6, 0, INO_EXT_TYPE_DSTREAM, 0, 40, 0]);
        v.extend(b"hello\0\0\0");
        let mut ds = vec![0u8; 40];
        ds[0..8].copy_from_slice(&12345u64.to_le_bytes());
        v.extend(ds);
        let ino = Inode::parse(&v, 0).unwrap();
        assert_eq!(ino.private_id, 77);
        assert_eq!(ino.name.as_deref(), Some("hello"));
        assert_eq!(ino.size(), 12345);
        assert_eq!(ino.nchildren_or_nlink, 2);
        // A field table claiming more fields than the record holds is an error.
        let mut short = v[..92].to_vec();
        short.extend(200u16.to_le_bytes());
        short.extend(0u16.to_le_bytes());
        assert!(Inode::parse(&short, 0).is_err());
    }

    #[test]
    fn directory_records_hashed_and_plain() {
        let mut k = key(2, TYPE_DIR_REC);
        k.extend(((0xABCDu32 << 10) | 4).to_le_bytes());
        k.extend(b"abc\0");
        let mut v = 42u64.to_le_bytes().to_vec();
        v.extend(0u64.to_le_bytes());
        v.extend(8u16.to_le_bytes());
        let d = DirRecord::parse(&k, &v, true, 0).unwrap();
        assert_eq!((d.name.as_str(), d.file_id, d.dtype), ("abc", 42, 8));
        let mut k = key(2, TYPE_DIR_REC);
        k.extend(4u16.to_le_bytes());
        k.extend(b"xyz\0");
        assert_eq!(DirRecord::parse(&k, &v, false, 0).unwrap().name, "xyz");
        k[8] = 200;
        assert!(DirRecord::parse(&k, &v, false, 0).is_err());
        assert_eq!(
            cmp_records(&key(2, TYPE_DIR_REC), 2, TYPE_DIR_REC),
            Ordering::Equal
        );
        assert_eq!(
            cmp_records(&key(2, TYPE_INODE), 2, TYPE_DIR_REC),
            Ordering::Less
        );
        assert_eq!(
            cmp_records(&key(3, TYPE_INODE), 2, TYPE_DIR_REC),
            Ordering::Greater
        );
    }

    #[test]
    fn xattrs_embedded_and_stream() {
        let mut k = key(5, TYPE_XATTR);
        k.extend(6u16.to_le_bytes());
        k.extend(b"hello\0");
        let mut v = 2u16.to_le_bytes().to_vec();
        v.extend(3u16.to_le_bytes());
        v.extend(b"abc");
        let x = Xattr::parse(&k, &v, 0).unwrap();
        assert_eq!(x.data, XattrData::Embedded(b"abc".to_vec()));
        let mut v = 1u16.to_le_bytes().to_vec();
        v.extend(48u16.to_le_bytes());
        v.extend(99u64.to_le_bytes());
        v.extend(1000u64.to_le_bytes());
        v.extend([0u8; 32]);
        let x = Xattr::parse(&k, &v, 0).unwrap();
        assert_eq!(x.data, XattrData::Stream { id: 99, size: 1000 });
    }
}
