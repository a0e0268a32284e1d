//! Planning a FAT volume: which tree nodes go in, their names in each folder, how many
//! directory entries each folder takes, the size of the volume, and where every directory and
//! file lies. Clusters are given in one ascending sweep (the FAT32 root, every other folder in
//! depth-first order, then every file's data in the same order), so every chain is one run of
//! consecutive clusters and the used clusters form one block at the start of the data area.

use super::entry::{ATTR_ARCHIVE, ATTR_DIRECTORY, ATTR_READ_ONLY};
use super::geometry::{self, Geometry, SECTOR};
use super::names::{self, FatName, ShortNames};
use crate::build::tree::{FileTree, Kind, NodeIndex};
use crate::error::{Error, ErrorKind, Result};
use crate::fs::fat::FatType;
use crate::time::Timestamp;
use std::collections::HashMap;

/// Most 32-byte entries in one directory (the specification's limit: 2 MiB).
pub const MAX_DIR_ENTRIES: u32 = 65536;
/// Largest file FAT can hold.
pub const MAX_FILE_SIZE: u64 = u32::MAX as u64;

/// What a directory entry points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// A folder: its index in [`Layout::dirs`].
    Dir(usize),
    /// A file with data: its index in [`Layout::files`].
    File(usize),
    /// An empty file (no clusters).
    Empty,
}

/// One named entry of a folder.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The tree node.
    pub node: NodeIndex,
    /// Its short name, case flags, and whether long entries are written.
    pub name: FatName,
    /// The long name when long entries are written.
    pub long: Option<Box<str>>,
    /// What it points at.
    pub target: Target,
}

impl Entry {
    /// 32-byte slots the entry takes.
    fn slots(&self) -> u32 {
        1 + self
            .long
            .as_deref()
            .map_or(0, |l| names::lfn_count(l) as u32)
    }
}

/// One folder.
#[derive(Debug, Clone)]
pub(crate) struct Dir {
    /// The tree node (the root of the volume for `dirs[0]`).
    pub node: NodeIndex,
    /// Index of the parent folder (the root is its own parent).
    pub parent: usize,
    /// Its named entries, in the tree's order.
    pub entries: Vec<Entry>,
    /// 32-byte slots: entries, long-name entries, `.` and `..` (in the root: one for the
    /// label).
    pub slots: u32,
    /// First cluster (0 for the fixed root of FAT12/16).
    pub first_cluster: u32,
    /// Clusters it takes.
    pub clusters: u32,
}

/// One file with data.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DataFile {
    /// The tree node.
    pub node: NodeIndex,
    /// Bytes.
    pub size: u64,
    /// First cluster.
    pub first_cluster: u32,
}

/// The folders and files of a volume, before and after clusters are given.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub dirs: Vec<Dir>,
    pub files: Vec<DataFile>,
    pub warnings: Vec<String>,
    /// Last cluster of every chain, ascending.
    pub chain_ends: Vec<u32>,
    /// First cluster not used.
    pub next_free: u32,
}

/// Gathers the folders and files below `root` with their FAT names.
pub(crate) fn collect(tree: &FileTree, root: NodeIndex) -> Result<Layout> {
    if !matches!(tree.node(root).kind, Kind::Dir(_)) {
        return Err(Error::invalid_input(format!(
            "{} is not a folder",
            tree.path(root)
        )));
    }
    let mut dirs: Vec<Dir> = Vec::new();
    let mut files = Vec::new();
    let mut warnings = Vec::new();
    // Depth first; each folder's entries are named when the folder is met. Children found
    // here are numbered when they are met in turn, so targets are fixed up afterwards.
    let mut dir_of: HashMap<NodeIndex, usize> = HashMap::new();
    let mut stack = vec![(root, 0usize)];
    while let Some((node, parent)) = stack.pop() {
        match &tree.node(node).kind {
            Kind::Dir(children) => {
                let index = dirs.len();
                dir_of.insert(node, index);
                let entries = name_entries(tree, children, &mut warnings)?;
                // `.` and `..`; in the root, the label entry (kept free when there is none).
                let fixed = if index == 0 { 1 } else { 2 };
                let slots = entries.iter().map(Entry::slots).sum::<u32>() + fixed;
                if slots > MAX_DIR_ENTRIES {
                    return Err(Error::new(
                        ErrorKind::LimitExceeded,
                        format!(
                            "{} needs {slots} directory entries; a FAT folder holds at most {MAX_DIR_ENTRIES}",
                            tree.path(node)
                        ),
                    ));
                }
                stack.extend(entries.iter().rev().map(|e| (e.node, index)));
                dirs.push(Dir {
                    node,
                    parent: if index == 0 { 0 } else { parent },
                    entries,
                    slots,
                    first_cluster: 0,
                    clusters: 0,
                });
            }
            Kind::File { size, .. } => {
                if *size > MAX_FILE_SIZE {
                    return Err(Error::invalid_input(format!(
                        "{} is {size} bytes; FAT files hold at most {MAX_FILE_SIZE}",
                        tree.path(node)
                    )));
                }
                if *size > 0 {
                    files.push(DataFile {
                        node,
                        size: *size,
                        first_cluster: 0,
                    });
                }
            }
            _ => {}
        }
    }
    let file_of: HashMap<NodeIndex, usize> =
        files.iter().enumerate().map(|(i, f)| (f.node, i)).collect();
    for d in &mut dirs {
        for e in &mut d.entries {
            e.target = if let Some(&i) = dir_of.get(&e.node) {
                Target::Dir(i)
            } else if let Some(&i) = file_of.get(&e.node) {
                Target::File(i)
            } else {
                Target::Empty
            };
        }
    }
    Ok(Layout {
        dirs,
        files,
        warnings,
        chain_ends: Vec::new(),
        next_free: 2,
    })
}

/// Names the children of one folder, leaving out what FAT cannot hold.
fn name_entries(
    tree: &FileTree,
    children: &[NodeIndex],
    warnings: &mut Vec<String>,
) -> Result<Vec<Entry>> {
    let mut shorts = ShortNames::default();
    let mut exact: HashMap<String, NodeIndex> = HashMap::new();
    let mut folded: HashMap<String, NodeIndex> = HashMap::new();
    let mut named: Vec<(NodeIndex, String)> = Vec::with_capacity(children.len());
    for &c in children {
        let n = tree.node(c);
        match n.kind {
            Kind::Dir(_) | Kind::File { .. } => {}
            Kind::Symlink(ref target) => {
                warnings.push(format!(
                    "{}: symlink to '{target}' left out (FAT has no symlinks; --follow-symlinks stores what it points to)",
                    tree.path(c)
                ));
                continue;
            }
            _ => {
                warnings.push(format!(
                    "{}: device or pipe left out (FAT holds files and folders only)",
                    tree.path(c)
                ));
                continue;
            }
        }
        let long = names::valid_long_name(&n.name).map_err(|e| e.with_path(tree.path(c)))?;
        if long != n.name.as_str() {
            warnings.push(format!(
                "{}: stored as '{long}' (FAT does not allow the name)",
                tree.path(c)
            ));
        }
        if let Some(&other) = exact.get(long.as_ref()) {
            return Err(Error::invalid_input(format!(
                "{} and {} both become '{long}' on FAT",
                tree.path(other),
                tree.path(c)
            )));
        }
        exact.insert(long.clone().into_owned(), c);
        // FAT compares names without case: two names that differ only in case are kept, each
        // with its own short name, but Windows opens only the first.
        match folded.entry(long.to_lowercase()) {
            std::collections::hash_map::Entry::Occupied(o) => warnings.push(format!(
                "{} and {} differ only in case: both are stored, but Windows opens only the first",
                tree.path(*o.get()),
                tree.path(c)
            )),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(c);
            }
        }
        named.push((c, long.into_owned()));
    }
    // Names that fit 8.3 claim their short names first, so that a generated `NAME~1` never
    // takes the short name of a file literally called `NAME~1`.
    let mut short: Vec<Option<FatName>> = vec![None; named.len()];
    for fits in [true, false] {
        for (i, (_, long)) in named.iter().enumerate() {
            if names::fits_8_3(long) == fits {
                short[i] = Some(shorts.assign(long)?);
            }
        }
    }
    Ok(named
        .into_iter()
        .zip(short)
        .filter_map(|((node, long), name)| {
            let name = name?;
            Some(Entry {
                node,
                long: name.long.then(|| long.into_boxed_str()),
                name,
                target: Target::Empty,
            })
        })
        .collect())
}

/// Attribute byte of an entry.
pub(crate) fn attributes(tree: &FileTree, node: NodeIndex) -> u8 {
    let n = tree.node(node);
    match n.kind {
        Kind::Dir(_) => ATTR_DIRECTORY,
        _ if n.meta.mode & 0o222 == 0 => ATTR_ARCHIVE | ATTR_READ_ONLY,
        _ => ATTR_ARCHIVE,
    }
}

/// A node's modification time, clamped for reproducible images.
pub(crate) fn mtime(tree: &FileTree, node: NodeIndex, clamp: Option<Timestamp>) -> Timestamp {
    let t = tree.node(node).meta.mtime;
    match clamp {
        Some(c) if t > c => c,
        _ => t,
    }
}

impl Layout {
    /// Root directory entries a fixed FAT12/16 root needs.
    pub fn root_slots(&self) -> u32 {
        self.dirs[0].slots
    }

    /// Clusters the tree takes with clusters of `size` bytes; `fat32` counts the root too.
    pub fn clusters_needed(&self, size: u64, fat32: bool) -> u64 {
        let dirs: u64 = self
            .dirs
            .iter()
            .enumerate()
            .filter(|(i, _)| fat32 || *i != 0)
            .map(|(_, d)| (u64::from(d.slots) * 32).div_ceil(size).max(1))
            .sum();
        dirs + self
            .files
            .iter()
            .map(|f| f.size.div_ceil(size))
            .sum::<u64>()
    }

    /// Whether the tree fits a geometry with `slack_percent` of its clusters to spare.
    pub fn fits(&self, g: &Geometry, slack_percent: u32) -> bool {
        let need = self.clusters_needed(g.cluster_size(), g.fat_type == FatType::Fat32);
        let with_slack = need + need * u64::from(slack_percent) / 100;
        (g.fat_type == FatType::Fat32 || self.root_slots() <= g.root_entries)
            && with_slack <= u64::from(g.clusters)
    }

    /// Gives every folder and file its clusters.
    pub fn allocate(&mut self, g: &Geometry) -> Result<()> {
        let cs = g.cluster_size();
        let mut next: u64 = 2;
        let mut ends = Vec::with_capacity(self.dirs.len() + self.files.len());
        let fat32 = g.fat_type == FatType::Fat32;
        for (i, d) in self.dirs.iter_mut().enumerate() {
            if i == 0 && !fat32 {
                continue;
            }
            let n = (u64::from(d.slots) * 32).div_ceil(cs).max(1);
            d.first_cluster = next as u32;
            d.clusters = n as u32;
            next += n;
            ends.push((next - 1) as u32);
        }
        for f in &mut self.files {
            let n = f.size.div_ceil(cs);
            f.first_cluster = next as u32;
            next += n;
            ends.push((next - 1) as u32);
        }
        let used = next - 2;
        if used > u64::from(g.clusters) {
            return Err(Error::new(
                ErrorKind::NoSpace,
                format!(
                    "the tree needs {used} clusters of {cs} bytes ({} bytes) but this {} volume has {}",
                    used * cs,
                    g.fat_type.name().to_uppercase(),
                    g.clusters
                ),
            ));
        }
        self.chain_ends = ends;
        self.next_free = next as u32;
        Ok(())
    }

    /// Bytes of data and directories, a floor for any volume that holds them.
    pub fn bytes_floor(&self) -> u64 {
        let dirs: u64 = self.dirs.iter().map(|d| u64::from(d.slots) * 32).sum();
        dirs + self.files.iter().map(|f| f.size).sum::<u64>()
    }
}

/// A volume size in bytes and its geometry.
pub(crate) struct SizedImage {
    /// Bytes of the image (including a partition table when `partitioned`).
    pub image: u64,
    /// The geometry of the volume.
    pub geometry: Geometry,
}

/// How big the image is: the size given, or the smallest candidate that holds the tree with
/// `slack_percent` to spare (the floppy sizes first when `floppies`, then whole MiB, in steps
/// of 1/64 of the size). `volume_of` maps an image size to the volume's size.
pub(crate) fn size_image(
    layout: &Layout,
    given: Option<u64>,
    forced: Option<FatType>,
    slack_percent: u32,
    max_image: u64,
    floppies: bool,
    volume_of: &dyn Fn(u64) -> Result<u64>,
) -> Result<SizedImage> {
    let root = layout.root_slots();
    if let Some(image) = given {
        let image = image / SECTOR * SECTOR;
        let geometry = geometry::choose(volume_of(image)?, forced, root, floppies)?;
        if !layout.fits(&geometry, 0) {
            let need = layout
                .clusters_needed(geometry.cluster_size(), geometry.fat_type == FatType::Fat32);
            return Err(Error::new(
                ErrorKind::NoSpace,
                format!(
                    "the tree needs {} bytes ({need} clusters of {} bytes) but a {} volume of {image} bytes holds {}; give a larger size or none",
                    need * geometry.cluster_size(),
                    geometry.cluster_size(),
                    geometry.fat_type.name().to_uppercase(),
                    u64::from(geometry.clusters) * geometry.cluster_size(),
                ),
            ));
        }
        return Ok(SizedImage { image, geometry });
    }
    const MIB: u64 = 1 << 20;
    let floor = layout.bytes_floor() / MIB;
    let mut candidates: Vec<u64> = if floppies {
        vec![1440 << 10, 2880 << 10]
    } else {
        Vec::new()
    };
    let mut mib = floor.max(if floppies { 3 } else { 2 });
    let last = max_image / MIB;
    let mut tried = 0;
    loop {
        let size = match candidates.first() {
            Some(&c) => {
                candidates.remove(0);
                c
            }
            None if mib <= last => {
                let s = mib * MIB;
                mib += (mib / 64).max(1);
                s
            }
            None => break,
        };
        tried += 1;
        let Ok(volume) = volume_of(size) else {
            continue;
        };
        let Ok(geometry) = geometry::choose(volume, forced, root, floppies) else {
            continue;
        };
        if layout.fits(&geometry, slack_percent) {
            return Ok(SizedImage {
                image: size,
                geometry,
            });
        }
    }
    Err(Error::new(
        ErrorKind::NoSpace,
        format!(
            "the tree ({} bytes) fits no {}volume up to {max_image} bytes ({tried} sizes tried)",
            layout.bytes_floor(),
            forced.map_or(String::new(), |t| format!("{} ", t.name().to_uppercase()))
        ),
    ))
}
