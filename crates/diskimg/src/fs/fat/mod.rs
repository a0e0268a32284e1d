//! FAT12, FAT16 and FAT32 with VFAT long names, read-only (Microsoft FAT specification,
//! "Microsoft Extensible Firmware Initiative FAT32 File System Specification" 1.03, 2000).
//!
//! Supported: all three FAT types (chosen by cluster count), long names (UTF-16, checksum
//! checked; a broken run falls back to the 8.3 name as Windows does), 8.3 names in code page
//! 850 (see `names`) with the NT lower-case flags, the volume label (root entry, else boot sector), FAT32
//! active-FAT selection, times (see [`time`] for the time-zone assumption), the read-only
//! attribute as mode 0444, usage counted from the FAT, and `file_extents` from the cluster
//! chains so extraction copies straight from the device. Case-insensitive lookup, also by
//! short name. Not supported: writing, extended attributes of OS/2, deleted-file recovery.
//!
//! Our own reader rather than the `fatfs` crate (0.3.6, the newest release): its file system
//! object keeps the disk behind a `RefCell` (not `Sync`, so every read of every thread would
//! serialise behind one lock), it needs `Read + Write + Seek`, it addresses files by path only
//! (no stable node ids to serve FUSE), it offers no cluster map for direct copies, and its
//! cluster iterator follows a looping chain forever. FAT is small enough to own.
//!
//! A node id is the device offset of the file's short directory entry (the root is 0, which
//! is always the boot sector), so nothing about the tree is held in memory. A directory's
//! inode number is its first cluster, so the tree walk refuses a directory reached twice
//! (a loop or a cross-link); files get `2^32 + entry offset / 32`.

mod boot;
pub(crate) mod chain;
mod dir;
mod names;
mod table;
pub(crate) mod time;

use boot::FatBootSector;
pub use boot::FatType;

use self::chain::{Heap, RunCache};
use self::dir::{ATTR_DIRECTORY, ATTR_READ_ONLY, Listing, ShortEntry};
use self::table::Fat;
use crate::device::DeviceRef;
use crate::error::{Error, Result};
use crate::format::{Confidence, FormatDescriptor, Opener, ProbeInput};
use crate::fs::{
    DirEntry, FileExtent, FileSystem, FileType, FsEntry, FsVolume, Metadata, NodeId, Usage,
};
use crate::io::{BlockCache, ReadAt};
use serde_json::json;
use std::sync::{Arc, OnceLock};

/// Format name used in errors.
pub const FORMAT: &str = "fat";
/// The largest directory the specification allows: 65536 entries of 32 bytes.
pub const MAX_DIR_SIZE: u64 = 65536 * 32;
/// Bytes of FAT and directory data cached.
const META_CACHE: u64 = 4 * 1024 * 1024;
/// The root directory's node id.
const ROOT: NodeId = 0;

/// The registry entry.
pub static DESCRIPTOR: FormatDescriptor = FormatDescriptor {
    create: None,
    check: None,
    name: FORMAT,
    description: "FAT12/FAT16/FAT32 file system with long names",
    extensions: &["img", "ima", "vfd"],
    probe,
    opener: Opener::FileSystem(|dev| open_volume(dev.clone())),
};

fn probe(p: &ProbeInput<'_>) -> Confidence {
    let Some(b) = p.head.get(..512) else {
        return Confidence::NONE;
    };
    if FatBootSector::parse(b).is_err() {
        return Confidence::NONE;
    }
    match (b[510..512] == [0x55, 0xAA], boot::has_fat_type_string(b)) {
        (true, true) => Confidence::CERTAIN,
        (true, false) => Confidence::LIKELY,
        (false, _) => Confidence::WEAK,
    }
}

/// Opens the FAT volume at the start of `dev`.
pub fn open_volume(dev: DeviceRef) -> Result<FsVolume> {
    let fs = FatFs::open(dev)?;
    let mut warnings = Vec::new();
    if fs.boot.volume_size > fs.dev.size() {
        warnings.push(format!(
            "the FAT volume claims {} bytes but the device holds {}: files past the end cannot be read",
            fs.boot.volume_size,
            fs.dev.size()
        ));
    }
    let b = &fs.boot;
    let details = json!({
        "fat_type": b.fat_type.name(),
        "oem_name": b.oem_name,
        "serial": b.serial.map(|s| format!("{:04X}-{:04X}", s >> 16, s & 0xFFFF)),
        "bytes_per_sector": b.bytes_per_sector,
        "cluster_size": b.heap.cluster_size,
        "clusters": b.heap.count,
        "fats": b.fat_count,
    });
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

/// A FAT volume.
pub struct FatFs {
    dev: DeviceRef,
    meta: BlockCache<DeviceRef>,
    boot: FatBootSector,
    fat: Fat,
    label: Option<String>,
    runs: RunCache,
    usage: OnceLock<Option<Usage>>,
}

impl FatFs {
    /// Reads the boot sector and the root directory's label.
    pub fn open(dev: DeviceRef) -> Result<Self> {
        let mut sector = [0u8; 512];
        dev.read_exact_at(0, &mut sector)
            .map_err(|e| e.with_format(FORMAT).with_structure("boot sector"))?;
        let boot = FatBootSector::parse(&sector)?;
        let mut active = 0;
        if boot.fat_type == FatType::Fat32 {
            let ext_flags = u16::from_le_bytes([sector[40], sector[41]]);
            if ext_flags & 0x80 != 0 {
                active = u32::from(ext_flags & 0xF).min(boot.fat_count - 1);
            }
        }
        let fat = Fat::new(&boot, active);
        let mut fs = FatFs {
            meta: BlockCache::new(dev.clone(), 64 * 1024, META_CACHE),
            dev,
            label: boot.label.clone(),
            fat,
            boot,
            runs: RunCache::new(),
            usage: OnceLock::new(),
        };
        let root = fs.listing(ROOT)?;
        if root.label.is_some() {
            fs.label = root.label;
        }
        Ok(fs)
    }

    fn heap(&self) -> &Heap {
        &self.boot.heap
    }

    /// The short entry of a node other than the root.
    fn entry(&self, node: NodeId) -> Result<ShortEntry> {
        let mut e = [0u8; 32];
        self.meta
            .read_exact_at(node, &mut e)
            .map_err(|err| err.with_format(FORMAT).with_structure("directory entry"))?;
        if node
            < self
                .boot
                .heap
                .offset
                .min(self.boot.root_dir.map_or(u64::MAX, |r| r.0))
            || node % 32 != 0
            || !dir::is_named_entry(&e)
        {
            return Err(Error::corrupt(
                FORMAT,
                "directory entry",
                node,
                "not a file or directory entry",
            ));
        }
        Ok(ShortEntry::parse(&e, self.boot.fat_type == FatType::Fat32))
    }

    fn root_ino(&self) -> u64 {
        match self.boot.fat_type {
            FatType::Fat32 => u64::from(self.boot.root_cluster),
            _ => 0,
        }
    }

    /// The device ranges of a directory's bytes.
    fn dir_spans(&self, node: NodeId) -> Result<Vec<(u64, u64)>> {
        let first = if node == ROOT {
            if let Some((off, len)) = self.boot.root_dir {
                return Ok(vec![(off, len)]);
            }
            self.boot.root_cluster
        } else {
            let e = self.entry(node)?;
            if !e.is_dir() {
                return Err(Error::invalid_input("not a directory"));
            }
            e.first_cluster
        };
        let heap = *self.heap();
        let max = (MAX_DIR_SIZE / heap.cluster_size).max(1);
        let runs = self.runs.get(u64::from(first) << 1 | 1, || {
            chain::follow(FORMAT, &heap, first, None, max, |c| {
                self.fat.next(&self.meta, c)
            })
        })?;
        Ok(runs
            .iter()
            .map(|r| {
                (
                    heap.cluster_offset(r.first),
                    u64::from(r.len) * heap.cluster_size,
                )
            })
            .collect())
    }

    fn listing(&self, node: NodeId) -> Result<Listing> {
        let spans = self.dir_spans(node)?;
        let total: u64 = spans.iter().map(|s| s.1).sum();
        if let Some(&(off, len)) = spans
            .iter()
            .find(|s| s.0.saturating_add(s.1) > self.dev.size())
        {
            return Err(Error::corrupt(
                FORMAT,
                "directory",
                off,
                format!("{len} bytes of the directory lie past the end of the device"),
            ));
        }
        let mut bytes = vec![0u8; usize::try_from(total.min(MAX_DIR_SIZE)).unwrap_or(0)];
        let mut at = 0usize;
        for &(off, len) in &spans {
            let n = (len as usize).min(bytes.len() - at);
            self.meta
                .read_exact_at(off, &mut bytes[at..at + n])
                .map_err(|e| e.with_format(FORMAT).with_structure("directory"))?;
            at += n;
        }
        dir::parse(&bytes, &spans, self.boot.fat_type == FatType::Fat32)
    }

    /// The runs of a file's clusters.
    fn file_runs(&self, node: NodeId, e: &ShortEntry) -> Result<Arc<Vec<chain::Run>>> {
        let heap = *self.heap();
        let need = u64::from(e.size).div_ceil(heap.cluster_size);
        self.runs.get(node << 1, || {
            chain::follow(
                FORMAT,
                &heap,
                e.first_cluster,
                Some(need),
                need.max(1),
                |c| self.fat.next(&self.meta, c),
            )
        })
    }

    fn file_entry(&self, node: NodeId) -> Result<ShortEntry> {
        if node == ROOT {
            return Err(Error::invalid_input("is a directory"));
        }
        let e = self.entry(node)?;
        if e.is_dir() {
            return Err(Error::invalid_input("is a directory"));
        }
        Ok(e)
    }
}

impl FileSystem for FatFs {
    fn kind(&self) -> &'static str {
        self.boot.fat_type.name()
    }

    fn label(&self) -> Option<String> {
        self.label.clone()
    }

    fn root(&self) -> NodeId {
        ROOT
    }

    fn metadata(&self, node: NodeId) -> Result<Metadata> {
        if node == ROOT {
            let mut m = Metadata::new(FileType::Directory, 0, self.root_ino());
            m.mode = Some(0o755);
            return Ok(m);
        }
        let e = self.entry(node)?;
        let mut m = if e.attr & ATTR_DIRECTORY != 0 {
            let mut m = Metadata::new(FileType::Directory, 0, u64::from(e.first_cluster));
            m.mode = Some(0o755);
            m
        } else {
            let mut m = Metadata::new(FileType::File, u64::from(e.size), (1 << 32) + node / 32);
            m.mode = Some(if e.attr & ATTR_READ_ONLY != 0 {
                0o444
            } else {
                0o644
            });
            m
        };
        m.mtime = e.modified;
        m.atime = e.accessed;
        m.btime = e.created;
        Ok(m)
    }

    fn read_dir(&self, dir: NodeId) -> Result<Vec<DirEntry>> {
        Ok(self
            .listing(dir)?
            .entries
            .into_iter()
            .map(|l| DirEntry {
                file_type: if l.entry.is_dir() {
                    FileType::Directory
                } else {
                    FileType::File
                },
                name: l.name,
                node: l.offset,
            })
            .collect())
    }

    fn lookup(&self, dir: NodeId, name: &str) -> Result<Option<NodeId>> {
        let listing = self.listing(dir)?;
        if let Some(l) = listing.entries.iter().find(|l| l.name == name) {
            return Ok(Some(l.offset));
        }
        let upper = name.to_uppercase();
        Ok(listing
            .entries
            .iter()
            .find(|l| l.name.to_uppercase() == upper || l.short.to_uppercase() == upper)
            .map(|l| l.offset))
    }

    fn read_at(&self, node: NodeId, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let e = self.file_entry(node)?;
        let size = u64::from(e.size);
        if offset >= size || buf.is_empty() {
            return Ok(0);
        }
        let runs = self.file_runs(node, &e)?;
        let want = (buf.len() as u64).min(size - offset);
        let Some((dev_off, contiguous)) = chain::locate(&runs, self.heap(), offset) else {
            return Ok(0);
        };
        let n = want.min(contiguous) as usize;
        self.dev
            .read_exact_at(dev_off, &mut buf[..n])
            .map_err(|err| err.with_format(FORMAT).with_structure("file data"))?;
        Ok(n)
    }

    fn read_link(&self, _node: NodeId) -> Result<String> {
        Err(Error::invalid_input("FAT has no symbolic links"))
    }

    fn file_extents(&self, node: NodeId) -> Result<Option<Vec<FileExtent>>> {
        let e = self.file_entry(node)?;
        let runs = self.file_runs(node, &e)?;
        Ok(Some(chain::extents(&runs, self.heap(), u64::from(e.size))))
    }

    fn device(&self) -> &DeviceRef {
        &self.dev
    }

    fn allocation_map(&self) -> Option<&dyn crate::fs::AllocationMap> {
        Some(self)
    }

    fn usage(&self) -> Option<Usage> {
        *self.usage.get_or_init(|| {
            let used = self.fat.used_clusters(&self.meta).ok()?;
            let cs = self.heap().cluster_size;
            Some(Usage {
                total: u64::from(self.heap().count) * cs,
                used: used * cs,
            })
        })
    }
}

/// Everything before the cluster heap (boot sector and reserved sectors, every FAT, the FAT12/16
/// root directory), the clusters whose FAT entry is not free (bad clusters included), and
/// whatever follows the heap on the device.
impl crate::fs::AllocationMap for FatFs {
    fn allocated_ranges(&self) -> Result<Vec<(u64, u64)>> {
        let heap = *self.heap();
        let mut used = crate::fs::used::RangeSet::with_gap(crate::fs::used::MERGE_GAP);
        used.add(0, heap.offset);
        self.fat.for_each_used(&self.dev, |c| {
            used.add(heap.cluster_offset(c), heap.cluster_size);
        })?;
        let end = heap.offset + u64::from(heap.count) * heap.cluster_size;
        used.add(end, self.dev.size().saturating_sub(end));
        Ok(used.into_vec())
    }
}
