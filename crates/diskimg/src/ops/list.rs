//! Directory listings (`ls`) and whole-file copies (`cat`).

use crate::error::{Error, ErrorKind, Result};
use crate::fs::path::normalize;
use crate::fs::{FileSystem, FileSystemExt, FileType, Metadata, NodeId};
use serde::Serialize;
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

/// Lists `path`: a directory's entries (all below it with `recursive`), or a file itself.
/// A symlink named as `path` is followed, as `ls` does.
pub fn list(fs: &dyn FileSystem, path: &str, recursive: bool) -> Result<Vec<ListEntry>> {
    let path = normalize(path);
    let node = fs.resolve_follow(&path)?;
    let meta = fs.metadata(node)?;
    if !meta.is_dir() {
        return Ok(vec![entry(fs, path, node, meta)?]);
    }
    let mut out = Vec::new();
    if recursive {
        for item in fs.walk(node, &path).skip(1) {
            let item = item?;
            out.push(entry(fs, item.path, item.node, item.metadata)?);
        }
    } else {
        for e in fs.read_dir(node)? {
            let child = crate::fs::path::join(&path, &e.name);
            let meta = fs
                .metadata(e.node)
                .map_err(|err| err.with_path(child.clone()))?;
            out.push(entry(fs, child, e.node, meta)?);
        }
    }
    Ok(out)
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
