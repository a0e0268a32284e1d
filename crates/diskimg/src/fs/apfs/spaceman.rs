//! The space manager ("Apple File System Reference", Space Manager): which blocks of the
//! container are in use, for `image --used-only`.
//!
//! The space manager is an ephemeral object: its address is in the checkpoint-mapping blocks
//! (`checkpoint_map_phys_t`) written just before the checkpoint's superblock in the
//! checkpoint descriptor area. It lists chunk-info blocks (`chunk_info_block_t`), directly or
//! through chunk-info address blocks (`cib_addr_block_t`); each chunk info gives a chunk's
//! first block and the bitmap block with one bit per block (no bitmap: the chunk is free).
//! Only the main device is read (a Fusion container's second tier is not).

use super::FORMAT;
use super::container::Container;
use super::object::{
    self, OBJECT_TYPE_CHECKPOINT_MAP, OBJECT_TYPE_SPACEMAN, OBJECT_TYPE_SPACEMAN_CAB,
    OBJECT_TYPE_SPACEMAN_CIB, le32, le64,
};
use crate::error::{Error, Result};
use crate::io::read_vec;

/// Largest space manager object read (bytes).
const MAX_SPACEMAN_SIZE: u64 = 1 << 20;
/// Chunk-info blocks read at most.
pub const MAX_CIBS: u64 = 1 << 20;
/// `CI_COUNT_MASK`.
const CI_COUNT_MASK: u32 = 0x000F_FFFF;
/// `CHECKPOINT_MAP_LAST`.
const CHECKPOINT_MAP_LAST: u32 = 0x1;

/// Calls `add(first_block, blocks)` for each run of used blocks of the main device, in order.
pub fn used_blocks(c: &Container, add: &mut dyn FnMut(u64, u64)) -> Result<()> {
    let store = &c.store;
    let bs = store.block_size();
    let (paddr, size) = find_spaceman(c)?;
    let blocks = size.div_ceil(bs).max(1);
    let offset = store.offset_of(paddr, blocks, "space manager")?;
    let sm = read_vec(store.io(), offset, blocks * bs, MAX_SPACEMAN_SIZE)?;
    let object_len = (size as usize).clamp(64, sm.len());
    object::verify(
        &sm[..object_len],
        offset,
        "space manager",
        Some(OBJECT_TYPE_SPACEMAN),
    )?;
    let bad = |msg: String| Error::corrupt(FORMAT, "space manager", offset, msg);
    let f32 = |at| le32(&sm, at).unwrap_or(0);
    let blocks_per_chunk = u64::from(f32(36));
    let cib_count = u64::from(f32(64));
    let cab_count = u64::from(f32(68));
    let addr_offset = f32(80) as usize;
    if blocks_per_chunk == 0 || blocks_per_chunk > bs * 8 || cib_count > MAX_CIBS {
        return Err(bad(format!(
            "{blocks_per_chunk} blocks a chunk, {cib_count} chunk-info blocks"
        )));
    }
    let (count, what) = if cab_count > 0 {
        (cab_count, "cib_addr_block")
    } else {
        (cib_count, "chunk_info_block")
    };
    let addrs: Vec<u64> = (0..count as usize)
        .map(|i| le64(&sm, addr_offset + 8 * i))
        .collect::<Option<_>>()
        .ok_or_else(|| bad(format!("{count} {what} addresses run past the object")))?;
    let mut cibs = Vec::new();
    if cab_count > 0 {
        for a in addrs {
            let (o, b, at) = store.read_object(a, "space manager CAB")?;
            if o.kind != OBJECT_TYPE_SPACEMAN_CAB {
                return Err(Error::corrupt(
                    FORMAT,
                    "space manager CAB",
                    at,
                    "wrong type",
                ));
            }
            let n = le32(&b, 36).unwrap_or(0) as usize;
            for i in 0..n {
                let cib = le64(&b, 40 + 8 * i).ok_or_else(|| {
                    Error::corrupt(
                        FORMAT,
                        "space manager CAB",
                        at,
                        "addresses run past the block",
                    )
                })?;
                cibs.push(cib);
                if cibs.len() as u64 > cib_count {
                    return Err(bad("more chunk-info blocks than counted".into()));
                }
            }
        }
    } else {
        cibs = addrs;
    }
    for cib in cibs {
        let (o, b, at) = store.read_object(cib, "chunk-info block")?;
        if o.kind != OBJECT_TYPE_SPACEMAN_CIB {
            return Err(Error::corrupt(FORMAT, "chunk-info block", at, "wrong type"));
        }
        let n = le32(&b, 36).unwrap_or(0) as usize;
        for i in 0..n {
            let e = 40 + 32 * i;
            let bad = || {
                Error::corrupt(
                    FORMAT,
                    "chunk-info block",
                    at,
                    "chunk info runs past the block",
                )
            };
            let first = le64(&b, e + 8).ok_or_else(bad)?;
            let count = u64::from(le32(&b, e + 16).ok_or_else(bad)? & CI_COUNT_MASK);
            let bitmap = le64(&b, e + 24).ok_or_else(bad)?;
            if bitmap == 0 {
                continue;
            }
            if count > bs * 8 {
                return Err(Error::corrupt(
                    FORMAT,
                    "chunk-info block",
                    at,
                    format!("chunk of {count} blocks for a {bs}-byte bitmap"),
                ));
            }
            let (bits, _) = store.read_block(bitmap, "space manager bitmap")?;
            let mut run: Option<(u64, u64)> = None;
            for j in 0..count {
                if bits[(j / 8) as usize] & (1 << (j % 8)) != 0 {
                    match &mut run {
                        Some((_, len)) => *len += 1,
                        None => run = Some((first.saturating_add(j), 1)),
                    }
                } else if let Some((s, len)) = run.take() {
                    add(s, len);
                }
            }
            if let Some((s, len)) = run {
                add(s, len);
            }
        }
    }
    Ok(())
}

/// Address and size of the space manager: its mapping in the checkpoint's map blocks.
fn find_spaceman(c: &Container) -> Result<(u64, u64)> {
    let sb = &c.sb;
    let area = u64::from(sb.xp_desc_blocks & 0x7FFF_FFFF);
    let len = u64::from(sb.xp_desc_len);
    if area == 0 || len > area {
        return Err(Error::corrupt(
            FORMAT,
            "container superblock",
            0,
            "checkpoint length exceeds the descriptor area",
        ));
    }
    for i in 0..len {
        let block = sb
            .xp_desc_base
            .saturating_add((u64::from(sb.xp_desc_index) + i) % area);
        let (o, b, at) = c.store.read_object(block, "checkpoint map")?;
        if o.kind != OBJECT_TYPE_CHECKPOINT_MAP {
            continue;
        }
        let flags = le32(&b, 32).unwrap_or(0);
        let count = le32(&b, 36).unwrap_or(0) as usize;
        for m in 0..count {
            let e = 40 + 40 * m;
            let (Some(kind), Some(size), Some(oid), Some(paddr)) = (
                le32(&b, e),
                le32(&b, e + 8),
                le64(&b, e + 24),
                le64(&b, e + 32),
            ) else {
                return Err(Error::corrupt(
                    FORMAT,
                    "checkpoint map",
                    at,
                    "mappings run past the block",
                ));
            };
            if oid == sb.spaceman_oid && kind & 0xFFFF == OBJECT_TYPE_SPACEMAN {
                return Ok((paddr, u64::from(size)));
            }
        }
        if flags & CHECKPOINT_MAP_LAST != 0 {
            break;
        }
    }
    Err(Error::corrupt(
        FORMAT,
        "checkpoint map",
        0,
        "the space manager is not in the checkpoint's map",
    ))
}
