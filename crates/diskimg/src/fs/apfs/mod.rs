//! APFS (Apple's "Apple File System Reference"), read-only, own code.
//!
//! The APFS crates (`apfs`, `apfs-core`, `hadris-apfs`) are young and read through
//! `Read + Seek`; this reader takes positioned reads on `&self`, verifies the Fletcher-64
//! checksum of every object it reads, and bounds every walk (see `btree.rs`).
//!
//! Supported: the container superblock and the latest valid checkpoint (`container.rs`), the
//! container and volume object maps, every volume of the container (one [`FsEntry`] each, all
//! of type `apfs`, labelled with the volume name; `--namespace apfs:NAME` or `apfs:N` picks
//! one), the file-system tree at the checkpoint's transaction: inodes (mode, owner, group,
//! times in nanoseconds, BSD flags, device numbers), directory records with hashed or plain
//! names (lookups walk the directory and compare names as stored, in NFD and, on
//! case-insensitive volumes, ignoring case), hard links (directory records naming one inode;
//! sibling-link records are not needed), symbolic links (`com.apple.fs.symlink`), file extents
//! with holes (sparse files, see `stream.rs`), the separate extent tree of sealed volumes,
//! extended attributes embedded or in streams, the resource fork (`com.apple.ResourceFork`,
//! listed as the stream `rsrc`), decmpfs compression ([`decmpfs`]: zlib,
//! LZVN, LZFSE), and the space manager's allocation bitmaps (`spaceman.rs`, for
//! `image --used-only`).
//!
//! Not supported: encrypted volumes (listed in `info`, refused as unsupported), snapshots
//! (the live tree is read), a Fusion container's second tier, checkpoint areas kept as
//! B-trees, extended attributes other than the resource fork (not listed), Apple's name hash
//! (lookups walk the directory instead).

mod btree;
mod container;
mod object;
mod records;
mod spaceman;
mod store;
mod stream;
mod volume;

use crate::device::DeviceRef;
use crate::error::{Error, ErrorKind, Result};
use crate::format::{Confidence, FormatDescriptor, Opener};
use crate::fs::apple_names;
use crate::fs::decmpfs;
use crate::fs::{
    DirEntry, FileExtent, FileSystem, FileType, FsEntry, FsVolume, Metadata, NamedStream, NodeId,
    Usage,
};
use crate::io::ReadAt;
use btree::{BTree, Step};
use container::Container;
use object::{OBJECT_TYPE_FS, OBJECT_TYPE_OMAP, le64};
use records::{
    DirRecord, Inode, TYPE_DIR_REC, TYPE_INODE, TYPE_XATTR, Xattr, XattrData, apfs_time,
    cmp_records,
};
use std::cmp::Ordering;
use std::sync::{Arc, Mutex};
use volume::ApfsSuperblock;

/// Format name used in errors and `info`.
pub const FORMAT: &str = "apfs";
/// Entries of one directory listed at most.
pub const MAX_DIR_ENTRIES: usize = 1 << 20;
/// Extents of one file read at most.
pub const MAX_EXTENTS: usize = 1 << 20;
/// Extended attributes of one file scanned at most.
pub const MAX_XATTRS: usize = 1 << 16;
/// Largest embedded value or symbolic link read whole.
const MAX_INLINE: u64 = 1 << 20;
/// Largest symbolic link target.
const MAX_LINK: usize = 4096;
/// Node-id bit of a resource fork stream.
const RSRC_BIT: u64 = 1 << 62;
/// `ROOT_DIR_INO_NUM`.
const ROOT_DIR_INO_NUM: u64 = 2;
/// `UF_COMPRESSED`.
const UF_COMPRESSED: u32 = 0x20;
/// `INODE_IS_SPARSE`.
const INODE_IS_SPARSE: u64 = 0x200;
/// Attribute names.
const DECMPFS_XATTR: &str = "com.apple.decmpfs";
const RSRC_XATTR: &str = "com.apple.ResourceFork";
const SYMLINK_XATTR: &str = "com.apple.fs.symlink";

/// The registry entry.
pub static DESCRIPTOR: FormatDescriptor = FormatDescriptor {
    create: None,
    check: None,
    name: FORMAT,
    description: "APFS container (Apple File System) and its volumes",
    extensions: &["apfs"],
    probe: |p| match p.head.get(32..36) {
        Some(b"NXSB") => Confidence::CERTAIN,
        _ => Confidence::NONE,
    },
    opener: Opener::FileSystem(open_volume),
};

/// Opens the APFS container on `dev`: one entry per volume, in the container's order.
pub fn open_volume(dev: &DeviceRef) -> Result<FsVolume> {
    let c = Arc::new(Container::open(dev.clone())?);
    let mut out = FsVolume {
        warnings: c.skipped.clone(),
        ..FsVolume::default()
    };
    let end = c.sb.block_count.saturating_mul(c.sb.block_size);
    if end > dev.size() {
        out.warnings.push(format!(
            "the APFS container ends at byte {end}, past the end of the device ({} bytes)",
            dev.size()
        ));
    }
    let count = c.sb.fs_oids.len();
    for (i, &oid) in c.sb.fs_oids.iter().enumerate() {
        let vol = match read_volume_superblock(&c, oid) {
            Ok(v) => v,
            Err(e) => {
                out.warnings
                    .push(format!("APFS volume {} (oid {oid:#x}): {e}", i + 1));
                continue;
            }
        };
        let details = details(&c, &vol, i + 1, count);
        let label = (!vol.name.is_empty()).then(|| vol.name.clone());
        if vol.encrypted() {
            out.file_systems.push(FsEntry {
                kind: FORMAT,
                label,
                fs: None,
                details,
                note: Some(format!(
                    "APFS volume {} ({}) is encrypted: encrypted volumes are not supported",
                    i + 1,
                    vol.name
                )),
            });
            continue;
        }
        match ApfsFs::open(dev.clone(), c.clone(), vol) {
            Ok(fs) => out.file_systems.push(FsEntry {
                kind: FORMAT,
                label,
                fs: Some(Arc::new(fs)),
                details,
                note: None,
            }),
            Err(e) => out.file_systems.push(FsEntry {
                kind: FORMAT,
                label,
                fs: None,
                details,
                note: Some(format!("cannot open the volume: {e}")),
            }),
        }
    }
    if c.sb.fs_oids.is_empty() {
        out.file_systems.push(FsEntry {
            kind: FORMAT,
            label: None,
            fs: None,
            details: serde_json::json!({ "volumes_in_container": 0 }),
            note: Some("the APFS container has no volumes".into()),
        });
    }
    if out.file_systems.is_empty() && !out.warnings.is_empty() {
        return Err(Error::corrupt(
            FORMAT,
            "volume superblock",
            0,
            out.warnings.join("; "),
        ));
    }
    Ok(out)
}

fn read_volume_superblock(c: &Container, oid: u64) -> Result<ApfsSuperblock> {
    let paddr = c.resolve(oid)?.ok_or_else(|| {
        Error::corrupt(
            FORMAT,
            "container object map",
            0,
            format!("volume {oid:#x} is not mapped"),
        )
    })?;
    let (o, b, at) = c.store.read_object(paddr, "volume superblock")?;
    if o.kind != OBJECT_TYPE_FS {
        return Err(Error::corrupt(
            FORMAT,
            "volume superblock",
            at,
            format!("object type {:#x}, {OBJECT_TYPE_FS:#x} expected", o.kind),
        ));
    }
    ApfsSuperblock::parse(&b, at)
}

fn details(c: &Container, v: &ApfsSuperblock, index: usize, count: usize) -> serde_json::Value {
    serde_json::json!({
        "volume": index,
        "volumes_in_container": count,
        "name": v.name,
        "role": v.role_name(),
        "case_sensitive": !v.case_insensitive(),
        "normalization_insensitive": v.hashed_names(),
        "encrypted": v.encrypted(),
        "sealed": v.sealed(),
        "used_blocks": v.alloc_count,
        "block_size": c.sb.block_size,
        "container_blocks": c.sb.block_count,
        "uuid": v.uuid_string(),
        "container_uuid": volume::uuid_text(&c.sb.uuid),
        "checkpoint_xid": c.sb.xid,
        "files": v.counts.0,
        "directories": v.counts.1,
        "symlinks": v.counts.2,
        "snapshots": v.num_snapshots,
        "formatted_by": v.formatted_by,
    })
}

/// An APFS volume as a [`FileSystem`]. A node id is the inode number (bit 62 set: the
/// resource fork of that inode).
pub struct ApfsFs {
    dev: DeviceRef,
    container: Arc<Container>,
    vol: ApfsSuperblock,
    tree: BTree,
    fext: Option<BTree>,
    extents: Mutex<Vec<(u64, Arc<Vec<stream::Extent>>)>>,
    decmpfs_cache: decmpfs::Cache,
}

impl ApfsFs {
    fn open(dev: DeviceRef, container: Arc<Container>, vol: ApfsSuperblock) -> Result<Self> {
        let store = &container.store;
        let (o, om, at) = store.read_object(vol.omap_oid, "volume object map")?;
        if o.kind != OBJECT_TYPE_OMAP {
            return Err(Error::corrupt(
                FORMAT,
                "volume object map",
                at,
                format!("object type {:#x}, {OBJECT_TYPE_OMAP:#x} expected", o.kind),
            ));
        }
        let omap = BTree::open_physical(
            store,
            le64(&om, 48).unwrap_or(0),
            "volume object map B-tree",
        )?;
        let tree = BTree::open_virtual(
            store,
            vol.root_tree_oid,
            omap,
            container.sb.xid,
            "file-system tree",
        )?;
        let fext = if vol.sealed() {
            Some(BTree::open_physical(
                store,
                vol.fext_tree_oid,
                "file extent tree",
            )?)
        } else {
            None
        };
        let fs = ApfsFs {
            dev,
            container,
            vol,
            tree,
            fext,
            extents: Mutex::new(Vec::new()),
            decmpfs_cache: decmpfs::Cache::default(),
        };
        fs.inode(ROOT_DIR_INO_NUM)?;
        Ok(fs)
    }

    fn store(&self) -> &store::Store {
        &self.container.store
    }

    /// The inode record of `id`.
    fn inode(&self, id: u64) -> Result<Inode> {
        let id = id & !RSRC_BIT;
        let found = self
            .tree
            .find_le(self.store(), &|k| cmp_records(k, id, TYPE_INODE))?;
        match found {
            Some((k, v)) if cmp_records(&k, id, TYPE_INODE) == Ordering::Equal => {
                Inode::parse(&v, 0)
            }
            _ => Err(Error::not_found(format!("no inode {id}"))),
        }
    }

    /// Every record of type `kind` of object `id`, in key order (at most `max`).
    fn records(&self, id: u64, kind: u8, max: usize, f: &mut btree::Visit<'_>) -> Result<()> {
        let mut n = 0usize;
        self.tree
            .scan(self.store(), &|k| cmp_records(k, id, kind), &mut |k, v| {
                n += 1;
                if n > max {
                    return Err(Error::limit(
                        FORMAT,
                        "file-system tree",
                        0,
                        format!("object {id} has more than {max} records of type {kind}"),
                    ));
                }
                f(k, v)
            })
    }

    /// The extended attribute `name` of inode `id`.
    fn xattr(&self, id: u64, name: &str) -> Result<Option<XattrData>> {
        let mut out = None;
        self.records(id, TYPE_XATTR, MAX_XATTRS, &mut |k, v| {
            let x = Xattr::parse(k, v, 0)?;
            if x.name == name {
                out = Some(x.data);
                return Ok(Step::Stop);
            }
            Ok(Step::Next)
        })?;
        Ok(out)
    }

    /// The whole value of an attribute (at most [`MAX_INLINE`] bytes).
    fn xattr_bytes(&self, data: XattrData) -> Result<Vec<u8>> {
        match data {
            XattrData::Embedded(b) => Ok(b),
            XattrData::Stream { id, size } => {
                if size > MAX_INLINE {
                    return Err(Error::limit(
                        FORMAT,
                        "extended attribute",
                        0,
                        format!("attribute stream of {size} bytes"),
                    ));
                }
                let mut buf = vec![0u8; size as usize];
                let n = self.read_stream(id, size, 0, &mut buf)?;
                buf.truncate(n);
                Ok(buf)
            }
        }
    }

    fn is_compressed(ino: &Inode) -> bool {
        ino.bsd_flags & UF_COMPRESSED != 0
            && FileType::from_mode(u32::from(ino.mode)) == Some(FileType::File)
    }

    fn decmpfs_header(&self, id: u64) -> Result<(decmpfs::Header, Vec<u8>)> {
        let data = self.xattr(id, DECMPFS_XATTR)?.ok_or_else(|| {
            Error::corrupt(
                FORMAT,
                "inode record",
                0,
                format!("file {id} is flagged compressed but has no {DECMPFS_XATTR}"),
            )
        })?;
        let attr = self.xattr_bytes(data)?;
        let h = decmpfs::Header::parse(&attr, 0)?;
        Ok((h, attr))
    }

    /// The resource fork's stream `(id, size)`, if the file has one in a stream.
    fn rsrc_stream(&self, id: u64) -> Result<Option<XattrData>> {
        self.xattr(id, RSRC_XATTR)
    }

    fn metadata_of(&self, node: NodeId) -> Result<Metadata> {
        let id = node & !RSRC_BIT;
        let ino = self.inode(id)?;
        if node & RSRC_BIT != 0 {
            let size = match self.rsrc_stream(id)? {
                Some(XattrData::Stream { size, .. }) => size,
                Some(XattrData::Embedded(b)) => b.len() as u64,
                None => return Err(Error::not_found("no resource fork")),
            };
            let mut m = Metadata::new(FileType::File, size, node);
            m.mode = Some(0o644);
            return Ok(m);
        }
        let file_type = FileType::from_mode(u32::from(ino.mode)).unwrap_or(FileType::File);
        let compressed = Self::is_compressed(&ino);
        let size = match file_type {
            FileType::Directory => 0,
            FileType::Symlink => self.read_link(id)?.len() as u64,
            _ if compressed => self.decmpfs_header(id)?.0.size,
            _ => ino.size(),
        };
        let mut m = Metadata::new(file_type, size, id);
        m.mode = Some(u32::from(ino.mode) & 0o7777);
        m.uid = Some(ino.owner);
        m.gid = Some(ino.group);
        if file_type != FileType::Directory {
            m.nlink = Some(ino.nchildren_or_nlink.max(1) as u32);
        }
        let [created, modified, changed, accessed] = ino.times;
        m.btime = apfs_time(created);
        m.mtime = apfs_time(modified);
        m.ctime = apfs_time(changed);
        m.atime = apfs_time(accessed);
        if matches!(file_type, FileType::CharDevice | FileType::BlockDevice) {
            let dev = ino.rdev.unwrap_or(0);
            m.rdev = Some((dev >> 24, dev & 0x00FF_FFFF));
        }
        m.flags = flags(&ino);
        if file_type == FileType::File && !compressed {
            match self.rsrc_stream(id)? {
                Some(XattrData::Stream { size, .. }) => m.streams.push(NamedStream {
                    name: "rsrc".into(),
                    size,
                }),
                Some(XattrData::Embedded(b)) => m.streams.push(NamedStream {
                    name: "rsrc".into(),
                    size: b.len() as u64,
                }),
                None => {}
            }
        }
        Ok(m)
    }

    fn list(&self, dir: NodeId) -> Result<Vec<DirEntry>> {
        if dir & RSRC_BIT != 0 {
            return Err(Error::invalid_input("not a directory"));
        }
        let ino = self.inode(dir)?;
        if FileType::from_mode(u32::from(ino.mode)) != Some(FileType::Directory) {
            return Err(Error::invalid_input("not a directory"));
        }
        let hashed = self.vol.hashed_names();
        let mut out = Vec::new();
        self.records(dir, TYPE_DIR_REC, MAX_DIR_ENTRIES, &mut |k, v| {
            let d = DirRecord::parse(k, v, hashed, 0)?;
            let file_type = match d.dtype {
                1 => FileType::Fifo,
                2 => FileType::CharDevice,
                4 => FileType::Directory,
                6 => FileType::BlockDevice,
                10 => FileType::Symlink,
                12 => FileType::Socket,
                _ => FileType::File,
            };
            out.push(DirEntry {
                name: d.name,
                node: d.file_id,
                file_type,
            });
            Ok(Step::Next)
        })?;
        Ok(out)
    }
}

/// BSD flags to flag names.
fn flags(ino: &Inode) -> Vec<&'static str> {
    let f = ino.bsd_flags;
    let mut out = Vec::new();
    for (set, name) in [
        (f & 0x01 != 0, "nodump"),
        (f & 0x0002_0002 != 0, "immutable"),
        (f & 0x0004_0004 != 0, "append"),
        (f & 0x08 != 0, "opaque"),
        (f & UF_COMPRESSED != 0, "compressed"),
        (f & 0x8000 != 0, "hidden"),
        (f & 0x0001_0000 != 0, "archive"),
        (ino.internal_flags & INODE_IS_SPARSE != 0, "sparse"),
    ] {
        if set {
            out.push(name);
        }
    }
    out
}

impl FileSystem for ApfsFs {
    fn kind(&self) -> &'static str {
        FORMAT
    }

    fn label(&self) -> Option<String> {
        (!self.vol.name.is_empty()).then(|| self.vol.name.clone())
    }

    fn root(&self) -> NodeId {
        ROOT_DIR_INO_NUM
    }

    fn metadata(&self, node: NodeId) -> Result<Metadata> {
        self.metadata_of(node)
    }

    fn read_dir(&self, dir: NodeId) -> Result<Vec<DirEntry>> {
        self.list(dir)
    }

    fn lookup(&self, dir: NodeId, name: &str) -> Result<Option<NodeId>> {
        let entries = self.list(dir)?;
        apple_names::lookup(&entries, name, self.vol.case_insensitive(), RSRC_BIT, |n| {
            Ok(self.rsrc_stream(n)?.is_some())
        })
    }

    fn read_at(&self, node: NodeId, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let id = node & !RSRC_BIT;
        let ino = self.inode(id)?;
        if FileType::from_mode(u32::from(ino.mode)) == Some(FileType::Directory) {
            return Err(Error::invalid_input("is a directory"));
        }
        if node & RSRC_BIT != 0 {
            return match self.rsrc_stream(id)? {
                Some(XattrData::Stream { id, size }) => self.read_stream(id, size, offset, buf),
                Some(XattrData::Embedded(b)) => {
                    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(b.len());
                    let n = (b.len() - start).min(buf.len());
                    buf[..n].copy_from_slice(&b[start..start + n]);
                    Ok(n)
                }
                None => Err(Error::not_found("no resource fork")),
            };
        }
        if Self::is_compressed(&ino) {
            let (h, attr) = self.decmpfs_header(id)?;
            let rsrc_data;
            let stream;
            let inline;
            let rsrc: Option<&dyn decmpfs::ResourceFork> = if h.in_resource_fork {
                rsrc_data = self.rsrc_stream(id)?;
                match &rsrc_data {
                    Some(XattrData::Stream { id, size }) => {
                        stream = stream::RsrcFork {
                            fs: self,
                            id: *id,
                            size: *size,
                        };
                        Some(&stream)
                    }
                    Some(XattrData::Embedded(b)) => {
                        inline = stream::InlineFork(b);
                        Some(&inline)
                    }
                    None => None,
                }
            } else {
                None
            };
            return decmpfs::read_at(&h, &attr, rsrc, &self.decmpfs_cache, id, offset, buf);
        }
        self.read_stream(ino.private_id, ino.size(), offset, buf)
    }

    fn read_link(&self, node: NodeId) -> Result<String> {
        let ino = self.inode(node)?;
        if FileType::from_mode(u32::from(ino.mode)) != Some(FileType::Symlink) {
            return Err(Error::invalid_input("not a symbolic link"));
        }
        let data = self.xattr(node, SYMLINK_XATTR)?.ok_or_else(|| {
            Error::corrupt(
                FORMAT,
                "inode record",
                0,
                format!("symbolic link {node} has no {SYMLINK_XATTR}"),
            )
        })?;
        let mut b = self.xattr_bytes(data)?;
        if let Some(end) = b.iter().position(|&c| c == 0) {
            b.truncate(end);
        }
        if b.len() > MAX_LINK {
            return Err(Error::limit(
                FORMAT,
                "symbolic link",
                0,
                "target over 4 KiB",
            ));
        }
        String::from_utf8(b).map_err(|_| {
            Error::new(ErrorKind::Corrupt, "symbolic link target is not UTF-8").with_format(FORMAT)
        })
    }

    fn file_extents(&self, node: NodeId) -> Result<Option<Vec<FileExtent>>> {
        let id = node & !RSRC_BIT;
        let ino = self.inode(id)?;
        let (stream, size) = if node & RSRC_BIT != 0 {
            match self.rsrc_stream(id)? {
                Some(XattrData::Stream { id, size }) => (id, size),
                _ => return Ok(None),
            }
        } else {
            if FileType::from_mode(u32::from(ino.mode)) == Some(FileType::Directory)
                || Self::is_compressed(&ino)
            {
                return Ok(None);
            }
            (ino.private_id, ino.size())
        };
        Ok(Some(stream::file_extents_of(&self.extents(stream)?, size)))
    }

    fn device(&self) -> &DeviceRef {
        &self.dev
    }

    fn usage(&self) -> Option<Usage> {
        let bs = self.container.sb.block_size;
        Some(Usage {
            total: self.container.sb.block_count.saturating_mul(bs),
            used: self.vol.alloc_count.saturating_mul(bs),
        })
    }

    fn allocation_map(&self) -> Option<&dyn crate::fs::AllocationMap> {
        Some(self)
    }
}

/// The blocks the container's space manager marks used (shared by every volume of the
/// container), and block 0.
impl crate::fs::AllocationMap for ApfsFs {
    fn allocated_ranges(&self) -> Result<Vec<(u64, u64)>> {
        let bs = self.container.sb.block_size;
        let dev = self.dev.size();
        let mut set = crate::fs::used::RangeSet::with_gap(crate::fs::used::MERGE_GAP);
        set.add(0, bs.min(dev));
        spaceman::used_blocks(&self.container, &mut |block, count| {
            let offset = block.saturating_mul(bs).min(dev);
            set.add(offset, count.saturating_mul(bs).min(dev - offset));
        })?;
        Ok(set.into_vec())
    }
}
