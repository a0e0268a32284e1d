//! Apple Data Compression (ADC), the codec of UDCO images (chunk type 0x80000004).
//!
//! ADC is a byte-oriented LZ77 variant. Each item starts with a byte `b`:
//!
//! ```text
//! 1xxxxxxx                     literal: the next (x + 1) bytes (1-128)
//! 01llllll oooooooo oooooooo   copy (l + 4) bytes (4-67) from distance (o + 1) (1-65536)
//! 00llllOO oooooooo            copy (l + 3) bytes (3-18) from distance (O:o + 1) (1-1024)
//! ```
//!
//! Copies may overlap their own output (a distance of 1 repeats a byte). The decoder writes
//! into a buffer of the chunk's size and never past it; a copy from before the start of the
//! output, a truncated item, or output longer than the buffer is corrupt data.

/// Why a stream could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdcError {
    /// The stream ends inside an item.
    Truncated,
    /// A copy reaches before the start of the output.
    BadDistance,
    /// The output would be larger than the buffer.
    TooLong,
}

impl std::fmt::Display for AdcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AdcError::Truncated => "the ADC stream ends inside an item",
            AdcError::BadDistance => "an ADC copy reaches before the start of the output",
            AdcError::TooLong => "the ADC stream expands past the chunk",
        })
    }
}

/// Decodes `src` into `out`, returning the bytes written.
pub fn decompress(src: &[u8], out: &mut [u8]) -> Result<usize, AdcError> {
    let mut i = 0usize;
    let mut o = 0usize;
    while i < src.len() {
        let b = src[i];
        if b & 0x80 != 0 {
            let n = usize::from(b & 0x7f) + 1;
            let lit = src.get(i + 1..i + 1 + n).ok_or(AdcError::Truncated)?;
            out.get_mut(o..o + n)
                .ok_or(AdcError::TooLong)?
                .copy_from_slice(lit);
            i += 1 + n;
            o += n;
            continue;
        }
        let (len, dist, used) = if b & 0x40 != 0 {
            let hi = *src.get(i + 1).ok_or(AdcError::Truncated)?;
            let lo = *src.get(i + 2).ok_or(AdcError::Truncated)?;
            (
                usize::from(b & 0x3f) + 4,
                usize::from(u16::from_be_bytes([hi, lo])) + 1,
                3,
            )
        } else {
            let lo = *src.get(i + 1).ok_or(AdcError::Truncated)?;
            (
                usize::from((b >> 2) & 0x0f) + 3,
                (usize::from(b & 0x03) << 8 | usize::from(lo)) + 1,
                2,
            )
        };
        if dist > o {
            return Err(AdcError::BadDistance);
        }
        if o + len > out.len() {
            return Err(AdcError::TooLong);
        }
        if dist >= len {
            out.copy_within(o - dist..o - dist + len, o);
        } else {
            for k in 0..len {
                out[o + k] = out[o + k - dist];
            }
        }
        i += used;
        o += len;
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(src: &[u8], cap: usize) -> Result<Vec<u8>, AdcError> {
        let mut out = vec![0u8; cap];
        let n = decompress(src, &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    #[test]
    fn known_answers_from_the_item_layout() {
        // A literal of four bytes.
        assert_eq!(dec(&[0x83, b'a', b'b', b'c', b'd'], 16).unwrap(), b"abcd");
        // A literal, then a short copy of 4 bytes at distance 1 (l = 1, O:o = 0).
        assert_eq!(dec(&[0x80, b'x', 0x04, 0x00], 16).unwrap(), b"xxxxx");
        // "abc" then a short copy of 3 at distance 3 (l = 0, o = 2): "abcabc".
        assert_eq!(
            dec(&[0x82, b'a', b'b', b'c', 0x00, 0x02], 16).unwrap(),
            b"abcabc"
        );
        // A long copy: 67 bytes (l = 63) at distance 2 (o = 1) after "ab".
        let out = dec(&[0x81, b'a', b'b', 0x7f, 0x00, 0x01], 128).unwrap();
        assert_eq!(out.len(), 69);
        assert!(
            out.chunks(2)
                .all(|c| c[0] == b'a' && c.get(1).is_none_or(|&x| x == b'b'))
        );
        // The largest short distance (1024) and long distance (65536) are reachable.
        let mut src = Vec::new();
        let mut expect = Vec::new();
        for k in 0..1024usize {
            let byte = (k % 251) as u8;
            src.extend_from_slice(&[0x80, byte]);
            expect.push(byte);
        }
        src.extend_from_slice(&[0x03, 0xff]); // l = 0, distance 0x3ff + 1 = 1024
        expect.extend_from_within(..3);
        assert_eq!(dec(&src, 2048).unwrap(), expect);
    }

    #[test]
    fn hostile_streams_are_errors() {
        assert_eq!(dec(&[0x85, 1, 2], 16), Err(AdcError::Truncated));
        assert_eq!(dec(&[0x40, 0], 16), Err(AdcError::Truncated));
        assert_eq!(dec(&[0x04], 16), Err(AdcError::Truncated));
        assert_eq!(dec(&[0x04, 0x00], 16), Err(AdcError::BadDistance));
        assert_eq!(dec(&[0x80, 1, 0x7f, 0, 0], 16), Err(AdcError::TooLong));
        assert_eq!(dec(&[0x83, 1, 2, 3, 4], 3), Err(AdcError::TooLong));
        assert_eq!(dec(&[], 3).unwrap(), b"");
    }
}
