//! `create`: images made from host folders.

mod dmg;

pub use dmg::{DmgOptions, write_dmg_file};

use crate::build::iso::boot::{BootImage, BootOptions, Emulation, Platform, wants_info_table};
use crate::build::iso::{self, IsoOptions, IsoProgress, hybrid};
use crate::build::span;
use crate::build::tree::{FileTree, Kind, Meta, ROOT, ScanOptions, ScanReport, Source, add_host};
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
fn write_iso_pending(
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
fn write_bridge_pending(
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

/// El Torito and hybrid choices, as the user gives them (paths inside the image).
#[derive(Debug, Clone, Default)]
pub struct BootRequest {
    /// BIOS loader, no emulation (isolinux.bin, GRUB's eltorito.img).
    pub bios: Option<String>,
    /// UEFI boot image (a FAT image file), or a folder to make one from (see
    /// [`build::fat::efi`](crate::build::fat::efi)).
    pub uefi: Option<String>,
    /// Where the image made from a `uefi` folder goes (default `/efiboot.img`).
    pub uefi_image: Option<String>,
    /// Newest time in an image made from a `uefi` folder (reproducible images).
    pub fixed_time: Option<Timestamp>,
    /// Floppy image for floppy emulation.
    pub floppy: Option<String>,
    /// Disk image for hard-disk emulation.
    pub hard_disk: Option<String>,
    /// Sectors the BIOS loads (no emulation).
    pub load_size: Option<u16>,
    /// Patch a boot information table: `None` decides from the loader.
    pub info_table: Option<bool>,
    /// Where the catalog goes.
    pub catalog: Option<String>,
    /// Make the image bootable from a USB stick too.
    pub hybrid: bool,
    /// The MBR code template for `hybrid` (found automatically for isolinux).
    pub hybrid_mbr: Option<PathBuf>,
}

impl BootRequest {
    /// Whether any boot option was given.
    pub fn is_empty(&self) -> bool {
        self.bios.is_none()
            && self.uefi.is_none()
            && self.floppy.is_none()
            && self.hard_disk.is_none()
    }
}

/// Resolves a boot request against `tree`: adds the catalog file and finds the MBR template.
/// Returns the El Torito options and the hybrid MBR code for `IsoOptions`.
pub fn prepare_boot(
    tree: &mut FileTree,
    req: &BootRequest,
) -> Result<(Option<BootOptions>, Option<Vec<u8>>)> {
    if req.is_empty() {
        if req.hybrid {
            return Err(Error::invalid_input(
                "--hybrid needs a boot image (--boot-bios or --boot-uefi)",
            ));
        }
        return Ok((None, None));
    }
    // A UEFI folder becomes a FAT image file in the tree, booted in its place.
    let uefi = req
        .uefi
        .as_deref()
        .map(|p| {
            crate::build::fat::efi_boot_image(tree, p, req.uefi_image.as_deref(), req.fixed_time)
        })
        .transpose()?;
    // The first bytes and the length of a boot image.
    let head = |path: &str| -> Result<(Vec<u8>, u64)> {
        let node = tree
            .lookup(path)
            .ok_or_else(|| Error::not_found(format!("boot image {path} is not in the tree")))?;
        match &tree.node(node).kind {
            Kind::File { source, size } => Ok((source.read_head(*size, 4096)?, *size)),
            _ => Err(Error::invalid_input(format!(
                "boot image {path} is not a regular file"
            ))),
        }
    };
    let mut images = Vec::new();
    let mut bios_head = None;
    if let Some(p) = &req.bios {
        let (h, len) = head(p)?;
        images.push(BootImage {
            path: p.clone(),
            platform: Platform::Bios,
            emulation: Emulation::None,
            load_size: req.load_size,
            info_table: req.info_table.unwrap_or_else(|| wants_info_table(&h, len)),
        });
        bios_head = Some(h);
    }
    for (path, emulation) in [
        (&req.floppy, Emulation::Floppy),
        (&req.hard_disk, Emulation::HardDisk),
    ] {
        if let Some(p) = path {
            head(p)?;
            images.push(BootImage {
                path: p.clone(),
                platform: Platform::Bios,
                emulation,
                load_size: None,
                info_table: false,
            });
        }
    }
    if let Some(p) = &uefi {
        head(p)?;
        images.push(BootImage {
            path: p.clone(),
            platform: Platform::Efi,
            emulation: Emulation::None,
            load_size: None,
            info_table: false,
        });
    }
    let catalog = req.catalog.clone().unwrap_or_else(|| {
        match req.bios.as_deref().and_then(|b| {
            crate::fs::path::normalize(b)
                .rsplit_once('/')
                .map(|(d, _)| d.to_owned())
        }) {
            Some(dir) if !dir.is_empty() => format!("{dir}/boot.cat"),
            _ => "/boot.catalog".to_owned(),
        }
    });
    let catalog = add_catalog_file(tree, &catalog)?;
    let mbr = if req.hybrid {
        Some(match &req.hybrid_mbr {
            Some(p) => hybrid::read_template(p)?,
            None => {
                let isolinux = bios_head
                    .as_deref()
                    .is_some_and(|h| h.windows(8).any(|w| w == b"ISOLINUX"));
                let found = hybrid::ISOHDPFX_PATHS
                    .iter()
                    .map(Path::new)
                    .find(|p| p.is_file());
                match (isolinux, found) {
                    (true, Some(p)) => hybrid::read_template(p)?,
                    (true, None) => {
                        return Err(Error::not_found(
                            "isolinux's hybrid MBR (isohdpfx.bin) was not found; give it with --hybrid-mbr",
                        ));
                    }
                    (false, _) => {
                        return Err(Error::invalid_input(
                            "--hybrid needs the MBR code that matches the BIOS loader: give it with --hybrid-mbr",
                        ));
                    }
                }
            }
        })
    } else {
        None
    };
    Ok((Some(BootOptions { images, catalog }), mbr))
}

/// Adds the file that will hold the boot catalog at `path`; returns the normalised path.
pub(crate) fn add_catalog_file(tree: &mut FileTree, path: &str) -> Result<String> {
    let catalog = crate::fs::path::normalize(path);
    let (dir, name) = catalog.rsplit_once('/').unwrap_or(("", &catalog));
    let dir_meta = tree.node(ROOT).meta;
    let at = tree.ensure_dir(dir, dir_meta)?;
    let mut meta = dir_meta;
    meta.mode = 0o444;
    tree.add(
        at,
        name,
        Kind::File {
            source: Source::Bytes(vec![0u8; 2048].into()),
            size: 2048,
        },
        meta,
    )?;
    Ok(catalog)
}

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
