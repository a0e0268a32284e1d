//! The VHDX block allocation table ([MS-VHDX] 2.5) as a block map.
//!
//! Each 64-bit entry holds a state (bits 0-2) and a file offset in MiB (bits 20-63). Payload
//! entries and sector bitmap entries interleave: after every `chunk_ratio` payload entries comes
//! one sector bitmap entry, where `chunk_ratio = 2^23 * logical_sector_size / block_size`. A
//! sector bitmap block (1 MiB) has one bit per logical sector of its chunk, least significant
//! bit first; a set bit means the sector is in this file, a clear one that it comes from the
//! parent (differencing disks, `PAYLOAD_BLOCK_PARTIALLY_PRESENT` blocks).

use crate::container::mapped::{BlockMap, Run};
use crate::device::{BlockDevice, DeviceRef};
use crate::error::{Error, Result};
use crate::io::{BlockCache, ReadAt};

/// Payload and sector bitmap block states.
pub mod state {
    /// Not allocated (the parent's data, or zeros).
    pub const NOT_PRESENT: u64 = 0;
    /// Contents undefined (read as zeros).
    pub const UNDEFINED: u64 = 1;
    /// Reads as zeros.
    pub const ZERO: u64 = 2;
    /// Trimmed by the guest (read as zeros).
    pub const UNMAPPED: u64 = 3;
    /// All sectors are in this file.
    pub const FULLY_PRESENT: u64 = 6;
    /// Sectors are in this file or the parent, as the sector bitmap says.
    pub const PARTIALLY_PRESENT: u64 = 7;
    /// Sector bitmap block present.
    pub const SB_PRESENT: u64 = 6;
}

/// Bytes of a sector bitmap block.
const SECTOR_BITMAP_BLOCK: u64 = 1 << 20;

/// The block map of one VHDX file.
pub(crate) struct VhdxMap {
    /// The file, as the log left it.
    pub(crate) file: DeviceRef,
    pub(crate) size: u64,
    pub(crate) block_size: u64,
    pub(crate) logical_sector_size: u64,
    pub(crate) chunk_ratio: u64,
    pub(crate) bat: Vec<u64>,
    pub(crate) meta: BlockCache<DeviceRef>,
}

/// Number of BAT entries for a disk: payload blocks plus interleaved sector bitmap entries.
pub fn bat_entries(size: u64, block_size: u64, chunk_ratio: u64, has_parent: bool) -> u64 {
    let blocks = size.div_ceil(block_size);
    if has_parent {
        blocks.div_ceil(chunk_ratio) * (chunk_ratio + 1)
    } else if blocks == 0 {
        0
    } else {
        blocks + (blocks - 1) / chunk_ratio
    }
}

impl VhdxMap {
    fn entry(&self, index: u64) -> Result<u64> {
        self.bat.get(index as usize).copied().ok_or_else(|| {
            Error::corrupt(
                "vhdx",
                "block allocation table",
                0,
                format!("entry {index} beyond the table"),
            )
        })
    }

    /// Payload blocks in each state: (fully present, partially present, zero or unmapped).
    pub(crate) fn counts(&self) -> (u64, u64, u64) {
        let blocks = self.size.div_ceil(self.block_size);
        let mut c = (0, 0, 0);
        for b in 0..blocks {
            match self.entry(b + b / self.chunk_ratio).map(|e| e & 7) {
                Ok(state::FULLY_PRESENT) => c.0 += 1,
                Ok(state::PARTIALLY_PRESENT) => c.1 += 1,
                Ok(state::ZERO | state::UNMAPPED) => c.2 += 1,
                _ => {}
            }
        }
        c
    }

    /// Presence of the sectors from guest byte `offset` on (at most `len` bytes) in this file,
    /// and how many bytes share it.
    fn bitmap_run(&self, offset: u64, len: u64) -> Result<(bool, u64)> {
        let lss = self.logical_sector_size;
        let chunk_bytes = self.chunk_ratio * self.block_size;
        let chunk = offset / chunk_bytes;
        let sb = self.entry(chunk * (self.chunk_ratio + 1) + self.chunk_ratio)?;
        if sb & 7 != state::SB_PRESENT {
            return Err(Error::corrupt(
                "vhdx",
                "block allocation table",
                0,
                format!("chunk {chunk} has partially present blocks but no sector bitmap"),
            ));
        }
        let bitmap = (sb >> 20) << 20;
        let first = (offset % chunk_bytes) / lss;
        let count = (offset % lss + len).div_ceil(lss);
        let lo = first / 8;
        let hi = (first + count).div_ceil(8);
        if bitmap + SECTOR_BITMAP_BLOCK > self.file.size() {
            return Err(Error::corrupt(
                "vhdx",
                "sector bitmap",
                bitmap,
                "the sector bitmap block lies outside the file",
            ));
        }
        let mut bits = vec![0u8; (hi - lo) as usize];
        self.meta.read_exact_at(bitmap + lo, &mut bits)?;
        let bit = |s: u64| bits[(s / 8 - lo) as usize] & (1 << (s % 8)) != 0;
        let present = bit(first);
        let mut n = 1;
        while n < count && bit(first + n) == present {
            n += 1;
        }
        let bytes = ((first + n) * lss).saturating_sub(offset % chunk_bytes);
        Ok((present, bytes.min(len)))
    }
}

impl BlockMap for VhdxMap {
    fn size(&self) -> u64 {
        self.size
    }

    fn lookup(&self, offset: u64, max_len: u64) -> Result<(Run, u64)> {
        let block = offset / self.block_size;
        let within = offset % self.block_size;
        let len = max_len
            .min(self.size - offset)
            .min(self.block_size - within);
        let entry = self.entry(block + block / self.chunk_ratio)?;
        let file_offset = (entry >> 20) << 20;
        let run = match entry & 7 {
            state::NOT_PRESENT | state::UNDEFINED => Run::Absent,
            state::ZERO | state::UNMAPPED => Run::Zero,
            state::FULLY_PRESENT => Run::Stored {
                source: 0,
                offset: file_offset + within,
            },
            state::PARTIALLY_PRESENT => {
                let (present, n) = self.bitmap_run(offset, len)?;
                let run = if present {
                    Run::Stored {
                        source: 0,
                        offset: file_offset + within,
                    }
                } else {
                    Run::Absent
                };
                return Ok((run, n.max(1)));
            }
            s => {
                return Err(Error::corrupt(
                    "vhdx",
                    "block allocation table",
                    0,
                    format!("payload block {block} has the reserved state {s}"),
                ));
            }
        };
        Ok((run, len))
    }

    fn source(&self, _index: usize) -> &dyn BlockDevice {
        self.file.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_counts_follow_the_specification() {
        // 1 MiB blocks, 512-byte sectors: 4096 blocks per chunk.
        assert_eq!(bat_entries(16 << 20, 1 << 20, 4096, false), 16);
        assert_eq!(bat_entries(5 << 30, 1 << 20, 4096, false), 5120 + 1);
        assert_eq!(bat_entries(16 << 20, 1 << 20, 4096, true), 4097);
    }
}
