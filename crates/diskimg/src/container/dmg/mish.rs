//! blkx tables (`mish`, Apple's `BLKXTable`): which chunks of the data fork hold which sectors.
//!
//! Big-endian, 204 bytes of header then 40-byte chunk entries (libmodi, "UDIF XML plist"):
//!
//! ```text
//!   0 "mish"  4 version (1)  8 first sector  16 sector count  24 data offset
//!  32 buffers needed  36 block descriptors  40 reserved (24)  64 checksum (136)
//! 200 number of chunks  204 chunks: type, comment, sector, sector count, offset, length
//! ```
//!
//! A chunk's sectors are relative to the table's first sector; its offset is relative to the
//! data fork plus the table's data offset (almost always 0: hdiutil wrote non-zero ones in
//! some old APM images).

use super::FORMAT;
use super::koly::UdifChecksum;
use crate::container::bytes::{be32, be64};
use crate::error::{Error, Result};

/// Signature of a blkx table.
pub const MISH_MAGIC: [u8; 4] = *b"mish";
/// Length of the table header.
pub const MISH_HEADER_LEN: usize = 204;
/// Length of one chunk entry.
pub const CHUNK_ENTRY_LEN: usize = 40;
/// Most chunks in one table.
pub const MAX_CHUNKS_PER_TABLE: usize = 1 << 22;

/// The kind of a chunk (its `type` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChunkKind {
    /// 0x00000000: zeros, nothing stored.
    Zero,
    /// 0x00000001: stored as is.
    Raw,
    /// 0x00000002: free space, nothing stored, reads as zeros.
    Ignore,
    /// 0x80000004: Apple Data Compression.
    Adc,
    /// 0x80000005: zlib.
    Zlib,
    /// 0x80000006: bzip2.
    Bzip2,
    /// 0x80000007: LZFSE.
    Lzfse,
    /// 0x80000008: LZMA (an xz stream).
    Lzma,
    /// 0x7ffffffe: a comment, no sectors.
    Comment,
    /// 0xffffffff: the end of the table.
    Terminator,
}

impl ChunkKind {
    /// The kind of a `type` value.
    pub fn from_type(t: u32) -> Option<Self> {
        Some(match t {
            0x0000_0000 => ChunkKind::Zero,
            0x0000_0001 => ChunkKind::Raw,
            0x0000_0002 => ChunkKind::Ignore,
            0x8000_0004 => ChunkKind::Adc,
            0x8000_0005 => ChunkKind::Zlib,
            0x8000_0006 => ChunkKind::Bzip2,
            0x8000_0007 => ChunkKind::Lzfse,
            0x8000_0008 => ChunkKind::Lzma,
            0x7fff_fffe => ChunkKind::Comment,
            0xffff_ffff => ChunkKind::Terminator,
            _ => return None,
        })
    }

    /// The `type` value.
    pub fn to_type(self) -> u32 {
        match self {
            ChunkKind::Zero => 0,
            ChunkKind::Raw => 1,
            ChunkKind::Ignore => 2,
            ChunkKind::Adc => 0x8000_0004,
            ChunkKind::Zlib => 0x8000_0005,
            ChunkKind::Bzip2 => 0x8000_0006,
            ChunkKind::Lzfse => 0x8000_0007,
            ChunkKind::Lzma => 0x8000_0008,
            ChunkKind::Comment => 0x7fff_fffe,
            ChunkKind::Terminator => 0xffff_ffff,
        }
    }

    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            ChunkKind::Zero => "zero",
            ChunkKind::Raw => "raw",
            ChunkKind::Ignore => "ignore",
            ChunkKind::Adc => "adc",
            ChunkKind::Zlib => "zlib",
            ChunkKind::Bzip2 => "bzip2",
            ChunkKind::Lzfse => "lzfse",
            ChunkKind::Lzma => "lzma",
            ChunkKind::Comment => "comment",
            ChunkKind::Terminator => "terminator",
        }
    }

    /// Whether the chunk's stored bytes must be decompressed.
    pub fn is_compressed(self) -> bool {
        matches!(
            self,
            ChunkKind::Adc
                | ChunkKind::Zlib
                | ChunkKind::Bzip2
                | ChunkKind::Lzfse
                | ChunkKind::Lzma
        )
    }
}

/// One chunk entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlkxChunk {
    /// What the chunk holds.
    pub kind: ChunkKind,
    /// The comment field (unused by readers).
    pub comment: u32,
    /// First sector, relative to the table's first sector.
    pub sector: u64,
    /// Sectors covered.
    pub sector_count: u64,
    /// Offset of the stored bytes, relative to the data fork plus the table's data offset.
    pub offset: u64,
    /// Length of the stored bytes.
    pub length: u64,
}

/// A blkx table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlkxTable {
    /// First sector of the disk the table covers.
    pub first_sector: u64,
    /// Sectors the table covers.
    pub sector_count: u64,
    /// Added to every chunk's offset.
    pub data_offset: u64,
    /// Sectors of buffer a reader needs (the largest chunk, plus slack).
    pub buffers_needed: u32,
    /// Hdiutil's partition number for the table (informational).
    pub block_descriptors: u32,
    /// Checksum of the table's decompressed sectors.
    pub checksum: UdifChecksum,
    /// The chunks, in order.
    pub chunks: Vec<BlkxChunk>,
}

impl BlkxTable {
    /// Parses a table (the `Data` of a blkx resource) found at `at` (for messages).
    pub fn parse(b: &[u8], at: u64) -> Result<Self> {
        let bad = |msg: String| Error::corrupt(FORMAT, "blkx table", at, msg);
        if b.len() < MISH_HEADER_LEN || b[..4] != MISH_MAGIC {
            return Err(bad("no 'mish' signature".to_owned()));
        }
        let version = be32(b, 4);
        if version != 1 {
            return Err(Error::unsupported(
                FORMAT,
                format!("blkx table version {version} (only 1)"),
            ));
        }
        let count = be32(b, 200) as usize;
        if count > MAX_CHUNKS_PER_TABLE {
            return Err(Error::limit(
                FORMAT,
                "blkx table",
                at,
                format!("{count} chunks (limit {MAX_CHUNKS_PER_TABLE})"),
            ));
        }
        let need = MISH_HEADER_LEN + count * CHUNK_ENTRY_LEN;
        if b.len() < need {
            return Err(bad(format!(
                "{count} chunks need {need} bytes, the table has {}",
                b.len()
            )));
        }
        let mut chunks = Vec::with_capacity(count);
        for i in 0..count {
            let e = &b[MISH_HEADER_LEN + i * CHUNK_ENTRY_LEN..];
            let t = be32(e, 0);
            let kind = ChunkKind::from_type(t).ok_or_else(|| {
                Error::unsupported(
                    FORMAT,
                    format!("chunk {i} of a blkx table has the unknown type {t:#010x}"),
                )
                .with_offset(at)
            })?;
            chunks.push(BlkxChunk {
                kind,
                comment: be32(e, 4),
                sector: be64(e, 8),
                sector_count: be64(e, 16),
                offset: be64(e, 24),
                length: be64(e, 32),
            });
        }
        Ok(BlkxTable {
            first_sector: be64(b, 8),
            sector_count: be64(b, 16),
            data_offset: be64(b, 24),
            buffers_needed: be32(b, 32),
            block_descriptors: be32(b, 36),
            checksum: UdifChecksum::parse(b, 64),
            chunks,
        })
    }

    /// The bytes of the table.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = vec![0u8; MISH_HEADER_LEN + self.chunks.len() * CHUNK_ENTRY_LEN];
        b[..4].copy_from_slice(&MISH_MAGIC);
        b[4..8].copy_from_slice(&1u32.to_be_bytes());
        b[8..16].copy_from_slice(&self.first_sector.to_be_bytes());
        b[16..24].copy_from_slice(&self.sector_count.to_be_bytes());
        b[24..32].copy_from_slice(&self.data_offset.to_be_bytes());
        b[32..36].copy_from_slice(&self.buffers_needed.to_be_bytes());
        b[36..40].copy_from_slice(&self.block_descriptors.to_be_bytes());
        self.checksum.write(&mut b, 64);
        b[200..204].copy_from_slice(&(self.chunks.len() as u32).to_be_bytes());
        for (i, c) in self.chunks.iter().enumerate() {
            let e = &mut b[MISH_HEADER_LEN + i * CHUNK_ENTRY_LEN..][..CHUNK_ENTRY_LEN];
            e[0..4].copy_from_slice(&c.kind.to_type().to_be_bytes());
            e[4..8].copy_from_slice(&c.comment.to_be_bytes());
            e[8..16].copy_from_slice(&c.sector.to_be_bytes());
            e[16..24].copy_from_slice(&c.sector_count.to_be_bytes());
            e[24..32].copy_from_slice(&c.offset.to_be_bytes());
            e[32..40].copy_from_slice(&c.length.to_be_bytes());
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bounds() {
        let t = BlkxTable {
            first_sector: 40,
            sector_count: 4096,
            data_offset: 0,
            buffers_needed: 2056,
            block_descriptors: 1,
            checksum: UdifChecksum::crc32(5),
            chunks: vec![
                BlkxChunk {
                    kind: ChunkKind::Zlib,
                    comment: 0,
                    sector: 0,
                    sector_count: 2048,
                    offset: 0,
                    length: 77,
                },
                BlkxChunk {
                    kind: ChunkKind::Terminator,
                    comment: 0,
                    sector: 2048,
                    sector_count: 0,
                    offset: 77,
                    length: 0,
                },
            ],
        };
        let b = t.to_bytes();
        assert_eq!(BlkxTable::parse(&b, 0).unwrap(), t);
        // A count larger than the data is corrupt, not an allocation.
        let mut big = b.clone();
        big[200..204].copy_from_slice(&1000u32.to_be_bytes());
        assert_eq!(
            BlkxTable::parse(&big, 0).unwrap_err().kind(),
            crate::ErrorKind::Corrupt
        );
        big[200..204].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            BlkxTable::parse(&big, 0).unwrap_err().kind(),
            crate::ErrorKind::LimitExceeded
        );
        let mut odd = b;
        odd[204..208].copy_from_slice(&0x8000_0009u32.to_be_bytes());
        assert_eq!(
            BlkxTable::parse(&odd, 0).unwrap_err().kind(),
            crate::ErrorKind::Unsupported
        );
    }
}
