//! Transparent file compression of macOS (`decmpfs`): a file flagged `UF_COMPRESSED` keeps its
//! data in the `com.apple.decmpfs` extended attribute or in its resource fork.
//!
//! The attribute starts with a header: magic `fpmc` (stored little-endian as `cmpf`), the
//! compression type, the uncompressed size, all little-endian. Types read here:
//! - 1: the data follows the header, uncompressed;
//! - 3 / 4: zlib, in the attribute / in the resource fork;
//! - 7 / 8: LZVN, in the attribute / in the resource fork;
//! - 11 / 12: LZFSE, in the attribute / in the resource fork.
//!
//! In the attribute, a first byte of `0x?F` (zlib) or `0x06` (LZVN, LZFSE) means the rest is
//! stored uncompressed. In the resource fork, the data is cut into 64 KiB blocks: zlib keeps
//! them in a resource (`cmpf` 1, a block table after the resource header), LZVN and LZFSE in a
//! table of little-endian block offsets at the start of the fork.
//!
//! LZFSE and LZVN are decoded by the `lzfse_rust` crate: an LZVN payload is framed as one LZVN
//! block of an LZFSE stream (`bvxn`, raw size, payload size, payload, then `bvx$`), which is how
//! LZFSE itself carries LZVN. Decoders read through a bounded `Read::take`, so a hostile stream
//! cannot grow the output past the block size. Other types (dedup, sparse, ...) are reported as
//! unsupported.
//!
//! Shared by the HFS+ and APFS readers: each gives [`read_at`] the attribute and, for the
//! resource-fork types, a [`ResourceFork`] reader; decoded blocks are kept in a small [`Cache`].

use crate::error::{Error, Result};
use crate::fs::NodeId;
use std::io::Read;
use std::sync::{Arc, Mutex};

/// Format name used in errors.
pub const FORMAT: &str = "decmpfs";
/// Decompressed blocks kept by a [`Cache`].
pub const CACHE_BLOCKS: usize = 8;

/// `com.apple.decmpfs` header magic (`cmpf` little-endian).
pub const MAGIC: u32 = 0x636D_7066;
/// Bytes of data a resource-fork block decompresses to.
pub const BLOCK_SIZE: u64 = 64 * 1024;
/// Largest file accepted (uncompressed size).
pub const MAX_UNCOMPRESSED: u64 = 1 << 40;
/// Largest compressed block read.
pub const MAX_BLOCK: u64 = 2 * BLOCK_SIZE;
/// Blocks of one file at most.
pub const MAX_BLOCKS: u64 = MAX_UNCOMPRESSED / BLOCK_SIZE;

/// Where a compressed file's bytes are and how they are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Stored (type 1).
    None,
    /// zlib (types 3 and 4).
    Zlib,
    /// LZVN (types 7 and 8).
    Lzvn,
    /// LZFSE (types 11 and 12).
    Lzfse,
}

/// A parsed `com.apple.decmpfs` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// `compression_type`.
    pub kind: u32,
    /// Size of the file's data.
    pub size: u64,
    /// How the data is compressed.
    pub codec: Codec,
    /// Whether the data is in the resource fork (else after the header).
    pub in_resource_fork: bool,
}

impl Header {
    /// Parses the attribute's header; `offset` names it in errors.
    pub fn parse(attr: &[u8], offset: u64) -> Result<Self> {
        let bad = |msg: String| Error::corrupt(FORMAT, "decmpfs header", offset, msg);
        if attr.len() < 16 {
            return Err(bad("shorter than 16 bytes".into()));
        }
        let magic = u32::from_le_bytes(attr[0..4].try_into().unwrap_or_default());
        if magic != MAGIC {
            return Err(bad(format!("magic {magic:#010x} is not fpmc")));
        }
        let kind = u32::from_le_bytes(attr[4..8].try_into().unwrap_or_default());
        let size = u64::from_le_bytes(attr[8..16].try_into().unwrap_or_default());
        if size > MAX_UNCOMPRESSED {
            return Err(Error::limit(
                FORMAT,
                "decmpfs header",
                offset,
                format!("uncompressed size {size} is over the limit"),
            ));
        }
        let (codec, in_resource_fork) = match kind {
            1 => (Codec::None, false),
            3 => (Codec::Zlib, false),
            4 => (Codec::Zlib, true),
            7 => (Codec::Lzvn, false),
            8 => (Codec::Lzvn, true),
            11 => (Codec::Lzfse, false),
            12 => (Codec::Lzfse, true),
            other => {
                return Err(Error::unsupported(
                    FORMAT,
                    format!("decmpfs compression type {other}"),
                ));
            }
        };
        Ok(Header {
            kind,
            size,
            codec,
            in_resource_fork,
        })
    }
}

/// Decompresses the data stored in the attribute after its header, `want` bytes.
pub fn inline(header: &Header, payload: &[u8], offset: u64) -> Result<Vec<u8>> {
    let want = header.size;
    if want > MAX_BLOCK * 16 {
        return Err(Error::limit(
            FORMAT,
            "decmpfs attribute",
            offset,
            "inline data larger than an attribute can hold",
        ));
    }
    let stored = match header.codec {
        Codec::None => true,
        Codec::Zlib => payload.first().is_some_and(|b| b & 0x0F == 0x0F),
        Codec::Lzvn | Codec::Lzfse => payload.first() == Some(&0x06),
    };
    if stored {
        let from = usize::from(header.codec != Codec::None);
        let data = payload.get(from..).unwrap_or(&[]);
        return Ok(data[..data.len().min(want as usize)].to_vec());
    }
    block(header.codec, payload, want, offset)
}

/// Decompresses one block of `codec` data to at most `want` bytes (fewer is an error).
pub fn block(codec: Codec, src: &[u8], want: u64, offset: u64) -> Result<Vec<u8>> {
    let bad = |msg: String| Error::corrupt(FORMAT, "decmpfs block", offset, msg);
    let mut out = Vec::with_capacity(want as usize);
    let result = match codec {
        Codec::None => {
            out.extend_from_slice(&src[..src.len().min(want as usize)]);
            Ok(())
        }
        Codec::Zlib => {
            if src.first().is_some_and(|b| b & 0x0F == 0x0F) {
                out.extend_from_slice(&src[1..src.len().min(want as usize + 1)]);
                Ok(())
            } else {
                flate2::read::ZlibDecoder::new(src)
                    .take(want)
                    .read_to_end(&mut out)
                    .map(|_| ())
            }
        }
        Codec::Lzvn => {
            if src.first() == Some(&0x06) {
                out.extend_from_slice(&src[1..src.len().min(want as usize + 1)]);
                Ok(())
            } else {
                let framed = frame_lzvn(src, want)?;
                lzfse(&framed, want, &mut out)
            }
        }
        Codec::Lzfse => {
            if src.first() == Some(&0x06) {
                out.extend_from_slice(&src[1..src.len().min(want as usize + 1)]);
                Ok(())
            } else {
                lzfse(src, want, &mut out)
            }
        }
    };
    result.map_err(|e| bad(format!("cannot decompress: {e}")))?;
    if (out.len() as u64) < want {
        return Err(bad(format!(
            "decompresses to {} bytes, {want} expected",
            out.len()
        )));
    }
    Ok(out)
}

fn lzfse(src: &[u8], want: u64, out: &mut Vec<u8>) -> std::io::Result<()> {
    let mut decoder = lzfse_rust::LzfseRingDecoder::default();
    decoder.reader(src).take(want).read_to_end(out).map(|_| ())
}

/// An LZVN payload as an LZFSE stream: one `bvxn` block and the end-of-stream block.
fn frame_lzvn(payload: &[u8], raw: u64) -> Result<Vec<u8>> {
    let n_payload = u32::try_from(payload.len())
        .map_err(|_| Error::unsupported(FORMAT, "LZVN block over 4 GiB"))?;
    let mut s = Vec::with_capacity(payload.len() + 16);
    s.extend_from_slice(b"bvxn");
    s.extend_from_slice(&(raw as u32).to_le_bytes());
    s.extend_from_slice(&n_payload.to_le_bytes());
    s.extend_from_slice(payload);
    s.extend_from_slice(b"bvx$");
    Ok(s)
}

/// The table of compressed blocks in a resource fork: `(offset in fork, length)` of each.
/// `head` holds the start of the fork (at least 4 KiB or the whole fork).
pub fn block_table(
    codec: Codec,
    fork: &dyn Fn(u64, &mut [u8]) -> Result<()>,
    fork_len: u64,
    blocks: u64,
    offset: u64,
) -> Result<Vec<(u64, u64)>> {
    let bad = |msg: String| Error::corrupt(FORMAT, "decmpfs block table", offset, msg);
    // Each block takes at least 4 bytes of table in the fork: a claimed size needing more
    // blocks than that is refused before anything is allocated.
    if blocks > MAX_BLOCKS || blocks.saturating_add(1).saturating_mul(4) > fork_len {
        return Err(bad(format!(
            "{blocks} blocks cannot fit a {fork_len}-byte resource fork"
        )));
    }
    let mut table = Vec::with_capacity(blocks as usize);
    match codec {
        Codec::Zlib => {
            // Resource fork header: data offset (BE), then at the data: resource length (BE),
            // block count (LE), then (offset, size) pairs (LE) relative to data offset + 4.
            let mut h = [0u8; 4];
            fork(0, &mut h)?;
            let data = u64::from(u32::from_be_bytes(h));
            let mut c = [0u8; 8];
            fork(data, &mut c)?;
            let count = u64::from(u32::from_le_bytes([c[4], c[5], c[6], c[7]]));
            if count < blocks || count > MAX_BLOCKS {
                return Err(bad(format!("{count} blocks for {blocks} expected")));
            }
            let mut raw = vec![0u8; (blocks * 8) as usize];
            fork(data + 8, &mut raw)?;
            for e in raw.chunks_exact(8) {
                let off = u64::from(u32::from_le_bytes([e[0], e[1], e[2], e[3]]));
                let len = u64::from(u32::from_le_bytes([e[4], e[5], e[6], e[7]]));
                table.push((data + 4 + off, len));
            }
        }
        Codec::Lzvn | Codec::Lzfse => {
            let mut raw = vec![0u8; ((blocks + 1) * 4) as usize];
            fork(0, &mut raw)?;
            let offs: Vec<u64> = raw
                .chunks_exact(4)
                .map(|e| u64::from(u32::from_le_bytes([e[0], e[1], e[2], e[3]])))
                .collect();
            for w in offs.windows(2) {
                if w[1] < w[0] {
                    return Err(bad("block offsets go backwards".into()));
                }
                table.push((w[0], w[1] - w[0]));
            }
        }
        Codec::None => {
            return Err(Error::unsupported(
                FORMAT,
                "uncompressed decmpfs data in a resource fork",
            ));
        }
    }
    for &(off, len) in &table {
        if off.saturating_add(len) > fork_len || len > MAX_BLOCK {
            return Err(bad(format!(
                "block at {off} of {len} bytes lies outside the {fork_len}-byte resource fork"
            )));
        }
    }
    Ok(table)
}

/// The resource fork of a compressed file, as its file system reads it.
pub trait ResourceFork {
    /// Length of the fork in bytes.
    fn size(&self) -> u64;
    /// Reads exactly `buf.len()` bytes at `offset` within the fork.
    fn read_exact(&self, offset: u64, buf: &mut [u8]) -> Result<()>;
    /// Where byte `offset` of the fork lies on the device (for error messages; 0 if unknown).
    fn device_offset(&self, offset: u64) -> u64;
}

/// A decompressed block: the file, the block number (`u64::MAX`: inline data), the bytes.
type DecodedBlock = (NodeId, u64, Arc<Vec<u8>>);

/// The last few decompressed blocks, so sequential small reads decode each block once.
#[derive(Default)]
pub struct Cache {
    blocks: Mutex<Vec<DecodedBlock>>,
}

impl Cache {
    /// Block `index` of file `node`, decoded by `make` when not kept.
    pub fn get_or(
        &self,
        node: NodeId,
        index: u64,
        make: impl FnOnce() -> Result<Vec<u8>>,
    ) -> Result<Arc<Vec<u8>>> {
        if let Ok(c) = self.blocks.lock() {
            if let Some((_, _, b)) = c.iter().find(|(n, i, _)| *n == node && *i == index) {
                return Ok(b.clone());
            }
        }
        let b = Arc::new(make()?);
        if let Ok(mut c) = self.blocks.lock() {
            if c.len() >= CACHE_BLOCKS {
                c.remove(0);
            }
            c.push((node, index, b.clone()));
        }
        Ok(b)
    }
}

/// Reads the uncompressed data of file `node` at `offset`: `attr` is the whole
/// `com.apple.decmpfs` attribute (header included), `rsrc` the resource fork when the header
/// says the data is there. Returns the bytes read (0 at the end).
pub fn read_at(
    header: &Header,
    attr: &[u8],
    rsrc: Option<&dyn ResourceFork>,
    cache: &Cache,
    node: NodeId,
    offset: u64,
    buf: &mut [u8],
) -> Result<usize> {
    if offset >= header.size || buf.is_empty() {
        return Ok(0);
    }
    if !header.in_resource_fork {
        let payload = attr.get(16..).unwrap_or(&[]);
        let data = cache.get_or(node, u64::MAX, || inline(header, payload, 0))?;
        if (data.len() as u64) < header.size {
            return Err(Error::corrupt(
                FORMAT,
                "decmpfs attribute",
                0,
                "inline data is shorter than the file",
            ));
        }
        let n = (header.size - offset).min(buf.len() as u64) as usize;
        buf[..n].copy_from_slice(&data[offset as usize..offset as usize + n]);
        return Ok(n);
    }
    let Some(rsrc) = rsrc else {
        return Err(Error::corrupt(
            FORMAT,
            "decmpfs attribute",
            0,
            "the data is in a resource fork the file does not have",
        ));
    };
    let blocks = header.size.div_ceil(BLOCK_SIZE);
    let table = block_table(
        header.codec,
        &|off, b| rsrc.read_exact(off, b),
        rsrc.size(),
        blocks,
        rsrc.device_offset(0),
    )?;
    let mut done = 0usize;
    while done < buf.len() && offset + (done as u64) < header.size {
        let pos = offset + done as u64;
        let i = pos / BLOCK_SIZE;
        let want = BLOCK_SIZE.min(header.size - i * BLOCK_SIZE);
        let (off, len) = table[i as usize];
        let data = cache.get_or(node, i, || {
            let mut src = vec![0u8; len as usize];
            rsrc.read_exact(off, &mut src)?;
            block(header.codec, &src, want, rsrc.device_offset(off))
        })?;
        let within = (pos - i * BLOCK_SIZE) as usize;
        let n = (data.len() - within).min(buf.len() - done);
        buf[done..done + n].copy_from_slice(&data[within..within + n]);
        done += n;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn header(kind: u32, size: u64) -> Vec<u8> {
        let mut h = MAGIC.to_le_bytes().to_vec();
        h.extend(kind.to_le_bytes());
        h.extend(size.to_le_bytes());
        h
    }

    #[test]
    fn zlib_inline_and_stored() {
        let text = b"hello hello hello hello, decmpfs".repeat(20);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&text).unwrap();
        let z = z.finish().unwrap();
        let h = Header::parse(&header(3, text.len() as u64), 0).unwrap();
        assert_eq!(h.codec, Codec::Zlib);
        assert_eq!(inline(&h, &z, 0).unwrap(), text);
        let mut stored = vec![0xFF];
        stored.extend(b"plain");
        let h = Header::parse(&header(3, 5), 0).unwrap();
        assert_eq!(inline(&h, &stored, 0).unwrap(), b"plain");
    }

    #[test]
    fn lzvn_known_answer() {
        // sml_l with 3 literals "abc", then sml_d: 1 literal "d", match of 3 at distance 4
        // (0b01_000_000 | distance high bits 0, next byte 4) -> "abcdabc", then end of stream.
        let lzvn = [
            0xE3, b'a', b'b', b'c', 0x40, 0x04, b'd', 0x06, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(block(Codec::Lzvn, &lzvn, 7, 0).unwrap(), b"abcdabc");
    }

    #[test]
    fn lzfse_round_trip_and_lzvn_payloads() {
        let text: Vec<u8> = (0..3000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        let mut enc = Vec::new();
        lzfse_rust::encode_bytes(&text, &mut enc).unwrap();
        assert_eq!(
            block(Codec::Lzfse, &enc, text.len() as u64, 0).unwrap(),
            text
        );
        // Small inputs are encoded as one LZVN block: its payload is what decmpfs type 7 holds.
        let small = b"an LZVN block, an LZVN block, an LZVN block".repeat(4);
        let mut enc = Vec::new();
        lzfse_rust::encode_bytes(&small, &mut enc).unwrap();
        assert_eq!(
            &enc[..4],
            b"bvxn",
            "lzfse_rust encodes small inputs as LZVN"
        );
        let payload = &enc[12..enc.len() - 4];
        assert_eq!(
            block(Codec::Lzvn, payload, small.len() as u64, 0).unwrap(),
            small
        );
    }

    #[test]
    fn hostile_streams_are_bounded_errors() {
        // A claimed size larger than the stream produces: an error, not a short file.
        assert!(block(Codec::Lzvn, &[0xE1, b'a', 0x06, 0, 0, 0, 0, 0, 0, 0], 5, 0).is_err());
        assert!(block(Codec::Zlib, b"\x78\x9cgarbage", 10, 0).is_err());
        assert!(Header::parse(&header(99, 1), 0).is_err());
        assert!(Header::parse(&header(3, u64::MAX), 0).is_err());
        assert!(Header::parse(b"short", 0).is_err());
        // A match longer than the block asked for stops at the block size.
        let lzvn = [0xE1, b'a', 0xF0, 0xFF, 0x06, 0, 0, 0, 0, 0, 0, 0];
        let r = block(Codec::Lzvn, &lzvn, 16, 0);
        assert!(r.is_err() || r.unwrap().len() == 16);
    }
}
