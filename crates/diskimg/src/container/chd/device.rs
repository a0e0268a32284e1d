//! The data of a CHD as a device: hunks located by the map, decompressed on demand into a
//! [`HunkCache`], references to other hunks and to the parent image followed, CRCs checked.
//!
//! Reads are positioned and on `&self`. A read spanning several hunks decompresses them in
//! parallel (rayon), whole hunks straight into the caller's buffer; partial hunks go through
//! the cache. Hunk references are followed at most [`MAX_SELF_HOPS`] times, so a map whose
//! references form a loop is an error, not a hang.

use super::FORMAT;
use super::cache::HunkCache;
use super::codec::{CodecPool, crc16};
use super::header::ChdHeader;
use super::map::{self, Crc, HunkEntry};
use super::metadata::MetadataEntry;
use crate::device::{BlockDevice, Geometry};
use crate::error::{Error, ErrorKind, Result};
use crate::io::{ReadAt, clamp_len};
use chd::map::Map;
use rayon::prelude::*;
use std::path::PathBuf;
use std::sync::Arc;

/// Most hunk-to-hunk references followed for one hunk (chdman always points at a stored hunk).
pub const MAX_SELF_HOPS: usize = 16;
/// Bytes of decompressed hunks kept.
const CACHE_BYTES: u64 = 16 << 20;

/// The parent image of a child CHD.
pub struct Parent {
    /// Where it was found.
    pub path: PathBuf,
    /// Its data.
    pub device: Arc<ChdDevice>,
}

/// An opened CHD's data.
pub struct ChdDevice {
    file: Arc<dyn ReadAt>,
    /// The header.
    pub header: ChdHeader,
    /// Bytes per unit (version 5 header; versions 3/4: from the metadata).
    pub unit_bytes: u32,
    /// Metadata entries.
    pub metadata: Vec<MetadataEntry>,
    map: Map,
    codecs: CodecPool,
    cache: HunkCache,
    sector_size: u32,
    /// The parent, when the image has one and it was found.
    pub parent: Option<Parent>,
    /// Why the parent could not be opened.
    pub parent_error: Option<String>,
}

impl ChdDevice {
    /// Opens the CHD in `file` (header, metadata and map checked); `find_parent` is asked for
    /// the parent when the image has one.
    pub fn open(
        file: Arc<dyn ReadAt>,
        find_parent: &dyn Fn(&ChdHeader) -> Result<Parent>,
    ) -> Result<ChdDevice> {
        let header = ChdHeader::read(file.as_ref())?;
        let metadata = super::metadata::read_metadata(file.as_ref(), header.meta_offset)?;
        let unit_bytes = unit_bytes(&header, &metadata)?;
        let crate_header = {
            let mut cursor = crate::io::ReadAtCursor::new(file.as_ref());
            chd::header::Header::try_read_header(&mut cursor)
                .map_err(|e| Error::corrupt(FORMAT, "header", 0, format!("header refused: {e}")))?
        };
        let map = map::read_map(file.as_ref(), &crate_header, &header)?;
        map::check_all(&map, &header, file.size())?;
        let tags: Vec<u32> = header.codecs().collect();
        let codecs = CodecPool::new(tags, header.hunk_bytes)?;
        let (parent, parent_error) = if header.has_parent {
            match find_parent(&header) {
                Ok(p) => {
                    if p.device.unit_bytes != unit_bytes
                        || p.device.header.hunk_bytes != header.hunk_bytes
                    {
                        (
                            None,
                            Some(format!(
                                "parent {} has {}-byte hunks of {}-byte units; this image has {} of {}",
                                p.path.display(),
                                p.device.header.hunk_bytes,
                                p.device.unit_bytes,
                                header.hunk_bytes,
                                unit_bytes
                            )),
                        )
                    } else {
                        (Some(p), None)
                    }
                }
                Err(e) => (None, Some(e.to_string())),
            }
        } else {
            (None, None)
        };
        let sector_size = sector_size(&metadata, unit_bytes);
        Ok(ChdDevice {
            file,
            cache: HunkCache::new(header.hunk_bytes, CACHE_BYTES),
            header,
            unit_bytes,
            metadata,
            map,
            codecs,
            sector_size,
            parent,
            parent_error,
        })
    }

    /// Bytes per hunk.
    pub fn hunk_bytes(&self) -> usize {
        self.header.hunk_bytes as usize
    }

    /// The normalised map entry of hunk `n` (checked at open).
    pub fn entry(&self, n: u32) -> Result<HunkEntry> {
        map::entry(&self.map, &self.header, n, self.file.size())
    }

    /// Decompresses hunk `n` into `out` (one hunk), checking its CRC.
    pub fn read_hunk(&self, n: u32, out: &mut [u8]) -> Result<()> {
        let mut at = n;
        let mut entry = self.entry(at)?;
        let mut hops = 0;
        while let HunkEntry::SameAs(target) = entry {
            hops += 1;
            if hops > MAX_SELF_HOPS {
                return Err(Error::corrupt(
                    FORMAT,
                    "hunk map",
                    self.header.map_offset,
                    format!(
                        "hunk {n}: more than {MAX_SELF_HOPS} hunk references in a row (a loop?)"
                    ),
                ));
            }
            at = target;
            entry = self.entry(at)?;
        }
        self.decode(at, entry, out)
    }

    fn decode(&self, n: u32, entry: HunkEntry, out: &mut [u8]) -> Result<()> {
        let crc = match entry {
            HunkEntry::Codec {
                codec,
                offset,
                len,
                crc,
            } => {
                let mut packed = vec![0u8; len as usize];
                self.file.read_exact_at(offset, &mut packed)?;
                let mut set = self.codecs.take()?;
                let r = set.decompress(codec, &packed, out);
                self.codecs.put(set);
                r.map_err(|e| e.with_offset(offset).with_structure("hunk"))?;
                crc
            }
            HunkEntry::Plain { offset, crc } => {
                self.file.read_exact_at(offset, out)?;
                crc
            }
            HunkEntry::Zero => {
                out.fill(0);
                Crc::None
            }
            HunkEntry::Mini(v) => {
                for (i, b) in out.iter_mut().enumerate() {
                    *b = v.to_be_bytes()[i % 8];
                }
                Crc::None
            }
            HunkEntry::SameAs(_) => {
                return Err(Error::corrupt(
                    FORMAT,
                    "hunk map",
                    0,
                    "unresolved reference",
                ));
            }
            HunkEntry::ParentUnit(unit) => {
                let offset = unit.checked_mul(u64::from(self.unit_bytes));
                self.read_parent(n, offset, out)?;
                Crc::None
            }
            HunkEntry::ParentOffset(offset) => {
                self.read_parent(n, Some(offset), out)?;
                Crc::None
            }
        };
        let ok = match crc {
            Crc::None => true,
            Crc::Crc16(c) => crc16(out) == c,
            Crc::Crc32(c) => crc32fast::hash(out) == c,
        };
        if !ok {
            return Err(Error::corrupt(
                FORMAT,
                "hunk",
                0,
                format!("hunk {n}: CRC of the decompressed data does not match the map"),
            ));
        }
        Ok(())
    }

    fn read_parent(&self, n: u32, offset: Option<u64>, out: &mut [u8]) -> Result<()> {
        let Some(p) = &self.parent else {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "hunk {n} is in the parent image, which is not available: {}",
                    self.parent_error.as_deref().unwrap_or("not found")
                ),
            )
            .with_format(FORMAT));
        };
        let offset = offset
            .filter(|o| {
                o.checked_add(out.len() as u64)
                    .is_some_and(|e| e <= p.device.size())
            })
            .ok_or_else(|| {
                Error::corrupt(
                    FORMAT,
                    "hunk map",
                    self.header.map_offset,
                    format!("hunk {n} refers past the end of the parent image"),
                )
            })?;
        p.device.read_exact_at(offset, out)
    }

    /// Hunk `n` through the cache.
    fn cached(&self, n: u32) -> Result<Arc<[u8]>> {
        if let Some(h) = self.cache.get(n) {
            return Ok(h);
        }
        let mut buf = vec![0u8; self.hunk_bytes()];
        self.read_hunk(n, &mut buf)?;
        let h: Arc<[u8]> = buf.into();
        self.cache.insert(n, h.clone());
        Ok(h)
    }

    /// The metadata entries with `tag`.
    pub fn metadata_with(&self, tag: u32) -> impl Iterator<Item = &MetadataEntry> {
        self.metadata.iter().filter(move |m| m.tag == tag)
    }
}

/// The unit size: the header's (version 5), else the hard-disk sector size, else a CD frame
/// for CD images, else the hunk size (what MAME assumes for versions 3/4).
fn unit_bytes(h: &ChdHeader, meta: &[MetadataEntry]) -> Result<u32> {
    use super::metadata::{CD_OLD, CD_TRACK, CD_TRACK2, GD_TRACK, HARD_DISK, number};
    if h.version == 5 {
        return Ok(h.unit_bytes);
    }
    if let Some(m) = meta.iter().find(|m| m.tag == HARD_DISK) {
        let bps = number(&m.text(), "BPS").unwrap_or(0);
        if bps == 0 || bps > u64::from(h.hunk_bytes) || u64::from(h.hunk_bytes) % bps != 0 {
            return Err(Error::corrupt(
                FORMAT,
                "metadata",
                m.offset,
                format!(
                    "hard-disk sector size {bps} does not fit {}-byte hunks",
                    h.hunk_bytes
                ),
            ));
        }
        return Ok(bps as u32);
    }
    if meta
        .iter()
        .any(|m| [CD_OLD, CD_TRACK, CD_TRACK2, GD_TRACK].contains(&m.tag))
    {
        return Ok(super::cd::FRAME as u32);
    }
    Ok(h.hunk_bytes)
}

/// The device's sector size: the hard disk's, 2048 for DVDs, else 512.
fn sector_size(meta: &[MetadataEntry], unit_bytes: u32) -> u32 {
    use super::metadata::{DVD, HARD_DISK};
    if meta.iter().any(|m| m.tag == DVD) {
        return 2048;
    }
    if meta.iter().any(|m| m.tag == HARD_DISK) && unit_bytes.is_power_of_two() && unit_bytes >= 512
    {
        return unit_bytes;
    }
    512
}

impl ReadAt for ChdDevice {
    fn size(&self) -> u64 {
        self.header.logical_bytes
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let n = clamp_len(offset, buf.len(), self.size());
        if n == 0 {
            return Ok(0);
        }
        let hunk = self.hunk_bytes() as u64;
        // Split the request at hunk boundaries: (hunk number, offset in the hunk, piece).
        let mut pieces = Vec::new();
        let mut rest = &mut buf[..n];
        let mut pos = offset;
        while !rest.is_empty() {
            let within = pos % hunk;
            let take = ((hunk - within) as usize).min(rest.len());
            let (piece, tail) = rest.split_at_mut(take);
            pieces.push(((pos / hunk) as u32, within as usize, piece));
            rest = tail;
            pos += take as u64;
        }
        let fill = |(h, within, piece): &mut (u32, usize, &mut [u8])| -> Result<()> {
            if *within == 0 && piece.len() == hunk as usize && self.cache.get(*h).is_none() {
                return self.read_hunk(*h, piece);
            }
            let data = self.cached(*h)?;
            piece.copy_from_slice(&data[*within..*within + piece.len()]);
            Ok(())
        };
        if pieces.len() > 1 {
            pieces.par_iter_mut().try_for_each(fill)?;
        } else {
            pieces.iter_mut().try_for_each(fill)?;
        }
        Ok(n)
    }
}

impl BlockDevice for ChdDevice {
    fn geometry(&self) -> Geometry {
        Geometry {
            sector_size: self.sector_size,
        }
    }
}
