//! The file allocation table: reading one entry, and finding the clusters in use.

use super::boot::{FatBootSector, FatType};
use super::chain::Link;
use crate::error::Result;
use crate::io::ReadAt;

/// Bytes of the FAT read at a time when counting used clusters.
const COUNT_CHUNK: u64 = 1 << 20;

/// The FAT in use: its offset, the type of its entries and the clusters it covers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fat {
    pub offset: u64,
    pub fat_type: FatType,
    pub count: u32,
}

impl Fat {
    pub fn new(boot: &FatBootSector, active: u32) -> Self {
        Fat {
            offset: boot.fat_offset + u64::from(active) * boot.fat_size,
            fat_type: boot.fat_type,
            count: boot.heap.count,
        }
    }

    /// The raw entry of `cluster`.
    pub fn entry(&self, src: &dyn ReadAt, cluster: u32) -> Result<u32> {
        let c = u64::from(cluster);
        Ok(match self.fat_type {
            FatType::Fat12 => {
                let mut b = [0u8; 2];
                src.read_exact_at(self.offset + c * 3 / 2, &mut b)?;
                let v = u16::from_le_bytes(b);
                u32::from(if c % 2 == 0 { v & 0xFFF } else { v >> 4 })
            }
            FatType::Fat16 => {
                let mut b = [0u8; 2];
                src.read_exact_at(self.offset + c * 2, &mut b)?;
                u32::from(u16::from_le_bytes(b))
            }
            FatType::Fat32 => {
                let mut b = [0u8; 4];
                src.read_exact_at(self.offset + c * 4, &mut b)?;
                u32::from_le_bytes(b) & 0x0FFF_FFFF
            }
        })
    }

    /// What follows `cluster` in its chain.
    pub fn next(&self, src: &dyn ReadAt, cluster: u32) -> Result<Link> {
        let v = self.entry(src, cluster)?;
        let (bad, end) = match self.fat_type {
            FatType::Fat12 => (0xFF7, 0xFF8),
            FatType::Fat16 => (0xFFF7, 0xFFF8),
            FatType::Fat32 => (0x0FFF_FFF7, 0x0FFF_FFF8),
        };
        Ok(match v {
            0 => Link::Free,
            v if v == bad => Link::Bad,
            v if v >= end => Link::End,
            v => Link::Next(v),
        })
    }

    /// Clusters whose entry is not free, read in bounded chunks.
    pub fn used_clusters(&self, src: &dyn ReadAt) -> Result<u64> {
        let mut used = 0u64;
        self.for_each_used(src, |_| used += 1)?;
        Ok(used)
    }

    /// Calls `f` with every cluster (2 ..= count + 1) whose entry is not free, in order,
    /// reading the FAT in bounded chunks.
    pub fn for_each_used(&self, src: &dyn ReadAt, mut f: impl FnMut(u32)) -> Result<()> {
        let entries = u64::from(self.count) + 2;
        let bytes = match self.fat_type {
            FatType::Fat12 => (entries * 3).div_ceil(2),
            FatType::Fat16 => entries * 2,
            FatType::Fat32 => entries * 4,
        };
        let mut buf = vec![0u8; COUNT_CHUNK as usize];
        if self.fat_type == FatType::Fat12 {
            // At most 6 KiB: decode it whole.
            let b = &mut buf[..bytes as usize];
            src.read_exact_at(self.offset, b)?;
            for c in 2..entries {
                let at = (c * 3 / 2) as usize;
                let v = u16::from_le_bytes([b[at], *b.get(at + 1).unwrap_or(&0)]);
                let v = if c % 2 == 0 { v & 0xFFF } else { v >> 4 };
                if v != 0 {
                    f(c as u32);
                }
            }
            return Ok(());
        }
        let width = if self.fat_type == FatType::Fat16 {
            2
        } else {
            4
        };
        let mut pos = 0u64;
        while pos < bytes {
            let n = (bytes - pos).min(COUNT_CHUNK) as usize;
            src.read_exact_at(self.offset + pos, &mut buf[..n])?;
            for (i, e) in buf[..n].chunks_exact(width).enumerate() {
                let index = pos / width as u64 + i as u64;
                if index < 2 {
                    continue;
                }
                let v = if width == 2 {
                    u32::from(u16::from_le_bytes([e[0], e[1]]))
                } else {
                    u32::from_le_bytes([e[0], e[1], e[2], e[3]]) & 0x0FFF_FFFF
                };
                if v != 0 {
                    f(index as u32);
                }
            }
            pos += n as u64;
        }
        Ok(())
    }
}
