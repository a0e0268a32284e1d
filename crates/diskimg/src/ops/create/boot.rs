//! Boot requests for `create iso`: the user's El Torito and hybrid choices resolved against
//! the tree (catalog file added, loaders found, MBR template chosen).

use crate::build::iso::boot::{BootImage, BootOptions, Emulation, Platform, wants_info_table};
use crate::build::iso::hybrid;
use crate::build::tree::{FileTree, Kind, ROOT, Source};
use crate::error::{Error, Result};
use crate::time::Timestamp;
use std::path::{Path, PathBuf};

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
