//! LZNT1 decompression ([MS-XCA] section 2.5, "LZNT1 Algorithm Details"), as NTFS stores
//! compressed attributes.
//!
//! A buffer is a run of chunks. Each chunk starts with a 16-bit little-endian header: bits 0-11
//! are the chunk's stored length minus 3, bits 12-14 the signature 3, bit 15 set when the chunk
//! is compressed. A zero header ends the buffer. An uncompressed chunk holds 4096 literal bytes
//! (fewer at the end). A compressed chunk is a series of flag bytes, each followed by eight
//! tokens (low bit first): a clear bit is one literal byte, a set bit a 16-bit copy token whose
//! split between displacement and length depends on how far into the 4096-byte chunk the
//! output is: with `p` bytes already produced, the displacement takes
//! `max(4, ceil(log2(p)))` bits and the length the rest; displacement is stored minus 1,
//! length minus 3.

use crate::error::{Error, Result};

/// Bytes a chunk decompresses to at most.
pub const CHUNK_SIZE: usize = 4096;

/// Decompresses `src` into `out`, filling at most `out.len()` bytes. Callers pass a zeroed
/// buffer: a chunk that produces fewer than 4096 bytes, or a stream that ends early, leaves
/// zeros, as NTFS means. Returns how far into `out` the chunks reached. `offset` names the
/// stream's position in errors.
pub fn decompress(src: &[u8], out: &mut [u8], offset: u64) -> Result<usize> {
    let bad = |at: usize, msg: &str| {
        Error::corrupt(
            super::FORMAT,
            "LZNT1 stream",
            offset + at as u64,
            msg.to_owned(),
        )
    };
    let mut pos = 0usize;
    let mut produced = 0usize;
    while pos + 2 <= src.len() && produced < out.len() {
        let header = u16::from_le_bytes([src[pos], src[pos + 1]]);
        if header == 0 {
            break;
        }
        let stored = usize::from(header & 0x0FFF) + 1;
        let body_start = pos + 2;
        let body_end = body_start + stored;
        if body_end > src.len() {
            return Err(bad(pos, "chunk runs past the end of the compressed data"));
        }
        let body = &src[body_start..body_end];
        let room = (out.len() - produced).min(CHUNK_SIZE);
        let dest = &mut out[produced..produced + room];
        let n = if header & 0x8000 == 0 {
            let n = body.len().min(room);
            dest[..n].copy_from_slice(&body[..n]);
            n
        } else {
            chunk(body, dest).map_err(|msg| bad(body_start, msg))?
        };
        debug_assert!(n <= room);
        // A chunk that produces fewer than 4096 bytes leaves zeros up to the next chunk.
        produced += room;
        pos = body_end;
    }
    Ok(produced.min(out.len()))
}

/// Decompresses one compressed chunk body into `dest` (at most 4096 bytes).
fn chunk(body: &[u8], dest: &mut [u8]) -> std::result::Result<usize, &'static str> {
    let mut i = 0usize;
    let mut o = 0usize;
    while i < body.len() && o < dest.len() {
        let flags = body[i];
        i += 1;
        for bit in 0..8 {
            if i >= body.len() || o >= dest.len() {
                break;
            }
            if flags & (1 << bit) == 0 {
                dest[o] = body[i];
                o += 1;
                i += 1;
                continue;
            }
            if i + 2 > body.len() {
                return Err("copy token is cut short");
            }
            let token = u16::from_le_bytes([body[i], body[i + 1]]);
            i += 2;
            if o == 0 {
                return Err("copy token before any literal");
            }
            let length_bits = length_bits(o);
            let displacement = usize::from(token >> length_bits) + 1;
            let length = usize::from(token & ((1u16 << length_bits) - 1)) + 3;
            if displacement > o {
                return Err("copy token reaches before the start of the chunk");
            }
            for _ in 0..length {
                if o >= dest.len() {
                    break;
                }
                dest[o] = dest[o - displacement];
                o += 1;
            }
        }
    }
    Ok(o)
}

/// Bits of a copy token that hold the length, when `produced` bytes of the chunk exist.
fn length_bits(produced: usize) -> u32 {
    let mut bits = 12;
    let mut p = produced - 1;
    while p >= 0x10 {
        bits -= 1;
        p >>= 1;
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(stored_len: usize, compressed: bool) -> [u8; 2] {
        let h = (stored_len as u16 - 3) | 0x3000 | if compressed { 0x8000 } else { 0 };
        h.to_le_bytes()
    }

    #[test]
    fn length_bits_follow_the_position() {
        assert_eq!(length_bits(1), 12);
        assert_eq!(length_bits(16), 12);
        assert_eq!(length_bits(17), 11);
        assert_eq!(length_bits(32), 11);
        assert_eq!(length_bits(33), 10);
        assert_eq!(length_bits(4096), 4);
    }

    #[test]
    fn literals_and_a_repeat() {
        // "abc" then copy(displacement 3, length 9): "abcabcabcabc".
        let token: u16 = ((3 - 1) << 12) | (9 - 3);
        let mut body = vec![0b0000_1000, b'a', b'b', b'c'];
        body.extend(token.to_le_bytes());
        let mut src = header(body.len() + 2, true).to_vec();
        src.extend(&body);
        src.extend([0, 0]);
        let mut out = vec![0u8; 12];
        assert_eq!(decompress(&src, &mut out, 0).unwrap(), 12);
        assert_eq!(&out, b"abcabcabcabc");
    }

    #[test]
    fn run_of_one_byte_and_the_shifting_split() {
        // 20 literals "0123456789ABCDEFGHIJ", then at position 20 (5 displacement bits, 11
        // length bits): copy displacement 20 length 20 -> the 20 bytes again.
        let lit = b"0123456789ABCDEFGHIJ";
        let mut body = Vec::new();
        for group in lit.chunks(8) {
            body.push(0);
            body.extend(group);
        }
        // 20 literals used flag bytes for 8+8+4; the last flag byte has 4 free slots.
        let last_flag = body.len() - 5;
        body[last_flag] = 0b0001_0000;
        let token: u16 = ((20 - 1) << 11) | (20 - 3);
        body.extend(token.to_le_bytes());
        let mut src = header(body.len() + 2, true).to_vec();
        src.extend(&body);
        let mut out = vec![0u8; 40];
        assert_eq!(decompress(&src, &mut out, 0).unwrap(), 40);
        assert_eq!(&out[..20], lit);
        assert_eq!(&out[20..], lit);
    }

    #[test]
    fn uncompressed_chunk_then_compressed_chunk() {
        let mut src = header(CHUNK_SIZE + 2, false).to_vec();
        src.extend(std::iter::repeat_n(b'x', CHUNK_SIZE));
        // Displacement 1 (stored as 0): repeat the last byte; length 10.
        let token: u16 = 10 - 3;
        let body = [
            0b0000_0010,
            b'y',
            token.to_le_bytes()[0],
            token.to_le_bytes()[1],
        ];
        src.extend(header(body.len() + 2, true));
        src.extend(body);
        let mut out = vec![0u8; CHUNK_SIZE + 11];
        assert_eq!(decompress(&src, &mut out, 0).unwrap(), CHUNK_SIZE + 11);
        assert!(out[..CHUNK_SIZE].iter().all(|&b| b == b'x'));
        assert!(out[CHUNK_SIZE..].iter().all(|&b| b == b'y'));
    }

    #[test]
    fn hostile_tokens_are_errors() {
        // A copy token first.
        let body = [0b0000_0001, 0x00, 0x00];
        let mut src = header(body.len() + 2, true).to_vec();
        src.extend(body);
        assert!(decompress(&src, &mut [0u8; 64], 0).is_err());
        // Displacement beyond the output.
        let token: u16 = (9 - 1) << 12;
        let body = [
            0b0000_0010,
            b'a',
            token.to_le_bytes()[0],
            token.to_le_bytes()[1],
        ];
        let mut src = header(body.len() + 2, true).to_vec();
        src.extend(body);
        assert!(decompress(&src, &mut [0u8; 64], 0).is_err());
        // A chunk longer than the data.
        let src = header(100, true);
        assert!(decompress(&src, &mut [0u8; 64], 0).is_err());
    }
}
