//! Paths inside an image: resolution (with symlinks followed inside the image) and tree walks
//! that refuse directory loops.

use super::{FileSystem, FileType, Metadata, NodeId};
use crate::error::{Error, ErrorKind, Result};
use std::collections::HashSet;

/// Most symbolic links followed while resolving one path.
pub const MAX_SYMLINK_HOPS: u32 = 40;
/// Deepest directory nesting a walk or a path may reach.
pub const MAX_DEPTH: usize = 1024;

/// One node met by [`FileSystemExt::walk`].
#[derive(Debug, Clone)]
pub struct WalkEntry {
    /// Absolute path inside the image, `/`-separated.
    pub path: String,
    /// Path components below the walk's start (the start itself has none).
    pub depth: usize,
    /// The node.
    pub node: NodeId,
    /// Its metadata.
    pub metadata: Metadata,
}

/// Path-level operations every [`FileSystem`] gets.
pub trait FileSystemExt: FileSystem {
    /// The node at `path`; symlinks in the middle are followed, a final symlink is not.
    fn resolve(&self, path: &str) -> Result<NodeId> {
        resolve(self, path, false)
    }

    /// The node at `path`, following a final symlink too.
    fn resolve_follow(&self, path: &str) -> Result<NodeId> {
        resolve(self, path, true)
    }

    /// Walks the tree below `start` (shown as `start_path`) depth first, parents before
    /// children, each directory's entries in on-disk order.
    fn walk(&self, start: NodeId, start_path: &str) -> Walk<'_, Self> {
        Walk {
            fs: self,
            start: Some((start, normalize(start_path))),
            stack: Vec::new(),
            visited: HashSet::new(),
        }
    }
}

impl<T: FileSystem + ?Sized> FileSystemExt for T {}

/// `/a//b/./c/../d` -> `/a/b/d`: always absolute, `..` taken lexically (never above the root).
pub fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
        if part == ".." {
            parts.pop();
        } else {
            parts.push(part);
        }
    }
    if parts.is_empty() {
        return "/".to_owned();
    }
    parts.iter().fold(String::new(), |mut out, p| {
        out.push('/');
        out.push_str(p);
        out
    })
}

/// Joins a directory path and a name.
pub fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

fn resolve<F: FileSystem + ?Sized>(fs: &F, path: &str, follow_final: bool) -> Result<NodeId> {
    let mut hops = 0u32;
    let mut stack: Vec<NodeId> = vec![fs.root()];
    let mut pending: Vec<String> = components(path).rev().map(str::to_owned).collect();
    while let Some(part) = pending.pop() {
        if part == ".." {
            if stack.len() > 1 {
                stack.pop();
            }
            continue;
        }
        let dir = *stack.last().expect("stack holds at least the root");
        let node = fs
            .lookup(dir, &part)?
            .ok_or_else(|| Error::not_found("no such file or directory").with_path(path))?;
        let meta = fs.metadata(node).map_err(|e| e.with_path(path))?;
        let is_last = pending.is_empty();
        if meta.file_type == FileType::Symlink && (!is_last || follow_final) {
            hops += 1;
            if hops > MAX_SYMLINK_HOPS {
                return Err(Error::new(
                    ErrorKind::LimitExceeded,
                    "too many levels of symbolic links",
                )
                .with_path(path));
            }
            let target = fs.read_link(node)?;
            if target.starts_with('/') {
                stack.truncate(1);
            }
            pending.extend(components(&target).rev().map(str::to_owned));
            continue;
        }
        if !is_last && meta.file_type != FileType::Directory {
            return Err(Error::new(ErrorKind::NotFound, "not a directory").with_path(path));
        }
        if stack.len() > MAX_DEPTH {
            return Err(Error::new(ErrorKind::LimitExceeded, "path is too deep").with_path(path));
        }
        stack.push(node);
    }
    Ok(*stack.last().expect("stack holds at least the root"))
}

fn components(path: &str) -> impl DoubleEndedIterator<Item = &str> {
    path.split('/').filter(|p| !p.is_empty() && *p != ".")
}

/// Iterator returned by [`FileSystemExt::walk`].
pub struct Walk<'a, F: ?Sized> {
    fs: &'a F,
    start: Option<(NodeId, String)>,
    stack: Vec<Level>,
    visited: HashSet<u64>,
}

struct Level {
    path: String,
    entries: std::vec::IntoIter<super::DirEntry>,
}

impl<F: FileSystem + ?Sized> Walk<'_, F> {
    fn enter(&mut self, node: NodeId, path: &str, meta: &Metadata) -> Result<()> {
        if !self.visited.insert(meta.ino) {
            return Err(Error::new(
                ErrorKind::Corrupt,
                "directory appears twice in the tree (a loop or a cross-link)",
            )
            .with_path(path));
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(
                Error::new(ErrorKind::LimitExceeded, "directory tree is too deep").with_path(path),
            );
        }
        let entries = self.fs.read_dir(node).map_err(|e| e.with_path(path))?;
        self.stack.push(Level {
            path: path.to_owned(),
            entries: entries.into_iter(),
        });
        Ok(())
    }
}

impl<F: FileSystem + ?Sized> Iterator for Walk<'_, F> {
    type Item = Result<WalkEntry>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some((node, path)) = self.start.take() {
            let metadata = match self.fs.metadata(node) {
                Ok(m) => m,
                Err(e) => return Some(Err(e.with_path(path))),
            };
            if metadata.is_dir() {
                if let Err(e) = self.enter(node, &path, &metadata) {
                    return Some(Err(e));
                }
            }
            return Some(Ok(WalkEntry {
                path,
                depth: 0,
                node,
                metadata,
            }));
        }
        loop {
            let level = self.stack.last_mut()?;
            let Some(entry) = level.entries.next() else {
                self.stack.pop();
                continue;
            };
            let path = join(&level.path, &entry.name);
            let depth = self.stack.len();
            let metadata = match self.fs.metadata(entry.node) {
                Ok(m) => m,
                Err(e) => return Some(Err(e.with_path(path))),
            };
            if metadata.is_dir() {
                if let Err(e) = self.enter(entry.node, &path, &metadata) {
                    return Some(Err(e));
                }
            }
            return Some(Ok(WalkEntry {
                path,
                depth,
                node: entry.node,
                metadata,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_paths() {
        assert_eq!(normalize(""), "/");
        assert_eq!(normalize("a//b/./c/"), "/a/b/c");
        assert_eq!(normalize("/a/../../b/.."), "/");
        assert_eq!(normalize("/a/b/../c"), "/a/c");
        assert_eq!(join("/", "x"), "/x");
        assert_eq!(join("/a", "x"), "/a/x");
    }
}
