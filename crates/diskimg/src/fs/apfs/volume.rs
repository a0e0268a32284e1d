//! Volume superblocks (`apfs_superblock_t`, "Apple File System Reference", Volumes): name,
//! role, features, the volume's object map and its file-system tree.

use super::FORMAT;
use super::object::{le16, le64};
use crate::error::{Error, Result};

/// `APFS_MAGIC`: `APSB`.
pub const APFS_MAGIC: &[u8; 4] = b"APSB";
/// `APFS_INCOMPAT_CASE_INSENSITIVE`.
pub const INCOMPAT_CASE_INSENSITIVE: u64 = 0x1;
/// `APFS_INCOMPAT_NORMALIZATION_INSENSITIVE`.
pub const INCOMPAT_NORMALIZATION_INSENSITIVE: u64 = 0x8;
/// `APFS_INCOMPAT_SEALED_VOLUME`.
pub const INCOMPAT_SEALED_VOLUME: u64 = 0x20;
/// `APFS_FS_UNENCRYPTED`.
const FS_UNENCRYPTED: u64 = 0x1;

/// The fields of `apfs_superblock_t` this reader uses.
#[derive(Debug, Clone)]
pub struct ApfsSuperblock {
    /// `apfs_incompatible_features`.
    pub incompatible_features: u64,
    /// `apfs_fs_alloc_count`: blocks the volume uses.
    pub alloc_count: u64,
    /// `apfs_omap_oid` (physical).
    pub omap_oid: u64,
    /// `apfs_root_tree_oid` (virtual).
    pub root_tree_oid: u64,
    /// `apfs_fext_tree_oid` (physical; sealed volumes).
    pub fext_tree_oid: u64,
    /// `apfs_num_files`, `apfs_num_directories`, `apfs_num_symlinks`.
    pub counts: (u64, u64, u64),
    /// `apfs_num_snapshots`.
    pub num_snapshots: u64,
    /// `apfs_vol_uuid`.
    pub uuid: [u8; 16],
    /// `apfs_fs_flags`.
    pub fs_flags: u64,
    /// `apfs_volname`.
    pub name: String,
    /// `apfs_role`.
    pub role: u16,
    /// `apfs_formatted_by.id`.
    pub formatted_by: String,
}

impl ApfsSuperblock {
    /// Parses a volume superblock read at `offset` (checksum already verified).
    pub fn parse(b: &[u8], offset: u64) -> Result<Self> {
        if b.get(32..36) != Some(APFS_MAGIC.as_slice()) || b.len() < 1048 {
            return Err(Error::corrupt(
                FORMAT,
                "volume superblock",
                offset,
                "no APSB magic",
            ));
        }
        let f64 = |at| le64(b, at).unwrap_or(0);
        let cstr = |r: &[u8]| {
            let end = r.iter().position(|&c| c == 0).unwrap_or(r.len());
            String::from_utf8_lossy(&r[..end]).into_owned()
        };
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(&b[240..256]);
        Ok(ApfsSuperblock {
            incompatible_features: f64(56),
            alloc_count: f64(88),
            omap_oid: f64(128),
            root_tree_oid: f64(136),
            fext_tree_oid: f64(1032),
            counts: (f64(184), f64(192), f64(200)),
            num_snapshots: f64(216),
            uuid,
            fs_flags: f64(264),
            name: cstr(&b[704..960]),
            role: le16(b, 964).unwrap_or(0),
            formatted_by: cstr(&b[272..304]),
        })
    }

    /// Whether the volume is encrypted (`APFS_FS_UNENCRYPTED` clear).
    pub fn encrypted(&self) -> bool {
        self.fs_flags & FS_UNENCRYPTED == 0
    }

    /// Whether names compare ignoring case.
    pub fn case_insensitive(&self) -> bool {
        self.incompatible_features & INCOMPAT_CASE_INSENSITIVE != 0
    }

    /// Whether directory records use hashed keys (`j_drec_hashed_key_t`).
    pub fn hashed_names(&self) -> bool {
        self.incompatible_features
            & (INCOMPAT_CASE_INSENSITIVE | INCOMPAT_NORMALIZATION_INSENSITIVE)
            != 0
    }

    /// Whether file extents live in the separate `fext` tree of a sealed volume.
    pub fn sealed(&self) -> bool {
        self.incompatible_features & INCOMPAT_SEALED_VOLUME != 0
    }

    /// The role's name (`apfs_role`).
    pub fn role_name(&self) -> &'static str {
        match self.role {
            0 => "none",
            0x01 => "system",
            0x02 => "user",
            0x04 => "recovery",
            0x08 => "vm",
            0x10 => "preboot",
            0x20 => "installer",
            0x40 => "data",
            0x80 => "baseband",
            0xC0 => "update",
            0x100 => "xart",
            0x140 => "hardware",
            0x180 => "backup",
            0x240 => "enterprise",
            0x2C0 => "prelogin",
            _ => "other",
        }
    }

    /// The volume UUID in its usual text form.
    pub fn uuid_string(&self) -> String {
        uuid_text(&self.uuid)
    }
}

/// A UUID's text form (bytes in order, as APFS stores them).
pub fn uuid_text(u: &[u8; 16]) -> String {
    let h: Vec<String> = u.iter().map(|b| format!("{b:02X}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        h[0..4].concat(),
        h[4..6].concat(),
        h[6..8].concat(),
        h[8..10].concat(),
        h[10..16].concat()
    )
}
