//! Forks (TN1150 `HFSPlusForkData`): a logical size and the extents that hold it, the first
//! eight in the catalog record and the rest in the extents overflow B-tree.

use super::FORMAT;
use crate::error::{Error, Result};
use crate::io::ReadAt;

/// Extents of one fork accepted at most.
pub const MAX_EXTENTS: usize = 1 << 16;

/// A fork's data as a list of device ranges.
#[derive(Debug, Clone, Default)]
pub struct Fork {
    /// Bytes of data.
    pub logical_size: u64,
    /// `(device offset, length)` of each extent, in file order.
    pub extents: Vec<(u64, u64)>,
}

/// The raw `HFSPlusForkData` fields: logical size, total blocks, the eight inline extents.
#[derive(Debug, Clone, Copy, Default)]
pub struct ForkData {
    /// `logicalSize`.
    pub logical_size: u64,
    /// `totalBlocks`.
    pub total_blocks: u32,
    /// `extents`: start block and block count.
    pub extents: [(u32, u32); 8],
}

impl ForkData {
    /// Parses 80 bytes of `HFSPlusForkData`.
    pub fn parse(b: &[u8]) -> Option<Self> {
        let b = b.get(..80)?;
        let be32 = |o: usize| u32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        Some(ForkData {
            logical_size: u64::from_be_bytes(b[0..8].try_into().ok()?),
            total_blocks: be32(12),
            extents: std::array::from_fn(|i| (be32(16 + i * 8), be32(20 + i * 8))),
        })
    }

    /// Blocks held by the inline extents.
    pub fn inline_blocks(&self) -> u64 {
        self.extents.iter().map(|e| u64::from(e.1)).sum()
    }
}

/// Geometry needed to place allocation blocks on the device.
#[derive(Debug, Clone, Copy)]
pub struct Blocks {
    /// Byte offset of the HFS+ volume on the device (non-zero inside an HFS wrapper).
    pub start: u64,
    /// Allocation block size.
    pub size: u64,
    /// Allocation blocks in the volume.
    pub count: u64,
}

impl Fork {
    /// Appends extents given in allocation blocks, checking them against the volume.
    pub fn push_extents(&mut self, blocks: &Blocks, extents: &[(u32, u32)], at: u64) -> Result<()> {
        for &(start, count) in extents {
            if count == 0 {
                continue;
            }
            if u64::from(start) + u64::from(count) > blocks.count {
                return Err(Error::corrupt(
                    FORMAT,
                    "extent",
                    at,
                    format!("extent of {count} blocks at block {start} lies past the volume"),
                ));
            }
            if self.extents.len() >= MAX_EXTENTS {
                return Err(Error::limit(
                    FORMAT,
                    "extent",
                    at,
                    format!("more than {MAX_EXTENTS} extents in one fork"),
                ));
            }
            self.extents.push((
                blocks.start + u64::from(start) * blocks.size,
                u64::from(count) * blocks.size,
            ));
        }
        Ok(())
    }

    /// Bytes the extents hold.
    pub fn allocated(&self) -> u64 {
        self.extents.iter().map(|e| e.1).sum()
    }

    /// Device offset of fork byte `offset`, if allocated.
    pub fn device_offset(&self, offset: u64) -> Option<u64> {
        let mut pos = 0u64;
        for &(dev, len) in &self.extents {
            if offset < pos + len {
                return Some(dev + (offset - pos));
            }
            pos += len;
        }
        None
    }

    /// Reads fork bytes at `offset`; stops at the logical size. Returns the count read.
    pub fn read(&self, dev: &dyn ReadAt, offset: u64, buf: &mut [u8]) -> Result<usize> {
        if offset >= self.logical_size {
            return Ok(0);
        }
        let want =
            usize::try_from(self.logical_size - offset).map_or(buf.len(), |n| n.min(buf.len()));
        let mut done = 0usize;
        let mut pos = 0u64;
        for &(dev_off, len) in &self.extents {
            if done == want {
                break;
            }
            let cur = offset + done as u64;
            if cur >= pos + len {
                pos += len;
                continue;
            }
            let within = cur - pos;
            let n = usize::try_from(len - within).map_or(want - done, |n| n.min(want - done));
            dev.read_exact_at(dev_off + within, &mut buf[done..done + n])?;
            done += n;
            pos += len;
        }
        if done < want {
            return Err(Error::corrupt(
                FORMAT,
                "fork",
                self.extents.first().map_or(0, |e| e.0),
                format!(
                    "fork of {} bytes has only {} bytes of extents",
                    self.logical_size,
                    self.allocated()
                ),
            ));
        }
        Ok(done)
    }

    /// Reads exactly `buf.len()` bytes at `offset`.
    pub fn read_exact(
        &self,
        dev: &dyn ReadAt,
        offset: u64,
        buf: &mut [u8],
        structure: &'static str,
    ) -> Result<()> {
        let n = self.read(dev, offset, buf)?;
        if n < buf.len() {
            return Err(Error::corrupt(
                FORMAT,
                structure,
                self.device_offset(offset).unwrap_or(0),
                format!("read of {} bytes at {offset} runs past the fork", buf.len()),
            ));
        }
        Ok(())
    }
}
