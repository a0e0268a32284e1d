//! HFS+ and HFSX (Apple Technical Note TN1150, "HFS Plus Volume Format"), read-only, own code.
//!
//! The `hfsplus` crate (0.4) was evaluated and not used: it reads through `Read + Seek` with
//! `&mut self`, so one open volume cannot serve concurrent reads; its API is path-based
//! (no node ids for an inode-style trait) and returns whole files as `Vec`s. This module reads
//! with positioned reads on `&self` through a block cache and keeps no tree in memory.
//!
//! Supported: the volume header (`H+` version 4, `HX` version 5), the HFS wrapper of old Macs
//! (an HFS master directory block embedding an HFS+ volume), the catalog, extents overflow
//! and attributes B-trees (bounded descents and leaf walks, see [`btree`]), data forks of any
//! fragmentation, resource forks (listed as the stream `rsrc` in
//! [`Metadata::streams`](crate::fs::Metadata::streams), read as `file:rsrc`), hard links to
//! files (`iNode<N>` in the `HFS+ Private Data` folder) and to folders (`dir_<N>`), symbolic
//! links, names as stored (NFD, a stored `/` shown as `:`), lookups that also match the
//! NFC form and, on case-insensitive HFS+, any case; dates (seconds since 1904, UTC); BSD
//! owner, group, mode and flags; the Finder's invisible flag (`hidden`); and decmpfs
//! compression (zlib, LZVN, LZFSE, inline or in the resource fork, see
//! [`decmpfs`]).
//! Not supported: classic HFS without an embedded HFS+ volume (detected, reported as not
//! readable), replaying the journal, extended attributes other than `com.apple.decmpfs`
//! (not listed), decmpfs types other than 1, 3, 4, 7, 8, 11 and 12.

mod btree;
mod catalog;
mod fork;

use crate::device::DeviceRef;
use crate::error::{Error, ErrorKind, Result};
use crate::format::{Confidence, FormatDescriptor, Opener};
use crate::fs::apple_names;
use crate::fs::decmpfs;
use crate::fs::{
    DirEntry, FileExtent, FileSystem, FileType, FsEntry, FsVolume, Metadata, NamedStream, NodeId,
    Usage,
};
use crate::io::{BlockCache, ReadAt};
use crate::time::Timestamp;
use btree::{BTree, Loc};
use catalog::{CatalogKey, CatalogRecord, cmp_parent};
use fork::{Blocks, Fork, ForkData};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// Format name used in errors.
pub const FORMAT: &str = "hfsplus";
/// Entries of one folder listed at most.
pub const MAX_DIR_ENTRIES: usize = 1 << 20;
/// Largest symbolic link target read.
const MAX_LINK: u64 = 4096;
/// Largest extended attribute read.
const MAX_XATTR: u64 = 1 << 20;
/// Records of one file's attributes or extents scanned at most.
const MAX_KEY_RECORDS: usize = 1 << 16;
/// Bytes of metadata cached.
const META_CACHE: u64 = 8 * 1024 * 1024;
/// Node-id bit of a resource fork stream.
const RSRC_BIT: u64 = 1 << 62;
/// Seconds from 1904-01-01 to 1970-01-01.
const HFS_EPOCH: i64 = 2_082_844_800;

/// CNIDs of TN1150.
const ROOT_PARENT_ID: u32 = 1;
const ROOT_FOLDER_ID: u32 = 2;
const EXTENTS_FILE_ID: u32 = 3;
const ALLOCATION_FILE_ID: u32 = 6;
const CATALOG_FILE_ID: u32 = 4;
const ATTRIBUTES_FILE_ID: u32 = 8;

/// Name of the folder holding file hard-link inodes (four NULs first).
const FILE_LINKS_DIR: &str = "\0\0\0\0HFS+ Private Data";
/// Name of the folder holding folder hard-link inodes.
const DIR_LINKS_DIR: &str = ".HFS+ Private Directory Data\r";
/// `fdType`/`fdCreator` of a file hard link: `hlnk`/`hfs+`.
const HARD_LINK: (u32, u32) = (0x686C_6E6B, 0x6866_732B);
/// `fdType`/`fdCreator` of a folder hard link: `fdrp`/`MACS`.
const DIR_LINK: (u32, u32) = (0x6664_7270, 0x4D41_4353);
/// `UF_COMPRESSED`.
const UF_COMPRESSED: u8 = 0x20;
/// Finder flag `kIsInvisible`.
const FINDER_INVISIBLE: u16 = 0x4000;
/// `keyCompareType` of a case-sensitive (binary) catalog.
const BINARY_COMPARE: u8 = 0xBC;

/// The registry entry.
pub static DESCRIPTOR: FormatDescriptor = FormatDescriptor {
    create: None,
    check: None,
    name: FORMAT,
    description: "HFS+/HFSX file system (and the HFS wrapper around it)",
    extensions: &["hfs", "hfsx"],
    probe: |p| match p.head.get(1024..1026) {
        Some(b"H+") | Some(b"HX") => Confidence::CERTAIN,
        // An HFS master directory block: its allocation block size must be a multiple of 512.
        Some(b"BD") => match p.head.get(1044..1048) {
            Some(&[a, b, c, d]) => {
                let size = u32::from_be_bytes([a, b, c, d]);
                if size != 0 && size % 512 == 0 {
                    Confidence::LIKELY
                } else {
                    Confidence::NONE
                }
            }
            _ => Confidence::NONE,
        },
        _ => Confidence::NONE,
    },
    opener: Opener::FileSystem(open_volume),
};

/// Opens the HFS+ volume on `dev` (or inside the HFS wrapper on it).
pub fn open_volume(dev: &DeviceRef) -> Result<FsVolume> {
    let mut mdb = [0u8; 512];
    dev.read_exact_at(1024, &mut mdb)?;
    let mut start = 0u64;
    let mut wrapper = false;
    if &mdb[0..2] == b"BD" {
        if &mdb[124..126] != b"H+" {
            let name_len = usize::from(mdb[36]).min(27);
            let label: String = mdb[37..37 + name_len]
                .iter()
                .map(|&c| char::from(c))
                .collect();
            return Ok(FsVolume {
                file_systems: vec![FsEntry {
                    kind: "hfs",
                    label: Some(label),
                    fs: None,
                    details: serde_json::json!({}),
                    note: Some(
                        "classic HFS volumes (without HFS+ inside) are not supported".into(),
                    ),
                }],
                ..FsVolume::default()
            });
        }
        let al_blk_size = u64::from(u32::from_be_bytes([mdb[20], mdb[21], mdb[22], mdb[23]]));
        let al_bl_st = u64::from(u16::from_be_bytes([mdb[28], mdb[29]]));
        let embed_start = u64::from(u16::from_be_bytes([mdb[126], mdb[127]]));
        if al_blk_size == 0 || al_blk_size % 512 != 0 {
            return Err(Error::corrupt(
                FORMAT,
                "HFS wrapper",
                1024,
                "allocation block size is not a multiple of 512",
            ));
        }
        start = al_bl_st * 512 + embed_start * al_blk_size;
        wrapper = true;
    }
    let fs = HfsFs::open(dev.clone(), start, wrapper)?;
    let mut warnings = Vec::new();
    let end = fs.blocks.start + fs.blocks.count * fs.blocks.size;
    if end > dev.size() {
        warnings.push(format!(
            "the HFS+ volume ends at byte {end}, past the end of the device ({} bytes)",
            dev.size()
        ));
    }
    Ok(FsVolume {
        file_systems: vec![FsEntry {
            kind: fs.kind(),
            label: fs.label(),
            details: fs.details.clone(),
            fs: Some(Arc::new(fs)),
            note: None,
        }],
        boot: None,
        warnings,
    })
}

/// An HFS+ or HFSX volume as a [`FileSystem`]. A node id is the place of the node's catalog
/// record (leaf node number << 16 | record index), with bit 62 set for its resource fork.
pub struct HfsFs {
    dev: DeviceRef,
    io: BlockCache<DeviceRef>,
    blocks: Blocks,
    hfsx: bool,
    case_sensitive: bool,
    free_blocks: u64,
    /// The allocation file (one bit per allocation block), read only for `allocation_map`;
    /// `None` when its extents cannot be mapped (the volume still opens).
    allocation: Option<Fork>,
    extents: BTree,
    catalog: BTree,
    attributes: Option<BTree>,
    root: NodeId,
    label: Option<String>,
    details: serde_json::Value,
    file_links: OnceLock<HashMap<u32, NodeId>>,
    dir_links: OnceLock<HashMap<u32, NodeId>>,
    decmpfs_cache: decmpfs::Cache,
}

fn hfs_time(t: u32) -> Option<Timestamp> {
    (t != 0).then(|| Timestamp::from_secs(i64::from(t) - HFS_EPOCH))
}

fn loc_of(node: NodeId) -> Loc {
    (((node & !RSRC_BIT) >> 16) as u32, node as u16)
}

fn node_of(loc: Loc) -> NodeId {
    (u64::from(loc.0) << 16) | u64::from(loc.1)
}

impl HfsFs {
    /// Reads the volume header at `start + 1024` and opens the B-trees.
    pub fn open(dev: DeviceRef, start: u64, wrapper: bool) -> Result<Self> {
        let io = BlockCache::new(dev.clone(), 4096, META_CACHE);
        let at = start + 1024;
        let mut vh = [0u8; 512];
        io.read_exact_at(at, &mut vh)
            .map_err(|e| e.with_format(FORMAT).with_structure("volume header"))?;
        let bad = |msg: &str| Error::corrupt(FORMAT, "volume header", at, msg.to_owned());
        let hfsx = match &vh[0..2] {
            b"H+" => false,
            b"HX" => true,
            _ => return Err(bad("no H+ or HX signature")),
        };
        let be32 = |o: usize| u32::from_be_bytes([vh[o], vh[o + 1], vh[o + 2], vh[o + 3]]);
        let block_size = u64::from(be32(40));
        if !block_size.is_power_of_two() || block_size < 512 {
            return Err(bad(
                "allocation block size is not a power of two of at least 512",
            ));
        }
        let blocks = Blocks {
            start,
            size: block_size,
            count: u64::from(be32(44)),
        };
        let fork_data = |o: usize| ForkData::parse(&vh[o..o + 80]).ok_or_else(|| bad("short"));
        let mut ext_fork = Fork {
            logical_size: fork_data(192)?.logical_size,
            ..Fork::default()
        };
        ext_fork.push_extents(&blocks, &fork_data(192)?.extents, at)?;
        let extents = BTree::open(&io, ext_fork, "extents overflow B-tree")?;
        let catalog_fork = build_fork(
            &io,
            &blocks,
            Some(&extents),
            CATALOG_FILE_ID,
            0,
            &fork_data(272)?,
        )?;
        let catalog = BTree::open(&io, catalog_fork, "catalog B-tree")?;
        let attr_data = fork_data(352)?;
        let attributes = if attr_data.logical_size > 0 {
            let f = build_fork(
                &io,
                &blocks,
                Some(&extents),
                ATTRIBUTES_FILE_ID,
                0,
                &attr_data,
            )?;
            Some(BTree::open(&io, f, "attributes B-tree")?)
        } else {
            None
        };
        let allocation = build_fork(
            &io,
            &blocks,
            Some(&extents),
            ALLOCATION_FILE_ID,
            0,
            &fork_data(112)?,
        )
        .ok();
        let case_sensitive = hfsx && catalog.key_compare == BINARY_COMPARE;
        let mut fs = HfsFs {
            dev,
            io,
            blocks,
            hfsx,
            case_sensitive,
            free_blocks: u64::from(be32(48)),
            allocation,
            extents,
            catalog,
            attributes,
            root: 0,
            label: None,
            details: serde_json::Value::Null,
            file_links: OnceLock::new(),
            dir_links: OnceLock::new(),
            decmpfs_cache: decmpfs::Cache::default(),
        };
        let (root, name) = fs.find_root()?;
        fs.root = root;
        fs.label = (!name.is_empty()).then_some(name);
        fs.details = serde_json::json!({
            "signature": if hfsx { "HX" } else { "H+" },
            "version": u16::from_be_bytes([vh[2], vh[3]]),
            "block_size": block_size,
            "case_sensitive": case_sensitive,
            "journaled": be32(4) & (1 << 13) != 0,
            "hfs_wrapper": wrapper,
            "file_count": be32(32),
            "folder_count": be32(36),
        });
        Ok(fs)
    }

    /// The root folder's record: the only child of the root's parent (CNID 1).
    fn find_root(&self) -> Result<(NodeId, String)> {
        let not_found = || {
            Error::corrupt(
                FORMAT,
                "catalog B-tree",
                0,
                "the root folder (CNID 2) is missing",
            )
        };
        let loc = self
            .catalog
            .find(&self.io, &|k| cmp_parent(k, ROOT_PARENT_ID))?
            .ok_or_else(not_found)?;
        let (key, rec) = self.record_at(loc)?;
        let rec = rec.ok_or_else(not_found)?;
        if key.parent != ROOT_PARENT_ID || rec.id != ROOT_FOLDER_ID || !rec.is_folder() {
            return Err(not_found());
        }
        Ok((node_of(loc), key.display_name()))
    }

    fn kind(&self) -> &'static str {
        if self.hfsx { "hfsx" } else { FORMAT }
    }

    /// The key and (folder or file) record at `loc`.
    fn record_at(&self, loc: Loc) -> Result<(CatalogKey, Option<CatalogRecord>)> {
        let node = self.catalog.node(&self.io, loc.0)?;
        if loc.1 >= node.count() {
            return Err(Error::not_found("no such node"));
        }
        let (k, d) = node.leaf_record(loc.1)?;
        let key = CatalogKey::parse(k).ok_or_else(|| {
            Error::corrupt(FORMAT, "catalog key", node.offset(), "key is cut short")
        })?;
        Ok((key, CatalogRecord::parse(d)))
    }

    /// The folder or file record of node `node`.
    fn record(&self, node: NodeId) -> Result<(CatalogKey, CatalogRecord)> {
        let (key, rec) = self.record_at(loc_of(node))?;
        let rec = rec.ok_or_else(|| Error::not_found("no such node"))?;
        Ok((key, rec))
    }

    /// Calls `f` with every catalog record whose parent is `parent`, in key order.
    fn children(
        &self,
        parent: u32,
        mut f: impl FnMut(Loc, CatalogKey, Option<CatalogRecord>) -> Result<bool>,
    ) -> Result<()> {
        let Some(mut loc) = self.catalog.find(&self.io, &|k| cmp_parent(k, parent))? else {
            return Ok(());
        };
        let mut seen = 0usize;
        let mut node = self.catalog.node(&self.io, loc.0)?;
        loop {
            if node.number != loc.0 {
                node = self.catalog.node(&self.io, loc.0)?;
            }
            let (k, d) = node.leaf_record(loc.1)?;
            let key = CatalogKey::parse(k).ok_or_else(|| {
                Error::corrupt(FORMAT, "catalog key", node.offset(), "key is cut short")
            })?;
            if key.parent != parent {
                return Ok(());
            }
            seen += 1;
            if seen > MAX_DIR_ENTRIES {
                return Err(Error::limit(
                    FORMAT,
                    "catalog B-tree",
                    node.offset(),
                    format!("folder {parent} has more than {MAX_DIR_ENTRIES} entries"),
                ));
            }
            if !f(loc, key, CatalogRecord::parse(d))? {
                return Ok(());
            }
            match self.catalog.next(&self.io, &node, loc.1)? {
                Some(next) => loc = next,
                None => return Ok(()),
            }
        }
    }

    /// Map from hard-link inode number to the inode's node, for files (`iNode<N>`) or folders
    /// (`dir_<N>`).
    fn link_map(&self, folder: &str, prefix: &str) -> Result<HashMap<u32, NodeId>> {
        let root_id = ROOT_FOLDER_ID;
        let mut private = None;
        self.children(root_id, |_, key, rec| {
            if key.display_name() == folder {
                private = rec.filter(CatalogRecord::is_folder).map(|r| r.id);
                return Ok(false);
            }
            Ok(true)
        })?;
        let mut map = HashMap::new();
        if let Some(id) = private {
            self.children(id, |loc, key, rec| {
                if rec.is_some() {
                    if let Some(n) = key.display_name().strip_prefix(prefix) {
                        if let Ok(n) = n.parse::<u32>() {
                            map.insert(n, node_of(loc));
                        }
                    }
                }
                Ok(true)
            })?;
        }
        Ok(map)
    }

    /// The node a directory entry stands for: the inode of a hard link, else itself.
    fn resolve_link(&self, loc: Loc, rec: &CatalogRecord) -> Result<NodeId> {
        if rec.is_folder() {
            return Ok(node_of(loc));
        }
        let (cell, folder, prefix) = match rec.type_creator {
            HARD_LINK => (&self.file_links, FILE_LINKS_DIR, "iNode"),
            DIR_LINK => (&self.dir_links, DIR_LINKS_DIR, "dir_"),
            _ => return Ok(node_of(loc)),
        };
        let map = match cell.get() {
            Some(m) => m,
            None => {
                let m = self.link_map(folder, prefix)?;
                cell.get_or_init(|| m)
            }
        };
        Ok(map.get(&rec.bsd.special).copied().unwrap_or(node_of(loc)))
    }

    fn file_type(rec: &CatalogRecord) -> FileType {
        if rec.is_folder() {
            return FileType::Directory;
        }
        FileType::from_mode(u32::from(rec.bsd.mode))
            .filter(|t| *t != FileType::Directory)
            .unwrap_or(FileType::File)
    }

    fn is_compressed(rec: &CatalogRecord) -> bool {
        !rec.is_folder() && rec.bsd.owner_flags & UF_COMPRESSED != 0
    }

    /// The value of extended attribute `name` of file `id`.
    fn xattr(&self, id: u32, name: &str) -> Result<Option<Vec<u8>>> {
        let Some(tree) = &self.attributes else {
            return Ok(None);
        };
        let want: Vec<u16> = name.encode_utf16().collect();
        let target = |k: &[u8]| -> Ordering {
            let Some(file) = k.get(2..6) else {
                return Ordering::Less;
            };
            let name_len = k
                .get(10..12)
                .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
            u32::from_be_bytes([file[0], file[1], file[2], file[3]])
                .cmp(&id)
                .then(if name_len == 0 {
                    Ordering::Equal
                } else {
                    Ordering::Greater
                })
        };
        let Some(mut loc) = tree.find(&self.io, &target)? else {
            return Ok(None);
        };
        for _ in 0..MAX_KEY_RECORDS {
            let node = tree.node(&self.io, loc.0)?;
            let (k, d) = node.leaf_record(loc.1)?;
            if k.len() < 12 || u32::from_be_bytes([k[2], k[3], k[4], k[5]]) != id {
                return Ok(None);
            }
            let len = usize::from(u16::from_be_bytes([k[10], k[11]]));
            let units: Vec<u16> = k
                .get(12..12 + len * 2)
                .unwrap_or(&[])
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            if units == want {
                return self.attribute_value(d, node.offset(), id).map(Some);
            }
            match tree.next(&self.io, &node, loc.1)? {
                Some(next) => loc = next,
                None => return Ok(None),
            }
        }
        Ok(None)
    }

    /// The bytes of an attribute record: inline data (0x10) or a fork (0x20).
    fn attribute_value(&self, d: &[u8], at: u64, id: u32) -> Result<Vec<u8>> {
        let bad = |msg: &str| Error::corrupt(FORMAT, "attribute record", at, msg.to_owned());
        let kind = d
            .get(..4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        match kind {
            Some(0x10) => {
                let size = d
                    .get(12..16)
                    .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
                    .ok_or_else(|| bad("cut short"))?;
                d.get(16..16 + size)
                    .map(<[u8]>::to_vec)
                    .ok_or_else(|| bad("inline data runs past the record"))
            }
            Some(0x20) => {
                let fd =
                    ForkData::parse(d.get(8..).unwrap_or(&[])).ok_or_else(|| bad("cut short"))?;
                if fd.logical_size > MAX_XATTR {
                    return Err(Error::limit(
                        FORMAT,
                        "attribute record",
                        at,
                        "attribute over 1 MiB",
                    ));
                }
                let f = build_fork(&self.io, &self.blocks, Some(&self.extents), id, 0, &fd)?;
                let mut buf = vec![0u8; fd.logical_size as usize];
                f.read_exact(&self.io, 0, &mut buf, "attribute fork")?;
                Ok(buf)
            }
            _ => Err(bad("unknown attribute record type")),
        }
    }

    fn decmpfs_header(&self, rec: &CatalogRecord) -> Result<(decmpfs::Header, Vec<u8>)> {
        let attr = self.xattr(rec.id, "com.apple.decmpfs")?.ok_or_else(|| {
            Error::corrupt(
                FORMAT,
                "catalog record",
                0,
                format!(
                    "file {} is flagged compressed but has no com.apple.decmpfs",
                    rec.id
                ),
            )
        })?;
        let h = decmpfs::Header::parse(&attr, 0)?;
        Ok((h, attr))
    }

    fn read_compressed(
        &self,
        node: NodeId,
        rec: &CatalogRecord,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize> {
        let (h, attr) = self.decmpfs_header(rec)?;
        let fork;
        let rsrc = if h.in_resource_fork {
            fork = RsrcFork {
                io: &self.io,
                fork: self.data_fork(rec, true)?,
            };
            Some(&fork as &dyn decmpfs::ResourceFork)
        } else {
            None
        };
        decmpfs::read_at(&h, &attr, rsrc, &self.decmpfs_cache, node, offset, buf)
    }

    fn data_fork(&self, rec: &CatalogRecord, rsrc: bool) -> Result<Fork> {
        if rsrc {
            build_fork(
                &self.io,
                &self.blocks,
                Some(&self.extents),
                rec.id,
                0xFF,
                &rec.rsrc,
            )
        } else {
            build_fork(
                &self.io,
                &self.blocks,
                Some(&self.extents),
                rec.id,
                0,
                &rec.data,
            )
        }
    }

    fn metadata_of(&self, node: NodeId) -> Result<Metadata> {
        let (key, rec) = self.record(node)?;
        if node & RSRC_BIT != 0 {
            let mut m = Metadata::new(FileType::File, rec.rsrc.logical_size, node);
            m.mode = Some(0o644);
            return Ok(m);
        }
        let file_type = Self::file_type(&rec);
        let compressed = Self::is_compressed(&rec);
        let size = match file_type {
            FileType::Directory => 0,
            _ if compressed => self.decmpfs_header(&rec)?.0.size,
            _ => rec.data.logical_size,
        };
        let mut m = Metadata::new(file_type, size, u64::from(rec.id));
        let has_bsd = rec.bsd.mode & 0o170000 != 0;
        m.mode = Some(if has_bsd {
            u32::from(rec.bsd.mode) & 0o7777
        } else if file_type == FileType::Directory {
            0o755
        } else {
            0o644
        });
        if has_bsd {
            m.uid = Some(rec.bsd.owner);
            m.gid = Some(rec.bsd.group);
        }
        if !rec.is_folder() {
            let inode = key.display_name().starts_with("iNode");
            m.nlink = Some(if inode { rec.bsd.special.max(1) } else { 1 });
        }
        if matches!(file_type, FileType::CharDevice | FileType::BlockDevice) {
            let dev = rec.bsd.special;
            m.rdev = Some((dev >> 24, dev & 0x00FF_FFFF));
        }
        let [created, modified, changed, accessed] = rec.dates;
        m.mtime = hfs_time(modified);
        m.atime = hfs_time(accessed);
        m.ctime = hfs_time(changed);
        m.btime = hfs_time(created);
        m.flags = flags(&rec);
        if !compressed && rec.rsrc.logical_size > 0 {
            m.streams.push(NamedStream {
                name: "rsrc".into(),
                size: rec.rsrc.logical_size,
            });
        }
        Ok(m)
    }

    fn list(&self, dir: NodeId) -> Result<Vec<DirEntry>> {
        let (_, rec) = self.record(dir)?;
        if !rec.is_folder() || dir & RSRC_BIT != 0 {
            return Err(Error::invalid_input("not a directory"));
        }
        let is_root = rec.id == ROOT_FOLDER_ID;
        let mut out = Vec::new();
        self.children(rec.id, |loc, key, child| {
            let Some(child) = child else { return Ok(true) };
            let name = key.display_name();
            if is_root && (name == FILE_LINKS_DIR || name == DIR_LINKS_DIR) {
                return Ok(true);
            }
            let node = self.resolve_link(loc, &child)?;
            let file_type = if node == node_of(loc) {
                Self::file_type(&child)
            } else {
                Self::file_type(&self.record(node)?.1)
            };
            out.push(DirEntry {
                name,
                node,
                file_type,
            });
            Ok(true)
        })?;
        Ok(out)
    }
}

/// A resource fork as decmpfs reads it.
struct RsrcFork<'a> {
    io: &'a BlockCache<DeviceRef>,
    fork: Fork,
}

impl decmpfs::ResourceFork for RsrcFork<'_> {
    fn size(&self) -> u64 {
        self.fork.logical_size
    }

    fn read_exact(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.fork
            .read_exact(self.io, offset, buf, "decmpfs resource fork")
    }

    fn device_offset(&self, offset: u64) -> u64 {
        self.fork.device_offset(offset).unwrap_or(0)
    }
}

/// Builds a fork from its catalog data, adding overflow extents when the inline eight do not
/// hold `totalBlocks`.
fn build_fork(
    dev: &dyn ReadAt,
    blocks: &Blocks,
    extents: Option<&BTree>,
    id: u32,
    fork_type: u8,
    fd: &ForkData,
) -> Result<Fork> {
    let mut fork = Fork {
        logical_size: fd.logical_size,
        extents: Vec::new(),
    };
    fork.push_extents(blocks, &fd.extents, 0)?;
    let mut have = fd.inline_blocks();
    let total = u64::from(fd.total_blocks);
    let Some(tree) = extents.filter(|_| have < total && id != EXTENTS_FILE_ID) else {
        return Ok(fork);
    };
    let key_of = |k: &[u8]| -> Option<(u32, u8, u32)> {
        let k = k.get(..10)?;
        Some((
            u32::from_be_bytes([k[2], k[3], k[4], k[5]]),
            k[0],
            u32::from_be_bytes([k[6], k[7], k[8], k[9]]),
        ))
    };
    let start = u32::try_from(have).unwrap_or(u32::MAX);
    let target = (id, fork_type, start);
    let cmp = |k: &[u8]| key_of(k).map_or(Ordering::Less, |key| key.cmp(&target));
    let mut loc = tree.find(dev, &cmp)?;
    let mut records = 0usize;
    while let Some(l) = loc {
        if have >= total {
            break;
        }
        records += 1;
        if records > MAX_KEY_RECORDS {
            return Err(Error::limit(
                FORMAT,
                "extents overflow B-tree",
                0,
                "too many extent records",
            ));
        }
        let node = tree.node(dev, l.0)?;
        let (k, d) = node.leaf_record(l.1)?;
        match key_of(k) {
            Some((kid, kt, kstart)) if kid == id && kt == fork_type => {
                if u64::from(kstart) != have {
                    return Err(Error::corrupt(
                        FORMAT,
                        "extents overflow B-tree",
                        node.offset(),
                        format!("extent record starts at block {kstart}, {have} expected"),
                    ));
                }
                let ext: Vec<(u32, u32)> = d
                    .get(..64)
                    .unwrap_or(&[])
                    .chunks_exact(8)
                    .map(|e| {
                        (
                            u32::from_be_bytes([e[0], e[1], e[2], e[3]]),
                            u32::from_be_bytes([e[4], e[5], e[6], e[7]]),
                        )
                    })
                    .collect();
                let added: u64 = ext.iter().map(|e| u64::from(e.1)).sum();
                if added == 0 {
                    break;
                }
                fork.push_extents(blocks, &ext, node.offset())?;
                have += added;
            }
            _ => break,
        }
        loc = tree.next(dev, &node, l.1)?;
    }
    Ok(fork)
}

/// BSD and Finder flags to flag names.
fn flags(rec: &CatalogRecord) -> Vec<&'static str> {
    let o = rec.bsd.owner_flags;
    let a = rec.bsd.admin_flags;
    let mut out = Vec::new();
    for (set, name) in [
        (o & 0x01 != 0, "nodump"),
        (o & 0x02 != 0 || a & 0x02 != 0, "immutable"),
        (o & 0x04 != 0 || a & 0x04 != 0, "append"),
        (o & 0x08 != 0, "opaque"),
        (o & UF_COMPRESSED != 0, "compressed"),
        (a & 0x01 != 0, "archive"),
        (rec.finder_flags & FINDER_INVISIBLE != 0, "hidden"),
    ] {
        if set {
            out.push(name);
        }
    }
    out
}

impl FileSystem for HfsFs {
    fn kind(&self) -> &'static str {
        HfsFs::kind(self)
    }

    fn label(&self) -> Option<String> {
        self.label.clone()
    }

    fn root(&self) -> NodeId {
        self.root
    }

    fn metadata(&self, node: NodeId) -> Result<Metadata> {
        self.metadata_of(node)
    }

    fn read_dir(&self, dir: NodeId) -> Result<Vec<DirEntry>> {
        self.list(dir)
    }

    fn lookup(&self, dir: NodeId, name: &str) -> Result<Option<NodeId>> {
        let entries = self.list(dir)?;
        apple_names::lookup(&entries, name, !self.case_sensitive, RSRC_BIT, |_| Ok(true))
    }

    fn read_at(&self, node: NodeId, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let (_, rec) = self.record(node)?;
        if rec.is_folder() {
            return Err(Error::invalid_input("is a directory"));
        }
        let rsrc = node & RSRC_BIT != 0;
        if !rsrc && Self::is_compressed(&rec) {
            return self.read_compressed(node, &rec, offset, buf);
        }
        self.data_fork(&rec, rsrc)?.read(&self.io, offset, buf)
    }

    fn read_link(&self, node: NodeId) -> Result<String> {
        let (_, rec) = self.record(node)?;
        if Self::file_type(&rec) != FileType::Symlink {
            return Err(Error::invalid_input("not a symbolic link"));
        }
        let size = rec.data.logical_size;
        if size > MAX_LINK {
            return Err(Error::limit(
                FORMAT,
                "symbolic link",
                0,
                "target over 4 KiB",
            ));
        }
        let mut buf = vec![0u8; size as usize];
        let n = self.data_fork(&rec, false)?.read(&self.io, 0, &mut buf)?;
        buf.truncate(n);
        String::from_utf8(buf).map_err(|_| {
            Error::new(ErrorKind::Corrupt, "symbolic link target is not UTF-8").with_format(FORMAT)
        })
    }

    fn file_extents(&self, node: NodeId) -> Result<Option<Vec<FileExtent>>> {
        let (_, rec) = self.record(node)?;
        let rsrc = node & RSRC_BIT != 0;
        if rec.is_folder() || (!rsrc && Self::is_compressed(&rec)) {
            return Ok(None);
        }
        let fork = self.data_fork(&rec, rsrc)?;
        let mut out = Vec::new();
        let mut pos = 0u64;
        for &(dev, len) in &fork.extents {
            if pos >= fork.logical_size {
                break;
            }
            let n = len.min(fork.logical_size - pos);
            out.push(FileExtent {
                file_offset: pos,
                len: n,
                device_offset: Some(dev),
            });
            pos += n;
        }
        if pos < fork.logical_size {
            return Err(Error::corrupt(
                FORMAT,
                "fork",
                0,
                "the fork's extents hold less than its size",
            ));
        }
        Ok(Some(out))
    }

    fn device(&self) -> &DeviceRef {
        &self.dev
    }

    fn usage(&self) -> Option<Usage> {
        Some(Usage {
            total: self.blocks.count * self.blocks.size,
            used: self.blocks.count.saturating_sub(self.free_blocks) * self.blocks.size,
        })
    }

    fn allocation_map(&self) -> Option<&dyn crate::fs::AllocationMap> {
        self.allocation
            .as_ref()
            .map(|_| self as &dyn crate::fs::AllocationMap)
    }
}

/// Allocation blocks whose bit is set in the allocation file (bit 7 of byte 0 is block 0),
/// plus the boot blocks and volume header (and an HFS wrapper before them), the alternate
/// volume header, and the device's last KiB.
impl crate::fs::AllocationMap for HfsFs {
    fn allocated_ranges(&self) -> Result<Vec<(u64, u64)>> {
        let b = self.blocks;
        let volume_end = b.start.saturating_add(b.count.saturating_mul(b.size));
        let mut used = crate::fs::used::RangeSet::with_gap(crate::fs::used::MERGE_GAP);
        let mut add = |offset: u64, len: u64| used.add(offset, len);
        add(0, b.start + 1536);
        let Some(allocation) = &self.allocation else {
            return Ok(vec![(0, self.dev.size())]);
        };
        let mut buf = vec![0u8; 1 << 20];
        let mut block = 0u64;
        while block < b.count {
            let n = allocation.read(&self.io, block / 8, &mut buf)?;
            if n == 0 {
                break;
            }
            for &byte in &buf[..n] {
                if byte != 0 {
                    for i in 0..8 {
                        if byte & (0x80 >> i) != 0 && block + i < b.count {
                            add(b.start + (block + i) * b.size, b.size);
                        }
                    }
                }
                block += 8;
                if block >= b.count {
                    break;
                }
            }
        }
        // The alternate volume header, and the last KiB of the device (an HFS wrapper's
        // alternate master directory block); the slack between them belongs to no volume.
        let dev = self.dev.size();
        let alternate = volume_end.saturating_sub(1024).min(dev);
        add(alternate, volume_end.min(dev) - alternate);
        let tail = dev.saturating_sub(1024).max(volume_end.min(dev));
        add(tail, dev - tail);
        Ok(used.into_vec())
    }
}
