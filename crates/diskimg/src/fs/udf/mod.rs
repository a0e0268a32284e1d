//! UDF (ECMA-167 3rd edition, OSTA UDF 1.02-2.60), read-only.
//!
//! Supported: the volume recognition sequence; anchors at sector 256, N-257 and N-1 (and 512);
//! the main volume descriptor sequence, or the reserve one when the main one is damaged (said
//! in a warning); logical blocks of 512 to 32768 bytes; partition maps of type 1, virtual
//! (the VAT of UDF 1.50 and 2.00+, found at the end of the medium), sparable (sparing tables,
//! first valid copy) and metadata (UDF 2.50+: the metadata file, or its mirror when the file
//! is damaged); the file set descriptor and root directory; file entries and extended file
//! entries, ICB strategies 4 and 4096; short, long and extended allocation descriptors,
//! embedded data, allocation extent descriptor chains; unrecorded and unallocated extents
//! (read as zeros, holes in `file_extents`); file identifiers in OSTA CS0 (8 and 16 bits);
//! hidden files (listed), deleted and parent entries (skipped); symbolic links (path
//! components); hard links (one ICB, one inode); times with their time zone; permissions as a
//! POSIX mode; owner and group (-1 is unset); device numbers; usage from the logical volume
//! integrity descriptor. Every descriptor's tag checksum, CRC and location are checked.
//! Not supported: named streams and the system stream directory (ignored), extended
//! attributes other than device specifications (ignored), multi-volume sets, real-time and
//! transformed (compressed, encrypted) files (read as stored), writing.
//!
//! Nodes are addressed by the `lb_addr` of their ICB (partition reference in the high 32
//! bits, block in the low), so hard links share an inode; parsed entries are kept in a small
//! cache and structure reads go through a block cache.

mod alloc;
mod detect;
mod dir;
mod fields;
mod icb;
mod maps;
mod open;
mod partition;
mod symlink;
mod tag;
mod volume;

pub use detect::has_nsr;
pub use open::{DESCRIPTOR, open_volume};

/// What the UDF writer (`build::udf`) shares with this reader: descriptor tag identifiers, the
/// tag checksum and CRC, ICB file types and file characteristics; in tests, the decoders that
/// check what the writer encodes.
pub(crate) mod spec {
    pub(crate) use super::dir::characteristics;
    #[cfg(test)]
    pub(crate) use super::fields::{cs0, dstring, timestamp};
    pub(crate) use super::icb::file_type;
    pub(crate) use super::tag::{TAG_LEN, checksum, crc_itu_t, id};
}

use crate::device::DeviceRef;
use crate::error::{Error, Result};
use crate::fs::{DirEntry, FileExtent, FileSystem, FileType, Metadata, NodeId, Usage};
use crate::io::{BlockCache, ReadAt, clamp_len};
use alloc::DataExtent;
use dir::characteristics;
use fields::LbAddr;
use icb::{Data, FileEntry, file_type};
use partition::Partition;
use std::sync::{Arc, Mutex};

/// Format name used in errors, `info` and `--namespace`.
pub const FORMAT: &str = "udf";
/// Bytes of structure cached per open volume.
const META_CACHE: u64 = 4 * 1024 * 1024;
/// Parsed file entries kept.
const ENTRY_CACHE: usize = 64;
/// Most device runs `file_extents` lists before it declines (reads still work).
const MAX_FILE_RUNS: usize = 1 << 20;

/// An open UDF volume as a [`FileSystem`].
pub struct UdfFs {
    dev: DeviceRef,
    meta: BlockCache<DeviceRef>,
    block_size: u64,
    maps: Vec<Partition>,
    root: NodeId,
    label: String,
    usage: Option<Usage>,
    entries: Mutex<Vec<(NodeId, Arc<FileEntry>)>>,
}

fn node_id(at: LbAddr) -> NodeId {
    (u64::from(at.partition) << 32) | u64::from(at.block)
}

fn node_addr(node: NodeId) -> Result<LbAddr> {
    let partition = u16::try_from(node >> 32)
        .map_err(|_| Error::invalid_input(format!("no UDF node {node}")))?;
    Ok(LbAddr {
        block: node as u32,
        partition,
    })
}

impl UdfFs {
    /// Device offset of `block` in partition `part`, and how many blocks (up to `want`)
    /// follow it contiguously. `from` is the offset of the referring structure, for errors.
    fn locate(&self, part: u16, block: u64, want: u64, from: u64) -> Result<(u64, u64)> {
        partition::locate(&self.maps, self.block_size, part, block, want)
            .map_err(|e| e.with_offset(from))
    }

    /// One logical block and its device offset.
    fn read_block(&self, at: LbAddr, structure: &'static str, from: u64) -> Result<(Vec<u8>, u64)> {
        let (offset, _) = self
            .locate(at.partition, u64::from(at.block), 1, from)
            .map_err(|e| e.with_structure(structure))?;
        let mut b = vec![0u8; self.block_size as usize];
        self.meta.read_exact_at(offset, &mut b).map_err(|e| {
            e.with_format(FORMAT)
                .with_structure(structure)
                .with_offset(offset)
        })?;
        Ok((b, offset))
    }

    /// Device offset of an entry, for errors.
    fn entry_offset(&self, e: &FileEntry) -> u64 {
        self.locate(e.location.partition, u64::from(e.location.block), 1, 0)
            .map_or(0, |(o, _)| o)
    }

    /// The entry of a node, from the cache when it was read recently.
    fn entry(&self, node: NodeId) -> Result<Arc<FileEntry>> {
        {
            let mut cache = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(i) = cache.iter().position(|(n, _)| *n == node) {
                let hit = cache.remove(i);
                let e = hit.1.clone();
                cache.push(hit);
                return Ok(e);
            }
        }
        let e = Arc::new(self.read_entry(node_addr(node)?, 0)?);
        let mut cache = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= ENTRY_CACHE {
            cache.remove(0);
        }
        cache.push((node, e.clone()));
        Ok(e)
    }

    /// Reads an entry's data at `offset` into `buf`; returns the bytes read.
    fn read_data(&self, e: &FileEntry, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let want = clamp_len(offset, buf.len(), e.info_len);
        let extents = match &e.data {
            Data::Inline { bytes, .. } => {
                let n = clamp_len(offset, want, bytes.len() as u64);
                let start = offset as usize;
                buf[..n].copy_from_slice(&bytes[start..start + n]);
                buf[n..want].fill(0);
                return Ok(want);
            }
            Data::Extents(x) => x,
        };
        let bs = self.block_size;
        let mut done = 0usize;
        let mut i = extents.partition_point(|x| x.file_offset + x.len <= offset);
        while done < want {
            let pos = offset + done as u64;
            let Some(x) = extents.get(i).filter(|x| x.file_offset <= pos) else {
                // Past the last extent (or between extents): zeros.
                let end = extents
                    .get(i)
                    .map_or(e.info_len, |x| x.file_offset)
                    .min(offset + want as u64);
                let n = (end - pos) as usize;
                buf[done..done + n].fill(0);
                done += n;
                continue;
            };
            let within = pos - x.file_offset;
            let left = ((x.len - within) as usize).min(want - done);
            let consumed = match x.at {
                None => {
                    buf[done..done + left].fill(0);
                    left
                }
                Some(at) => {
                    let block = u64::from(at.block) + within / bs;
                    let in_block = within % bs;
                    let blocks = (in_block + left as u64).div_ceil(bs);
                    let (dev_off, run) =
                        self.locate(at.partition, block, blocks, self.entry_offset(e))?;
                    let n = ((run * bs - in_block) as usize).min(left);
                    let dev_off = dev_off + in_block;
                    self.dev
                        .read_exact_at(dev_off, &mut buf[done..done + n])
                        .map_err(|err| {
                            err.with_format(FORMAT)
                                .with_structure("file data")
                                .with_offset(dev_off)
                        })?;
                    n
                }
            };
            done += consumed;
            if pos + consumed as u64 >= x.file_offset + x.len {
                i += 1;
            }
        }
        Ok(want)
    }

    fn kind_of(e: &FileEntry) -> FileType {
        match e.file_type {
            file_type::DIRECTORY | file_type::STREAM_DIRECTORY => FileType::Directory,
            file_type::SYMLINK => FileType::Symlink,
            file_type::BLOCK_DEVICE => FileType::BlockDevice,
            file_type::CHAR_DEVICE => FileType::CharDevice,
            file_type::FIFO => FileType::Fifo,
            file_type::SOCKET => FileType::Socket,
            _ => FileType::File,
        }
    }

    fn link_target(&self, e: &FileEntry) -> Result<String> {
        let offset = self.entry_offset(e);
        if e.info_len > symlink::MAX_LINK_LEN {
            return Err(Error::limit(
                FORMAT,
                "symbolic link",
                offset,
                format!("link data of {} bytes", e.info_len),
            ));
        }
        let mut b = vec![0u8; e.info_len as usize];
        self.read_data(e, 0, &mut b)?;
        symlink::target(&b, offset)
    }

    fn list(&self, dir: NodeId) -> Result<Vec<DirEntry>> {
        let e = self.entry(dir)?;
        if Self::kind_of(&e) != FileType::Directory {
            return Err(Error::invalid_input("not a directory"));
        }
        let mut out = Vec::new();
        for fid in self.file_ids(&e)? {
            if fid.characteristics & (characteristics::DELETED | characteristics::PARENT) != 0
                || fid.icb.bytes() == 0
                || fid.name.is_empty()
            {
                continue;
            }
            let node = node_id(fid.icb.location);
            let file_type = match self.entry(node) {
                Ok(child) => Self::kind_of(&child),
                Err(_) if fid.characteristics & characteristics::DIRECTORY != 0 => {
                    FileType::Directory
                }
                Err(_) => FileType::File,
            };
            out.push(DirEntry {
                name: fid.name,
                node,
                file_type,
            });
        }
        Ok(out)
    }

    fn plain_extents(&self, e: &FileEntry) -> Result<Option<Vec<FileExtent>>> {
        let extents: &[DataExtent] = match &e.data {
            Data::Inline { bytes, offset } => {
                return Ok(Some(if bytes.is_empty() {
                    Vec::new()
                } else {
                    vec![FileExtent {
                        file_offset: 0,
                        len: bytes.len() as u64,
                        device_offset: Some(*offset),
                    }]
                }));
            }
            Data::Extents(x) => x,
        };
        let bs = self.block_size;
        let mut out: Vec<FileExtent> = Vec::new();
        let mut push = |x: FileExtent| {
            if let Some(last) = out.last_mut() {
                let joins = match (last.device_offset, x.device_offset) {
                    (Some(a), Some(b)) => a + last.len == b,
                    (None, None) => true,
                    _ => false,
                };
                if joins && last.file_offset + last.len == x.file_offset {
                    last.len += x.len;
                    return out.len() <= MAX_FILE_RUNS;
                }
            }
            out.push(x);
            out.len() <= MAX_FILE_RUNS
        };
        let mut end = 0;
        for x in extents {
            end = x.file_offset + x.len;
            let Some(at) = x.at else {
                if !push(FileExtent {
                    file_offset: x.file_offset,
                    len: x.len,
                    device_offset: None,
                }) {
                    return Ok(None);
                }
                continue;
            };
            let mut done = 0u64;
            while done < x.len {
                let block = u64::from(at.block) + done / bs;
                let (dev, run) = self.locate(
                    at.partition,
                    block,
                    (x.len - done).div_ceil(bs),
                    self.entry_offset(e),
                )?;
                let n = (run * bs).min(x.len - done);
                if !push(FileExtent {
                    file_offset: x.file_offset + done,
                    len: n,
                    device_offset: Some(dev),
                }) {
                    return Ok(None);
                }
                done += n;
            }
        }
        if end < e.info_len
            && !push(FileExtent {
                file_offset: end,
                len: e.info_len - end,
                device_offset: None,
            })
        {
            return Ok(None);
        }
        Ok(Some(out))
    }
}

impl FileSystem for UdfFs {
    fn kind(&self) -> &'static str {
        FORMAT
    }

    fn label(&self) -> Option<String> {
        (!self.label.is_empty()).then(|| self.label.clone())
    }

    fn root(&self) -> NodeId {
        self.root
    }

    fn metadata(&self, node: NodeId) -> Result<Metadata> {
        let e = self.entry(node)?;
        let file_type = Self::kind_of(&e);
        let size = match file_type {
            FileType::Symlink => self.link_target(&e)?.len() as u64,
            FileType::File | FileType::Directory => e.info_len,
            _ => 0,
        };
        let mut m = Metadata::new(file_type, size, node);
        m.mode = Some(e.mode());
        m.uid = (e.uid != u32::MAX).then_some(e.uid);
        m.gid = (e.gid != u32::MAX).then_some(e.gid);
        m.nlink = Some(u32::from(e.link_count));
        m.mtime = e.mtime;
        m.atime = e.atime;
        m.ctime = e.ctime;
        m.btime = e.btime;
        m.rdev = e.rdev;
        Ok(m)
    }

    fn read_dir(&self, dir: NodeId) -> Result<Vec<DirEntry>> {
        self.list(dir)
    }

    fn read_at(&self, node: NodeId, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let e = self.entry(node)?;
        match Self::kind_of(&e) {
            FileType::File => self.read_data(&e, offset, buf),
            FileType::Directory => Err(Error::invalid_input("is a directory")),
            _ => Ok(0),
        }
    }

    fn read_link(&self, node: NodeId) -> Result<String> {
        let e = self.entry(node)?;
        if Self::kind_of(&e) != FileType::Symlink {
            return Err(Error::invalid_input("not a symbolic link"));
        }
        self.link_target(&e)
    }

    fn file_extents(&self, node: NodeId) -> Result<Option<Vec<FileExtent>>> {
        let e = self.entry(node)?;
        if Self::kind_of(&e) != FileType::File {
            return Ok(None);
        }
        self.plain_extents(&e)
    }

    fn device(&self) -> &DeviceRef {
        &self.dev
    }

    fn usage(&self) -> Option<Usage> {
        self.usage
    }
}
