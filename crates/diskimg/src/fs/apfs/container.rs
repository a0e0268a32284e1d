//! The container: its superblock (`nx_superblock_t`) at block 0, the checkpoint descriptor
//! area holding the superblocks of recent transactions, and the container object map that
//! locates the volume superblocks ("Apple File System Reference", Container, Checkpoints).
//!
//! Block 0 may be stale: the superblock used is the valid one (checksum, magic, type) with
//! the highest transaction id among the blocks of the checkpoint descriptor area, as the
//! specification's mount procedure says. When that checkpoint's object map is damaged, the
//! next older checkpoint is tried (at most [`MAX_CHECKPOINT_TRIES`]), and the skipped ones are
//! reported. Descriptor areas kept as a B-tree (not contiguous) are not supported.

use super::FORMAT;
use super::btree::BTree;
use super::object::{self, OBJECT_TYPE_NX_SUPERBLOCK, OBJECT_TYPE_OMAP, le32, le64};
use super::store::Store;
use crate::device::DeviceRef;
use crate::error::{Error, Result};
use crate::io::ReadAt;

/// `NX_MAGIC`: `NXSB`.
pub const NX_MAGIC: &[u8; 4] = b"NXSB";
/// `NX_MAX_FILE_SYSTEMS`.
pub const NX_MAX_FILE_SYSTEMS: usize = 100;
/// Smallest and largest block sizes (`NX_MINIMUM_BLOCK_SIZE`, `NX_MAXIMUM_BLOCK_SIZE`).
pub const MIN_BLOCK_SIZE: u64 = 4096;
/// Largest block size.
pub const MAX_BLOCK_SIZE: u64 = 65536;
/// Blocks of the checkpoint descriptor area read at most.
pub const MAX_CHECKPOINT_BLOCKS: u64 = 1 << 16;
/// Checkpoints tried, newest first, before giving up.
pub const MAX_CHECKPOINT_TRIES: usize = 8;

/// The fields of `nx_superblock_t` this reader uses.
#[derive(Debug, Clone)]
pub struct NxSuperblock {
    /// `o_xid`: the transaction of this checkpoint.
    pub xid: u64,
    /// `nx_block_size`.
    pub block_size: u64,
    /// `nx_block_count`.
    pub block_count: u64,
    /// `nx_uuid`.
    pub uuid: [u8; 16],
    /// `nx_xp_desc_blocks` (high bit: the area is a B-tree).
    pub xp_desc_blocks: u32,
    /// `nx_xp_desc_base`.
    pub xp_desc_base: u64,
    /// `nx_spaceman_oid` (ephemeral).
    pub spaceman_oid: u64,
    /// `nx_omap_oid` (physical).
    pub omap_oid: u64,
    /// `nx_fs_oid`: virtual ids of the volume superblocks, zeros removed.
    pub fs_oids: Vec<u64>,
    /// `nx_xp_desc_index` and `nx_xp_desc_len`: the checkpoint's blocks in the area.
    pub xp_desc_index: u32,
    /// See `xp_desc_index`.
    pub xp_desc_len: u32,
}

impl NxSuperblock {
    /// Parses a container superblock block read at `offset` (checksum not checked here).
    pub fn parse(b: &[u8], offset: u64) -> Result<Self> {
        let bad = |msg: String| Error::corrupt(FORMAT, "container superblock", offset, msg);
        if b.get(32..36) != Some(NX_MAGIC.as_slice()) {
            return Err(bad("no NXSB magic".into()));
        }
        let f64 = |at| le64(b, at).unwrap_or(0);
        let f32 = |at| le32(b, at).unwrap_or(0);
        let block_size = u64::from(f32(36));
        if !block_size.is_power_of_two() || !(MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&block_size)
        {
            return Err(bad(format!("block size {block_size} is not supported")));
        }
        let max_fs = (f32(180) as usize).min(NX_MAX_FILE_SYSTEMS);
        let fs_oids = (0..max_fs)
            .map(|i| f64(184 + 8 * i))
            .filter(|&o| o != 0)
            .collect();
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(&b[72..88]);
        Ok(NxSuperblock {
            xid: f64(16),
            block_size,
            block_count: f64(40),
            uuid,
            xp_desc_blocks: f32(104),
            xp_desc_base: f64(112),
            spaceman_oid: f64(152),
            omap_oid: f64(160),
            fs_oids,
            xp_desc_index: f32(136),
            xp_desc_len: f32(140),
        })
    }
}

/// An open container: the latest valid checkpoint's superblock and the container object map.
pub struct Container {
    /// The blocks.
    pub store: Store,
    /// The superblock in use.
    pub sb: NxSuperblock,
    /// The container object map's tree.
    pub omap: BTree,
    /// Newer checkpoints that were skipped, and why.
    pub skipped: Vec<String>,
}

impl Container {
    /// Opens the container at the start of `dev`.
    pub fn open(dev: DeviceRef) -> Result<Container> {
        let mut head = vec![0u8; MIN_BLOCK_SIZE as usize];
        dev.read_exact_at(0, &mut head)
            .map_err(|e| e.with_format(FORMAT).with_structure("container superblock"))?;
        let first = NxSuperblock::parse(&head, 0)?;
        let store = Store::new(dev.clone(), first.block_size, first.block_count);
        let (block0, _) = store.read_block(0, "container superblock")?;
        object::verify(
            &block0,
            0,
            "container superblock",
            Some(OBJECT_TYPE_NX_SUPERBLOCK),
        )?;
        let (found, mut skipped) = checkpoints(&store, first)?;
        let mut last_error = None;
        for sb in found.into_iter().take(MAX_CHECKPOINT_TRIES) {
            match Self::open_at(dev.clone(), sb.clone(), store.block_size()) {
                Ok(mut c) => {
                    c.skipped = skipped;
                    return Ok(c);
                }
                Err(e) => {
                    skipped.push(format!("checkpoint xid {} skipped: {e}", sb.xid));
                    last_error = Some(e);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| {
            Error::corrupt(FORMAT, "container superblock", 0, "no usable checkpoint")
        }))
    }

    /// Opens the container as checkpoint `sb` describes it.
    fn open_at(dev: DeviceRef, sb: NxSuperblock, block_size: u64) -> Result<Container> {
        if sb.block_size != block_size {
            return Err(Error::corrupt(
                FORMAT,
                "container superblock",
                0,
                "checkpoint superblock has another block size than block 0",
            ));
        }
        let store = Store::new(dev, sb.block_size, sb.block_count);
        let (_, om, om_at) = store.read_object(sb.omap_oid, "container object map")?;
        object::verify(&om, om_at, "container object map", Some(OBJECT_TYPE_OMAP))?;
        let tree_oid = le64(&om, 48).unwrap_or(0);
        let omap = BTree::open_physical(&store, tree_oid, "container object map B-tree")?;
        Ok(Container {
            store,
            sb,
            omap,
            skipped: Vec::new(),
        })
    }

    /// Physical address of the volume superblock with virtual id `oid`.
    pub fn resolve(&self, oid: u64) -> Result<Option<u64>> {
        self.omap.omap_lookup(&self.store, oid, self.sb.xid)
    }
}

/// The valid container superblocks of the checkpoint descriptor area, newest first (block
/// 0's copy when none is valid).
fn checkpoints(store: &Store, block0: NxSuperblock) -> Result<(Vec<NxSuperblock>, Vec<String>)> {
    if block0.xp_desc_blocks & 0x8000_0000 != 0 {
        return Err(Error::unsupported(
            FORMAT,
            "checkpoint descriptor area kept as a B-tree",
        ));
    }
    let count = u64::from(block0.xp_desc_blocks);
    if count == 0 || count > MAX_CHECKPOINT_BLOCKS {
        return Err(Error::corrupt(
            FORMAT,
            "container superblock",
            0,
            format!("checkpoint descriptor area of {count} blocks"),
        ));
    }
    store.offset_of(block0.xp_desc_base, count, "checkpoint descriptor area")?;
    let mut found: Vec<NxSuperblock> = Vec::new();
    let mut bad = Vec::new();
    for i in 0..count {
        let (b, at) = store.read_block(block0.xp_desc_base + i, "checkpoint descriptor area")?;
        if let Err(e) = object::verify(&b, at, "checkpoint", Some(OBJECT_TYPE_NX_SUPERBLOCK)) {
            if b.get(32..36) == Some(NX_MAGIC.as_slice()) {
                bad.push(format!("checkpoint superblock skipped: {e}"));
            }
            continue;
        }
        if let Ok(sb) = NxSuperblock::parse(&b, at) {
            found.push(sb);
        }
    }
    if found.is_empty() {
        found.push(block0);
    }
    found.sort_by_key(|sb| std::cmp::Reverse(sb.xid));
    Ok((found, bad))
}
