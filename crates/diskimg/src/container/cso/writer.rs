//! The CSO v1/v2, ZSO and DAX writer: one pass, blocks in order, bounded memory.
//!
//! Layout: the header, the index (reserved at its full size and filled in as blocks are
//! written, a 64 KiB piece at a time), then the blocks in order, each padded to the index
//! alignment. The pipeline compresses blocks on every core ([`CsoEncoder`]) and hands them back
//! in order; blocks it skips because they are all zeros are written here as the encoded zero
//! block, since every block of a CSO must be present. A block whose encoding would not be
//! smaller than the block once padded is stored as it is (CSO v1 and ZSO set the index's high
//! bit, CSO v2 tells it by its length). DAX frames are always zlib streams, as maxcso writes
//! them (version 0, no non-compressed areas).
//!
//! Memory: a 4 MiB append buffer and two 64 KiB index buffers, whatever the image size.

use super::codec::{deflate, deflate_zopfli, lz4_encode};
use super::header::{CsoHeader, Variant};
use super::presets::{DAX_OPTIONS, Level, OPTIONS, WriterConfig, data_start};
use crate::container::write::{
    CreateHook, CreateRequest, Encoding, ImageWriter, UnitEncoder, WriteTarget,
};
use crate::error::{Error, Result};
use crate::io::WriteAt;
use std::sync::Arc;

/// Bytes gathered before one write of block data.
const APPEND_BUFFER: usize = 4 << 20;
/// Index bytes gathered before one write.
const INDEX_BUFFER: usize = 64 << 10;

const FLAG: u32 = 0x8000_0000;
/// Tag byte the encoder puts before a deflate (or zlib) block.
const TAG_DEFLATE: u8 = 0;
/// Tag byte before an LZ4 block.
const TAG_LZ4: u8 = 1;

macro_rules! hook {
    ($name:ident, $create:ident, $variant:expr, $options:expr) => {
        pub(super) static $name: CreateHook = CreateHook {
            create: $create,
            options: $options,
            backing: false,
            set_backing: None,
        };
        fn $create(target: WriteTarget, req: &CreateRequest) -> Result<Box<dyn ImageWriter>> {
            Ok(Box::new(CsoWriter::new(target.sink, $variant, req)?))
        }
    };
}

hook!(CSO_HOOK, create_cso, Variant::Cso1, OPTIONS);
hook!(CSO2_HOOK, create_cso2, Variant::Cso2, OPTIONS);
hook!(ZSO_HOOK, create_zso, Variant::Zso, OPTIONS);
hook!(DAX_HOOK, create_dax, Variant::Dax, DAX_OPTIONS);

/// Compresses blocks on the pipeline's worker threads. Its output is a tag byte (deflate or
/// LZ4) followed by the encoded block.
pub struct CsoEncoder {
    cfg: WriterConfig,
    /// Longest encoding worth keeping.
    limit: usize,
}

impl CsoEncoder {
    fn new(cfg: WriterConfig) -> Self {
        let bs = cfg.block_size as usize;
        let align = 1usize << cfg.index_shift;
        let limit = if cfg.variant == Variant::Dax {
            // Every frame is zlib; a stored-deflate frame is a few bytes longer than 8 KiB.
            bs + 1024
        } else {
            // Padded to the alignment, the encoding must stay below one block.
            (bs - 1) / align * align
        };
        CsoEncoder { cfg, limit }
    }
}

impl UnitEncoder for CsoEncoder {
    fn encode(&self, unit: &[u8], out: &mut Vec<u8>) -> Result<Encoding> {
        out.clear();
        if self.limit == 0 {
            return Ok(Encoding::Plain);
        }
        let level = self.cfg.level;
        out.push(TAG_DEFLATE);
        let ok = match self.cfg.variant {
            Variant::Dax => deflate(unit, level.deflate(), true, self.limit, out),
            Variant::Zso => {
                out[0] = TAG_LZ4;
                lz4_encode(unit, level.lz4(), self.limit, out)?
            }
            Variant::Cso1 => best_deflate(unit, level, self.limit, out),
            Variant::Cso2 => {
                let ok = best_deflate(unit, level, self.limit, out);
                let limit = if ok { out.len() - 1 } else { self.limit };
                let mut lz = vec![TAG_LZ4];
                if lz4_encode(unit, level.lz4(), limit, &mut lz)? {
                    *out = lz;
                    true
                } else {
                    ok
                }
            }
        };
        Ok(if ok {
            Encoding::Encoded
        } else {
            out.clear();
            Encoding::Plain
        })
    }
}

/// Appends to `out` (which holds the tag byte) raw deflate at the preset's libdeflate level, then, when the preset has a Zopfli trial and
/// its gate lets the block through, Zopfli; the smaller wins. A block libdeflate 12 cannot
/// shrink is stored without a trial.
fn best_deflate(unit: &[u8], level: Level, limit: usize, out: &mut Vec<u8>) -> bool {
    let ok = deflate(unit, level.deflate(), false, limit, out);
    let Some(trial) = level.zopfli() else {
        return ok;
    };
    if !ok {
        return false;
    }
    let have = out.len() - 1;
    let mut other = Vec::with_capacity(limit + 1);
    let lazy = if deflate(unit, 6, false, limit, &mut other) {
        other.len()
    } else {
        usize::MAX
    };
    if !trial.worth_it(have, lazy) {
        return true;
    }
    other.clear();
    other.push(TAG_DEFLATE);
    if deflate_zopfli(unit, trial.iterations, have - 1, &mut other) {
        *out = other;
    }
    true
}

/// Writes one image; see the module doc.
pub struct CsoWriter {
    sink: Arc<dyn WriteAt>,
    cfg: WriterConfig,
    size: u64,
    blocks: u64,
    /// The next block to write.
    next: u64,
    /// File offset of the next block.
    pos: u64,
    buf: Vec<u8>,
    buf_at: u64,
    /// Index entries (CSO) or frame offsets (DAX) from block `pending_first` on.
    entries: Vec<u8>,
    /// DAX frame lengths from block `pending_first` on.
    sizes: Vec<u8>,
    pending_first: u64,
    /// The all-zero block, encoded (tagged), or empty when it is stored.
    zero: Vec<u8>,
    encoder: Arc<CsoEncoder>,
}

impl CsoWriter {
    fn new(sink: Arc<dyn WriteAt>, variant: Variant, req: &CreateRequest) -> Result<Self> {
        let cfg = WriterConfig::from_request(variant, req)?;
        let blocks = req.size.div_ceil(u64::from(cfg.block_size));
        let encoder = Arc::new(CsoEncoder::new(cfg));
        let mut zero = Vec::new();
        if encoder.encode(&vec![0u8; cfg.block_size as usize], &mut zero)? == Encoding::Plain {
            zero.clear();
        }
        let pos = data_start(variant, blocks).next_multiple_of(1 << cfg.index_shift);
        Ok(CsoWriter {
            sink,
            cfg,
            size: req.size,
            blocks,
            next: 0,
            pos,
            buf: Vec::with_capacity(APPEND_BUFFER),
            buf_at: pos,
            entries: Vec::with_capacity(INDEX_BUFFER),
            sizes: Vec::new(),
            pending_first: 0,
            zero,
            encoder,
        })
    }

    fn fmt(&self) -> &'static str {
        self.cfg.variant.format()
    }

    /// Appends the next block: `tagged` is an encoder output (tag byte first), or `None` with
    /// the block's bytes in `plain`.
    fn put(&mut self, tagged: Option<&[u8]>, plain: &[u8]) -> Result<()> {
        let variant = self.cfg.variant;
        let (data, lz4) = match tagged {
            Some(t) => (&t[1..], t[0] == TAG_LZ4),
            None => (plain, false),
        };
        let stored = tagged.is_none();
        if variant == Variant::Dax {
            let offset = u32::try_from(self.pos).map_err(|_| {
                Error::unsupported("dax", "the DAX file would pass 4 GiB (32-bit offsets)")
            })?;
            let len = u16::try_from(data.len())
                .map_err(|_| Error::invalid_input("DAX frame longer than 64 KiB"))?;
            self.entries.extend_from_slice(&offset.to_le_bytes());
            self.sizes.extend_from_slice(&len.to_le_bytes());
        } else {
            let mut entry = self.index_value(self.pos)?;
            if (stored && variant != Variant::Cso2) || (lz4 && variant == Variant::Cso2) {
                entry |= FLAG;
            }
            self.entries.extend_from_slice(&entry.to_le_bytes());
        }
        self.buf.extend_from_slice(data);
        self.pos += data.len() as u64;
        let padded = self.pos.next_multiple_of(1 << self.cfg.index_shift);
        self.buf
            .resize(self.buf.len() + (padded - self.pos) as usize, 0);
        self.pos = padded;
        self.next += 1;
        if self.buf.len() >= APPEND_BUFFER {
            self.flush_data()?;
        }
        if self.entries.len() >= INDEX_BUFFER {
            self.flush_index()?;
        }
        Ok(())
    }

    fn index_value(&self, pos: u64) -> Result<u32> {
        let v = pos >> self.cfg.index_shift;
        u32::try_from(v)
            .ok()
            .filter(|v| v & FLAG == 0)
            .ok_or_else(|| {
                Error::invalid_input(format!(
                    "{}: byte {pos} cannot be addressed with index shift {}",
                    self.fmt(),
                    self.cfg.index_shift
                ))
            })
    }

    /// Writes all-zero blocks up to (not including) block `upto`.
    fn zeros_until(&mut self, upto: u64) -> Result<()> {
        let bs = self.cfg.block_size as usize;
        let zero = std::mem::take(&mut self.zero);
        let plain = if zero.is_empty() {
            vec![0u8; bs]
        } else {
            Vec::new()
        };
        let r = (|| {
            while self.next < upto {
                if zero.is_empty() {
                    self.put(None, &plain)?;
                } else {
                    self.put(Some(&zero), &[])?;
                }
            }
            Ok(())
        })();
        self.zero = zero;
        r
    }

    fn flush_data(&mut self) -> Result<()> {
        if !self.buf.is_empty() {
            self.sink.write_at(self.buf_at, &self.buf)?;
            self.buf_at += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(())
    }

    fn flush_index(&mut self) -> Result<()> {
        let first = self.pending_first;
        let header = if self.cfg.variant == Variant::Dax {
            32
        } else {
            24
        };
        if !self.entries.is_empty() {
            self.sink.write_at(header + first * 4, &self.entries)?;
        }
        if !self.sizes.is_empty() {
            self.sink
                .write_at(header + self.blocks * 4 + first * 2, &self.sizes)?;
        }
        self.pending_first = self.next;
        self.entries.clear();
        self.sizes.clear();
        Ok(())
    }

    fn check_order(&self, first: u64, count: u64) -> Result<()> {
        if first < self.next || first.saturating_add(count) > self.blocks {
            return Err(Error::invalid_input(format!(
                "{}: blocks {first}..{} out of order or past the end ({} blocks, next {})",
                self.fmt(),
                first.saturating_add(count),
                self.blocks,
                self.next
            )));
        }
        Ok(())
    }
}

impl ImageWriter for CsoWriter {
    fn unit_size(&self) -> u64 {
        u64::from(self.cfg.block_size)
    }

    fn encoder(&self) -> Option<Arc<dyn UnitEncoder>> {
        Some(self.encoder.clone())
    }

    fn write_units(&mut self, first: u64, data: &[u8]) -> Result<()> {
        let bs = self.cfg.block_size as usize;
        let count = data.len().div_ceil(bs) as u64;
        self.check_order(first, count)?;
        self.zeros_until(first)?;
        let mut tagged = Vec::new();
        for block in data.chunks(bs) {
            if self.cfg.variant == Variant::Dax {
                // DAX stores no plain frames: every frame is a zlib stream.
                if self.encoder.encode(block, &mut tagged)? == Encoding::Plain {
                    return Err(Error::invalid_input("dax: a frame could not be compressed"));
                }
                self.put(Some(&tagged), &[])?;
            } else {
                self.put(None, block)?;
            }
        }
        Ok(())
    }

    fn write_encoded(&mut self, index: u64, encoded: &[u8]) -> Result<()> {
        self.check_order(index, 1)?;
        if encoded.is_empty() {
            return Err(Error::invalid_input("empty encoded block"));
        }
        self.zeros_until(index)?;
        self.put(Some(encoded), &[])
    }

    fn write_zero_units(&mut self, _first: u64, _count: u64) -> Result<()> {
        Err(Error::unsupported(
            self.fmt(),
            "compressed ISOs have no backing file",
        ))
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        self.zeros_until(self.blocks)?;
        if self.cfg.variant != Variant::Dax {
            let end = self.index_value(self.pos)?;
            self.entries.extend_from_slice(&end.to_le_bytes());
        }
        self.flush_data()?;
        self.flush_index()?;
        let header = CsoHeader {
            variant: self.cfg.variant,
            header_size: if self.cfg.variant == Variant::Dax {
                32
            } else {
                24
            },
            uncompressed_size: self.size,
            block_size: self.cfg.block_size,
            version: match self.cfg.variant {
                Variant::Cso2 => 2,
                Variant::Dax => 0,
                _ => 1,
            },
            index_shift: self.cfg.index_shift,
            nc_areas: 0,
        };
        self.sink.write_at(0, &header.to_bytes())?;
        self.sink.set_size(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::cso::Cso;
    use crate::container::write::FormatOptions;
    use crate::device::DeviceRef;
    use crate::io::{MemorySink, MemorySource, ReadAt};
    use crate::ops::convert::{NoProgress, write_image};

    /// Text, noise, zeros and a short tail: every kind of block, a partial last block.
    fn sample(len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        let mut x = 0x1234_5678u32;
        for (i, b) in v.iter_mut().enumerate() {
            *b = match (i / 8192) % 4 {
                0 => b"the quick brown fox "[i % 20],
                1 => {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                }
                2 => 0,
                _ => (i % 7) as u8,
            };
        }
        v
    }

    fn write(variant: Variant, data: &[u8], opts: &[&str]) -> Vec<u8> {
        let sink = Arc::new(MemorySink::new());
        let req = CreateRequest {
            size: data.len() as u64,
            options: FormatOptions::parse(opts).unwrap(),
            ..Default::default()
        };
        let w = CsoWriter::new(sink.clone(), variant, &req).unwrap();
        let src: DeviceRef = Arc::new(MemorySource::new(data.to_vec()));
        write_image(&src, Box::new(w), None, 2, &NoProgress).unwrap();
        sink.to_vec()
    }

    fn read(image: Vec<u8>) -> (Cso, Vec<u8>) {
        let c = Cso::open(Arc::new(MemorySource::new(image))).unwrap();
        let dev = crate::container::Container::device(&c);
        let mut out = vec![0u8; dev.size() as usize];
        dev.read_exact_at(0, &mut out).unwrap();
        (c, out)
    }

    /// One 2 KiB block of 16-byte records (a sequence number, a varying byte, a constant tag, a
    /// running offset): the kind of block on which Zopfli beats libdeflate 12.
    fn records() -> Vec<u8> {
        let mut v = Vec::with_capacity(2048);
        let mut x = 0x9e37_79b9u32;
        for i in 0..128u32 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            v.extend_from_slice(&(0x9f31_eddb + i).to_le_bytes());
            v.extend_from_slice(&[x as u8, 0, 0, 0]);
            v.extend_from_slice(&0x1234_5678u32.to_le_bytes());
            v.extend_from_slice(&(i * 16).to_le_bytes());
        }
        v
    }

    #[test]
    fn zopfli_trial_is_kept_when_smaller() {
        let block = records();
        let mut plain = Vec::new();
        assert!(deflate(&block, 12, false, 2047, &mut plain));
        let mut lazy = Vec::new();
        assert!(deflate(&block, 6, false, 2047, &mut lazy));
        // The block passes the gate.
        let trial = Level::Best.zopfli().unwrap();
        assert!(trial.worth_it(plain.len(), lazy.len()));
        let mut sizes = Vec::new();
        for level in [Level::Fast, Level::Default, Level::Best] {
            let mut out = vec![TAG_DEFLATE];
            assert!(best_deflate(&block, level, 2047, &mut out));
            assert_eq!(out[0], TAG_DEFLATE);
            let mut back = vec![0u8; 2048];
            assert_eq!(
                super::super::codec::inflate(&out[1..], &mut back, false),
                Ok(2048)
            );
            assert_eq!(back, block);
            sizes.push(out.len() - 1);
        }
        assert_eq!(sizes[..2], [lazy.len(), plain.len()]);
        assert!(sizes[2] < plain.len(), "{sizes:?}");
        // The image holds what the trial made.
        let img = write(Variant::Cso1, &block, &["level=best"]);
        assert_eq!(
            img.len() as u64,
            data_start(Variant::Cso1, 1) + sizes[2] as u64
        );
        assert_eq!(read(img).1, block);
    }

    #[test]
    fn every_variant_round_trips() {
        let data = sample(40 * 8192 + 2048 * 3);
        for variant in [Variant::Cso1, Variant::Cso2, Variant::Zso, Variant::Dax] {
            for opts in [&[][..], &["level=fast"], &["level=best"]] {
                let img = write(variant, &data, opts);
                let (c, out) = read(img);
                assert_eq!(c.header().variant, variant, "{variant:?} {opts:?}");
                assert!(out == data, "{variant:?} {opts:?}: data differs");
            }
        }
    }

    #[test]
    fn block_sizes_and_alignment() {
        let data = sample(100 * 2048);
        for (opts, bs, shift) in [
            (&["block_size=16k"][..], 16384, 0),
            (&["align=5"], 2048, 5),
            (&["block_size=4096,align=11"], 4096, 11),
        ] {
            for variant in [Variant::Cso1, Variant::Cso2, Variant::Zso] {
                let img = write(variant, &data, opts);
                let len = img.len() as u64;
                let (c, out) = read(img);
                assert!(out == data, "{variant:?} {opts:?}");
                assert_eq!(c.header().block_size, bs, "{variant:?} {opts:?}");
                assert_eq!(c.header().index_shift, shift, "{variant:?} {opts:?}");
                assert_eq!(len % (1 << shift), 0, "{variant:?} {opts:?}");
            }
        }
    }

    #[test]
    fn incompressible_blocks_are_stored() {
        let data = sample(4 * 8192);
        let img = write(Variant::Cso1, &data, &[]);
        let (c, _) = read(img);
        // Block 4..8 (noise) is stored; the 4 zero blocks and text compress.
        let d = crate::container::Container::details(&c);
        assert_eq!(d["blocks_stored"], 4);
        assert_eq!(d["blocks_deflate"], 12);
    }

    #[test]
    fn empty_image() {
        for variant in [Variant::Cso1, Variant::Dax] {
            let img = write(variant, &[], &[]);
            let (_, out) = read(img);
            assert!(out.is_empty());
        }
    }
}
