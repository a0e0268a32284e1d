//! `create iso --span`: a tree written over several volumes, with a catalog of which file is
//! where; the set appears under its final names only when every volume is written.

use super::{CreateReport, write_bridge_pending, write_iso_pending};
use crate::build::iso::{IsoOptions, IsoProgress};
use crate::build::span;
use crate::build::tree::{FileTree, Kind, ROOT, Source};
use crate::build::udf::UdfRevision;
use crate::error::{Error, Result};
use crate::io::AtomicFile;
use std::path::{Path, PathBuf};

/// The name of volume `n` (from 1) of a spanned set: `archive.iso` -> `archive-2.iso`.
pub fn volume_path(output: &Path, n: usize) -> PathBuf {
    let stem = output
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match output.extension() {
        Some(ext) => format!("{stem}-{n}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{n}"),
    };
    output.with_file_name(name)
}

/// Name of the catalog placed in every volume of a spanned set (and beside them).
pub const CATALOG_NAME: &str = "diskimg-catalog.txt";

/// Writes `tree` over several ISO images of at most `capacity` bytes each (see
/// [`crate::build::span`]), named `STEM-1.EXT`, `STEM-2.EXT`, ..., with a catalog of which file
/// is on which volume in every volume and beside them (`STEM-catalog.txt`). Volumes are labelled
/// `LABEL_1`, `LABEL_2`, ...; with `udf`, each is an ISO 9660/UDF bridge image of that revision.
#[allow(clippy::too_many_arguments)]
pub fn write_iso_span(
    tree: &FileTree,
    options: IsoOptions,
    udf: Option<UdfRevision>,
    output: &Path,
    capacity: u64,
    split: bool,
    replace: bool,
    progress: &dyn IsoProgress,
) -> Result<Vec<CreateReport>> {
    if options.boot.is_some() || options.hybrid_mbr.is_some() {
        return Err(Error::invalid_input(
            "boot images and spanning cannot be combined",
        ));
    }
    let reserve = span::catalog_bound(tree, capacity);
    let format = span::VolumeFormat {
        iso: options.clone(),
        udf,
    };
    let plan = span::plan(tree, capacity, split, reserve, &format)?;
    let paths: Vec<PathBuf> = (1..=plan.volumes.len())
        .map(|n| volume_path(output, n))
        .collect();
    if !replace {
        if let Some(p) = paths.iter().find(|p| p.exists()) {
            return Err(Error::new(
                crate::ErrorKind::AlreadyExists,
                "not replaced without --overwrite",
            )
            .with_file(p));
        }
    }
    let names: Vec<String> = paths
        .iter()
        .map(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    let catalog = span::catalog(tree, &plan, &names);
    let label = options.volume_id.clone();
    let (mut reports, mut pending) = (Vec::new(), Vec::new());
    for (i, pieces) in plan.volumes.iter().enumerate() {
        let mut vt = span::volume_tree(tree, pieces, i == 0)?;
        if vt.child(ROOT, CATALOG_NAME).is_none() {
            let mut meta = tree.node(ROOT).meta;
            meta.mode = 0o444;
            meta.link_group = None;
            let size = catalog.len() as u64;
            let source = Source::Bytes(catalog.as_bytes().to_vec().into());
            vt.add(ROOT, CATALOG_NAME, Kind::File { source, size }, meta)?;
        }
        let suffix = format!("_{}", i + 1);
        let base: String = label.chars().take(32 - suffix.len()).collect();
        let opts = IsoOptions {
            volume_id: format!("{base}{suffix}"),
            ..options.clone()
        };
        let (out, mut report) = match udf {
            Some(rev) => write_bridge_pending(&vt, opts, rev, &paths[i], replace, progress)?,
            None => write_iso_pending(&vt, opts, &paths[i], replace, progress)?,
        };
        report.files = pieces.len();
        pending.push(out);
        reports.push(report);
    }
    let list = output.with_file_name(format!(
        "{}-catalog.txt",
        output
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    let out = AtomicFile::create(&list, replace)?;
    std::io::Write::write_all(&mut out.file(), catalog.as_bytes())
        .map_err(|e| Error::from(e).with_file(&list))?;
    pending.push(out);
    // Only a complete set appears under the final names.
    for out in pending {
        out.commit()?;
    }
    Ok(reports)
}
