//! Block codecs: deflate and zlib through libdeflate, raw deflate through Zopfli (the `zopfli`
//! crate, a second encoder for the blocks where it pays), LZ4 blocks (our decoder, the lz4
//! library's HC compressor).
//!
//! Decoding is bounded by the block: the output buffer is one block, and a stream that would
//! produce more is an error (a decompression bomb), never a larger allocation. Stored lengths
//! may include alignment padding after the encoded data, so every decoder stops at the end of
//! its stream and ignores what follows. libdeflate compressors are kept per thread and per level.

use crate::error::Result;
use libdeflater::{CompressionLvl, Compressor, DecompressionError, Decompressor};
use std::cell::RefCell;

thread_local! {
    static INFLATE: RefCell<Option<Decompressor>> = const { RefCell::new(None) };
    static DEFLATE: RefCell<Vec<(i32, Compressor)>> = const { RefCell::new(Vec::new()) };
}

/// Inflates raw deflate (`zlib == false`) or zlib data into `out`; returns the bytes produced.
pub fn inflate(input: &[u8], out: &mut [u8], zlib: bool) -> std::result::Result<usize, String> {
    INFLATE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let d = slot.get_or_insert_with(Decompressor::new);
        let r = if zlib {
            d.zlib_decompress(input, out)
        } else {
            d.deflate_decompress(input, out)
        };
        r.map_err(|e| match e {
            DecompressionError::BadData => {
                format!("{} data is invalid", if zlib { "zlib" } else { "deflate" })
            }
            DecompressionError::InsufficientSpace => {
                format!("data inflates beyond the block size ({} bytes)", out.len())
            }
        })
    })
}

/// Decodes an LZ4 block (the raw block format, no frame) into `out`, stopping once `out` is
/// full; returns the bytes produced. Matches and literals never write past `out`.
pub fn lz4_decode(input: &[u8], out: &mut [u8]) -> std::result::Result<usize, String> {
    let mut ip = 0usize;
    let mut op = 0usize;
    let byte = |ip: &mut usize| -> std::result::Result<usize, String> {
        let b = *input
            .get(*ip)
            .ok_or_else(|| "lz4 sequence runs past the end of the block".to_owned())?;
        *ip += 1;
        Ok(usize::from(b))
    };
    let long = |ip: &mut usize, mut n: usize| -> std::result::Result<usize, String> {
        loop {
            let b = byte(ip)?;
            n = n.saturating_add(b);
            if b != 255 {
                return Ok(n);
            }
        }
    };
    while ip < input.len() && op < out.len() {
        let token = byte(&mut ip)?;
        let mut lit = token >> 4;
        if lit == 15 {
            lit = long(&mut ip, lit)?;
        }
        let lit_end = ip.saturating_add(lit);
        if lit_end > input.len() {
            return Err("lz4 literals run past the end of the block".into());
        }
        if op.saturating_add(lit) > out.len() {
            return Err(format!(
                "lz4 data decodes beyond the block size ({} bytes)",
                out.len()
            ));
        }
        out[op..op + lit].copy_from_slice(&input[ip..lit_end]);
        op += lit;
        ip = lit_end;
        if op == out.len() || ip == input.len() {
            break;
        }
        let lo = byte(&mut ip)?;
        let hi = byte(&mut ip)?;
        let offset = lo | (hi << 8);
        if offset == 0 || offset > op {
            return Err(format!(
                "lz4 match offset {offset} at output byte {op} points before the block"
            ));
        }
        let mut len = token & 15;
        if len == 15 {
            len = long(&mut ip, len)?;
        }
        let len = len.saturating_add(4);
        if op.saturating_add(len) > out.len() {
            return Err(format!(
                "lz4 data decodes beyond the block size ({} bytes)",
                out.len()
            ));
        }
        let from = op - offset;
        if offset >= len {
            out.copy_within(from..from + len, op);
        } else {
            for k in 0..len {
                out[op + k] = out[from + k];
            }
        }
        op += len;
    }
    Ok(op)
}

/// Raw deflate (`zlib == false`) or zlib compression of `input` at libdeflate `level` (1-12)
/// into `out`, only if the result is at most `limit` bytes; `false` when it is not.
pub fn deflate(input: &[u8], level: i32, zlib: bool, limit: usize, out: &mut Vec<u8>) -> bool {
    DEFLATE.with(|cell| {
        let mut cache = cell.borrow_mut();
        let i = match cache.iter().position(|(l, _)| *l == level) {
            Some(i) => i,
            None => {
                let lvl = CompressionLvl::new(level).unwrap_or_default();
                cache.push((level, Compressor::new(lvl)));
                cache.len() - 1
            }
        };
        let c = &mut cache[i].1;
        let start = out.len();
        out.resize(start + limit, 0);
        let r = if zlib {
            c.zlib_compress(input, &mut out[start..])
        } else {
            c.deflate_compress(input, &mut out[start..])
        };
        match r {
            Ok(n) => {
                out.truncate(start + n);
                true
            }
            Err(_) => {
                out.truncate(start);
                false
            }
        }
    })
}

/// Raw deflate by Zopfli with `iterations` optimisation passes and no block splitting (one
/// deflate block: a split never pays on a 2 KiB block and multiplies the time), only if the
/// result is at most `limit` bytes.
pub fn deflate_zopfli(input: &[u8], iterations: u64, limit: usize, out: &mut Vec<u8>) -> bool {
    use std::num::NonZeroU64;
    let options = zopfli::Options {
        iteration_count: NonZeroU64::new(iterations).unwrap_or(NonZeroU64::MIN),
        iterations_without_improvement: NonZeroU64::MAX,
        // At most one block: no split.
        maximum_block_splits: 1,
    };
    let start = out.len();
    let ok = zopfli::compress(options, zopfli::Format::Deflate, input, &mut *out).is_ok();
    if ok && out.len() - start <= limit {
        true
    } else {
        out.truncate(start);
        false
    }
}

/// An LZ4 block of `input`: high compression at `level` (1-12), or the fast coder when
/// `level` is 0; only if it is at most `limit` bytes.
pub fn lz4_encode(input: &[u8], level: i32, limit: usize, out: &mut Vec<u8>) -> Result<bool> {
    use lz4::block::{CompressionMode, compress_bound, compress_to_buffer};
    let mode = if level == 0 {
        CompressionMode::DEFAULT
    } else {
        CompressionMode::HIGHCOMPRESSION(level)
    };
    let start = out.len();
    let bound = compress_bound(input.len()).map_err(crate::error::Error::from)?;
    out.resize(start + bound, 0);
    match compress_to_buffer(input, Some(mode), false, &mut out[start..]) {
        Ok(n) if n <= limit => {
            out.truncate(start + n);
            Ok(true)
        }
        _ => {
            out.truncate(start);
            Ok(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        (0..8192u32)
            .map(|i| ((i * 7) % 251) as u8 ^ (i / 300) as u8)
            .collect()
    }

    #[test]
    fn deflate_round_trip_with_padding() {
        let data = sample();
        for zlib in [false, true] {
            let mut enc = Vec::new();
            assert!(deflate(&data, 12, zlib, data.len(), &mut enc));
            enc.extend_from_slice(&[0u8; 100]); // alignment padding
            let mut out = vec![0u8; data.len()];
            assert_eq!(inflate(&enc, &mut out, zlib).unwrap(), data.len());
            assert_eq!(out, data);
            // One byte short of room: a bomb, not a truncation.
            let mut small = vec![0u8; data.len() - 1];
            assert!(inflate(&enc, &mut small, zlib).is_err());
        }
        // Levels alternate on one thread (each keeps its compressor).
        for level in [12, 6, 12] {
            let mut enc = Vec::new();
            assert!(deflate(&data, level, false, data.len(), &mut enc));
            let mut out = vec![0u8; data.len()];
            assert_eq!(inflate(&enc, &mut out, false).unwrap(), data.len());
            assert_eq!(out, data);
        }
    }

    #[test]
    fn zopfli_round_trip_and_limit() {
        let data = sample();
        let mut enc = vec![7u8]; // appends after what is there
        assert!(deflate_zopfli(&data, 1, data.len(), &mut enc));
        assert_eq!(enc[0], 7);
        let n = enc.len() - 1;
        let mut out = vec![0u8; data.len()];
        assert_eq!(inflate(&enc[1..], &mut out, false).unwrap(), data.len());
        assert_eq!(out, data);
        // One byte under its size: refused, and nothing is left behind.
        assert!(!deflate_zopfli(&data, 1, n - 1, &mut enc));
        assert_eq!(enc.len(), n + 1);
    }

    #[test]
    fn lz4_round_trip_with_padding() {
        let data = sample();
        for level in [0, 9, 12] {
            let mut enc = Vec::new();
            assert!(lz4_encode(&data, level, data.len(), &mut enc).unwrap());
            enc.extend_from_slice(&[0u8; 64]);
            let mut out = vec![0u8; data.len()];
            assert_eq!(lz4_decode(&enc, &mut out).unwrap(), data.len());
            assert_eq!(out, data);
            // Cross-check against another decoder.
            let n = enc.len() - 64;
            let other = lz4_flex::block::decompress(&enc[..n], data.len()).unwrap();
            assert_eq!(other, data);
        }
    }

    #[test]
    fn lz4_hostile() {
        let mut out = vec![0u8; 16];
        // Match offset before the start.
        assert!(lz4_decode(&[0x10, b'a', 5, 0], &mut out).is_err());
        // Zero offset.
        assert!(lz4_decode(&[0x10, b'a', 0, 0], &mut out).is_err());
        // Match longer than the block: a bomb.
        assert!(lz4_decode(&[0x1F, b'a', 1, 0, 200], &mut out).is_err());
        // Literals past the input.
        assert!(lz4_decode(&[0xF0, 255, 255], &mut out).is_err());
        // A run of zeros after data (padding inside a block still short of output).
        assert!(lz4_decode(&[0x10, b'a', 0, 0, 0], &mut out).is_err());
        // Valid: "a" then a match of 15 at offset 1 fills 16 bytes.
        assert_eq!(lz4_decode(&[0x1B, b'a', 1, 0], &mut out).unwrap(), 16);
        assert_eq!(out, vec![b'a'; 16]);
    }
}
