//! Block group descriptors: where each group's inode table lies.

use super::superblock::{Superblock, incompat, ro_compat};
use super::{FORMAT, csum};
use crate::error::{Error, Result};
use crate::io::ReadAt;

/// Byte offset of group `g`'s descriptor.
fn descriptor_offset(sb: &Superblock, g: u64) -> u64 {
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
fn has_superblock(sb: &Superblock, g: u64) -> bool {
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

/// The first block of group `g`'s inode table, checked against the volume.
pub(crate) fn inode_table(dev: &dyn ReadAt, sb: &Superblock, g: u64) -> Result<u64> {
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
    let lo = u64::from(u32::from_le_bytes([d[8], d[9], d[10], d[11]]));
    let hi = if sb.desc_size >= 64 {
        u64::from(u32::from_le_bytes([d[0x28], d[0x29], d[0x2A], d[0x2B]]))
    } else {
        0
    };
    let table = lo | hi << 32;
    let table_blocks =
        (u64::from(sb.inodes_per_group) * u64::from(sb.inode_size)).div_ceil(sb.block_size);
    if table == 0 || table.saturating_add(table_blocks) > sb.blocks_count {
        return Err(Error::corrupt(
            FORMAT,
            "group descriptor",
            at,
            format!("inode table of group {g} at block {table} lies outside the volume"),
        ));
    }
    Ok(table)
}
