//! LZO1X decompression, bounded: the stream format as the Linux kernel documents it
//! (`Documentation/staging/lzo.rst`, version 0, which squashfs-tools writes through liblzo).
//!
//! Our own decoder because the pure-Rust `lzokay-native` crate panics on hostile input (an
//! arithmetic overflow found by fuzzing) and cannot bound its output. Every length and distance
//! here is checked against the input left, the output so far and the output limit.

/// Why a stream cannot be decoded.
pub(crate) type LzoError = &'static str;

struct Input<'a> {
    b: &'a [u8],
    i: usize,
}

impl Input<'_> {
    fn byte(&mut self) -> Result<u8, LzoError> {
        let v = *self
            .b
            .get(self.i)
            .ok_or("input ends inside an instruction")?;
        self.i += 1;
        Ok(v)
    }

    fn le16(&mut self) -> Result<usize, LzoError> {
        Ok(usize::from(self.byte()?) | usize::from(self.byte()?) << 8)
    }

    /// A length whose `bits`-bit field was zero: `mask` + 255 per zero byte + the first
    /// non-zero byte.
    fn extended(&mut self, mask: usize) -> Result<usize, LzoError> {
        let mut len = mask;
        loop {
            match self.byte()? {
                0 => len += 255,
                b => return Ok(len + usize::from(b)),
            }
        }
    }

    fn literals(&mut self, out: &mut Vec<u8>, n: usize, max: usize) -> Result<(), LzoError> {
        let src = self
            .b
            .get(self.i..self.i + n)
            .ok_or("literals run past the input")?;
        if out.len() + n > max {
            return Err("output exceeds its limit");
        }
        out.extend_from_slice(src);
        self.i += n;
        Ok(())
    }
}

fn copy_match(out: &mut Vec<u8>, dist: usize, len: usize, max: usize) -> Result<(), LzoError> {
    if dist == 0 || dist > out.len() {
        return Err("a match reaches before the start of the output");
    }
    if out.len() + len > max {
        return Err("output exceeds its limit");
    }
    let start = out.len() - dist;
    for k in 0..len {
        let b = out[start + k];
        out.push(b);
    }
    Ok(())
}

/// Decompresses one LZO1X stream into at most `max` bytes.
pub(crate) fn decompress(src: &[u8], max: usize) -> Result<Vec<u8>, LzoError> {
    let mut out = Vec::with_capacity(max.min(1 << 20));
    let mut inp = Input { b: src, i: 0 };
    // Literals copied by the previous instruction: 0, 1-3, or 4 for "four or more".
    let mut state = 0usize;
    match src.first() {
        Some(&b) if b >= 22 => {
            inp.i = 1;
            inp.literals(&mut out, usize::from(b) - 17, max)?;
            state = 4;
        }
        Some(&b) if b >= 18 => {
            inp.i = 1;
            state = usize::from(b) - 17;
            inp.literals(&mut out, state, max)?;
        }
        Some(_) => {}
        None => return Err("empty input"),
    }
    loop {
        let inst = usize::from(inp.byte()?);
        let (dist, len, next) = if inst < 16 {
            match state {
                0 => {
                    let len = match inst & 15 {
                        0 => inp.extended(15)?,
                        l => l,
                    } + 3;
                    inp.literals(&mut out, len, max)?;
                    state = 4;
                    continue;
                }
                1..=3 => {
                    let h = usize::from(inp.byte()?);
                    ((h << 2) + ((inst >> 2) & 3) + 1, 2, inst & 3)
                }
                _ => {
                    let h = usize::from(inp.byte()?);
                    ((h << 2) + ((inst >> 2) & 3) + 2049, 3, inst & 3)
                }
            }
        } else if inst < 32 {
            let len = match inst & 7 {
                0 => inp.extended(7)?,
                l => l,
            } + 2;
            let d = inp.le16()?;
            let dist = 16384 + ((inst & 8) << 11) + (d >> 2);
            if dist == 16384 {
                return Ok(out);
            }
            (dist, len, d & 3)
        } else if inst < 64 {
            let len = match inst & 31 {
                0 => inp.extended(31)?,
                l => l,
            } + 2;
            let d = inp.le16()?;
            ((d >> 2) + 1, len, d & 3)
        } else {
            let h = usize::from(inp.byte()?);
            let len = if inst < 128 {
                3 + ((inst >> 5) & 1)
            } else {
                5 + ((inst >> 5) & 3)
            };
            ((h << 3) + ((inst >> 2) & 7) + 1, len, inst & 3)
        };
        copy_match(&mut out, dist, len, max)?;
        inp.literals(&mut out, next, max)?;
        state = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(seed: u32, n: usize) -> Vec<u8> {
        let mut x = seed;
        (0..n)
            .map(|i| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                // Runs, repeats and noise, so every kind of instruction appears.
                match (i / 700) % 3 {
                    0 => (x >> 24) as u8,
                    1 => b"squashfs lzo "[i % 13],
                    _ => 0,
                }
            })
            .collect()
    }

    #[test]
    fn round_trips_what_an_independent_compressor_writes() {
        for (seed, n) in [(2, 1usize), (3, 5), (4, 300), (5, 70_000), (6, 131_072)] {
            let data = sample(seed, n);
            let packed = lzokay_native::compress(&data).unwrap();
            assert_eq!(decompress(&packed, n.max(1)).unwrap(), data, "{n} bytes");
        }
    }

    #[test]
    fn refuses_hostile_streams() {
        let data = sample(9, 50_000);
        let packed = lzokay_native::compress(&data).unwrap();
        assert!(decompress(&packed, 10_000).is_err(), "over the limit");
        assert!(
            decompress(&packed[..packed.len() / 2], 50_000).is_err(),
            "cut short"
        );
        // A match at distance 2049 with no output yet.
        assert!(decompress(&[22, 1, 2, 3, 4, 5, 0x00, 0x00], 100).is_err());
        assert!(decompress(&[], 100).is_err());
        // Long zero runs cannot outgrow the input.
        let mut zeros = vec![0u8; 10_000];
        zeros[0] = 0x20;
        assert!(decompress(&zeros, 1 << 20).is_err());
    }
}
