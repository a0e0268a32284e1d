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
    /// Copy files out of an image, keeping names, times, modes and symlinks.
    #[command(
        after_help = "Examples:\n  diskimg extract photos.iso -o out/\n  diskimg extract photos.iso /Fotos/2019 -o out/      # creates out/2019\n  diskimg extract --boot-images installer.iso -o boot/\n  diskimg extract disk.img -p 2 --raw -o part2.img    # a partition's raw bytes"
    )]
    Extract(ExtractArgs),
    /// Convert a disk image to another format (raw, qcow2, ...), reading only allocated data.
    #[command(
        after_help = "Examples:\n  diskimg convert vm.vmdk vm.qcow2              # format from the extension\n  diskimg convert -O raw vm.qcow2 disk.img\n  diskimg convert -c -o compression_type=zstd vm.raw vm.qcow2\n  diskimg convert -O qcow2 -o compat=0.10,cluster_size=128k in.img out.qcow2\n  diskimg convert -o backing_file=base.qcow2 desk.qcow2 desk-new.qcow2\n  diskimg convert app.dmg app.img                 # the raw disk inside a DMG\n  diskimg convert disk.img out.dmg --compression lzfse   # or -o compression=lzfse\n  diskimg convert disk.img secret.dmg --encrypt --password-file pw.txt\n\nOptions for -o by format: diskimg convert --list-options FORMAT"
    )]
    Convert(ConvertArgs),
    /// Create an image: a blank disk or an overlay, or an image of folders (`create iso`).
    #[command(
        args_conflicts_with_subcommands = true,
        after_help = "Examples:\n  diskimg create --size 20G new.qcow2\n  diskimg create --size 1T -O raw sparse.img\n  diskimg create --backing golden.qcow2 desk1.qcow2   # size from the backing image\n  diskimg create iso ~/Photos/2019 -o photos-2019.iso\n  diskimg create iso ./site --exclude '*.tmp' --graft /extra/=notes.txt -o site.iso\n  diskimg create dmg ./Assets -o assets.dmg --volume-name Assets"
    )]
    Create(Box<CreateArgs>),
    /// Fold an overlay into its backing image, then empty the overlay.
    #[command(
        after_help = "Examples:\n  diskimg commit desk1.qcow2\n\nThe backing image is rewritten beside itself and renamed into place (atomic), so it\nneeds free space for a second copy while the command runs."
    )]
    Commit(CommitArgs),
    /// Put an overlay on a different backing image (or none), keeping what it shows.
    #[command(
        after_help = "Examples:\n  diskimg rebase -b new-base.qcow2 desk1.qcow2     # rewrites desk1 so it shows the same disk\n  diskimg rebase -b '' desk1.qcow2                 # flatten: no backing image any more\n  diskimg rebase --unsafe -b moved/base.qcow2 desk1.qcow2   # only change the recorded name"
    )]
    Rebase(RebaseArgs),
    /// Do two images show the same disk? Exit 0 if the same, 1 if different, 2 on error.
    #[command(
        after_help = "Examples:\n  diskimg compare a.vmdk b.qcow2\n  diskimg compare --json disk.img disk.qcow2"
    )]
    Compare(CompareArgs),
    /// Show which ranges of an image hold data, read as zeros, or are unallocated.
    #[command(
        after_help = "Examples:\n  diskimg map vm.qcow2\n  diskimg map --json vm.qcow2 | jq '.[] | select(.kind == \"data\")'"
    )]
    Map(MapArgs),
    /// Check an image's structure: leaks, overlaps, tables pointing outside the file.
    #[command(
        after_help = "Examples:\n  diskimg check vm.qcow2\n  diskimg check --json vm.qcow2\n\nExit status: 0 clean, 2 corruptions found, 3 only leaks found, 1 the check could not run."
    )]
    Check(CheckArgs),
}

#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// The input image (any format diskimg reads; raw if none matches).
    #[arg(required_unless_present = "list_options")]
    pub input: Option<PathBuf>,
    /// The output image (replaced if it exists).
    #[arg(required_unless_present = "list_options")]
    pub output: Option<PathBuf>,
    /// Output format (default: from the output's extension).
    #[arg(short = 'O', long = "output-format", value_name = "FORMAT")]
    pub format: Option<String>,
    /// Input format (default: detected).
    #[arg(short = 'f', long = "input-format", value_name = "FORMAT")]
    pub input_format: Option<String>,
    /// Format option KEY=VALUE (repeatable, or comma-separated).
    #[arg(short = 'o', value_name = "KEY=VALUE")]
    pub options: Vec<String>,
    /// Compress the data (formats that can: qcow2).
    #[arg(short = 'c', long = "compress")]
    pub compress: bool,
    /// Chunk compression of a DMG output: zlib (UDZO, the default), bzip2 (UDBZ), lzfse
    /// (ULFO), lzma (ULMO), none (UDRO). The same as `-o compression=NAME`.
    #[arg(long, value_name = "NAME")]
    pub compression: Option<String>,
    /// Worker threads (default: the number of cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// No progress bar or summary.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print a JSON summary.
    #[arg(long)]
    pub json: bool,
    /// List the -o options of FORMAT and exit.
    #[arg(long, value_name = "FORMAT")]
    pub list_options: Option<String>,
    /// Encrypt the output (DMG: AES, encrcdsa v2) with the password of --password-file,
    /// --password-stdin or a prompt.
    #[arg(long, help_heading = "Encryption")]
    pub encrypt: bool,
    /// AES key size for --encrypt: 128 or 256.
    #[arg(long, value_name = "BITS", default_value = "256", value_parser = ["128", "256"], help_heading = "Encryption")]
    pub encryption_bits: String,
    #[command(flatten)]
    pub secret: PasswordArgs,
}

#[derive(Args, Debug)]
pub struct CreateDiskArgs {
    /// The new disk image.
    pub output: Option<PathBuf>,
    /// Virtual size: bytes or with a suffix (512M, 20G, 1T). Default: the backing image's.
    #[arg(short = 's', long, value_name = "SIZE")]
    pub size: Option<String>,
    /// Format (default: from the extension).
    #[arg(short = 'O', long = "format", value_name = "FORMAT")]
    pub format: Option<String>,
    /// Format option KEY=VALUE (repeatable, or comma-separated).
    #[arg(short = 'o', value_name = "KEY=VALUE")]
    pub options: Vec<String>,
    /// Backing image (path from the current folder); the new image is an empty overlay of it.
    #[arg(short = 'b', long, value_name = "BASE")]
    pub backing: Option<PathBuf>,
    /// Backing image format (default: detected).
    #[arg(short = 'F', long = "backing-format", value_name = "FORMAT")]
    pub backing_format: Option<String>,
    /// Print a JSON summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct CommitArgs {
    /// The overlay.
    pub overlay: PathBuf,
    /// No progress bar or summary.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print a JSON summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct RebaseArgs {
    /// The overlay.
    pub overlay: PathBuf,
    /// New backing image (path from the current folder); '' for none.
    #[arg(short = 'b', long = "backing", value_name = "BASE", required = true)]
    pub backing: String,
    /// New backing image's format (default: detected).
    #[arg(short = 'F', long = "backing-format", value_name = "FORMAT")]
    pub backing_format: Option<String>,
    /// Only change the recorded backing file name; do not compare or copy data.
    #[arg(short = 'u', long = "unsafe")]
    pub unsafe_: bool,
    /// No progress bar or summary.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// First image.
    pub a: PathBuf,
    /// Second image.
    pub b: PathBuf,
    /// Images of different sizes differ (default: the extra part must be zeros).
    #[arg(short = 's', long)]
    pub strict: bool,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct MapArgs {
    /// The image.
    pub image: PathBuf,
    /// Image format (default: detected).
    #[arg(short = 'f', long = "format", value_name = "FORMAT")]
    pub format: Option<String>,
    /// Print JSON: [{"start", "length", "kind"}], kind data, zero or unallocated.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The image.
    pub image: PathBuf,
    /// Image format (default: detected).
    #[arg(short = 'f', long = "format", value_name = "FORMAT")]
    pub format: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// The password of an encrypted image: never on the command line.
#[derive(Args, Debug, Clone, Default)]
pub struct PasswordArgs {
    /// Read the password of an encrypted image (or for --encrypt) from the first line of FILE.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "password_stdin",
        help_heading = "Encryption"
    )]
    pub password_file: Option<PathBuf>,
    /// Read the password from the first line of standard input.
    #[arg(long, help_heading = "Encryption")]
    pub password_stdin: bool,
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
    #[command(flatten)]
    pub secret: PasswordArgs,
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
    #[command(flatten)]
    pub secret: PasswordArgs,
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
    #[command(flatten)]
    pub secret: PasswordArgs,
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
    #[command(flatten)]
    pub secret: PasswordArgs,
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
    /// What to make from folders; without one, a blank disk image or an overlay.
    #[command(subcommand)]
    pub what: Option<CreateWhat>,
    #[command(flatten)]
    pub disk: CreateDiskArgs,
}

#[derive(Subcommand, Debug)]
pub enum CreateWhat {
    /// An ISO 9660 image with Rock Ridge and Joliet.
    #[command(
        after_help = "Examples:\n  diskimg create iso ~/Photos/2019 -o photos-2019.iso      # label 2019\n  diskimg create iso ./tree -o t.iso --volume-id BACKUP --exclude '*.bak' --reproducible"
    )]
    Iso(CreateIsoArgs),
    /// An Apple disk image (UDIF .dmg) holding the folders' files, mountable by macOS.
    #[command(
        after_help = "Examples:\n  diskimg create dmg ./Assets -o assets.dmg --volume-name Assets\n  diskimg create dmg ./App -o app.dmg --compression lzfse\n  diskimg create dmg ./Secret -o secret.dmg --encrypt --password-file pw.txt\n\nThe file system inside is ISO 9660 with Rock Ridge and Joliet (macOS mounts it read-only)."
    )]
    Dmg(CreateDmgArgs),
}

#[derive(Args, Debug)]
pub struct CreateDmgArgs {
    /// Folders whose contents become the root (files are placed at the root).
    #[arg(required = true)]
    pub sources: Vec<PathBuf>,
    /// The image to write.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
    /// Volume name (default: the first folder's name).
    #[arg(long, value_name = "NAME")]
    pub volume_name: Option<String>,
    /// Chunk compression: zlib (UDZO, default), bzip2 (UDBZ), lzfse (ULFO), lzma (ULMO),
    /// none (UDRO).
    #[arg(long, value_name = "NAME", default_value = "zlib")]
    pub compression: String,
    /// Leave out entries matching PATTERN (`*.tmp`, `cache/**`); repeatable.
    #[arg(long, value_name = "PATTERN")]
    pub exclude: Vec<String>,
    /// Store what symlinks point to instead of the links.
    #[arg(long)]
    pub follow_symlinks: bool,
    /// Identical bytes on every run: fixed times (SOURCE_DATE_EPOCH, else the newest file).
    #[arg(long)]
    pub reproducible: bool,
    /// Encrypt the image (AES-256) with the password of --password-file, --password-stdin or
    /// a prompt.
    #[arg(long, help_heading = "Encryption")]
    pub encrypt: bool,
    #[command(flatten)]
    pub secret: PasswordArgs,
    /// Replace the output if it exists.
    #[arg(long)]
    pub overwrite: bool,
    /// No progress bar or summary.
    #[arg(short, long)]
    pub quiet: bool,
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
