//! Directory listings (`ls`) and whole-file copies (`cat`).

use crate::error::{Error, ErrorKind, Result};
use crate::fs::path::{MAX_DEPTH, join, normalize};
use crate::fs::{FileSystem, FileSystemExt, FileType, Metadata, NodeId};
use serde::Serialize;
use std::collections::HashSet;
use std::io::Write;

/// One line of a listing.
#[derive(Debug, Clone, Serialize)]
pub struct ListEntry {
    /// Absolute path inside the image.
    pub path: String,
    /// Last path component.
    pub name: String,
    /// Type, size, mode, owner, times.
    #[serde(flatten)]
    pub metadata: Metadata,
    /// Target of a symbolic link.
    pub target: Option<String>,
}

/// Lists `path`: a directory's entries sorted by name (all below it, depth first, with
/// `recursive`), or a file itself. A symlink named as `path` is followed, as `ls` does.
pub fn list(fs: &dyn FileSystem, path: &str, recursive: bool) -> Result<Vec<ListEntry>> {
    let path = normalize(path);
    let node = fs.resolve_follow(&path)?;
    let meta = fs.metadata(node)?;
    if !meta.is_dir() {
        return Ok(vec![entry(fs, path, node, meta)?]);
    }
    let mut out = Vec::new();
    let mut visited = HashSet::from([meta.ino]);
    list_dir(fs, node, &path, recursive, 0, &mut visited, &mut out)?;
    Ok(out)
}

fn list_dir(
    fs: &dyn FileSystem,
    dir: NodeId,
    path: &str,
    recursive: bool,
    depth: usize,
    visited: &mut HashSet<u64>,
    out: &mut Vec<ListEntry>,
) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(
            Error::new(ErrorKind::LimitExceeded, "directory tree is too deep").with_path(path),
        );
    }
    let mut entries = fs.read_dir(dir).map_err(|e| e.with_path(path))?;
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    for e in entries {
        let child = join(path, &e.name);
        let meta = fs
            .metadata(e.node)
            .map_err(|err| err.with_path(child.clone()))?;
        let is_dir = meta.is_dir();
        if is_dir && recursive && !visited.insert(meta.ino) {
            return Err(Error::new(
                ErrorKind::Corrupt,
                "directory appears twice in the tree (a loop or a cross-link)",
            )
            .with_path(child));
        }
        out.push(entry(fs, child.clone(), e.node, meta)?);
        if is_dir && recursive {
            list_dir(fs, e.node, &child, recursive, depth + 1, visited, out)?;
        }
    }
    Ok(())
}

fn entry(fs: &dyn FileSystem, path: String, node: NodeId, metadata: Metadata) -> Result<ListEntry> {
    let target = if metadata.file_type == FileType::Symlink {
        Some(fs.read_link(node).map_err(|e| e.with_path(path.clone()))?)
    } else {
        None
    };
    let name = path.rsplit('/').next().unwrap_or_default().to_owned();
    Ok(ListEntry {
        path,
        name,
        metadata,
        target,
    })
}

/// Size of the buffer used for streaming copies.
pub const COPY_BUFFER: usize = 1 << 20;

/// Writes the whole content of the file at `path` (following symlinks) to `out`.
pub fn cat(fs: &dyn FileSystem, path: &str, out: &mut dyn Write) -> Result<u64> {
    let path = normalize(path);
    let node = fs.resolve_follow(&path)?;
    let meta = fs.metadata(node)?;
    if meta.file_type != FileType::File {
        return Err(Error::new(ErrorKind::InvalidInput, "not a regular file").with_path(path));
    }
    let mut buf = vec![0u8; COPY_BUFFER];
    let mut offset = 0u64;
    while offset < meta.size {
        let n = fs
            .read_at(node, offset, &mut buf)
            .map_err(|e| e.with_path(path.clone()))?;
        if n == 0 {
            return Err(Error::new(
                ErrorKind::Corrupt,
                format!("file ends after {offset} of {} bytes", meta.size),
            )
            .with_path(path));
        }
        out.write_all(&buf[..n])?;
        offset += n as u64;
    }
    out.flush()?;
    Ok(offset)
}
