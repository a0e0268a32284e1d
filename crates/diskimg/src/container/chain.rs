//! Backing chains: one policy for every overlay format (qcow2 backing files, VHD/VHDX/VDI
//! differencing disks, VMDK snapshots).
//!
//! - **Where a parent is looked for.** A recorded reference becomes host paths to try
//!   ([`candidates`]). qcow2 records a path as qemu does ([`Lookup::Exact`]): relative to the
//!   overlay's folder, or absolute. Formats written on Windows hosts record Windows paths,
//!   `file://` URLs or only a file name, and check the parent's identity (unique id, data write
//!   GUID, UUID, content id), so they also try the file name alone beside the overlay
//!   ([`Lookup::Search`]); a file found that way is only used when its identity matches.
//! - **How long a chain may be.** At most [`MAX_BACKING_CHAIN`] images, the overlay included;
//!   [`enter`] refuses the next parent beyond that.
//! - **Loops.** [`enter`] compares the parent's canonical path with every image above it in
//!   the chain (carried in [`OpenContext::overlays`]); a file met twice is a loop, reported as
//!   corrupt instead of followed.
//! - **A parent that cannot be used** (missing, looping, of another identity, unreadable) does
//!   not stop the overlay from opening: [`BackingInfo::error`] says why, `info` still describes
//!   the overlay, and reading what falls through to the parent is the error
//!   ([`MissingParent`]). So a broken chain can be inspected and repaired
//!   (`rebase --unsafe`).

use crate::container::{BackingInfo, ChainEntry, Container, OpenContext};
use crate::device::{BlockDevice, DeviceRef, Extent};
use crate::error::{Error, ErrorKind, Result};
use crate::io::ReadAt;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// Most images in one backing chain, the overlay included.
pub const MAX_BACKING_CHAIN: usize = 64;

/// How a recorded reference is turned into paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// The reference is a path: relative to the overlay's folder, or absolute.
    Exact,
    /// The reference may be a Windows path, a `file://` URL or a bare name: the path as given,
    /// then the file name alone beside the overlay.
    Search,
}

/// Host paths to try for a parent recorded as `reference` by the overlay opened with `ctx`.
/// Empty when the overlay has no host path (an image inside another image) or the reference
/// is empty.
pub fn candidates(ctx: &OpenContext, reference: &str, lookup: Lookup) -> Vec<PathBuf> {
    let Some(child) = ctx.path.as_deref() else {
        return Vec::new();
    };
    let dir = child.parent().unwrap_or(Path::new(""));
    let join = |p: &Path| {
        if dir.as_os_str().is_empty() {
            p.to_path_buf()
        } else {
            dir.join(p)
        }
    };
    if lookup == Lookup::Exact {
        if reference.is_empty() {
            return Vec::new();
        }
        let p = Path::new(reference);
        return vec![if p.is_absolute() {
            p.to_path_buf()
        } else {
            join(p)
        }];
    }
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
    if !has_drive_letter(&unix) && !unix.starts_with("//") {
        let rel = unix.strip_prefix("./").unwrap_or(&unix);
        if unix.starts_with('/') {
            add(PathBuf::from(rel));
        } else {
            add(join(Path::new(rel)));
        }
    }
    if let Some(name) = unix.rsplit('/').next().filter(|n| !n.is_empty()) {
        add(join(Path::new(name)));
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

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The context for opening `parent` as the next image down the chain of the overlay opened
/// with `ctx`: refuses a file already in the chain (a loop) and a chain longer than
/// [`MAX_BACKING_CHAIN`].
pub fn enter(ctx: &OpenContext, parent: &Path) -> Result<OpenContext> {
    let mut overlays = ctx.overlays.clone();
    if let Some(own) = ctx.path.as_deref().map(canonical) {
        if overlays.last() != Some(&own) {
            overlays.push(own);
        }
    }
    let parent_c = canonical(parent);
    if overlays.contains(&parent_c) {
        let chain: Vec<String> = overlays
            .iter()
            .chain(std::iter::once(&parent_c))
            .map(|p| p.display().to_string())
            .collect();
        return Err(Error::new(
            ErrorKind::Corrupt,
            format!("backing chain loops: {}", chain.join(" -> ")),
        )
        .with_structure("backing chain"));
    }
    if overlays.len() >= MAX_BACKING_CHAIN {
        return Err(Error::new(
            ErrorKind::LimitExceeded,
            format!("backing chain is longer than {MAX_BACKING_CHAIN} images"),
        )
        .with_structure("backing chain"));
    }
    Ok(OpenContext {
        path: Some(parent.to_path_buf()),
        depth: ctx.depth,
        overlays,
        password: ctx.password.clone(),
    })
}

/// What an identity-checking opener says about a candidate parent file.
pub(crate) enum Candidate<T> {
    /// The file is the parent.
    Parent(T),
    /// The file is of the right format but another image: why (its identity).
    Other(String),
}

/// Finds the parent of a differencing image among the `references` it records: the first
/// candidate file that `open` accepts. `what` describes the parent in messages. A file that
/// fails to open, or opens as another image, is skipped; when none is the parent, the error
/// names every path tried (or every image of another identity found).
pub(crate) fn find_parent<T>(
    ctx: &OpenContext,
    format: &'static str,
    references: &[String],
    what: &str,
    mut open: impl FnMut(&Path, &OpenContext) -> Result<Candidate<T>>,
) -> Result<(PathBuf, T)> {
    if ctx.path.is_none() {
        return Err(Error::unsupported(
            format,
            format!("an overlay inside another image: its parent {what} cannot be looked up"),
        ));
    }
    let mut tried: Vec<PathBuf> = Vec::new();
    for r in references {
        for c in candidates(ctx, r, Lookup::Search) {
            if !tried.contains(&c) {
                tried.push(c);
            }
        }
    }
    let mut others = Vec::new();
    let mut first_error = None;
    for path in tried.iter().filter(|p| p.is_file()) {
        let sub = enter(ctx, path).map_err(|e| e.with_format(format))?;
        match open(path, &sub) {
            Ok(Candidate::Parent(p)) => return Ok((path.clone(), p)),
            Ok(Candidate::Other(why)) => others.push(format!("{} {why}", path.display())),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if !others.is_empty() {
        return Err(Error::new(
            ErrorKind::Corrupt,
            format!(
                "parent {what} not found: {} (a parent that was modified or replaced)",
                others.join("; ")
            ),
        )
        .with_format(format)
        .with_structure("parent locator"));
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let list: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
    Err(Error::new(
        ErrorKind::NotFound,
        if list.is_empty() {
            format!("parent image not found: {what}, and no path to look for it")
        } else {
            format!("parent image not found: {what}; tried {}", list.join(", "))
        },
    )
    .with_format(format)
    .with_structure("parent locator"))
}

/// The device an overlay falls through to when its parent cannot be used: every read and
/// every allocation query of it fails with the reason.
pub struct MissingParent {
    size: u64,
    kind: ErrorKind,
    message: String,
}

impl MissingParent {
    /// A stand-in of `size` bytes for a parent that failed with `error`.
    pub fn new(size: u64, error: &Error) -> Self {
        MissingParent {
            size,
            kind: error.kind(),
            message: error.to_string(),
        }
    }

    fn error(&self, offset: u64) -> Error {
        Error::new(self.kind, self.message.clone())
            .with_structure("backing file")
            .with_offset(offset)
    }
}

impl ReadAt for MissingParent {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        if buf.is_empty() || offset >= self.size {
            return Ok(0);
        }
        Err(self.error(offset))
    }
}

impl BlockDevice for MissingParent {
    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        if len == 0 || offset >= self.size {
            return Ok(Vec::new());
        }
        Err(self.error(offset))
    }
}

/// A parent found (or not) by a differencing format, as the overlay keeps it.
pub(crate) struct Parent<T> {
    /// The parent's host path and opened image, when it could be used.
    pub(crate) found: Option<(PathBuf, Box<T>)>,
    /// What [`Container::backing`] reports.
    pub(crate) info: BackingInfo,
    /// What the overlay's device falls through to.
    pub(crate) device: DeviceRef,
}

impl<T: Container> Parent<T> {
    /// The outcome of [`find_parent`] for an overlay of `size` guest bytes, whose reference is
    /// shown as `recorded` when no parent was found.
    pub(crate) fn new(
        ctx: &OpenContext,
        format: &'static str,
        recorded: &str,
        size: u64,
        result: Result<(PathBuf, T)>,
    ) -> Self {
        match result {
            Ok((path, parent)) => {
                let device = parent.device();
                let mut chain = vec![ChainEntry {
                    path: path.display().to_string(),
                    format: parent.format(),
                    virtual_size: device.size(),
                }];
                if let Some(b) = parent.backing() {
                    chain.extend(b.chain.iter().cloned());
                }
                let info = BackingInfo {
                    name: relative_name(ctx, &path),
                    recorded_format: Some(format.to_owned()),
                    path: Some(path.clone()),
                    format: Some(parent.format()),
                    device: Some(device.clone()),
                    chain,
                    error: parent.backing().and_then(|b| b.error.clone()),
                };
                Parent {
                    found: Some((path, Box::new(parent))),
                    info,
                    device,
                }
            }
            Err(e) => Parent {
                found: None,
                info: BackingInfo {
                    name: recorded.to_owned(),
                    recorded_format: Some(format.to_owned()),
                    path: None,
                    format: None,
                    device: None,
                    chain: Vec::new(),
                    error: Some(e.to_string()),
                },
                device: std::sync::Arc::new(MissingParent::new(size, &e)),
            },
        }
    }
}

/// `path` as the overlay opened with `ctx` would name it: relative to the overlay's folder
/// when it lies there, else as found.
fn relative_name(ctx: &OpenContext, path: &Path) -> String {
    let dir = ctx
        .path
        .as_deref()
        .and_then(Path::parent)
        .filter(|d| !d.as_os_str().is_empty());
    let rel = match dir {
        Some(d) => path.strip_prefix(d).unwrap_or(path),
        None => path,
    };
    rel.to_string_lossy().into_owned()
}

/// The backing chain below a child for `details`: its parent, then the parent's own chain.
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

    fn at(path: &str) -> OpenContext {
        OpenContext {
            path: Some(PathBuf::from(path)),
            ..OpenContext::default()
        }
    }

    #[test]
    fn candidates_from_every_kind_of_reference() {
        let child = at("/imgs/child.vhd");
        let s = |r| candidates(&child, r, Lookup::Search);
        assert_eq!(s(".\\base.vhd"), vec![PathBuf::from("/imgs/base.vhd")]);
        assert_eq!(
            s("C:\\VMs\\base.vhd"),
            vec![PathBuf::from("/imgs/base.vhd")]
        );
        assert_eq!(
            s("file://localhost/Users/a/My%20Disk.vhd"),
            vec![
                PathBuf::from("/Users/a/My Disk.vhd"),
                PathBuf::from("/imgs/My Disk.vhd")
            ]
        );
        assert_eq!(
            s("sub/base.vmdk"),
            vec![
                PathBuf::from("/imgs/sub/base.vmdk"),
                PathBuf::from("/imgs/base.vmdk")
            ]
        );
        assert_eq!(
            s("\\\\?\\C:\\VMs\\base.vhdx"),
            vec![PathBuf::from("/imgs/base.vhdx")]
        );
        assert!(s("").is_empty());
        // qcow2: the path only, as qemu resolves it.
        let e = |r| candidates(&child, r, Lookup::Exact);
        assert_eq!(
            e("sub/base.qcow2"),
            vec![PathBuf::from("/imgs/sub/base.qcow2")]
        );
        assert_eq!(e("/abs/base.qcow2"), vec![PathBuf::from("/abs/base.qcow2")]);
        assert_eq!(e("b.qcow2"), vec![PathBuf::from("/imgs/b.qcow2")]);
        let bare = at("top.qcow2");
        assert_eq!(
            candidates(&bare, "b.qcow2", Lookup::Exact),
            vec![PathBuf::from("b.qcow2")]
        );
        assert!(candidates(&OpenContext::default(), "b", Lookup::Search).is_empty());
    }

    #[test]
    fn loops_and_depth_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::write(&a, b"").unwrap();
        std::fs::write(&b, b"").unwrap();
        let ctx = OpenContext {
            path: Some(a.clone()),
            ..OpenContext::default()
        };
        let c2 = enter(&ctx, &b).unwrap();
        let e = enter(&c2, &a).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt);
        assert!(e.to_string().contains("loops"), "{e}");
        let deep = OpenContext {
            path: Some(a.clone()),
            overlays: (0..MAX_BACKING_CHAIN - 1)
                .map(|i| PathBuf::from(format!("/x{i}")))
                .collect(),
            ..OpenContext::default()
        };
        assert_eq!(
            enter(&deep, &b).unwrap_err().kind(),
            ErrorKind::LimitExceeded
        );
    }

    #[test]
    fn a_missing_parent_fails_reads_not_opening() {
        let e = Error::new(ErrorKind::NotFound, "parent image not found: x");
        let m = MissingParent::new(4096, &e);
        let mut b = [0u8; 16];
        assert_eq!(
            m.read_at(0, &mut b).unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert_eq!(m.read_at(4096, &mut b).unwrap(), 0);
        assert!(m.extents(0, 10).is_err());
    }
}
