//! The fixed headers: CISO/ZISO (24 bytes) and DAX (32 bytes).
//!
//! Specifications: maxcso's `README_CSO.md` (CSO v1, v2) and `README_ZSO.md`; DAX from the
//! `DAXHeader` structure maxcso reads (`src/dax.h`). All fields are little-endian.
//!
//! ```text
//! CISO / ZISO                         DAX
//!  0  magic "CISO" / "ZISO"            0  magic "DAX\0"
//!  4  header_size (0x18; v1 may be 0)  4  uncompressed_size (u32)
//!  8  uncompressed_size (u64)          8  version (0, or 1 with NC areas)
//! 16  block_size                      12  nc_areas (count)
//! 20  version (0/1, 2 = CSO v2)       16  unused[4]
//! 21  index_shift
//! 22  unused[2]
//! ```

use crate::container::bytes::{le32, le64};
use crate::error::{Error, Result};

/// Length of a CISO/ZISO header.
pub const CISO_HEADER_LEN: usize = 24;
/// Length of a DAX header.
pub const DAX_HEADER_LEN: usize = 32;
/// The DAX frame (block) size: always 8 KiB.
pub const DAX_FRAME_SIZE: u32 = 0x2000;
/// Smallest block size accepted (one 512-byte sector).
pub const MIN_BLOCK_SIZE: u32 = 512;
/// Largest block size accepted: real images use 2 KiB to 64 KiB.
pub const MAX_BLOCK_SIZE: u32 = 1 << 20;
/// Largest index shift: block offsets are 31 bits shifted left by it, so 32 reaches 2^63.
pub const MAX_INDEX_SHIFT: u8 = 32;

const CISO_MAGIC: &[u8; 4] = b"CISO";
const ZISO_MAGIC: &[u8; 4] = b"ZISO";
const DAX_MAGIC: &[u8; 4] = b"DAX\0";

/// The format variants, as their magic and version say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// CSO version 0 or 1: raw deflate blocks, high index bit = stored.
    Cso1,
    /// CSO version 2: deflate or LZ4 (high bit), stored when a block is a whole block long.
    Cso2,
    /// ZSO: LZ4 blocks, high index bit = stored.
    Zso,
    /// DAX: zlib frames of 8 KiB, separate offset and size tables, non-compressed areas.
    Dax,
}

impl Variant {
    /// The registry name (the `-O` spelling).
    pub fn name(self) -> &'static str {
        match self {
            Variant::Cso1 => "cso",
            Variant::Cso2 => "cso2",
            Variant::Zso => "zso",
            Variant::Dax => "dax",
        }
    }

    /// The format named in error messages (`cso` for both CSO versions).
    pub fn format(self) -> &'static str {
        match self {
            Variant::Cso1 | Variant::Cso2 => "cso",
            Variant::Zso => "zso",
            Variant::Dax => "dax",
        }
    }
}

/// A parsed header of any variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsoHeader {
    /// Which format.
    pub variant: Variant,
    /// The header_size field (CISO/ZISO; DAX: the header length).
    pub header_size: u32,
    /// Size of the original image in bytes.
    pub uncompressed_size: u64,
    /// Block (frame) size in bytes.
    pub block_size: u32,
    /// The version field.
    pub version: u32,
    /// Left shift of index values (DAX: 0).
    pub index_shift: u8,
    /// DAX: number of non-compressed areas after the size table.
    pub nc_areas: u32,
}

impl CsoHeader {
    /// The variant whose magic starts `head`, if any.
    pub fn sniff(head: &[u8]) -> Option<Variant> {
        let magic = head.get(..4)?;
        if magic == CISO_MAGIC {
            Some(if head.get(20) == Some(&2) {
                Variant::Cso2
            } else {
                Variant::Cso1
            })
        } else if magic == ZISO_MAGIC {
            Some(Variant::Zso)
        } else if magic == DAX_MAGIC {
            Some(Variant::Dax)
        } else {
            None
        }
    }

    /// Parses the header at the start of `head` and checks its fields.
    pub fn parse(head: &[u8]) -> Result<CsoHeader> {
        let variant = Self::sniff(head)
            .ok_or_else(|| Error::corrupt("cso", "header", 0, "no CISO, ZISO or DAX magic"))?;
        let fmt = variant.format();
        let need = if variant == Variant::Dax {
            DAX_HEADER_LEN
        } else {
            CISO_HEADER_LEN
        };
        if head.len() < need {
            return Err(Error::corrupt(
                fmt,
                "header",
                0,
                format!("file of {} bytes is shorter than the header", head.len()),
            ));
        }
        let h = if variant == Variant::Dax {
            CsoHeader {
                variant,
                header_size: DAX_HEADER_LEN as u32,
                uncompressed_size: u64::from(le32(head, 4)),
                block_size: DAX_FRAME_SIZE,
                version: le32(head, 8),
                index_shift: 0,
                nc_areas: le32(head, 12),
            }
        } else {
            CsoHeader {
                variant,
                header_size: le32(head, 4),
                uncompressed_size: le64(head, 8),
                block_size: le32(head, 16),
                version: u32::from(head[20]),
                index_shift: head[21],
                nc_areas: 0,
            }
        };
        h.check()?;
        Ok(h)
    }

    fn check(&self) -> Result<()> {
        let fmt = self.variant.format();
        let max_version = match self.variant {
            Variant::Cso1 | Variant::Cso2 => 2,
            Variant::Zso | Variant::Dax => 1,
        };
        if self.version > max_version {
            return Err(Error::unsupported(
                fmt,
                format!(
                    "{fmt} version {} (known: up to {max_version})",
                    self.version
                ),
            ));
        }
        if !self.block_size.is_power_of_two()
            || !(MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&self.block_size)
        {
            return Err(Error::unsupported(
                fmt,
                format!(
                    "block size {} (supported: a power of two from {MIN_BLOCK_SIZE} to {MAX_BLOCK_SIZE})",
                    self.block_size
                ),
            ));
        }
        if self.index_shift > MAX_INDEX_SHIFT {
            return Err(Error::corrupt(
                fmt,
                "header",
                21,
                format!("index shift {} exceeds {MAX_INDEX_SHIFT}", self.index_shift),
            ));
        }
        Ok(())
    }

    /// Number of blocks (frames) the image is cut into.
    pub fn blocks(&self) -> u64 {
        self.uncompressed_size.div_ceil(u64::from(self.block_size))
    }

    /// Length of the header on disk.
    pub fn len(&self) -> u64 {
        if self.variant == Variant::Dax {
            DAX_HEADER_LEN as u64
        } else {
            CISO_HEADER_LEN as u64
        }
    }

    /// Whether the header is empty (never: kept for the `len` convention).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The header's bytes, as the writer stores them.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(DAX_HEADER_LEN);
        if self.variant == Variant::Dax {
            b.extend_from_slice(DAX_MAGIC);
            b.extend_from_slice(&(self.uncompressed_size as u32).to_le_bytes());
            b.extend_from_slice(&self.version.to_le_bytes());
            b.extend_from_slice(&self.nc_areas.to_le_bytes());
            b.resize(DAX_HEADER_LEN, 0);
        } else {
            b.extend_from_slice(if self.variant == Variant::Zso {
                ZISO_MAGIC
            } else {
                CISO_MAGIC
            });
            b.extend_from_slice(&self.header_size.to_le_bytes());
            b.extend_from_slice(&self.uncompressed_size.to_le_bytes());
            b.extend_from_slice(&self.block_size.to_le_bytes());
            b.push(self.version as u8);
            b.push(self.index_shift);
            b.extend_from_slice(&[0, 0]);
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ciso(version: u8, block: u32, shift: u8) -> Vec<u8> {
        CsoHeader {
            variant: if version == 2 {
                Variant::Cso2
            } else {
                Variant::Cso1
            },
            header_size: 24,
            uncompressed_size: 3 << 20,
            block_size: block,
            version: u32::from(version),
            index_shift: shift,
            nc_areas: 0,
        }
        .to_bytes()
    }

    #[test]
    fn round_trip() {
        let b = ciso(1, 2048, 0);
        assert_eq!(b.len(), CISO_HEADER_LEN);
        let h = CsoHeader::parse(&b).unwrap();
        assert_eq!(h.variant, Variant::Cso1);
        assert_eq!(h.blocks(), 1536);
        assert_eq!(h.to_bytes(), b);
        let d = CsoHeader {
            variant: Variant::Dax,
            header_size: 32,
            uncompressed_size: 8193,
            block_size: DAX_FRAME_SIZE,
            version: 0,
            index_shift: 0,
            nc_areas: 0,
        };
        let p = CsoHeader::parse(&d.to_bytes()).unwrap();
        assert_eq!(p, d);
        assert_eq!(p.blocks(), 2);
    }

    #[test]
    fn hostile_fields() {
        assert!(CsoHeader::parse(&ciso(3, 2048, 0)).is_err());
        assert!(CsoHeader::parse(&ciso(1, 3000, 0)).is_err());
        assert!(CsoHeader::parse(&ciso(1, 0, 0)).is_err());
        assert!(CsoHeader::parse(&ciso(1, 1 << 30, 0)).is_err());
        assert!(CsoHeader::parse(&ciso(1, 2048, 40)).is_err());
        assert!(CsoHeader::parse(&ciso(1, 2048, 0)[..10]).is_err());
        assert!(CsoHeader::parse(b"NOPE").is_err());
    }
}
