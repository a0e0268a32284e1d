//! The VDI pre-header and header, version 1.1 (VirtualBox `VDICore.h`; qemu `block/vdi.c`).
//!
//! Layout: a 64-byte text banner, the signature `0xBEDA107F`, the version, then the header
//! proper: image type, flags, a description, the offsets of the block map and of the data, the
//! legacy geometry, the disk size, the block size and count, and four UUIDs (this image, its
//! last modification, the parent it links to, the parent's modification). Little-endian.

use crate::container::bytes::{id16, le32, le64};
use crate::error::{Error, Result};

/// Bytes read for the header.
pub const HEADER_LEN: usize = 512;
/// The signature at byte 0x40.
pub const SIGNATURE: u32 = 0xBEDA_107F;
/// Version 1.1, the only one VirtualBox has written since 2008.
pub const VERSION_1_1: u32 = 0x0001_0001;
/// Shortest header that holds every field read here.
const MIN_HEADER_SIZE: u32 = 0x180;
/// Largest block size accepted (VirtualBox writes 1 MiB).
pub const MAX_BLOCK_SIZE: u32 = 256 << 20;
/// Largest per-block extra data accepted.
pub const MAX_BLOCK_EXTRA: u32 = 1 << 20;

/// Image types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageType {
    /// Blocks allocated on write ("normal", dynamic).
    Dynamic,
    /// Every block allocated at creation ("fixed", static).
    Static,
    /// A differencing image over a parent.
    Differencing,
}

impl ImageType {
    /// The name `info` shows.
    pub fn name(self) -> &'static str {
        match self {
            ImageType::Dynamic => "dynamic",
            ImageType::Static => "static",
            ImageType::Differencing => "differencing",
        }
    }
}

/// The fields of a VDI header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VdiHeader {
    /// Header version.
    pub version: u32,
    /// Size of the header proper.
    pub header_size: u32,
    /// Dynamic, static or differencing.
    pub image_type: ImageType,
    /// Image flags.
    pub image_flags: u32,
    /// Free-text description.
    pub description: String,
    /// Absolute offset of the block map.
    pub offset_bmap: u32,
    /// Absolute offset of the first block.
    pub offset_data: u32,
    /// Legacy geometry: cylinders, heads, sectors.
    pub legacy_geometry: (u32, u32, u32),
    /// Sector size (512).
    pub sector_size: u32,
    /// Guest size in bytes.
    pub disk_size: u64,
    /// Guest bytes per block.
    pub block_size: u32,
    /// Bytes stored in front of each block's data.
    pub block_extra: u32,
    /// Entries in the block map.
    pub blocks_in_image: u32,
    /// Blocks allocated in the file.
    pub blocks_allocated: u32,
    /// This image's UUID.
    pub uuid_image: [u8; 16],
    /// UUID of the last modification.
    pub uuid_last_snap: [u8; 16],
    /// The parent image's `uuid_image` (differencing images).
    pub uuid_link: [u8; 16],
    /// The parent's `uuid_last_snap` when the link was made.
    pub uuid_parent: [u8; 16],
}

impl VdiHeader {
    /// Whether `b` starts with a VDI signature.
    pub fn has_signature(b: &[u8]) -> bool {
        le32(b, 0x40) == SIGNATURE
    }

    /// Parses and checks the first [`HEADER_LEN`] bytes of a VDI file.
    pub fn parse(b: &[u8]) -> Result<VdiHeader> {
        let bad = |at: u64, msg: String| Error::corrupt("vdi", "header", at, msg);
        if !Self::has_signature(b) {
            return Err(bad(0x40, "no VDI signature".into()));
        }
        let version = le32(b, 0x44);
        if version >> 16 != 1 {
            return Err(Error::unsupported(
                "vdi",
                format!(
                    "header version {}.{} (only 1.x is read)",
                    version >> 16,
                    version & 0xffff
                ),
            ));
        }
        let header_size = le32(b, 0x48);
        if header_size < MIN_HEADER_SIZE {
            return Err(bad(0x48, format!("header size {header_size} is too small")));
        }
        let image_type = match le32(b, 0x4C) {
            1 => ImageType::Dynamic,
            2 => ImageType::Static,
            4 => ImageType::Differencing,
            3 => return Err(Error::unsupported("vdi", "undo images (type 3)")),
            t => return Err(bad(0x4C, format!("unknown image type {t}"))),
        };
        let desc = &b[0x54..0x154];
        let end = desc.iter().position(|&c| c == 0).unwrap_or(desc.len());
        let h = VdiHeader {
            version,
            header_size,
            image_type,
            image_flags: le32(b, 0x50),
            description: String::from_utf8_lossy(&desc[..end]).into_owned(),
            offset_bmap: le32(b, 0x154),
            offset_data: le32(b, 0x158),
            legacy_geometry: (le32(b, 0x15C), le32(b, 0x160), le32(b, 0x164)),
            sector_size: le32(b, 0x168),
            disk_size: le64(b, 0x170),
            block_size: le32(b, 0x178),
            block_extra: le32(b, 0x17C),
            blocks_in_image: le32(b, 0x180),
            blocks_allocated: le32(b, 0x184),
            uuid_image: id16(b, 0x188),
            uuid_last_snap: id16(b, 0x198),
            uuid_link: id16(b, 0x1A8),
            uuid_parent: id16(b, 0x1B8),
        };
        if h.sector_size != 512 {
            return Err(Error::unsupported(
                "vdi",
                format!("sector size {} (only 512 is used)", h.sector_size),
            ));
        }
        if !h.block_size.is_power_of_two() || !(512..=MAX_BLOCK_SIZE).contains(&h.block_size) {
            return Err(bad(
                0x178,
                format!(
                    "block size {} is not a power of two from 512 to {MAX_BLOCK_SIZE}",
                    h.block_size
                ),
            ));
        }
        if h.block_extra > MAX_BLOCK_EXTRA {
            return Err(bad(
                0x17C,
                format!("block extra data of {} bytes is too large", h.block_extra),
            ));
        }
        let needed = h.disk_size.div_ceil(u64::from(h.block_size));
        if u64::from(h.blocks_in_image) < needed {
            return Err(bad(
                0x180,
                format!(
                    "{} blocks of {} bytes cannot hold a disk of {} bytes",
                    h.blocks_in_image, h.block_size, h.disk_size
                ),
            ));
        }
        Ok(h)
    }
}
