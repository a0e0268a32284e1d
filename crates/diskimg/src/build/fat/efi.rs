//! FAT images for UEFI El Torito entries, made in memory from a folder of the tree.
//!
//! UEFI firmware boots a disc through an El Torito entry (platform 0xEF) whose image is a FAT
//! volume (UEFI specification 2.10, §13.3.2.1), and looks inside it for
//! `\EFI\BOOT\BOOT<arch>.EFI`. The image holds the folder's contents at its root, except that a
//! folder named `EFI` (any case) is placed in the image as `EFI`: `--boot-uefi /EFI` gives an
//! image with `\EFI\BOOT\...`, the way distribution discs carry `/EFI/BOOT` both as files and
//! inside `efiboot.img`. The size is the smallest of a 1.44 MB floppy, a 2.88 MB floppy, or a
//! whole number of MiB that holds the folder, FAT12 or FAT16 as mkfs.fat picks for that size,
//! and at most [`MAX_EFI_IMAGE`] (the El Torito entry counts 512-byte sectors in 16 bits).
//! Anything the volume cannot hold as it is (a symlink, a name FAT refuses) is an error here,
//! not a warning: a boot image must be what the folder says.

use super::{FatOptions, PartitionStyle, plan, write_fat_to_vec};
use crate::build::tree::{FileTree, Kind, NodeIndex, ROOT, Source};
use crate::error::{Error, Result};
use crate::time::Timestamp;

/// Largest EFI image: 65535 sectors of 512 bytes, the most an El Torito entry can count.
pub const MAX_EFI_IMAGE: u64 = 65535 * 512;

/// Where the image made from a `--boot-uefi` folder goes by default.
pub const DEFAULT_EFI_IMAGE_PATH: &str = "/efiboot.img";

/// The bytes of a FAT image holding the folder `dir` of `tree` (see the module doc for what
/// goes where). Times newer than `fixed_time` are clamped.
pub fn efi_image(
    tree: &FileTree,
    dir: NodeIndex,
    fixed_time: Option<Timestamp>,
) -> Result<Vec<u8>> {
    let node = tree.node(dir);
    if !matches!(node.kind, Kind::Dir(_)) {
        return Err(Error::invalid_input(format!(
            "{} is not a folder",
            tree.path(dir)
        )));
    }
    let wrapped;
    let (tree, root) = if dir != ROOT && node.name.eq_ignore_ascii_case("EFI") {
        wrapped = wrap(tree, dir)?;
        (&wrapped, ROOT)
    } else {
        (tree, dir)
    };
    let opts = FatOptions {
        size: None,
        slack_percent: 0,
        fat_type: None,
        label: None,
        fixed_time,
        serial: None,
        partition: PartitionStyle::None,
    };
    let p = plan(tree, root, &opts)?;
    if let Some(w) = p.warnings().first() {
        return Err(Error::invalid_input(format!(
            "the UEFI boot folder cannot be stored in a FAT image as it is: {w}"
        )));
    }
    if p.image_size() > MAX_EFI_IMAGE {
        return Err(Error::invalid_input(format!(
            "the UEFI boot folder needs a {} byte image; El Torito allows {MAX_EFI_IMAGE}",
            p.image_size()
        )));
    }
    write_fat_to_vec(&p)
}

/// A tree whose root holds a copy of the folder `dir` under its own name.
fn wrap(tree: &FileTree, dir: NodeIndex) -> Result<FileTree> {
    let top = tree.node(dir);
    let mut out = FileTree::new(top.meta);
    let at = out.add(ROOT, &top.name, Kind::Dir(Vec::new()), top.meta)?;
    let mut stack = vec![(dir, at)];
    while let Some((from, to)) = stack.pop() {
        for &c in tree.children(from) {
            let n = tree.node(c);
            let kind = match &n.kind {
                Kind::Dir(_) => Kind::Dir(Vec::new()),
                k => k.clone(),
            };
            let made = out.add(to, &n.name, kind, n.meta)?;
            if matches!(n.kind, Kind::Dir(_)) {
                stack.push((c, made));
            }
        }
    }
    Ok(out)
}

/// Resolves a `--boot-uefi` path: when `path` names a folder of `tree`, builds its FAT image,
/// adds it to the tree at `image_path` (default [`DEFAULT_EFI_IMAGE_PATH`]; read-only, with the
/// root's times) and returns that path; when it names anything else, returns `path` as it is.
/// The folder stays in the tree.
pub fn efi_boot_image(
    tree: &mut FileTree,
    path: &str,
    image_path: Option<&str>,
    fixed_time: Option<Timestamp>,
) -> Result<String> {
    let node = tree.lookup(path);
    let is_dir = node.is_some_and(|n| matches!(tree.node(n).kind, Kind::Dir(_)));
    let Some(dir) = node.filter(|_| is_dir) else {
        if let Some(p) = image_path {
            return Err(Error::invalid_input(format!(
                "a UEFI image path ({p}) is only used when the UEFI boot path names a folder; {path} does not"
            )));
        }
        return Ok(path.to_owned());
    };
    let bytes = efi_image(tree, dir, fixed_time)?;
    let target = crate::fs::path::normalize(image_path.unwrap_or(DEFAULT_EFI_IMAGE_PATH));
    let (parent, name) = target.rsplit_once('/').unwrap_or(("", &target));
    let mut meta = tree.node(ROOT).meta;
    let at = tree.ensure_dir(parent, meta)?;
    meta.mode = 0o444;
    let size = bytes.len() as u64;
    tree.add(
        at,
        name,
        Kind::File {
            source: Source::Bytes(bytes.into()),
            size,
        },
        meta,
    )?;
    Ok(target)
}
