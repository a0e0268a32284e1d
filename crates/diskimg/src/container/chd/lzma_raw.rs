//! Raw LZMA1 hunk compression as chdman writes it, through liblzma (the C xz library).
//!
//! CHD `lzma` hunks (and the sector part of `cdlz` hunks) are bare LZMA1 streams: no header,
//! no properties, no end marker; the reader derives the properties from the hunk size. MAME
//! (`chdcodec.cpp`, `chd_lzma_compressor::configure_properties`) asks the LZMA SDK for level 8
//! with the hunk size as the expected input size, which the SDK normalises to lc 3, lp 0,
//! pb 2, the normal (optimal parsing) mode, a BT4 binary-tree match finder, 64 fast bytes
//! and a match-finder depth of 48, and a dictionary shrunk to the smallest `2^n` or `3*2^n`
//! (at least 4 KiB) that holds the input. liblzma takes the same parameters; its
//! `LZMA_FILTER_LZMA1EXT` filter (xz 5.4 and later, bundled by `liblzma-sys`) writes the
//! stream without an end marker. The encoder state is kept and re-initialised per hunk, so
//! its buffers are allocated once.

use liblzma_sys as sys;

/// liblzma's filter ID for LZMA1 with the extended options (`lzma12.h`).
const LZMA_FILTER_LZMA1EXT: sys::lzma_vli = 0x4000_0000_0000_0002;
/// Literal context bits.
pub const LC: u32 = 3;
/// Literal position bits.
pub const LP: u32 = 0;
/// Position bits.
pub const PB: u32 = 2;
/// Fast bytes (the longest match the parser looks for first) at the SDK's level 8.
const NICE_LEN: u32 = 64;
/// Match-finder cycles at level 8 with a binary tree: `16 + NICE_LEN / 2`.
const DEPTH: u32 = 48;

/// The dictionary size the LZMA SDK picks for `input_bytes` of input (level 8: 64 MiB,
/// reduced to the first `2 << i` or `3 << i`, i from 11, that is not below the input).
pub fn dict_size(input_bytes: u32) -> u32 {
    let level8 = 1u32 << 26;
    if input_bytes >= level8 {
        return level8;
    }
    (11..=30)
        .flat_map(|i| [2u32 << i, 3u32 << i])
        .find(|&d| input_bytes <= d)
        .unwrap_or(level8)
}

/// A raw LZMA1 encoder for inputs of at most one size.
pub struct RawLzmaEncoder {
    stream: sys::lzma_stream,
    options: sys::lzma_options_lzma,
}

// SAFETY: the stream's internal state is owned by this value alone and liblzma keeps no
// thread-local state, so the encoder may move to another thread.
unsafe impl Send for RawLzmaEncoder {}

impl RawLzmaEncoder {
    /// An encoder for inputs of at most `max_input` bytes.
    pub fn new(max_input: u32) -> RawLzmaEncoder {
        // SAFETY: both are plain C structs for which all-zero is the documented initial value
        // (`LZMA_STREAM_INIT`; unused option fields must be zero).
        let (stream, mut options) = unsafe {
            (
                std::mem::zeroed::<sys::lzma_stream>(),
                std::mem::zeroed::<sys::lzma_options_lzma>(),
            )
        };
        options.dict_size = dict_size(max_input);
        options.lc = LC;
        options.lp = LP;
        options.pb = PB;
        options.mode = sys::LZMA_MODE_NORMAL;
        options.nice_len = NICE_LEN;
        options.mf = sys::LZMA_MF_BT4;
        options.depth = DEPTH;
        options.ext_flags = 0; // no end marker
        RawLzmaEncoder { stream, options }
    }

    /// Compresses `input` into `out`; `None` when the stream does not fit in `out` (or
    /// liblzma fails), so a caller gives only the room a useful result may take.
    pub fn compress(&mut self, input: &[u8], out: &mut [u8]) -> Option<usize> {
        let filters = [
            sys::lzma_filter {
                id: LZMA_FILTER_LZMA1EXT,
                options: (&raw mut self.options).cast(),
            },
            sys::lzma_filter {
                id: sys::LZMA_VLI_UNKNOWN,
                options: std::ptr::null_mut(),
            },
        ];
        // SAFETY: `filters` ends with LZMA_VLI_UNKNOWN and points at options that live
        // through the call; the stream is either zeroed or was initialised by liblzma, which
        // reuses its allocations when re-initialised with the same filter.
        if unsafe { sys::lzma_raw_encoder(&mut self.stream, filters.as_ptr()) } != sys::LZMA_OK {
            return None;
        }
        self.stream.next_in = input.as_ptr();
        self.stream.avail_in = input.len();
        self.stream.next_out = out.as_mut_ptr();
        self.stream.avail_out = out.len();
        let ret = loop {
            let before = (self.stream.avail_in, self.stream.avail_out);
            // SAFETY: next_in/next_out point into `input` and `out` with their lengths, both
            // borrowed for the whole call; liblzma writes only within avail_out.
            let ret = unsafe { sys::lzma_code(&mut self.stream, sys::LZMA_FINISH) };
            let stuck = before == (self.stream.avail_in, self.stream.avail_out);
            if ret != sys::LZMA_OK || self.stream.avail_out == 0 || stuck {
                break ret;
            }
        };
        let written = out.len() - self.stream.avail_out;
        // The stream keeps no pointer into the buffers past this call.
        self.stream.next_in = std::ptr::null();
        self.stream.avail_in = 0;
        self.stream.next_out = std::ptr::null_mut();
        self.stream.avail_out = 0;
        (ret == sys::LZMA_STREAM_END).then_some(written)
    }
}

impl Drop for RawLzmaEncoder {
    fn drop(&mut self) {
        // SAFETY: lzma_end accepts a zeroed or initialised stream and frees what it holds.
        unsafe { sys::lzma_end(&mut self.stream) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chd::codecs::{CodecImplementation, LzmaCodec};

    fn sample(len: usize) -> Vec<u8> {
        // Text-like data with repeats at several distances, and a run of zeros.
        let mut v: Vec<u8> = (0..len)
            .map(|i| b"CHD hunk of data, "[(i * 7 / 5) % 18] ^ ((i / 1000) as u8))
            .collect();
        let zeros = len / 2..(len / 2 + 300).min(len);
        v[zeros].fill(0);
        v
    }

    #[test]
    fn dictionary_sizes_as_the_sdk_reduces_them() {
        assert_eq!(dict_size(1), 4096);
        assert_eq!(dict_size(4096), 4096);
        assert_eq!(dict_size(4097), 6144);
        assert_eq!(dict_size(8 * 2352), 24576); // a CD hunk's sectors
        assert_eq!(dict_size(8 * 2448), 24576);
        assert_eq!(dict_size(4096 * 4), 16384);
        assert_eq!(dict_size(u32::MAX), 1 << 26);
    }

    #[test]
    fn round_trips_through_the_chd_crate_decoder() {
        for len in [19584usize, 18816, 4096, 2048, 1] {
            let input = sample(len);
            let mut enc = RawLzmaEncoder::new(len as u32);
            let mut out = vec![0u8; len + 64];
            let n = enc.compress(&input, &mut out).expect("fits");
            let mut dec = LzmaCodec::<3, 0, 2>::new(len as u32).unwrap();
            let mut back = vec![0u8; len];
            let r = dec.decompress(&out[..n], &mut back).unwrap();
            assert_eq!(back, input, "{len} bytes");
            // The whole stream is consumed: no end marker follows the data.
            assert_eq!(r.total_in(), n, "{len} bytes");
            // The encoder is reused.
            let m = enc.compress(&input, &mut out).expect("fits again");
            assert_eq!(m, n);
        }
    }

    #[test]
    fn too_small_output_is_none() {
        let input = sample(19584);
        let mut enc = RawLzmaEncoder::new(19584);
        let mut out = vec![0u8; 10];
        assert_eq!(enc.compress(&input, &mut out), None);
        // and the encoder still works afterwards
        let mut out = vec![0u8; 20000];
        assert!(enc.compress(&input, &mut out).is_some());
    }
}
