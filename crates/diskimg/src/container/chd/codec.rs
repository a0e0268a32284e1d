//! Hunk codecs: the `chd` crate's implementations of the MAME codecs (zlib, lzma, huff, flac,
//! zstd, the CD wrappers cdzl/cdlz/cdfl/cdzs, and the version 3/4 zlib codecs), made per thread
//! from the header's codec tags. Every decompression writes into a buffer of exactly one hunk,
//! so a hunk can never expand past its size. The CD wrappers' own header (ECC flags and the
//! length of the sector part) is checked here first, since the crate indexes with it
//! unchecked. A/V Huffman (`avhu`, LaserDisc) is refused: its decoder trusts its header's
//! channel counts and sizes.

use super::FORMAT;
use crate::error::{Error, Result};
use chd::codecs::{
    CdFlacCodec, CdLzmaCodec, CdZlibCodec, CdZstdCodec, CodecImplementation, CompressionCodec,
    HuffmanCodec, LzmaCodec, RawFlacCodec, ZlibCodec, ZstdCodec,
};
use chd::header::CodecType;
use std::sync::Mutex;

/// The codec for a header tag (version 5 four-character tags, or legacy numbers 1-3).
pub fn make_codec(tag: u32, hunk_bytes: u32) -> Result<Box<dyn CompressionCodec>> {
    fn boxed<C: CompressionCodec + CodecImplementation + 'static>(
        hunk: u32,
    ) -> chd::Result<Box<dyn CompressionCodec>> {
        C::new(hunk).map(|c| Box::new(c) as Box<dyn CompressionCodec>)
    }
    let codec = num_codec(tag).ok_or_else(|| {
        Error::unsupported(FORMAT, format!("codec {}", super::header::codec_name(tag)))
    })?;
    let made = match codec {
        CodecType::Zlib | CodecType::ZlibPlus | CodecType::ZLibV5 => boxed::<ZlibCodec>(hunk_bytes),
        CodecType::ZLibCdV5 => boxed::<CdZlibCodec>(hunk_bytes),
        CodecType::LzmaCdV5 => boxed::<CdLzmaCodec>(hunk_bytes),
        CodecType::FlacCdV5 => boxed::<CdFlacCodec>(hunk_bytes),
        CodecType::LzmaV5 => boxed::<LzmaCodec>(hunk_bytes),
        CodecType::FlacV5 => boxed::<RawFlacCodec>(hunk_bytes),
        CodecType::HuffV5 => boxed::<HuffmanCodec>(hunk_bytes),
        CodecType::AV | CodecType::AVHuffV5 => {
            return Err(Error::unsupported(
                FORMAT,
                "A/V Huffman (LaserDisc) hunks are not read",
            ));
        }
        CodecType::ZstdV5 => boxed::<ZstdCodec>(hunk_bytes),
        CodecType::ZstdCdV5 => boxed::<CdZstdCodec>(hunk_bytes),
        CodecType::None => {
            return Err(Error::corrupt(
                FORMAT,
                "header",
                16,
                "codec slot names no codec",
            ));
        }
    };
    made.map_err(|e| {
        Error::unsupported(
            FORMAT,
            format!(
                "codec {} with {hunk_bytes}-byte hunks: {e}",
                super::header::codec_name(tag)
            ),
        )
    })
}

/// The codec type of a tag.
pub fn num_codec(tag: u32) -> Option<CodecType> {
    use CodecType::*;
    [
        Zlib, ZlibPlus, AV, ZLibV5, ZLibCdV5, LzmaCdV5, FlacCdV5, FlacV5, LzmaV5, AVHuffV5, HuffV5,
        ZstdV5, ZstdCdV5,
    ]
    .into_iter()
    .find(|c| *c as u32 == tag)
}

/// One thread's codecs, by slot, with their tags.
pub struct CodecSet(Vec<(u32, Box<dyn CompressionCodec>)>);

/// Checks a CD-wrapped hunk's header (MAME `chd_cd_decompressor`): one ECC bit per frame,
/// then the big-endian length (2 bytes, 3 for hunks of 64 KiB and more) of the sector data's
/// compressed stream, which must lie inside the input.
fn check_cd_header(input: &[u8], out_len: usize) -> Result<()> {
    let frames = out_len / super::cd::FRAME;
    let len_bytes = if out_len < 65536 { 2 } else { 3 };
    let ecc = frames.div_ceil(8);
    let header = ecc + len_bytes;
    let fits = input.get(ecc..header).is_some_and(|b| {
        let len = b.iter().fold(0usize, |a, &x| (a << 8) | usize::from(x));
        header + len <= input.len()
    });
    if fits {
        Ok(())
    } else {
        Err(Error::corrupt(
            FORMAT,
            "hunk",
            0,
            "CD hunk header gives a sector stream longer than the hunk's data",
        ))
    }
}

impl CodecSet {
    /// Decompresses `input` with slot `slot` into `out` (one hunk).
    pub fn decompress(&mut self, slot: u8, input: &[u8], out: &mut [u8]) -> Result<()> {
        let (tag, codec) = self
            .0
            .get_mut(slot as usize)
            .ok_or_else(|| Error::corrupt(FORMAT, "hunk map", 0, "codec slot out of range"))?;
        if input.is_empty() {
            return Err(Error::corrupt(FORMAT, "hunk", 0, "empty compressed hunk"));
        }
        if matches!(
            num_codec(*tag),
            Some(CodecType::ZLibCdV5 | CodecType::LzmaCdV5 | CodecType::ZstdCdV5)
        ) {
            check_cd_header(input, out.len())?;
        }
        let r = codec
            .decompress(input, out)
            .map_err(|e| Error::corrupt(FORMAT, "hunk", 0, format!("cannot decompress: {e}")))?;
        if r.total_out() != out.len() {
            return Err(Error::corrupt(
                FORMAT,
                "hunk",
                0,
                format!("decompressed to {} bytes, not {}", r.total_out(), out.len()),
            ));
        }
        Ok(())
    }
}

/// Codec sets shared by reading threads: one is taken for a decompression and given back.
pub struct CodecPool {
    tags: Vec<u32>,
    hunk_bytes: u32,
    free: Mutex<Vec<CodecSet>>,
}

impl CodecPool {
    /// A pool for the codecs `tags`; one set is made now, so unknown codecs fail at open.
    pub fn new(tags: Vec<u32>, hunk_bytes: u32) -> Result<CodecPool> {
        let pool = CodecPool {
            tags,
            hunk_bytes,
            free: Mutex::new(Vec::new()),
        };
        let first = pool.make()?;
        pool.put(first);
        Ok(pool)
    }

    fn make(&self) -> Result<CodecSet> {
        self.tags
            .iter()
            .map(|&t| make_codec(t, self.hunk_bytes).map(|c| (t, c)))
            .collect::<Result<Vec<_>>>()
            .map(CodecSet)
    }

    /// A codec set, reused when one is free.
    pub fn take(&self) -> Result<CodecSet> {
        let free = self.free.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match free {
            Some(s) => Ok(s),
            None => self.make(),
        }
    }

    /// Gives a set back (at most a few are kept).
    pub fn put(&self, set: CodecSet) {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        if free.len() < 16 {
            free.push(set);
        }
    }
}

/// CRC-16/CCITT (polynomial 0x1021, initial 0xFFFF, not reflected; the catalogue's
/// CRC-16/IBM-3740), as CHD version 5 checks each hunk and the map: the `crc` crate, sixteen
/// bytes a step.
pub fn crc16(data: &[u8]) -> u16 {
    const CRC16: crc::Crc<u16, crc::Table<16>> =
        crc::Crc::<u16, crc::Table<16>>::new(&crc::CRC_16_IBM_3740);
    CRC16.checksum(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_check_value() {
        assert_eq!(crc16(b"123456789"), 0x29B1);
    }

    #[test]
    fn cd_header_lengths() {
        // 8 frames: 1 ECC byte, 2 length bytes, then the sector stream.
        let out = 8 * super::super::cd::FRAME;
        assert!(check_cd_header(&[0, 0, 3, 1, 2, 3], out).is_ok());
        assert!(check_cd_header(&[0, 0, 4, 1, 2, 3], out).is_err());
        assert!(check_cd_header(&[0, 0], out).is_err());
    }

    #[test]
    fn unknown_codec_is_unsupported() {
        let e = make_codec(u32::from_be_bytes(*b"abcd"), 4096)
            .err()
            .unwrap();
        assert_eq!(e.kind(), crate::ErrorKind::Unsupported);
    }
}
