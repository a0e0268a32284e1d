//! NTFS (versions 1.2 to 3.1), read-only, on the `ntfs` crate (ColinFinck/ntfs, pinned).
//!
//! The crate reads the boot sector, MFT records (with update sequence fixups), attributes
//! (following attribute lists), structured values (`$STANDARD_INFORMATION`, `$FILE_NAME`,
//! `$VOLUME_NAME`) and attribute values (resident, non-resident, sparse runs, values split over
//! several records). It needs `Read + Seek`, so every call gets its own
//! [`ReadAtCursor`](crate::io::ReadAtCursor) over a shared block cache; nothing holds a cursor
//! between calls. This module adds what the crate lacks or what must be bounded on hostile input:
//! directory listing (every in-use `INDX` record scanned once instead of a B-tree walk, see
//! [`index`]), LZNT1-compressed attributes ([`lznt1`], own code), reparse points and Interix
//! links ([`reparse`]), the label, and usage from `$Bitmap`.
//!
//! Supported: resident and non-resident `$DATA`, sparse runs (holes in
//! [`file_extents`](crate::fs::FileSystem::file_extents)), LZNT1 compression (16-cluster units),
//! alternate data streams (listed in [`Metadata::streams`], read as `file:stream`), hard links
//! (one node per MFT record, `nlink` from the non-DOS names), symbolic links and junctions,
//! times (FILETIME, 100 ns since 1601, to UTC), `FILE_ATTRIBUTE_*` flags (read-only clears
//! the write bits of the mode: files `0644`, directories `0755`; flags `readonly`, `hidden`,
//! `system`, `archive`, `compressed`, `sparse`, `encrypted`, `reparse`). DOS 8.3 aliases and the
//! metafiles (`$MFT`, `$Extend`, ...) are not listed.
//! Not supported: encrypted files (EFS; reading them is refused), compressed attributes split
//! over several MFT records, WOF/system compression (the files read as their reparse stubs),
//! data past the valid data length reading as zeros, Interix device and FIFO files (listed as
//! plain files), owners and ACLs.

mod data;
mod index;
mod lznt1;
mod reparse;

use crate::device::DeviceRef;
use crate::error::{Error, ErrorKind, Result};
use crate::format::{Confidence, FormatDescriptor, Opener};
use crate::fs::{
    DirEntry, FileExtent, FileSystem, FileType, FsEntry, FsVolume, Metadata, NamedStream, NodeId,
    Usage,
};
use crate::io::{BlockCache, ReadAt, ReadAtCursor};
use crate::time::Timestamp;
use ::ntfs::structured_values::{NtfsFileName, NtfsFileNamespace, NtfsStandardInformation};
use ::ntfs::{Ntfs, NtfsAttributeFlags, NtfsAttributeItem, NtfsAttributeType, NtfsError, NtfsFile};
use std::sync::{Arc, OnceLock};

/// Format name used in errors and `info`.
pub const FORMAT: &str = "ntfs";
/// Bytes of metadata cached.
const META_CACHE: u64 = 8 * 1024 * 1024;
/// Attributes of one file visited at most (attribute lists can be long; not endless).
pub const MAX_ATTRIBUTES: usize = 65_536;
/// Largest reparse point read.
const MAX_REPARSE: u64 = 16 * 1024;
/// Largest Interix link read.
const MAX_LINK: u64 = 8 * 1024;
/// Records below this number are metafiles, hidden from the root listing.
const FIRST_USER_RECORD: u64 = 16;
/// MFT record of the root directory.
const ROOT_RECORD: u64 = 5;
/// MFT record of `$Bitmap`.
const BITMAP_RECORD: u64 = 6;
/// Bits of a node id that hold the MFT record number; above them, the stream number.
const RECORD_BITS: u32 = 48;

const FILE_ATTRIBUTE_READONLY: u32 = 0x1;
const FILE_ATTRIBUTE_HIDDEN: u32 = 0x2;
const FILE_ATTRIBUTE_SYSTEM: u32 = 0x4;
const FILE_ATTRIBUTE_ARCHIVE: u32 = 0x20;
const FILE_ATTRIBUTE_SPARSE: u32 = 0x200;
const FILE_ATTRIBUTE_REPARSE_POINT: u32 = 0x400;
const FILE_ATTRIBUTE_COMPRESSED: u32 = 0x800;
const FILE_ATTRIBUTE_ENCRYPTED: u32 = 0x4000;
/// `$FILE_NAME` flag of a directory (`DUP_FILE_NAME_INDEX_PRESENT`).
const FILE_NAME_DIRECTORY: u32 = 0x1000_0000;

type Cursor<'a> = ReadAtCursor<Padded<'a>>;

/// The device as the crate sees it: reads past the end give zeros instead of a short read.
///
/// The crate parses its structures with `binrw`, and `ntfs` 0.4 panics when `binrw` reports a
/// failed read in the middle of a structure (`From<binrw::Error> for NtfsError` is
/// `unreachable!` for anything but a plain I/O error). Zeros past the end keep hostile run
/// lists and truncated images on the crate's own validation paths; `open_volume` warns when
/// the volume is larger than the device.
struct Padded<'a>(&'a BlockCache<DeviceRef>);

impl ReadAt for Padded<'_> {
    fn size(&self) -> u64 {
        u64::MAX
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            let Some(pos) = offset.checked_add(done as u64) else {
                break;
            };
            let n = self.0.read_at(pos, &mut buf[done..])?;
            if n == 0 {
                break;
            }
            done += n;
        }
        buf[done..].fill(0);
        Ok(buf.len())
    }
}

/// The registry entry.
pub static DESCRIPTOR: FormatDescriptor = FormatDescriptor {
    create: None,
    check: None,
    name: FORMAT,
    description: "NTFS file system",
    extensions: &[],
    probe: |p| {
        if p.head.len() >= 512 && &p.head[3..11] == b"NTFS    " && p.head[510..512] == [0x55, 0xAA]
        {
            Confidence::CERTAIN
        } else {
            Confidence::NONE
        }
    },
    opener: Opener::FileSystem(open_volume),
};

/// Opens the NTFS volume on `dev`.
pub fn open_volume(dev: &DeviceRef) -> Result<FsVolume> {
    let fs = NtfsFs::open(dev.clone())?;
    let mut warnings = Vec::new();
    if fs.ntfs.size() > dev.size() {
        warnings.push(format!(
            "the NTFS volume claims {} bytes but the device holds {}; files past the end cannot be read",
            fs.ntfs.size(),
            dev.size()
        ));
    }
    let details = fs.details();
    let label = fs.label.clone();
    Ok(FsVolume {
        file_systems: vec![FsEntry {
            kind: FORMAT,
            label,
            fs: Some(Arc::new(fs)),
            details,
            note: None,
        }],
        boot: None,
        warnings,
    })
}

/// An NTFS volume as a [`FileSystem`]. Node ids are MFT record numbers; a named stream of
/// record `r` is `r | k << 48` for its `k`-th named `$DATA` attribute (from 1).
pub struct NtfsFs {
    dev: DeviceRef,
    io: BlockCache<DeviceRef>,
    ntfs: Ntfs,
    label: Option<String>,
    version: Option<(u8, u8)>,
    usage: OnceLock<Option<Usage>>,
}

/// What one MFT record says about its file.
struct Summary {
    is_dir: bool,
    attributes: u32,
    times: Option<[u64; 4]>,
    links: u32,
    data: Option<StreamInfo>,
    named: Vec<StreamInfo>,
    reparse: Option<(Vec<u8>, u64)>,
}

/// One `$DATA` attribute.
struct StreamInfo {
    name: String,
    len: u64,
    flags: NtfsAttributeFlags,
}

/// Maps a crate error to ours, naming the structure being read.
fn ntfs_err(structure: &'static str) -> impl Fn(NtfsError) -> Error {
    move |e| match e {
        NtfsError::Io(io) => Error::from(io)
            .with_format(FORMAT)
            .with_structure(structure),
        other => Error::new(ErrorKind::Corrupt, other.to_string())
            .with_format(FORMAT)
            .with_structure(structure),
    }
}

fn split(node: NodeId) -> (u64, usize) {
    (
        node & ((1 << RECORD_BITS) - 1),
        (node >> RECORD_BITS) as usize,
    )
}

/// FILETIME (100 ns since 1601-01-01) to a timestamp; 0 means unset.
fn filetime(t: u64) -> Option<Timestamp> {
    const EPOCH_DIFF: i64 = 11_644_473_600;
    if t == 0 {
        return None;
    }
    Some(Timestamp {
        secs: (t / 10_000_000) as i64 - EPOCH_DIFF,
        nanos: (t % 10_000_000) as u32 * 100,
    })
}

impl NtfsFs {
    /// Reads the boot sector and the volume's name and version.
    pub fn open(dev: DeviceRef) -> Result<Self> {
        if dev.size() < 512 {
            return Err(Error::corrupt(
                FORMAT,
                "boot sector",
                0,
                "device is shorter than a boot sector",
            ));
        }
        let io = BlockCache::new(dev.clone(), 4096, META_CACHE);
        let mut c = ReadAtCursor::new(Padded(&io));
        let ntfs = Ntfs::new(&mut c).map_err(ntfs_err("boot sector"))?;
        let label = match ntfs.volume_name(&mut c) {
            Some(Ok(name)) => Some(name.name().to_string_lossy()),
            Some(Err(e)) => return Err(ntfs_err("$Volume")(e)),
            None => None,
        };
        let version = ntfs
            .volume_info(&mut c)
            .ok()
            .map(|v| (v.major_version(), v.minor_version()));
        let fs = NtfsFs {
            dev,
            io,
            ntfs,
            label: label.filter(|l| !l.is_empty()),
            version,
            usage: OnceLock::new(),
        };
        if !fs.summary(ROOT_RECORD)?.is_dir {
            return Err(Error::corrupt(
                FORMAT,
                "MFT record",
                0,
                "the root directory (record 5) is not a directory",
            ));
        }
        Ok(fs)
    }

    fn cursor(&self) -> Cursor<'_> {
        ReadAtCursor::new(Padded(&self.io))
    }

    fn details(&self) -> serde_json::Value {
        serde_json::json!({
            "version": self.version.map(|(a, b)| format!("{a}.{b}")),
            "cluster_size": self.ntfs.cluster_size(),
            "file_record_size": self.ntfs.file_record_size(),
            "serial_number": format!("{:016X}", self.ntfs.serial_number()),
            "size": self.ntfs.size(),
        })
    }

    /// The MFT record `number`.
    fn file<'n>(&'n self, c: &mut Cursor<'_>, number: u64) -> Result<NtfsFile<'n>> {
        self.ntfs
            .file(c, number)
            .map_err(ntfs_err("MFT record"))
            .map_err(|e| e.with_offset(number * u64::from(self.ntfs.file_record_size())))
    }

    /// Visits the attributes of `file` (following attribute lists), at most [`MAX_ATTRIBUTES`].
    fn each_attribute<'n, 'f>(
        &self,
        file: &'f NtfsFile<'n>,
        c: &mut Cursor<'_>,
        mut visit: impl FnMut(&mut Cursor<'_>, NtfsAttributeItem<'n, 'f>) -> Result<bool>,
    ) -> Result<()> {
        let mut it = file.attributes();
        let mut seen = 0usize;
        while let Some(item) = it.next(c) {
            seen += 1;
            if seen > MAX_ATTRIBUTES {
                return Err(Error::limit(
                    FORMAT,
                    "attribute list",
                    file.position().value().map_or(0, |p| p.get()),
                    format!("more than {MAX_ATTRIBUTES} attributes in one file"),
                ));
            }
            let item = item.map_err(ntfs_err("attribute"))?;
            if !visit(c, item)? {
                break;
            }
        }
        Ok(())
    }

    /// Reads the summary of MFT record `number`.
    fn summary(&self, number: u64) -> Result<Summary> {
        let mut c = self.cursor();
        let file = self.file(&mut c, number)?;
        let mut s = Summary {
            is_dir: file.is_directory(),
            attributes: 0,
            times: None,
            links: 0,
            data: None,
            named: Vec::new(),
            reparse: None,
        };
        self.each_attribute(&file, &mut c, |c, item| {
            let attr = item.to_attribute().map_err(ntfs_err("attribute"))?;
            let Ok(ty) = attr.ty() else { return Ok(true) };
            match ty {
                NtfsAttributeType::StandardInformation => {
                    let si = attr
                        .resident_structured_value::<NtfsStandardInformation>()
                        .map_err(ntfs_err("$STANDARD_INFORMATION"))?;
                    s.attributes = si.file_attributes().bits();
                    s.times = Some([
                        si.modification_time().nt_timestamp(),
                        si.access_time().nt_timestamp(),
                        si.mft_record_modification_time().nt_timestamp(),
                        si.creation_time().nt_timestamp(),
                    ]);
                }
                NtfsAttributeType::FileName => {
                    let name = attr
                        .structured_value::<_, NtfsFileName>(c)
                        .map_err(ntfs_err("$FILE_NAME"))?;
                    if name.namespace() != NtfsFileNamespace::Dos {
                        s.links += 1;
                    }
                }
                NtfsAttributeType::Data => {
                    let name = attr.name().map_err(ntfs_err("$DATA"))?.to_string_lossy();
                    let info = StreamInfo {
                        name,
                        len: attr.value_length(),
                        flags: attr.flags(),
                    };
                    if info.name.is_empty() {
                        s.data.get_or_insert(info);
                    } else if !s.named.iter().any(|n| n.name == info.name) {
                        s.named.push(info);
                    }
                }
                NtfsAttributeType::ReparsePoint => {
                    let at = attr.position().value().map_or(0, |p| p.get());
                    let bytes = data::read_small(&attr, c, MAX_REPARSE, "$REPARSE_POINT")?;
                    s.reparse = Some((bytes, at));
                }
                _ => {}
            }
            Ok(true)
        })?;
        Ok(s)
    }

    /// The type of a record: symbolic links are reparse points with a link tag, or Interix
    /// links (system files starting with `IntxLNK\1`).
    fn file_type(&self, number: u64, s: &Summary) -> Result<FileType> {
        if let Some((data, _)) = &s.reparse {
            if reparse::tag(data).is_some_and(reparse::is_link_tag) {
                return Ok(FileType::Symlink);
            }
        }
        if s.is_dir {
            return Ok(FileType::Directory);
        }
        if self.interix_target(number, s)?.is_some() {
            return Ok(FileType::Symlink);
        }
        Ok(FileType::File)
    }

    fn interix_target(&self, number: u64, s: &Summary) -> Result<Option<String>> {
        let Some(d) = &s.data else { return Ok(None) };
        if s.attributes & FILE_ATTRIBUTE_SYSTEM == 0
            || d.len < reparse::INTERIX_SYMLINK.len() as u64
            || d.len > MAX_LINK
            || d.flags
                .intersects(NtfsAttributeFlags::COMPRESSED | NtfsAttributeFlags::ENCRYPTED)
        {
            return Ok(None);
        }
        let mut buf = vec![0u8; d.len as usize];
        let n = self.read_stream(number, 0, 0, &mut buf)?;
        buf.truncate(n);
        Ok(reparse::interix_target(&buf))
    }

    /// Reads stream `k` (0: the unnamed data) of record `number`.
    fn read_stream(&self, number: u64, k: usize, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let mut c = self.cursor();
        let file = self.file(&mut c, number)?;
        let mut result = None;
        self.with_data(&file, &mut c, k, |c, item| {
            result = Some(data::read(self, item, c, offset, buf));
            Ok(())
        })?;
        result.unwrap_or_else(|| Err(Error::not_found("the file has no such data stream")))
    }

    /// Calls `f` with stream `k` (0: the unnamed `$DATA`, k: the k-th distinct named one).
    fn with_data<'n, 'f>(
        &self,
        file: &'f NtfsFile<'n>,
        c: &mut Cursor<'_>,
        k: usize,
        mut f: impl FnMut(&mut Cursor<'_>, &NtfsAttributeItem<'n, 'f>) -> Result<()>,
    ) -> Result<()> {
        let mut names: Vec<String> = Vec::new();
        self.each_attribute(file, c, |c, item| {
            let attr = item.to_attribute().map_err(ntfs_err("attribute"))?;
            if attr.ty().ok() != Some(NtfsAttributeType::Data) {
                return Ok(true);
            }
            let name = attr.name().map_err(ntfs_err("$DATA"))?.to_string_lossy();
            let index = if name.is_empty() {
                0
            } else if let Some(i) = names.iter().position(|n| *n == name) {
                i + 1
            } else {
                names.push(name);
                names.len()
            };
            if index == k {
                f(c, &item)?;
                return Ok(false);
            }
            Ok(true)
        })
    }

    fn metadata_of(&self, node: NodeId) -> Result<Metadata> {
        let (number, k) = split(node);
        let s = self.summary(number)?;
        if k > 0 {
            let stream = s
                .named
                .get(k - 1)
                .ok_or_else(|| Error::not_found("no such data stream"))?;
            let mut m = Metadata::new(FileType::File, stream.len, node);
            m.mode = Some(0o644);
            m.nlink = Some(1);
            return Ok(m);
        }
        let file_type = self.file_type(number, &s)?;
        let size = match file_type {
            FileType::File => s.data.as_ref().map_or(0, |d| d.len),
            FileType::Symlink => self.read_link(node)?.len() as u64,
            _ => 0,
        };
        let mut m = Metadata::new(file_type, size, number);
        let mut mode = match file_type {
            FileType::Directory => 0o755,
            FileType::Symlink => 0o777,
            _ => 0o644,
        };
        if s.attributes & FILE_ATTRIBUTE_READONLY != 0 && file_type != FileType::Symlink {
            mode &= !0o222;
        }
        m.mode = Some(mode);
        m.nlink = Some(s.links.max(1));
        if let Some([mtime, atime, ctime, btime]) = s.times {
            m.mtime = filetime(mtime);
            m.atime = filetime(atime);
            m.ctime = filetime(ctime);
            m.btime = filetime(btime);
        }
        m.flags = flags(s.attributes);
        m.streams = s
            .named
            .iter()
            .map(|n| NamedStream {
                name: n.name.clone(),
                size: n.len,
            })
            .collect();
        Ok(m)
    }

    fn list(&self, dir: NodeId) -> Result<Vec<DirEntry>> {
        let (number, k) = split(dir);
        if k > 0 {
            return Err(Error::invalid_input("not a directory"));
        }
        let entries = data::directory_entries(self, number)?;
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            if e.record == number || (number == ROOT_RECORD && e.record < FIRST_USER_RECORD) {
                continue;
            }
            let file_type = if e.file_attributes & FILE_ATTRIBUTE_REPARSE_POINT != 0
                && reparse::is_link_tag(e.reparse_tag)
            {
                FileType::Symlink
            } else if e.file_attributes & FILE_NAME_DIRECTORY != 0 {
                FileType::Directory
            } else if e.file_attributes & FILE_ATTRIBUTE_SYSTEM != 0 && e.data_size <= MAX_LINK {
                // Maybe an Interix link: ask the record.
                let s = self.summary(e.record)?;
                self.file_type(e.record, &s)?
            } else {
                FileType::File
            };
            out.push(DirEntry {
                name: e.name,
                node: e.record,
                file_type,
            });
        }
        Ok(out)
    }

    fn count_used(&self) -> Result<Usage> {
        let cluster = u64::from(self.ntfs.cluster_size());
        let clusters = self.ntfs.size() / cluster;
        let mut used = 0u64;
        let mut buf = vec![0u8; 1 << 20];
        let mut bit = 0u64;
        while bit < clusters {
            let n = self.read_stream(BITMAP_RECORD, 0, bit / 8, &mut buf)?;
            if n == 0 {
                break;
            }
            for &byte in &buf[..n] {
                let valid = (clusters - bit).min(8);
                let mask = if valid == 8 { 0xFF } else { (1u8 << valid) - 1 };
                used += u64::from((byte & mask).count_ones());
                bit += 8;
                if bit >= clusters {
                    break;
                }
            }
        }
        Ok(Usage {
            total: self.ntfs.size(),
            used: used * cluster,
        })
    }
}

/// `FILE_ATTRIBUTE_*` bits to flag names.
fn flags(a: u32) -> Vec<&'static str> {
    [
        (FILE_ATTRIBUTE_READONLY, "readonly"),
        (FILE_ATTRIBUTE_HIDDEN, "hidden"),
        (FILE_ATTRIBUTE_SYSTEM, "system"),
        (FILE_ATTRIBUTE_ARCHIVE, "archive"),
        (FILE_ATTRIBUTE_COMPRESSED, "compressed"),
        (FILE_ATTRIBUTE_SPARSE, "sparse"),
        (FILE_ATTRIBUTE_ENCRYPTED, "encrypted"),
        (FILE_ATTRIBUTE_REPARSE_POINT, "reparse"),
    ]
    .into_iter()
    .filter(|(bit, _)| a & bit != 0)
    .map(|(_, name)| name)
    .collect()
}

impl FileSystem for NtfsFs {
    fn kind(&self) -> &'static str {
        FORMAT
    }

    fn label(&self) -> Option<String> {
        self.label.clone()
    }

    fn root(&self) -> NodeId {
        ROOT_RECORD
    }

    fn metadata(&self, node: NodeId) -> Result<Metadata> {
        self.metadata_of(node)
    }

    fn read_dir(&self, dir: NodeId) -> Result<Vec<DirEntry>> {
        self.list(dir)
    }

    fn lookup(&self, dir: NodeId, name: &str) -> Result<Option<NodeId>> {
        let entries = self.list(dir)?;
        if let Some(e) = entries.iter().find(|e| e.name == name) {
            return Ok(Some(e.node));
        }
        let Some((base, stream)) = name.rsplit_once(':') else {
            return Ok(None);
        };
        let Some(e) = entries.iter().find(|e| e.name == base) else {
            return Ok(None);
        };
        if stream.is_empty() {
            return Ok(None);
        }
        let s = self.summary(e.node)?;
        let k = s.named.iter().position(|n| n.name == stream).or_else(|| {
            let want = stream.to_lowercase();
            s.named.iter().position(|n| n.name.to_lowercase() == want)
        });
        Ok(k.map(|k| e.node | ((k as u64 + 1) << RECORD_BITS)))
    }

    fn read_at(&self, node: NodeId, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let (number, k) = split(node);
        self.read_stream(number, k, offset, buf)
    }

    fn read_link(&self, node: NodeId) -> Result<String> {
        let (number, k) = split(node);
        let s = self.summary(number)?;
        if k == 0 {
            if let Some((data, at)) = &s.reparse {
                if reparse::tag(data).is_some_and(reparse::is_link_tag) {
                    return reparse::target(data, *at);
                }
            }
            if let Some(t) = self.interix_target(number, &s)? {
                return Ok(t);
            }
        }
        Err(Error::invalid_input("not a symbolic link"))
    }

    fn file_extents(&self, node: NodeId) -> Result<Option<Vec<FileExtent>>> {
        let (number, k) = split(node);
        let mut c = self.cursor();
        let file = self.file(&mut c, number)?;
        let mut out = None;
        self.with_data(&file, &mut c, k, |c, item| {
            out = data::extents(self, item, c)?;
            Ok(())
        })?;
        Ok(out)
    }

    fn device(&self) -> &DeviceRef {
        &self.dev
    }

    fn usage(&self) -> Option<Usage> {
        *self.usage.get_or_init(|| self.count_used().ok())
    }

    fn allocation_map(&self) -> Option<&dyn crate::fs::AllocationMap> {
        Some(self)
    }
}

/// Clusters whose `$Bitmap` bit is set, and everything past the last whole cluster (the
/// backup boot sector lies there).
impl crate::fs::AllocationMap for NtfsFs {
    fn allocated_ranges(&self) -> Result<Vec<(u64, u64)>> {
        let cluster = u64::from(self.ntfs.cluster_size());
        let clusters = self.ntfs.size().min(self.dev.size()) / cluster;
        let mut used = crate::fs::used::RangeSet::with_gap(crate::fs::used::MERGE_GAP);
        let mut add = |offset: u64, len: u64| used.add(offset, len);
        let mut buf = vec![0u8; 1 << 20];
        let mut bit = 0u64;
        while bit < clusters {
            let n = self.read_stream(BITMAP_RECORD, 0, bit / 8, &mut buf)?;
            if n == 0 {
                break;
            }
            for &byte in &buf[..n] {
                if byte != 0 {
                    for i in 0..8 {
                        if byte & (1 << i) != 0 && bit + i < clusters {
                            add((bit + i) * cluster, cluster);
                        }
                    }
                }
                bit += 8;
                if bit >= clusters {
                    break;
                }
            }
        }
        let end = clusters * cluster;
        if self.dev.size() > end {
            add(end, self.dev.size() - end);
        }
        Ok(used.into_vec())
    }
}
