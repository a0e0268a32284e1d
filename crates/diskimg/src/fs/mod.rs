//! L3: file systems, behind one small read-only trait.
//!
//! A [`FileSystem`] is inode-style: nodes are opaque [`NodeId`]s, directories are listed by
//! node, and file data is read with positioned reads on `&self`, so `ls`, `cat`, `extract` and
//! FUSE all serve from the same object concurrently. Paths are resolved by
//! [`FileSystemExt`](path::FileSystemExt), which every file system gets for free.
//!
//! Named streams (NTFS alternate data streams, the HFS+ resource fork) are listed in
//! [`Metadata::streams`] and never appear in [`FileSystem::read_dir`], so walks and extraction
//! see one file per name. They are read by name: [`FileSystem::lookup`] of `file:stream` in the
//! directory of `file` gives a node holding that stream's bytes (when no entry is named
//! `file:stream` itself), so `diskimg cat image /dir/file:stream` reads it.

pub mod apfs;
pub mod apple_names;
pub mod decmpfs;
pub mod exfat;
pub mod ext4;
pub mod fat;
pub mod hfsplus;
pub mod iso9660;
pub mod ntfs;
pub mod path;
pub mod squashfs;
pub mod udf;
pub mod used;

pub use path::{FileSystemExt, WalkEntry};

use crate::device::DeviceRef;
use crate::error::Result;
use crate::time::Timestamp;
use serde::Serialize;

/// Identifies a node within one open file system. Stable while the file system is open.
pub type NodeId = u64;

/// What kind of object a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileType {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link.
    Symlink,
    /// A character device node.
    CharDevice,
    /// A block device node.
    BlockDevice,
    /// A named pipe.
    Fifo,
    /// A socket.
    Socket,
}

impl FileType {
    /// The file-type bits of a POSIX mode.
    pub fn from_mode(mode: u32) -> Option<Self> {
        Some(match mode & 0o170000 {
            0o100000 => FileType::File,
            0o040000 => FileType::Directory,
            0o120000 => FileType::Symlink,
            0o020000 => FileType::CharDevice,
            0o060000 => FileType::BlockDevice,
            0o010000 => FileType::Fifo,
            0o140000 => FileType::Socket,
            _ => return None,
        })
    }

    /// The character `ls -l` shows for this type.
    pub fn ls_char(self) -> char {
        match self {
            FileType::File => '-',
            FileType::Directory => 'd',
            FileType::Symlink => 'l',
            FileType::CharDevice => 'c',
            FileType::BlockDevice => 'b',
            FileType::Fifo => 'p',
            FileType::Socket => 's',
        }
    }
}

/// What a file system records about a node. Fields a format lacks are `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Metadata {
    /// The node's type.
    #[serde(rename = "type")]
    pub file_type: FileType,
    /// Length of the file's data in bytes (0 for directories where the format has no size).
    pub size: u64,
    /// Permission bits (`0o7777` mask), where the format stores them.
    pub mode: Option<u32>,
    /// Owner.
    pub uid: Option<u32>,
    /// Group.
    pub gid: Option<u32>,
    /// Number of hard links.
    pub nlink: Option<u32>,
    /// File serial number, shared by hard links; unique per directory.
    pub ino: u64,
    /// Last modification.
    pub mtime: Option<Timestamp>,
    /// Last access.
    pub atime: Option<Timestamp>,
    /// Last attribute change.
    pub ctime: Option<Timestamp>,
    /// Creation.
    pub btime: Option<Timestamp>,
    /// Major and minor numbers of a device node.
    pub rdev: Option<(u32, u32)>,
    /// Attribute flags beyond the mode, by portable name: `readonly`, `hidden`, `system`,
    /// `archive`, `compressed`, `sparse`, `encrypted`, `reparse`, `immutable`, `append`,
    /// `nodump`, `opaque`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<&'static str>,
    /// Named streams besides the main data (NTFS alternate data streams, the HFS+ resource
    /// fork), readable as `path:name` (see the module documentation).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<NamedStream>,
}

/// A named stream of a file: an NTFS alternate data stream, the HFS+ resource fork.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamedStream {
    /// The stream's name (`rsrc` for a resource fork).
    pub name: String,
    /// Its length in bytes.
    pub size: u64,
}

impl Metadata {
    /// Empty metadata of a type; callers fill in what the format has.
    pub fn new(file_type: FileType, size: u64, ino: u64) -> Self {
        Metadata {
            file_type,
            size,
            mode: None,
            uid: None,
            gid: None,
            nlink: None,
            ino,
            mtime: None,
            atime: None,
            ctime: None,
            btime: None,
            rdev: None,
            flags: Vec::new(),
            streams: Vec::new(),
        }
    }

    /// Whether the node is a directory.
    pub fn is_dir(&self) -> bool {
        self.file_type == FileType::Directory
    }
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The name as the file system stores it (never `.` or `..`).
    pub name: String,
    /// The node it names.
    pub node: NodeId,
    /// Its type, known from the directory without reading the node.
    pub file_type: FileType,
}

/// Where a piece of a file's data lies on the file system's device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileExtent {
    /// Offset within the file.
    pub file_offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// Offset on the device, or `None` for a run that reads as zeros.
    pub device_offset: Option<u64>,
}

/// Space accounting, where the format records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Size of the file system in bytes.
    pub total: u64,
    /// Bytes in use.
    pub used: u64,
}

/// A mounted-style, read-only view of a file system.
pub trait FileSystem: Send + Sync {
    /// The type name used in `info` and `--namespace` (`iso9660`, `joliet`, `rockridge`, ...).
    fn kind(&self) -> &'static str;

    /// The volume label, if any.
    fn label(&self) -> Option<String>;

    /// The root directory.
    fn root(&self) -> NodeId;

    /// Metadata of a node.
    fn metadata(&self, node: NodeId) -> Result<Metadata>;

    /// The entries of a directory, without `.` and `..`, in on-disk order.
    fn read_dir(&self, dir: NodeId) -> Result<Vec<DirEntry>>;

    /// The node named `name` in `dir`.
    fn lookup(&self, dir: NodeId, name: &str) -> Result<Option<NodeId>> {
        Ok(self
            .read_dir(dir)?
            .into_iter()
            .find(|e| e.name == name)
            .map(|e| e.node))
    }

    /// Reads file data at `offset`; returns 0 at the end of the file.
    fn read_at(&self, node: NodeId, offset: u64, buf: &mut [u8]) -> Result<usize>;

    /// The target of a symbolic link.
    fn read_link(&self, node: NodeId) -> Result<String>;

    /// Where a file's bytes lie on [`device`](Self::device), when they are stored plainly
    /// (not compressed); lets copies go straight from the device.
    fn file_extents(&self, node: NodeId) -> Result<Option<Vec<FileExtent>>>;

    /// The device the file system lives on.
    fn device(&self) -> &DeviceRef;

    /// Total and used space, where known.
    fn usage(&self) -> Option<Usage> {
        None
    }

    /// The file system's map of which of its device's bytes are in use, for formats that
    /// keep one (a capability: see [`AllocationMap`]).
    fn allocation_map(&self) -> Option<&dyn AllocationMap> {
        None
    }
}

/// Capability of file systems that record which of their blocks are in use (a FAT, an ext
/// block bitmap, NTFS `$Bitmap`, the HFS+ allocation file). `diskimg image --used-only`
/// copies only these ranges. A file system offers it through
/// [`FileSystem::allocation_map`]; one without such a record simply does not.
pub trait AllocationMap {
    /// Byte ranges `(offset, len)` of the file system's device that hold live data or
    /// metadata, in order, not overlapping. Everything else may read as zeros in a copy.
    fn allocated_ranges(&self) -> Result<Vec<(u64, u64)>>;
}

/// One file-system view found on a device.
pub struct FsEntry {
    /// Type name, as [`FileSystem::kind`] (`iso9660`, `joliet`, `rockridge`, `udf`, ...).
    pub kind: &'static str,
    /// Volume label.
    pub label: Option<String>,
    /// The readable tree, or `None` when the format is only detected (see `note`).
    pub fs: Option<std::sync::Arc<dyn FileSystem>>,
    /// Format-specific facts for `info`.
    pub details: serde_json::Value,
    /// Why the tree cannot be read, when `fs` is `None`.
    pub note: Option<String>,
}

/// What a file-system opener found on a device: one or more views of the same data (an ISO
/// 9660 volume offers Rock Ridge, Joliet and plain trees), and boot records.
#[derive(Default)]
pub struct FsVolume {
    /// The views, richest first.
    pub file_systems: Vec<FsEntry>,
    /// El Torito boot catalog, if any.
    pub boot: Option<iso9660::BootCatalog>,
    /// Problems that did not stop the open.
    pub warnings: Vec<String>,
}
