//! Remastering: `diskimg create iso --from old.iso --add DIR`. The old image's tree (names,
//! Rock Ridge metadata, file data read from the image as the new one is written) is the base;
//! host folders are laid over it (folders merge, files replace) and paths can be removed. The
//! boot setup is kept: every El Torito entry is matched to the file that holds its image (a
//! boot image outside the tree is carried over as a file), the boot information table is
//! patched again where the old loader had one, the catalog goes back to its old path, and an
//! isohybrid MBR in the old system area is reused as the template of the new one.

use super::create::{Contents, add_catalog_file, gather, now};
use crate::build::image_tree::gather_image;
use crate::build::iso::boot::{BootImage, BootOptions, Emulation, Platform};
use crate::build::iso::hybrid::MBR_CODE;
use crate::build::tree::{FileTree, Kind, Meta, NodeIndex, ROOT, ScanReport, Source};
use crate::device::DeviceRef;
use crate::error::{Error, Result, ResultExt};
use crate::fs::iso9660::{BootCatalog, BootEntry};
use crate::image::{Image, Selection};
use crate::io::{ReadAt, read_vec};
use std::collections::HashMap;
use std::path::Path;

/// Largest boot image carried over from outside the old tree (an appended EFI partition).
pub const MAX_LOOSE_BOOT_IMAGE: u64 = 256 << 20;

/// What a remaster starts from.
pub struct Remaster {
    /// The merged tree: the old image's, with the host folders over it and removals done.
    pub tree: FileTree,
    /// What the gathering left out or changed.
    pub scan: ScanReport,
    /// The old El Torito setup, with its catalog file already in `tree` (`None`: not bootable).
    pub boot: Option<BootOptions>,
    /// The old image's MBR code, when it was a hybrid image.
    pub hybrid_mbr: Option<Vec<u8>>,
    /// The old volume label.
    pub volume_id: Option<String>,
    /// What was kept or changed in the boot setup, for the user.
    pub notes: Vec<String>,
}

/// Reads `from` and builds the tree of the new image: `add` laid over the old tree, then
/// `remove` (paths inside the image) taken out.
pub fn remaster(from: &Path, add: &Contents, remove: &[String]) -> Result<Remaster> {
    let image = Image::open(from)?;
    let fs = image.select(&Selection::default()).in_file(from)?;
    let layer = image.content().track_layer(None)?;
    let mut scan = ScanReport::default();
    let old = gather_image(&fs, now(), &mut scan).in_file(from)?;
    let mut tree = old.tree;
    let mut notes = Vec::new();

    // The old boot images by path, found before the tree changes.
    let mut boot_paths = Vec::new();
    let mut catalog_path = None;
    if let Some(cat) = &layer.boot {
        let catalog_at = u64::from(cat.catalog_lba) * 2048;
        if let Some(&node) = old.starts.get(&catalog_at) {
            catalog_path = Some(tree.path(node));
        }
        for e in &cat.entries {
            boot_paths.push(old.starts.get(&e.offset).map(|&n| tree.path(n)));
        }
    }
    if let Some(p) = &catalog_path {
        tree.remove_path(p)?;
    }

    let (host, host_scan) = gather(add)?;
    scan.warnings.extend(host_scan.warnings);
    tree.overlay(&host)?;
    for path in remove {
        tree.remove_path(path)?;
    }

    let boot = match &layer.boot {
        Some(cat) => {
            let catalog = catalog_path.unwrap_or_else(|| "/boot.catalog".to_owned());
            keep_boot(
                &mut tree,
                cat,
                &boot_paths,
                catalog,
                &layer.device,
                &mut notes,
            )?
        }
        None => None,
    };
    let hybrid_mbr = match &boot {
        Some(b) if b.images.iter().any(|i| i.platform == Platform::Bios) => {
            hybrid_code(&layer.device)?
        }
        _ => None,
    };
    if hybrid_mbr.is_some() {
        notes.push("the old isohybrid MBR code is reused: the image boots from USB too".into());
    }
    Ok(Remaster {
        tree,
        scan,
        boot,
        hybrid_mbr,
        volume_id: fs.label(),
        notes,
    })
}

/// The El Torito options that rebuild `cat` over the new tree.
fn keep_boot(
    tree: &mut FileTree,
    cat: &BootCatalog,
    paths: &[Option<String>],
    catalog: String,
    device: &DeviceRef,
    notes: &mut Vec<String>,
) -> Result<Option<BootOptions>> {
    let mut images = Vec::new();
    let mut loose: HashMap<u64, String> = HashMap::new();
    for (e, path) in cat.entries.iter().zip(paths) {
        let platform = match e.platform {
            "x86" => Platform::Bios,
            "efi" => Platform::Efi,
            other => {
                notes.push(format!(
                    "boot entry {} is for platform {other}, which diskimg does not write: left out",
                    e.index
                ));
                continue;
            }
        };
        if !e.bootable {
            notes.push(format!(
                "boot entry {} is marked not bootable: left out",
                e.index
            ));
            continue;
        }
        let emulation = match e.emulation {
            "none" => Emulation::None,
            "hard-disk" => Emulation::HardDisk,
            m if m.starts_with("floppy") => Emulation::Floppy,
            other => {
                return Err(Error::unsupported(
                    "iso9660",
                    format!("boot entry {} has an unknown emulation ({other})", e.index),
                ));
            }
        };
        let path = match path {
            Some(p) if tree.lookup(p).is_some() => p.clone(),
            Some(p) => {
                return Err(Error::invalid_input(format!(
                    "{p} is the image's boot image {}: it cannot be removed (or give new boot options)",
                    e.index
                )));
            }
            None => match loose.get(&e.offset) {
                Some(p) => p.clone(),
                None => {
                    let p = add_loose_image(tree, e, device)?;
                    notes.push(format!(
                        "boot image {} lies outside the old file tree: kept as {p}",
                        e.index
                    ));
                    loose.insert(e.offset, p.clone());
                    p
                }
            },
        };
        images.push(BootImage {
            path,
            platform,
            emulation,
            load_size: (platform == Platform::Bios && emulation == Emulation::None)
                .then_some(e.sector_count),
            info_table: had_info_table(device, e)?,
        });
    }
    if images.is_empty() {
        return Ok(None);
    }
    let catalog = add_catalog_file(tree, &catalog)?;
    notes.push(format!(
        "boot setup kept: {} El Torito image(s), catalog {catalog}",
        images.len()
    ));
    Ok(Some(BootOptions { images, catalog }))
}

/// Whether the old loader carries a patched boot information table: the primary volume
/// descriptor's sector (16) and the loader's own sector at bytes 8..16.
fn had_info_table(device: &DeviceRef, e: &BootEntry) -> Result<bool> {
    if e.emulation != "none" || e.size < 64 {
        return Ok(false);
    }
    let head = read_vec(device.as_ref(), e.offset, 16, 16)?;
    let le = |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
    Ok(le(8) == 16 && le(12) == e.load_lba)
}

/// Copies a boot image that no file of the old tree holds into `/boot-images/`.
fn add_loose_image(tree: &mut FileTree, e: &BootEntry, device: &DeviceRef) -> Result<String> {
    let size = e.size.min(device.size().saturating_sub(e.offset));
    if size == 0 || size > MAX_LOOSE_BOOT_IMAGE {
        return Err(Error::unsupported(
            "iso9660",
            format!(
                "boot image {} ({} bytes at offset {}) cannot be carried over",
                e.index, e.size, e.offset
            ),
        ));
    }
    let data = read_vec(device.as_ref(), e.offset, size, MAX_LOOSE_BOOT_IMAGE)?;
    let meta = Meta {
        mode: 0o444,
        link_group: None,
        ..tree.node(ROOT).meta
    };
    let dir = tree.ensure_dir(
        "/boot-images",
        Meta {
            mode: 0o755,
            ..meta
        },
    )?;
    let name = format!("eltorito-{}-{}.img", e.index, e.platform);
    add_replacing(
        tree,
        dir,
        &name,
        Kind::File {
            source: Source::Bytes(data.into()),
            size,
        },
        meta,
    )?;
    Ok(format!("/boot-images/{name}"))
}

fn add_replacing(
    tree: &mut FileTree,
    dir: NodeIndex,
    name: &str,
    kind: Kind,
    meta: Meta,
) -> Result<()> {
    if tree.child(dir, name).is_some() {
        tree.remove_path(&crate::build::tree::join(&tree.path(dir), name))?;
    }
    tree.add(dir, name, kind, meta).map(|_| ())
}

/// The MBR code of an isohybrid image: boot signature present and code bytes not all zero.
fn hybrid_code(device: &DeviceRef) -> Result<Option<Vec<u8>>> {
    if device.size() < 512 {
        return Ok(None);
    }
    let mbr = read_vec(device.as_ref(), 0, 512, 512)?;
    let signed = mbr[510] == 0x55 && mbr[511] == 0xAA;
    let has_code = mbr[..MBR_CODE].iter().any(|&b| b != 0);
    Ok((signed && has_code).then(|| mbr[..MBR_CODE].to_vec()))
}
