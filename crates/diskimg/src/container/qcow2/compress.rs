//! Compressed clusters: raw deflate (zlib, the default) and zstd.
//!
//! qemu compresses a cluster into a raw deflate stream with a 4 KiB window (window bits 12),
//! or into one zstd frame. Decompression stops when a whole cluster has been produced: the
//! stored bytes are rounded up to 512-byte sectors and may end with another cluster's data.
//! Compression keeps one context per thread, reused from cluster to cluster.

use super::FORMAT;
use super::header::CompressionType;
use crate::container::write::{Encoding, UnitEncoder};
use crate::error::{Error, Result};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use std::cell::RefCell;

/// Window bits of qemu's deflate streams; a larger window would not decompress in qemu.
const WINDOW_BITS: u8 = 12;

/// Decompresses `input` into exactly `out.len()` bytes.
pub fn decompress(kind: CompressionType, input: &[u8], out: &mut [u8], at: u64) -> Result<()> {
    let produced = match kind {
        CompressionType::Zlib => inflate(input, out),
        CompressionType::Zstd => unzstd(input, out),
    }
    .map_err(|msg| Error::corrupt(FORMAT, "compressed cluster", at, msg))?;
    if produced != out.len() {
        return Err(Error::corrupt(
            FORMAT,
            "compressed cluster",
            at,
            format!(
                "{} data decompressed to {produced} bytes, not a cluster of {}",
                kind.name(),
                out.len()
            ),
        ));
    }
    Ok(())
}

fn inflate(input: &[u8], out: &mut [u8]) -> std::result::Result<usize, String> {
    let mut d = Decompress::new(false);
    loop {
        let before_in = d.total_in();
        let before_out = d.total_out();
        let status = d
            .decompress(
                &input[d.total_in() as usize..],
                &mut out[d.total_out() as usize..],
                FlushDecompress::Finish,
            )
            .map_err(|e| format!("deflate: {e}"))?;
        let done_out = d.total_out() as usize;
        match status {
            Status::StreamEnd => return Ok(done_out),
            _ if done_out == out.len() => return Ok(done_out),
            _ if d.total_in() == before_in && d.total_out() == before_out => {
                return Ok(done_out);
            }
            _ => {}
        }
    }
}

fn unzstd(input: &[u8], out: &mut [u8]) -> std::result::Result<usize, String> {
    use zstd::stream::raw::{Decoder, InBuffer, Operation, OutBuffer};
    let mut dec = Decoder::new().map_err(|e| format!("zstd: {e}"))?;
    let mut inb = InBuffer::around(input);
    let mut outb = OutBuffer::around(out);
    loop {
        let (in_before, out_before) = (inb.pos(), outb.pos());
        let hint = dec
            .run(&mut inb, &mut outb)
            .map_err(|e| format!("zstd: {e}"))?;
        if outb.pos() == outb.capacity() || hint == 0 {
            break;
        }
        if inb.pos() == in_before && outb.pos() == out_before {
            break;
        }
    }
    Ok(outb.pos())
}

/// Bits per byte above which a cluster is compressed at the fastest deflate level.
const HIGH_ENTROPY: f64 = 7.9;

/// Shannon entropy of the byte values of `data`, in bits per byte (0 to 8).
pub fn byte_entropy(data: &[u8]) -> f64 {
    if data.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in data {
        counts[b as usize] += 1;
    }
    let n = data.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

thread_local! {
    static DEFLATE: RefCell<Option<(u32, Compress)>> = const { RefCell::new(None) };
    static ZSTD: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
        const { RefCell::new(None) };
}

/// Compresses clusters for the writer; declines clusters that do not shrink below one cluster
/// minus one byte, as qemu does (they are stored uncompressed).
pub struct ClusterCompressor {
    /// Algorithm.
    pub kind: CompressionType,
    /// Level (deflate 0-9, zstd 1-22).
    pub level: i32,
}

impl UnitEncoder for ClusterCompressor {
    fn encode(&self, unit: &[u8], out: &mut Vec<u8>) -> Result<Encoding> {
        let limit = unit.len() - 1;
        out.clear();
        out.reserve(unit.len());
        let fits = match self.kind {
            CompressionType::Zlib => self.deflate(unit, out, limit)?,
            CompressionType::Zstd => self.zstd(unit, out, limit)?,
        };
        Ok(if fits {
            Encoding::Encoded
        } else {
            Encoding::Plain
        })
    }
}

impl ClusterCompressor {
    fn deflate(&self, unit: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<bool> {
        // Clusters of near-random bytes (compressed or encrypted files) almost never shrink;
        // the fastest level finds out as well as a slow one, at a fraction of the cost.
        let level = if byte_entropy(unit) >= HIGH_ENTROPY {
            1
        } else {
            self.level.clamp(0, 9) as u32
        };
        DEFLATE.with(|cell| {
            let mut slot = cell.borrow_mut();
            let c = match slot.as_mut() {
                Some((l, c)) if *l == level => {
                    c.reset();
                    c
                }
                _ => {
                    let c =
                        Compress::new_with_window_bits(Compression::new(level), false, WINDOW_BITS);
                    &mut slot.insert((level, c)).1
                }
            };
            out.resize(limit, 0);
            let status = c
                .compress(unit, out, FlushCompress::Finish)
                .map_err(|e| Error::new(crate::ErrorKind::Io, format!("deflate: {e}")))?;
            let n = c.total_out() as usize;
            out.truncate(n);
            let fits = status == Status::StreamEnd && n < limit;
            if status != Status::StreamEnd {
                // A stream stopped for lack of room is not reused: zlib-rs 0.6.8 panics in the
                // next stream after `reset` of an unfinished one (the noise tests catch it).
                *slot = None;
            }
            Ok(fits)
        })
    }

    fn zstd(&self, unit: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<bool> {
        ZSTD.with(|cell| {
            let mut slot = cell.borrow_mut();
            let c = match slot.as_mut() {
                Some((l, c)) if *l == self.level => c,
                _ => {
                    let c = zstd::bulk::Compressor::new(self.level)
                        .map_err(|e| Error::new(crate::ErrorKind::Io, format!("zstd: {e}")))?;
                    &mut slot.insert((self.level, c)).1
                }
            };
            out.resize(limit, 0);
            match c.compress_to_buffer(unit, out.as_mut_slice()) {
                Ok(n) if n < limit => {
                    out.truncate(n);
                    Ok(true)
                }
                // Too large for the buffer: the cluster does not compress.
                _ => Ok(false),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy() {
        assert_eq!(byte_entropy(&[7u8; 100]), 0.0);
        let all: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
        assert!((byte_entropy(&all) - 8.0).abs() < 1e-9);
    }

    #[test]
    fn round_trips_and_declines_noise() {
        // Noise stops a deflate stream for lack of room; reusing that stream made zlib-rs 0.6.8
        // panic on the next cluster. Every size is tried with both kinds of data, alternating.
        for size in [512usize, 4096, 65536] {
            let unit: Vec<u8> = (0..size).map(|i| (i / 100) as u8).collect();
            let mut noise = vec![0u8; size];
            let mut x = 1u64;
            for b in &mut noise {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            for kind in [CompressionType::Zlib, CompressionType::Zstd] {
                let c = ClusterCompressor { kind, level: 6 };
                let mut out = Vec::new();
                assert_eq!(c.encode(&unit, &mut out).unwrap(), Encoding::Encoded);
                // Sector padding after the stream must not disturb decompression.
                out.resize(out.len().div_ceil(512) * 512 + 512, 0xAA);
                let mut back = vec![0u8; size];
                decompress(kind, &out, &mut back, 0).unwrap();
                assert_eq!(back, unit, "{kind:?} {size}");
                assert_eq!(c.encode(&noise, &mut out).unwrap(), Encoding::Plain);
                let mut short = vec![0u8; size];
                assert!(decompress(kind, &[1, 2, 3], &mut short, 0).is_err());
            }
        }
    }
}
