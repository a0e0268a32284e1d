//! Catalog records (TN1150, "Catalog File"): keys, folder and file records, and the key order
//! used to find a folder's children (after its thread record, whose key has an empty name).

use super::fork::ForkData;
use std::cmp::Ordering;

/// `kHFSPlusFolderRecord`.
pub const FOLDER_RECORD: u16 = 1;
/// `kHFSPlusFileRecord`.
pub const FILE_RECORD: u16 = 2;

/// A catalog key: parent folder and name (UTF-16 units as stored, NFD).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogKey {
    /// `parentID`.
    pub parent: u32,
    /// `nodeName`.
    pub name: Vec<u16>,
}

impl CatalogKey {
    /// Parses a key (without its length field).
    pub fn parse(k: &[u8]) -> Option<Self> {
        let parent = u32::from_be_bytes(k.get(..4)?.try_into().ok()?);
        let len = usize::from(u16::from_be_bytes(k.get(4..6)?.try_into().ok()?));
        let units = k.get(6..6 + len * 2)?;
        Some(CatalogKey {
            parent,
            name: units
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect(),
        })
    }

    /// The name for display: `/` stored in HFS+ names (a `:` in the Finder's eyes) is shown as
    /// `:`, since `/` cannot appear in a POSIX name.
    pub fn display_name(&self) -> String {
        String::from_utf16_lossy(&self.name).replace('/', ":")
    }
}

/// Orders a catalog key against `(parent, "")`, the key of `parent`'s thread record, which
/// comes before all of `parent`'s children.
pub fn cmp_parent(key: &[u8], parent: u32) -> Ordering {
    let Some(k) = key.get(..6) else {
        return Ordering::Less;
    };
    let p = u32::from_be_bytes([k[0], k[1], k[2], k[3]]);
    let name_len = u16::from_be_bytes([k[4], k[5]]);
    p.cmp(&parent).then(if name_len == 0 {
        Ordering::Equal
    } else {
        Ordering::Greater
    })
}

/// `HFSPlusBSDInfo`.
#[derive(Debug, Clone, Copy, Default)]
pub struct BsdInfo {
    /// `ownerID`.
    pub owner: u32,
    /// `groupID`.
    pub group: u32,
    /// `adminFlags` (`SF_*` >> 16).
    pub admin_flags: u8,
    /// `ownerFlags` (`UF_*`).
    pub owner_flags: u8,
    /// `fileMode`.
    pub mode: u16,
    /// `special`: the inode number of a hard link, the link count of an inode, or a device.
    pub special: u32,
}

/// A folder or file record: what both share, and the forks of a file.
#[derive(Debug, Clone)]
pub struct CatalogRecord {
    /// `recordType`: [`FOLDER_RECORD`] or [`FILE_RECORD`].
    pub kind: u16,
    /// `folderID` / `fileID`.
    pub id: u32,
    /// `createDate`, `contentModDate`, `attributeModDate`, `accessDate` (seconds since 1904).
    pub dates: [u32; 4],
    /// Owner, mode and flags.
    pub bsd: BsdInfo,
    /// Finder type and creator of a file (`fdType`, `fdCreator`).
    pub type_creator: (u32, u32),
    /// Finder flags (`kIsInvisible` is 0x4000).
    pub finder_flags: u16,
    /// Data fork of a file.
    pub data: ForkData,
    /// Resource fork of a file.
    pub rsrc: ForkData,
}

impl CatalogRecord {
    /// Parses a folder or file record; `None` for threads, unknown types and short records.
    pub fn parse(d: &[u8]) -> Option<Self> {
        let kind = u16::from_be_bytes(d.get(..2)?.try_into().ok()?);
        let need = match kind {
            FOLDER_RECORD => 88,
            FILE_RECORD => 248,
            _ => return None,
        };
        let d = d.get(..need)?;
        let be32 = |o: usize| u32::from_be_bytes([d[o], d[o + 1], d[o + 2], d[o + 3]]);
        let bsd = BsdInfo {
            owner: be32(32),
            group: be32(36),
            admin_flags: d[40],
            owner_flags: d[41],
            mode: u16::from_be_bytes([d[42], d[43]]),
            special: be32(44),
        };
        let file = kind == FILE_RECORD;
        Some(CatalogRecord {
            kind,
            id: be32(8),
            dates: [be32(12), be32(16), be32(20), be32(24)],
            bsd,
            type_creator: (be32(48), be32(52)),
            finder_flags: u16::from_be_bytes([d[56], d[57]]),
            data: if file {
                ForkData::parse(&d[88..168])?
            } else {
                ForkData::default()
            },
            rsrc: if file {
                ForkData::parse(&d[168..248])?
            } else {
                ForkData::default()
            },
        })
    }

    /// Whether this is a folder.
    pub fn is_folder(&self) -> bool {
        self.kind == FOLDER_RECORD
    }
}
