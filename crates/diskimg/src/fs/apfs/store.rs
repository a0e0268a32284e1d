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
        let offset = paddr * self.block_size;
        let len = blocks * self.block_size;
        if offset + len > self.io.size() {
            return Err(Error::corrupt(
                FORMAT,
                what,
                offset,
                format!(
                    "block {paddr} lies past the end of the device ({} bytes): truncated image?",
                    self.io.size()
                ),
            ));
        }
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
