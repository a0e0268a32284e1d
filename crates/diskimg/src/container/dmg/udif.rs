//! Reading a UDIF image's structure: the koly trailer, the blkx tables (from the XML property
//! list, else the resource fork), the segments, and the chunk map every read goes through.

use super::FORMAT;
use super::device::{Run, UdifDevice};
use super::koly::{KOLY_LEN, KolyTrailer};
use super::mish::{BlkxTable, ChunkKind};
use super::segment::{ConcatSource, MAX_SEGMENTS, segment_path};
use super::{plist, rsrc};
use crate::container::OpenContext;
use crate::device::DeviceRef;
use crate::error::{Error, ErrorKind, Result, ResultExt};
use crate::io::{FileSource, ReadAt, Slice, read_vec};
use std::sync::Arc;

/// Longest XML property list read.
pub const MAX_XML_LEN: u64 = 256 << 20;
/// Longest resource fork read.
pub const MAX_RSRC_LEN: u64 = 64 << 20;
/// Most blkx tables.
pub const MAX_TABLES: usize = 65_536;
/// Most chunks in all tables.
pub const MAX_TOTAL_CHUNKS: usize = 1 << 24;
/// Largest compressed chunk, decompressed (hdiutil writes 1 MiB; its `-o chunksize` allows
/// more).
pub const MAX_CHUNK_BYTES: u64 = 64 << 20;
/// Largest disk (2^60 bytes: sector arithmetic never overflows below it).
pub const MAX_DISK_SIZE: u64 = 1 << 60;

/// Bytes in a UDIF sector.
pub const SECTOR: u64 = 512;

/// One blkx table and what the property list says of it.
#[derive(Debug, Clone)]
pub struct BlkxEntry {
    /// `Name` (`disk image (Apple_HFS : 4)`).
    pub name: String,
    /// `ID` (-1 for the protective MBR or DDM, then 0, 1, ...).
    pub id: i64,
    /// `Attributes` (`0x0050`).
    pub attributes: u64,
    /// The table.
    pub table: BlkxTable,
}

/// Where the blkx tables were read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metadata {
    /// The XML property list.
    Xml,
    /// The resource fork (no XML property list).
    ResourceFork,
}

/// A UDIF image's structure.
#[derive(Debug, Clone)]
pub struct UdifImage {
    /// The trailer of the first segment.
    pub koly: KolyTrailer,
    /// The blkx tables, in the property list's order.
    pub tables: Vec<BlkxEntry>,
    /// Where they came from.
    pub metadata: Metadata,
    /// The trailer of every segment, first included.
    pub segments: Vec<KolyTrailer>,
    /// Disk size in bytes.
    pub size: u64,
}

/// Reads the trailer at the end of `file`.
pub fn read_koly(file: &dyn ReadAt) -> Result<KolyTrailer> {
    let size = file.size();
    if size < KOLY_LEN as u64 {
        return Err(Error::corrupt(
            FORMAT,
            "koly trailer",
            0,
            "file shorter than 512 bytes",
        ));
    }
    let at = size - KOLY_LEN as u64;
    let b = read_vec(file, at, KOLY_LEN as u64, KOLY_LEN as u64)?;
    KolyTrailer::parse(&b, at)
}

/// The blkx tables of an image whose first segment is `file`.
fn read_tables(file: &dyn ReadAt, koly: &KolyTrailer) -> Result<(Vec<BlkxEntry>, Metadata)> {
    if koly.xml_length > 0 {
        let text = read_vec(file, koly.xml_offset, koly.xml_length, MAX_XML_LEN)
            .map_err(|e| e.with_format(FORMAT).with_structure("XML property list"))?;
        let doc = plist::parse(&text).map_err(|e| {
            Error::corrupt(
                FORMAT,
                "XML property list",
                koly.xml_offset,
                e.message().to_owned(),
            )
        })?;
        let blkx = doc
            .get("resource-fork")
            .and_then(|r| r.get("blkx"))
            .and_then(|b| b.as_array())
            .ok_or_else(|| {
                Error::corrupt(
                    FORMAT,
                    "XML property list",
                    koly.xml_offset,
                    "no resource-fork/blkx array",
                )
            })?;
        if blkx.len() > MAX_TABLES {
            return Err(Error::limit(
                FORMAT,
                "XML property list",
                koly.xml_offset,
                format!("{} blkx tables (limit {MAX_TABLES})", blkx.len()),
            ));
        }
        let mut tables = Vec::with_capacity(blkx.len());
        for (i, b) in blkx.iter().enumerate() {
            let data = b.get("Data").and_then(|d| d.as_data()).ok_or_else(|| {
                Error::corrupt(
                    FORMAT,
                    "XML property list",
                    koly.xml_offset,
                    format!("blkx entry {i} has no Data"),
                )
            })?;
            let name = b
                .get("Name")
                .or_else(|| b.get("CFName"))
                .and_then(|n| n.as_str())
                .unwrap_or_default()
                .to_owned();
            let id = match b.get("ID") {
                Some(plist::Value::Integer(v)) => i64::try_from(*v).unwrap_or(0),
                Some(plist::Value::String(s)) => s.trim().parse().unwrap_or(0),
                _ => i as i64,
            };
            tables.push(BlkxEntry {
                name,
                id,
                attributes: b.get("Attributes").and_then(|a| a.as_u64()).unwrap_or(0),
                table: BlkxTable::parse(data, koly.xml_offset)?,
            });
        }
        return Ok((tables, Metadata::Xml));
    }
    if koly.rsrc_fork_length > 0 {
        let fork = read_vec(
            file,
            koly.rsrc_fork_offset,
            koly.rsrc_fork_length,
            MAX_RSRC_LEN,
        )
        .map_err(|e| e.with_format(FORMAT).with_structure("resource fork"))?;
        let res = rsrc::resources_of(&fork, b"blkx", koly.rsrc_fork_offset)?;
        let mut tables = Vec::with_capacity(res.len());
        for r in res {
            tables.push(BlkxEntry {
                name: r.name.unwrap_or_default(),
                id: i64::from(r.id),
                attributes: u64::from(r.attributes),
                table: BlkxTable::parse(&r.data, koly.rsrc_fork_offset)?,
            });
        }
        return Ok((tables, Metadata::ResourceFork));
    }
    Err(Error::unsupported(
        FORMAT,
        "the image has neither an XML property list nor a resource fork (a UDIF stub)",
    ))
}

/// The data fork of segment `file` as its trailer gives it.
fn fork_of(file: DeviceRef, koly: &KolyTrailer, at: &str) -> Result<Box<dyn ReadAt>> {
    let size = file.size();
    let len = if koly.data_fork_length == 0 {
        size.saturating_sub(KOLY_LEN as u64)
            .saturating_sub(koly.data_fork_offset)
    } else {
        koly.data_fork_length
    };
    let s = Slice::new(file, koly.data_fork_offset, len).map_err(|_| {
        Error::corrupt(
            FORMAT,
            "koly trailer",
            size.saturating_sub(KOLY_LEN as u64),
            format!(
                "{at}: data fork of {len} bytes at {} runs past the end of the file ({size} bytes)",
                koly.data_fork_offset
            ),
        )
    })?;
    Ok(Box::new(s))
}

/// The data fork of all segments of the image whose first segment is `file`, and every
/// segment's trailer.
fn data_fork(
    file: &DeviceRef,
    koly: &KolyTrailer,
    ctx: &OpenContext,
) -> Result<(DeviceRef, Vec<KolyTrailer>)> {
    if koly.segment_count <= 1 {
        let f = fork_of(file.clone(), koly, "segment 1")?;
        return Ok((Arc::new(ConcatSource::new(vec![f])), vec![koly.clone()]));
    }
    if koly.segment_count > MAX_SEGMENTS {
        return Err(Error::limit(
            FORMAT,
            "koly trailer",
            file.size().saturating_sub(KOLY_LEN as u64),
            format!("{} segments (limit {MAX_SEGMENTS})", koly.segment_count),
        ));
    }
    if koly.segment_number != 1 {
        return Err(Error::invalid_input(format!(
            "this is segment {} of {}: open the first segment (the .dmg file)",
            koly.segment_number, koly.segment_count
        ))
        .with_format(FORMAT));
    }
    let Some(first) = ctx.path.as_ref() else {
        return Err(Error::unsupported(
            FORMAT,
            format!(
                "a segmented image ({} segments) inside another image: its other segments cannot be found",
                koly.segment_count
            ),
        ));
    };
    let mut parts = vec![fork_of(file.clone(), koly, "segment 1")?];
    let mut trailers = vec![koly.clone()];
    let mut running = parts[0].size();
    for n in 2..=koly.segment_count {
        let path = segment_path(first, n);
        let seg: DeviceRef = Arc::new(FileSource::open(&path).map_err(|e| {
            Error::new(
                ErrorKind::NotFound,
                format!(
                    "segment {n} of {} ({}) cannot be opened: {}",
                    koly.segment_count,
                    path.display(),
                    e.message()
                ),
            )
            .with_format(FORMAT)
        })?);
        let k = read_koly(seg.as_ref()).in_file(&path)?;
        if k.segment_id != koly.segment_id || k.segment_number != n {
            return Err(Error::corrupt(
                FORMAT,
                "koly trailer",
                seg.size().saturating_sub(KOLY_LEN as u64),
                format!(
                    "{} is not segment {n} of this image (segment {}, another segment id)",
                    path.display(),
                    k.segment_number
                ),
            ));
        }
        if k.running_data_fork_offset != running {
            return Err(Error::corrupt(
                FORMAT,
                "koly trailer",
                seg.size().saturating_sub(KOLY_LEN as u64),
                format!(
                    "segment {n} says its data starts at {}, the segments before it end at {running}",
                    k.running_data_fork_offset
                ),
            ));
        }
        let f = fork_of(seg, &k, &format!("segment {n}"))?;
        running += f.size();
        parts.push(f);
        trailers.push(k);
    }
    Ok((Arc::new(ConcatSource::new(parts)), trailers))
}

/// Opens the UDIF image whose (first segment's) bytes are `file`.
pub fn open(file: &DeviceRef, ctx: &OpenContext) -> Result<(UdifImage, UdifDevice)> {
    let koly = read_koly(file.as_ref())?;
    let (tables, metadata) = read_tables(file.as_ref(), &koly)?;
    let (fork, segments) = data_fork(file, &koly, ctx)?;
    let fork_len = fork.size();
    let trailer_at = file.size().saturating_sub(KOLY_LEN as u64);
    if koly.sector_count > MAX_DISK_SIZE / SECTOR {
        return Err(Error::limit(
            FORMAT,
            "koly trailer",
            trailer_at,
            format!("{} sectors", koly.sector_count),
        ));
    }
    let total: usize = tables.iter().map(|t| t.table.chunks.len()).sum();
    if total > MAX_TOTAL_CHUNKS {
        return Err(Error::limit(
            FORMAT,
            "blkx table",
            koly.xml_offset,
            format!("{total} chunks (limit {MAX_TOTAL_CHUNKS})"),
        ));
    }
    let mut runs = Vec::with_capacity(total);
    for e in &tables {
        let t = &e.table;
        let bad = |msg: String| {
            Error::corrupt(
                FORMAT,
                "blkx table",
                koly.xml_offset,
                format!("table '{}': {msg}", e.name),
            )
        };
        let table_end = t
            .first_sector
            .checked_add(t.sector_count)
            .filter(|&s| s <= MAX_DISK_SIZE / SECTOR)
            .ok_or_else(|| bad("its sectors overflow".to_owned()))?;
        for c in &t.chunks {
            if c.sector_count == 0 || matches!(c.kind, ChunkKind::Comment | ChunkKind::Terminator) {
                continue;
            }
            let first = t.first_sector + c.sector.min(MAX_DISK_SIZE / SECTOR);
            let end = first
                .checked_add(c.sector_count)
                .filter(|&end| end <= table_end)
                .ok_or_else(|| {
                    bad(format!(
                        "chunk of {} sectors at sector {} lies outside the table ({} sectors)",
                        c.sector_count, c.sector, t.sector_count
                    ))
                })?;
            let len = (end - first) * SECTOR;
            let stored = matches!(c.kind, ChunkKind::Raw) || c.kind.is_compressed();
            let src = t.data_offset.saturating_add(c.offset);
            if stored && src.checked_add(c.length).is_none_or(|e| e > fork_len) {
                return Err(bad(format!(
                    "chunk at sector {} stores {} bytes at {src}, past the data fork ({fork_len} bytes)",
                    c.sector, c.length
                )));
            }
            if c.kind == ChunkKind::Raw && c.length != len {
                return Err(bad(format!(
                    "raw chunk at sector {} stores {} bytes for {len} bytes of sectors",
                    c.sector, c.length
                )));
            }
            if c.kind.is_compressed() && (len > MAX_CHUNK_BYTES || c.length > MAX_CHUNK_BYTES) {
                return Err(Error::limit(
                    FORMAT,
                    "blkx table",
                    koly.xml_offset,
                    format!(
                        "compressed chunk of {len} bytes ({} stored; limit {MAX_CHUNK_BYTES})",
                        c.length
                    ),
                ));
            }
            runs.push(Run {
                start: first * SECTOR,
                len,
                kind: c.kind,
                src,
                src_len: c.length,
            });
        }
    }
    runs.sort_by_key(|r| r.start);
    for w in runs.windows(2) {
        if w[0].start + w[0].len > w[1].start {
            return Err(Error::corrupt(
                FORMAT,
                "blkx table",
                koly.xml_offset,
                format!(
                    "chunks overlap at sector {} ({} bytes of the disk are claimed twice)",
                    w[1].start / SECTOR,
                    w[0].start + w[0].len - w[1].start
                ),
            ));
        }
    }
    let mapped_end = runs.last().map_or(0, |r| r.start + r.len);
    let size = if koly.sector_count == 0 {
        mapped_end
    } else {
        koly.sector_count * SECTOR
    };
    if mapped_end > size {
        return Err(Error::corrupt(
            FORMAT,
            "blkx table",
            koly.xml_offset,
            format!(
                "chunks reach byte {mapped_end}, past the disk's {} sectors",
                koly.sector_count
            ),
        ));
    }
    let device = UdifDevice::new(fork, runs, size);
    Ok((
        UdifImage {
            koly,
            tables,
            metadata,
            segments,
            size,
        },
        device,
    ))
}
