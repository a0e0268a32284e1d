//! Encoding the version 5 compressed hunk map (MAME `chd.cpp`, `compress_v5_map`; read back
//! by [`super::map`] through the `chd` crate).
//!
//! Each hunk has a 12-byte raw entry: its storage type (codec slot 0-3, 4 stored as is,
//! 5 a copy of another hunk), a 24-bit length, a 48-bit offset (for a copy: the hunk copied)
//! and the CRC-16 of its data. The map stores the types run-length coded (`RLE_SMALL` n:
//! 3 + n more of the last type; `RLE_LARGE` hi lo: 19 + 16 hi + lo more), a copy of the
//! hunk after the last copied one or of the same hunk as `SELF_1`/`SELF_0`, the types then
//! Huffman coded (16 codes of at most 8 bits, the `chd` crate's encoder); then per hunk
//! the fields its type needs, in as many bits as the largest value takes: length and CRC
//! for a codec, CRC for a hunk as is, the hunk for a copy. Offsets are not stored: hunks lie
//! one after the other from the first one's offset, which the 16-byte map header holds
//! with the bit widths, the data's length and the CRC-16 of the raw entries.

use super::FORMAT;
use super::codec::crc16;
use crate::error::{Error, ErrorKind, Result};
use bitstream_io::{BigEndian, BitWrite, BitWriter};
use chd::huffman::HuffmanEncoder;
use chd::map::CompressionTypeV5 as T;

/// One hunk's raw map entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawEntry {
    /// Storage type: codec slot, `CompressionNone` or `CompressionSelf`.
    pub kind: u8,
    /// Stored length (a hunk for `CompressionNone`, 0 for a copy).
    pub len: u32,
    /// File offset, or for a copy the hunk copied.
    pub offset: u64,
    /// CRC-16 of the hunk's data (0 for a copy).
    pub crc: u16,
}

impl RawEntry {
    fn bytes(&self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[0] = self.kind;
        b[1..4].copy_from_slice(&self.len.to_be_bytes()[1..]);
        b[4..10].copy_from_slice(&self.offset.to_be_bytes()[2..]);
        b[10..].copy_from_slice(&self.crc.to_be_bytes());
        b
    }
}

fn err(what: &str) -> Error {
    Error::new(ErrorKind::Io, format!("encoding the CHD map: {what}")).with_format(FORMAT)
}

/// Bits needed for `v`.
fn bits(v: u64) -> u8 {
    (u64::BITS - v.leading_zeros()) as u8
}

/// The map (its 16-byte header and the coded entries) for `entries`, whose stored hunks
/// lie one after the other in hunk order.
pub fn encode_map(entries: &[RawEntry]) -> Result<Vec<u8>> {
    let codec_kinds = T::CompressionType0 as u8..=T::CompressionType3 as u8;
    let stored =
        |e: &&RawEntry| codec_kinds.contains(&e.kind) || e.kind == T::CompressionNone as u8;
    let first_offset = entries.iter().find(stored).map_or(0, |e| e.offset);

    // The types, with copies of the hunk after the last copied one (or the same) promoted.
    let mut last_self = 0u64;
    let types: Vec<u8> = entries
        .iter()
        .map(|e| {
            if e.kind != T::CompressionSelf as u8 {
                return e.kind;
            }
            let t = if e.offset == last_self {
                T::CompressionSelf0
            } else if e.offset == last_self + 1 {
                T::CompressionSelf1
            } else {
                T::CompressionSelf
            };
            last_self = e.offset;
            t as u8
        })
        .collect();

    let (mut max_len, mut max_self) = (0u64, 0u64);
    for (e, &t) in entries.iter().zip(&types) {
        if codec_kinds.contains(&t) {
            max_len = max_len.max(u64::from(e.len));
        } else if t == T::CompressionSelf as u8 {
            max_self = max_self.max(e.offset);
        }
    }
    let (len_bits, self_bits) = (bits(max_len), bits(max_self));

    let rle = run_length(&types);
    let mut huffman = HuffmanEncoder::<'_, 16, 8>::new();
    huffman
        .try_compute_tree(rle.iter().map(|&v| u32::from(v)))
        .map_err(|_| err("Huffman tree"))?;
    let mut body = Vec::new();
    let mut w = BitWriter::endian(&mut body, BigEndian);
    huffman
        .export_tree_rle(&mut w)
        .map_err(|_| err("Huffman tree"))?;
    for &v in &rle {
        huffman
            .encode_one(&mut w, u32::from(v))
            .map_err(|_| err("Huffman code"))?;
    }
    let io = |_| err("bit writer");
    for (e, &t) in entries.iter().zip(&types) {
        if codec_kinds.contains(&t) {
            w.write_var(u32::from(len_bits), e.len).map_err(io)?;
            w.write_var(16, e.crc).map_err(io)?;
        } else if t == T::CompressionNone as u8 {
            w.write_var(16, e.crc).map_err(io)?;
        } else if t == T::CompressionSelf as u8 {
            w.write_var(u32::from(self_bits), e.offset).map_err(io)?;
        }
    }
    w.byte_align().map_err(io)?;

    let raw: Vec<u8> = entries.iter().flat_map(|e| e.bytes()).collect();
    let length = u32::try_from(body.len()).map_err(|_| err("map too large"))?;
    let mut map = Vec::with_capacity(16 + body.len());
    map.extend_from_slice(&length.to_be_bytes());
    map.extend_from_slice(&first_offset.to_be_bytes()[2..]);
    map.extend_from_slice(&crc16(&raw).to_be_bytes());
    map.extend_from_slice(&[len_bits, self_bits, 0, 0]);
    map.extend_from_slice(&body);
    Ok(map)
}

/// The types run-length coded: a type that differs from the last is written as is; repeats
/// of the last type as themselves (one or two), `RLE_SMALL` (3 to 18) or `RLE_LARGE` (19 to
/// 274, repeated as needed).
fn run_length(types: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut last = 0u8;
    for run in types.chunk_by(|a, b| a == b) {
        let mut repeats = run.len();
        if run[0] != last {
            last = run[0];
            out.push(last);
            repeats -= 1;
        }
        while repeats > 0 {
            if repeats < 3 {
                out.push(last);
                repeats -= 1;
            } else if repeats <= 3 + 15 {
                out.extend([T::CompressionRleSmall as u8, (repeats - 3) as u8]);
                repeats = 0;
            } else {
                let n = repeats.min(3 + 16 + 255);
                let v = n - 3 - 16;
                out.extend([T::CompressionRleLarge as u8, (v >> 4) as u8, (v & 15) as u8]);
                repeats -= n;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_coded_as_mame_reads_them() {
        // 0 (the initial last type) x 20, then 4 x 1, then 1 x 3.
        let mut types = vec![0u8; 20];
        types.push(4);
        types.extend([1, 1, 1]);
        let rle = run_length(&types);
        // 20 zeros: RLE_LARGE with 20 - 19 = 1; the 4; the first 1 then 1, 1 as themselves.
        assert_eq!(rle, vec![8, 0, 1, 4, 1, 1, 1]);
        let long = vec![2u8; 600];
        let rle = run_length(&long);
        // 2, then 599 repeats: 274 + 274 + 51 (RLE_LARGE 15/15 twice, then RLE_LARGE 2/0).
        assert_eq!(rle, vec![2, 8, 15, 15, 8, 15, 15, 8, 2, 0]);
    }
}
