//! Where a file's blocks are: the extent tree (ext4) or the indirect block map (ext2/3).
//!
//! [`map`] answers for one logical block (how many blocks from there are contiguous, or a
//! hole's length), walking down the tree through the metadata cache; [`runs`] lists a whole
//! file for direct copies. Every pointer is checked against the volume, every tree node's
//! header, depth and checksum against what its parent promised.

use super::inode::{Inode, flags};
use super::superblock::Superblock;
use super::{FORMAT, csum};
use crate::error::{Error, Result};
use crate::io::ReadAt;

/// Deepest extent tree (the kernel allows 5 levels).
pub const MAX_EXTENT_DEPTH: u16 = 5;
/// Most runs listed for one file; past it, files are read block by block instead.
pub const MAX_RUNS: usize = 1 << 20;
/// Most tree blocks visited while listing one file.
pub const MAX_TREE_BLOCKS: usize = 1 << 20;

const EXTENT_MAGIC: u16 = 0xF30A;

/// What one logical block maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mapping {
    /// First physical block, or `None` for a hole (reads as zeros).
    pub physical: Option<u64>,
    /// Blocks from the asked one on that are contiguous (or all hole).
    pub len: u64,
}

/// A run of a file: `len` blocks from logical `logical` at physical `physical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlockRun {
    pub logical: u64,
    pub physical: u64,
    pub len: u64,
}

fn u16le(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn corrupt(inode: &Inode, at: u64, msg: String) -> Error {
    Error::corrupt(
        FORMAT,
        "block map",
        at,
        format!("inode {}: {msg}", inode.ino),
    )
}

/// An extent tree node: its header fields and entries.
struct Node<'a> {
    depth: u16,
    body: &'a [u8],
}

fn node<'a>(inode: &Inode, b: &'a [u8], at: u64, depth_expected: Option<u16>) -> Result<Node<'a>> {
    if b.len() < 12 || u16le(b, 0) != EXTENT_MAGIC {
        return Err(corrupt(
            inode,
            at,
            "extent node without its magic number".into(),
        ));
    }
    let entries = usize::from(u16le(b, 2));
    let max = usize::from(u16le(b, 4));
    let depth = u16le(b, 6);
    if entries > max || 12 + max * 12 > b.len() {
        return Err(corrupt(
            inode,
            at,
            format!(
                "extent node holds {entries} of {max} entries in {} bytes",
                b.len()
            ),
        ));
    }
    if depth > MAX_EXTENT_DEPTH || depth_expected.is_some_and(|d| d != depth) {
        return Err(corrupt(inode, at, format!("extent node of depth {depth}")));
    }
    Ok(Node {
        depth,
        body: &b[12..12 + entries * 12],
    })
}

/// Reads and checks a tree block below the root.
fn read_tree_block(
    dev: &dyn ReadAt,
    sb: &Superblock,
    inode: &Inode,
    block: u64,
) -> Result<Vec<u8>> {
    check_block(sb, inode, block, 1)?;
    let at = block * sb.block_size;
    let mut b = vec![0u8; sb.block_size as usize];
    dev.read_exact_at(at, &mut b)
        .map_err(|e| e.with_format(FORMAT).with_structure("extent tree block"))?;
    if let Some(seed) = inode.csum_seed {
        let max = usize::from(u16le(&b, 4));
        let tail = 12 + max * 12;
        if u16le(&b, 0) == EXTENT_MAGIC && tail + 4 <= b.len() {
            let stored = u32le(&b, tail);
            if stored != csum::update(seed, &b[..tail]) {
                return Err(corrupt(
                    inode,
                    at,
                    "extent block checksum does not match".into(),
                ));
            }
        }
    }
    Ok(b)
}

fn check_block(sb: &Superblock, inode: &Inode, block: u64, len: u64) -> Result<()> {
    if block == 0 || block.saturating_add(len) > sb.blocks_count {
        return Err(corrupt(
            inode,
            inode.offset,
            format!(
                "blocks {block}..+{len} lie outside the volume's {} blocks",
                sb.blocks_count
            ),
        ));
    }
    Ok(())
}

/// The leaf extent fields: (logical start, length, physical start, initialised).
fn leaf(e: &[u8]) -> (u64, u64, u64, bool) {
    let len = u16le(e, 4);
    let (len, init) = if len > 32768 {
        (len - 32768, false)
    } else {
        (len, true)
    };
    let physical = u64::from(u16le(e, 6)) << 32 | u64::from(u32le(e, 8));
    (u64::from(u32le(e, 0)), u64::from(len), physical, init)
}

fn index_child(e: &[u8]) -> u64 {
    u64::from(u16le(e, 8)) << 32 | u64::from(u32le(e, 4))
}

/// The mapping of logical block `lblock` of `inode`.
pub(crate) fn map(
    dev: &dyn ReadAt,
    sb: &Superblock,
    inode: &Inode,
    lblock: u64,
) -> Result<Mapping> {
    if inode.has_flag(flags::EXTENTS) {
        map_extent(dev, sb, inode, lblock)
    } else {
        map_indirect(dev, sb, inode, lblock)
    }
}

fn map_extent(dev: &dyn ReadAt, sb: &Superblock, inode: &Inode, lblock: u64) -> Result<Mapping> {
    let mut bytes: Vec<u8> = inode.i_block.to_vec();
    let mut at = inode.offset;
    let mut expect = None;
    // Where the next extent after the one searched starts: a hole ends there.
    let mut hole_end = u64::MAX;
    loop {
        let (child, depth) = {
            let n = node(inode, &bytes, at, expect)?;
            let entries: Vec<&[u8]> = n.body.chunks_exact(12).collect();
            // Entries before i start at or before lblock.
            let i = entries.partition_point(|e| u64::from(u32le(e, 0)) <= lblock);
            if let Some(next) = entries.get(i) {
                hole_end = hole_end.min(u64::from(u32le(next, 0)));
            }
            let hole = Mapping {
                physical: None,
                len: hole_end.saturating_sub(lblock).max(1),
            };
            let Some(e) = i.checked_sub(1).map(|i| entries[i]) else {
                return Ok(hole);
            };
            if n.depth == 0 {
                let (start, len, physical, init) = leaf(e);
                if lblock >= start + len {
                    return Ok(hole);
                }
                check_block(sb, inode, physical, len)?;
                let within = lblock - start;
                return Ok(Mapping {
                    physical: init.then_some(physical + within),
                    len: len - within,
                });
            }
            (index_child(e), n.depth)
        };
        bytes = read_tree_block(dev, sb, inode, child)?;
        at = child * sb.block_size;
        expect = Some(depth - 1);
    }
}

/// Pointers per indirect block.
fn per_block(sb: &Superblock) -> u64 {
    sb.block_size / 4
}

fn pointer(
    dev: &dyn ReadAt,
    sb: &Superblock,
    inode: &Inode,
    block: u64,
    index: u64,
) -> Result<u64> {
    check_block(sb, inode, block, 1)?;
    let mut b = [0u8; 4];
    dev.read_exact_at(block * sb.block_size + index * 4, &mut b)
        .map_err(|e| e.with_format(FORMAT).with_structure("indirect block"))?;
    Ok(u64::from(u32::from_le_bytes(b)))
}

fn map_indirect(dev: &dyn ReadAt, sb: &Superblock, inode: &Inode, lblock: u64) -> Result<Mapping> {
    let p = per_block(sb);
    let direct = |i: usize| u64::from(u32le(&inode.i_block, i * 4));
    // (top pointer, index path) for lblock.
    let (mut block, path): (u64, Vec<u64>) = if lblock < 12 {
        (direct(lblock as usize), Vec::new())
    } else if lblock - 12 < p {
        (direct(12), vec![lblock - 12])
    } else if lblock - 12 - p < p * p {
        let l = lblock - 12 - p;
        (direct(13), vec![l / p, l % p])
    } else if lblock - 12 - p - p * p < p * p * p {
        let l = lblock - 12 - p - p * p;
        (direct(14), vec![l / (p * p), l / p % p, l % p])
    } else {
        return Ok(Mapping {
            physical: None,
            len: 1,
        });
    };
    for idx in path {
        if block == 0 {
            return Ok(Mapping {
                physical: None,
                len: 1,
            });
        }
        block = pointer(dev, sb, inode, block, idx)?;
    }
    if block == 0 {
        return Ok(Mapping {
            physical: None,
            len: 1,
        });
    }
    check_block(sb, inode, block, 1)?;
    Ok(Mapping {
        physical: Some(block),
        len: 1,
    })
}

/// Every stored run of the first `blocks` logical blocks, in logical order; `None` when the
/// file has more than [`MAX_RUNS`] runs.
pub(crate) fn runs(
    dev: &dyn ReadAt,
    sb: &Superblock,
    inode: &Inode,
    blocks: u64,
) -> Result<Option<Vec<BlockRun>>> {
    let mut out = Vec::new();
    let mut visited = 0usize;
    let ok = if inode.has_flag(flags::EXTENTS) {
        let root = inode.i_block;
        extent_runs(
            dev,
            sb,
            inode,
            &root,
            inode.offset,
            None,
            blocks,
            &mut out,
            &mut visited,
        )?
    } else {
        let p = per_block(sb);
        let mut ok = true;
        let mut base = 0u64;
        for (i, level) in (0..12)
            .map(|i| (i, 0u32))
            .chain([(12, 1), (13, 2), (14, 3)])
        {
            if base >= blocks || !ok {
                break;
            }
            let ptr = u64::from(u32le(&inode.i_block, i * 4));
            let span = p.pow(level);
            ok = indirect_runs(
                dev,
                sb,
                inode,
                ptr,
                level,
                base,
                blocks,
                &mut out,
                &mut visited,
            )?;
            base += span;
        }
        ok
    };
    Ok(ok.then_some(out))
}

fn push(out: &mut Vec<BlockRun>, logical: u64, physical: u64, len: u64) -> bool {
    if let Some(last) = out.last_mut() {
        if last.logical + last.len == logical && last.physical + last.len == physical {
            last.len += len;
            return true;
        }
    }
    out.push(BlockRun {
        logical,
        physical,
        len,
    });
    out.len() <= MAX_RUNS
}

#[allow(clippy::too_many_arguments)]
fn extent_runs(
    dev: &dyn ReadAt,
    sb: &Superblock,
    inode: &Inode,
    bytes: &[u8],
    at: u64,
    expect: Option<u16>,
    blocks: u64,
    out: &mut Vec<BlockRun>,
    visited: &mut usize,
) -> Result<bool> {
    let n = node(inode, bytes, at, expect)?;
    let mut last_start = None;
    for e in n.body.chunks_exact(12) {
        let start = u64::from(u32le(e, 0));
        if last_start.is_some_and(|s| start <= s) {
            return Err(corrupt(inode, at, "extent entries out of order".into()));
        }
        last_start = Some(start);
        if start >= blocks {
            break;
        }
        if n.depth == 0 {
            let (start, len, physical, init) = leaf(e);
            if out.last().is_some_and(|r| r.logical + r.len > start) {
                return Err(corrupt(inode, at, "extents overlap".into()));
            }
            check_block(sb, inode, physical, len)?;
            let len = len.min(blocks - start);
            if init && len > 0 && !push(out, start, physical, len) {
                return Ok(false);
            }
        } else {
            *visited += 1;
            if *visited > MAX_TREE_BLOCKS {
                return Ok(false);
            }
            let child = index_child(e);
            let b = read_tree_block(dev, sb, inode, child)?;
            if !extent_runs(
                dev,
                sb,
                inode,
                &b,
                child * sb.block_size,
                Some(n.depth - 1),
                blocks,
                out,
                visited,
            )? {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

#[allow(clippy::too_many_arguments)]
fn indirect_runs(
    dev: &dyn ReadAt,
    sb: &Superblock,
    inode: &Inode,
    ptr: u64,
    level: u32,
    base: u64,
    blocks: u64,
    out: &mut Vec<BlockRun>,
    visited: &mut usize,
) -> Result<bool> {
    if ptr == 0 || base >= blocks {
        return Ok(true);
    }
    check_block(sb, inode, ptr, 1)?;
    if level == 0 {
        return Ok(push(out, base, ptr, 1));
    }
    *visited += 1;
    if *visited > MAX_TREE_BLOCKS {
        return Ok(false);
    }
    let mut b = vec![0u8; sb.block_size as usize];
    dev.read_exact_at(ptr * sb.block_size, &mut b)
        .map_err(|e| e.with_format(FORMAT).with_structure("indirect block"))?;
    let span = per_block(sb).pow(level - 1);
    for (i, p) in b.chunks_exact(4).enumerate() {
        let child = u64::from(u32le(p, 0));
        let child_base = base + i as u64 * span;
        if child_base >= blocks {
            break;
        }
        if !indirect_runs(
            dev,
            sb,
            inode,
            child,
            level - 1,
            child_base,
            blocks,
            out,
            visited,
        )? {
            return Ok(false);
        }
    }
    Ok(true)
}
