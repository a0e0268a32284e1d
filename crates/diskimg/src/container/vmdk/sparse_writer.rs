//! Writing one hosted sparse extent (VMware "Virtual Disk Format 1.1", "Hosted Sparse
//! Extents"), as monolithicSparse and twoGbMaxExtentSparse disks hold them.
//!
//! ```text
//! sector 0        header (written last)
//! 1..21           embedded descriptor (monolithicSparse only; 20 sectors, room to edit it)
//! then            redundant grain directory, its grain tables; grain directory, its grain
//!                 tables (every table has its place, as VMware preallocates them); padding to
//!                 a whole grain: the overhead
//! then            grains, appended in guest order
//! ```
//!
//! A grain table is written (to both places) as soon as the emission has passed the range it
//! maps; a table with no grain is never written, so it stays a hole of the host file that
//! reads as zeros (no grain allocated). Grains are 64 KiB, 512 entries per table, as VMware and
//! qemu make them.

use super::sparse::{SparseExtentHeader, flags};
use crate::error::{Error, Result};
use crate::io::WriteAt;
use std::sync::Arc;

/// Sectors per grain.
pub const GRAIN_SECTORS: u64 = 128;
/// Bytes per grain.
pub const GRAIN_BYTES: u64 = GRAIN_SECTORS * 512;
/// Entries per grain table.
pub const GTES_PER_GT: u64 = 512;
/// Sectors reserved for an embedded descriptor.
pub const DESCRIPTOR_SECTORS: u64 = 20;
/// Sectors of one grain table.
const GT_SECTORS: u64 = GTES_PER_GT * 4 / 512;

fn bad(msg: impl Into<String>) -> Error {
    Error::invalid_input(msg).with_format("vmdk")
}

/// One hosted sparse extent being written.
pub(crate) struct SparseWriter {
    sink: Arc<dyn WriteAt>,
    header: SparseExtentHeader,
    /// Grain tables in the extent.
    tables: u64,
    /// Sector of the first grain table of each directory (redundant, primary).
    gt_base: [u64; 2],
    /// The grain table being filled: its index and entries.
    gt: Option<(u64, Vec<u32>)>,
    /// Next free byte.
    end: u64,
    descriptor: Option<Vec<u8>>,
}

impl SparseWriter {
    /// An extent of `sectors` guest sectors in `sink`, with `descriptor` embedded when given.
    pub(crate) fn new(
        sink: Arc<dyn WriteAt>,
        sectors: u64,
        descriptor: Option<Vec<u8>>,
    ) -> Result<Self> {
        let tables = sectors.div_ceil(GRAIN_SECTORS * GTES_PER_GT);
        let gd_sectors = (tables * 4).div_ceil(512);
        let (desc_offset, desc_sectors) = match &descriptor {
            Some(d) if d.len() as u64 > DESCRIPTOR_SECTORS * 512 => {
                return Err(bad("the descriptor does not fit its 20 sectors"));
            }
            Some(_) => (1, DESCRIPTOR_SECTORS),
            None => (0, 0),
        };
        let rgd = 1 + desc_sectors;
        let gd = rgd + gd_sectors + tables * GT_SECTORS;
        let overhead = (gd + gd_sectors + tables * GT_SECTORS).next_multiple_of(GRAIN_SECTORS);
        let header = SparseExtentHeader {
            version: 1,
            flags: flags::VALID_NEWLINE | flags::REDUNDANT_GT,
            capacity: sectors,
            grain_size: GRAIN_SECTORS,
            descriptor_offset: desc_offset,
            descriptor_size: desc_sectors,
            num_gtes_per_gt: GTES_PER_GT as u32,
            rgd_offset: rgd,
            gd_offset: gd,
            overhead,
            unclean_shutdown: false,
            compress_algorithm: 0,
        };
        Ok(SparseWriter {
            sink,
            header,
            tables,
            gt_base: [rgd + gd_sectors, gd + gd_sectors],
            gt: None,
            end: overhead * 512,
            descriptor,
        })
    }

    /// Writes the grain table being filled, if it maps any grain.
    fn close_gt(&mut self) -> Result<()> {
        if let Some((i, entries)) = self.gt.take() {
            if entries.iter().any(|&e| e != 0) {
                let bytes: Vec<u8> = entries.iter().flat_map(|e| e.to_le_bytes()).collect();
                for base in self.gt_base {
                    self.sink.write_at((base + i * GT_SECTORS) * 512, &bytes)?;
                }
            }
        }
        Ok(())
    }

    /// The entries of grain table `table`, made current.
    fn gt(&mut self, table: u64) -> Result<&mut Vec<u32>> {
        if self.gt.as_ref().is_some_and(|(i, _)| *i != table) {
            if self.gt.as_ref().is_some_and(|(i, _)| *i > table) {
                return Err(bad("grains arrived out of order"));
            }
            self.close_gt()?;
        }
        let (_, e) = self
            .gt
            .get_or_insert_with(|| (table, vec![0; GTES_PER_GT as usize]));
        Ok(e)
    }

    /// Stores grains `first, first + 1, ...` (of this extent) holding `data` (whole grains).
    pub(crate) fn write_grains(&mut self, first: u64, data: &[u8]) -> Result<()> {
        let count = data.len() as u64 / GRAIN_BYTES;
        let grains = self.header.capacity.div_ceil(GRAIN_SECTORS);
        if first.checked_add(count).is_none_or(|e| e > grains) {
            return Err(bad(format!("grain {first} is past the end of the extent")));
        }
        let at = self.end;
        self.sink
            .write_at(at, &data[..(count * GRAIN_BYTES) as usize])?;
        self.end += count * GRAIN_BYTES;
        for k in 0..count {
            let sector = u32::try_from(at / 512 + k * GRAIN_SECTORS)
                .map_err(|_| bad("the extent grew past what a grain table entry can address"))?;
            let g = first + k;
            let entries = self.gt(g / GTES_PER_GT)?;
            entries[(g % GTES_PER_GT) as usize] = sector;
        }
        Ok(())
    }

    /// Writes the tables, the directories, the descriptor and the header.
    pub(crate) fn finish(mut self) -> Result<()> {
        self.close_gt()?;
        let gd_bytes = (self.tables * 4).next_multiple_of(512) as usize;
        for (dir, base) in [self.header.rgd_offset, self.header.gd_offset]
            .into_iter()
            .zip(self.gt_base)
        {
            let mut gd = Vec::with_capacity(gd_bytes);
            for i in 0..self.tables {
                let sector = u32::try_from(base + i * GT_SECTORS)
                    .map_err(|_| bad("grain tables lie past what a directory can address"))?;
                gd.extend_from_slice(&sector.to_le_bytes());
            }
            gd.resize(gd_bytes, 0);
            self.sink.write_at(dir * 512, &gd)?;
        }
        if let Some(d) = &self.descriptor {
            let mut padded = d.clone();
            padded.resize((DESCRIPTOR_SECTORS * 512) as usize, 0);
            self.sink.write_at(512, &padded)?;
        }
        self.sink.write_at(0, &self.header.to_bytes())?;
        self.sink.set_size(self.end)
    }
}
