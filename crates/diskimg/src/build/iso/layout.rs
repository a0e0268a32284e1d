//! The directory trees of an ISO image: which directory sits where (deep directories relocated
//! for Rock Ridge), the identifier of every entry, its Rock Ridge entries, and the size of every
//! directory — everything about the trees except the sectors, which `plan` assigns.

use super::names::{Rules, identifiers, iso_order};
use super::rrip::{self, Su};
use crate::build::tree::{FileTree, Kind, NodeIndex, ROOT};
use crate::error::{Error, Result};
use crate::time::Timestamp;
use std::collections::HashMap;

/// Bytes of one logical block.
pub const BLOCK: usize = 2048;
/// Deepest level ECMA-119 allows (the root is level 1).
const MAX_LEVEL: usize = 8;

/// What an entry of a directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A subdirectory (index into [`IsoTree::dirs`]).
    Dir(usize),
    /// A regular file (index into the plan's file list).
    File(usize),
    /// A zero-length record: symlink, device, fifo, relocation placeholder, empty file.
    Empty,
}

/// One entry of a directory.
#[derive(Debug, Clone)]
pub struct IsoEntry {
    /// The file identifier as recorded.
    pub ident: Vec<u8>,
    /// The tree node it stands for.
    pub node: NodeIndex,
    /// What it is.
    pub target: Target,
    /// System use entries in the record.
    pub su: Vec<Su>,
    /// Length of each record this entry takes (several for a multi-extent file).
    pub records: Vec<usize>,
}

/// One directory of a tree.
#[derive(Debug, Clone)]
pub struct IsoDir {
    /// The tree node, or `None` for the relocation directory.
    pub node: Option<NodeIndex>,
    /// The parent directory (the root is its own parent).
    pub parent: usize,
    /// Its identifier in the parent (`[0]` for the root).
    pub ident: Vec<u8>,
    /// Entries in recorded order.
    pub entries: Vec<IsoEntry>,
    /// System use of its "." and ".." records.
    pub dot_su: Vec<Su>,
    /// System use of its ".." record.
    pub dotdot_su: Vec<Su>,
    /// Bytes of its extent (whole blocks).
    pub size: u32,
    /// The continuation areas its records use (indices into [`IsoTree::areas`]); they are
    /// placed right after the directory, where forward-reading readers (libarchive) expect them.
    pub areas: std::ops::Range<usize>,
    /// First sector, set by the planner.
    pub lba: u32,
}

/// A continuation area: where it goes and what it holds.
#[derive(Debug, Clone)]
pub struct Area {
    /// The entries.
    pub su: Vec<Su>,
    /// Sector and offset, set by the planner.
    pub lba: u32,
    /// Offset within the sector.
    pub offset: u32,
}

impl Area {
    /// Bytes it takes.
    pub fn len(&self) -> usize {
        self.su.iter().map(Su::len).sum()
    }
}

/// One directory hierarchy (primary or Joliet) with its directories in path-table order.
#[derive(Debug, Clone)]
pub struct IsoTree {
    /// Directories; `dirs[0]` is the root, the order is the path table's.
    pub dirs: Vec<IsoDir>,
    /// Continuation areas.
    pub areas: Vec<Area>,
    /// Whether identifiers are UCS-2 (Joliet).
    pub ucs2: bool,
    /// The order directories get their sectors: the root, the relocation directory and every
    /// directory moved into it, then the rest, each after its parent. libarchive reads
    /// directories in sector order and can only join a relocated directory nested in another
    /// (trees over 16 levels) before the outer one is joined to its `CL` entry.
    pub extent_order: Vec<usize>,
}

/// How one tree is laid out.
pub struct TreeRules<'a> {
    /// Identifier rules.
    pub names: Rules,
    /// Rock Ridge facts, when the tree carries them.
    pub rr: Option<&'a RrFacts>,
    /// Move directories deeper than eight levels to a relocation directory.
    pub relocate: bool,
    /// Size of each file's data, per tree node, for splitting files over 4 GiB.
    pub file_index: &'a HashMap<NodeIndex, usize>,
    /// Sizes of the planned files.
    pub file_sizes: &'a [u64],
}

/// Rock Ridge facts that do not depend on placement.
pub struct RrFacts {
    /// Serial number of each node (hard links share one).
    pub ino: Vec<u32>,
    /// Link count of each node.
    pub nlink: Vec<u32>,
    /// Times are clamped to this (reproducible builds).
    pub clamp: Option<Timestamp>,
}

/// Largest extent of a multi-extent file: 4 GiB less one block.
pub const MAX_EXTENT: u64 = 0xFFFF_F800;

/// Name of the relocation directory.
const RR_MOVED: &str = "rr_moved";

/// Builds one tree.
pub fn build(tree: &FileTree, rules: &TreeRules<'_>) -> Result<IsoTree> {
    // 1. Placement: each tree directory's parent in the ISO hierarchy, relocating when deep.
    let mut iso_of: HashMap<NodeIndex, usize> = HashMap::from([(ROOT, 0)]);
    let mut dirs = vec![IsoDir::new(Some(ROOT), 0, vec![0])];
    let mut level = vec![1usize];
    let mut relocated: Vec<(NodeIndex, usize)> = Vec::new(); // (dir node, real parent iso dir)
    let mut moved: Option<usize> = None;
    for i in tree.depth_first() {
        if i == ROOT || !matches!(tree.node(i).kind, Kind::Dir(_)) {
            continue;
        }
        let real_parent = iso_of[&tree.node(i).parent];
        let (parent, lvl) = if rules.relocate && level[real_parent] + 1 > MAX_LEVEL {
            let m = *moved.get_or_insert_with(|| {
                dirs.push(IsoDir::new(None, 0, Vec::new()));
                level.push(2);
                dirs.len() - 1
            });
            relocated.push((i, real_parent));
            (m, 3)
        } else {
            (real_parent, level[real_parent] + 1)
        };
        iso_of.insert(i, dirs.len());
        dirs.push(IsoDir::new(Some(i), parent, Vec::new()));
        level.push(lvl);
    }
    let reloc_parent: HashMap<NodeIndex, usize> = relocated.iter().copied().collect();

    // 2. Entries of each directory with their identifiers, in recorded order.
    let root_names: Vec<&str> = tree
        .children(ROOT)
        .iter()
        .map(|&c| tree.node(c).name.as_str())
        .collect();
    let moved_name = unique_name(RR_MOVED, &root_names);
    for d in 0..dirs.len() {
        let mut items: Vec<(String, NodeIndex, Target, bool)> = Vec::new(); // name, node, target, dir-like
        match dirs[d].node {
            Some(node) => {
                for &c in tree.children(node) {
                    let n = tree.node(c);
                    let target = match &n.kind {
                        Kind::Dir(_) if reloc_parent.contains_key(&c) => Target::Empty,
                        Kind::Dir(_) => Target::Dir(iso_of[&c]),
                        Kind::File { .. } => rules
                            .file_index
                            .get(&c)
                            .map_or(Target::Empty, |&f| Target::File(f)),
                        _ => Target::Empty,
                    };
                    let dir_like = matches!(n.kind, Kind::Dir(_));
                    items.push((n.name.clone(), c, target, dir_like));
                }
                if d == 0 {
                    if let Some(m) = moved {
                        items.push((moved_name.clone(), ROOT, Target::Dir(m), true));
                    }
                }
            }
            None => {
                for &(c, _) in &relocated {
                    items.push((tree.node(c).name.clone(), c, Target::Dir(iso_of[&c]), true));
                }
            }
        }
        let names: Vec<(&str, bool)> = items
            .iter()
            .map(|(n, _, _, dl)| (n.as_str(), *dl))
            .collect();
        let ids = identifiers(&names, rules.names);
        let mut entries: Vec<IsoEntry> = items
            .into_iter()
            .zip(ids)
            .map(|((name, node, target, _), ident)| {
                let is_moved_dir = dirs[d].node.is_some() && node == ROOT;
                let su = match rules.rr {
                    Some(f) if is_moved_dir => entry_su_moved(&name, f),
                    Some(f) => entry_su(
                        tree,
                        node,
                        &name,
                        f,
                        target,
                        &reloc_parent,
                        &iso_of,
                        dirs[d].node.is_none(),
                    ),
                    None => Vec::new(),
                };
                IsoEntry {
                    ident,
                    node,
                    target,
                    su,
                    records: Vec::new(),
                }
            })
            .collect();
        if rules.names == Rules::Level1 || rules.names == Rules::Level2 {
            entries.sort_by(|a, b| iso_order(&a.ident, &b.ident));
        } else {
            entries.sort_by(|a, b| a.ident.cmp(&b.ident));
        }
        for e in &entries {
            if let Target::Dir(c) = e.target {
                dirs[c].ident = e.ident.clone();
            }
        }
        dirs[d].entries = entries;
    }

    // 3. "." and ".." system use.
    if let Some(f) = rules.rr {
        for d in 0..dirs.len() {
            let parent = dirs[d].parent;
            let mut dot = Vec::new();
            if d == 0 {
                dot.push(Su::Entry(rrip::sp()));
                dot.push(Su::Entry(rrip::er()));
            }
            dot.extend(dir_attrs(tree, dirs[d].node, f));
            let mut dotdot = dir_attrs(tree, dirs[parent].node, f);
            if let Some(&real) = dirs[d].node.and_then(|n| reloc_parent.get(&n)) {
                dotdot.push(Su::ParentLink(real));
            }
            dirs[d].dot_su = dot;
            dirs[d].dotdot_su = dotdot;
        }
    }

    // 4. Path-table order: breadth first, children in recorded order.
    let mut order = vec![0usize];
    let mut at = 0;
    while at < order.len() {
        let d = order[at];
        for e in &dirs[d].entries {
            if let Target::Dir(c) = e.target {
                order.push(c);
            }
        }
        at += 1;
    }
    let mut new_index = vec![0usize; dirs.len()];
    for (n, &old) in order.iter().enumerate() {
        new_index[old] = n;
    }
    let mut sorted: Vec<IsoDir> = order.iter().map(|&o| dirs[o].clone()).collect();
    for d in &mut sorted {
        d.parent = new_index[d.parent];
        for e in &mut d.entries {
            if let Target::Dir(c) = &mut e.target {
                *c = new_index[*c];
            }
            renumber(&mut e.su, &new_index);
        }
        renumber(&mut d.dotdot_su, &new_index);
    }

    let extent_order = extent_order(&sorted);

    // 5. Records, continuation areas and directory sizes.
    let mut areas: Vec<Area> = Vec::new();
    for d in &mut sorted {
        let first_area = areas.len();
        let mut used = 0usize;
        let mut place = |len: usize| {
            if used % BLOCK + len > BLOCK {
                used = used.next_multiple_of(BLOCK);
            }
            used += len;
        };
        for su in [&mut d.dot_su, &mut d.dotdot_su] {
            let len = fit(su, 1, &mut areas);
            place(len);
        }
        for e in &mut d.entries {
            let extents = match e.target {
                Target::File(f) => rules.file_sizes[f].div_ceil(MAX_EXTENT).max(1) as usize,
                _ => 1,
            };
            // Every record of a multi-extent file carries the same system use (readers match
            // the parts by their Rock Ridge name).
            let len = fit(&mut e.su, e.ident.len(), &mut areas);
            e.records = vec![len; extents];
            for &r in &e.records {
                place(r);
            }
        }
        d.areas = first_area..areas.len();
        d.size = u32::try_from(used.next_multiple_of(BLOCK)).map_err(|_| {
            Error::invalid_input(
                "a directory holds too many entries for ISO 9660 (over 4 GiB of records)",
            )
        })?;
    }
    Ok(IsoTree {
        dirs: sorted,
        areas,
        ucs2: matches!(rules.names, Rules::Joliet(_)),
        extent_order,
    })
}

/// Directories depth first through the ISO hierarchy, the relocation directory and the
/// directories moved into it first (as genisoimage lays them out).
fn extent_order(dirs: &[IsoDir]) -> Vec<usize> {
    let mut children = vec![Vec::new(); dirs.len()];
    for (d, dir) in dirs.iter().enumerate().skip(1) {
        children[dir.parent].push(d);
    }
    children[0].sort_by_key(|&d| dirs[d].node.is_some());
    let mut order = Vec::with_capacity(dirs.len());
    let mut stack = vec![0usize];
    while let Some(d) = stack.pop() {
        order.push(d);
        stack.extend(children[d].iter().rev());
    }
    order
}

/// Rewrites directory numbers inside CL/PL entries after reordering.
fn renumber(su: &mut [Su], new_index: &[usize]) {
    for s in su {
        if let Su::ChildLink(d) | Su::ParentLink(d) = s {
            *d = new_index[*d];
        }
    }
}

impl IsoDir {
    fn new(node: Option<NodeIndex>, parent: usize, ident: Vec<u8>) -> Self {
        IsoDir {
            node,
            parent,
            ident,
            entries: Vec::new(),
            dot_su: Vec::new(),
            dotdot_su: Vec::new(),
            size: 0,
            areas: 0..0,
            lba: 0,
        }
    }
}

/// Length of a directory record with an identifier of `id_len` bytes and `su_len` bytes of
/// system use, padded to even.
pub fn record_len(id_len: usize, su_len: usize) -> usize {
    (33 + id_len + usize::from(id_len % 2 == 0) + su_len).next_multiple_of(2)
}

/// Packs a record's system use into at most 255 bytes of record, spilling into continuation
/// areas; returns the record length.
fn fit(su: &mut Vec<Su>, id_len: usize, areas: &mut Vec<Area>) -> usize {
    let room = 254 - record_len(id_len, 0);
    let (record, spill) = rrip::pack(std::mem::take(su), room, BLOCK, areas.len());
    areas.extend(spill.into_iter().map(|su| Area {
        su,
        lba: 0,
        offset: 0,
    }));
    let len: usize = record.iter().map(Su::len).sum();
    *su = record;
    record_len(id_len, len)
}

fn clamp(t: Timestamp, f: &RrFacts) -> Timestamp {
    match f.clamp {
        Some(c) if t > c => c,
        _ => t,
    }
}

/// PX and TF of a directory (the relocation directory has no node: a plain read-only folder).
fn dir_attrs(tree: &FileTree, node: Option<NodeIndex>, f: &RrFacts) -> Vec<Su> {
    match node {
        Some(n) => {
            let m = tree.node(n).meta;
            vec![
                Su::Entry(rrip::px(
                    0o040000 | m.mode,
                    f.nlink[n],
                    m.uid,
                    m.gid,
                    f.ino[n],
                )),
                Su::Entry(rrip::tf(
                    clamp(m.mtime, f),
                    clamp(m.atime, f),
                    clamp(m.ctime, f),
                )),
            ]
        }
        None => {
            let m = tree.node(ROOT).meta;
            vec![
                Su::Entry(rrip::px(0o040555, 2, 0, 0, f.ino.len() as u32 + 1)),
                Su::Entry(rrip::tf(
                    clamp(m.mtime, f),
                    clamp(m.mtime, f),
                    clamp(m.mtime, f),
                )),
            ]
        }
    }
}

/// The relocation directory's record carries RE itself, as mkisofs writes it, so that Rock
/// Ridge readers hide it along with the relocated directories.
fn entry_su_moved(name: &str, f: &RrFacts) -> Vec<Su> {
    let mut su: Vec<Su> = rrip::nm(name.as_bytes())
        .into_iter()
        .map(Su::Entry)
        .collect();
    su.push(Su::Entry(rrip::px(
        0o040555,
        2,
        0,
        0,
        f.ino.len() as u32 + 1,
    )));
    su.push(Su::Entry(rrip::re()));
    su
}

#[allow(clippy::too_many_arguments)]
fn entry_su(
    tree: &FileTree,
    node: NodeIndex,
    name: &str,
    f: &RrFacts,
    target: Target,
    reloc_parent: &HashMap<NodeIndex, usize>,
    iso_of: &HashMap<NodeIndex, usize>,
    in_moved: bool,
) -> Vec<Su> {
    let n = tree.node(node);
    let m = n.meta;
    let type_bits = match &n.kind {
        Kind::Dir(_) => 0o040000,
        Kind::File { .. } => 0o100000,
        Kind::Symlink(_) => 0o120000,
        Kind::Device(true, ..) => 0o020000,
        Kind::Device(false, ..) => 0o060000,
        Kind::Fifo => 0o010000,
    };
    let mut su: Vec<Su> = rrip::nm(name.as_bytes())
        .into_iter()
        .map(Su::Entry)
        .collect();
    su.push(Su::Entry(rrip::px(
        type_bits | m.mode,
        f.nlink[node],
        m.uid,
        m.gid,
        f.ino[node],
    )));
    su.push(Su::Entry(rrip::tf(
        clamp(m.mtime, f),
        clamp(m.atime, f),
        clamp(m.ctime, f),
    )));
    match &n.kind {
        Kind::Symlink(t) => su.extend(rrip::sl(t).into_iter().map(Su::Entry)),
        Kind::Device(_, major, minor) => su.push(Su::Entry(rrip::pn(*major, *minor))),
        Kind::Dir(_) if target == Target::Empty && reloc_parent.contains_key(&node) => {
            su.push(Su::ChildLink(iso_of[&node]));
        }
        Kind::Dir(_) if in_moved => su.push(Su::Entry(rrip::re())),
        _ => {}
    }
    su
}

/// `base`, or `base.1`, `base.2`, ... whichever no sibling has.
fn unique_name(base: &str, siblings: &[&str]) -> String {
    let mut n = 0;
    loop {
        let name = if n == 0 {
            base.to_owned()
        } else {
            format!("{base}.{n}")
        };
        if !siblings.contains(&name.as_str()) {
            return name;
        }
        n += 1;
    }
}
