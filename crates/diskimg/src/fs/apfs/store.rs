//! Block and object reads of one APFS container: every object read is bounds-checked against
//! the container and the device, and its checksum verified.

use super::FORMAT;
use super::object::{self, ObjPhys};
use crate::device::DeviceRef;
use crate::error::{Error, Result};
use crate::io::{BlockCache, ReadAt};

/// Bytes of metadata blocks cached.
const META_CACHE: u64 = 16 * 1024 * 1024;

/// The container's blocks.
pub struct Store {
    io: BlockCache<DeviceRef>,
    block_size: u64,
    block_count: u64,
}

impl Store {
    /// Blocks of `block_size` bytes on `dev`, `block_count` of them.
    pub fn new(dev: DeviceRef, block_size: u64, block_count: u64) -> Store {
        Store {
            io: BlockCache::new(dev, block_size as u32, META_CACHE),
            block_size,
            block_count,
        }
    }

    /// Size of a block in bytes.
    pub fn block_size(&self) -> u64 {
        self.block_size
    }

    /// The device, through the metadata cache.
    pub fn io(&self) -> &BlockCache<DeviceRef> {
        &self.io
    }

    /// Device byte offset of block `paddr`, checked against the container and the device.
    pub fn offset_of(&self, paddr: u64, blocks: u64, what: &'static str) -> Result<u64> {
        let end = paddr.checked_add(blocks);
        if end.is_none_or(|e| e > self.block_count) {
            return Err(Error::corrupt(
                FORMAT,
                what,
                0,
                format!(
                    "block {paddr} (+{blocks}) lies outside the container ({} blocks)",
                    self.block_count
                ),
            ));
        }
        let offset = paddr.checked_mul(self.block_size);
        let end = end
            .and_then(|e| e.checked_mul(self.block_size))
            .filter(|&e| e <= self.io.size());
        let (Some(offset), Some(_)) = (offset, end) else {
            return Err(Error::corrupt(
                FORMAT,
                what,
                offset.unwrap_or(u64::MAX),
                format!(
                    "block {paddr} lies past the end of the device ({} bytes): truncated image?",
                    self.io.size()
                ),
            ));
        };
        Ok(offset)
    }

    /// Reads block `paddr` without checking it.
    pub fn read_block(&self, paddr: u64, what: &'static str) -> Result<(Vec<u8>, u64)> {
        let offset = self.offset_of(paddr, 1, what)?;
        let mut buf = vec![0u8; self.block_size as usize];
        self.io.read_exact_at(offset, &mut buf)?;
        Ok((buf, offset))
    }

    /// Reads the object at block `paddr` and verifies its checksum.
    pub fn read_object(&self, paddr: u64, what: &'static str) -> Result<(ObjPhys, Vec<u8>, u64)> {
        let (buf, offset) = self.read_block(paddr, what)?;
        let o = object::verify(&buf, offset, what, None)?;
        Ok((o, buf, offset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::MemorySource;
    use std::sync::Arc;

    #[test]
    fn addresses_past_the_device_or_near_u64_max_are_errors() {
        // A block count claimed by a hostile superblock (fuzz finding: the byte offset of a
        // block overflowed).
        let dev: DeviceRef = Arc::new(MemorySource::new(vec![0u8; 8192]));
        let s = Store::new(dev, 4096, u64::MAX);
        assert_eq!(s.offset_of(1, 1, "test").unwrap(), 4096);
        assert!(s.offset_of(2, 1, "test").is_err());
        assert!(s.offset_of(u64::MAX / 2, 1, "test").is_err());
        assert!(s.offset_of(u64::MAX, 1, "test").is_err());
        assert!(s.offset_of(1, u64::MAX, "test").is_err());
    }
}
