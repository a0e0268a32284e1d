//! The block index: where each block is stored and how it is encoded.
//!
//! CSO and ZSO keep `blocks + 1` little-endian `u32` entries after the header: the low 31 bits
//! shifted left by `index_shift` are a block's file offset, the next entry's offset ends it, and
//! the high bit is a flag (v1/ZSO: stored uncompressed; v2: LZ4 rather than deflate, while a
//! block as long as a whole block is stored). DAX keeps a `u32` offset and a `u16` length per
//! frame, then `nc_areas` pairs (first frame, count) of frames stored uncompressed.
//!
//! The whole index is checked when the image is opened: offsets never decrease (CSO), every
//! block lies inside the file, and NC areas name existing frames. After that, [`BlockIndex::block`]
//! cannot point outside the file.

use super::header::{CsoHeader, Variant};
use crate::error::{Error, Result};
use crate::io::{ReadAt, read_vec};

/// Most blocks an index may have: 32 Mi entries (64 GiB at 2 KiB blocks, a 128 MiB index).
pub const MAX_BLOCKS: u64 = 1 << 25;

const FLAG: u32 = 0x8000_0000;
const MASK: u32 = 0x7FFF_FFFF;

/// How a block's stored bytes turn into its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// The bytes are the data.
    Stored,
    /// Raw deflate (RFC 1951).
    Deflate,
    /// zlib (RFC 1950): DAX frames.
    Zlib,
    /// An LZ4 block.
    Lz4,
}

/// Where one block is and how it is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    /// File offset of the stored bytes.
    pub offset: u64,
    /// Stored length (may include alignment padding).
    pub len: u64,
    /// Encoding.
    pub codec: Codec,
}

/// Counts of blocks by encoding, for `info`.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct BlockCounts {
    /// Stored uncompressed.
    pub stored: u64,
    /// Deflate or zlib.
    pub deflate: u64,
    /// LZ4.
    pub lz4: u64,
}

/// The checked index of an image.
pub struct BlockIndex {
    variant: Variant,
    block_size: u64,
    shift: u8,
    /// CSO/ZSO: `blocks + 1` raw entries; DAX: `blocks` offsets.
    entries: Vec<u32>,
    /// DAX: frame lengths.
    sizes: Vec<u16>,
    /// DAX: one bit per frame, set for frames in a non-compressed area.
    nc: Vec<u64>,
}

impl BlockIndex {
    /// Reads and checks the index that follows `h` in `file`.
    pub fn read(file: &dyn ReadAt, h: &CsoHeader) -> Result<BlockIndex> {
        let fmt = h.variant.format();
        let blocks = h.blocks();
        if blocks > MAX_BLOCKS {
            return Err(Error::limit(
                fmt,
                "index",
                h.len(),
                format!(
                    "{blocks} blocks of {} bytes exceed the limit of {MAX_BLOCKS}",
                    h.block_size
                ),
            ));
        }
        let file_size = file.size();
        let mut index = BlockIndex {
            variant: h.variant,
            block_size: u64::from(h.block_size),
            shift: h.index_shift,
            entries: Vec::new(),
            sizes: Vec::new(),
            nc: Vec::new(),
        };
        let at = h.len();
        if h.variant == Variant::Dax {
            index.entries = read_u32s(file, fmt, at, blocks)?;
            let sizes_at = at + blocks * 4;
            let raw = read_table(file, fmt, "size table", sizes_at, blocks * 2)?;
            index.sizes = raw
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            index.nc = vec![0u64; blocks.div_ceil(64) as usize];
            if h.version >= 1 && h.nc_areas > 0 {
                index.read_nc_areas(file, h, sizes_at + blocks * 2)?;
            }
            for (i, (&off, &len)) in index.entries.iter().zip(&index.sizes).enumerate() {
                let end = u64::from(off) + u64::from(len);
                if end > file_size {
                    return Err(Error::corrupt(
                        fmt,
                        "index",
                        at + i as u64 * 4,
                        format!(
                            "frame {i} at byte {off} ({len} bytes) runs past the end of the file ({file_size} bytes)"
                        ),
                    ));
                }
            }
        } else {
            index.entries = read_u32s(file, fmt, at, blocks + 1)?;
            let mut prev = 0u64;
            for (i, &e) in index.entries.iter().enumerate() {
                let off = u64::from(e & MASK) << h.index_shift;
                let where_ = at + i as u64 * 4;
                if off < prev {
                    return Err(Error::corrupt(
                        fmt,
                        "index",
                        where_,
                        format!(
                            "entry {i} points to byte {off}, before the previous block (byte {prev}): the index must increase"
                        ),
                    ));
                }
                if off > file_size {
                    return Err(Error::corrupt(
                        fmt,
                        "index",
                        where_,
                        format!(
                            "entry {i} points to byte {off}, past the end of the file ({file_size} bytes)"
                        ),
                    ));
                }
                prev = off;
            }
        }
        Ok(index)
    }

    fn read_nc_areas(&mut self, file: &dyn ReadAt, h: &CsoHeader, at: u64) -> Result<()> {
        let fmt = h.variant.format();
        let blocks = self.entries.len() as u64;
        let count = u64::from(h.nc_areas);
        if count > blocks {
            return Err(Error::corrupt(
                fmt,
                "header",
                12,
                format!("{count} non-compressed areas for {blocks} frames"),
            ));
        }
        let raw = read_table(file, fmt, "NC areas", at, count * 8)?;
        for (i, c) in raw.chunks_exact(8).enumerate() {
            let start = u64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
            let n = u64::from(u32::from_le_bytes([c[4], c[5], c[6], c[7]]));
            if start + n > blocks {
                return Err(Error::corrupt(
                    fmt,
                    "NC areas",
                    at + i as u64 * 8,
                    format!(
                        "area {i} (frames {start}..{}) runs past the last frame ({blocks})",
                        start + n
                    ),
                ));
            }
            for f in start..start + n {
                self.nc[(f / 64) as usize] |= 1 << (f % 64);
            }
        }
        Ok(())
    }

    /// Number of blocks.
    pub fn blocks(&self) -> u64 {
        if self.variant == Variant::Dax {
            self.entries.len() as u64
        } else {
            self.entries.len().saturating_sub(1) as u64
        }
    }

    /// Where block `i` (below [`blocks`](Self::blocks)) is stored.
    pub fn block(&self, i: u64) -> Block {
        let i = i as usize;
        if self.variant == Variant::Dax {
            let nc = self.nc[i / 64] & (1 << (i % 64)) != 0;
            return Block {
                offset: u64::from(self.entries[i]),
                len: u64::from(self.sizes[i]),
                codec: if nc { Codec::Stored } else { Codec::Zlib },
            };
        }
        let e = self.entries[i];
        let offset = u64::from(e & MASK) << self.shift;
        let end = u64::from(self.entries[i + 1] & MASK) << self.shift;
        let len = end - offset;
        let flag = e & FLAG != 0;
        let codec = match self.variant {
            Variant::Cso1 if flag => Codec::Stored,
            Variant::Cso1 => Codec::Deflate,
            Variant::Zso if flag => Codec::Stored,
            Variant::Zso => Codec::Lz4,
            _ if len >= self.block_size => Codec::Stored,
            _ if flag => Codec::Lz4,
            _ => Codec::Deflate,
        };
        Block { offset, len, codec }
    }

    /// Blocks counted by encoding.
    pub fn counts(&self) -> BlockCounts {
        let mut c = BlockCounts::default();
        for i in 0..self.blocks() {
            match self.block(i).codec {
                Codec::Stored => c.stored += 1,
                Codec::Deflate | Codec::Zlib => c.deflate += 1,
                Codec::Lz4 => c.lz4 += 1,
            }
        }
        c
    }
}

fn read_table(
    file: &dyn ReadAt,
    fmt: &'static str,
    what: &'static str,
    at: u64,
    len: u64,
) -> Result<Vec<u8>> {
    read_vec(file, at, len, MAX_BLOCKS * 8).map_err(|e| {
        Error::corrupt(
            fmt,
            what,
            at,
            format!("{len} bytes cannot be read: {}", e.message()),
        )
    })
}

fn read_u32s(file: &dyn ReadAt, fmt: &'static str, at: u64, n: u64) -> Result<Vec<u32>> {
    let raw = read_table(file, fmt, "index", at, n * 4)?;
    Ok(raw
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}
