//! Decompression of squashfs blocks, every codec mksquashfs writes, each bounded by the block
//! size so that a hostile block cannot grow past it.

use super::FORMAT;
use crate::error::{Error, Result};
use std::io::Read;

/// Memory an xz or lzma decoder may use (its dictionary); squashfs dictionaries are at most
/// the block size (1 MiB), so this is generous.
const XZ_MEMLIMIT: u64 = 64 * 1024 * 1024;

/// The compressor of a squashfs volume (`compression_id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Gzip,
    Lzma,
    Lzo,
    Xz,
    Lz4,
    Zstd,
}

impl Codec {
    pub fn from_id(id: u16) -> Option<Self> {
        Some(match id {
            1 => Codec::Gzip,
            2 => Codec::Lzma,
            3 => Codec::Lzo,
            4 => Codec::Xz,
            5 => Codec::Lz4,
            6 => Codec::Zstd,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Codec::Gzip => "gzip",
            Codec::Lzma => "lzma",
            Codec::Lzo => "lzo",
            Codec::Xz => "xz",
            Codec::Lz4 => "lz4",
            Codec::Zstd => "zstd",
        }
    }

    /// Decompresses `src` (one block stored at `at`), which must expand to at most `max` bytes.
    pub fn decompress(self, src: &[u8], max: usize, at: u64) -> Result<Vec<u8>> {
        let bad = |msg: String| {
            Error::corrupt(
                FORMAT,
                "compressed block",
                at,
                format!("{} data: {msg}", self.name()),
            )
        };
        let too_big = || bad(format!("expands past {max} bytes"));
        let out = match self {
            Codec::Gzip => {
                let mut out = Vec::with_capacity(max);
                let mut z = flate2::Decompress::new(true);
                match z.decompress_vec(src, &mut out, flate2::FlushDecompress::Finish) {
                    Ok(flate2::Status::StreamEnd) => out,
                    Ok(_) => return Err(too_big()),
                    Err(e) => return Err(bad(e.to_string())),
                }
            }
            Codec::Xz | Codec::Lzma => {
                let stream = if self == Codec::Xz {
                    liblzma::stream::Stream::new_stream_decoder(XZ_MEMLIMIT, 0)
                } else {
                    liblzma::stream::Stream::new_lzma_decoder(XZ_MEMLIMIT)
                }
                .map_err(|e| bad(e.to_string()))?;
                let mut out = Vec::with_capacity(max.min(1 << 20));
                liblzma::read::XzDecoder::new_stream(src, stream)
                    .take(max as u64 + 1)
                    .read_to_end(&mut out)
                    .map_err(|e| bad(e.to_string()))?;
                out
            }
            Codec::Lzo => super::lzo::decompress(src, max).map_err(|e| bad(e.to_owned()))?,
            Codec::Lz4 => {
                let mut out = vec![0u8; max];
                let n = lz4_flex::block::decompress_into(src, &mut out)
                    .map_err(|e| bad(e.to_string()))?;
                out.truncate(n);
                out
            }
            Codec::Zstd => {
                let mut d = zstd::bulk::Decompressor::new().map_err(|e| bad(e.to_string()))?;
                let mut out = Vec::with_capacity(max);
                d.decompress_to_buffer(src, &mut out)
                    .map_err(|e| bad(e.to_string()))?;
                out
            }
        };
        if out.len() > max {
            return Err(too_big());
        }
        Ok(out)
    }
}
