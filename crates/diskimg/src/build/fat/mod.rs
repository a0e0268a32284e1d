//! The FAT writer: FAT12, FAT16 and FAT32 volumes made from a [`FileTree`] (or one folder of
//! it), as a superfloppy or inside one MBR or GPT partition; and the in-memory FAT images that
//! UEFI El Torito entries boot from ([`efi`]).
//!
//! Specification: "Microsoft Extensible Firmware Initiative FAT32 File System Specification"
//! 1.03 (fatgen103, 2000) for the boot sector, FSInfo, FAT entries, directory entries, long
//! names and short-name generation; the size choices follow mkfs.fat (dosfstools 4.2), see
//! `geometry`.
//!
//! Supported: VFAT long names (UTF-16, checksummed) with 8.3 short names made as Windows makes
//! them and never colliding (see `names`), the NT lower-case flags for names that fit 8.3 in
//! one case, times (write, creation, access date) in UTC (see `entry`), the read-only
//! attribute from the mode (no write bit), the archive attribute on files, the volume label in
//! the boot sector and as the root's label entry, a volume serial derived from the tree (so
//! the same tree gives the same bytes; times are clamped to `fixed_time` for reproducible
//! builds), the FAT32 FSInfo sector and backup boot sector, FAT type and cluster size as
//! mkfs.fat picks them for the size or forced, an automatic size (the smallest that holds the
//! tree with some room to spare), and a clear error when the tree does not fit.
//! Not stored (FAT has no place for them): symlinks, devices and pipes (left out with a
//! warning; gathering with `follow_symlinks` stores what links point to), owners, permission
//! bits other than write, hard links (each name gets its own copy of the data).
//!
//! Layout: every folder and file is one run of consecutive clusters, given in one ascending
//! sweep (FAT32 root, folders depth first, then file data in the same order), so nothing is
//! fragmented and the used space is one block at the start of the data area. The image is
//! written once, in order; file data is streamed from its [`Source`](crate::build::tree::Source)
//! with bounded memory; the FAT is produced in pieces, never whole. Free space is left as holes.
//!
//! Our own code rather than the `fatfs` crate (0.3.6, the newest release): fatfs creates files
//! one by one through `Read + Write + Seek`, scanning the whole folder for every new name (a
//! folder of 20,000 files costs 200 million entry reads), allocating cluster by cluster through
//! FAT lookups so folders that grow end up fragmented between files, and choosing its own
//! format parameters. A writer that knows the whole tree in advance plans everything first and
//! needs none of that; it is a few hundred lines of layout and encoding, checked by fsck.fat,
//! mtools, 7-Zip and our reader.

mod boot;
mod data;
mod disk;
pub mod efi;
mod entry;
mod geometry;
mod layout;
mod names;
mod sink;
mod table;
#[cfg(test)]
mod tests;
mod write;

pub use crate::fs::fat::FatType;
pub use disk::{PARTITION_START, PartitionStyle};
pub use efi::{MAX_EFI_IMAGE, efi_boot_image, efi_image};
pub use layout::{MAX_DIR_ENTRIES, MAX_FILE_SIZE};

use crate::build::iso::IsoProgress;
use crate::build::tree::{FileTree, Kind, NodeIndex};
use crate::error::{Error, Result};
use crate::io::AtomicFile;
use crate::time::Timestamp;
use geometry::Geometry;
use layout::{Layout, Target};
use std::fs::File;
use std::path::Path;

/// Largest image an automatic size may reach (the FAT32 limit with 512-byte sectors, plus the
/// partition table).
const MAX_AUTO_IMAGE: u64 = (u32::MAX as u64) * 512;

/// What to make.
#[derive(Debug, Clone)]
pub struct FatOptions {
    /// Bytes of the image (the whole disk when partitioned); `None` picks the smallest size
    /// that holds the tree with `slack_percent` to spare.
    pub size: Option<u64>,
    /// Extra room an automatic size keeps, in percent of the space the tree takes.
    pub slack_percent: u32,
    /// Force FAT12, FAT16 or FAT32 (default: as mkfs.fat picks for the size).
    pub fat_type: Option<FatType>,
    /// Volume label (up to 11 ASCII characters, stored upper case).
    pub label: Option<String>,
    /// Newest time written (reproducible images); `None` keeps the tree's times.
    pub fixed_time: Option<Timestamp>,
    /// Volume serial number; `None` derives it from the tree.
    pub serial: Option<u32>,
    /// A superfloppy, or one MBR or GPT partition.
    pub partition: PartitionStyle,
}

impl Default for FatOptions {
    fn default() -> Self {
        FatOptions {
            size: None,
            slack_percent: 10,
            fat_type: None,
            label: None,
            fixed_time: None,
            serial: None,
            partition: PartitionStyle::None,
        }
    }
}

/// The complete layout of a FAT image.
pub struct FatPlan<'a> {
    pub(crate) tree: &'a FileTree,
    pub(crate) geometry: Geometry,
    pub(crate) layout: Layout,
    pub(crate) label: Option<[u8; 11]>,
    pub(crate) serial: u32,
    pub(crate) clamp: Option<Timestamp>,
    pub(crate) disk: Option<disk::Disk>,
    pub(crate) volume_offset: u64,
    pub(crate) image_size: u64,
}

impl FatPlan<'_> {
    /// Bytes of the image.
    pub fn image_size(&self) -> u64 {
        self.image_size
    }

    /// Where the volume starts in the image.
    pub fn volume_offset(&self) -> u64 {
        self.volume_offset
    }

    /// FAT12, FAT16 or FAT32.
    pub fn fat_type(&self) -> FatType {
        self.geometry.fat_type
    }

    /// Bytes per cluster.
    pub fn cluster_size(&self) -> u64 {
        self.geometry.cluster_size()
    }

    /// Clusters of the volume, and how many the tree uses.
    pub fn clusters(&self) -> (u32, u32) {
        (self.geometry.clusters, self.layout.next_free - 2)
    }

    /// The volume serial number.
    pub fn serial(&self) -> u32 {
        self.serial
    }

    /// What was left out or renamed, and names that differ only in case.
    pub fn warnings(&self) -> &[String] {
        &self.layout.warnings
    }

    /// Regular files stored (empty ones included).
    pub fn files(&self) -> usize {
        self.layout
            .dirs
            .iter()
            .flat_map(|d| &d.entries)
            .filter(|e| !matches!(e.target, Target::Dir(_)))
            .count()
    }

    /// Folders stored, the root not counted.
    pub fn directories(&self) -> usize {
        self.layout.dirs.len() - 1
    }

    /// Bytes of file data.
    pub fn data_size(&self) -> u64 {
        self.layout.files.iter().map(|f| f.size).sum()
    }
}

/// Lays out the folder `root` of `tree` (its contents become the volume's root) as a FAT image.
pub fn plan<'a>(tree: &'a FileTree, root: NodeIndex, opts: &FatOptions) -> Result<FatPlan<'a>> {
    let mut layout = layout::collect(tree, root)?;
    let label = match &opts.label {
        Some(l) => names::volume_label(l, true)?,
        None => None,
    };
    let style = opts.partition;
    let volume_of = |image: u64| disk::partition_len(style, image);
    let sized = layout::size_image(
        &layout,
        opts.size,
        opts.fat_type,
        opts.slack_percent,
        MAX_AUTO_IMAGE,
        style == PartitionStyle::None,
        &volume_of,
    )?;
    let geometry = sized.geometry;
    layout.allocate(&geometry)?;
    let serial = opts.serial.unwrap_or_else(|| {
        serial_of(
            tree,
            &layout,
            &geometry,
            label,
            opts.fixed_time,
            sized.image,
        )
    });
    let disk = (style != PartitionStyle::None).then(|| disk::Disk {
        style,
        size: sized.image,
        len: volume_of(sized.image).unwrap_or(0),
        fat_type: geometry.fat_type,
        id: serial,
        name: label.map_or_else(
            || "FAT".to_owned(),
            |l| String::from_utf8_lossy(&l).trim_end().to_owned(),
        ),
    });
    Ok(FatPlan {
        tree,
        geometry,
        layout,
        label,
        serial,
        clamp: opts.fixed_time,
        volume_offset: if disk.is_some() { PARTITION_START } else { 0 },
        disk,
        image_size: sized.image,
    })
}

/// A serial number that depends on everything written: names, sizes, times, the label and
/// the size of the volume.
fn serial_of(
    tree: &FileTree,
    layout: &Layout,
    g: &Geometry,
    label: Option<[u8; 11]>,
    clamp: Option<Timestamp>,
    image: u64,
) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&image.to_le_bytes());
    h.update(&g.total_sectors.to_le_bytes());
    h.update(&label.unwrap_or([0; 11]));
    for d in &layout.dirs {
        h.update(&layout::mtime(tree, d.node, clamp).secs.to_le_bytes());
        for e in &d.entries {
            h.update(tree.node(e.node).name.as_bytes());
            h.update(&[0]);
            if let Kind::File { size, .. } = tree.node(e.node).kind {
                h.update(&size.to_le_bytes());
            }
            h.update(&layout::mtime(tree, e.node, clamp).secs.to_le_bytes());
            h.update(&[layout::attributes(tree, e.node)]);
        }
    }
    h.finalize()
}

/// Writes a planned image into `out` (a new, empty file opened for writing).
pub fn write_fat(plan: &FatPlan<'_>, out: &File, progress: &dyn IsoProgress) -> Result<()> {
    let mut sink = sink::FileSink::new(out);
    write::write(plan, &mut sink, progress)?;
    out.set_len(plan.image_size).map_err(Error::from)
}

/// Writes a planned image into memory.
pub fn write_fat_to_vec(plan: &FatPlan<'_>) -> Result<Vec<u8>> {
    let len = usize::try_from(plan.image_size)
        .map_err(|_| Error::invalid_input("the image is too large for memory"))?;
    let mut sink = sink::MemorySink {
        bytes: vec![0u8; len],
    };
    write::write(plan, &mut sink, &())?;
    Ok(sink.bytes)
}

/// Writes a planned image at `output`, atomically.
pub fn write_fat_file(
    plan: &FatPlan<'_>,
    output: &Path,
    replace: bool,
    progress: &dyn IsoProgress,
) -> Result<()> {
    let out = AtomicFile::create(output, replace)?;
    write_fat(plan, out.file(), progress).map_err(|e| e.with_file(output))?;
    out.commit()
}

/// A label made from a folder name: upper case, characters FAT does not take as `_`, at most
/// 11 characters; `None` when nothing is left.
pub fn label_from_name(name: &str) -> Option<String> {
    names::volume_label(name, false)
        .ok()
        .flatten()
        .map(|l| String::from_utf8_lossy(&l).trim_end().to_owned())
}
