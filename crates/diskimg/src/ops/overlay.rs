//! `commit` and `rebase`: changing what an overlay sits on, without changing what it shows.
//!
//! Both are built on the conversion pipeline and are atomic: each image they change is written
//! anew beside itself and renamed over the old one, so an interruption leaves either the old
//! or the new file, never a half-changed one.
//!
//! - [`commit`] folds an overlay into its backing file: the backing file is rewritten to show
//!   what the overlay shows (keeping its own backing file, storing only what differs from it),
//!   then the overlay is emptied. Until the second step the overlay still holds its data, so
//!   what it shows never changes. (qemu-img commit writes into the backing file in place
//!   instead: faster for a small overlay over a large base, but not atomic.)
//! - [`rebase`] (safe) rewrites the overlay over a new backing file so that it shows the same
//!   content, storing only what differs from the new base; without a new base it flattens the
//!   overlay into a standalone image. [`rebase_unsafe`] only changes the recorded name.

use super::convert::{ConvertProgress, PipelineStats, backing_name_for, rewrite, write_empty};
use crate::container::open::{OpenedImage, open_image};
use crate::container::write::{BackingRef, FormatOptions};
use crate::error::{Error, ErrorKind, Result};
use crate::format::FormatDescriptor;
use crate::io::FileSink;
use std::path::{Path, PathBuf};

fn descriptor(img: &OpenedImage) -> Result<&'static FormatDescriptor> {
    let d = img.descriptor().ok_or_else(|| {
        Error::unsupported(img.format, "this format has no descriptor").with_file(&img.path)
    })?;
    if d.create.is_none() {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!("diskimg cannot write {} images", d.name),
        )
        .with_file(&img.path));
    }
    Ok(d)
}

/// Options that make a rewritten image like `img` (cluster size, compat level, subformat,
/// block and sector size), where the format's writer takes them. A differencing subformat is
/// left out: whether the rewritten image has a parent is decided by the backing file given.
pub fn similar_options(img: &OpenedImage, desc: &FormatDescriptor) -> FormatOptions {
    let mut o = FormatOptions::default();
    let Some(c) = &img.container else { return o };
    let details = c.details();
    let known = desc.create.map_or(&[][..], |h| h.options);
    for key in [
        "cluster_size",
        "compat",
        "subformat",
        "block_size",
        "logical_sector_size",
    ] {
        if !known.iter().any(|k| k.key == key) {
            continue;
        }
        match details.get(key) {
            Some(serde_json::Value::String(s)) if s != "differencing" => o.set(key, s.clone()),
            Some(serde_json::Value::Number(n)) => o.set(key, n.to_string()),
            _ => {}
        }
    }
    o
}

/// The backing file of `img`: recorded name and format, and its opened device.
fn backing_of(img: &OpenedImage) -> Result<(BackingRef, PathBuf, crate::device::DeviceRef)> {
    let b = img.backing().ok_or_else(|| {
        Error::invalid_input("the image has no backing file").with_file(&img.path)
    })?;
    let device = b.device.clone().ok_or_else(|| {
        Error::new(
            ErrorKind::NotFound,
            b.error
                .clone()
                .unwrap_or_else(|| "backing file missing".into()),
        )
        .with_file(&img.path)
    })?;
    let path = b
        .path
        .clone()
        .ok_or_else(|| Error::not_found("backing file"))?;
    Ok((
        BackingRef::new(
            b.name.clone(),
            b.recorded_format.clone().or(b.format.map(str::to_owned)),
            Some(path.clone()),
        ),
        path,
        device,
    ))
}

/// What `commit` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CommitSummary {
    /// The backing file that was rewritten.
    pub base: PathBuf,
    /// Pipeline counters of the rewrite.
    pub stats: PipelineStats,
}

/// Folds the overlay at `path` into its backing file and empties the overlay.
pub fn commit(path: &Path, progress: &dyn ConvertProgress) -> Result<CommitSummary> {
    let top = open_image(path, None)?;
    let top_desc = descriptor(&top)?;
    let (top_backing, base_path, _) = backing_of(&top)?;
    let base = open_image(&base_path, top_backing.format.as_deref())?;
    let base_desc = descriptor(&base)?;
    let base_backing = match base.backing() {
        Some(_) => {
            let (r, _, d) = backing_of(&base)?;
            Some((r, d))
        }
        None => None,
    };
    // 1. The base shows what the overlay shows.
    let stats = rewrite(
        &base_path,
        base_desc,
        &top.device,
        similar_options(&base, base_desc),
        base_backing,
        progress,
    )?;
    // 2. The overlay becomes empty over the new base.
    write_empty(
        path,
        top_desc,
        top.device.size(),
        similar_options(&top, top_desc),
        Some(top_backing),
    )?;
    Ok(CommitSummary {
        base: base_path,
        stats,
    })
}

/// Rewrites the overlay at `path` over `new_base` (a path from the current folder; `None`:
/// no backing file) so that it shows the same content.
pub fn rebase(
    path: &Path,
    new_base: Option<&Path>,
    new_base_format: Option<&str>,
    progress: &dyn ConvertProgress,
) -> Result<PipelineStats> {
    let top = open_image(path, None)?;
    let desc = descriptor(&top)?;
    let backing = match new_base {
        Some(b) => {
            let opened = open_image(b, new_base_format)?;
            Some((
                BackingRef::new(
                    backing_name_for(path, b)?,
                    Some(opened.format.to_owned()),
                    Some(b.to_path_buf()),
                ),
                opened.device,
            ))
        }
        None => None,
    };
    rewrite(
        path,
        desc,
        &top.device,
        similar_options(&top, desc),
        backing,
        progress,
    )
}

/// Changes only the backing file recorded in the overlay at `path` (`None`: removes it). The
/// data is not looked at: the overlay shows something else unless the new base has the same
/// content as the old one. The header is rewritten in place with one write.
pub fn rebase_unsafe(
    path: &Path,
    new_base: Option<&Path>,
    new_base_format: Option<&str>,
) -> Result<()> {
    let top = open_image(path, None)?;
    let desc = top
        .descriptor()
        .ok_or_else(|| Error::unsupported(top.format, "no descriptor"))?;
    let set = desc.create.and_then(|h| h.set_backing).ok_or_else(|| {
        Error::unsupported(top.format, "this format has no backing file to change").with_file(path)
    })?;
    let backing = match new_base {
        Some(b) => {
            let format = match new_base_format {
                Some(f) => Some(f.to_owned()),
                None => open_image(b, None).ok().map(|o| o.format.to_owned()),
            };
            Some(BackingRef::new(
                backing_name_for(path, b).unwrap_or_else(|_| b.to_string_lossy().into_owned()),
                format,
                Some(b.to_path_buf()),
            ))
        }
        None => None,
    };
    drop(top);
    let sink = FileSink::open(path)?;
    set(&sink, backing.as_ref())
}
