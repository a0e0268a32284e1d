//! ISO 9660 (ECMA-119, 4th edition) with its extensions, read-only.
//!
//! Supported: interchange levels 1-3 and ISO 9660:1999 (enhanced volume descriptor),
//! multi-extent files (over 4 GiB), interleaved files, extended attribute records (skipped),
//! Joliet (UCS-2 levels 1-3, long names), Rock Ridge over SUSP (NM, PX, PN, TF, SL, CE
//! continuation areas, CL/PL/RE deep-directory relocation), zisofs-compressed files (ZF, zlib),
//! El Torito boot catalogs (initial and section entries, all platforms), multisession images
//! (the newest session is read; all are listed), and 512/1024/2048-byte logical blocks.
//! Not supported: zisofs2 with algorithms other than zlib (reported as unsupported), Apple
//! extensions (resource forks in associated files are skipped), writing (see the ISO writer).
//!
//! Nodes are addressed by the byte offset of the directory record that names them (the root by
//! its `.` record), so nothing about the tree is held in memory between calls; structure reads
//! go through a small block cache.

mod bytes;
mod descriptor;
mod eltorito;
mod node;
mod record;
mod rock_ridge;
mod susp;
mod volume;
mod zisofs;

pub use descriptor::Session;
pub use eltorito::{BootCatalog, BootEntry};
pub use volume::{DESCRIPTOR, open_volume};

use crate::device::DeviceRef;
use crate::error::Result;
use crate::fs::{DirEntry, FileExtent, FileSystem, Metadata, NodeId, Usage};
use crate::io::{BlockCache, ReadAt};
use std::sync::{Arc, Mutex};

/// Helpers for tests elsewhere in the crate (the ISO writer checks its entries with this reader).
#[cfg(test)]
pub(crate) mod testing {
    /// The Rock Ridge facts of a system use area.
    pub(crate) fn parse_rock_ridge(su: &[u8]) -> super::rock_ridge::RockRidge {
        let mut entries = Vec::new();
        super::susp::parse_area(su, &mut entries);
        super::rock_ridge::RockRidge::from_entries(&entries)
    }

    /// The El Torito catalog at sector `lba`.
    pub(crate) fn read_catalog(
        dev: &dyn crate::io::ReadAt,
        lba: u32,
    ) -> crate::Result<super::BootCatalog> {
        super::eltorito::read_catalog(dev, lba)
    }
}

/// Format name used in errors and `info`.
pub const FORMAT: &str = "iso9660";
/// Size of a CD/DVD sector; descriptors are addressed in these.
pub(crate) const SECTOR: u64 = 2048;
/// Bytes of directory structure cached per open tree.
const META_CACHE: u64 = 4 * 1024 * 1024;
/// Decompressed zisofs blocks kept for small reads.
const ZISOFS_CACHE_BLOCKS: usize = 8;

/// Which of the trees on an ISO 9660 volume a view shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace {
    /// The primary (or enhanced) tree with its 8.3 / ISO names.
    Iso9660,
    /// The Joliet tree: UCS-2 names up to 103 characters.
    Joliet,
    /// The primary tree with Rock Ridge names, modes, times and links.
    RockRidge,
}

impl Namespace {
    /// The name used by `--namespace` and `info`.
    pub fn name(self) -> &'static str {
        match self {
            Namespace::Iso9660 => "iso9660",
            Namespace::Joliet => "joliet",
            Namespace::RockRidge => "rockridge",
        }
    }
}

/// One tree of an ISO 9660 volume as a [`FileSystem`].
pub struct IsoFs {
    namespace: Namespace,
    dev: DeviceRef,
    meta: BlockCache<DeviceRef>,
    block_size: u64,
    root: NodeId,
    volume_blocks: u64,
    /// SUSP LEN_SKP: bytes to skip at the start of each system use area.
    su_skip: usize,
    label: String,
    /// The relocation directory (`rr_moved`), hidden from the Rock Ridge tree.
    hidden_dir: Option<NodeId>,
    zcache: Mutex<Vec<ZisofsBlock>>,
}

/// A decompressed zisofs block: the file, the block number, the bytes.
type ZisofsBlock = (NodeId, u64, Arc<Vec<u8>>);

impl IsoFs {
    /// Reads structure bytes through the cache, naming `structure` on failure.
    fn meta_read(&self, offset: u64, buf: &mut [u8], structure: &'static str) -> Result<()> {
        self.meta.read_exact_at(offset, buf).map_err(|e| {
            e.with_format(FORMAT)
                .with_structure(structure)
                .with_offset(offset)
        })
    }

    /// Which tree this view shows.
    pub fn namespace(&self) -> Namespace {
        self.namespace
    }
}

impl FileSystem for IsoFs {
    fn kind(&self) -> &'static str {
        self.namespace.name()
    }

    fn label(&self) -> Option<String> {
        (!self.label.is_empty()).then(|| self.label.clone())
    }

    fn root(&self) -> NodeId {
        self.root
    }

    fn metadata(&self, node: NodeId) -> Result<Metadata> {
        Ok(self.node(node)?.metadata())
    }

    fn read_dir(&self, dir: NodeId) -> Result<Vec<DirEntry>> {
        self.list(dir)
    }

    fn read_at(&self, node: NodeId, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let n = self.node(node)?;
        self.read_node(&n, offset, buf)
    }

    fn read_link(&self, node: NodeId) -> Result<String> {
        self.node(node)?.link_target()
    }

    fn file_extents(&self, node: NodeId) -> Result<Option<Vec<FileExtent>>> {
        Ok(self.node(node)?.plain_extents())
    }

    fn device(&self) -> &DeviceRef {
        &self.dev
    }

    fn usage(&self) -> Option<Usage> {
        let total = self.volume_blocks * self.block_size;
        Some(Usage { total, used: total })
    }

    fn allocation_map(&self) -> Option<&dyn crate::fs::AllocationMap> {
        Some(self)
    }
}

/// A mastered volume has no free space: all of it, up to the recorded volume size, is used.
impl crate::fs::AllocationMap for IsoFs {
    fn allocated_ranges(&self) -> Result<Vec<(u64, u64)>> {
        let total = self.volume_blocks.saturating_mul(self.block_size);
        Ok(vec![(0, total.min(self.device().size()))])
    }
}
