//! Writing a stream-optimized extent (VMware "Virtual Disk Format 1.1", "Stream-Optimized
//! Compressed Sparse Extents"): the disk of OVA packages and of ESXi imports.
//!
//! ```text
//! sector 0      header: compressed grains, markers, grain directory at the end (written last)
//! 1..21         embedded descriptor
//! 128..         for each grain with data, in guest order: a grain marker (its first guest
//!               sector and compressed size) and its deflate stream (zlib framing), padded to a
//!               sector; after the grains of each grain table: a GT marker and the table
//!               (tables without grains are left out: their directory entry is 0)
//! end           GD marker and the grain directory; footer marker and the footer (the header
//!               with the directory's place); end-of-stream marker
//! ```
//!
//! Every grain is compressed ([`GrainCompressor`], on the pipeline's worker threads); the file
//! is only ever appended to, through a 4 MiB buffer, so it could be written to a pipe.

use super::sparse::{GD_AT_END, SparseExtentHeader, flags, marker};
use super::sparse_writer::{DESCRIPTOR_SECTORS, GRAIN_BYTES, GRAIN_SECTORS, GTES_PER_GT};
use crate::container::qcow2::compress::byte_entropy;
use crate::container::write::{Encoding, UnitEncoder};
use crate::error::{Error, Result};
use crate::io::WriteAt;
use flate2::{Compress, Compression, FlushCompress, Status};
use std::cell::RefCell;
use std::sync::Arc;

/// Bytes gathered before one write to the output.
const APPEND_BUFFER: usize = 4 << 20;
/// Sectors before the first grain.
const OVERHEAD: u64 = 128;
/// Default deflate level (zlib's default, as qemu and VMware use).
pub const DEFAULT_LEVEL: u32 = 6;
/// Bits per byte above which a grain is compressed at the fastest level (it barely shrinks).
const HIGH_ENTROPY: f64 = 7.9;

fn bad(msg: impl Into<String>) -> Error {
    Error::invalid_input(msg).with_format("vmdk")
}

thread_local! {
    static DEFLATE: RefCell<Option<(u32, Compress)>> = const { RefCell::new(None) };
}

/// Compresses grains into zlib streams; never declines (a stream-optimized extent holds only
/// compressed grains: incompressible ones come out a little larger than they went in).
pub struct GrainCompressor {
    /// Deflate level, 1 to 9.
    pub level: u32,
}

impl UnitEncoder for GrainCompressor {
    fn encode(&self, unit: &[u8], out: &mut Vec<u8>) -> Result<Encoding> {
        // Near-random grains (compressed or encrypted data) barely shrink: the fastest level
        // finds out, and when even that does not shrink the grain, it is stored (deflate's
        // stored blocks: the grain and a few bytes).
        if byte_entropy(unit) >= HIGH_ENTROPY {
            deflate(unit, out, 1)?;
            if out.len() >= unit.len() {
                deflate(unit, out, 0)?;
            }
        } else {
            deflate(unit, out, self.level.clamp(1, 9))?;
        }
        Ok(Encoding::Encoded)
    }
}

/// Compresses `unit` into `out` as one zlib stream at `level`, with a context kept per thread.
fn deflate(unit: &[u8], out: &mut Vec<u8>, level: u32) -> Result<()> {
    DEFLATE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let c = match slot.as_mut() {
            Some((l, c)) if *l == level => {
                c.reset();
                c
            }
            _ => {
                &mut slot
                    .insert((level, Compress::new(Compression::new(level), true)))
                    .1
            }
        };
        // Room for the worst case: level 1 codes literals with fixed Huffman codes (up to
        // 9 bits a byte), other levels fall back to stored blocks; and the zlib framing.
        out.clear();
        out.resize(unit.len() + unit.len() / 8 + 64, 0);
        let status = c
            .compress(unit, out, FlushCompress::Finish)
            .map_err(|e| Error::new(crate::ErrorKind::Io, format!("deflate: {e}")))?;
        if status != Status::StreamEnd {
            // An unfinished stream is not reused (zlib-rs may panic after resetting one).
            *slot = None;
            return Err(Error::new(
                crate::ErrorKind::Io,
                "deflate: the grain did not fit its worst-case size",
            ));
        }
        out.truncate(c.total_out() as usize);
        Ok(())
    })
}

/// A marker of `kind` announcing `sectors` sectors of metadata: one sector.
fn metadata_marker(sectors: u64, kind: u32) -> [u8; 512] {
    let mut m = [0u8; 512];
    m[0..8].copy_from_slice(&sectors.to_le_bytes());
    m[12..16].copy_from_slice(&kind.to_le_bytes());
    m
}

/// One stream-optimized extent being written.
pub(crate) struct StreamWriter {
    sink: Arc<dyn WriteAt>,
    header: SparseExtentHeader,
    descriptor: Vec<u8>,
    gd: Vec<u32>,
    gt: Option<(u64, Vec<u32>)>,
    buf: Vec<u8>,
    /// File offset of `buf[0]`.
    buf_start: u64,
    encoder: Arc<GrainCompressor>,
}

impl StreamWriter {
    /// A stream of `sectors` guest sectors into `sink`, embedding `descriptor`.
    pub(crate) fn new(
        sink: Arc<dyn WriteAt>,
        sectors: u64,
        descriptor: Vec<u8>,
        level: u32,
    ) -> Result<Self> {
        if descriptor.len() as u64 > DESCRIPTOR_SECTORS * 512 {
            return Err(bad("the descriptor does not fit its 20 sectors"));
        }
        let tables = sectors.div_ceil(GRAIN_SECTORS * GTES_PER_GT);
        let header = SparseExtentHeader {
            version: 3,
            flags: flags::VALID_NEWLINE | flags::COMPRESSED | flags::MARKERS,
            capacity: sectors,
            grain_size: GRAIN_SECTORS,
            descriptor_offset: 1,
            descriptor_size: DESCRIPTOR_SECTORS,
            num_gtes_per_gt: GTES_PER_GT as u32,
            rgd_offset: 0,
            gd_offset: GD_AT_END,
            overhead: OVERHEAD,
            unclean_shutdown: false,
            compress_algorithm: 1,
        };
        Ok(StreamWriter {
            sink,
            header,
            descriptor,
            gd: vec![0; tables as usize],
            gt: None,
            buf: Vec::with_capacity(APPEND_BUFFER + GRAIN_BYTES as usize * 2),
            buf_start: OVERHEAD * 512,
            encoder: Arc::new(GrainCompressor { level }),
        })
    }

    /// The grain encoder the pipeline runs.
    pub(crate) fn encoder(&self) -> Arc<GrainCompressor> {
        self.encoder.clone()
    }

    fn end(&self) -> u64 {
        self.buf_start + self.buf.len() as u64
    }

    fn flush(&mut self) -> Result<()> {
        if !self.buf.is_empty() {
            self.sink.write_at(self.buf_start, &self.buf)?;
            self.buf_start += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(())
    }

    /// Appends `bytes` padded to a whole sector; returns the sector it starts at.
    fn append(&mut self, bytes: &[u8]) -> Result<u64> {
        self.append_parts(&[bytes])
    }

    /// Appends `parts` one after the other, padded to a whole sector.
    fn append_parts(&mut self, parts: &[&[u8]]) -> Result<u64> {
        let at = self.end();
        for p in parts {
            self.buf.extend_from_slice(p);
        }
        self.buf.resize(self.buf.len().next_multiple_of(512), 0);
        if self.buf.len() >= APPEND_BUFFER {
            self.flush()?;
        }
        Ok(at / 512)
    }

    fn close_gt(&mut self) -> Result<()> {
        if let Some((i, entries)) = self.gt.take() {
            if entries.iter().any(|&e| e != 0) {
                self.append(&metadata_marker(GTES_PER_GT * 4 / 512, marker::GT))?;
                let bytes: Vec<u8> = entries.iter().flat_map(|e| e.to_le_bytes()).collect();
                let at = self.append(&bytes)?;
                self.gd[i as usize] = u32::try_from(at)
                    .map_err(|_| bad("the stream grew past what a directory can address"))?;
            }
        }
        Ok(())
    }

    /// Appends grain `grain`, already compressed.
    pub(crate) fn write_compressed(&mut self, grain: u64, data: &[u8]) -> Result<()> {
        let grains = self.header.capacity.div_ceil(GRAIN_SECTORS);
        if grain >= grains {
            return Err(bad(format!("grain {grain} is past the end of the disk")));
        }
        let table = grain / GTES_PER_GT;
        match &self.gt {
            Some((i, _)) if *i == table => {}
            Some((i, _)) if *i > table => return Err(bad("grains arrived out of order")),
            _ => {
                self.close_gt()?;
                self.gt = Some((table, vec![0; GTES_PER_GT as usize]));
            }
        }
        let len = u32::try_from(data.len()).map_err(|_| bad("compressed grain too large"))?;
        let lba = (grain * GRAIN_SECTORS).to_le_bytes();
        let at = self.append_parts(&[&lba, &len.to_le_bytes(), data])?;
        let sector =
            u32::try_from(at).map_err(|_| bad("the stream grew past what a table can address"))?;
        if let Some((_, e)) = &mut self.gt {
            e[(grain % GTES_PER_GT) as usize] = sector;
        }
        Ok(())
    }

    /// Compresses and appends plain grains (the encoder normally does this on the workers).
    pub(crate) fn write_plain(&mut self, first: u64, data: &[u8]) -> Result<()> {
        let mut out = Vec::new();
        for (k, grain) in data.chunks_exact(GRAIN_BYTES as usize).enumerate() {
            self.encoder.encode(grain, &mut out)?;
            let packed = std::mem::take(&mut out);
            self.write_compressed(first + k as u64, &packed)?;
            out = packed;
        }
        Ok(())
    }

    /// Writes the last table, the directory, the footer, the end marker, the descriptor and
    /// the header.
    pub(crate) fn finish(mut self) -> Result<()> {
        self.close_gt()?;
        let gd_sectors = (self.gd.len() as u64 * 4).div_ceil(512);
        self.append(&metadata_marker(gd_sectors, marker::GD))?;
        let gd: Vec<u8> = self.gd.iter().flat_map(|e| e.to_le_bytes()).collect();
        let gd_at = self.append(&gd)?;
        self.append(&metadata_marker(1, marker::FOOTER))?;
        let mut footer = self.header.clone();
        footer.gd_offset = gd_at;
        self.append(&footer.to_bytes())?;
        self.append(&metadata_marker(0, marker::EOS))?;
        self.flush()?;
        let mut head = vec![0u8; (OVERHEAD * 512) as usize];
        head[..512].copy_from_slice(&self.header.to_bytes());
        head[512..512 + self.descriptor.len()].copy_from_slice(&self.descriptor);
        self.sink.write_at(0, &head)?;
        let end = self.end();
        self.sink.set_size(end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grains_round_trip_through_zlib() {
        let c = GrainCompressor { level: 6 };
        let text: Vec<u8> = (0..GRAIN_BYTES as usize).map(|i| (i / 50) as u8).collect();
        let mut noise = vec![0u8; GRAIN_BYTES as usize];
        let mut x = 7u64;
        for b in &mut noise {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        for unit in [&text, &noise] {
            let mut out = Vec::new();
            assert_eq!(c.encode(unit, &mut out).unwrap(), Encoding::Encoded);
            assert!(out.len() <= unit.len() + 64, "{}", out.len());
            let mut back = Vec::new();
            use std::io::Read;
            flate2::read::ZlibDecoder::new(&out[..])
                .read_to_end(&mut back)
                .unwrap();
            assert!(&back == unit);
        }
    }
}
