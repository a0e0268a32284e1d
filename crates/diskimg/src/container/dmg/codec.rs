//! Chunk codecs: decompressing every compressed chunk type, and compressing for the writer.
//!
//! A chunk always decompresses to exactly its sectors: each decoder writes into a buffer of
//! that size and is refused more (so a hostile chunk cannot grow past it) and less (a short
//! chunk is corrupt). zlib through `flate2`, bzip2 through `bzip2` (the pure-Rust libbz2), LZFSE
//! through `lzfse_rust`, LZMA (an xz stream, as hdiutil writes ULMO chunks) through `liblzma`
//! with a bounded decoder memory, ADC through our own [`super::adc`].

use super::FORMAT;
use super::adc;
use super::mish::ChunkKind;
use crate::error::{Error, Result};
use std::io::{Read, Write};

/// Memory an xz decoder may use (hdiutil's dictionaries are a few MiB).
const XZ_MEMLIMIT: u64 = 128 << 20;

fn bad(kind: ChunkKind, at: u64, msg: impl std::fmt::Display) -> Error {
    Error::corrupt(FORMAT, "chunk", at, format!("{} chunk: {msg}", kind.name()))
}

/// Fills `out` from a reader, which must give exactly `out.len()` bytes.
fn fill_exact(mut r: impl Read, out: &mut [u8], kind: ChunkKind, at: u64) -> Result<()> {
    let mut done = 0;
    while done < out.len() {
        match r.read(&mut out[done..]) {
            Ok(0) => {
                return Err(bad(
                    kind,
                    at,
                    format!("decompresses to {done} bytes, expected {}", out.len()),
                ));
            }
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(bad(kind, at, e)),
        }
    }
    let mut extra = [0u8; 1];
    match r.read(&mut extra) {
        Ok(0) => Ok(()),
        Ok(_) => Err(bad(kind, at, format!("expands past {} bytes", out.len()))),
        Err(e) => Err(bad(kind, at, e)),
    }
}

/// Decompresses the stored bytes `src` of a chunk (stored at byte `at` of the image) into
/// `out`, which is exactly the chunk's size.
pub fn decompress(kind: ChunkKind, src: &[u8], out: &mut [u8], at: u64) -> Result<()> {
    match kind {
        ChunkKind::Zlib => {
            let mut z = flate2::Decompress::new(true);
            let status = z
                .decompress(src, out, flate2::FlushDecompress::Finish)
                .map_err(|e| bad(kind, at, e))?;
            let n = z.total_out() as usize;
            match status {
                flate2::Status::StreamEnd if n == out.len() => Ok(()),
                flate2::Status::StreamEnd => Err(bad(
                    kind,
                    at,
                    format!("decompresses to {n} bytes, expected {}", out.len()),
                )),
                _ if n == out.len() => Err(bad(kind, at, format!("expands past {n} bytes"))),
                _ => Err(bad(kind, at, "the stream is truncated")),
            }
        }
        ChunkKind::Bzip2 => fill_exact(bzip2::read::BzDecoder::new(src), out, kind, at),
        ChunkKind::Lzfse => {
            let mut decoder = lzfse_rust::LzfseRingDecoder::default();
            fill_exact(decoder.reader(src), out, kind, at)
        }
        ChunkKind::Lzma => {
            let stream = liblzma::stream::Stream::new_stream_decoder(XZ_MEMLIMIT, 0)
                .map_err(|e| bad(kind, at, e))?;
            fill_exact(
                liblzma::read::XzDecoder::new_stream(src, stream),
                out,
                kind,
                at,
            )
        }
        ChunkKind::Adc => {
            let n = adc::decompress(src, out).map_err(|e| bad(kind, at, e))?;
            if n != out.len() {
                return Err(bad(
                    kind,
                    at,
                    format!("decompresses to {n} bytes, expected {}", out.len()),
                ));
            }
            Ok(())
        }
        ChunkKind::Raw => {
            if src.len() != out.len() {
                return Err(bad(
                    kind,
                    at,
                    format!(
                        "stores {} bytes for {} bytes of sectors",
                        src.len(),
                        out.len()
                    ),
                ));
            }
            out.copy_from_slice(src);
            Ok(())
        }
        ChunkKind::Zero | ChunkKind::Ignore | ChunkKind::Comment | ChunkKind::Terminator => {
            out.fill(0);
            Ok(())
        }
    }
}

/// The compressions the writer offers, by the name `-o compression=` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// UDRO: raw chunks.
    None,
    /// UDZO.
    Zlib,
    /// UDBZ.
    Bzip2,
    /// ULFO.
    Lzfse,
    /// ULMO.
    Lzma,
}

impl Compression {
    /// Parses an option value.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "none" | "raw" | "udro" => Compression::None,
            "zlib" | "udzo" => Compression::Zlib,
            "bzip2" | "udbz" => Compression::Bzip2,
            "lzfse" | "ulfo" => Compression::Lzfse,
            "lzma" | "ulmo" => Compression::Lzma,
            _ => return None,
        })
    }

    /// The chunk type of compressed chunks.
    pub fn chunk_kind(self) -> ChunkKind {
        match self {
            Compression::None => ChunkKind::Raw,
            Compression::Zlib => ChunkKind::Zlib,
            Compression::Bzip2 => ChunkKind::Bzip2,
            Compression::Lzfse => ChunkKind::Lzfse,
            Compression::Lzma => ChunkKind::Lzma,
        }
    }

    /// hdiutil's name for an image of this compression.
    pub fn image_format(self) -> &'static str {
        match self {
            Compression::None => "UDRO",
            Compression::Zlib => "UDZO",
            Compression::Bzip2 => "UDBZ",
            Compression::Lzfse => "ULFO",
            Compression::Lzma => "ULMO",
        }
    }

    /// The level used when none is given: hdiutil's defaults where known, except zlib. hdiutil
    /// uses zlib level 1; zlib-rs's level 1 is its "quick" strategy (about 18% larger on a CD
    /// image), while its level 2 gives the size of classic zlib level 1 (docs/BENCHMARKS.md).
    pub fn default_level(self) -> u32 {
        match self {
            Compression::Zlib => 2,
            Compression::Bzip2 => 9,
            Compression::Lzma => 6,
            Compression::None | Compression::Lzfse => 0,
        }
    }

    /// Compresses `src` into `out` (appended) at `level`.
    pub fn compress(self, src: &[u8], level: u32, out: &mut Vec<u8>) -> Result<()> {
        let fail = |e: std::io::Error| {
            Error::new(crate::ErrorKind::Io, format!("{self:?} compression: {e}")).with_source(e)
        };
        match self {
            Compression::None => out.extend_from_slice(src),
            Compression::Zlib => {
                let mut z = flate2::Compress::new(flate2::Compression::new(level.min(9)), true);
                out.reserve(src.len() + src.len() / 1000 + 64);
                z.compress_vec(src, out, flate2::FlushCompress::Finish)
                    .map_err(|e| fail(std::io::Error::other(e)))?;
            }
            Compression::Bzip2 => {
                let mut w = bzip2::write::BzEncoder::new(
                    std::mem::take(out),
                    bzip2::Compression::new(level.clamp(1, 9)),
                );
                w.write_all(src).map_err(fail)?;
                *out = w.finish().map_err(fail)?;
            }
            Compression::Lzfse => {
                lzfse_rust::encode_bytes(src, out).map_err(fail)?;
            }
            Compression::Lzma => {
                let mut w = liblzma::write::XzEncoder::new(std::mem::take(out), level.min(9));
                w.write_all(src).map_err(fail)?;
                *out = w.finish().map_err(fail)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_codec_round_trips_and_refuses_wrong_sizes() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i / 7 % 13) as u8).collect();
        for c in [
            Compression::None,
            Compression::Zlib,
            Compression::Bzip2,
            Compression::Lzfse,
            Compression::Lzma,
        ] {
            let mut enc = Vec::new();
            c.compress(&data, c.default_level(), &mut enc).unwrap();
            let mut out = vec![0u8; data.len()];
            decompress(c.chunk_kind(), &enc, &mut out, 0).unwrap();
            assert_eq!(out, data, "{c:?}");
            let mut short = vec![0u8; data.len() - 1];
            assert!(
                decompress(c.chunk_kind(), &enc, &mut short, 0).is_err(),
                "{c:?} short"
            );
            let mut long = vec![0u8; data.len() + 512];
            assert!(
                decompress(c.chunk_kind(), &enc, &mut long, 0).is_err(),
                "{c:?} long"
            );
            if c != Compression::None {
                let mut out = vec![0u8; data.len()];
                let cut = &enc[..enc.len() / 2];
                assert!(
                    decompress(c.chunk_kind(), cut, &mut out, 0).is_err(),
                    "{c:?} cut"
                );
            }
        }
    }

    #[test]
    fn lzfse_known_answer() {
        // An uncompressed LZFSE block ("bvx-", size, bytes) and the end-of-stream marker.
        let mut s = b"bvx-".to_vec();
        s.extend_from_slice(&5u32.to_le_bytes());
        s.extend_from_slice(b"hello");
        s.extend_from_slice(b"bvx$");
        let mut out = [0u8; 5];
        decompress(ChunkKind::Lzfse, &s, &mut out, 0).unwrap();
        assert_eq!(&out, b"hello");
    }
}
