//! The file allocation table of a planned volume, produced piece by piece.
//!
//! Every chain is a run of consecutive clusters and the runs fill the clusters from 2 up, so
//! an entry is the next cluster number, or end-of-chain at the last cluster of each run, and 0
//! past the used clusters. Entry 0 holds the media byte, entry 1 end-of-chain with the
//! "clean" bits set. Only the bytes up to the last used entry are produced; the rest of the
//! FAT is zero (free), which a new file already reads as.

use crate::fs::fat::FatType;

/// A FAT to produce.
pub(crate) struct FatTable<'a> {
    /// Entry width.
    pub fat_type: FatType,
    /// Media descriptor byte.
    pub media: u8,
    /// The last cluster of every chain, ascending.
    pub chain_ends: &'a [u32],
    /// First cluster past the used ones.
    pub next_free: u32,
}

impl FatTable<'_> {
    fn end_of_chain(&self) -> u32 {
        match self.fat_type {
            FatType::Fat12 => 0xFFF,
            FatType::Fat16 => 0xFFFF,
            FatType::Fat32 => 0x0FFF_FFFF,
        }
    }

    /// Bytes of the FAT that hold a non-zero entry.
    pub fn used_len(&self) -> u64 {
        let entries = u64::from(self.next_free);
        match self.fat_type {
            FatType::Fat12 => (entries * 3).div_ceil(2),
            FatType::Fat16 => entries * 2,
            FatType::Fat32 => entries * 4,
        }
    }

    /// The entries from `first` on, one per slot of `out` (`out.len()` entries): entries
    /// past the used clusters are 0.
    fn entries(&self, first: u32, out: &mut [u32]) {
        let eoc = self.end_of_chain();
        let mut ends = self.chain_ends[self.chain_ends.partition_point(|&e| e < first)..]
            .iter()
            .peekable();
        for (i, slot) in out.iter_mut().enumerate() {
            let c = first + i as u32;
            *slot = match c {
                0 => (eoc & !0xFF) | u32::from(self.media),
                1 => eoc,
                c if c >= self.next_free => 0,
                c => {
                    if ends.peek() == Some(&&c) {
                        ends.next();
                        eoc
                    } else {
                        c + 1
                    }
                }
            };
        }
    }

    /// Bytes `offset..offset + len` of the FAT. For FAT16 and FAT32 `offset` must be a
    /// multiple of the entry size; a FAT12 table is small and produced whole (`offset` 0).
    pub fn bytes(&self, offset: u64, len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        match self.fat_type {
            FatType::Fat12 => {
                debug_assert_eq!(offset, 0);
                let count = (len * 2 / 3).min(self.next_free as usize + 1);
                let mut v = vec![0u32; count];
                self.entries(0, &mut v);
                for (c, &e) in v.iter().enumerate() {
                    let at = c * 3 / 2;
                    if at + 1 >= len {
                        break;
                    }
                    if c % 2 == 0 {
                        out[at] = e as u8;
                        out[at + 1] = (out[at + 1] & 0xF0) | ((e >> 8) as u8 & 0x0F);
                    } else {
                        out[at] = (out[at] & 0x0F) | ((e as u8 & 0x0F) << 4);
                        out[at + 1] = (e >> 4) as u8;
                    }
                }
            }
            FatType::Fat16 | FatType::Fat32 => {
                let width = if self.fat_type == FatType::Fat16 {
                    2
                } else {
                    4
                };
                let mut v = vec![0u32; len / width];
                self.entries((offset / width as u64) as u32, &mut v);
                for (chunk, e) in out.chunks_exact_mut(width).zip(v) {
                    chunk.copy_from_slice(&e.to_le_bytes()[..width]);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_become_chains() {
        // Runs 2..=3, 4..=4, 5..=7.
        let t = FatTable {
            fat_type: FatType::Fat16,
            media: 0xF8,
            chain_ends: &[3, 4, 7],
            next_free: 8,
        };
        let b = t.bytes(0, 20);
        let e: Vec<u16> = b
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(e, [0xFFF8, 0xFFFF, 3, 0xFFFF, 0xFFFF, 6, 7, 0xFFFF, 0, 0]);
        assert_eq!(t.used_len(), 16);
        // A chunk from the middle agrees.
        let mid = t.bytes(8, 8);
        assert_eq!(mid, b[8..16]);
    }

    #[test]
    fn fat12_packs_two_entries_in_three_bytes() {
        let t = FatTable {
            fat_type: FatType::Fat12,
            media: 0xF0,
            chain_ends: &[3, 4],
            next_free: 5,
        };
        let b = t.bytes(0, 9);
        // Entries: FF0 FFF 003 FFF FFF 000
        assert_eq!(b, [0xF0, 0xFF, 0xFF, 0x03, 0xF0, 0xFF, 0xFF, 0x0F, 0x00]);
    }

    #[test]
    fn fat32_entries_keep_the_top_bits_clear() {
        let t = FatTable {
            fat_type: FatType::Fat32,
            media: 0xF8,
            chain_ends: &[2],
            next_free: 3,
        };
        let b = t.bytes(0, 16);
        assert_eq!(&b[..4], &[0xF8, 0xFF, 0xFF, 0x0F]);
        assert_eq!(&b[8..12], &[0xFF, 0xFF, 0xFF, 0x0F]);
        assert_eq!(&b[12..16], &[0, 0, 0, 0]);
    }
}
