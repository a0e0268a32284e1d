//! The hosted sparse extent (VMware "Virtual Disk Format 1.1", "Hosted Sparse Extents" and
//! "Stream-Optimized Compressed Sparse Extents").
//!
//! A 512-byte header (`KDMV`) gives the capacity, the grain size, where an embedded descriptor
//! is, the grain directory (GD) and its redundant copy. GD entries point at grain tables (GTs)
//! of `numGTEsPerGT` entries, and GT entries at grains: 0 means not allocated (the parent's data
//! or zeros), 1 a zero grain when the header's flag 2 is set. Stream-optimized extents compress
//! each grain (deflate, zlib framing) behind a 12-byte grain marker (LBA, size), and may put the
//! GD at the end: the header then says `gdOffset = -1` and a footer (a copy of the header with
//! the real offset) sits 1024 bytes before the end, after a footer marker.

use crate::container::bytes::{le16, le32, le64};
use crate::container::mapped::Run;
use crate::device::DeviceRef;
use crate::error::{Error, Result};
use crate::io::{BlockCache, ReadAt, read_vec};
use std::sync::{Arc, Mutex};

/// The sparse magic, "KDMV".
pub const SPARSE_MAGIC: u32 = 0x564D_444B;
/// `gdOffset` meaning "the GD is at the end, read the footer".
pub const GD_AT_END: u64 = u64::MAX;
/// Largest grain accepted, in sectors: 1 MiB (VMware and qemu write 64 KiB grains). Bounds the
/// memory a decoded compressed grain takes.
pub const MAX_GRAIN_SECTORS: u64 = 2048;
/// Most entries per grain table (VMware and qemu use 512).
pub const MAX_GTES_PER_GT: u32 = 512;
/// Largest grain directory read, in entries.
pub const MAX_GD_ENTRIES: u64 = 1 << 24;
/// Most grain tables read to count allocated grains for `info` (a 4 TiB disk of 64 KiB grains).
pub const MAX_COUNTED_GTS: usize = 1 << 17;
/// Decoded grains kept for reads that come in smaller pieces.
const DECODED_CACHE: usize = 16;
/// Header flags.
pub mod flags {
    /// Redundant grain table in use.
    pub const REDUNDANT_GT: u32 = 1 << 1;
    /// GT entry 1 means a zero grain.
    pub const ZEROED_GRAIN: u32 = 1 << 2;
    /// Grains are compressed.
    pub const COMPRESSED: u32 = 1 << 16;
    /// Metadata markers are present.
    pub const MARKERS: u32 = 1 << 17;
    /// The newline-detection characters are valid.
    pub const VALID_NEWLINE: u32 = 1;
}

/// Stream-optimized marker types (the `type` of a metadata marker).
pub mod marker {
    /// End of stream.
    pub const EOS: u32 = 0;
    /// A grain table follows.
    pub const GT: u32 = 1;
    /// The grain directory follows.
    pub const GD: u32 = 2;
    /// The footer follows.
    pub const FOOTER: u32 = 3;
}

/// The sparse extent header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SparseExtentHeader {
    /// 1, 2 or 3.
    pub version: u32,
    /// [`flags`].
    pub flags: u32,
    /// Sectors the extent holds.
    pub capacity: u64,
    /// Sectors per grain.
    pub grain_size: u64,
    /// Sector of the embedded descriptor (0: none).
    pub descriptor_offset: u64,
    /// Sectors of the embedded descriptor.
    pub descriptor_size: u64,
    /// Entries per grain table.
    pub num_gtes_per_gt: u32,
    /// Sector of the redundant GD.
    pub rgd_offset: u64,
    /// Sector of the GD, or [`GD_AT_END`].
    pub gd_offset: u64,
    /// Sectors of metadata before the first grain.
    pub overhead: u64,
    /// Set while a writer has the extent open.
    pub unclean_shutdown: bool,
    /// 0 none, 1 deflate.
    pub compress_algorithm: u16,
}

impl SparseExtentHeader {
    /// Parses and checks a header read at `offset`.
    pub fn parse(b: &[u8], offset: u64) -> Result<SparseExtentHeader> {
        let bad = |msg: String| Error::corrupt("vmdk", "sparse extent header", offset, msg);
        if le32(b, 0) != SPARSE_MAGIC {
            return Err(bad("no \"KDMV\" magic".into()));
        }
        let h = SparseExtentHeader {
            version: le32(b, 4),
            flags: le32(b, 8),
            capacity: le64(b, 12),
            grain_size: le64(b, 20),
            descriptor_offset: le64(b, 28),
            descriptor_size: le64(b, 36),
            num_gtes_per_gt: le32(b, 44),
            rgd_offset: le64(b, 48),
            gd_offset: le64(b, 56),
            overhead: le64(b, 64),
            unclean_shutdown: b.get(72).is_some_and(|&x| x != 0),
            compress_algorithm: le16(b, 77),
        };
        if !(1..=3).contains(&h.version) {
            return Err(Error::unsupported(
                "vmdk",
                format!("sparse extent version {}", h.version),
            ));
        }
        if h.grain_size == 0 || h.grain_size > MAX_GRAIN_SECTORS {
            return Err(bad(format!(
                "grain of {} sectors (1 to {MAX_GRAIN_SECTORS})",
                h.grain_size
            )));
        }
        if h.num_gtes_per_gt == 0 || h.num_gtes_per_gt > MAX_GTES_PER_GT {
            return Err(bad(format!(
                "{} entries per grain table (1 to {MAX_GTES_PER_GT})",
                h.num_gtes_per_gt
            )));
        }
        if h.flags & flags::COMPRESSED != 0 && h.compress_algorithm != 1 {
            return Err(Error::unsupported(
                "vmdk",
                format!("compression algorithm {}", h.compress_algorithm),
            ));
        }
        Ok(h)
    }

    /// The 512 bytes of this header (with the newline-detection characters VMware writes).
    pub fn to_bytes(&self) -> [u8; 512] {
        let mut b = [0u8; 512];
        b[0..4].copy_from_slice(&SPARSE_MAGIC.to_le_bytes());
        b[4..8].copy_from_slice(&self.version.to_le_bytes());
        b[8..12].copy_from_slice(&self.flags.to_le_bytes());
        b[12..20].copy_from_slice(&self.capacity.to_le_bytes());
        b[20..28].copy_from_slice(&self.grain_size.to_le_bytes());
        b[28..36].copy_from_slice(&self.descriptor_offset.to_le_bytes());
        b[36..44].copy_from_slice(&self.descriptor_size.to_le_bytes());
        b[44..48].copy_from_slice(&self.num_gtes_per_gt.to_le_bytes());
        b[48..56].copy_from_slice(&self.rgd_offset.to_le_bytes());
        b[56..64].copy_from_slice(&self.gd_offset.to_le_bytes());
        b[64..72].copy_from_slice(&self.overhead.to_le_bytes());
        b[72] = u8::from(self.unclean_shutdown);
        b[73..77].copy_from_slice(b"\n \r\n");
        b[77..79].copy_from_slice(&self.compress_algorithm.to_le_bytes());
        b
    }

    /// Bytes per grain.
    pub fn grain_bytes(&self) -> u64 {
        self.grain_size * 512
    }
}

/// An opened sparse extent: header, GD in memory, GTs and decoded grains cached.
pub(crate) struct SparseExtent {
    pub(crate) header: SparseExtentHeader,
    file: DeviceRef,
    gd: Vec<u32>,
    meta: BlockCache<DeviceRef>,
    decoded: Mutex<Vec<(u64, Arc<[u8]>)>>,
    /// Guest bytes the extent covers in its disk.
    size: u64,
}

impl SparseExtent {
    /// Opens the sparse extent in `file`, covering `size` guest bytes.
    pub(crate) fn open(
        file: DeviceRef,
        size: u64,
        warnings: &mut Vec<String>,
    ) -> Result<SparseExtent> {
        let head = read_vec(file.as_ref(), 0, 512, 512)?;
        let mut header = SparseExtentHeader::parse(&head, 0)?;
        if header.gd_offset == GD_AT_END {
            header = read_footer(file.as_ref())?;
        }
        if header.unclean_shutdown {
            warnings.push("the extent was not closed cleanly (uncleanShutdown is set)".into());
        }
        let per_gt = header.grain_size * u64::from(header.num_gtes_per_gt);
        let entries = header.capacity.div_ceil(per_gt);
        if entries > MAX_GD_ENTRIES {
            return Err(Error::limit(
                "vmdk",
                "grain directory",
                header.gd_offset,
                format!("{entries} entries exceed the limit of {MAX_GD_ENTRIES}"),
            ));
        }
        if size > header.capacity.saturating_mul(512) {
            return Err(Error::corrupt(
                "vmdk",
                "sparse extent header",
                0,
                format!(
                    "the descriptor gives the extent {size} bytes, its header only {} sectors",
                    header.capacity
                ),
            ));
        }
        let read_gd = |sector: u64| -> Result<Vec<u32>> {
            let at = sector.checked_mul(512).ok_or_else(|| {
                Error::corrupt("vmdk", "grain directory", sector, "offset overflows")
            })?;
            let raw =
                read_vec(file.as_ref(), at, entries * 4, MAX_GD_ENTRIES * 4).map_err(|e| {
                    e.with_format("vmdk")
                        .with_structure("grain directory")
                        .with_offset(at)
                })?;
            Ok(raw
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect())
        };
        let gd = match read_gd(header.gd_offset) {
            Ok(gd) => gd,
            Err(e) if header.flags & flags::REDUNDANT_GT != 0 && header.rgd_offset != 0 => {
                let gd = read_gd(header.rgd_offset)?;
                warnings.push(format!(
                    "the grain directory is unreadable ({e}); used the redundant copy"
                ));
                gd
            }
            Err(e) => return Err(e),
        };
        Ok(SparseExtent {
            header,
            meta: BlockCache::new(file.clone(), 64 * 1024, 4 << 20),
            file,
            gd,
            decoded: Mutex::new(Vec::new()),
            size,
        })
    }

    /// The run at extent byte `offset` (at most `max_len` bytes).
    pub(crate) fn lookup(&self, offset: u64, max_len: u64, source: usize) -> Result<(Run, u64)> {
        let h = &self.header;
        let gb = h.grain_bytes();
        let per_gt = u64::from(h.num_gtes_per_gt);
        let grain = offset / gb;
        let within = offset % gb;
        let max_len = max_len.min(self.size - offset);
        let gt_index = grain / per_gt;
        let gde = *self.gd.get(gt_index as usize).ok_or_else(|| {
            Error::corrupt(
                "vmdk",
                "grain directory",
                h.gd_offset * 512,
                "grain beyond the directory",
            )
        })?;
        let first = grain % per_gt;
        let gt_end_bytes = (gt_index + 1) * per_gt * gb - offset;
        if gde == 0 {
            return Ok((Run::Absent, max_len.min(gt_end_bytes)));
        }
        // Entries of this GT from `first` to the end of the run or the GT.
        let want = (within + max_len).div_ceil(gb).min(per_gt - first);
        let mut raw = vec![0u8; (want * 4) as usize];
        let at = u64::from(gde) * 512 + first * 4;
        self.meta.read_exact_at(at, &mut raw).map_err(|e| {
            e.with_format("vmdk")
                .with_structure("grain table")
                .with_offset(at)
        })?;
        let gte = |i: u64| le32(&raw, (i * 4) as usize);
        let kind = |e: u32| -> Run {
            match e {
                0 => Run::Absent,
                1 if h.flags & flags::ZEROED_GRAIN != 0 => Run::Zero,
                _ if h.flags & flags::COMPRESSED != 0 => Run::Decoded,
                e => Run::Stored {
                    source,
                    offset: u64::from(e) * 512,
                },
            }
        };
        let run0 = kind(gte(0));
        let mut n = 1;
        while n < want {
            let next = kind(gte(n));
            let same = match (run0, next) {
                (Run::Stored { offset: a, .. }, Run::Stored { offset: b, .. }) => b == a + n * gb,
                (Run::Decoded, _) => false,
                (a, b) => a == b,
            };
            if !same {
                break;
            }
            n += 1;
        }
        let len = (n * gb - within).min(max_len);
        let run = match run0 {
            Run::Stored { source, offset } => Run::Stored {
                source,
                offset: offset + within,
            },
            r => r,
        };
        Ok((run, len))
    }

    /// Allocated grains (walks every grain table), or `None` when there are more than
    /// [`MAX_COUNTED_GTS`] tables.
    pub(crate) fn allocated_grains(&self) -> Result<Option<u64>> {
        let per_gt = u64::from(self.header.num_gtes_per_gt);
        let tables = self.gd.iter().filter(|&&e| e != 0).count();
        if tables > MAX_COUNTED_GTS {
            return Ok(None);
        }
        let mut n = 0;
        for &gde in self.gd.iter().filter(|&&e| e != 0) {
            let raw = read_vec(
                &self.meta,
                u64::from(gde) * 512,
                per_gt * 4,
                u64::from(MAX_GTES_PER_GT) * 4,
            )?;
            n += raw
                .chunks_exact(4)
                .filter(|c| {
                    let e = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                    e > 1 || (e == 1 && self.header.flags & flags::ZEROED_GRAIN == 0)
                })
                .count() as u64;
        }
        Ok(Some(n))
    }

    /// Fills `buf` from the compressed grain holding extent byte `offset`.
    pub(crate) fn decode(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let gb = self.header.grain_bytes();
        let grain = offset / gb;
        let within = (offset % gb) as usize;
        let data = self.grain(grain)?;
        let end = within + buf.len();
        let src = data.get(within..end).ok_or_else(|| {
            Error::corrupt("vmdk", "compressed grain", grain, "read past the grain")
        })?;
        buf.copy_from_slice(src);
        Ok(())
    }

    fn grain(&self, grain: u64) -> Result<Arc<[u8]>> {
        {
            let cache = self.decoded.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((_, d)) = cache.iter().find(|(g, _)| *g == grain) {
                return Ok(d.clone());
            }
        }
        let h = &self.header;
        let gb = h.grain_bytes();
        let per_gt = u64::from(h.num_gtes_per_gt);
        let gde = *self.gd.get((grain / per_gt) as usize).ok_or_else(|| {
            Error::corrupt("vmdk", "grain directory", 0, "grain beyond the directory")
        })?;
        let mut e = [0u8; 4];
        self.meta
            .read_exact_at(u64::from(gde) * 512 + (grain % per_gt) * 4, &mut e)?;
        let at = u64::from(u32::from_le_bytes(e)) * 512;
        let bad = |msg: String| Error::corrupt("vmdk", "compressed grain", at, msg);
        let (start, len) = if h.flags & flags::MARKERS != 0 {
            let marker = read_vec(self.file.as_ref(), at, 12, 12)?;
            (at + 12, u64::from(le32(&marker, 8)))
        } else {
            (
                at,
                (gb + gb / 8 + 1024).min(self.file.size().saturating_sub(at)),
            )
        };
        let limit = gb + gb / 8 + 1024;
        if len == 0 || len > limit {
            return Err(bad(format!("compressed size {len} (at most {limit})")));
        }
        let packed = read_vec(self.file.as_ref(), start, len, limit)?;
        let mut out = vec![0u8; gb as usize];
        let mut z = flate2::Decompress::new(true);
        let status = z
            .decompress(&packed, &mut out, flate2::FlushDecompress::Finish)
            .map_err(|e| bad(format!("deflate data is damaged: {e}")))?;
        let produced = z.total_out() as usize;
        if status != flate2::Status::StreamEnd && produced < out.len() {
            return Err(bad(format!("the grain ends after {produced} bytes")));
        }
        let data: Arc<[u8]> = out.into();
        let mut cache = self.decoded.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= DECODED_CACHE {
            cache.remove(0);
        }
        cache.push((grain, data.clone()));
        Ok(data)
    }
}

/// The footer of a stream-optimized extent: a header copy 1024 bytes before the end.
fn read_footer(file: &dyn ReadAt) -> Result<SparseExtentHeader> {
    let size = file.size();
    if size < 1536 {
        return Err(Error::corrupt(
            "vmdk",
            "footer",
            0,
            "file too small for a footer",
        ));
    }
    let marker = read_vec(file, size - 1536, 512, 512)?;
    if le32(&marker, 8) != 0 || le32(&marker, 12) != 3 {
        return Err(Error::corrupt(
            "vmdk",
            "footer marker",
            size - 1536,
            "the header puts the grain directory at the end, but there is no footer marker",
        ));
    }
    let b = read_vec(file, size - 1024, 512, 512)?;
    let h = SparseExtentHeader::parse(&b, size - 1024)?;
    if h.gd_offset == GD_AT_END {
        return Err(Error::corrupt(
            "vmdk",
            "footer",
            size - 1024,
            "the footer does not say where the grain directory is",
        ));
    }
    Ok(h)
}
