//! Block group descriptors: where each group's bitmaps and inode table lie.

use super::superblock::{Superblock, incompat, ro_compat};
use super::{FORMAT, csum};
use crate::error::{Error, Result};
use crate::io::ReadAt;

/// Byte offset of group `g`'s descriptor.
pub(crate) fn descriptor_offset(sb: &Superblock, g: u64) -> u64 {
    let bs = sb.block_size;
    let per_block = bs / u64::from(sb.desc_size);
    let first_block = u64::from(sb.first_data_block) + 1;
    let meta_group = g / per_block;
    let block = if sb.has_incompat(incompat::META_BG) && meta_group >= u64::from(sb.first_meta_bg) {
        // meta_bg: each meta group keeps its descriptors in its own first group, after the
        // superblock backup when that group has one.
        let group = meta_group * per_block;
        let start = u64::from(sb.first_data_block) + group * u64::from(sb.blocks_per_group);
        start + u64::from(has_superblock(sb, group))
    } else {
        first_block + meta_group
    };
    block * bs + (g % per_block) * u64::from(sb.desc_size)
}

/// Whether group `g` holds a superblock backup (sparse_super: groups 0, 1 and powers of 3, 5, 7).
pub(crate) fn has_superblock(sb: &Superblock, g: u64) -> bool {
    if !sb.has_ro_compat(ro_compat::SPARSE_SUPER) || g <= 1 {
        return true;
    }
    [3u64, 5, 7].iter().any(|&p| {
        let mut x = p;
        while x < g {
            x *= p;
        }
        x == g
    })
}

/// `bg_flags`: the block bitmap is not initialised (only with group descriptor checksums).
pub(crate) const BLOCK_UNINIT: u16 = 0x2;

/// The fields of a group descriptor the readers use.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GroupDesc {
    pub block_bitmap: u64,
    pub inode_bitmap: u64,
    pub inode_table: u64,
    pub flags: u16,
}

/// Group `g`'s descriptor, its checksum checked (metadata_csum) and its inode table inside the
/// volume (the bitmaps are checked by their readers).
pub(crate) fn descriptor(dev: &dyn ReadAt, sb: &Superblock, g: u64) -> Result<GroupDesc> {
    let at = descriptor_offset(sb, g);
    let mut d = vec![0u8; sb.desc_size as usize];
    dev.read_exact_at(at, &mut d)
        .map_err(|e| e.with_format(FORMAT).with_structure("group descriptor"))?;
    if let Some(seed) = sb.csum_seed {
        let stored = u16::from_le_bytes([d[0x1E], d[0x1F]]);
        let mut c = csum::update(seed, &(g as u32).to_le_bytes());
        c = csum::update(c, &d[..0x1E]);
        c = csum::update(c, &[0, 0]);
        c = csum::update(c, &d[0x20..]);
        if stored != c as u16 {
            return Err(Error::corrupt(
                FORMAT,
                "group descriptor",
                at,
                format!("checksum of group {g} does not match"),
            ));
        }
    }
    let field = |lo: usize, hi: usize| {
        let lo = u64::from(u32::from_le_bytes([d[lo], d[lo + 1], d[lo + 2], d[lo + 3]]));
        let hi = if sb.desc_size >= 64 {
            u64::from(u32::from_le_bytes([d[hi], d[hi + 1], d[hi + 2], d[hi + 3]]))
        } else {
            0
        };
        lo | hi << 32
    };
    let desc = GroupDesc {
        block_bitmap: field(0x0, 0x20),
        inode_bitmap: field(0x4, 0x24),
        inode_table: field(0x8, 0x28),
        flags: u16::from_le_bytes([d[0x12], d[0x13]]),
    };
    let table_blocks =
        (u64::from(sb.inodes_per_group) * u64::from(sb.inode_size)).div_ceil(sb.block_size);
    if desc.inode_table == 0 || desc.inode_table.saturating_add(table_blocks) > sb.blocks_count {
        return Err(Error::corrupt(
            FORMAT,
            "group descriptor",
            at,
            format!(
                "inode table of group {g} at block {} lies outside the volume",
                desc.inode_table
            ),
        ));
    }
    Ok(desc)
}

/// The first block of group `g`'s inode table, checked against the volume.
pub(crate) fn inode_table(dev: &dyn ReadAt, sb: &Superblock, g: u64) -> Result<u64> {
    Ok(descriptor(dev, sb, g)?.inode_table)
}
