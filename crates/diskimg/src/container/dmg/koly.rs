//! The UDIF trailer (`koly` block, Apple's `UDIFResourceFile`): the last 512 bytes of a DMG.
//!
//! All fields are big-endian. Layout (libmodi's "Mac OS disk image types", section "UDIF
//! resource file"):
//!
//! ```text
//!   0  "koly"  4 version (4)  8 header size (512)  12 flags
//!  16 running data fork offset (segments)  24 data fork offset  32 data fork length
//!  40 resource fork offset  48 resource fork length  56 segment number  60 segment count
//!  64 segment id (16)  80 data fork checksum (type, bits, 128 bytes)  216 XML plist offset
//! 224 XML plist length  232 reserved (120)  352 master checksum (type, bits, 128 bytes)
//! 488 image variant  492 sector count  500 reserved (12)
//! ```

use super::FORMAT;
use crate::container::bytes::{be32, be64, id16};
use crate::error::{Error, Result};

/// Signature at byte 0 of the trailer.
pub const KOLY_MAGIC: [u8; 4] = *b"koly";
/// Size of the trailer.
pub const KOLY_LEN: usize = 512;
/// Checksum type of a CRC-32 (the only kind hdiutil writes).
pub const CHECKSUM_CRC32: u32 = 2;
/// `flags` bit: the image is "flattened" (data and metadata in one file).
pub const FLAG_FLATTENED: u32 = 1;

/// A UDIF checksum: `type`, width in bits and up to 128 bytes of value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdifChecksum {
    /// 0 none, 2 CRC-32 (others: MD5, SHA variants, not written by current hdiutil).
    pub kind: u32,
    /// Width of the value in bits.
    pub bits: u32,
    /// The value, big-endian in the first `bits / 8` bytes.
    pub data: [u8; 128],
}

impl UdifChecksum {
    /// No checksum.
    pub const NONE: UdifChecksum = UdifChecksum {
        kind: 0,
        bits: 0,
        data: [0; 128],
    };

    /// A CRC-32 checksum.
    pub fn crc32(value: u32) -> Self {
        let mut data = [0u8; 128];
        data[..4].copy_from_slice(&value.to_be_bytes());
        UdifChecksum {
            kind: CHECKSUM_CRC32,
            bits: 32,
            data,
        }
    }

    /// The CRC-32 value, when this is one.
    pub fn as_crc32(&self) -> Option<u32> {
        (self.kind == CHECKSUM_CRC32 && self.bits == 32).then(|| be32(&self.data, 0))
    }

    /// Parses the 136 bytes at `b[off..]`.
    pub fn parse(b: &[u8], off: usize) -> Self {
        let mut data = [0u8; 128];
        if let Some(s) = b.get(off + 8..off + 136) {
            data.copy_from_slice(s);
        }
        UdifChecksum {
            kind: be32(b, off),
            bits: be32(b, off + 4),
            data,
        }
    }

    /// Writes the 136 bytes at `b[off..]`.
    pub fn write(&self, b: &mut [u8], off: usize) {
        b[off..off + 4].copy_from_slice(&self.kind.to_be_bytes());
        b[off + 4..off + 8].copy_from_slice(&self.bits.to_be_bytes());
        b[off + 8..off + 136].copy_from_slice(&self.data);
    }

    /// Short text for reports: `crc32:1234abcd`, `none`, or the type number.
    pub fn describe(&self) -> String {
        match (self.kind, self.as_crc32()) {
            (0, _) => "none".to_owned(),
            (_, Some(v)) => format!("crc32:{v:08x}"),
            (k, None) => format!("type {k} ({} bits)", self.bits),
        }
    }
}

/// The trailer of a UDIF image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KolyTrailer {
    /// Format version (4).
    pub version: u32,
    /// Size of this structure (512).
    pub header_size: u32,
    /// Flags (bit 0: flattened).
    pub flags: u32,
    /// Where this segment's data fork starts in the data of all segments.
    pub running_data_fork_offset: u64,
    /// Offset of the data fork in this file.
    pub data_fork_offset: u64,
    /// Length of the data fork.
    pub data_fork_length: u64,
    /// Offset of the (binary) resource fork, 0 when there is none.
    pub rsrc_fork_offset: u64,
    /// Length of the resource fork.
    pub rsrc_fork_length: u64,
    /// This segment's number, from 1.
    pub segment_number: u32,
    /// Number of segments (0 or 1 for a single file).
    pub segment_count: u32,
    /// Identifier shared by the segments of one image.
    pub segment_id: [u8; 16],
    /// Checksum of the data fork as stored.
    pub data_checksum: UdifChecksum,
    /// Offset of the XML property list.
    pub xml_offset: u64,
    /// Length of the XML property list.
    pub xml_length: u64,
    /// Checksum of the blkx tables' checksums.
    pub master_checksum: UdifChecksum,
    /// Image variant (1 device image, 2 partition image).
    pub image_variant: u32,
    /// Sectors (512 bytes) of the disk.
    pub sector_count: u64,
}

impl KolyTrailer {
    /// Parses a trailer found at byte `at` of the file.
    pub fn parse(b: &[u8], at: u64) -> Result<Self> {
        if b.len() < KOLY_LEN || b[..4] != KOLY_MAGIC {
            return Err(Error::corrupt(
                FORMAT,
                "koly trailer",
                at,
                "no 'koly' signature",
            ));
        }
        let t = KolyTrailer {
            version: be32(b, 4),
            header_size: be32(b, 8),
            flags: be32(b, 12),
            running_data_fork_offset: be64(b, 16),
            data_fork_offset: be64(b, 24),
            data_fork_length: be64(b, 32),
            rsrc_fork_offset: be64(b, 40),
            rsrc_fork_length: be64(b, 48),
            segment_number: be32(b, 56),
            segment_count: be32(b, 60),
            segment_id: id16(b, 64),
            data_checksum: UdifChecksum::parse(b, 80),
            xml_offset: be64(b, 216),
            xml_length: be64(b, 224),
            master_checksum: UdifChecksum::parse(b, 352),
            image_variant: be32(b, 488),
            sector_count: be64(b, 492),
        };
        if t.version != 4 || t.header_size as usize != KOLY_LEN {
            return Err(Error::unsupported(
                FORMAT,
                format!(
                    "koly trailer version {} with a {}-byte header (only version 4, 512 bytes)",
                    t.version, t.header_size
                ),
            ));
        }
        Ok(t)
    }

    /// The 512 bytes of the trailer.
    pub fn to_bytes(&self) -> [u8; KOLY_LEN] {
        let mut b = [0u8; KOLY_LEN];
        b[..4].copy_from_slice(&KOLY_MAGIC);
        let put32 =
            |b: &mut [u8], off: usize, v: u32| b[off..off + 4].copy_from_slice(&v.to_be_bytes());
        let put64 =
            |b: &mut [u8], off: usize, v: u64| b[off..off + 8].copy_from_slice(&v.to_be_bytes());
        put32(&mut b, 4, self.version);
        put32(&mut b, 8, self.header_size);
        put32(&mut b, 12, self.flags);
        put64(&mut b, 16, self.running_data_fork_offset);
        put64(&mut b, 24, self.data_fork_offset);
        put64(&mut b, 32, self.data_fork_length);
        put64(&mut b, 40, self.rsrc_fork_offset);
        put64(&mut b, 48, self.rsrc_fork_length);
        put32(&mut b, 56, self.segment_number);
        put32(&mut b, 60, self.segment_count);
        b[64..80].copy_from_slice(&self.segment_id);
        self.data_checksum.write(&mut b, 80);
        put64(&mut b, 216, self.xml_offset);
        put64(&mut b, 224, self.xml_length);
        self.master_checksum.write(&mut b, 352);
        put32(&mut b, 488, self.image_variant);
        put64(&mut b, 492, self.sector_count);
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = KolyTrailer {
            version: 4,
            header_size: 512,
            flags: 1,
            running_data_fork_offset: 0,
            data_fork_offset: 0,
            data_fork_length: 1234,
            rsrc_fork_offset: 0,
            rsrc_fork_length: 0,
            segment_number: 1,
            segment_count: 1,
            segment_id: [7; 16],
            data_checksum: UdifChecksum::crc32(0xdead_beef),
            xml_offset: 1234,
            xml_length: 99,
            master_checksum: UdifChecksum::crc32(0x0102_0304),
            image_variant: 1,
            sector_count: 2048,
        };
        let b = t.to_bytes();
        assert_eq!(KolyTrailer::parse(&b, 0).unwrap(), t);
        assert_eq!(t.data_checksum.describe(), "crc32:deadbeef");
        let mut bad = b;
        bad[7] = 3;
        assert_eq!(
            KolyTrailer::parse(&bad, 0).unwrap_err().kind(),
            crate::ErrorKind::Unsupported
        );
        assert!(KolyTrailer::parse(&b[..100], 0).is_err());
    }
}
