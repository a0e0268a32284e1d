//! `create`: images made from host folders.

mod boot;
mod dmg;
mod span;

pub(crate) use boot::add_catalog_file;
pub use boot::{BootRequest, prepare_boot};
pub use dmg::{DmgOptions, write_dmg_file};
pub use span::{CATALOG_NAME, volume_path, write_iso_span};

use crate::build::iso::{self, IsoOptions, IsoProgress};
use crate::build::tree::{FileTree, Kind, Meta, ROOT, ScanOptions, ScanReport, add_host};
use crate::build::udf::{UdfPlan, UdfRevision};
use crate::error::{Error, Result};
use crate::io::AtomicFile;
use crate::time::Timestamp;
use std::path::{Path, PathBuf};

/// A host file or folder placed at a chosen path of the image.
#[derive(Debug, Clone)]
pub struct Graft {
    /// Where it goes: a path in the image; ending in `/` puts it inside that folder by its name.
    pub image_path: String,
    /// What goes there.
    pub host: PathBuf,
}

impl Graft {
    /// Parses `IMAGE_PATH=HOST_PATH`.
    pub fn parse(s: &str) -> Result<Self> {
        let (image_path, host) = s.split_once('=').ok_or_else(|| {
            Error::invalid_input(format!("graft '{s}' is not IMAGE_PATH=HOST_PATH"))
        })?;
        Ok(Graft {
            image_path: image_path.to_owned(),
            host: PathBuf::from(host),
        })
    }
}

/// What goes into a new image.
#[derive(Debug, Clone, Default)]
pub struct Contents {
    /// Folders whose contents form the root (or files placed at the root).
    pub sources: Vec<PathBuf>,
    /// More files and folders, at chosen paths.
    pub grafts: Vec<Graft>,
    /// Exclusions and the symlink policy.
    pub scan: ScanOptions,
}

/// Gathers the tree of names and metadata for `contents`.
pub fn gather(contents: &Contents) -> Result<(FileTree, ScanReport)> {
    let mut report = ScanReport::default();
    let mut tree = FileTree::new(Meta::synthetic(0o755, now()));
    for src in &contents.sources {
        let is_dir = std::fs::metadata(src)
            .map_err(Error::from)
            .map_err(|e| e.with_file(src))?
            .is_dir();
        add_host(&mut tree, ROOT, src, is_dir, &contents.scan, &mut report)?;
    }
    for g in &contents.grafts {
        let dir_meta = tree.node(ROOT).meta;
        if g.image_path.ends_with('/') {
            let at = tree.ensure_dir(&g.image_path, dir_meta)?;
            add_host(&mut tree, at, &g.host, false, &contents.scan, &mut report)?;
        } else {
            let path = crate::fs::path::normalize(&g.image_path);
            let (parent, name) = path.rsplit_once('/').unwrap_or(("", &path));
            if name.is_empty() {
                let is_dir = std::fs::metadata(&g.host)
                    .map_err(Error::from)
                    .map_err(|e| e.with_file(&g.host))?
                    .is_dir();
                add_host(
                    &mut tree,
                    ROOT,
                    &g.host,
                    is_dir,
                    &contents.scan,
                    &mut report,
                )?;
                continue;
            }
            let at = tree.ensure_dir(parent, dir_meta)?;
            crate::build::tree::add_host_as(
                &mut tree,
                at,
                &g.host,
                name,
                &contents.scan,
                &mut report,
            )?;
        }
    }
    Ok((tree, report))
}

/// The fixed time for a reproducible image: `SOURCE_DATE_EPOCH` if set, else, when asked for,
/// the newest modification time in the tree.
pub fn reproducible_time(tree: &FileTree, asked: bool) -> Result<Option<Timestamp>> {
    if let Ok(v) = std::env::var("SOURCE_DATE_EPOCH") {
        let secs: i64 = v.trim().parse().map_err(|_| {
            Error::invalid_input(format!(
                "SOURCE_DATE_EPOCH '{v}' is not a number of seconds"
            ))
        })?;
        return Ok(Some(Timestamp::from_secs(secs)));
    }
    if !asked {
        return Ok(None);
    }
    let newest = (0..tree.len()).map(|i| tree.node(i).meta.mtime).max();
    Ok(Some(newest.map_or(Timestamp::from_secs(0), |t| {
        Timestamp::from_secs(t.secs)
    })))
}

/// What `create_iso` made.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CreateReport {
    /// The image file.
    pub output: PathBuf,
    /// Bytes of the image.
    pub size: u64,
    /// Regular files in it.
    pub files: usize,
    /// Folders in it.
    pub directories: usize,
    /// Bytes of file data.
    pub data: u64,
    /// What the scan left out or changed.
    pub warnings: Vec<String>,
}

/// Writes `tree` as an ISO image at `output` (atomically).
pub fn write_iso_file(
    tree: &FileTree,
    options: IsoOptions,
    output: &Path,
    replace: bool,
    progress: &dyn IsoProgress,
) -> Result<CreateReport> {
    let (out, report) = write_iso_pending(tree, options, output, replace, progress)?;
    out.commit()?;
    Ok(report)
}

/// Writes the image under a temporary name, leaving the caller to commit it.
pub(super) fn write_iso_pending(
    tree: &FileTree,
    options: IsoOptions,
    output: &Path,
    replace: bool,
    progress: &dyn IsoProgress,
) -> Result<(AtomicFile, CreateReport)> {
    let plan = iso::plan(tree, options)?;
    let out = AtomicFile::create(output, replace)?;
    iso::write_iso(&plan, out.file(), progress).map_err(|e| e.with_file(output))?;
    let size = u64::from(plan.volume_blocks()) * 2048;
    let report = report(tree, output, size);
    Ok((out, report))
}

/// Writes `tree` as an ISO 9660/UDF bridge image of UDF `revision` at `output` (atomically):
/// both trees share the file data; files over 4 GiB are whole in the UDF tree.
pub fn write_bridge_file(
    tree: &FileTree,
    options: IsoOptions,
    revision: UdfRevision,
    output: &Path,
    replace: bool,
    progress: &dyn IsoProgress,
) -> Result<CreateReport> {
    let (out, report) = write_bridge_pending(tree, options, revision, output, replace, progress)?;
    out.commit()?;
    Ok(report)
}

/// Writes the bridge image under a temporary name, leaving the caller to commit it.
pub(super) fn write_bridge_pending(
    tree: &FileTree,
    mut options: IsoOptions,
    revision: UdfRevision,
    output: &Path,
    replace: bool,
    progress: &dyn IsoProgress,
) -> Result<(AtomicFile, CreateReport)> {
    let udf = UdfPlan::new(tree, revision, options.hybrid_mbr.is_some())?;
    options.reserve = udf.reserve();
    let plan = iso::plan(tree, options)?;
    let out = AtomicFile::create(output, replace)?;
    iso::write_iso_with(&plan, out.file(), progress, Some(&udf.writer()))
        .map_err(|e| e.with_file(output))?;
    let size = u64::from(plan.volume_blocks()) * 2048;
    let report = report(tree, output, size);
    Ok((out, report))
}

/// What was written: `tree` as an image of `size` bytes at `output`.
fn report(tree: &FileTree, output: &Path, size: u64) -> CreateReport {
    let count = |dir: bool| {
        (1..tree.len())
            .filter(|&i| match tree.node(i).kind {
                Kind::Dir(_) => dir,
                Kind::File { .. } => !dir,
                _ => false,
            })
            .count()
    };
    CreateReport {
        output: output.to_path_buf(),
        size,
        files: count(false),
        directories: count(true),
        data: tree.data_size(),
        warnings: Vec::new(),
    }
}

pub(crate) fn now() -> Timestamp {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::from_secs(i64::try_from(d.as_secs()).unwrap_or(0))
}

/// Writes the folder `root` of `tree` as a FAT image at `output` (atomically).
pub fn write_fat_file(
    tree: &FileTree,
    root: crate::build::tree::NodeIndex,
    options: &crate::build::fat::FatOptions,
    output: &Path,
    replace: bool,
    progress: &dyn IsoProgress,
) -> Result<CreateReport> {
    let plan = crate::build::fat::plan(tree, root, options)?;
    crate::build::fat::write_fat_file(&plan, output, replace, progress)?;
    Ok(CreateReport {
        output: output.to_path_buf(),
        size: plan.image_size(),
        files: plan.files(),
        directories: plan.directories(),
        data: plan.data_size(),
        warnings: plan.warnings().to_vec(),
    })
}
