//! The ext2/3/4 superblock: geometry, features, label, and which of ext2, ext3 and ext4 the
//! volume is.

use super::FORMAT;
use super::csum;
use crate::error::{Error, Result};

/// Byte offset of the superblock.
pub(crate) const SUPERBLOCK_OFFSET: u64 = 1024;
/// The magic number at byte 0x38 of the superblock.
pub(crate) const MAGIC: u16 = 0xEF53;

/// Compatible features (`s_feature_compat`).
pub(crate) mod compat {
    pub const HAS_JOURNAL: u32 = 0x4;
}

/// Incompatible features (`s_feature_incompat`): a reader must know each one it meets.
pub(crate) mod incompat {
    pub const COMPRESSION: u32 = 0x1;
    pub const FILETYPE: u32 = 0x2;
    pub const RECOVER: u32 = 0x4;
    pub const JOURNAL_DEV: u32 = 0x8;
    pub const META_BG: u32 = 0x10;
    pub const EXTENTS: u32 = 0x40;
    pub const BIT64: u32 = 0x80;
    pub const MMP: u32 = 0x100;
    pub const FLEX_BG: u32 = 0x200;
    pub const EA_INODE: u32 = 0x400;
    pub const DIRDATA: u32 = 0x1000;
    pub const CSUM_SEED: u32 = 0x2000;
    pub const LARGEDIR: u32 = 0x4000;
    pub const INLINE_DATA: u32 = 0x8000;
    pub const ENCRYPT: u32 = 0x10000;
    pub const CASEFOLD: u32 = 0x20000;
    /// Every feature this reader handles.
    pub const KNOWN: u32 = FILETYPE
        | RECOVER
        | META_BG
        | EXTENTS
        | BIT64
        | MMP
        | FLEX_BG
        | EA_INODE
        | DIRDATA
        | CSUM_SEED
        | LARGEDIR
        | INLINE_DATA
        | ENCRYPT
        | CASEFOLD;
    /// What ext3 already had; anything else makes a volume ext4.
    pub const EXT3: u32 = FILETYPE | RECOVER | META_BG;
}

/// Read-only-compatible features (`s_feature_ro_compat`).
pub(crate) mod ro_compat {
    pub const SPARSE_SUPER: u32 = 0x1;
    pub const LARGE_FILE: u32 = 0x2;
    pub const BTREE_DIR: u32 = 0x4;
    pub const HUGE_FILE: u32 = 0x8;
    pub const GDT_CSUM: u32 = 0x10;
    pub const BIGALLOC: u32 = 0x200;
    pub const METADATA_CSUM: u32 = 0x400;
    /// What ext3 already had.
    pub const EXT3: u32 = SPARSE_SUPER | LARGE_FILE | BTREE_DIR;
}

const FEATURE_NAMES: &[(u8, u32, &str)] = &[
    (0, 0x1, "dir_prealloc"),
    (0, 0x2, "imagic_inodes"),
    (0, 0x4, "has_journal"),
    (0, 0x8, "ext_attr"),
    (0, 0x10, "resize_inode"),
    (0, 0x20, "dir_index"),
    (0, 0x200, "sparse_super2"),
    (0, 0x400, "fast_commit"),
    (0, 0x1000, "orphan_file"),
    (1, 0x1, "compression"),
    (1, 0x2, "filetype"),
    (1, 0x4, "needs_recovery"),
    (1, 0x8, "journal_dev"),
    (1, 0x10, "meta_bg"),
    (1, 0x40, "extent"),
    (1, 0x80, "64bit"),
    (1, 0x100, "mmp"),
    (1, 0x200, "flex_bg"),
    (1, 0x400, "ea_inode"),
    (1, 0x1000, "dirdata"),
    (1, 0x2000, "metadata_csum_seed"),
    (1, 0x4000, "large_dir"),
    (1, 0x8000, "inline_data"),
    (1, 0x10000, "encrypt"),
    (1, 0x20000, "casefold"),
    (2, 0x1, "sparse_super"),
    (2, 0x2, "large_file"),
    (2, 0x4, "btree_dir"),
    (2, 0x8, "huge_file"),
    (2, 0x10, "uninit_bg"),
    (2, 0x20, "dir_nlink"),
    (2, 0x40, "extra_isize"),
    (2, 0x100, "quota"),
    (2, 0x200, "bigalloc"),
    (2, 0x400, "metadata_csum"),
    (2, 0x1000, "read-only"),
    (2, 0x2000, "project"),
    (2, 0x8000, "verity"),
    (2, 0x10000, "orphan_present"),
];

/// The fields of the superblock this reader uses, checked.
#[derive(Debug, Clone)]
pub(crate) struct Superblock {
    pub inodes_count: u32,
    pub blocks_count: u64,
    pub free_blocks: u64,
    pub first_data_block: u32,
    pub block_size: u64,
    pub blocks_per_group: u32,
    pub inodes_per_group: u32,
    pub inode_size: u32,
    pub rev_level: u32,
    pub state: u16,
    pub compat: u32,
    pub incompat: u32,
    pub ro_compat: u32,
    pub uuid: [u8; 16],
    pub label: String,
    pub last_mounted: String,
    pub desc_size: u32,
    pub first_meta_bg: u32,
    /// Blocks reserved after the group descriptors for growing them (resize_inode).
    pub reserved_gdt_blocks: u16,
    pub mkfs_time: u32,
    /// Seed of every metadata checksum (metadata_csum).
    pub csum_seed: Option<u32>,
}

fn u16le(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// Whether the 1024 bytes carry the magic and sane sizes (for probing).
pub(crate) fn looks_like(b: &[u8]) -> bool {
    b.len() >= 1024
        && u16le(b, 0x38) == MAGIC
        && u32le(b, 0x18) <= 6
        && u32le(b, 0x20) != 0
        && u32le(b, 0x28) != 0
}

impl Superblock {
    /// Parses and checks the superblock (1024 bytes) of a device of `dev_size` bytes.
    pub fn parse(b: &[u8]) -> Result<Self> {
        let bad = |msg: String| Error::corrupt(FORMAT, "superblock", SUPERBLOCK_OFFSET, msg);
        if !looks_like(b) {
            return Err(bad("bad magic number or block size".into()));
        }
        let incompat = u32le(b, 0x60);
        let ro_compat = u32le(b, 0x64);
        let rev_level = u32le(b, 0x4C);
        let block_size = 1024u64 << u32le(b, 0x18);
        let bit64 = incompat & incompat::BIT64 != 0;
        let blocks_count = u64::from(u32le(b, 0x4))
            | if bit64 {
                u64::from(u32le(b, 0x150)) << 32
            } else {
                0
            };
        let free_blocks = u64::from(u32le(b, 0xC))
            | if bit64 {
                u64::from(u32le(b, 0x158)) << 32
            } else {
                0
            };
        let inode_size = if rev_level == 0 {
            128
        } else {
            u32::from(u16le(b, 0x58))
        };
        if inode_size < 128 || !inode_size.is_power_of_two() || u64::from(inode_size) > block_size {
            return Err(bad(format!("inode size {inode_size}")));
        }
        let desc_size = if bit64 { u32::from(u16le(b, 0xFE)) } else { 32 };
        if !(32..=1024).contains(&desc_size) || !desc_size.is_power_of_two() {
            return Err(bad(format!("group descriptor size {desc_size}")));
        }
        if blocks_count
            .checked_mul(block_size)
            .is_none_or(|v| v > 1 << 60)
        {
            return Err(bad(format!("{blocks_count} blocks of {block_size} bytes")));
        }
        let first_data_block = u32le(b, 0x14);
        if u64::from(first_data_block) >= blocks_count {
            return Err(bad(format!(
                "first data block {first_data_block} of {blocks_count}"
            )));
        }
        let blocks_per_group = u32le(b, 0x20);
        if u64::from(blocks_per_group) > block_size * 8 * 16 {
            return Err(bad(format!("{blocks_per_group} blocks per group")));
        }
        let metadata_csum = ro_compat & ro_compat::METADATA_CSUM != 0;
        let uuid: [u8; 16] = b[0x68..0x78].try_into().expect("16 bytes");
        let csum_seed = metadata_csum.then(|| {
            if incompat & incompat::CSUM_SEED != 0 {
                u32le(b, 0x270)
            } else {
                csum::update(!0, &uuid)
            }
        });
        if metadata_csum {
            let stored = u32le(b, 0x3FC);
            let computed = csum::update(!0, &b[..0x3FC]);
            if stored != computed {
                return Err(bad(format!(
                    "checksum {stored:#010x} does not match the contents ({computed:#010x})"
                )));
            }
        }
        Ok(Superblock {
            inodes_count: u32le(b, 0x0),
            blocks_count,
            free_blocks,
            first_data_block,
            block_size,
            blocks_per_group,
            inodes_per_group: u32le(b, 0x28),
            inode_size,
            rev_level,
            state: u16le(b, 0x3A),
            compat: u32le(b, 0x5C),
            incompat,
            ro_compat,
            uuid,
            label: cstr(&b[0x78..0x88]),
            last_mounted: cstr(&b[0x88..0xC8]),
            desc_size,
            first_meta_bg: u32le(b, 0x104),
            reserved_gdt_blocks: u16le(b, 0xCE),
            mkfs_time: u32le(b, 0x108),
            csum_seed,
        })
    }

    /// `ext2`, `ext3` or `ext4`, as blkid decides: a journal makes ext3, any feature ext3 did
    /// not have makes ext4.
    pub fn kind(&self) -> &'static str {
        if self.incompat & !incompat::EXT3 != 0 || self.ro_compat & !ro_compat::EXT3 != 0 {
            "ext4"
        } else if self.compat & compat::HAS_JOURNAL != 0 {
            "ext3"
        } else {
            "ext2"
        }
    }

    pub fn has_incompat(&self, f: u32) -> bool {
        self.incompat & f != 0
    }

    pub fn has_ro_compat(&self, f: u32) -> bool {
        self.ro_compat & f != 0
    }

    /// Names of the features set, as `dumpe2fs` prints them.
    pub fn feature_names(&self) -> Vec<&'static str> {
        FEATURE_NAMES
            .iter()
            .filter(|(set, bit, _)| {
                let v = match set {
                    0 => self.compat,
                    1 => self.incompat,
                    _ => self.ro_compat,
                };
                v & bit != 0
            })
            .map(|(_, _, n)| *n)
            .collect()
    }

    /// The UUID in its usual text form.
    pub fn uuid_string(&self) -> String {
        let h: Vec<String> = self.uuid.iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "{}-{}-{}-{}-{}",
            h[..4].concat(),
            h[4..6].concat(),
            h[6..8].concat(),
            h[8..10].concat(),
            h[10..].concat()
        )
    }
}
