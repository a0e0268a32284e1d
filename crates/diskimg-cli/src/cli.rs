//! Command-line syntax.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Disk images of every kind: inspect them, list and extract their files.
#[derive(Parser, Debug)]
#[command(name = "diskimg", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Describe an image: container, partitions, file systems, labels, boot records.
    #[command(
        after_help = "Examples:\n  diskimg info photos.iso\n  diskimg info --json photos.iso | jq '.file_systems[].label'"
    )]
    Info(InfoArgs),
    /// List a directory inside an image.
    #[command(
        after_help = "Examples:\n  diskimg ls photos.iso /Fotos\n  diskimg ls -lR photos.iso\n  diskimg ls --json photos.iso /"
    )]
    Ls(LsArgs),
    /// Write files from inside an image to standard output.
    #[command(
        after_help = "Examples:\n  diskimg cat photos.iso /Fotos/a.jpg > a.jpg\n  diskimg cat --namespace joliet disc.iso /README.TXT"
    )]
    Cat(CatArgs),
    /// Create an image from folders.
    #[command(
        after_help = "Examples:\n  diskimg create iso ~/Photos/2019 -o photos-2019.iso\n  diskimg create iso ./site --exclude '*.tmp' --graft /extra/=notes.txt -o site.iso"
    )]
    Create(CreateArgs),
    /// Copy files out of an image, keeping names, times, modes and symlinks.
    #[command(
        after_help = "Examples:\n  diskimg extract photos.iso -o out/\n  diskimg extract photos.iso /Fotos/2019 -o out/      # creates out/2019\n  diskimg extract --boot-images installer.iso -o boot/\n  diskimg extract disk.img -p 2 --raw -o part2.img    # a partition's raw bytes"
    )]
    Extract(ExtractArgs),
}

/// Which file system inside the image.
#[derive(Args, Debug, Clone)]
pub struct Select {
    /// Partition number, 1-based as fdisk counts (default: the whole device, else the first
    /// partition with a readable file system).
    #[arg(short = 'p', long = "partition", value_name = "N")]
    pub partition: Option<u32>,
    /// Which tree of a multi-tree volume: rockridge, udf, joliet, iso9660 (default: the
    /// richest present, in that order).
    #[arg(long, value_name = "NAME")]
    pub namespace: Option<String>,
}

#[derive(Args, Debug)]
pub struct InfoArgs {
    /// The image file.
    pub image: PathBuf,
    /// Print JSON (schema in docs/JSON.md).
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// The image file.
    pub image: PathBuf,
    /// Directory or file inside the image.
    #[arg(default_value = "/")]
    pub path: String,
    /// Long form: type and mode, links, owner, size, time.
    #[arg(short = 'l', long = "long")]
    pub long: bool,
    /// Everything below the directory.
    #[arg(short = 'R', long = "recursive")]
    pub recursive: bool,
    /// Print JSON (schema in docs/JSON.md).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub select: Select,
}

#[derive(Args, Debug)]
pub struct CatArgs {
    /// The image file.
    pub image: PathBuf,
    /// Files inside the image.
    #[arg(required = true)]
    pub paths: Vec<String>,
    #[command(flatten)]
    pub select: Select,
}

#[derive(Args, Debug)]
pub struct ExtractArgs {
    /// The image file.
    pub image: PathBuf,
    /// What to extract (default: everything). A directory becomes OUT/<its name>.
    pub paths: Vec<String>,
    /// Output folder (default: a folder named after the image).
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Replace files that already exist.
    #[arg(long, conflicts_with = "skip_existing")]
    pub overwrite: bool,
    /// Keep files that already exist and go on.
    #[arg(long)]
    pub skip_existing: bool,
    /// Write the El Torito boot images instead of the file tree.
    #[arg(long)]
    pub boot_images: bool,
    /// Write the raw bytes of the partition given with -p (or of the whole disk) to the file
    /// given with -o, instead of its files.
    #[arg(long, conflicts_with_all = ["boot_images", "paths", "namespace"])]
    pub raw: bool,
    /// No progress bar or summary.
    #[arg(short, long)]
    pub quiet: bool,
    /// Writer threads (default: twice the cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub select: Select,
}

impl Select {
    pub fn selection(&self) -> diskimg::Selection {
        diskimg::Selection {
            partition: self.partition,
            namespace: self.namespace.clone(),
        }
    }
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    #[command(subcommand)]
    pub what: CreateWhat,
}

#[derive(Subcommand, Debug)]
pub enum CreateWhat {
    /// An ISO 9660 image with Rock Ridge and Joliet.
    #[command(
        after_help = "Examples:\n  diskimg create iso ~/Photos/2019 -o photos-2019.iso      # label 2019\n  diskimg create iso ./tree -o t.iso --volume-id BACKUP --exclude '*.bak' --reproducible\n  diskimg create iso ~/Footage -o footage.iso --udf         # ISO 9660/UDF bridge, files over 4 GiB"
    )]
    Iso(CreateIsoArgs),
}

#[derive(Args, Debug)]
pub struct CreateIsoArgs {
    /// Folders whose contents become the root (files are placed at the root).
    #[arg(required = true)]
    pub sources: Vec<PathBuf>,
    /// The image to write.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
    /// Volume label (default: the first folder's name).
    #[arg(long, value_name = "LABEL")]
    pub volume_id: Option<String>,
    /// ISO 9660 level: 1 (8.3 names), 2, 3 (default: files over 4 GiB), 4 (ISO 9660:1999).
    #[arg(long, value_name = "N", default_value = "3", value_parser = clap::value_parser!(u8).range(1..=4))]
    pub iso_level: u8,
    /// No Rock Ridge (POSIX names, modes, owners, times, links).
    #[arg(long)]
    pub no_rock_ridge: bool,
    /// No Joliet tree (Windows names).
    #[arg(long)]
    pub no_joliet: bool,
    /// Joliet names of at most 64 characters (the standard) instead of 103.
    #[arg(long)]
    pub joliet_short: bool,
    /// Leave out entries matching PATTERN (`*.tmp`, `cache/**`, `/build`); repeatable.
    #[arg(long, value_name = "PATTERN")]
    pub exclude: Vec<String>,
    /// Store what symlinks point to instead of the links.
    #[arg(long)]
    pub follow_symlinks: bool,
    /// Place a host file or folder at a path of the image: IMAGE_PATH=HOST_PATH (repeatable).
    #[arg(long, value_name = "IMAGE_PATH=HOST_PATH")]
    pub graft: Vec<String>,
    /// Identical bytes on every run: fixed volume times (SOURCE_DATE_EPOCH, else the newest file).
    #[arg(long)]
    pub reproducible: bool,
    /// BIOS boot loader inside the tree (no emulation), e.g. isolinux/isolinux.bin.
    #[arg(long, value_name = "PATH", help_heading = "Booting")]
    pub boot_bios: Option<String>,
    /// UEFI boot image (a FAT image) inside the tree, e.g. efiboot.img.
    #[arg(long, value_name = "PATH", help_heading = "Booting")]
    pub boot_uefi: Option<String>,
    /// Floppy image inside the tree, booted with floppy emulation (1.2, 1.44 or 2.88 MB).
    #[arg(long, value_name = "PATH", help_heading = "Booting")]
    pub boot_floppy: Option<String>,
    /// Hard-disk image (with an MBR) inside the tree, booted with hard-disk emulation.
    #[arg(long, value_name = "PATH", help_heading = "Booting")]
    pub boot_hd: Option<String>,
    /// 512-byte sectors the BIOS loads from the --boot-bios loader (default 4).
    #[arg(long, value_name = "N", help_heading = "Booting")]
    pub boot_load_size: Option<u16>,
    /// Patch a boot information table into the BIOS loader (default: when it leaves room).
    #[arg(long, help_heading = "Booting", conflicts_with = "no_boot_info_table")]
    pub boot_info_table: bool,
    /// Never patch a boot information table.
    #[arg(long, help_heading = "Booting")]
    pub no_boot_info_table: bool,
    /// Where the boot catalog goes (default: beside the BIOS loader, as boot.cat).
    #[arg(long, value_name = "PATH", help_heading = "Booting")]
    pub boot_catalog: Option<String>,
    /// Also bootable from a USB stick: MBR (and GPT for UEFI) in the system area.
    #[arg(long, help_heading = "Booting")]
    pub hybrid: bool,
    /// MBR code for --hybrid (found automatically for isolinux: isohdpfx.bin).
    #[arg(long, value_name = "FILE", help_heading = "Booting")]
    pub hybrid_mbr: Option<PathBuf>,
    /// Implant an MD5 that checkisomd5 verifies.
    #[arg(long)]
    pub md5: bool,
    /// Also write a UDF tree (ISO 9660/UDF bridge): files over 4 GiB whole, DVD/Blu-ray ready.
    #[arg(long, help_heading = "UDF")]
    pub udf: bool,
    /// UDF revision: 1.02 (DVD), 2.01, or 2.50 (Blu-ray: metadata partition and mirror).
    #[arg(
        long,
        value_name = "REV",
        default_value = "1.02",
        requires = "udf",
        help_heading = "UDF"
    )]
    pub udf_rev: diskimg::build::udf::UdfRevision,
    /// Replace the output if it exists.
    #[arg(long)]
    pub overwrite: bool,
    /// No progress bar or summary.
    #[arg(short, long)]
    pub quiet: bool,
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
