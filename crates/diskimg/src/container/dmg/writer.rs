//! The UDIF writer: UDRO, UDZO, UDBZ, ULFO, ULMO images in one pass.
//!
//! Layout of a new image:
//!
//! ```text
//! data fork      chunks in disk order (1 MiB of sectors each, compressed on every core)
//! XML plist      resource-fork/blkx: one table per partition-map region (see layout.rs)
//! koly trailer   data fork CRC-32, master CRC-32 (of the tables' CRC-32s), sector count
//! ```
//!
//! Units are chunks. The encoder (on the pipeline's worker threads) compresses a unit and
//! prefixes it with the CRC-32 of its plain bytes (a table's checksum is the CRC-32 of its
//! stored chunks, decompressed); a chunk that does not shrink is stored raw. Units the
//! pipeline skips (holes, zeros) become `ignore` chunks. The few units that straddle a table
//! boundary, or the end of a disk whose size is not a whole number of chunks, are cut on the
//! emitter thread and their pieces compressed there. Tables are chosen when the first unit
//! arrives: unit 0 holds the partition map; when it is all zeros the disk gets one table.
//!
//! Memory: the chunk entries (40 bytes per stored chunk, one per MiB of data) and a 4 MiB
//! append buffer.

use super::FORMAT;
use super::codec::{self, Compression};
use super::koly::{FLAG_FLATTENED, KolyTrailer, UdifChecksum};
use super::layout::{self, TableSpec};
use super::mish::{BlkxChunk, BlkxTable, ChunkKind};
use super::plist::{self, Value};
use super::udif::SECTOR;
use crate::container::write::{
    CreateHook, CreateRequest, Encoding, ImageWriter, OptionHelp, UnitEncoder, WriteTarget,
};
use crate::error::{Error, Result};
use crate::io::WriteAt;
use std::sync::Arc;

/// Sectors per chunk (1 MiB), as hdiutil writes.
pub const CHUNK_SECTORS: u64 = 2048;
/// Longest `ignore` chunk written, in sectors (512 MiB).
const MAX_IGNORE_SECTORS: u64 = 1 << 20;
/// Bytes gathered before one write to the output.
const APPEND_BUFFER: usize = 4 << 20;
/// Encoded unit: flag byte (0 raw, 1 compressed), CRC-32 of the plain bytes, payload.
const ENCODED_HEADER: usize = 5;

const OPTIONS: &[OptionHelp] = &[
    OptionHelp {
        key: "compression",
        help: "zlib (UDZO, default), bzip2 (UDBZ), lzfse (ULFO), lzma (ULMO) or none (UDRO)",
    },
    OptionHelp {
        key: "level",
        help: "compression level: zlib 1-9 (default 2: the size of hdiutil's level 1), bzip2 1-9 (9), lzma 0-9 (6)",
    },
    OptionHelp {
        key: "partitions",
        help: "auto (one blkx table per partition-map region, as hdiutil; default) or whole",
    },
];

pub(super) static HOOK: CreateHook = CreateHook {
    create,
    options: OPTIONS,
    backing: false,
    set_backing: None,
};

fn bad(msg: impl Into<String>) -> Error {
    Error::invalid_input(msg).with_format(FORMAT)
}

/// The writer's settings, from a request's options.
#[derive(Debug, Clone, Copy)]
pub struct UdifSettings {
    /// How chunks are compressed.
    pub compression: Compression,
    /// Compression level.
    pub level: u32,
    /// One table per partition-map region (else one for the whole disk).
    pub per_partition: bool,
}

impl UdifSettings {
    /// Reads `req`'s options.
    pub fn from_request(req: &CreateRequest) -> Result<Self> {
        let o = &req.options;
        o.check_known(FORMAT, OPTIONS)?;
        if req.backing.is_some() {
            return Err(Error::unsupported(
                FORMAT,
                "DMG images have no backing file",
            ));
        }
        let compression = match o.get("compression") {
            None => Compression::Zlib,
            Some(v) => Compression::parse(v).ok_or_else(|| {
                bad(format!(
                    "compression '{v}': use zlib, bzip2, lzfse, lzma or none"
                ))
            })?,
        };
        let level = match o.get("level") {
            None => compression.default_level(),
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|&l| l <= 9)
                .ok_or_else(|| bad(format!("level '{v}' is not 0-9")))?,
        };
        let per_partition = match o.get("partitions") {
            None | Some("auto") => true,
            Some("whole") => false,
            Some(v) => return Err(bad(format!("partitions '{v}': use auto or whole"))),
        };
        Ok(UdifSettings {
            compression,
            level,
            per_partition,
        })
    }
}

fn create(target: WriteTarget, req: &CreateRequest) -> Result<Box<dyn ImageWriter>> {
    let s = UdifSettings::from_request(req)?;
    Ok(Box::new(UdifWriter::new(target.sink, req.size, s)?))
}

/// Compresses units on the worker threads.
struct ChunkEncoder {
    compression: Compression,
    level: u32,
}

impl UnitEncoder for ChunkEncoder {
    fn encode(&self, unit: &[u8], out: &mut Vec<u8>) -> Result<Encoding> {
        out.push(1);
        out.extend_from_slice(&crc32fast::hash(unit).to_be_bytes());
        if self.compression != Compression::None {
            self.compression.compress(unit, self.level, out)?;
        }
        if self.compression == Compression::None || out.len() - ENCODED_HEADER >= unit.len() {
            out.truncate(ENCODED_HEADER);
            out[0] = 0;
            out.extend_from_slice(unit);
        }
        Ok(Encoding::Encoded)
    }
}

/// A table being filled.
struct TableState {
    spec: TableSpec,
    chunks: Vec<BlkxChunk>,
    crc: crc32fast::Hasher,
}

/// Writes a new UDIF image in one pass.
pub struct UdifWriter {
    sink: Arc<dyn WriteAt>,
    sectors: u64,
    settings: UdifSettings,
    tables: Vec<TableState>,
    /// The first sector not yet written (data or ignore).
    next: u64,
    /// Bytes of the data fork so far.
    fork_end: u64,
    /// Bytes `[buf_start, fork_end)` not yet written.
    buf: Vec<u8>,
    buf_start: u64,
    data_crc: crc32fast::Hasher,
    encoder: Arc<ChunkEncoder>,
}

impl UdifWriter {
    /// A writer of a disk of `size` bytes (rounded up to whole sectors).
    pub fn new(sink: Arc<dyn WriteAt>, size: u64, settings: UdifSettings) -> Result<Self> {
        Ok(UdifWriter {
            sink,
            sectors: size.div_ceil(SECTOR),
            settings,
            tables: Vec::new(),
            next: 0,
            fork_end: 0,
            buf: Vec::with_capacity(APPEND_BUFFER),
            buf_start: 0,
            data_crc: crc32fast::Hasher::new(),
            encoder: Arc::new(ChunkEncoder {
                compression: settings.compression,
                level: settings.level,
            }),
        })
    }

    /// Chooses the tables from the disk's first bytes (or none: one whole-disk table).
    fn plan(&mut self, head: Option<&[u8]>) {
        if !self.tables.is_empty() {
            return;
        }
        let specs = layout::plan(
            head.unwrap_or_default(),
            self.sectors,
            self.settings.per_partition,
        );
        self.tables = specs
            .into_iter()
            .map(|spec| TableState {
                spec,
                chunks: Vec::new(),
                crc: crc32fast::Hasher::new(),
            })
            .collect();
        if self.tables.is_empty() {
            self.tables.push(TableState {
                spec: TableSpec {
                    first: 0,
                    sectors: 0,
                    name: "whole disk".to_owned(),
                    kind: "Apple_Free".to_owned(),
                },
                chunks: Vec::new(),
                crc: crc32fast::Hasher::new(),
            });
        }
    }

    /// Index of the table holding `sector`.
    fn table_of(&self, sector: u64) -> usize {
        self.tables
            .partition_point(|t| t.spec.first + t.spec.sectors <= sector)
            .min(self.tables.len().saturating_sub(1))
    }

    fn append(&mut self, data: &[u8]) -> Result<u64> {
        let at = self.fork_end;
        self.data_crc.update(data);
        self.buf.extend_from_slice(data);
        self.fork_end += data.len() as u64;
        if self.buf.len() >= APPEND_BUFFER {
            self.flush_buf()?;
        }
        Ok(at)
    }

    fn flush_buf(&mut self) -> Result<()> {
        if !self.buf.is_empty() {
            self.sink.write_at(self.buf_start, &self.buf)?;
            self.buf_start += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(())
    }

    /// Marks sectors up to `end` not yet written as ignore chunks.
    fn gap_to(&mut self, end: u64) {
        while self.next < end {
            let t = self.table_of(self.next);
            let spec_end = self.tables[t].spec.first + self.tables[t].spec.sectors;
            let stop = end.min(spec_end.max(self.next + 1));
            let table_first = self.tables[t].spec.first;
            let rel = self.next - table_first;
            let fork_end = self.fork_end;
            let chunks = &mut self.tables[t].chunks;
            match chunks.last_mut() {
                Some(c)
                    if c.kind == ChunkKind::Ignore
                        && c.sector + c.sector_count == rel
                        && c.sector_count + (stop - self.next) <= MAX_IGNORE_SECTORS =>
                {
                    c.sector_count += stop - self.next;
                }
                _ => {
                    let mut s = self.next;
                    while s < stop {
                        let n = (stop - s).min(MAX_IGNORE_SECTORS);
                        chunks.push(BlkxChunk {
                            kind: ChunkKind::Ignore,
                            comment: 0,
                            sector: s - table_first,
                            sector_count: n,
                            offset: fork_end,
                            length: 0,
                        });
                        s += n;
                    }
                }
            }
            self.next = stop;
        }
    }

    /// Stores a chunk of `sectors` from `first` (inside one table) whose plain bytes have
    /// CRC-32 `crc`.
    fn stored(
        &mut self,
        first: u64,
        sectors: u64,
        kind: ChunkKind,
        payload: &[u8],
        crc: u32,
    ) -> Result<()> {
        self.gap_to(first);
        let offset = self.append(payload)?;
        let t = self.table_of(first);
        let table = &mut self.tables[t];
        table.chunks.push(BlkxChunk {
            kind,
            comment: 0,
            sector: first - table.spec.first,
            sector_count: sectors,
            offset,
            length: payload.len() as u64,
        });
        table.crc.combine(&crc32fast::Hasher::new_with_initial_len(
            crc,
            sectors * SECTOR,
        ));
        self.next = first + sectors;
        Ok(())
    }

    /// Stores plain sectors from `first`, cut at table boundaries, compressed here.
    fn put_plain(&mut self, first: u64, data: &[u8]) -> Result<()> {
        let sectors = (data.len() as u64 / SECTOR).min(self.sectors.saturating_sub(first));
        let mut s = first;
        while s < first + sectors {
            let t = self.table_of(s);
            let t_end = self.tables[t].spec.first + self.tables[t].spec.sectors;
            let stop = (first + sectors)
                .min(t_end.max(s + 1))
                .min(s + CHUNK_SECTORS);
            let piece = &data[((s - first) * SECTOR) as usize..((stop - first) * SECTOR) as usize];
            if crate::io::is_zero(piece) {
                self.gap_to(stop);
            } else {
                let mut out = Vec::new();
                let c = self.settings.compression;
                if c != Compression::None {
                    c.compress(piece, self.settings.level, &mut out)?;
                }
                let crc = crc32fast::hash(piece);
                if c == Compression::None || out.len() >= piece.len() {
                    self.stored(s, stop - s, ChunkKind::Raw, piece, crc)?;
                } else {
                    self.stored(s, stop - s, c.chunk_kind(), &out, crc)?;
                }
            }
            s = stop;
        }
        Ok(())
    }

    /// Whether sectors `[first, first + n)` are a whole chunk inside one table.
    fn fits(&self, first: u64, n: u64) -> bool {
        if first + n > self.sectors || self.tables.is_empty() {
            return false;
        }
        let t = &self.tables[self.table_of(first)].spec;
        first >= t.first && first + n <= t.first + t.sectors
    }

    fn property_list(&self) -> (Value, u32) {
        let mut master = crc32fast::Hasher::new();
        let mut blkx = Vec::new();
        for (i, t) in self.tables.iter().enumerate() {
            let crc = t.crc.clone().finalize();
            master.update(&crc.to_be_bytes());
            let mut chunks = t.chunks.clone();
            chunks.push(BlkxChunk {
                kind: ChunkKind::Terminator,
                comment: 0,
                sector: t.spec.sectors,
                sector_count: 0,
                offset: self.fork_end,
                length: 0,
            });
            let table = BlkxTable {
                first_sector: t.spec.first,
                sector_count: t.spec.sectors,
                data_offset: 0,
                buffers_needed: (CHUNK_SECTORS + 8) as u32,
                block_descriptors: i as u32,
                checksum: UdifChecksum::crc32(crc),
                chunks,
            };
            let name = if t.spec.name.is_empty() {
                format!(" ({} : {i})", t.spec.kind)
            } else {
                format!("{} ({} : {i})", t.spec.name, t.spec.kind)
            };
            blkx.push(Value::Dict(vec![
                ("Attributes".to_owned(), Value::String("0x0050".to_owned())),
                ("CFName".to_owned(), Value::String(name.clone())),
                ("Data".to_owned(), Value::Data(table.to_bytes())),
                ("ID".to_owned(), Value::String((i as i64 - 1).to_string())),
                ("Name".to_owned(), Value::String(name)),
            ]));
        }
        let doc = Value::Dict(vec![(
            "resource-fork".to_owned(),
            Value::Dict(vec![("blkx".to_owned(), Value::Array(blkx))]),
        )]);
        (doc, master.finalize())
    }
}

impl ImageWriter for UdifWriter {
    fn unit_size(&self) -> u64 {
        CHUNK_SECTORS * SECTOR
    }

    fn encoder(&self) -> Option<Arc<dyn UnitEncoder>> {
        Some(self.encoder.clone())
    }

    fn write_units(&mut self, first: u64, data: &[u8]) -> Result<()> {
        if first == 0 {
            self.plan(Some(data));
        }
        self.plan(None);
        self.put_plain(first * CHUNK_SECTORS, data)
    }

    fn write_encoded(&mut self, index: u64, encoded: &[u8]) -> Result<()> {
        if encoded.len() < ENCODED_HEADER {
            return Err(Error::invalid_input("encoded DMG chunk is too short"));
        }
        let first = index * CHUNK_SECTORS;
        let crc = u32::from_be_bytes([encoded[1], encoded[2], encoded[3], encoded[4]]);
        let payload = &encoded[ENCODED_HEADER..];
        let raw = encoded[0] == 0;
        if index != 0 {
            // Unit 0 held only zeros and was never sent: the disk has no partition map.
            self.plan(None);
        }
        if index == 0 || !self.fits(first, CHUNK_SECTORS) {
            let mut plain = vec![0u8; (CHUNK_SECTORS * SECTOR) as usize];
            if raw {
                plain.copy_from_slice(payload);
            } else {
                codec::decompress(
                    self.settings.compression.chunk_kind(),
                    payload,
                    &mut plain,
                    0,
                )?;
            }
            if index == 0 {
                self.plan(Some(&plain));
            }
            if !self.fits(first, CHUNK_SECTORS) {
                return self.put_plain(first, &plain);
            }
        }
        self.plan(None);
        let kind = if raw {
            ChunkKind::Raw
        } else {
            self.settings.compression.chunk_kind()
        };
        self.stored(first, CHUNK_SECTORS, kind, payload, crc)
    }

    fn write_zero_units(&mut self, _first: u64, _count: u64) -> Result<()> {
        Ok(()) // no backing file: skipped units are ignore chunks
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        self.plan(None);
        self.gap_to(self.sectors);
        self.flush_buf()?;
        let (doc, master) = self.property_list();
        let xml = plist::write(&doc);
        let xml_offset = self.fork_end;
        self.sink.write_at(xml_offset, xml.as_bytes())?;
        let mut segment_id = [0u8; 16];
        getrandom::fill(&mut segment_id)
            .map_err(|e| Error::new(crate::ErrorKind::Io, format!("no random numbers: {e}")))?;
        let koly = KolyTrailer {
            version: 4,
            header_size: 512,
            flags: FLAG_FLATTENED,
            running_data_fork_offset: 0,
            data_fork_offset: 0,
            data_fork_length: self.fork_end,
            rsrc_fork_offset: 0,
            rsrc_fork_length: 0,
            segment_number: 1,
            segment_count: 1,
            segment_id,
            data_checksum: UdifChecksum::crc32(self.data_crc.clone().finalize()),
            xml_offset,
            xml_length: xml.len() as u64,
            master_checksum: UdifChecksum::crc32(master),
            image_variant: 1,
            sector_count: self.sectors,
        };
        self.sink
            .write_at(xml_offset + xml.len() as u64, &koly.to_bytes())
    }
}
