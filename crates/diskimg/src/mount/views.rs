//! Which file systems a mount shows: the one selected, or with `--all` every readable view
//! of every partition, each as a folder of the mount's root.
//!
//! Folder names: the view's kind for the whole device (`rockridge`, `joliet`, `udf`,
//! `ntfs`), `p<N>-<kind>` for partition N (`p1-ntfs`), and `p<N>-p<M>-<kind>` for partitions
//! inside partitions.

use crate::error::{Error, ErrorKind, Result};
use crate::fs::FileSystem;
use crate::image::{Image, Layer, Selection};
use std::sync::Arc;

/// One file system shown by the mount.
pub struct View {
    /// Folder name under the mount's root (empty when it is the only view and is the root).
    pub name: String,
    /// The tree.
    pub fs: Arc<dyn FileSystem>,
}

/// The views of `image`: every one with `all`, else the one `sel` names.
pub fn views(image: &Image, all: bool, sel: &Selection) -> Result<Vec<View>> {
    if !all {
        return Ok(vec![View {
            name: String::new(),
            fs: image.select(sel)?,
        }]);
    }
    let mut out = Vec::new();
    walk(image.content(), "", &mut out);
    if out.is_empty() {
        return Err(Error::new(
            ErrorKind::NotRecognized,
            "no readable file system in the image",
        ));
    }
    Ok(out)
}

fn walk(layer: &Layer, prefix: &str, out: &mut Vec<View>) {
    if let Some((_, inner)) = &layer.container {
        walk(inner, prefix, out);
        return;
    }
    for e in &layer.file_systems {
        if let Some(fs) = &e.fs {
            let name = if prefix.is_empty() {
                e.kind.to_owned()
            } else {
                format!("{prefix}-{}", e.kind)
            };
            out.push(View {
                name,
                fs: fs.clone(),
            });
        }
    }
    if let Some(parts) = &layer.partitions {
        for (p, child) in &parts.children {
            if let Some(child) = child {
                let name = if prefix.is_empty() {
                    format!("p{}", p.index)
                } else {
                    format!("{prefix}-p{}", p.index)
                };
                walk(child, &name, out);
            }
        }
    }
}
