//! Hunk compression for the writer: every codec of the image is tried on a hunk and the
//! smallest result kept (the first one on a tie), as chdman does; a hunk no codec shrinks is
//! stored as is.
//!
//! The codecs that decide speed are diskimg's own drivers of C libraries, writing the
//! streams MAME's codecs (`chdcodec.cpp`) write: `lzma` is a raw LZMA1 stream from liblzma
//! with the LZMA SDK's level-8 parameters ([`super::lzma_raw`]); `zlib` is a raw deflate
//! stream from libdeflate at [`DEFLATE_LEVEL`]; `cdlz` and `cdzl` are MAME's CD wrapper
//! around them: one ECC bit per frame (set when the sector starts with the sync pattern and
//! its P and Q parity hold, and then the sync and parity are zeroed), the length of the
//! compressed sector part (2 bytes, 3 for hunks of 64 KiB and more), the frames' 2352-byte
//! sectors compressed with LZMA (`cdlz`) or deflate (`cdzl`), then their 96-byte subcodes
//! deflated. A CD hunk is split and its subcode deflated once for both. The other codecs
//! (`huff`, `flac`, `zstd`, `cdfl`, `cdzs`) are the `chd` crate's encoders. Each codec gets
//! only the room for a result smaller than the best so far, so a losing attempt stops early.

use super::cd::{FRAME, SECTOR};
use super::codec::make_codec;
use super::lzma_raw::RawLzmaEncoder;
use crate::error::Result;
use crate::optical::sector::{self, RAW, SYNC};
use chd::codecs::CompressionCodec;
use chd::header::CodecType;
use libdeflater::{CompressionLvl, Compressor};

/// libdeflate's level for the deflate streams. On the benchmark CD image, `cdzl` alone at
/// this level gives 3 % less than chdman's zlib at level 9, in a third of the time (levels
/// 5 to 12 all give less; 12 another 1.5 % less at six times the time).
pub const DEFLATE_LEVEL: i32 = 9;
/// Subcode bytes per frame.
const SUBCODE: usize = FRAME - SECTOR;

/// One codec slot's encoder.
enum Slot {
    Lzma,
    Zlib,
    CdLzma,
    CdZlib,
    Crate(Box<dyn CompressionCodec>),
}

/// A CD hunk split as the CD codecs compress it.
struct CdSplit {
    /// ECC flag bytes, then room for the length of the sector stream.
    header: Vec<u8>,
    /// The frames' sectors (sync and parity zeroed where the flag is set), then their
    /// subcodes.
    data: Vec<u8>,
    /// The deflated subcodes, `None` when they do not shrink.
    subcode: Option<Vec<u8>>,
}

/// Compresses hunks of one size with one image's codecs (one per thread).
pub struct HunkEncoder {
    hunk_bytes: usize,
    slots: Vec<Slot>,
    lzma: Option<RawLzmaEncoder>,
    deflate: Compressor,
    best: Vec<u8>,
    scratch: Vec<u8>,
    split: Option<CdSplit>,
}

impl HunkEncoder {
    /// An encoder for `codecs` (header slot order) and hunks of `hunk_bytes`.
    pub fn new(codecs: &[CodecType], hunk_bytes: u32) -> Result<HunkEncoder> {
        let hunk = hunk_bytes as usize;
        let frames = hunk / FRAME;
        let mut lzma_input = None;
        let slots = codecs
            .iter()
            .map(|&c| {
                Ok(match c {
                    CodecType::LzmaV5 => {
                        lzma_input = Some(hunk_bytes);
                        Slot::Lzma
                    }
                    CodecType::ZLibV5 => Slot::Zlib,
                    CodecType::LzmaCdV5 | CodecType::ZLibCdV5 => {
                        // Checks the hunk size for the CD layout, as the crate's codec does.
                        make_codec(c as u32, hunk_bytes)?;
                        if c == CodecType::LzmaCdV5 {
                            lzma_input = Some((frames * SECTOR) as u32);
                            Slot::CdLzma
                        } else {
                            Slot::CdZlib
                        }
                    }
                    other => Slot::Crate(make_codec(other as u32, hunk_bytes)?),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(HunkEncoder {
            hunk_bytes: hunk,
            slots,
            lzma: lzma_input.map(RawLzmaEncoder::new),
            deflate: Compressor::new(
                CompressionLvl::new(DEFLATE_LEVEL).unwrap_or(CompressionLvl::best()),
            ),
            best: vec![0; hunk],
            scratch: vec![0; hunk],
            split: None,
        })
    }

    /// The smallest encoding of `hunk` (exactly one hunk): the codec slot and its bytes, or
    /// `None` to store the hunk as is.
    pub fn compress(&mut self, hunk: &[u8]) -> Option<(u8, Vec<u8>)> {
        debug_assert_eq!(hunk.len(), self.hunk_bytes);
        self.split = None;
        let mut best: Option<(u8, usize)> = None;
        for slot in 0..self.slots.len() {
            let limit = best.map_or(hunk.len(), |b| b.1).saturating_sub(1);
            if let Some(len) = self.try_slot(slot, hunk, limit) {
                best = Some((slot as u8, len));
                std::mem::swap(&mut self.best, &mut self.scratch);
            }
        }
        best.map(|(slot, len)| (slot, self.best[..len].to_vec()))
    }

    /// Compresses `hunk` with slot `slot` into `scratch`, in at most `limit` bytes.
    fn try_slot(&mut self, slot: usize, hunk: &[u8], limit: usize) -> Option<usize> {
        let out = &mut self.scratch[..limit];
        match &mut self.slots[slot] {
            Slot::Lzma => self.lzma.as_mut()?.compress(hunk, out),
            Slot::Zlib => self.deflate.deflate_compress(hunk, out).ok(),
            Slot::Crate(codec) => codec.compress(hunk, out).ok(),
            Slot::CdLzma => self.cd(hunk, limit, true),
            Slot::CdZlib => self.cd(hunk, limit, false),
        }
    }

    /// A CD codec: the wrapper header, the sectors by LZMA (`lzma`) or deflate, the
    /// deflated subcodes; in at most `limit` bytes of `scratch`.
    fn cd(&mut self, hunk: &[u8], limit: usize, lzma: bool) -> Option<usize> {
        if self.split.is_none() {
            self.split = Some(split_cd(hunk, &mut self.deflate));
        }
        let split = self.split.as_ref()?;
        let subcode = split.subcode.as_ref()?;
        let frames = hunk.len() / FRAME;
        let sectors = &split.data[..frames * SECTOR];
        let head = split.header.len();
        let len_bytes = if hunk.len() < 65536 { 2 } else { 3 };
        // The sector stream must be smaller than the sectors and leave room for the rest.
        let room = limit
            .checked_sub(head + subcode.len())?
            .min(sectors.len() - 1);
        let out = &mut self.scratch[..limit];
        let body = &mut out[head..head + room];
        let n = if lzma {
            self.lzma.as_mut()?.compress(sectors, body)?
        } else {
            self.deflate.deflate_compress(sectors, body).ok()?
        };
        out[..head].copy_from_slice(&split.header);
        let len = (n as u32).to_be_bytes();
        out[head - len_bytes..head].copy_from_slice(&len[4 - len_bytes..]);
        out[head + n..head + n + subcode.len()].copy_from_slice(subcode);
        Some(head + n + subcode.len())
    }
}

/// Splits a CD hunk into sectors and subcodes, strips what the reader regenerates (MAME
/// `chd_cd_compressor::compress`), and deflates the subcodes.
fn split_cd(hunk: &[u8], deflate: &mut Compressor) -> CdSplit {
    let frames = hunk.len() / FRAME;
    let len_bytes = if hunk.len() < 65536 { 2 } else { 3 };
    let mut header = vec![0u8; frames.div_ceil(8) + len_bytes];
    let mut data = vec![0u8; frames * FRAME];
    let (sectors, subcodes) = data.split_at_mut(frames * SECTOR);
    for (i, frame) in hunk.chunks_exact(FRAME).enumerate() {
        let sec = &mut sectors[i * SECTOR..(i + 1) * SECTOR];
        sec.copy_from_slice(&frame[..SECTOR]);
        subcodes[i * SUBCODE..(i + 1) * SUBCODE].copy_from_slice(&frame[SECTOR..]);
        let raw: &mut [u8; RAW] = match sec.try_into() {
            Ok(r) => r,
            Err(_) => continue,
        };
        if raw[..12] == SYNC && sector::ecc_matches(raw) {
            header[i / 8] |= 1 << (i % 8);
            raw[..12].fill(0);
            raw[sector::ECC_START..].fill(0);
        }
    }
    // MAME's subcode compressor fails (and so the CD codec) unless the subcodes shrink.
    let mut sub = vec![0u8; subcodes.len().saturating_sub(1)];
    let subcode = deflate.deflate_compress(subcodes, &mut sub).ok().map(|n| {
        sub.truncate(n);
        sub
    });
    CdSplit {
        header,
        data,
        subcode,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optical::sector::{SectorKind, encode};

    fn cd_hunk(mode1_raw: bool) -> Vec<u8> {
        let mut hunk = vec![0u8; 8 * FRAME];
        for (i, frame) in hunk.chunks_exact_mut(FRAME).enumerate() {
            let data: Vec<u8> = (0..2048).map(|j| ((j * 31 + i * 7) % 251) as u8).collect();
            if mode1_raw {
                let mut raw = [0u8; RAW];
                encode(&mut raw, 150 + i as i64, SectorKind::Mode1, &data, None);
                frame[..RAW].copy_from_slice(&raw);
            } else {
                frame[..2048].copy_from_slice(&data);
            }
        }
        hunk
    }

    /// Every codec's result decodes, through the `chd` crate, to the hunk.
    #[test]
    fn results_decode_with_the_crate() {
        let cases: [(&[CodecType], bool); 3] = [
            (&[CodecType::LzmaCdV5, CodecType::ZLibCdV5], true),
            (&[CodecType::LzmaCdV5, CodecType::ZLibCdV5], false),
            (&[CodecType::ZLibCdV5, CodecType::LzmaCdV5], false),
        ];
        for (codecs, raw) in cases {
            let hunk = cd_hunk(raw);
            let mut enc = HunkEncoder::new(codecs, hunk.len() as u32).unwrap();
            every_slot_round_trips(&mut enc, codecs, &hunk);
            if raw {
                // All eight sectors had their sync and parity stripped.
                assert_eq!(enc.split.as_ref().unwrap().header[0], 0xFF);
            }
            let (slot, data) = enc.compress(&hunk).expect("compressible");
            let mut dec = make_codec(codecs[slot as usize] as u32, hunk.len() as u32).unwrap();
            let mut back = vec![0u8; hunk.len()];
            dec.decompress(&data, &mut back).unwrap();
            assert_eq!(back, hunk);
        }
        let hunk: Vec<u8> = (0..4096 * 4)
            .map(|i| (i % 97) as u8 ^ (i / 300) as u8)
            .collect();
        let codecs = [CodecType::LzmaV5, CodecType::ZLibV5, CodecType::HuffV5];
        let mut enc = HunkEncoder::new(&codecs, hunk.len() as u32).unwrap();
        every_slot_round_trips(&mut enc, &codecs, &hunk);
    }

    /// Each codec slot of `enc` compresses `hunk` into what the crate decodes back.
    fn every_slot_round_trips(enc: &mut HunkEncoder, codecs: &[CodecType], hunk: &[u8]) {
        for (slot, codec) in codecs.iter().enumerate() {
            let n = enc
                .try_slot(slot, hunk, hunk.len() - 1)
                .expect("compresses");
            let mut dec = make_codec(*codec as u32, hunk.len() as u32).unwrap();
            let mut back = vec![0u8; hunk.len()];
            dec.decompress(&enc.scratch[..n], &mut back).unwrap();
            assert_eq!(back, hunk, "{codec:?}");
        }
    }

    #[test]
    fn incompressible_hunks_are_stored() {
        let mut x = 0x1234_5678_u32;
        let hunk: Vec<u8> = (0..8 * FRAME)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let mut enc = HunkEncoder::new(
            &[CodecType::LzmaCdV5, CodecType::ZLibCdV5],
            hunk.len() as u32,
        )
        .unwrap();
        assert!(enc.compress(&hunk).is_none());
    }
}
