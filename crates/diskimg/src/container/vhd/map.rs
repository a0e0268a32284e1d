//! Where each guest byte of a VHD lives: the data area of a fixed disk, or the block allocation
//! table (BAT) and per-block sector bitmaps of dynamic and differencing disks.
//!
//! A BAT entry is the 512-byte sector where a block starts, or `0xFFFFFFFF` when the block is
//! not allocated. An allocated block is its sector bitmap (one bit per sector, most significant
//! bit first, padded to a whole sector) followed by the block's data. In a differencing disk a
//! clear bit means "read the parent"; in a dynamic disk the bitmap is ignored and the whole
//! allocated block is read, as Windows and qemu do.

use crate::container::mapped::{BlockMap, Run};
use crate::device::{BlockDevice, DeviceRef};
use crate::error::{Error, Result};
use crate::io::{BlockCache, ReadAt};

/// A BAT entry for a block that is not allocated.
pub const BAT_UNUSED: u32 = u32::MAX;

/// Block lookup for one VHD file.
pub(crate) struct VhdMap {
    file: DeviceRef,
    size: u64,
    layout: Layout,
}

pub(crate) enum Layout {
    /// The guest bytes are the file's first `size` bytes.
    Fixed,
    /// Blocks through a BAT.
    Sparse(Sparse),
}

pub(crate) struct Sparse {
    pub(crate) block_size: u64,
    pub(crate) bitmap_size: u64,
    pub(crate) bat: Vec<u32>,
    pub(crate) differencing: bool,
    /// Cache for sector bitmaps.
    pub(crate) meta: BlockCache<DeviceRef>,
}

impl VhdMap {
    pub(crate) fn new(file: DeviceRef, size: u64, layout: Layout) -> Self {
        VhdMap { file, size, layout }
    }

    /// Allocated blocks, and the bytes of guest data they hold.
    pub(crate) fn allocated(&self) -> (u64, u64) {
        match &self.layout {
            Layout::Fixed => (0, self.size),
            Layout::Sparse(s) => {
                let n = s.bat.iter().filter(|&&e| e != BAT_UNUSED).count() as u64;
                (n, n * s.block_size)
            }
        }
    }
}

impl Sparse {
    /// Whether sectors from `first` on are present in this file, and how many share that state
    /// (at most `count`).
    fn bitmap_run(&self, block_start: u64, first: u64, count: u64) -> Result<(bool, u64)> {
        let lo = first / 8;
        let hi = (first + count).div_ceil(8);
        let mut bits = vec![0u8; (hi - lo) as usize];
        self.meta
            .read_exact_at(block_start + lo, &mut bits)
            .map_err(|e| {
                e.with_format("vhd")
                    .with_structure("sector bitmap")
                    .with_offset(block_start)
            })?;
        let bit = |s: u64| bits[(s / 8 - lo) as usize] & (0x80 >> (s % 8)) != 0;
        let state = bit(first);
        let mut n = 1;
        while n < count && bit(first + n) == state {
            n += 1;
        }
        Ok((state, n))
    }
}

impl BlockMap for VhdMap {
    fn size(&self) -> u64 {
        self.size
    }

    fn lookup(&self, offset: u64, max_len: u64) -> Result<(Run, u64)> {
        let max_len = max_len.min(self.size - offset);
        let s = match &self.layout {
            Layout::Fixed => return Ok((Run::Flat { source: 0, offset }, max_len)),
            Layout::Sparse(s) => s,
        };
        let block = offset / s.block_size;
        let within = offset % s.block_size;
        let len = max_len.min(s.block_size - within);
        let entry = *s.bat.get(block as usize).ok_or_else(|| {
            Error::corrupt("vhd", "block allocation table", 0, "block beyond the table")
        })?;
        if entry == BAT_UNUSED {
            // Runs of unallocated blocks in one step.
            let mut len = len;
            let mut next = block + 1;
            while len < max_len && s.bat.get(next as usize) == Some(&BAT_UNUSED) {
                len = (len + s.block_size).min(max_len);
                next += 1;
            }
            return Ok((Run::Absent, len));
        }
        let start = u64::from(entry) * 512;
        let data = start + s.bitmap_size + within;
        if !s.differencing {
            return Ok((
                Run::Stored {
                    source: 0,
                    offset: data,
                },
                len,
            ));
        }
        let first = within / 512;
        let last = (within + len).div_ceil(512);
        let (present, sectors) = s.bitmap_run(start, first, last - first)?;
        let len = len.min((first + sectors) * 512 - within);
        let run = if present {
            Run::Stored {
                source: 0,
                offset: data,
            }
        } else {
            Run::Absent
        };
        Ok((run, len))
    }

    fn source(&self, _index: usize) -> &dyn BlockDevice {
        self.file.as_ref()
    }
}
