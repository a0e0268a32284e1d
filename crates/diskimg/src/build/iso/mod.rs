//! The ISO 9660 writer: ECMA-119 levels 1-3 and ISO 9660:1999, Joliet, Rock Ridge (RRIP 1.12),
//! multi-extent files, deep-directory relocation; one pass, in order, with file reads overlapped.
//!
//! Supported: identifiers made unique per directory without collisions (`names`), path tables,
//! Rock Ridge permissions, owners, times, symlinks, device nodes, hard links (one copy of the
//! data, one serial number), relocation of directories deeper than eight levels to `rr_moved`
//! (CL/PL/RE), continuation areas for long names and link targets, files over 4 GiB as several
//! extents (level 3 and up), Joliet names of up to 64 or 103 UCS-2 units, reproducible output
//! (fixed volume times, clamped file times).
//! Not supported here: UDF, El Torito and hybrid boot records (added by their own modules when
//! asked for). A second file system sharing the file data (UDF, `build::udf`) gets sectors kept
//! by a [`Reserve`] and writes them as a [`Companion`].
//!
//! The layout is: system area (sectors 0-15), volume descriptors from 16, path tables, the
//! primary then Joliet directories, continuation areas, and file data in tree order.

pub mod boot;
mod encode;
pub mod hybrid;
mod layout;
mod md5;
mod names;
mod rrip;
mod write;

pub use write::{Companion, IsoProgress, write_iso, write_iso_with};

use crate::build::tree::{FileTree, Kind, NodeIndex};
use crate::error::{Error, Result};
use crate::time::Timestamp;
use layout::{BLOCK, IsoTree, MAX_EXTENT, RrFacts, TreeRules};
use names::Rules;
use std::collections::HashMap;

/// Interchange level of the primary tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsoLevel {
    /// 8.3 names, files in one extent.
    L1,
    /// 31-character names, files in one extent.
    L2,
    /// 31-character names, files in several extents (over 4 GiB).
    L3,
    /// ISO 9660:1999: 207-byte names, an enhanced volume descriptor.
    Iso1999,
}

/// What to write.
#[derive(Debug, Clone)]
pub struct IsoOptions {
    /// Volume identifier (the label).
    pub volume_id: String,
    /// Publisher identifier.
    pub publisher_id: String,
    /// Data preparer identifier.
    pub preparer_id: String,
    /// Application identifier.
    pub application_id: String,
    /// Interchange level.
    pub level: IsoLevel,
    /// Write Rock Ridge entries.
    pub rock_ridge: bool,
    /// Write a Joliet tree.
    pub joliet: bool,
    /// Allow Joliet names of 103 units instead of 64.
    pub joliet_long: bool,
    /// Volume times, and the newest file time allowed (reproducible images); `None` uses the
    /// current time and the files' own times.
    pub fixed_time: Option<Timestamp>,
    /// El Torito boot images and the catalog (the catalog file must be in the tree).
    pub boot: Option<boot::BootOptions>,
    /// Make the image hybrid (bootable from a USB stick) with this MBR code (432 bytes).
    pub hybrid_mbr: Option<Vec<u8>>,
    /// Implant an MD5 that checkisomd5 verifies.
    pub md5: bool,
    /// Sectors kept for a second file system on the image (UDF on a bridge disc).
    pub reserve: Reserve,
}

/// Sectors a second file system sharing the image (UDF, `build::udf`) asks the planner to keep;
/// [`Plan::reserved`] says where they went. File data stays shared: only structures are apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reserve {
    /// Sectors right after the volume descriptor set terminator (UDF's recognition sequence
    /// and volume descriptors).
    pub after_terminator: u32,
    /// Sectors right before the file data (UDF's file set, entries and directories).
    pub before_files: u32,
    /// Sectors right after the file data (UDF's closing anchor).
    pub after_files: u32,
    /// Keep sector 256 free (UDF's first anchor) and start `before_files` after it.
    pub keep_256: bool,
}

/// Where the planner put the areas of a [`Reserve`]: the first sector of each (0 when none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reserved {
    /// First sector after the descriptor set terminator.
    pub after_terminator: u32,
    /// First sector of the area before the file data.
    pub before_files: u32,
    /// First sector of the area after the file data.
    pub after_files: u32,
}

impl Default for IsoOptions {
    fn default() -> Self {
        IsoOptions {
            volume_id: "CDROM".into(),
            publisher_id: String::new(),
            preparer_id: concat!("DISKIMG ", env!("CARGO_PKG_VERSION")).into(),
            application_id: "DISKIMG".into(),
            level: IsoLevel::L3,
            rock_ridge: true,
            joliet: true,
            joliet_long: true,
            fixed_time: None,
            boot: None,
            hybrid_mbr: None,
            md5: false,
            reserve: Reserve::default(),
        }
    }
}

/// A file whose data goes into the image.
#[derive(Debug, Clone)]
pub struct PlannedFile {
    /// The tree node (the first of its hard links).
    pub node: NodeIndex,
    /// Bytes.
    pub size: u64,
    /// First sector.
    pub lba: u32,
}

/// The complete layout of an image.
pub struct Plan<'a> {
    pub(crate) tree: &'a FileTree,
    pub(crate) opts: IsoOptions,
    pub(crate) primary: IsoTree,
    pub(crate) joliet: Option<IsoTree>,
    pub(crate) files: Vec<PlannedFile>,
    pub(crate) descriptors: Descriptors,
    pub(crate) path_tables: PathTables,
    pub(crate) volume_blocks: u32,
    pub(crate) now: Timestamp,
    /// The planned catalog and boot images.
    pub(crate) boot: Option<BootPlan>,
    /// Where the sectors of `opts.reserve` are.
    pub(crate) reserved: Reserved,
}

/// Boot images resolved to planned files.
pub(crate) struct BootPlan {
    /// The catalog file.
    pub catalog: usize,
    /// Each image's planned file, with its options.
    pub images: Vec<(usize, boot::BootImage)>,
}

/// Sectors of the volume descriptors.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Descriptors {
    pub primary: u32,
    pub boot_record: Option<u32>,
    pub joliet: Option<u32>,
    pub enhanced: Option<u32>,
    pub terminator: u32,
}

/// Sectors and size of the path tables: (L, M) for the primary tree and for Joliet.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PathTables {
    pub primary: (u32, u32, u32),
    pub joliet: Option<(u32, u32, u32)>,
}

impl Plan<'_> {
    /// Sectors the image takes.
    pub fn volume_blocks(&self) -> u32 {
        self.volume_blocks
    }

    /// Sector where file data starts.
    pub fn data_start(&self) -> u32 {
        self.files.first().map_or(self.volume_blocks, |f| f.lba)
    }

    /// Where the reserved areas are.
    pub fn reserved(&self) -> Reserved {
        self.reserved
    }

    /// Sector where the ISO 9660 structures end: the file data, or the area reserved before it.
    fn structures_end(&self) -> u32 {
        if self.opts.reserve.before_files > 0 {
            self.reserved.before_files
        } else {
            self.data_start()
        }
    }
}

/// Lays out `tree` as an ISO image.
pub fn plan(tree: &FileTree, opts: IsoOptions) -> Result<Plan<'_>> {
    let now = opts.fixed_time.unwrap_or_else(current_time);
    // Files with data, in tree order; hard links share one copy.
    let mut files = Vec::new();
    let mut file_index: HashMap<NodeIndex, usize> = HashMap::new();
    let mut group_index: HashMap<u64, usize> = HashMap::new();
    for i in tree.depth_first() {
        let n = tree.node(i);
        let Kind::File { size, .. } = n.kind else {
            continue;
        };
        if size == 0 {
            continue;
        }
        if size > MAX_EXTENT && matches!(opts.level, IsoLevel::L1 | IsoLevel::L2) {
            return Err(Error::invalid_input(format!(
                "{} is over 4 GiB: it needs ISO level 3 (multi-extent files)",
                tree.path(i)
            )));
        }
        let index = match n.meta.link_group.and_then(|g| group_index.get(&g)) {
            Some(&f) => f,
            None => {
                files.push(PlannedFile {
                    node: i,
                    size,
                    lba: 0,
                });
                if let Some(g) = n.meta.link_group {
                    group_index.insert(g, files.len() - 1);
                }
                files.len() - 1
            }
        };
        file_index.insert(i, index);
    }
    let file_sizes: Vec<u64> = files.iter().map(|f| f.size).collect();
    let facts = opts.rock_ridge.then(|| rr_facts(tree, opts.fixed_time));
    let primary_rules = match opts.level {
        IsoLevel::L1 => Rules::Level1,
        IsoLevel::L2 | IsoLevel::L3 => Rules::Level2,
        IsoLevel::Iso1999 => Rules::Iso1999,
    };
    let primary = layout::build(
        tree,
        &TreeRules {
            names: primary_rules,
            rr: facts.as_ref(),
            relocate: opts.rock_ridge && opts.level != IsoLevel::Iso1999,
            file_index: &file_index,
            file_sizes: &file_sizes,
        },
    )?;
    let joliet = opts
        .joliet
        .then(|| {
            layout::build(
                tree,
                &TreeRules {
                    names: Rules::Joliet(if opts.joliet_long { 103 } else { 64 }),
                    rr: None,
                    relocate: false,
                    file_index: &file_index,
                    file_sizes: &file_sizes,
                },
            )
        })
        .transpose()?;
    let boot = opts
        .boot
        .as_ref()
        .map(|b| resolve_boot(tree, b, &file_index))
        .transpose()?;
    let mut plan = Plan {
        tree,
        opts,
        primary,
        joliet,
        files,
        descriptors: Descriptors::default(),
        path_tables: PathTables::default(),
        volume_blocks: 0,
        now,
        boot,
        reserved: Reserved::default(),
    };
    assign_sectors(&mut plan)?;
    Ok(plan)
}

fn blocks(bytes: u64) -> u32 {
    u32::try_from(bytes.div_ceil(BLOCK as u64)).unwrap_or(u32::MAX)
}

/// Gives every structure and file its sectors, in writing order.
fn assign_sectors(p: &mut Plan<'_>) -> Result<()> {
    let next = std::cell::Cell::new(16u64);
    let keep_256 = p.opts.reserve.keep_256;
    let take = |n: u32| -> u32 {
        // With `keep_256`, nothing is placed across sector 256 (UDF's anchor).
        if keep_256 && n > 0 && next.get() <= 256 && next.get() + u64::from(n) > 256 {
            next.set(257);
        }
        let at = next.get() as u32;
        next.set(next.get() + u64::from(n));
        at
    };
    p.descriptors.primary = take(1);
    if p.boot.is_some() {
        p.descriptors.boot_record = Some(take(1));
    }
    if p.joliet.is_some() {
        p.descriptors.joliet = Some(take(1));
    }
    if p.opts.level == IsoLevel::Iso1999 {
        p.descriptors.enhanced = Some(take(1));
    }
    p.descriptors.terminator = take(1);
    let reserve = p.opts.reserve;
    if reserve.after_terminator > 0 {
        p.reserved.after_terminator = take(reserve.after_terminator);
    }
    let size = encode::path_table_size(&p.primary);
    let (l, m) = (take(blocks(size.into())), take(blocks(size.into())));
    p.path_tables.primary = (l, m, size);
    if let Some(j) = &p.joliet {
        let size = encode::path_table_size(j);
        let (l, m) = (take(blocks(size.into())), take(blocks(size.into())));
        p.path_tables.joliet = Some((l, m, size));
    }
    for tree in std::iter::once(&mut p.primary).chain(p.joliet.as_mut()) {
        for d in tree.extent_order.clone() {
            tree.dirs[d].lba = take(blocks(tree.dirs[d].size.into()));
            // Its continuation areas follow it, packed so that none crosses a sector.
            let mut cur: Option<(u32, usize)> = None;
            for a in tree.dirs[d].areas.clone() {
                let len = tree.areas[a].len();
                let (lba, used) = match cur {
                    Some((lba, used)) if used + len <= BLOCK => (lba, used),
                    _ => (take(1), 0),
                };
                tree.areas[a].lba = lba;
                tree.areas[a].offset = used as u32;
                cur = Some((lba, used + len));
            }
        }
    }
    if reserve.before_files > 0 {
        if keep_256 {
            next.set(next.get().max(257));
        }
        p.reserved.before_files = take(reserve.before_files);
    }
    for f in &mut p.files {
        f.lba = take(blocks(f.size));
    }
    if reserve.after_files > 0 {
        p.reserved.after_files = take(reserve.after_files);
    }
    if p.opts.hybrid_mbr.is_some() {
        // A hybrid image ends on a 1 MiB boundary (isohybrid's cylinders), with room for the
        // backup GPT in its last sectors.
        let end = take(0) as u64;
        let gpt_room = hybrid::BACKUP_GPT_SECTORS.div_ceil(4);
        let padded = (end + gpt_room).next_multiple_of(512);
        take((padded - end) as u32);
    }
    p.volume_blocks = u32::try_from(next.get())
        .map_err(|_| Error::invalid_input("the image would exceed 8 TiB, the limit of ISO 9660"))?;
    Ok(())
}

/// Finds the catalog and boot images in the tree; each must be a regular file with data.
fn resolve_boot(
    tree: &FileTree,
    b: &boot::BootOptions,
    file_index: &HashMap<NodeIndex, usize>,
) -> Result<BootPlan> {
    let file = |path: &str, what: &str| -> Result<usize> {
        let node = tree
            .lookup(path)
            .ok_or_else(|| Error::not_found(format!("{what} {path} is not in the tree")))?;
        file_index.get(&node).copied().ok_or_else(|| {
            Error::invalid_input(format!("{what} {path} is not a regular file with data"))
        })
    };
    if b.images.is_empty() {
        return Err(Error::invalid_input(
            "a boot catalog needs at least one boot image",
        ));
    }
    let images = b
        .images
        .iter()
        .map(|i| Ok((file(&i.path, "boot image")?, i.clone())))
        .collect::<Result<Vec<_>>>()?;
    Ok(BootPlan {
        catalog: file(&b.catalog, "boot catalog")?,
        images,
    })
}

/// Serial numbers and link counts for Rock Ridge.
fn rr_facts(tree: &FileTree, clamp: Option<Timestamp>) -> RrFacts {
    let n = tree.len();
    let mut ino = vec![0u32; n];
    let mut nlink = vec![1u32; n];
    let mut groups: HashMap<u64, (u32, u32)> = HashMap::new(); // group -> (ino, count)
    for i in 0..n {
        if let Some(g) = tree.node(i).meta.link_group {
            groups.entry(g).or_insert((i as u32 + 1, 0)).1 += 1;
        }
    }
    for i in 0..n {
        let node = tree.node(i);
        ino[i] = i as u32 + 1;
        match &node.kind {
            Kind::Dir(children) => {
                let subdirs = children
                    .iter()
                    .filter(|&&c| matches!(tree.node(c).kind, Kind::Dir(_)))
                    .count();
                nlink[i] = 2 + subdirs as u32;
            }
            _ => {
                if let Some((first, count)) = node.meta.link_group.and_then(|g| groups.get(&g)) {
                    ino[i] = *first;
                    nlink[i] = *count;
                }
            }
        }
    }
    RrFacts { ino, nlink, clamp }
}

fn current_time() -> Timestamp {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp {
        secs: i64::try_from(d.as_secs()).unwrap_or(0),
        nanos: 0,
    }
}
