//! ext2, ext3 and ext4, read-only (the ext4 disk layout as the Linux kernel documents it in
//! `Documentation/filesystems/ext4/`, and e2fsprogs' `lib/ext2fs/ext2_fs.h` for field offsets).
//!
//! Supported: revisions 0 and 1; 1 KiB-64 KiB blocks; 32- and 64-bit group descriptors
//! (`64bit`), `meta_bg`, `flex_bg`, `sparse_super`; extent trees (checked node by node) and
//! the ext2/3 indirect block map with holes; uninitialised extents (read as zeros); inline
//! data (`inline_data`: files, directories and symbolic links stored in the inode); htree
//! directories (read linearly: their index blocks hold no names); fast and slow symbolic
//! links; device nodes (old and new encodings), FIFOs, sockets; 32-bit owners; nanosecond
//! times with the epoch bits and creation time; `huge_file`, `large_dir`, `bigalloc`,
//! `casefold` (names as stored); `metadata_csum` (superblock, group descriptors, inodes,
//! extent blocks and directory leaf blocks are checked; a mismatch is corruption). Kind
//! `ext2`/`ext3`/`ext4` is decided from the features as blkid does. `file_extents` lists a
//! file's extents so that extraction copies straight from the device, holes kept.
//!
//! Not supported: replaying the journal (a volume marked `needs_recovery` is read as it lies
//! on disk, with a warning, as debugfs does), encrypted files and directories (reported as
//! unsupported), the `compression` feature of old patches (refused), external journal
//! devices (detected, not readable), extended attributes other than inline data, htree
//! hash lookups (lookup reads the directory).
//!
//! Our own reader rather than the `ext4-view` crate (1.0.0, kept as an independent reader in
//! the tests): ext4-view refuses volumes with `inline_data` (and `meta_bg`, `large_dir`), its
//! `Ext4` handle is reference-counted with `Rc`/`RefCell` (neither `Send` nor `Sync`, so it
//! cannot serve several threads or FUSE), it addresses files by path only, and it has no way
//! to give a file's block map for direct copies or a device node's numbers.
//!
//! A node id is the inode number. Nothing about the tree is held in memory; structure reads go
//! through a block cache.

mod alloc;
mod csum;
mod dir;
mod group;
mod inode;
mod mapping;
mod superblock;

use self::inode::{Inode, flags};
use self::superblock::{SUPERBLOCK_OFFSET, Superblock, incompat};
use crate::device::DeviceRef;
use crate::error::{Error, Result};
use crate::format::{Confidence, FormatDescriptor, Opener, ProbeInput};
use crate::fs::{
    DirEntry, FileExtent, FileSystem, FileType, FsEntry, FsVolume, Metadata, NodeId, Usage,
};
use crate::io::{BlockCache, ReadAt};
use serde_json::json;
use std::sync::Arc;

/// Format name used in errors.
pub const FORMAT: &str = "ext4";
/// Largest directory read (bytes).
pub const MAX_DIR_SIZE: u64 = 512 * 1024 * 1024;
/// Most entries listed from one directory.
pub const MAX_DIR_ENTRIES: usize = 4 << 20;
/// Longest symbolic link target.
pub const MAX_LINK_LEN: u64 = 65536;
/// Bytes of metadata cached.
const META_CACHE: u64 = 8 * 1024 * 1024;
/// The root directory's inode.
const ROOT_INO: u32 = 2;

/// The registry entry.
pub static DESCRIPTOR: FormatDescriptor = FormatDescriptor {
    create: None,
    check: None,
    name: "ext",
    description: "ext2/ext3/ext4 file system",
    extensions: &["img", "ext2", "ext3", "ext4"],
    probe,
    opener: Opener::FileSystem(|dev| open_volume(dev.clone())),
};

fn probe(p: &ProbeInput<'_>) -> Confidence {
    match p.head.get(1024..2048) {
        Some(b) if superblock::looks_like(b) => Confidence::CERTAIN,
        _ => Confidence::NONE,
    }
}

/// Opens the ext2/3/4 volume on `dev`.
pub fn open_volume(dev: DeviceRef) -> Result<FsVolume> {
    let mut b = vec![0u8; 1024];
    dev.read_exact_at(SUPERBLOCK_OFFSET, &mut b)
        .map_err(|e| e.with_format(FORMAT).with_structure("superblock"))?;
    let sb = Superblock::parse(&b)?;
    let mut details = json!({
        "uuid": sb.uuid_string(),
        "block_size": sb.block_size,
        "inode_size": sb.inode_size,
        "blocks": sb.blocks_count,
        "inodes": sb.inodes_count,
        "revision": sb.rev_level,
        "features": sb.feature_names(),
        "last_mounted": (!sb.last_mounted.is_empty()).then(|| sb.last_mounted.clone()),
        "created": (sb.mkfs_time != 0).then(|| crate::time::Timestamp::from_secs(i64::from(sb.mkfs_time))),
    });
    let label = (!sb.label.is_empty()).then(|| sb.label.clone());
    let unreadable = |note: String, details: serde_json::Value| FsVolume {
        file_systems: vec![FsEntry {
            kind: sb.kind(),
            label: label.clone(),
            fs: None,
            details,
            note: Some(note),
        }],
        boot: None,
        warnings: Vec::new(),
    };
    if sb.has_incompat(incompat::JOURNAL_DEV) {
        details["journal_device"] = json!(true);
        return Ok(unreadable(
            "an external journal device, not a file system".into(),
            details,
        ));
    }
    let unknown = sb.incompat & !incompat::KNOWN;
    if unknown != 0 || sb.has_incompat(incompat::COMPRESSION) {
        return Ok(unreadable(
            format!(
                "unsupported incompatible features {:#x}",
                sb.incompat & (!incompat::KNOWN | incompat::COMPRESSION)
            ),
            details,
        ));
    }
    let mut warnings = Vec::new();
    if sb.has_incompat(incompat::RECOVER) {
        warnings.push(
            "the journal holds transactions not yet written to their place (needs_recovery); \
             they are not replayed, so the newest changes may be missing"
                .to_owned(),
        );
    }
    if sb.state & 2 != 0 {
        warnings.push("the file system is marked as having errors".to_owned());
    }
    let volume = sb.blocks_count.saturating_mul(sb.block_size);
    if volume > dev.size() {
        warnings.push(format!(
            "the volume claims {volume} bytes but the device holds {}: data past the end cannot be read",
            dev.size()
        ));
    }
    let fs = Ext4Fs {
        meta: BlockCache::new(dev.clone(), sb.block_size.max(4096) as u32, META_CACHE),
        dev,
        sb,
    };
    let root = fs.inode(ROOT_INO)?;
    if root.file_type() != Some(FileType::Directory) {
        return Err(Error::corrupt(
            FORMAT,
            "root inode",
            root.offset,
            "the root inode is not a directory",
        ));
    }
    Ok(FsVolume {
        file_systems: vec![FsEntry {
            kind: fs.kind(),
            label: fs.label(),
            details,
            fs: Some(Arc::new(fs)),
            note: None,
        }],
        boot: None,
        warnings,
    })
}

/// An ext2/3/4 volume.
pub struct Ext4Fs {
    dev: DeviceRef,
    meta: BlockCache<DeviceRef>,
    sb: Superblock,
}

fn ino_of(node: NodeId) -> Result<u32> {
    u32::try_from(node).map_err(|_| Error::invalid_input(format!("no inode {node}")))
}

impl Ext4Fs {
    fn inode(&self, ino: u32) -> Result<Inode> {
        inode::read(&self.meta, &self.sb, ino)
    }

    fn not_encrypted(&self, i: &Inode) -> Result<()> {
        if i.has_flag(flags::ENCRYPT) {
            return Err(Error::unsupported(
                FORMAT,
                format!("inode {} is encrypted", i.ino),
            ));
        }
        Ok(())
    }

    fn blocks_of(&self, size: u64) -> u64 {
        size.div_ceil(self.sb.block_size)
    }

    /// Reads up to `buf.len()` bytes of a non-inline inode's data at `offset` (< its size).
    fn read_mapped(&self, i: &Inode, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let bs = self.sb.block_size;
        let want = (buf.len() as u64).min(i.size - offset);
        let m = mapping::map(&self.meta, &self.sb, i, offset / bs)?;
        let within = offset % bs;
        let n = want.min(m.len.saturating_mul(bs) - within) as usize;
        match m.physical {
            Some(p) => self
                .dev
                .read_exact_at(p * bs + within, &mut buf[..n])
                .map_err(|e| e.with_format(FORMAT).with_structure("file data"))?,
            None => buf[..n].fill(0),
        }
        Ok(n)
    }

    fn dir_entries(&self, i: &Inode) -> Result<Vec<dir::RawEntry>> {
        if i.file_type() != Some(FileType::Directory) {
            return Err(Error::invalid_input("not a directory"));
        }
        self.not_encrypted(i)?;
        let filetype = self.sb.has_incompat(incompat::FILETYPE);
        let mut out = Vec::new();
        if i.has_flag(flags::INLINE_DATA) {
            dir::parse_inline(&i.inline_data()?, i.offset, filetype, &mut out)?;
            return Ok(out);
        }
        if i.size > MAX_DIR_SIZE {
            return Err(Error::limit(
                FORMAT,
                "directory",
                i.offset,
                format!("directory inode {} is {} bytes", i.ino, i.size),
            ));
        }
        let bs = self.sb.block_size;
        let mut block = vec![0u8; bs as usize];
        let mut lblock = 0u64;
        while lblock < self.blocks_of(i.size) {
            let m = mapping::map(&self.meta, &self.sb, i, lblock)?;
            let Some(p) = m.physical else {
                lblock += m.len;
                continue;
            };
            for k in 0..m.len.min(self.blocks_of(i.size) - lblock) {
                let at = (p + k) * bs;
                self.meta
                    .read_exact_at(at, &mut block)
                    .map_err(|e| e.with_format(FORMAT).with_structure("directory block"))?;
                if let Some(seed) = i.csum_seed {
                    dir::verify_block(&block, seed, at, i.ino)?;
                }
                dir::parse(&block, at, filetype, &mut out)?;
                if out.len() > MAX_DIR_ENTRIES {
                    return Err(Error::limit(
                        FORMAT,
                        "directory",
                        i.offset,
                        format!("more than {MAX_DIR_ENTRIES} entries"),
                    ));
                }
            }
            lblock += m.len;
        }
        Ok(out)
    }
}

impl FileSystem for Ext4Fs {
    fn kind(&self) -> &'static str {
        self.sb.kind()
    }

    fn label(&self) -> Option<String> {
        (!self.sb.label.is_empty()).then(|| self.sb.label.clone())
    }

    fn root(&self) -> NodeId {
        NodeId::from(ROOT_INO)
    }

    fn metadata(&self, node: NodeId) -> Result<Metadata> {
        let i = self.inode(ino_of(node)?)?;
        let Some(t) = i.file_type() else {
            return Err(Error::corrupt(
                FORMAT,
                "inode",
                i.offset,
                format!("inode {} has mode {:#o}", i.ino, i.mode),
            ));
        };
        let mut m = Metadata::new(t, i.size, u64::from(i.ino));
        m.mode = Some(u32::from(i.mode) & 0o7777);
        m.uid = Some(i.uid);
        m.gid = Some(i.gid);
        m.nlink = Some(u32::from(i.links));
        m.mtime = i.mtime;
        m.atime = i.atime;
        m.ctime = i.ctime;
        m.btime = i.crtime;
        if matches!(t, FileType::CharDevice | FileType::BlockDevice) {
            m.rdev = Some(i.rdev());
            m.size = 0;
        }
        Ok(m)
    }

    fn read_dir(&self, dir: NodeId) -> Result<Vec<DirEntry>> {
        let i = self.inode(ino_of(dir)?)?;
        let mut out = Vec::new();
        for e in self.dir_entries(&i)? {
            let file_type = match e.file_type {
                Some(t) => t,
                None => self.metadata(NodeId::from(e.ino))?.file_type,
            };
            out.push(DirEntry {
                name: String::from_utf8_lossy(&e.name).into_owned(),
                node: NodeId::from(e.ino),
                file_type,
            });
        }
        Ok(out)
    }

    fn read_at(&self, node: NodeId, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let i = self.inode(ino_of(node)?)?;
        if i.file_type() != Some(FileType::File) {
            return Err(Error::invalid_input("not a regular file"));
        }
        self.not_encrypted(&i)?;
        if offset >= i.size || buf.is_empty() {
            return Ok(0);
        }
        if i.has_flag(flags::INLINE_DATA) {
            let data = i.inline_data()?;
            let n = (buf.len() as u64).min(i.size - offset) as usize;
            for (k, out) in buf[..n].iter_mut().enumerate() {
                *out = usize::try_from(offset)
                    .ok()
                    .and_then(|o| data.get(o + k))
                    .copied()
                    .unwrap_or(0);
            }
            return Ok(n);
        }
        self.read_mapped(&i, offset, buf)
    }

    fn read_link(&self, node: NodeId) -> Result<String> {
        let i = self.inode(ino_of(node)?)?;
        if i.file_type() != Some(FileType::Symlink) {
            return Err(Error::invalid_input("not a symbolic link"));
        }
        self.not_encrypted(&i)?;
        let target = if i.has_flag(flags::INLINE_DATA) {
            i.inline_data()?
        } else if i.is_fast_symlink(&self.sb) {
            i.i_block[..i.size as usize].to_vec()
        } else {
            if i.size > MAX_LINK_LEN {
                return Err(Error::limit(
                    FORMAT,
                    "symbolic link",
                    i.offset,
                    format!("target of {} bytes", i.size),
                ));
            }
            let mut t = vec![0u8; i.size as usize];
            let mut done = 0;
            while done < t.len() {
                done += self.read_mapped(&i, done as u64, &mut t[done..])?;
            }
            t
        };
        Ok(String::from_utf8_lossy(&target).into_owned())
    }

    fn file_extents(&self, node: NodeId) -> Result<Option<Vec<FileExtent>>> {
        let i = self.inode(ino_of(node)?)?;
        if i.file_type() != Some(FileType::File) {
            return Err(Error::invalid_input("not a regular file"));
        }
        self.not_encrypted(&i)?;
        if i.has_flag(flags::INLINE_DATA) {
            return Ok(None);
        }
        let bs = self.sb.block_size;
        let Some(runs) = mapping::runs(&self.meta, &self.sb, &i, self.blocks_of(i.size))? else {
            return Ok(None);
        };
        Ok(Some(
            runs.into_iter()
                .map(|r| {
                    let file_offset = r.logical * bs;
                    FileExtent {
                        file_offset,
                        len: (r.len * bs).min(i.size - file_offset),
                        device_offset: Some(r.physical * bs),
                    }
                })
                .collect(),
        ))
    }

    fn device(&self) -> &DeviceRef {
        &self.dev
    }

    fn allocation_map(&self) -> Option<&dyn crate::fs::AllocationMap> {
        self.has_block_bitmaps()
            .then_some(self as &dyn crate::fs::AllocationMap)
    }

    fn usage(&self) -> Option<Usage> {
        let bs = self.sb.block_size;
        Some(Usage {
            total: self.sb.blocks_count * bs,
            used: self.sb.blocks_count.saturating_sub(self.sb.free_blocks) * bs,
        })
    }
}
