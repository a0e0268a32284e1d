//! squashfs 4.0, read-only (the format as squashfs-tools and the Linux kernel write and read
//! it; Phillip Lougher's layout notes and the kernel's `fs/squashfs/squashfs_fs.h`).
//!
//! Supported: every codec mksquashfs writes — gzip, lzma, lzo, xz, lz4, zstd (see [`codec`];
//! each block is bounded by the block size); 4 KiB-1 MiB blocks; basic and extended inodes of
//! every type (files, directories, symbolic links, block and character devices, FIFOs,
//! sockets); hard links (inode numbers and link counts); fragments (tails packed with
//! others); sparse blocks; uncompressed metadata and data; owners from the id table.
//! Extended attributes are ignored; the export table is not needed. Not supported:
//! squashfs 1.x-3.x and big-endian volumes (detected, not read).
//!
//! Our own reader rather than the `backhand` crate (0.25.5): backhand decompresses the whole
//! inode and directory tables at open and builds an in-memory tree of every path (memory grows
//! with the volume), parses each file's block list with an allocation sized by the inode's
//! claimed file size before checking it (up to 2 GiB from one hostile inode), keeps every
//! fragment it decompresses in an unbounded cache, and serialises reads behind one mutex.
//! Here nothing is read at open but the superblock and the id table: inodes and directories
//! are read when asked for, through a bounded cache of metadata blocks; a positioned read
//! decompresses only the blocks it touches (a small cache of decompressed blocks serves
//! sequential reads), and files stored uncompressed get `file_extents` for direct copies.
//!
//! A node id is the inode reference squashfs itself uses: the inode's metadata block (from
//! the start of the inode table) shifted left 16 bits, plus its offset in that block.

mod codec;
mod inode;
mod lzo;
mod meta;
mod superblock;

use self::inode::{FileInode, Inode, Kind, NO_FRAGMENT};
use self::meta::{Cursor, METADATA_SIZE, MetaReader};
use self::superblock::{MAGIC, NOT_SET, Superblock};
use crate::device::DeviceRef;
use crate::error::{Error, Result};
use crate::format::{Confidence, FormatDescriptor, Opener, ProbeInput};
use crate::fs::{
    DirEntry, FileExtent, FileSystem, FileType, FsEntry, FsVolume, Metadata, NodeId, Usage,
};
use crate::io::ReadAt;
use crate::time::Timestamp;
use serde_json::json;
use std::sync::{Arc, Mutex};

/// Format name used in errors.
pub const FORMAT: &str = "squashfs";
/// Largest directory listing read.
pub const MAX_DIR_SIZE: u64 = 64 * 1024 * 1024;
/// Most ids (owners and groups).
const MAX_IDS: usize = 65536;
/// Decompressed data blocks kept (each at most 1 MiB).
const DATA_CACHE_BLOCKS: usize = 16;
/// Files whose block offsets are kept.
const LAYOUT_CACHE: usize = 16;
/// A block stored uncompressed.
const UNCOMPRESSED: u32 = 1 << 24;

/// The registry entry.
pub static DESCRIPTOR: FormatDescriptor = FormatDescriptor {
    create: None,
    check: None,
    name: FORMAT,
    description: "squashfs compressed read-only file system",
    extensions: &["squashfs", "sqfs", "sfs", "snap"],
    probe,
    opener: Opener::FileSystem(|dev| open_volume(dev.clone())),
};

fn probe(p: &ProbeInput<'_>) -> Confidence {
    match p.head.get(..4) {
        Some(m) if m == MAGIC => Confidence::CERTAIN,
        Some(b"sqsh") => Confidence::LIKELY,
        _ => Confidence::NONE,
    }
}

/// Opens the squashfs volume at the start of `dev`.
pub fn open_volume(dev: DeviceRef) -> Result<FsVolume> {
    let mut b = [0u8; 96];
    dev.read_exact_at(0, &mut b)
        .map_err(|e| e.with_format(FORMAT).with_structure("superblock"))?;
    let sb = match Superblock::parse(&b, dev.size()) {
        Ok(sb) => sb,
        Err(e) if e.kind() == crate::ErrorKind::Unsupported || &b[..4] == b"sqsh" => {
            let note = if &b[..4] == b"sqsh" {
                "big-endian squashfs is not supported".to_owned()
            } else {
                e.message().to_owned()
            };
            return Ok(FsVolume {
                file_systems: vec![FsEntry {
                    kind: "squashfs",
                    label: None,
                    fs: None,
                    details: json!({}),
                    note: Some(note),
                }],
                boot: None,
                warnings: Vec::new(),
            });
        }
        Err(e) => return Err(e),
    };
    let fs = SquashFs::new(dev, sb)?;
    let sb = &fs.sb;
    let details = json!({
        "version": "4.0",
        "compression": sb.codec.name(),
        "block_size": sb.block_size,
        "inodes": sb.inode_count,
        "fragments": sb.fragment_count,
        "bytes_used": sb.bytes_used,
        "created": Timestamp::from_secs(i64::from(sb.mod_time)),
        "exportable": sb.export_table != NOT_SET,
        "xattrs": sb.xattr_table != NOT_SET,
    });
    Ok(FsVolume {
        file_systems: vec![FsEntry {
            kind: FORMAT,
            label: None,
            details,
            fs: Some(Arc::new(fs)),
            note: None,
        }],
        boot: None,
        warnings: Vec::new(),
    })
}

/// A file's data blocks: the inode and each block's device offset.
struct Layout {
    file: FileInode,
    offsets: Vec<u64>,
}

/// A squashfs volume.
pub struct SquashFs {
    dev: DeviceRef,
    sb: Superblock,
    meta: MetaReader,
    ids: Vec<u32>,
    layouts: Mutex<Vec<(NodeId, Arc<Layout>)>>,
    blocks: Mutex<Vec<(u64, Arc<Vec<u8>>)>>,
}

fn lru_get<K: PartialEq + Copy, V: Clone>(m: &Mutex<Vec<(K, V)>>, k: K) -> Option<V> {
    let mut v = m.lock().unwrap_or_else(|p| p.into_inner());
    let i = v.iter().position(|(key, _)| *key == k)?;
    let hit = v.remove(i);
    let out = hit.1.clone();
    v.push(hit);
    Some(out)
}

fn lru_put<K, V>(m: &Mutex<Vec<(K, V)>>, k: K, val: V, cap: usize) {
    let mut v = m.lock().unwrap_or_else(|p| p.into_inner());
    if v.len() >= cap {
        v.remove(0);
    }
    v.push((k, val));
}

impl SquashFs {
    fn new(dev: DeviceRef, sb: Superblock) -> Result<Self> {
        let mut fs = SquashFs {
            dev,
            sb,
            meta: MetaReader::new(),
            ids: Vec::new(),
            layouts: Mutex::new(Vec::new()),
            blocks: Mutex::new(Vec::new()),
        };
        fs.ids = fs.read_ids()?;
        let root = fs.inode(fs.sb.root_inode)?;
        if root.file_type() != FileType::Directory {
            return Err(Error::corrupt(
                FORMAT,
                "root inode",
                fs.sb.inode_table,
                "the root inode is not a directory",
            ));
        }
        Ok(fs)
    }

    fn cursor(&self, block: u64, offset: usize, end: u64) -> Cursor<'_> {
        Cursor {
            dev: &*self.dev,
            sb: &self.sb,
            reader: &self.meta,
            block,
            offset,
            end,
        }
    }

    fn read_u64(&self, at: u64) -> Result<u64> {
        let mut b = [0u8; 8];
        self.dev
            .read_exact_at(at, &mut b)
            .map_err(|e| e.with_format(FORMAT).with_structure("lookup table"))?;
        Ok(u64::from_le_bytes(b))
    }

    fn read_ids(&self) -> Result<Vec<u32>> {
        let count = usize::from(self.sb.id_count).min(MAX_IDS);
        let first = self.read_u64(self.sb.id_table)?;
        if first >= self.sb.id_table {
            return Err(Error::corrupt(
                FORMAT,
                "id table",
                self.sb.id_table,
                "points past itself",
            ));
        }
        let mut c = self.cursor(first, 0, self.sb.id_table);
        (0..count).map(|_| c.u32()).collect()
    }

    fn inode(&self, node: NodeId) -> Result<Inode> {
        let block = node >> 16;
        let offset = (node & 0xFFFF) as usize;
        let start = self.sb.inode_table.checked_add(block);
        let Some(start) = start.filter(|s| *s < self.sb.dir_table && offset < METADATA_SIZE) else {
            return Err(Error::corrupt(
                FORMAT,
                "inode reference",
                self.sb.inode_table,
                format!("reference {node:#x} is outside the inode table"),
            ));
        };
        let mut c = self.cursor(start, offset, self.sb.dir_table);
        inode::read(&mut c, self.sb.block_size, start)
    }

    fn id(&self, index: u16) -> Result<u32> {
        self.ids.get(usize::from(index)).copied().ok_or_else(|| {
            Error::corrupt(
                FORMAT,
                "id table",
                self.sb.id_table,
                format!("id index {index} of {}", self.ids.len()),
            )
        })
    }

    fn listing(&self, node: NodeId) -> Result<Vec<DirEntry>> {
        let i = self.inode(node)?;
        let Kind::Dir {
            block,
            offset,
            size,
        } = i.kind
        else {
            return Err(Error::invalid_input("not a directory"));
        };
        let len = u64::from(size).saturating_sub(3);
        if len > MAX_DIR_SIZE {
            return Err(Error::limit(
                FORMAT,
                "directory",
                self.sb.dir_table,
                format!("listing of {len} bytes"),
            ));
        }
        let mut bytes = vec![0u8; len as usize];
        let start = self.sb.dir_table + u64::from(block);
        self.cursor(start, usize::from(offset), self.sb.bytes_used)
            .read(&mut bytes)?;
        parse_listing(&bytes, start)
    }

    fn layout(&self, node: NodeId) -> Result<Arc<Layout>> {
        if let Some(l) = lru_get(&self.layouts, node) {
            return Ok(l);
        }
        let i = self.inode(node)?;
        let Kind::File(file) = i.kind else {
            return Err(Error::invalid_input("not a regular file"));
        };
        let mut offsets = Vec::with_capacity(file.block_sizes.len());
        let mut at = file.blocks_start;
        for &s in &file.block_sizes {
            offsets.push(at);
            at = at.saturating_add(u64::from(s & (UNCOMPRESSED - 1)));
        }
        if at > self.sb.bytes_used {
            return Err(Error::corrupt(
                FORMAT,
                "file data",
                file.blocks_start,
                format!(
                    "data blocks end at {at}, past the {} bytes used",
                    self.sb.bytes_used
                ),
            ));
        }
        let l = Arc::new(Layout { file, offsets });
        lru_put(&self.layouts, node, l.clone(), LAYOUT_CACHE);
        Ok(l)
    }

    /// A fragment block's start and stored size.
    fn fragment(&self, index: u32) -> Result<(u64, u32)> {
        if index >= self.sb.fragment_count || self.sb.fragment_table == NOT_SET {
            return Err(Error::corrupt(
                FORMAT,
                "fragment table",
                self.sb.fragment_table,
                format!("fragment {index} of {}", self.sb.fragment_count),
            ));
        }
        let ptr = self.read_u64(self.sb.fragment_table + u64::from(index / 512) * 8)?;
        if ptr >= self.sb.fragment_table {
            return Err(Error::corrupt(
                FORMAT,
                "fragment table",
                self.sb.fragment_table,
                "points past itself",
            ));
        }
        let mut c = self.cursor(ptr, (index % 512) as usize * 16, self.sb.fragment_table);
        Ok((c.u64()?, c.u32()?))
    }

    /// The decompressed block stored at `at` with stored size word `size`, `expect` bytes long
    /// (`None`: a fragment block, up to the block size).
    fn data_block(&self, at: u64, size: u32, expect: Option<usize>) -> Result<Arc<Vec<u8>>> {
        if let Some(b) = lru_get(&self.blocks, at) {
            return Ok(b);
        }
        let stored = u64::from(size & (UNCOMPRESSED - 1));
        let bs = self.sb.block_size as usize;
        if stored > bs as u64 || at.saturating_add(stored) > self.sb.bytes_used {
            return Err(Error::corrupt(
                FORMAT,
                "data block",
                at,
                format!("stored size {stored}"),
            ));
        }
        let raw = crate::io::read_vec(&*self.dev, at, stored, bs as u64)
            .map_err(|e| e.with_format(FORMAT).with_structure("data block"))?;
        let data = if size & UNCOMPRESSED != 0 {
            raw
        } else {
            self.sb.codec.decompress(&raw, bs, at)?
        };
        if expect.is_some_and(|n| n != data.len()) {
            return Err(Error::corrupt(
                FORMAT,
                "data block",
                at,
                format!("holds {} bytes, not {}", data.len(), expect.unwrap_or(0)),
            ));
        }
        let data = Arc::new(data);
        lru_put(&self.blocks, at, data.clone(), DATA_CACHE_BLOCKS);
        Ok(data)
    }
}

fn entry_type(t: u16) -> Option<FileType> {
    Some(match t {
        1 | 8 => FileType::Directory,
        2 | 9 => FileType::File,
        3 | 10 => FileType::Symlink,
        4 | 11 => FileType::BlockDevice,
        5 | 12 => FileType::CharDevice,
        6 | 13 => FileType::Fifo,
        7 | 14 => FileType::Socket,
        _ => return None,
    })
}

/// Parses a directory listing: runs of up to 256 entries behind a header naming the inode
/// table block they share.
fn parse_listing(b: &[u8], at: u64) -> Result<Vec<DirEntry>> {
    let bad = |msg: &str| Error::corrupt(FORMAT, "directory", at, msg.to_owned());
    let u16at = |p: usize| b.get(p..p + 2).map(|s| u16::from_le_bytes([s[0], s[1]]));
    let u32at = |p: usize| {
        b.get(p..p + 4)
            .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    };
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < b.len() {
        let (Some(count), Some(start)) = (u32at(pos), u32at(pos + 4)) else {
            return Err(bad("truncated header"));
        };
        if count >= 256 {
            return Err(bad("more than 256 entries behind one header"));
        }
        pos += 12;
        for _ in 0..=count {
            let (Some(offset), Some(t), Some(name_size)) =
                (u16at(pos), u16at(pos + 4), u16at(pos + 6))
            else {
                return Err(bad("truncated entry"));
            };
            let name_len = usize::from(name_size) + 1;
            let Some(name) = b.get(pos + 8..pos + 8 + name_len) else {
                return Err(bad("name runs past the listing"));
            };
            let file_type = entry_type(t).ok_or_else(|| bad("unknown entry type"))?;
            out.push(DirEntry {
                name: String::from_utf8_lossy(name).into_owned(),
                node: NodeId::from(start) << 16 | NodeId::from(offset),
                file_type,
            });
            pos += 8 + name_len;
        }
    }
    Ok(out)
}

impl FileSystem for SquashFs {
    fn kind(&self) -> &'static str {
        FORMAT
    }

    fn label(&self) -> Option<String> {
        None
    }

    fn root(&self) -> NodeId {
        self.sb.root_inode
    }

    fn metadata(&self, node: NodeId) -> Result<Metadata> {
        let i = self.inode(node)?;
        let mut m = Metadata::new(i.file_type(), i.size(), u64::from(i.number));
        m.mode = Some(u32::from(i.mode) & 0o7777);
        m.uid = Some(self.id(i.uid_index)?);
        m.gid = Some(self.id(i.gid_index)?);
        m.nlink = Some(i.nlink);
        m.mtime = Some(Timestamp::from_secs(i64::from(i.mtime)));
        m.rdev = i.rdev();
        Ok(m)
    }

    fn read_dir(&self, dir: NodeId) -> Result<Vec<DirEntry>> {
        self.listing(dir)
    }

    fn read_at(&self, node: NodeId, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let l = self.layout(node)?;
        let f = &l.file;
        if offset >= f.size || buf.is_empty() {
            return Ok(0);
        }
        let bs = u64::from(self.sb.block_size);
        let k = offset / bs;
        let block_len = (f.size - k * bs).min(bs) as usize;
        let within = (offset % bs) as usize;
        let n = buf.len().min(block_len - within);
        if let Some(&size) = f.block_sizes.get(k as usize) {
            if size & (UNCOMPRESSED - 1) == 0 {
                buf[..n].fill(0);
                return Ok(n);
            }
            let data = self.data_block(l.offsets[k as usize], size, Some(block_len))?;
            buf[..n].copy_from_slice(&data[within..within + n]);
            return Ok(n);
        }
        if f.fragment == NO_FRAGMENT {
            return Err(Error::corrupt(
                FORMAT,
                "file data",
                f.blocks_start,
                "file is longer than its blocks",
            ));
        }
        let (start, size) = self.fragment(f.fragment)?;
        let data = self.data_block(start, size, None)?;
        let from = f.fragment_offset as usize + within;
        let piece = data.get(from..from + n).ok_or_else(|| {
            Error::corrupt(
                FORMAT,
                "fragment",
                start,
                "a file's tail runs past its fragment block",
            )
        })?;
        buf[..n].copy_from_slice(piece);
        Ok(n)
    }

    fn read_link(&self, node: NodeId) -> Result<String> {
        match self.inode(node)?.kind {
            Kind::Symlink(t) => Ok(String::from_utf8_lossy(&t).into_owned()),
            _ => Err(Error::invalid_input("not a symbolic link")),
        }
    }

    fn file_extents(&self, node: NodeId) -> Result<Option<Vec<FileExtent>>> {
        let l = self.layout(node)?;
        let f = &l.file;
        let bs = u64::from(self.sb.block_size);
        let mut out: Vec<FileExtent> = Vec::new();
        let mut push = |file_offset: u64, len: u64, dev: u64| match out.last_mut() {
            Some(e)
                if e.file_offset.checked_add(e.len) == Some(file_offset)
                    && e.device_offset.and_then(|d| d.checked_add(e.len)) == Some(dev) =>
            {
                e.len += len
            }
            _ => out.push(FileExtent {
                file_offset,
                len,
                device_offset: Some(dev),
            }),
        };
        for (k, &size) in f.block_sizes.iter().enumerate() {
            let stored = u64::from(size & (UNCOMPRESSED - 1));
            if stored == 0 {
                continue;
            }
            let len = f.size.saturating_sub(k as u64 * bs).min(bs);
            if size & UNCOMPRESSED == 0 || stored != len {
                return Ok(None);
            }
            push(k as u64 * bs, len, l.offsets[k]);
        }
        let tail_at = f.block_sizes.len() as u64 * bs;
        if tail_at < f.size {
            if f.fragment == NO_FRAGMENT {
                return Ok(None);
            }
            let (start, size) = self.fragment(f.fragment)?;
            let stored = u64::from(size & (UNCOMPRESSED - 1));
            let len = f.size - tail_at;
            if size & UNCOMPRESSED == 0
                || u64::from(f.fragment_offset).saturating_add(len) > stored
                || start.saturating_add(stored) > self.sb.bytes_used
            {
                return Ok(None);
            }
            push(tail_at, len, start + u64::from(f.fragment_offset));
        }
        Ok(Some(out))
    }

    fn device(&self) -> &DeviceRef {
        &self.dev
    }

    fn usage(&self) -> Option<Usage> {
        Some(Usage {
            total: self.sb.bytes_used,
            used: self.sb.bytes_used,
        })
    }
}
