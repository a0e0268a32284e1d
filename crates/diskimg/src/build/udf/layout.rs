//! The UDF side of a bridge image, planned from the tree before the ISO 9660 layout: one ICB
//! per file (hard links share one), unique ids and link counts, file identifiers (names too
//! long for UDF shortened without collisions), and the blocks of the UDF area: the file set
//! descriptor, then each ICB's entry followed by its directory or link data and allocation
//! extents. File data is not here: the ISO 9660 planner places it and both trees share it.

use super::UdfRevision;
use super::encode::cs0;
use crate::build::iso::Reserve;
use crate::build::tree::{FileTree, Kind, NodeIndex, ROOT};
use crate::error::{Error, Result};
use crate::fs::udf::spec::file_type;
use std::collections::{HashMap, HashSet};

/// Bytes of a logical block (and of a sector).
pub const BLOCK: u64 = 2048;
/// Longest extent one allocation descriptor records: 1 GiB less one block (the length field
/// has 30 bits and every extent but the last is whole blocks).
pub const MAX_EXTENT: u64 = 0x3FFF_F800;
/// Longest file identifier, compression id included (a length byte).
pub const MAX_IDENT: usize = 255;
/// Bytes of a `short_ad` and of a `long_ad`.
pub const SHORT_AD: usize = 8;
pub const LONG_AD: usize = 16;
/// Bytes before the allocation descriptors of an allocation extent descriptor (4/14.5).
pub const AED_HEADER: usize = 24;
/// Bytes of the extended attributes of a device: header descriptor and device specification.
pub const DEVICE_EA: usize = 48;
/// Sectors of the volume recognition sequence (BEA01, NSR0x, TEA01).
pub const VRS_SECTORS: u32 = 3;
/// Sectors of each volume descriptor sequence (UDF 2.2.3: at least 16).
pub const VDS_SECTORS: u32 = 16;
/// Sectors of the integrity sequence: the integrity descriptor, a terminator, room (8 KiB).
pub const LVID_SECTORS: u32 = 4;
/// Allocation and alignment unit of the metadata partition, in blocks (a Blu-ray ECC block;
/// two of DVD's).
pub const META_UNIT: u32 = 32;
/// Sectors from the end of the image to the closing anchor of a hybrid image (N-256), whose
/// last sectors hold the backup GPT.
pub const HYBRID_ANCHOR_BACK: u32 = 257;

/// Where an ICB's data is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Data {
    /// No data: an empty file, a device, a fifo.
    None,
    /// Embedded in the entry (a short link target): this many bytes.
    Inline(u32),
    /// Blocks of the UDF area right after the entry: directory identifiers or link
    /// components, this many bytes.
    Area(u64),
    /// The file's data, where the ISO 9660 planner puts it: this many bytes.
    Shared(u64),
}

/// One ICB: a file entry and what it describes.
#[derive(Debug, Clone)]
pub struct Icb {
    /// The tree node (the first of its hard links).
    pub node: NodeIndex,
    /// ICB file type (4/14.6.6).
    pub file_type: u8,
    /// Identifiers that name it (4/14.9.6).
    pub links: u16,
    /// Unique id (UDF 3.2.1.1): 0 for the root, 16 and up for the rest.
    pub unique_id: u64,
    /// Its entry's block in the UDF area.
    pub block: u32,
    /// Its data.
    pub data: Data,
    /// Allocation extent descriptors that continue its descriptors, after its data blocks.
    pub aeds: u32,
}

impl Icb {
    /// First block after the entry: area data, then allocation extents.
    pub fn data_block(&self) -> u32 {
        self.block + 1
    }

    /// First allocation extent block.
    pub fn aed_block(&self) -> u32 {
        let data = match self.data {
            Data::Area(len) => len.div_ceil(BLOCK) as u32,
            _ => 0,
        };
        self.block + 1 + data
    }
}

/// Marks nodes without an ICB.
const NONE: u32 = u32::MAX;

/// The planned UDF side of a bridge image.
#[derive(Debug, Clone)]
pub struct UdfPlan {
    pub(super) revision: UdfRevision,
    pub(super) hybrid: bool,
    /// ICBs in area order; the root first.
    pub(super) icbs: Vec<Icb>,
    /// The ICB of each tree node.
    icb_of: Vec<u32>,
    /// File identifiers changed to fit UDF, by node.
    renamed: HashMap<NodeIndex, String>,
    /// Blocks of the UDF area (file set descriptor, terminator, entries and their blocks).
    pub(super) area_blocks: u32,
    /// Identifiers of files (hard links counted) and directories (the root counted).
    pub(super) files: u32,
    pub(super) directories: u32,
    /// The next free unique id.
    pub(super) next_unique_id: u64,
}

impl UdfPlan {
    /// Plans the UDF side of `tree`. `hybrid` says the image ends with a backup GPT, so the
    /// closing anchor goes to N-256 instead of N.
    pub fn new(tree: &FileTree, revision: UdfRevision, hybrid: bool) -> Result<Self> {
        let mut plan = UdfPlan {
            revision,
            hybrid,
            icbs: Vec::new(),
            icb_of: vec![NONE; tree.len()],
            renamed: HashMap::new(),
            area_blocks: 0,
            files: 0,
            directories: 0,
            next_unique_id: 16,
        };
        let mut next: u64 = 2; // the file set descriptor and its terminator
        let mut groups: HashMap<u64, u32> = HashMap::new();
        for node in tree.depth_first() {
            let n = tree.node(node);
            if let Some(&icb) = n.meta.link_group.and_then(|g| groups.get(&g)) {
                plan.icb_of[node] = icb;
                let links = &mut plan.icbs[icb as usize].links;
                *links = links.saturating_add(1);
                continue;
            }
            let (file_type, data, l_ea) = match &n.kind {
                Kind::Dir(children) => {
                    let len = plan.identifiers(tree, node, children)?;
                    (file_type::DIRECTORY, Data::Area(len), 0)
                }
                Kind::File { size, .. } if *size == 0 => (file_type::REGULAR, Data::None, 0),
                Kind::File { size, .. } => (file_type::REGULAR, Data::Shared(*size), 0),
                Kind::Symlink(target) => {
                    let len = path_components(target)
                        .map_err(|e| e.with_path(tree.path(node)))?
                        .len();
                    let data = if len <= inline_room(revision) {
                        Data::Inline(len as u32)
                    } else {
                        Data::Area(len as u64)
                    };
                    (file_type::SYMLINK, data, 0)
                }
                Kind::Device(true, ..) => (file_type::CHAR_DEVICE, Data::None, DEVICE_EA),
                Kind::Device(false, ..) => (file_type::BLOCK_DEVICE, Data::None, DEVICE_EA),
                Kind::Fifo => (file_type::FIFO, Data::None, 0),
            };
            let unique_id = if node == ROOT {
                0
            } else {
                let id = plan.next_unique_id;
                plan.next_unique_id = next_unique(id);
                id
            };
            let links = match &n.kind {
                Kind::Dir(children) => {
                    let subdirs = children
                        .iter()
                        .filter(|&&c| matches!(tree.node(c).kind, Kind::Dir(_)))
                        .count();
                    u16::try_from(1 + subdirs).unwrap_or(u16::MAX)
                }
                _ => 1,
            };
            let descriptors = match data {
                Data::Area(len) | Data::Shared(len) => len.div_ceil(MAX_EXTENT),
                _ => 0,
            };
            let ad = ad_len(revision, data);
            let aeds = aed_count(descriptors, entry_room(revision, l_ea, ad), ad);
            let data_blocks = match data {
                Data::Area(len) => len.div_ceil(BLOCK),
                _ => 0,
            };
            let block = u32::try_from(next).map_err(|_| too_large())?;
            next += 1 + data_blocks + u64::from(aeds);
            let index = u32::try_from(plan.icbs.len()).map_err(|_| too_large())?;
            plan.icbs.push(Icb {
                node,
                file_type,
                links,
                unique_id,
                block,
                data,
                aeds,
            });
            plan.icb_of[node] = index;
            if let Some(g) = n.meta.link_group {
                groups.insert(g, index);
            }
        }
        for i in 0..tree.len() {
            match tree.node(i).kind {
                Kind::Dir(_) => plan.directories += 1,
                _ => plan.files += 1,
            }
        }
        // The area, its copy and the two entries of the metadata partition must be
        // addressable.
        plan.area_blocks = u32::try_from(next)
            .ok()
            .filter(|&b| b < (u32::MAX - 4 * META_UNIT) / 2)
            .ok_or_else(too_large)?;
        Ok(plan)
    }

    /// The sectors the ISO 9660 planner keeps for UDF.
    pub fn reserve(&self) -> Reserve {
        let tail = if self.hybrid { HYBRID_ANCHOR_BACK } else { 1 };
        let before_files = if self.revision.metadata_partition() {
            // The metadata from the partition's first block, so that metadata block n is
            // partition block n too (readers that ignore partition references, as pycdlib
            // does, still find everything); its copy at the next allocation unit; then the
            // entries of the mirror and of the metadata file. All before the file data:
            // readers that look for the closing anchor after the last block they read (7-Zip)
            // find it there.
            2 * self.metadata_blocks() + 2
        } else {
            self.area_blocks
        };
        Reserve {
            after_terminator: VRS_SECTORS + 2 * VDS_SECTORS + LVID_SECTORS,
            before_files,
            after_files: tail,
            keep_256: true,
        }
    }

    /// Blocks of the metadata file: the area, in whole allocation units.
    pub fn metadata_blocks(&self) -> u32 {
        self.area_blocks.next_multiple_of(META_UNIT)
    }

    /// The ICB of a tree node.
    pub fn icb_of(&self, node: NodeIndex) -> Option<&Icb> {
        self.icb_of
            .get(node)
            .filter(|&&i| i != NONE)
            .map(|&i| &self.icbs[i as usize])
    }

    /// The file identifier of a node in OSTA compressed Unicode.
    pub fn identifier(&self, tree: &FileTree, node: NodeIndex) -> Vec<u8> {
        let name = self
            .renamed
            .get(&node)
            .map_or(tree.node(node).name.as_str(), String::as_str);
        cs0(name, MAX_IDENT)
    }

    /// Chooses the identifiers of a directory's children (renaming those too long for UDF)
    /// and returns the bytes of the directory: the parent's identifier, then one per child.
    fn identifiers(
        &mut self,
        tree: &FileTree,
        dir: NodeIndex,
        children: &[NodeIndex],
    ) -> Result<u64> {
        let mut taken: HashSet<&str> = HashSet::new();
        let mut long = Vec::new();
        for &c in children {
            let name = tree.node(c).name.as_str();
            if cs0_len(name) <= MAX_IDENT {
                taken.insert(name);
            } else {
                long.push(c);
            }
        }
        let mut chosen: Vec<(NodeIndex, String)> = Vec::new();
        for c in long {
            let name = &tree.node(c).name;
            let mut n = 0u32;
            let short = loop {
                let candidate = shorten(name, n);
                if !taken.contains(candidate.as_str())
                    && !chosen.iter().any(|(_, s)| *s == candidate)
                {
                    break candidate;
                }
                n += 1;
                if n > 1_000_000 {
                    return Err(Error::invalid_input(format!(
                        "{}: no short UDF name is free for {name}",
                        tree.path(dir)
                    )));
                }
            };
            chosen.push((c, short));
        }
        self.renamed.extend(chosen);
        let mut len = fid_len(0);
        for &c in children {
            len += fid_len(self.identifier(tree, c).len());
        }
        Ok(len as u64)
    }
}

fn too_large() -> Error {
    Error::invalid_input("the tree has too many files and folders for one UDF partition")
}

/// The unique id after `id`, skipping those whose low 32 bits are 0-15 (UDF 3.2.1.1: the
/// identifiers record only the low 32 bits, and those values are reserved).
fn next_unique(id: u64) -> u64 {
    let next = id + 1;
    if (next as u32) < 16 {
        (next & !0xFFFF_FFFF) + 16
    } else {
        next
    }
}

/// Bytes of an (extended) file entry before its extended attributes.
pub fn entry_header(revision: UdfRevision) -> usize {
    if revision.extended_entries() {
        216
    } else {
        176
    }
}

/// Bytes of link data an entry embeds.
fn inline_room(revision: UdfRevision) -> usize {
    BLOCK as usize - entry_header(revision)
}

/// Bytes of an ICB's allocation descriptors: short ones where its data is in its own
/// partition, long ones where a UDF 2.50 entry in the metadata partition points at file data
/// in the physical partition. Short descriptors double what an entry holds before it needs
/// allocation extents: 229 GiB of file in an extended entry.
pub fn ad_len(revision: UdfRevision, data: Data) -> usize {
    if revision.metadata_partition() && matches!(data, Data::Shared(_)) {
        LONG_AD
    } else {
        SHORT_AD
    }
}

/// Allocation descriptors of `ad_len` bytes an entry with `l_ea` bytes of extended
/// attributes holds.
pub fn entry_room(revision: UdfRevision, l_ea: usize, ad_len: usize) -> usize {
    (BLOCK as usize - entry_header(revision) - l_ea) / ad_len
}

/// Allocation descriptors of `ad_len` bytes an allocation extent descriptor holds.
pub fn aed_room(ad_len: usize) -> usize {
    (BLOCK as usize - AED_HEADER) / ad_len
}

/// Allocation extent descriptors needed for `n` descriptors of `ad_len` bytes when the
/// entry holds `room`: each full container gives its last slot to the pointer to the next.
pub fn aed_count(n: u64, room: usize, ad_len: usize) -> u32 {
    let (room, per) = (room as u64, aed_room(ad_len) as u64);
    if n <= room {
        return 0;
    }
    let mut left = n - (room - 1);
    let mut count = 1;
    while left > per {
        left -= per - 1;
        count += 1;
    }
    count
}

/// Bytes of a file identifier descriptor with an identifier of `l_fi` bytes (4/14.4),
/// padded to four.
pub fn fid_len(l_fi: usize) -> usize {
    (38 + l_fi).next_multiple_of(4)
}

/// Bytes `s` takes in OSTA compressed Unicode, without a limit.
fn cs0_len(s: &str) -> usize {
    if s.chars().all(|c| (c as u32) < 0x100) {
        1 + s.chars().count()
    } else {
        1 + 2 * s.encode_utf16().count()
    }
}

/// A name that fits a file identifier: as much of `name` as fits, `#` and a checksum of the
/// whole name (and `n` when not zero, to step past a taken name), then its extension when
/// that is short.
fn shorten(name: &str, n: u32) -> String {
    let crc = crate::fs::udf::spec::crc_itu_t(name.as_bytes());
    let tag = if n == 0 {
        format!("#{crc:04X}")
    } else {
        format!("#{crc:04X}{n}")
    };
    let ext = name
        .rfind('.')
        .filter(|&i| i > 0 && name.len() - i <= 16)
        .map_or("", |i| &name[i..]);
    let stem: Vec<char> = name[..name.len() - ext.len()].chars().collect();
    let mut keep = stem.len();
    loop {
        let candidate: String = stem[..keep].iter().collect::<String>() + &tag + ext;
        if cs0_len(&candidate) <= MAX_IDENT || keep == 0 {
            return candidate;
        }
        keep -= 1;
    }
}

/// A symbolic link target as path components (4/14.16.1, UDF 2.3.12): a root component for an
/// absolute target, `..` and `.` as their own types, names in OSTA compressed Unicode.
pub fn path_components(target: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    if target.starts_with('/') {
        out.extend_from_slice(&[2, 0, 0, 0]);
    }
    for part in target.split('/').filter(|p| !p.is_empty()) {
        match part {
            "." => out.extend_from_slice(&[4, 0, 0, 0]),
            ".." => out.extend_from_slice(&[3, 0, 0, 0]),
            name => {
                if cs0_len(name) > MAX_IDENT {
                    return Err(Error::invalid_input(format!(
                        "the link target {target} has a component too long for UDF"
                    )));
                }
                let ident = cs0(name, MAX_IDENT);
                out.extend_from_slice(&[5, ident.len() as u8, 0, 0]);
                out.extend_from_slice(&ident);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::tree::{Meta, Source};
    use crate::time::Timestamp;

    fn meta() -> Meta {
        Meta::synthetic(0o755, Timestamp::from_secs(0))
    }

    fn file(size: u64) -> Kind {
        Kind::File {
            source: Source::Bytes(Vec::new().into()),
            size,
        }
    }

    #[test]
    fn descriptors_spill_into_allocation_extents() {
        let room = entry_room(UdfRevision::V2_50, 0, LONG_AD);
        assert_eq!(room, 114);
        assert_eq!(aed_count(0, room, LONG_AD), 0);
        assert_eq!(aed_count(114, room, LONG_AD), 0);
        assert_eq!(aed_count(115, room, LONG_AD), 1);
        // 113 in the entry, 126 in the first extent.
        assert_eq!(aed_count(113 + 126, room, LONG_AD), 1);
        assert_eq!(aed_count(113 + 126 + 1, room, LONG_AD), 2);
        assert_eq!(entry_room(UdfRevision::V1_02, 0, SHORT_AD), 234);
        assert_eq!(entry_room(UdfRevision::V2_01, DEVICE_EA, SHORT_AD), 223);
        assert_eq!(ad_len(UdfRevision::V2_50, Data::Area(1)), SHORT_AD);
        assert_eq!(ad_len(UdfRevision::V2_50, Data::Shared(1)), LONG_AD);
    }

    #[test]
    fn hard_links_share_an_icb_and_ids_are_unique() {
        let mut t = FileTree::new(meta());
        let d = t.add(ROOT, "d", Kind::Dir(Vec::new()), meta()).unwrap();
        let mut linked = meta();
        linked.link_group = Some(7);
        let a = t.add(ROOT, "a", file(5000), linked).unwrap();
        let b = t.add(d, "b", file(5000), linked).unwrap();
        t.add(d, "l", Kind::Symlink("../a".into()), meta()).unwrap();
        let p = UdfPlan::new(&t, UdfRevision::V1_02, false).unwrap();
        assert_eq!(p.icbs.len(), 4);
        assert_eq!(p.icb_of(a).unwrap().block, p.icb_of(b).unwrap().block);
        assert_eq!(p.icb_of(a).unwrap().links, 2);
        assert_eq!(p.icb_of(ROOT).unwrap().links, 2);
        assert_eq!(p.icb_of(ROOT).unwrap().unique_id, 0);
        let ids: HashSet<u64> = p.icbs.iter().map(|i| i.unique_id).collect();
        assert_eq!(ids.len(), 4);
        assert!(p.icbs[1..].iter().all(|i| i.unique_id >= 16));
        assert_eq!((p.files, p.directories), (3, 2));
        // Root entry + its identifiers, d's entry + identifiers, a, l (inline).
        assert_eq!(p.area_blocks, 2 + 2 + 2 + 1 + 1);
        assert_eq!(next_unique(0x1_FFFF_FFFF), 0x2_0000_0010);
    }

    #[test]
    fn long_names_are_shortened_without_collisions() {
        let mut t = FileTree::new(meta());
        let base = "x".repeat(300);
        let n1 = t
            .add(ROOT, &format!("{base}1.txt"), file(0), meta())
            .unwrap();
        let n2 = t
            .add(ROOT, &format!("{base}2.txt"), file(0), meta())
            .unwrap();
        let wide = format!("{}日本.jpeg", "y".repeat(150));
        let n3 = t.add(ROOT, &wide, file(0), meta()).unwrap();
        let ok = t.add(ROOT, &"z".repeat(254), file(0), meta()).unwrap();
        let p = UdfPlan::new(&t, UdfRevision::V2_01, false).unwrap();
        let names: Vec<String> = [n1, n2, n3, ok]
            .iter()
            .map(|&n| crate::fs::udf::spec::cs0(&p.identifier(&t, n)))
            .collect();
        for (n, id) in [n1, n2, n3, ok].iter().zip(&names) {
            assert!(p.identifier(&t, *n).len() <= MAX_IDENT, "{id}");
        }
        assert_ne!(names[0], names[1]);
        assert!(names[0].ends_with(".txt") && names[0].contains('#'));
        assert!(names[2].ends_with(".jpeg") && names[2].starts_with("yyyy"));
        assert_eq!(names[3], "z".repeat(254));
    }

    #[test]
    fn link_targets_become_components() {
        assert_eq!(
            path_components("/etc/passwd").unwrap(),
            [
                &[2u8, 0, 0, 0][..],
                &[5, 4, 0, 0, 8],
                b"etc",
                &[5, 7, 0, 0, 8],
                b"passwd"
            ]
            .concat()
        );
        assert_eq!(
            path_components("../a/./b").unwrap()[..8],
            [3, 0, 0, 0, 5, 2, 0, 0]
        );
        assert!(path_components(&"q".repeat(255)).is_err());
    }
}
