//! The allocation map of an ext2/3/4 volume (`diskimg image --used-only`), from the block
//! bitmaps of its groups (ext4 disk layout: "Block and inode bitmaps", "Flexible block groups",
//! "Meta block groups", "Lazy block group initialization").
//!
//! Used: the boot block and primary superblock; in every group the blocks its block bitmap marks
//! (which cover the superblock backups, the group descriptors and reserved GDT blocks, the
//! bitmaps and inode tables, the journal); the bitmaps and inode table every descriptor names,
//! wherever flex_bg placed them; for a group whose bitmap was never initialised (`BLOCK_UNINIT`,
//! lazy init) the metadata the kernel would mark in it (superblock backup, group descriptors,
//! reserved GDT blocks, meta_bg descriptor copies); and whatever follows the volume on the
//! device. Not supported: bigalloc (bitmaps of clusters), which offers no map.

use super::group::{self, BLOCK_UNINIT};
use super::superblock::{incompat, ro_compat};
use super::{Ext4Fs, FORMAT};
use crate::error::{Error, Result};
use crate::fs::used::RangeSet;
use crate::io::ReadAt;

impl Ext4Fs {
    /// Whether the volume's bitmaps count blocks (not bigalloc clusters).
    pub(super) fn has_block_bitmaps(&self) -> bool {
        !self.sb.has_ro_compat(ro_compat::BIGALLOC)
    }
}

impl crate::fs::AllocationMap for Ext4Fs {
    fn allocated_ranges(&self) -> Result<Vec<(u64, u64)>> {
        let sb = &self.sb;
        let bs = sb.block_size;
        let per_group = u64::from(sb.blocks_per_group);
        if per_group > bs * 8 {
            return Err(Error::corrupt(
                FORMAT,
                "superblock",
                super::superblock::SUPERBLOCK_OFFSET,
                format!("{per_group} blocks per group do not fit a bitmap block"),
            ));
        }
        let dev_size = self.dev.size();
        let first = u64::from(sb.first_data_block);
        let groups = (sb.blocks_count - first).div_ceil(per_group);
        let lazy = sb.has_ro_compat(ro_compat::GDT_CSUM) || sb.csum_seed.is_some();
        let table_blocks = (u64::from(sb.inodes_per_group) * u64::from(sb.inode_size)).div_ceil(bs);
        let mut used = RangeSet::with_gap(crate::fs::used::MERGE_GAP);
        used.add(0, (first + 1) * bs);
        let mut bitmap = vec![0u8; bs as usize];
        for g in 0..groups {
            let start = first + g * per_group;
            if start.saturating_mul(bs) >= dev_size {
                break;
            }
            let blocks = per_group.min(sb.blocks_count - start);
            let d = group::descriptor(&self.meta, sb, g)?;
            for (what, block) in [
                ("block bitmap", d.block_bitmap),
                ("inode bitmap", d.inode_bitmap),
            ] {
                if block == 0 || block >= sb.blocks_count {
                    return Err(Error::corrupt(
                        FORMAT,
                        "group descriptor",
                        group::descriptor_offset(sb, g),
                        format!("{what} of group {g} at block {block} lies outside the volume"),
                    ));
                }
            }
            used.add(d.block_bitmap * bs, bs);
            used.add(d.inode_bitmap * bs, bs);
            used.add(d.inode_table * bs, table_blocks * bs);
            if lazy && d.flags & BLOCK_UNINIT != 0 {
                used.add(start * bs, base_metadata(self, g) * bs);
                continue;
            }
            self.dev
                .read_exact_at(d.block_bitmap * bs, &mut bitmap)
                .map_err(|e| e.with_format(FORMAT).with_structure("block bitmap"))?;
            for (k, &byte) in bitmap[..blocks.div_ceil(8) as usize].iter().enumerate() {
                let b0 = k as u64 * 8;
                if byte == 0 {
                    continue;
                }
                if byte == 0xFF && b0 + 8 <= blocks {
                    used.add((start + b0) * bs, 8 * bs);
                    continue;
                }
                for i in 0..8u64 {
                    let b = b0 + i;
                    if byte & (1 << i) != 0 && b < blocks {
                        used.add((start + b) * bs, bs);
                    }
                }
            }
        }
        let end = sb.blocks_count.saturating_mul(bs);
        used.add(end, dev_size.saturating_sub(end));
        Ok(used.into_vec())
    }
}

/// Blocks at the start of group `g` that hold a superblock backup and group descriptors (and
/// the GDT blocks reserved for growth), as the kernel counts them for an uninitialised bitmap.
fn base_metadata(fs: &Ext4Fs, g: u64) -> u64 {
    let sb = &fs.sb;
    let per_block = sb.block_size / u64::from(sb.desc_size);
    let meta_group = g / per_block;
    let meta_bg = sb.has_incompat(incompat::META_BG);
    let mut n = 0;
    if group::has_superblock(sb, g) {
        n += 1;
        if !meta_bg {
            let first = u64::from(sb.first_data_block);
            let groups = (sb.blocks_count - first).div_ceil(u64::from(sb.blocks_per_group));
            n += groups.div_ceil(per_block) + u64::from(sb.reserved_gdt_blocks);
        } else if meta_group < u64::from(sb.first_meta_bg) {
            n += u64::from(sb.first_meta_bg) + u64::from(sb.reserved_gdt_blocks);
        }
    }
    if meta_bg && meta_group >= u64::from(sb.first_meta_bg) {
        let i = g % per_block;
        if i == 0 || i == 1 || i == per_block - 1 {
            n += 1;
        }
    }
    n
}
