//! exFAT, read-only (Microsoft "exFAT file system specification", 2019).
//!
//! Supported: the main boot region with its checksum (the backup region is used when the main
//! one is damaged), the active FAT of one or two, contiguous (NoFatChain) and FAT-chained
//! files and directories, entry sets with their checksums checked, UTF-16 names of up to 255
//! characters, the up-case table (checksum checked) for case-insensitive lookup, valid data
//! length (bytes past it read as zeros), timestamps with their 10 ms increments and UTC
//! offsets (without an offset, local time is read as UTC, as for FAT), the volume label,
//! usage counted from the allocation bitmap, and `file_extents` for direct copies. Not
//! supported: TexFAT (transaction-safe) second FAT and bitmap, vendor extension entries
//! (ignored), writing.
//!
//! A node id is the device offset of a file's File entry, with bit 63 set when the directory
//! that holds it is contiguous (so that an entry set crossing a cluster boundary can be read
//! without the directory); the root is 0. Directory inode numbers are first clusters, so the
//! tree walk refuses a directory reached twice; files get `2^32 + entry offset / 32`.

mod boot;
mod entry;

use self::boot::BootSector;
use self::entry::{ATTR_READ_ONLY, FileSet};
use crate::device::DeviceRef;
use crate::error::{Error, Result};
use crate::format::{Confidence, FormatDescriptor, Opener, ProbeInput};
use crate::fs::fat::chain::{self, Heap, Link, Run, RunCache};
use crate::fs::{
    DirEntry, FileExtent, FileSystem, FileType, FsEntry, FsVolume, Metadata, NodeId, Usage,
};
use crate::io::{BlockCache, ReadAt};
use serde_json::json;
use std::sync::{Arc, OnceLock};

/// Format name used in errors.
pub const FORMAT: &str = "exfat";
/// Largest directory read (the specification allows 256 MiB; this reader holds a listing in
/// memory, so it stops earlier).
pub const MAX_DIR_SIZE: u64 = 64 * 1024 * 1024;
/// Largest up-case table (65536 UTF-16 code units).
const MAX_UPCASE: u64 = 128 * 1024;
/// Bytes of FAT and directory data cached.
const META_CACHE: u64 = 4 * 1024 * 1024;
const ROOT: NodeId = 0;
const CONTIGUOUS_PARENT: NodeId = 1 << 63;

/// The registry entry.
pub static DESCRIPTOR: FormatDescriptor = FormatDescriptor {
    create: None,
    check: None,
    name: FORMAT,
    description: "exFAT file system",
    extensions: &["img"],
    probe,
    opener: Opener::FileSystem(|dev| open_volume(dev.clone())),
};

fn probe(p: &ProbeInput<'_>) -> Confidence {
    if !boot::has_name(p.head) || p.head.len() < 512 {
        return Confidence::NONE;
    }
    let sector = 1usize << p.head[108].clamp(9, 12);
    if boot::checksum_ok(p.head, sector) {
        Confidence::CERTAIN
    } else {
        Confidence::LIKELY
    }
}

/// Opens the exFAT volume at the start of `dev`.
pub fn open_volume(dev: DeviceRef) -> Result<FsVolume> {
    let mut warnings = Vec::new();
    let fs = ExFatFs::open(dev, &mut warnings)?;
    let b = &fs.boot;
    let details = json!({
        "revision": format!("{}.{:02}", b.revision.0, b.revision.1),
        "serial": format!("{:04X}-{:04X}", b.serial >> 16, b.serial & 0xFFFF),
        "bytes_per_sector": b.bytes_per_sector,
        "cluster_size": b.heap.cluster_size,
        "clusters": b.heap.count,
        "dirty": b.dirty,
        "percent_in_use": (b.percent_in_use <= 100).then_some(b.percent_in_use),
    });
    if b.volume_size > fs.dev.size() {
        warnings.push(format!(
            "the exFAT volume claims {} bytes but the device holds {}",
            b.volume_size,
            fs.dev.size()
        ));
    }
    Ok(FsVolume {
        file_systems: vec![FsEntry {
            kind: FORMAT,
            label: fs.label.clone(),
            details,
            fs: Some(Arc::new(fs)),
            note: None,
        }],
        boot: None,
        warnings,
    })
}

/// One named entry of a directory.
struct Listed {
    node: NodeId,
    set: FileSet,
}

/// What a directory's bytes hold.
#[derive(Default)]
struct Listing {
    entries: Vec<Listed>,
    label: Option<String>,
    bitmap: Option<(u32, u64)>,
    upcase: Option<(u32, u64, u32)>,
}

/// An exFAT volume.
pub struct ExFatFs {
    dev: DeviceRef,
    meta: BlockCache<DeviceRef>,
    boot: BootSector,
    fat_offset: u64,
    label: Option<String>,
    bitmap: Option<(u32, u64)>,
    upcase_entry: Option<(u32, u64, u32)>,
    upcase: OnceLock<Vec<u16>>,
    runs: RunCache,
    usage: OnceLock<Option<Usage>>,
}

impl ExFatFs {
    fn open(dev: DeviceRef, warnings: &mut Vec<String>) -> Result<Self> {
        let mut first = [0u8; 512];
        dev.read_exact_at(0, &mut first)
            .map_err(|e| e.with_format(FORMAT).with_structure("boot sector"))?;
        let sector = 1usize << first[108].clamp(9, 12);
        let region = crate::io::read_vec(&*dev, 0, 24 * sector as u64, 24 * 4096)
            .map_err(|e| e.with_format(FORMAT).with_structure("boot region"))?;
        let main = &region[..12 * sector];
        let backup = &region[12 * sector..];
        let boot = if boot::checksum_ok(main, sector) {
            BootSector::parse(main)?
        } else if boot::checksum_ok(backup, sector) {
            warnings.push(
                "the main boot region's checksum does not match: the backup region is used".into(),
            );
            BootSector::parse(backup)?
        } else {
            return Err(Error::corrupt(
                FORMAT,
                "boot region",
                0,
                "the boot checksum of both boot regions does not match",
            ));
        };
        let mut fs = ExFatFs {
            meta: BlockCache::new(dev.clone(), 64 * 1024, META_CACHE),
            dev,
            fat_offset: boot.fat_offset + u64::from(boot.active_fat) * boot.fat_length,
            boot,
            label: None,
            bitmap: None,
            upcase_entry: None,
            upcase: OnceLock::new(),
            runs: RunCache::new(),
            usage: OnceLock::new(),
        };
        // Tolerant: one damaged entry set in the root must not hide the whole volume; it is
        // reported when the root is listed.
        let root = fs.listing(ROOT, false)?;
        fs.label = root.label;
        fs.bitmap = root.bitmap;
        fs.upcase_entry = root.upcase;
        if fs.bitmap.is_none() {
            warnings.push("the root directory has no allocation bitmap entry".into());
        }
        Ok(fs)
    }

    fn heap(&self) -> &Heap {
        &self.boot.heap
    }

    fn next(&self, cluster: u32) -> Result<Link> {
        let mut b = [0u8; 4];
        self.meta
            .read_exact_at(self.fat_offset + u64::from(cluster) * 4, &mut b)
            .map_err(|e| e.with_format(FORMAT).with_structure("FAT"))?;
        Ok(match u32::from_le_bytes(b) {
            0xFFFF_FFFF => Link::End,
            0xFFFF_FFF7 => Link::Bad,
            0 => Link::Free,
            v => Link::Next(v),
        })
    }

    /// The runs of `len` bytes allocated from `first`.
    fn runs_of(
        &self,
        key: NodeId,
        first: u32,
        len: u64,
        contiguous: bool,
        max: u64,
    ) -> Result<Arc<Vec<Run>>> {
        let heap = *self.heap();
        let need = len.div_ceil(heap.cluster_size);
        if need > max {
            return Err(Error::limit(
                FORMAT,
                "allocation",
                heap.cluster_offset(first.max(2)),
                format!("{len} bytes"),
            ));
        }
        self.runs.get(key, || {
            if need == 0 {
                Ok(Vec::new())
            } else if contiguous {
                chain::contiguous(FORMAT, &heap, first, need)
            } else {
                chain::follow(FORMAT, &heap, first, Some(need), need, |c| self.next(c))
            }
        })
    }

    /// The entry set of a node.
    fn set(&self, node: NodeId) -> Result<FileSet> {
        let offset = node & !CONTIGUOUS_PARENT;
        let heap = *self.heap();
        let bad = || Error::corrupt(FORMAT, "directory entry", offset, "not a file entry");
        if offset < heap.offset || offset % 32 != 0 {
            return Err(bad());
        }
        let mut first = [0u8; 32];
        self.meta
            .read_exact_at(offset, &mut first)
            .map_err(|e| e.with_format(FORMAT).with_structure("directory entry"))?;
        if first[0] != entry::TYPE_FILE {
            return Err(bad());
        }
        let n = entry::secondary_count(&first);
        let mut set = first.to_vec();
        let mut pos = offset;
        for _ in 0..n {
            pos += 32;
            if (pos - heap.offset) % heap.cluster_size == 0 {
                let cluster = u32::try_from((pos - 32 - heap.offset) / heap.cluster_size + 2)
                    .map_err(|_| bad())?;
                let next = if node & CONTIGUOUS_PARENT != 0 {
                    cluster + 1
                } else {
                    match self.next(cluster)? {
                        Link::Next(c) => c,
                        _ => return Err(bad()),
                    }
                };
                if !heap.valid(next) {
                    return Err(bad());
                }
                pos = heap.cluster_offset(next);
            }
            let mut e = [0u8; 32];
            self.meta
                .read_exact_at(pos, &mut e)
                .map_err(|e| e.with_format(FORMAT).with_structure("directory entry"))?;
            set.extend_from_slice(&e);
        }
        entry::parse_set(&set, offset)
    }

    /// A directory's runs and whether it is contiguous.
    fn dir_runs(&self, node: NodeId) -> Result<(Arc<Vec<Run>>, bool)> {
        let heap = *self.heap();
        let max = (MAX_DIR_SIZE / heap.cluster_size).max(1);
        if node == ROOT {
            let first = self.boot.root_cluster;
            let runs = self.runs.get(1, || {
                chain::follow(FORMAT, &heap, first, None, max, |c| self.next(c))
            })?;
            return Ok((runs, false));
        }
        let s = self.set(node)?;
        if !s.is_dir() {
            return Err(Error::invalid_input("not a directory"));
        }
        Ok((
            self.runs_of(node, s.first_cluster, s.data_length, s.no_fat_chain, max)?,
            s.no_fat_chain,
        ))
    }

    /// Lists a directory; `strict` fails on a damaged entry set, else skips it.
    fn listing(&self, node: NodeId, strict: bool) -> Result<Listing> {
        let (runs, contiguous) = self.dir_runs(node)?;
        let heap = *self.heap();
        let spans: Vec<(u64, u64)> = runs
            .iter()
            .map(|r| {
                (
                    heap.cluster_offset(r.first),
                    u64::from(r.len) * heap.cluster_size,
                )
            })
            .collect();
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
        let mut bytes = vec![0u8; total.min(MAX_DIR_SIZE) as usize];
        let mut offsets = Vec::with_capacity(bytes.len() / 32);
        let mut at = 0usize;
        for &(off, len) in &spans {
            let n = (len as usize).min(bytes.len() - at);
            self.meta
                .read_exact_at(off, &mut bytes[at..at + n])
                .map_err(|e| e.with_format(FORMAT).with_structure("directory"))?;
            offsets.extend((0..n as u64 / 32).map(|k| off + k * 32));
            at += n;
        }
        let flag = if contiguous { CONTIGUOUS_PARENT } else { 0 };
        let mut out = Listing::default();
        let count = bytes.len() / 32;
        let mut i = 0;
        while i < count {
            let e = &bytes[i * 32..i * 32 + 32];
            match e[0] {
                entry::TYPE_END => break,
                entry::TYPE_FILE => {
                    let n = entry::secondary_count(e);
                    if i + n >= count {
                        return Err(Error::corrupt(
                            FORMAT,
                            "directory entry set",
                            offsets[i],
                            "the set runs past the directory",
                        ));
                    }
                    match entry::parse_set(&bytes[i * 32..(i + n + 1) * 32], offsets[i]) {
                        Ok(set) => {
                            out.entries.push(Listed {
                                node: offsets[i] | flag,
                                set,
                            });
                            i += n + 1;
                            continue;
                        }
                        Err(e) if strict => return Err(e),
                        Err(_) => {}
                    }
                }
                entry::TYPE_LABEL if out.label.is_none() => out.label = entry::label(e),
                entry::TYPE_BITMAP if out.bitmap.is_none() => {
                    out.bitmap = Some(entry::table_location(e))
                }
                entry::TYPE_UPCASE if out.upcase.is_none() => {
                    let (c, l) = entry::table_location(e);
                    out.upcase = Some((c, l, entry::upcase_checksum(e)));
                }
                _ => {}
            }
            i += 1;
        }
        Ok(out)
    }

    /// The up-case table, expanded; ASCII-only when the volume's is missing or damaged.
    fn upcase(&self) -> &[u16] {
        self.upcase.get_or_init(|| {
            let mut table: Vec<u16> = (0..=u16::MAX).collect();
            if let Ok(Some(raw)) = self.read_upcase() {
                let mut i = 0usize;
                let mut units = raw
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]));
                while let Some(u) = units.next() {
                    if i >= table.len() {
                        break;
                    }
                    if u == 0xFFFF {
                        i += usize::from(units.next().unwrap_or(0));
                    } else {
                        table[i] = u;
                        i += 1;
                    }
                }
            } else {
                for c in b'a'..=b'z' {
                    table[usize::from(c)] = u16::from(c - 32);
                }
            }
            table
        })
    }

    fn read_upcase(&self) -> Result<Option<Vec<u8>>> {
        let Some((first, len, checksum)) = self.upcase_entry else {
            return Ok(None);
        };
        if len > MAX_UPCASE || len % 2 != 0 {
            return Ok(None);
        }
        let data = self.read_table(first, len)?;
        let sum = data
            .iter()
            .fold(0u32, |s, &b| s.rotate_right(1).wrapping_add(u32::from(b)));
        Ok((sum == checksum).then_some(data))
    }

    /// Reads a FAT-chained system table whole.
    fn read_table(&self, first: u32, len: u64) -> Result<Vec<u8>> {
        let heap = *self.heap();
        let runs = chain::follow(
            FORMAT,
            &heap,
            first,
            Some(len.div_ceil(heap.cluster_size)),
            len.div_ceil(heap.cluster_size).max(1),
            |c| self.next(c),
        )?;
        let mut out = vec![0u8; len as usize];
        let mut at = 0u64;
        while at < len {
            let (dev, n) = chain::locate(&runs, &heap, at).ok_or_else(|| {
                Error::corrupt(FORMAT, "system table", heap.offset, "chain too short")
            })?;
            let n = n.min(len - at) as usize;
            self.meta
                .read_exact_at(dev, &mut out[at as usize..at as usize + n])?;
            at += n as u64;
        }
        Ok(out)
    }

    fn count_bitmap(&self) -> Result<u64> {
        let mut used = 0u64;
        self.for_each_bitmap_byte(|_, byte| used += u64::from(byte.count_ones()))?;
        Ok(used)
    }

    /// Calls `f(first_cluster_index, bits)` for each byte of the allocation bitmap, in order;
    /// bit `i` of `bits` is cluster `first_cluster_index + i` (0 is cluster 2); bits past the
    /// cluster count are cleared.
    fn for_each_bitmap_byte(&self, mut f: impl FnMut(u64, u8)) -> Result<()> {
        let Some((first, len)) = self.bitmap else {
            return Err(Error::corrupt(FORMAT, "allocation bitmap", 0, "missing"));
        };
        let count = u64::from(self.heap().count);
        let need = count.div_ceil(8);
        if len < need {
            return Err(Error::corrupt(
                FORMAT,
                "allocation bitmap",
                0,
                "shorter than the cluster count",
            ));
        }
        let heap = *self.heap();
        let runs = chain::follow(
            FORMAT,
            &heap,
            first,
            Some(need.div_ceil(heap.cluster_size)),
            need.div_ceil(heap.cluster_size).max(1),
            |c| self.next(c),
        )?;
        let mut buf = vec![0u8; 1 << 20];
        let mut at = 0u64;
        while at < need {
            let (dev, n) = chain::locate(&runs, &heap, at).ok_or_else(|| {
                Error::corrupt(FORMAT, "allocation bitmap", heap.offset, "chain too short")
            })?;
            let n = n.min(need - at).min(buf.len() as u64) as usize;
            self.dev.read_exact_at(dev, &mut buf[..n])?;
            for (k, &byte) in buf[..n].iter().enumerate() {
                let bit0 = (at + k as u64) * 8;
                let valid = (count - bit0).min(8) as u32;
                let mask = if valid >= 8 { 0xFF } else { (1u8 << valid) - 1 };
                f(bit0, byte & mask);
            }
            at += n as u64;
        }
        Ok(())
    }

    fn file(&self, node: NodeId) -> Result<FileSet> {
        if node == ROOT {
            return Err(Error::invalid_input("is a directory"));
        }
        let s = self.set(node)?;
        if s.is_dir() {
            return Err(Error::invalid_input("is a directory"));
        }
        Ok(s)
    }

    fn file_runs(&self, node: NodeId, s: &FileSet) -> Result<Arc<Vec<Run>>> {
        let max = s
            .valid_data_length
            .div_ceil(self.heap().cluster_size)
            .max(1);
        // Only the clusters up to the valid data length are read.
        self.runs_of(
            node | 2,
            s.first_cluster,
            s.valid_data_length,
            s.no_fat_chain,
            max,
        )
    }
}

impl FileSystem for ExFatFs {
    fn kind(&self) -> &'static str {
        FORMAT
    }

    fn label(&self) -> Option<String> {
        self.label.clone()
    }

    fn root(&self) -> NodeId {
        ROOT
    }

    fn metadata(&self, node: NodeId) -> Result<Metadata> {
        if node == ROOT {
            let mut m = Metadata::new(FileType::Directory, 0, u64::from(self.boot.root_cluster));
            m.mode = Some(0o755);
            return Ok(m);
        }
        let s = self.set(node)?;
        let offset = node & !CONTIGUOUS_PARENT;
        let mut m = if s.is_dir() {
            let mut m = Metadata::new(FileType::Directory, 0, u64::from(s.first_cluster));
            m.mode = Some(0o755);
            m
        } else {
            let mut m = Metadata::new(FileType::File, s.data_length, (1 << 32) + offset / 32);
            m.mode = Some(if s.attributes & ATTR_READ_ONLY != 0 {
                0o444
            } else {
                0o644
            });
            m
        };
        m.mtime = s.modified;
        m.atime = s.accessed;
        m.btime = s.created;
        Ok(m)
    }

    fn read_dir(&self, dir: NodeId) -> Result<Vec<DirEntry>> {
        Ok(self
            .listing(dir, true)?
            .entries
            .into_iter()
            .map(|l| DirEntry {
                file_type: if l.set.is_dir() {
                    FileType::Directory
                } else {
                    FileType::File
                },
                name: l.set.name,
                node: l.node,
            })
            .collect())
    }

    fn lookup(&self, dir: NodeId, name: &str) -> Result<Option<NodeId>> {
        let listing = self.listing(dir, true)?;
        if let Some(l) = listing.entries.iter().find(|l| l.set.name == name) {
            return Ok(Some(l.node));
        }
        let up = self.upcase();
        let fold = |units: &mut dyn Iterator<Item = u16>| -> Vec<u16> {
            units.map(|u| up[usize::from(u)]).collect()
        };
        let want = fold(&mut name.encode_utf16());
        Ok(listing
            .entries
            .iter()
            .find(|l| fold(&mut l.set.name_units.iter().copied()) == want)
            .map(|l| l.node))
    }

    fn read_at(&self, node: NodeId, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let s = self.file(node)?;
        if offset >= s.data_length || buf.is_empty() {
            return Ok(0);
        }
        let want = (buf.len() as u64).min(s.data_length - offset);
        if offset >= s.valid_data_length {
            let n = want as usize;
            buf[..n].fill(0);
            return Ok(n);
        }
        let runs = self.file_runs(node, &s)?;
        let Some((dev, contiguous)) = chain::locate(&runs, self.heap(), offset) else {
            return Err(Error::corrupt(
                FORMAT,
                "file data",
                self.heap().offset,
                "the clusters end before the valid data",
            ));
        };
        let n = want.min(contiguous).min(s.valid_data_length - offset) as usize;
        self.dev
            .read_exact_at(dev, &mut buf[..n])
            .map_err(|e| e.with_format(FORMAT).with_structure("file data"))?;
        Ok(n)
    }

    fn read_link(&self, _node: NodeId) -> Result<String> {
        Err(Error::invalid_input("exFAT has no symbolic links"))
    }

    fn file_extents(&self, node: NodeId) -> Result<Option<Vec<FileExtent>>> {
        let s = self.file(node)?;
        let runs = self.file_runs(node, &s)?;
        Ok(Some(chain::extents(
            &runs,
            self.heap(),
            s.valid_data_length,
        )))
    }

    fn device(&self) -> &DeviceRef {
        &self.dev
    }

    fn allocation_map(&self) -> Option<&dyn crate::fs::AllocationMap> {
        self.bitmap.map(|_| self as &dyn crate::fs::AllocationMap)
    }

    fn usage(&self) -> Option<Usage> {
        *self.usage.get_or_init(|| {
            let used = self.count_bitmap().ok()?;
            let cs = self.heap().cluster_size;
            Some(Usage {
                total: u64::from(self.heap().count) * cs,
                used: used * cs,
            })
        })
    }
}

/// Everything before the cluster heap (the main and backup boot regions, the FATs), the
/// clusters whose allocation bitmap bit is set (the bitmap, the up-case table and the root
/// directory among them), and whatever follows the heap on the device.
impl crate::fs::AllocationMap for ExFatFs {
    fn allocated_ranges(&self) -> Result<Vec<(u64, u64)>> {
        let heap = *self.heap();
        let mut used = crate::fs::used::RangeSet::with_gap(crate::fs::used::MERGE_GAP);
        used.add(0, heap.offset);
        self.for_each_bitmap_byte(|first, bits| {
            for i in 0..8u64 {
                if bits & (1 << i) != 0 {
                    used.add(
                        heap.offset + (first + i) * heap.cluster_size,
                        heap.cluster_size,
                    );
                }
            }
        })?;
        let end = heap.offset + u64::from(heap.count) * heap.cluster_size;
        used.add(end, self.dev.size().saturating_sub(end));
        Ok(used.into_vec())
    }
}
