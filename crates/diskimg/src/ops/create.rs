//! `create`: images made from host folders.

use crate::build::iso::boot::{BootImage, BootOptions, Emulation, Platform, wants_info_table};
use crate::build::iso::{self, IsoOptions, IsoProgress, hybrid};
use crate::build::tree::{FileTree, Kind, Meta, ROOT, ScanOptions, ScanReport, Source, add_host};
use crate::container::dmg::crypt::EncryptOptions;
use crate::container::write::{CreateRequest, FormatOptions};
use crate::device::DeviceRef;
use crate::error::{Error, Result};
use crate::io::{AtomicFile, FileSource};
use crate::ops::convert::{NoProgress, default_threads, write_device};
use crate::time::Timestamp;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    let plan = iso::plan(tree, options)?;
    let out = AtomicFile::create(output, replace)?;
    iso::write_iso(&plan, out.file(), progress).map_err(|e| e.with_file(output))?;
    let size = u64::from(plan.volume_blocks()) * 2048;
    out.commit()?;
    let (mut files, mut directories) = (0, 0);
    for i in 0..tree.len() {
        match tree.node(i).kind {
            crate::build::tree::Kind::File { .. } => files += 1,
            crate::build::tree::Kind::Dir(_) if i != ROOT => directories += 1,
            _ => {}
        }
    }
    Ok(CreateReport {
        output: output.to_path_buf(),
        size,
        files,
        directories,
        data: tree.data_size(),
        warnings: Vec::new(),
    })
}

fn now() -> Timestamp {
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
    /// UEFI boot image (a FAT image file).
    pub uefi: Option<String>,
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
    // The first bytes and the length of a boot image.
    let head = |path: &str| -> Result<(Vec<u8>, u64)> {
        let node = tree
            .lookup(path)
            .ok_or_else(|| Error::not_found(format!("boot image {path} is not in the tree")))?;
        match &tree.node(node).kind {
            Kind::File {
                source: Source::Host(p),
                size,
            } => {
                let mut head = vec![0u8; 4096];
                let mut f = std::fs::File::open(p).map_err(|e| Error::from(e).with_file(p))?;
                let n = std::io::Read::read(&mut f, &mut head)
                    .map_err(|e| Error::from(e).with_file(p))?;
                head.truncate(n);
                Ok((head, *size))
            }
            Kind::File {
                source: Source::Bytes(b),
                size,
            } => Ok((b[..b.len().min(4096)].to_vec(), *size)),
            Kind::File { size, .. } => Ok((Vec::new(), *size)),
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
    if let Some(p) = &req.uefi {
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
    let catalog = crate::fs::path::normalize(&catalog);
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

/// How to write a DMG of a tree.
#[derive(Debug, Clone, Default)]
pub struct DmgOptions {
    /// The file system inside (an ISO 9660 image with Rock Ridge and Joliet).
    pub iso: IsoOptions,
    /// `-o` options of the DMG writer (`compression=...`).
    pub options: Vec<String>,
    /// Encrypt the image.
    pub encrypt: Option<EncryptOptions>,
    /// Worker threads (default: the cores).
    pub threads: Option<usize>,
}

/// Writes `tree` as a DMG at `output` (atomically): the file system (ISO 9660 with Rock Ridge
/// and Joliet, which macOS mounts) laid out in a temporary file beside the output, then
/// compressed chunk by chunk into the DMG.
pub fn write_dmg_file(
    tree: &FileTree,
    opts: DmgOptions,
    output: &Path,
    replace: bool,
    progress: &dyn IsoProgress,
) -> Result<CreateReport> {
    if !replace && output.exists() {
        return Err(Error::new(
            crate::ErrorKind::AlreadyExists,
            "the output exists (use --overwrite to replace it)",
        )
        .with_file(output));
    }
    let plan = iso::plan(tree, opts.iso)?;
    let dir = output
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    // Never committed: the temporary file goes away when this returns.
    let scratch = AtomicFile::create(dir.join(".diskimg-dmg-contents.iso"), true)?;
    iso::write_iso(&plan, scratch.file(), progress).map_err(|e| e.with_file(output))?;
    let file = scratch
        .file()
        .try_clone()
        .map_err(Error::from)
        .map_err(|e| e.with_file(output))?;
    let device: DeviceRef = Arc::new(FileSource::from_file(file, output)?);
    let desc = &crate::container::dmg::DESCRIPTOR;
    let req = CreateRequest {
        size: device.size(),
        compress: true,
        backing: None,
        options: FormatOptions::parse(&opts.options)?,
    };
    let (_, size) = write_device(
        &device,
        output,
        desc,
        &req,
        None,
        opts.encrypt.as_ref(),
        opts.threads.unwrap_or_else(default_threads),
        &NoProgress,
    )?;
    drop(scratch);
    let (mut files, mut directories) = (0, 0);
    for i in 0..tree.len() {
        match tree.node(i).kind {
            Kind::File { .. } => files += 1,
            Kind::Dir(_) if i != ROOT => directories += 1,
            _ => {}
        }
    }
    Ok(CreateReport {
        output: output.to_path_buf(),
        size,
        files,
        directories,
        data: tree.data_size(),
        warnings: Vec::new(),
    })
}
