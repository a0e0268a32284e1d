//! The file-tree model every image writer builds from, and how it is gathered from host
//! folders.
//!
//! A [`FileTree`] holds names, types, metadata and where each file's bytes come from (a host
//! file, bytes in memory, or a file inside another image), never the data itself. Children are
//! kept sorted by name, so everything planned from a tree is deterministic.

mod edit;

use super::glob::Pattern;
use crate::error::{Error, ErrorKind, Result, ResultExt};
use crate::fs::{FileSystem, NodeId};
use crate::time::Timestamp;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Index of a node in its tree; the root is 0.
pub type NodeIndex = usize;

/// Where a file's bytes come from.
#[derive(Clone)]
pub enum Source {
    /// A host file, read when the image is written.
    Host(PathBuf),
    /// Bytes of a host file from an offset (as many as the node's size): one part of a file
    /// split over several volumes.
    HostRange(PathBuf, u64),
    /// Bytes held in memory (small generated files).
    Bytes(Arc<[u8]>),
    /// A file inside another image (remastering).
    Image {
        /// The file system holding it.
        fs: Arc<dyn FileSystem>,
        /// The file.
        node: NodeId,
    },
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Host(p) => write!(f, "Host({})", p.display()),
            Source::HostRange(p, at) => write!(f, "HostRange({} @ {at})", p.display()),
            Source::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Source::Image { node, .. } => write!(f, "Image(node {node})"),
        }
    }
}

/// What a node is.
#[derive(Debug, Clone)]
pub enum Kind {
    /// A directory and its children, sorted by name.
    Dir(Vec<NodeIndex>),
    /// A regular file.
    File {
        /// Where its bytes come from.
        source: Source,
        /// Its length.
        size: u64,
    },
    /// A symbolic link.
    Symlink(String),
    /// A character (`true`) or block device with its major and minor numbers.
    Device(bool, u32, u32),
    /// A named pipe.
    Fifo,
}

/// Metadata of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// Permission bits (`0o7777`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time.
    pub mtime: Timestamp,
    /// Access time.
    pub atime: Timestamp,
    /// Attribute change time.
    pub ctime: Timestamp,
    /// Files with the same value are hard links of one another.
    pub link_group: Option<u64>,
}

impl Meta {
    /// Metadata for something the writer makes up (a directory created by a graft).
    pub fn synthetic(mode: u32, time: Timestamp) -> Self {
        Meta {
            mode,
            uid: 0,
            gid: 0,
            mtime: time,
            atime: time,
            ctime: time,
            link_group: None,
        }
    }
}

/// One node.
#[derive(Debug, Clone)]
pub struct Node {
    /// Its name (empty for the root).
    pub name: String,
    /// Its parent (the root is its own parent).
    pub parent: NodeIndex,
    /// What it is.
    pub kind: Kind,
    /// Its metadata.
    pub meta: Meta,
}

/// A tree of names and metadata to build an image from.
#[derive(Debug, Clone)]
pub struct FileTree {
    nodes: Vec<Node>,
}

/// The root's index.
pub const ROOT: NodeIndex = 0;

impl FileTree {
    /// An empty tree whose root has `meta`.
    pub fn new(meta: Meta) -> Self {
        FileTree {
            nodes: vec![Node {
                name: String::new(),
                parent: ROOT,
                kind: Kind::Dir(Vec::new()),
                meta,
            }],
        }
    }

    /// A node.
    pub fn node(&self, i: NodeIndex) -> &Node {
        &self.nodes[i]
    }

    /// Changes a node's metadata.
    pub fn set_meta(&mut self, i: NodeIndex, meta: Meta) {
        self.nodes[i].meta = meta;
    }

    /// Number of nodes, the root included.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the tree holds only its root.
    pub fn is_empty(&self) -> bool {
        self.nodes.len() == 1
    }

    /// The children of a directory (empty for anything else).
    pub fn children(&self, i: NodeIndex) -> &[NodeIndex] {
        match &self.nodes[i].kind {
            Kind::Dir(c) => c,
            _ => &[],
        }
    }

    /// The child of `dir` named `name`.
    pub fn child(&self, dir: NodeIndex, name: &str) -> Option<NodeIndex> {
        let c = self.children(dir);
        c.binary_search_by(|&x| self.nodes[x].name.as_str().cmp(name))
            .ok()
            .map(|i| c[i])
    }

    /// The node at an absolute `path`, without following symlinks.
    pub fn lookup(&self, path: &str) -> Option<NodeIndex> {
        let mut at = ROOT;
        for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
            at = self.child(at, part)?;
        }
        Some(at)
    }

    /// Adds `name` under `dir`. Fails if `dir` is not a directory, the name is taken, or the
    /// name is not a single path component.
    pub fn add(&mut self, dir: NodeIndex, name: &str, kind: Kind, meta: Meta) -> Result<NodeIndex> {
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
            return Err(Error::invalid_input(format!(
                "'{name}' is not a valid file name"
            )));
        }
        let index = self.nodes.len();
        let pos = {
            let nodes = &self.nodes;
            let Kind::Dir(children) = &nodes[dir].kind else {
                return Err(Error::invalid_input(format!(
                    "{} is not a directory",
                    self.path(dir)
                )));
            };
            match children.binary_search_by(|&x| nodes[x].name.as_str().cmp(name)) {
                Ok(_) => {
                    return Err(Error::new(
                        ErrorKind::AlreadyExists,
                        format!(
                            "{} is given twice",
                            super::tree::join(&self.path(dir), name)
                        ),
                    ));
                }
                Err(pos) => pos,
            }
        };
        self.nodes.push(Node {
            name: name.to_owned(),
            parent: dir,
            kind,
            meta,
        });
        if let Kind::Dir(children) = &mut self.nodes[dir].kind {
            children.insert(pos, index);
        }
        Ok(index)
    }

    /// The directory at `path`, creating missing ones with `meta`.
    pub fn ensure_dir(&mut self, path: &str, meta: Meta) -> Result<NodeIndex> {
        let mut at = ROOT;
        for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
            at = match self.child(at, part) {
                Some(c) if matches!(self.nodes[c].kind, Kind::Dir(_)) => c,
                Some(_) => {
                    return Err(Error::invalid_input(format!(
                        "{} is a file, not a directory",
                        join(&self.path(at), part)
                    )));
                }
                None => self.add(at, part, Kind::Dir(Vec::new()), meta)?,
            };
        }
        Ok(at)
    }

    /// The absolute path of a node (`/` for the root).
    pub fn path(&self, mut i: NodeIndex) -> String {
        let mut parts = Vec::new();
        while i != ROOT {
            parts.push(self.nodes[i].name.as_str());
            i = self.nodes[i].parent;
        }
        if parts.is_empty() {
            return "/".to_owned();
        }
        parts.iter().rev().fold(String::new(), |mut s, p| {
            s.push('/');
            s.push_str(p);
            s
        })
    }

    /// Depth below the root (the root is 0).
    pub fn depth(&self, mut i: NodeIndex) -> usize {
        let mut d = 0;
        while i != ROOT {
            i = self.nodes[i].parent;
            d += 1;
        }
        d
    }

    /// Every node, depth first, each directory's children in name order (the root first).
    pub fn depth_first(&self) -> Vec<NodeIndex> {
        let mut out = Vec::with_capacity(self.nodes.len());
        let mut stack = vec![ROOT];
        while let Some(i) = stack.pop() {
            out.push(i);
            stack.extend(self.children(i).iter().rev());
        }
        out
    }

    /// Total bytes of all regular files.
    pub fn data_size(&self) -> u64 {
        self.nodes
            .iter()
            .map(|n| match n.kind {
                Kind::File { size, .. } => size,
                _ => 0,
            })
            .sum()
    }
}

/// Joins a directory path and a name.
pub fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// How host folders are gathered.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Entries matching any of these are left out.
    pub exclude: Vec<Pattern>,
    /// Store what symlinks point to instead of the links.
    pub follow_symlinks: bool,
}

/// What a scan met that the caller should hear about.
#[derive(Debug, Default, Clone)]
pub struct ScanReport {
    /// Entries left out or changed, with why.
    pub warnings: Vec<String>,
}

/// Most nodes a tree gathered from the host may hold.
pub const MAX_NODES: usize = 50_000_000;

/// Adds `host` under directory `at`: a folder's contents go directly into `at` when `contents`
/// is true (as `mkisofs DIR` does), otherwise the folder or file itself is added by its name.
pub fn add_host(
    tree: &mut FileTree,
    at: NodeIndex,
    host: &Path,
    contents: bool,
    opts: &ScanOptions,
    report: &mut ScanReport,
) -> Result<()> {
    let meta = host_meta(host, opts.follow_symlinks)?;
    if contents {
        if !meta.0.is_dir() {
            return Err(Error::invalid_input("is not a folder").with_file(host));
        }
        if at == ROOT {
            tree.set_meta(ROOT, meta.1);
        }
        return scan_dir(tree, at, host, "", opts, report);
    }
    let name = host
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| Error::invalid_input("has no file name").with_file(host))?;
    add_entry(tree, at, host, &name, &name, opts, report)
}

/// Adds the host file or folder `host` under directory `at` as `name`.
pub fn add_host_as(
    tree: &mut FileTree,
    at: NodeIndex,
    host: &Path,
    name: &str,
    opts: &ScanOptions,
    report: &mut ScanReport,
) -> Result<()> {
    add_entry(tree, at, host, name, name, opts, report)
}

fn host_meta(path: &Path, follow: bool) -> Result<(std::fs::Metadata, Meta)> {
    let m = if follow {
        std::fs::metadata(path)
    } else {
        std::fs::symlink_metadata(path)
    };
    let m = m.map_err(Error::from).in_file(path)?;
    let meta = meta_of(&m);
    Ok((m, meta))
}

#[cfg(unix)]
fn meta_of(m: &std::fs::Metadata) -> Meta {
    use std::os::unix::fs::MetadataExt;
    let ts = |s: i64, ns: i64| Timestamp {
        secs: s,
        nanos: u32::try_from(ns).unwrap_or(0),
    };
    let link_group = (!m.is_dir() && m.nlink() > 1).then(|| m.dev().rotate_left(32) ^ m.ino());
    Meta {
        mode: m.mode() & 0o7777,
        uid: m.uid(),
        gid: m.gid(),
        mtime: ts(m.mtime(), m.mtime_nsec()),
        atime: ts(m.atime(), m.atime_nsec()),
        ctime: ts(m.ctime(), m.ctime_nsec()),
        link_group,
    }
}

#[cfg(not(unix))]
fn meta_of(m: &std::fs::Metadata) -> Meta {
    let t = |r: std::io::Result<std::time::SystemTime>| {
        r.ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(Timestamp::from_secs(0), |d| Timestamp {
                secs: d.as_secs() as i64,
                nanos: d.subsec_nanos(),
            })
    };
    let mode = if m.is_dir() {
        0o755
    } else if m.permissions().readonly() {
        0o444
    } else {
        0o644
    };
    Meta {
        mode,
        uid: 0,
        gid: 0,
        mtime: t(m.modified()),
        atime: t(m.accessed()),
        ctime: t(m.modified()),
        link_group: None,
    }
}

fn scan_dir(
    tree: &mut FileTree,
    at: NodeIndex,
    dir: &Path,
    rel: &str,
    opts: &ScanOptions,
    report: &mut ScanReport,
) -> Result<()> {
    let rd = std::fs::read_dir(dir).map_err(Error::from).in_file(dir)?;
    let mut entries: Vec<(String, PathBuf)> = Vec::new();
    for e in rd {
        let e = e.map_err(Error::from).in_file(dir)?;
        let raw = e.file_name();
        let name = match raw.to_str() {
            Some(s) => s.to_owned(),
            None => {
                let lossy = raw.to_string_lossy().into_owned();
                report.warnings.push(format!(
                    "{}: the name is not valid UTF-8; stored as '{lossy}'",
                    e.path().display()
                ));
                lossy
            }
        };
        entries.push((name, e.path()));
    }
    entries.sort();
    for (name, path) in entries {
        let child_rel = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        if opts.exclude.iter().any(|p| p.matches(&child_rel, &name)) {
            continue;
        }
        add_entry(tree, at, &path, &name, &child_rel, opts, report)?;
    }
    Ok(())
}

fn add_entry(
    tree: &mut FileTree,
    at: NodeIndex,
    path: &Path,
    name: &str,
    rel: &str,
    opts: &ScanOptions,
    report: &mut ScanReport,
) -> Result<()> {
    if tree.len() >= MAX_NODES {
        return Err(Error::new(
            ErrorKind::LimitExceeded,
            format!("more than {MAX_NODES} files and folders"),
        ));
    }
    let (m, meta) = match host_meta(path, opts.follow_symlinks) {
        Ok(x) => x,
        Err(e) if opts.follow_symlinks && path.symlink_metadata().is_ok() => {
            report.warnings.push(format!(
                "{}: dangling symlink left out ({e})",
                path.display()
            ));
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let ft = m.file_type();
    if ft.is_dir() {
        let i = tree.add(at, name, Kind::Dir(Vec::new()), meta)?;
        return scan_dir(tree, i, path, rel, opts, report);
    }
    let kind = if ft.is_file() {
        Kind::File {
            source: Source::Host(path.to_path_buf()),
            size: m.len(),
        }
    } else if ft.is_symlink() {
        let target = std::fs::read_link(path)
            .map_err(Error::from)
            .in_file(path)?;
        Kind::Symlink(target.to_string_lossy().into_owned())
    } else {
        match special_kind(&m) {
            Some(k) => k,
            None => {
                report.warnings.push(format!(
                    "{}: not a file, folder or link; left out",
                    path.display()
                ));
                return Ok(());
            }
        }
    };
    tree.add(at, name, kind, meta)?;
    Ok(())
}

#[cfg(unix)]
fn special_kind(m: &std::fs::Metadata) -> Option<Kind> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let ft = m.file_type();
    let rdev = m.rdev();
    let (major, minor) = (
        ((rdev >> 8) & 0xfff) as u32 | ((rdev >> 32) & !0xfff) as u32,
        (rdev & 0xff) as u32 | ((rdev >> 12) & !0xff) as u32,
    );
    if ft.is_char_device() {
        Some(Kind::Device(true, major, minor))
    } else if ft.is_block_device() {
        Some(Kind::Device(false, major, minor))
    } else if ft.is_fifo() {
        Some(Kind::Fifo)
    } else {
        None
    }
}

#[cfg(not(unix))]
fn special_kind(_m: &std::fs::Metadata) -> Option<Kind> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Meta {
        Meta::synthetic(0o755, Timestamp::from_secs(0))
    }

    #[test]
    fn children_stay_sorted_and_unique() {
        let mut t = FileTree::new(meta());
        let b = t.add(ROOT, "b", Kind::Dir(Vec::new()), meta()).unwrap();
        t.add(ROOT, "a", Kind::Symlink("x".into()), meta()).unwrap();
        t.add(b, "z", Kind::Fifo, meta()).unwrap();
        assert_eq!(
            t.children(ROOT)
                .iter()
                .map(|&i| t.node(i).name.as_str())
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert!(t.add(ROOT, "a", Kind::Fifo, meta()).is_err());
        assert!(t.add(ROOT, "..", Kind::Fifo, meta()).is_err());
        assert!(t.add(ROOT, "x/y", Kind::Fifo, meta()).is_err());
        assert_eq!(t.path(t.child(b, "z").unwrap()), "/b/z");
        let deep = t.ensure_dir("/b/c/d", meta()).unwrap();
        assert_eq!(t.path(deep), "/b/c/d");
        assert_eq!(t.depth(deep), 3);
        assert!(t.ensure_dir("/a/q", meta()).is_err());
    }

    #[test]
    fn scans_a_folder_with_exclusions() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("keep/sub")).unwrap();
        std::fs::write(d.path().join("keep/sub/f.txt"), b"abc").unwrap();
        std::fs::write(d.path().join("keep/x.tmp"), b"").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("sub/f.txt", d.path().join("keep/l")).unwrap();
        let mut t = FileTree::new(meta());
        let opts = ScanOptions {
            exclude: vec![Pattern::new("*.tmp")],
            follow_symlinks: false,
        };
        let mut r = ScanReport::default();
        add_host(&mut t, ROOT, &d.path().join("keep"), true, &opts, &mut r).unwrap();
        let paths: Vec<String> = t.depth_first().into_iter().map(|i| t.path(i)).collect();
        #[cfg(unix)]
        assert_eq!(paths, ["/", "/l", "/sub", "/sub/f.txt"]);
        assert_eq!(t.data_size(), 3);
    }
}
