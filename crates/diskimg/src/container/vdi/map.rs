//! The VDI block map: one little-endian `u32` per guest block, the index of the block in the
//! data area, or `0xFFFFFFFF` (not allocated: the parent's data, or zeros) or `0xFFFFFFFE`
//! (reads as zeros, whatever the parent holds).

use crate::container::mapped::{BlockMap, Run};
use crate::device::{BlockDevice, DeviceRef};
use crate::error::{Error, Result};

/// Block map entry of a block that is not allocated.
pub const BLOCK_FREE: u32 = 0xFFFF_FFFF;
/// Block map entry of a block that reads as zeros.
pub const BLOCK_ZERO: u32 = 0xFFFF_FFFE;

/// Block lookup for one VDI file.
pub(crate) struct VdiMap {
    pub(crate) file: DeviceRef,
    pub(crate) size: u64,
    pub(crate) block_size: u64,
    pub(crate) block_extra: u64,
    pub(crate) offset_data: u64,
    pub(crate) bmap: Vec<u32>,
    /// Static images report host holes as zeros; dynamic ones report allocated blocks as data.
    pub(crate) flat: bool,
}

impl VdiMap {
    /// Blocks allocated in the file.
    pub(crate) fn allocated_blocks(&self) -> u64 {
        self.bmap.iter().filter(|&&e| e < BLOCK_ZERO).count() as u64
    }
}

impl BlockMap for VdiMap {
    fn size(&self) -> u64 {
        self.size
    }

    fn lookup(&self, offset: u64, max_len: u64) -> Result<(Run, u64)> {
        let block = offset / self.block_size;
        let within = offset % self.block_size;
        let len = max_len
            .min(self.size - offset)
            .min(self.block_size - within);
        let entry = *self.bmap.get(block as usize).ok_or_else(|| {
            Error::corrupt(
                "vdi",
                "block map",
                0,
                format!("block {block} beyond the map"),
            )
        })?;
        let run = match entry {
            BLOCK_FREE | BLOCK_ZERO => {
                // Runs of free (or zero) blocks in one step.
                let max_len = max_len.min(self.size - offset);
                let mut len = len;
                let mut next = block + 1;
                while len < max_len && self.bmap.get(next as usize) == Some(&entry) {
                    len = (len + self.block_size).min(max_len);
                    next += 1;
                }
                let run = if entry == BLOCK_FREE {
                    Run::Absent
                } else {
                    Run::Zero
                };
                return Ok((run, len));
            }
            index => {
                let offset = self.offset_data
                    + u64::from(index) * (self.block_extra + self.block_size)
                    + self.block_extra
                    + within;
                if self.flat {
                    Run::Flat { source: 0, offset }
                } else {
                    Run::Stored { source: 0, offset }
                }
            }
        };
        Ok((run, len))
    }

    fn source(&self, _index: usize) -> &dyn BlockDevice {
        self.file.as_ref()
    }
}
