//! Backing (parent) chains: finding a parent file from what a child records, and bounding the
//! chain.
//!
//! Differencing VHD, VHDX, VDI and VMDK snapshots name their parent by a path (relative to the
//! child, absolute, Windows-style or a `file://` URL) or only by an identifier. [`candidates`]
//! turns a recorded reference into host paths to try; [`Chain`] remembers the files already open
//! so that a chain longer than [`MAX_CHAIN_DEPTH`] or one that loops back on itself is an error,
//! not a stack overflow.

use crate::container::Container;
use crate::error::{Error, ErrorKind, Result};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// Most images in one backing chain, the child included.
pub const MAX_CHAIN_DEPTH: usize = 32;

/// The files of a backing chain opened so far, child first.
#[derive(Debug, Clone, Default)]
pub(crate) struct Chain {
    files: Vec<PathBuf>,
    /// Containers already open above the chain (nesting inside other images).
    base_depth: usize,
}

impl Chain {
    /// A chain that starts at `path` (when the image is a host file), `depth` levels deep.
    pub(crate) fn start(path: Option<&Path>, depth: usize) -> Chain {
        Chain {
            files: path.map(canonical).into_iter().collect(),
            base_depth: depth,
        }
    }

    /// The chain with `parent` appended, refusing loops and chains that are too long.
    pub(crate) fn enter(&self, format: &'static str, parent: &Path) -> Result<Chain> {
        let parent = canonical(parent);
        if self.files.contains(&parent) {
            return Err(Error::new(
                ErrorKind::Corrupt,
                format!(
                    "backing chain loops: {} is its own ancestor",
                    parent.display()
                ),
            )
            .with_format(format)
            .with_structure("backing chain"));
        }
        if self.files.len() + self.base_depth >= MAX_CHAIN_DEPTH {
            return Err(Error::new(
                ErrorKind::LimitExceeded,
                format!("backing chain is longer than {MAX_CHAIN_DEPTH} images"),
            )
            .with_format(format)
            .with_structure("backing chain"));
        }
        let mut files = self.files.clone();
        files.push(parent);
        Ok(Chain {
            files,
            base_depth: self.base_depth,
        })
    }

    /// The file this chain's newest member was opened from.
    pub(crate) fn current(&self) -> Option<&Path> {
        self.files.last().map(PathBuf::as_path)
    }
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Host paths to try for a parent recorded as `reference` by the child at `child`: the path as
/// given (relative to the child's folder when relative), then the file name alone beside the
/// child. Windows separators and drive letters and `file://` URLs are understood.
pub(crate) fn candidates(child: &Path, reference: &str) -> Vec<PathBuf> {
    let dir = child.parent().unwrap_or(Path::new("."));
    let reference = reference.trim_end_matches('\0').trim();
    if reference.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut add = |p: PathBuf| {
        if !out.contains(&p) {
            out.push(p);
        }
    };
    let text = match reference.strip_prefix("file://") {
        Some(rest) => {
            // file://localhost/dir/x or file:///dir/x
            let rest = rest.strip_prefix("localhost").unwrap_or(rest);
            percent_decode(rest)
        }
        None => reference.to_owned(),
    };
    let windows = text.contains('\\') || has_drive_letter(&text);
    let unix = if windows {
        text.replace('\\', "/")
    } else {
        text.clone()
    };
    let absolute = unix.starts_with('/') || has_drive_letter(&unix);
    if !has_drive_letter(&unix) {
        let rel = unix.strip_prefix("./").unwrap_or(&unix);
        if absolute {
            add(PathBuf::from(rel));
        } else {
            add(dir.join(rel));
        }
    }
    if let Some(name) = unix.rsplit('/').next().filter(|n| !n.is_empty()) {
        add(dir.join(name));
    }
    out
}

fn has_drive_letter(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(v) = hex {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The first candidate that exists, or an error naming every path tried.
pub(crate) fn find_existing(
    format: &'static str,
    tried: &[PathBuf],
    what: &str,
) -> Result<PathBuf> {
    tried.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        let list: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
        Error::new(
            ErrorKind::NotFound,
            if list.is_empty() {
                format!("parent image not found: {what}, and no path to look for it")
            } else {
                format!("parent image not found: {what}; tried {}", list.join(", "))
            },
        )
        .with_format(format)
        .with_structure("parent locator")
    })
}

/// The backing chain below a child: its parent, then the parent's own chain.
pub(crate) fn backing_chain(path: &Path, parent: &dyn Container) -> Value {
    let pd = parent.details();
    let mut list = vec![json!({
        "file": path.display().to_string(),
        "format": parent.format(),
        "subformat": pd.get("subformat").cloned().unwrap_or(Value::Null),
        "virtual_size": parent.device().size(),
        "uuid": pd.get("uuid").cloned().unwrap_or(Value::Null),
    })];
    if let Some(Value::Array(rest)) = pd.get("backing_chain") {
        list.extend(rest.iter().cloned());
    }
    Value::Array(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_from_every_kind_of_reference() {
        let child = Path::new("/imgs/child.vhd");
        assert_eq!(
            candidates(child, ".\\base.vhd"),
            vec![PathBuf::from("/imgs/base.vhd")]
        );
        assert_eq!(
            candidates(child, "C:\\VMs\\base.vhd"),
            vec![PathBuf::from("/imgs/base.vhd")]
        );
        assert_eq!(
            candidates(child, "file://localhost/Users/a/My%20Disk.vhd"),
            vec![
                PathBuf::from("/Users/a/My Disk.vhd"),
                PathBuf::from("/imgs/My Disk.vhd")
            ]
        );
        assert_eq!(
            candidates(child, "sub/base.vmdk"),
            vec![
                PathBuf::from("/imgs/sub/base.vmdk"),
                PathBuf::from("/imgs/base.vmdk")
            ]
        );
        assert!(candidates(child, "").is_empty());
    }

    #[test]
    fn loops_and_depth_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::write(&a, b"").unwrap();
        std::fs::write(&b, b"").unwrap();
        let c = Chain::start(Some(&a), 0);
        let c2 = c.enter("vhd", &b).unwrap();
        let e = c2.enter("vhd", &a).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt);
        let mut deep = Chain::start(None, MAX_CHAIN_DEPTH - 1);
        deep = deep.enter("vhd", &a).unwrap_or(deep);
        assert_eq!(
            deep.enter("vhd", &b).unwrap_err().kind(),
            ErrorKind::LimitExceeded
        );
    }
}
