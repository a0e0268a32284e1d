//! The VHD dynamic disk header and its parent locator entries (Virtual Hard Disk Image Format
//! Specification, "Dynamic Disk Header Format").
//!
//! Dynamic and differencing disks carry this 1024-byte header at the footer's `data_offset`. It
//! places the block allocation table and sizes the blocks; a differencing disk also records its
//! parent's unique id, time stamp and name, and up to eight platform-specific locators (a path
//! or URL each) that say where the parent lives.

use crate::container::bytes::{be32, be64, id16, utf16};
use crate::error::{Error, Result};
use crate::io::{ReadAt, read_vec};

/// Size of the dynamic disk header.
pub const HEADER_LEN: u64 = 1024;
/// The header's cookie.
pub const COOKIE: &[u8; 8] = b"cxsparse";
/// Largest block size accepted (the specification's default is 2 MiB).
pub const MAX_BLOCK_SIZE: u32 = 256 << 20;
/// Longest parent locator read.
pub const MAX_LOCATOR_LEN: u64 = 64 * 1024;

/// Parent locator platform codes.
pub mod platform {
    /// No locator.
    pub const NONE: u32 = 0;
    /// Deprecated Windows relative path (narrow characters).
    pub const WI2R: u32 = u32::from_be_bytes(*b"Wi2r");
    /// Deprecated Windows absolute path (narrow characters).
    pub const WI2K: u32 = u32::from_be_bytes(*b"Wi2k");
    /// Windows relative path, UTF-16LE.
    pub const W2RU: u32 = u32::from_be_bytes(*b"W2ru");
    /// Windows absolute path, UTF-16LE.
    pub const W2KU: u32 = u32::from_be_bytes(*b"W2ku");
    /// Mac OS alias (opaque).
    pub const MAC: u32 = u32::from_be_bytes(*b"Mac ");
    /// Mac OS X file URL, UTF-8.
    pub const MACX: u32 = u32::from_be_bytes(*b"MacX");
}

/// One parent locator entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentLocator {
    /// Platform code ([`platform`]).
    pub platform_code: u32,
    /// Space reserved for the locator data (in 512-byte sectors per the specification; some
    /// writers store bytes).
    pub platform_data_space: u32,
    /// Length of the locator data in bytes.
    pub platform_data_length: u32,
    /// Absolute file offset of the locator data.
    pub platform_data_offset: u64,
}

impl ParentLocator {
    /// The platform code as text (`W2ru`).
    pub fn code_name(&self) -> String {
        String::from_utf8_lossy(&self.platform_code.to_be_bytes()).into_owned()
    }

    /// Reads the locator's path or URL; `None` for opaque or empty locators.
    pub fn read_path(&self, file: &dyn ReadAt) -> Result<Option<String>> {
        let wide = match self.platform_code {
            platform::W2RU | platform::W2KU => true,
            platform::WI2R | platform::WI2K | platform::MACX => false,
            _ => return Ok(None),
        };
        if self.platform_data_length == 0 {
            return Ok(None);
        }
        let data = read_vec(
            file,
            self.platform_data_offset,
            u64::from(self.platform_data_length),
            MAX_LOCATOR_LEN,
        )
        .map_err(|e| {
            e.with_format("vhd")
                .with_structure("parent locator")
                .with_offset(self.platform_data_offset)
        })?;
        let text = if wide {
            utf16(&data, false)
        } else {
            let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
            String::from_utf8_lossy(&data[..end]).into_owned()
        };
        Ok(Some(text))
    }
}

/// The dynamic disk header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VhdDynamicHeader {
    /// Next structure (unused, all ones).
    pub data_offset: u64,
    /// Absolute offset of the block allocation table.
    pub table_offset: u64,
    /// Header version, 0x00010000.
    pub header_version: u32,
    /// Entries in the block allocation table.
    pub max_table_entries: u32,
    /// Bytes of guest data per block (a power of two; the sector bitmap is extra).
    pub block_size: u32,
    /// Ones' complement of the byte sum of the header without this field.
    pub checksum: u32,
    /// The parent's footer unique id (differencing disks).
    pub parent_unique_id: [u8; 16],
    /// The parent's modification time, seconds since 2000-01-01 (differencing disks).
    pub parent_time_stamp: u32,
    /// The parent's file name, UTF-16BE (differencing disks).
    pub parent_unicode_name: String,
    /// The eight parent locator entries (empty ones omitted).
    pub parent_locators: Vec<ParentLocator>,
}

/// The header checksum: ones' complement of the byte sum without bytes 36-39.
pub fn checksum(b: &[u8]) -> u32 {
    let sum = b
        .iter()
        .enumerate()
        .filter(|(i, _)| !(36..40).contains(i))
        .fold(0u32, |s, (_, &x)| s.wrapping_add(u32::from(x)));
    !sum
}

impl VhdDynamicHeader {
    /// Reads and checks the header at `offset` of `file`.
    pub fn read(file: &dyn ReadAt, offset: u64) -> Result<VhdDynamicHeader> {
        let b = read_vec(file, offset, HEADER_LEN, HEADER_LEN).map_err(|e| {
            e.with_format("vhd")
                .with_structure("dynamic disk header")
                .with_offset(offset)
        })?;
        let bad = |msg: String| Error::corrupt("vhd", "dynamic disk header", offset, msg);
        if &b[..8] != COOKIE {
            return Err(bad("no \"cxsparse\" cookie".into()));
        }
        let stored = be32(&b, 36);
        let computed = checksum(&b);
        if stored != computed {
            return Err(bad(format!(
                "checksum is {stored:#010x}, the bytes sum to {computed:#010x}"
            )));
        }
        let block_size = be32(&b, 32);
        if !block_size.is_power_of_two() || !(512..=MAX_BLOCK_SIZE).contains(&block_size) {
            return Err(bad(format!(
                "block size {block_size} is not a power of two from 512 to {MAX_BLOCK_SIZE}"
            )));
        }
        let parent_locators = (0..8)
            .map(|i| 576 + i * 24)
            .map(|o| ParentLocator {
                platform_code: be32(&b, o),
                platform_data_space: be32(&b, o + 4),
                platform_data_length: be32(&b, o + 8),
                platform_data_offset: be64(&b, o + 16),
            })
            .filter(|l| l.platform_code != platform::NONE)
            .collect();
        Ok(VhdDynamicHeader {
            data_offset: be64(&b, 8),
            table_offset: be64(&b, 16),
            header_version: be32(&b, 24),
            max_table_entries: be32(&b, 28),
            block_size,
            checksum: stored,
            parent_unique_id: id16(&b, 40),
            parent_time_stamp: be32(&b, 56),
            parent_unicode_name: utf16(&b[64..576], true),
            parent_locators,
        })
    }

    /// The 1024 bytes of this header, its checksum computed (the `checksum` field is ignored;
    /// at most eight locators are written).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = vec![0u8; HEADER_LEN as usize];
        b[..8].copy_from_slice(COOKIE);
        b[8..16].copy_from_slice(&self.data_offset.to_be_bytes());
        b[16..24].copy_from_slice(&self.table_offset.to_be_bytes());
        b[24..28].copy_from_slice(&self.header_version.to_be_bytes());
        b[28..32].copy_from_slice(&self.max_table_entries.to_be_bytes());
        b[32..36].copy_from_slice(&self.block_size.to_be_bytes());
        b[40..56].copy_from_slice(&self.parent_unique_id);
        b[56..60].copy_from_slice(&self.parent_time_stamp.to_be_bytes());
        let name: Vec<u8> = self
            .parent_unicode_name
            .encode_utf16()
            .take(255)
            .flat_map(u16::to_be_bytes)
            .collect();
        b[64..64 + name.len()].copy_from_slice(&name);
        for (i, l) in self.parent_locators.iter().take(8).enumerate() {
            let o = 576 + i * 24;
            b[o..o + 4].copy_from_slice(&l.platform_code.to_be_bytes());
            b[o + 4..o + 8].copy_from_slice(&l.platform_data_space.to_be_bytes());
            b[o + 8..o + 12].copy_from_slice(&l.platform_data_length.to_be_bytes());
            b[o + 16..o + 24].copy_from_slice(&l.platform_data_offset.to_be_bytes());
        }
        let c = checksum(&b);
        b[36..40].copy_from_slice(&c.to_be_bytes());
        b
    }

    /// Bytes of the sector bitmap in front of each block: one bit per sector, padded to a
    /// whole sector.
    pub fn bitmap_size(&self) -> u64 {
        (u64::from(self.block_size) / 512).div_ceil(8).div_ceil(512) * 512
    }
}
