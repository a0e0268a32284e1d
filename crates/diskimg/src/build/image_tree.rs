//! A [`FileTree`] gathered from a file system inside an image, for remastering: names and
//! metadata come from the file system (Rock Ridge modes, owners and times when the view has
//! them), file data stays in the image ([`Source::Image`]) and is read when the new image is
//! written.
//!
//! Sockets are left out (no image format stores them). Folders nested deeper than
//! [`MAX_DEPTH`](crate::fs::path::MAX_DEPTH) or trees over [`MAX_NODES`] are refused.

use super::tree::{FileTree, Kind, MAX_NODES, Meta, NodeIndex, ROOT, ScanReport, Source};
use crate::error::{Error, Result};
use crate::fs::path::MAX_DEPTH;
use crate::fs::{FileSystem, FileType, Metadata, NodeId};
use crate::time::Timestamp;
use std::collections::HashMap;
use std::sync::Arc;

/// Files up to this size are indexed by where their data starts, to find boot images and the
/// boot catalog by sector.
const INDEXED_FILE_SIZE: u64 = 64 << 20;

/// The tree of a file system and where its small files start on the device.
pub struct ImageTree {
    /// The tree.
    pub tree: FileTree,
    /// Device byte offset of the first byte of each file up to 64 MiB -> its node.
    pub starts: HashMap<u64, NodeIndex>,
}

/// Gathers every entry of `fs`; `now` stands in for times the file system does not record.
pub fn gather_image(
    fs: &Arc<dyn FileSystem>,
    now: Timestamp,
    report: &mut ScanReport,
) -> Result<ImageTree> {
    let root_meta = meta_of(&fs.metadata(fs.root())?, now);
    let mut tree = FileTree::new(root_meta);
    let mut starts = HashMap::new();
    let mut stack: Vec<(NodeId, NodeIndex, usize)> = vec![(fs.root(), ROOT, 0)];
    while let Some((dir, at, depth)) = stack.pop() {
        if depth >= MAX_DEPTH {
            return Err(Error::unsupported(
                fs.kind(),
                format!("{}: folders nested deeper than {MAX_DEPTH}", tree.path(at)),
            ));
        }
        for entry in fs.read_dir(dir)? {
            if entry.name == "." || entry.name == ".." {
                continue;
            }
            if tree.len() >= MAX_NODES {
                return Err(Error::unsupported(
                    fs.kind(),
                    format!("the image holds more than {MAX_NODES} entries"),
                ));
            }
            let m = fs.metadata(entry.node)?;
            let meta = meta_of(&m, now);
            let kind = match m.file_type {
                FileType::Directory => Kind::Dir(Vec::new()),
                FileType::File => Kind::File {
                    source: Source::Image {
                        fs: fs.clone(),
                        node: entry.node,
                    },
                    size: m.size,
                },
                FileType::Symlink => Kind::Symlink(fs.read_link(entry.node)?),
                FileType::CharDevice | FileType::BlockDevice => {
                    let (major, minor) = m.rdev.unwrap_or((0, 0));
                    Kind::Device(m.file_type == FileType::CharDevice, major, minor)
                }
                FileType::Fifo => Kind::Fifo,
                FileType::Socket => {
                    report.warnings.push(format!(
                        "{}: a socket, left out",
                        super::tree::join(&tree.path(at), &entry.name)
                    ));
                    continue;
                }
            };
            let is_dir = matches!(kind, Kind::Dir(_));
            let node = tree.add(at, &entry.name, kind, meta)?;
            if is_dir {
                stack.push((entry.node, node, depth + 1));
            } else if m.file_type == FileType::File && m.size <= INDEXED_FILE_SIZE {
                if let Ok(Some(ext)) = fs.file_extents(entry.node) {
                    if let Some(first) = ext.first().and_then(|x| x.device_offset) {
                        starts.entry(first).or_insert(node);
                    }
                }
            }
        }
    }
    Ok(ImageTree { tree, starts })
}

fn meta_of(m: &Metadata, now: Timestamp) -> Meta {
    let default_mode = if m.file_type == FileType::Directory {
        0o755
    } else {
        0o644
    };
    let mtime = m.mtime.unwrap_or(now);
    Meta {
        mode: m.mode.map_or(default_mode, |x| x & 0o7777),
        uid: m.uid.unwrap_or(0),
        gid: m.gid.unwrap_or(0),
        mtime,
        atime: m.atime.unwrap_or(mtime),
        ctime: m.ctime.unwrap_or(mtime),
        link_group: (m.file_type == FileType::File && m.nlink.is_some_and(|n| n > 1))
            .then_some(m.ino),
    }
}
