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
        after_help = "Examples:\n  diskimg extract photos.iso -o out/\n  diskimg extract photos.iso /Fotos/2019 -o out/      # creates out/2019\n  diskimg extract --boot-images installer.iso -o boot/"
    )]
    Extract(ExtractArgs),
    /// Mount an image read-only with FUSE (runs until unmounted or Ctrl-C).
    #[command(
        after_help = "Examples:\n  diskimg mount photos.iso ~/mnt\n  diskimg mount disk.vhdx ~/mnt --all          # every partition and view as a folder\n  diskimg mount disk.qcow2 ~/mnt -p 2 --background\n  diskimg umount ~/mnt"
    )]
    Mount(MountArgs),
    /// Unmount a folder mounted by `diskimg mount`.
    #[command(after_help = "Example:\n  diskimg umount ~/mnt")]
    Umount(UmountArgs),
    /// Serve an image over the network.
    #[command(
        after_help = "Examples:\n  diskimg serve nbd disk.vmdk\n  diskimg serve nbd disk.vhdx --listen 127.0.0.1:10809 --read-write --overlay changes.ovl\n  qemu-img info nbd://127.0.0.1:10809/disk.vmdk"
    )]
    Serve(ServeArgs),
    /// Write an image to a drive (USB stick, SD card, disk) and verify it.
    #[command(
        after_help = "Examples:\n  diskimg drives\n  diskimg write ubuntu.iso /dev/sdb\n  diskimg write disk.vhdx /dev/sdc --yes"
    )]
    Write(WriteArgs),
    /// Copy a drive into an image file, retrying bad sectors and mapping unreadable ones.
    #[command(
        after_help = "Examples:\n  diskimg image /dev/sdb backup.img\n  diskimg image /dev/sdb backup.img --used-only --mapfile backup.map"
    )]
    Image(ImageArgs),
    /// List the drives an image can be written to, and why others are refused.
    #[command(after_help = "Examples:\n  diskimg drives\n  diskimg drives --all --json")]
    Drives(DrivesArgs),
    /// Check every integrity record of an image and its checksum files.
    #[command(
        after_help = "Examples:\n  diskimg verify Fedora.iso                    # implanted MD5, SHA256SUMS beside it\n  diskimg verify disk.img --sums ~/Downloads/SHA256SUMS\n  diskimg verify --json disk.vhdx"
    )]
    Verify(VerifyArgs),
    /// Digests of an image in one read: sha256, sha512, sha1, md5, blake3, crc32.
    #[command(
        after_help = "Examples:\n  diskimg hash image.iso\n  diskimg hash --algo sha256,md5,blake3 image.iso\n  diskimg hash --device disk.vhdx                # the guest disk, not the file"
    )]
    Hash(HashArgs),
}

#[derive(Args, Debug)]
pub struct MountArgs {
    /// The image file.
    pub image: PathBuf,
    /// An empty folder to mount on.
    pub mountpoint: PathBuf,
    /// Every partition and every file-system view as a folder of its own.
    #[arg(long, conflicts_with_all = ["partition", "namespace"])]
    pub all: bool,
    /// Detach once mounted (default: stay in the foreground until unmounted or Ctrl-C).
    #[arg(long)]
    pub background: bool,
    /// Let other users see the files (needs user_allow_other in /etc/fuse.conf unless root).
    #[arg(long)]
    pub allow_other: bool,
    /// No messages.
    #[arg(short, long)]
    pub quiet: bool,
    /// Internal: the detached child of --background reports readiness on standard output.
    #[arg(long, hide = true)]
    pub detached_child: bool,
    #[command(flatten)]
    pub select: Select,
}

#[derive(Args, Debug)]
pub struct UmountArgs {
    /// The folder to unmount.
    pub mountpoint: PathBuf,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(subcommand)]
    pub what: ServeWhat,
}

#[derive(Subcommand, Debug)]
pub enum ServeWhat {
    /// Network Block Device: the guest disk (or a partition) as a block device.
    #[command(
        after_help = "Examples:\n  diskimg serve nbd disk.vmdk                                  # read-only, nbd://127.0.0.1:10809/disk.vmdk\n  diskimg serve nbd disk.qcow2 --read-write --overlay run.ovl  # the image is never changed\n  diskimg serve nbd disk.raw --read-write --in-place           # raw images only\n  nbdinfo nbd://127.0.0.1:10809/disk.vmdk"
    )]
    Nbd(ServeNbdArgs),
}

#[derive(Args, Debug)]
pub struct ServeNbdArgs {
    /// The image file.
    pub image: PathBuf,
    /// Address and port to listen on (port 0 picks a free one; printed on standard output).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:10809")]
    pub listen: String,
    /// The export's name (default: the image's file name; any name reaches it with "").
    #[arg(long, value_name = "NAME")]
    pub export_name: Option<String>,
    /// Accept writes (into --overlay, or with --in-place into a raw image).
    #[arg(long)]
    pub read_write: bool,
    /// Copy-on-write overlay file for writes (created if missing, reused if it exists).
    #[arg(long, value_name = "FILE", requires = "read_write")]
    pub overlay: Option<PathBuf>,
    /// Write into the image itself (raw images only).
    #[arg(long, requires = "read_write", conflicts_with = "overlay")]
    pub in_place: bool,
    /// Partition to serve instead of the whole disk.
    #[arg(
        short = 'p',
        long = "partition",
        value_name = "N",
        conflicts_with = "raw"
    )]
    pub partition: Option<u32>,
    /// Serve the file's bytes as they are, not the disk a container holds.
    #[arg(long)]
    pub raw: bool,
    /// No connection messages.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct WriteArgs {
    /// The image: any format diskimg reads (the disk it holds is written).
    pub image: PathBuf,
    /// The drive (/dev/sdX, /dev/mmcblkN, /dev/loopN).
    pub target: PathBuf,
    /// Do not ask before erasing the drive.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Skip reading the drive back.
    #[arg(long)]
    pub no_verify: bool,
    /// Leave ranges the image holds as zeros untouched on the drive instead of zeroing them
    /// (faster; the drive then equals the image only where the image has data).
    #[arg(long)]
    pub sparse: bool,
    /// Allow a fixed (non-removable) disk.
    #[arg(long)]
    pub allow_fixed: bool,
    /// No progress bar or summary.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print the result as JSON (schema in docs/JSON.md).
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ImageArgs {
    /// The drive to read (or any file).
    pub device: PathBuf,
    /// The image to write (raw).
    pub output: PathBuf,
    /// Copy only what the file systems on the drive use (others read as zeros).
    #[arg(long)]
    pub used_only: bool,
    /// Where to keep the map of unreadable ranges (ddrescue format; default OUTPUT.map when
    /// there are any).
    #[arg(long, value_name = "FILE")]
    pub mapfile: Option<PathBuf>,
    /// Tries per unreadable sector.
    #[arg(long, value_name = "N", default_value = "3")]
    pub retries: u32,
    /// Replace the output if it exists.
    #[arg(long)]
    pub overwrite: bool,
    /// No progress bar or summary.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print the result as JSON (schema in docs/JSON.md).
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct DrivesArgs {
    /// Also list drives that cannot be written, with why.
    #[arg(long)]
    pub all: bool,
    /// Print JSON (schema in docs/JSON.md).
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The image file.
    pub image: PathBuf,
    /// A checksum file (SHA256SUMS, x.sha256, BSD or GNU style); repeatable.
    #[arg(long, value_name = "FILE")]
    pub sums: Vec<PathBuf>,
    /// Do not look for checksum files beside the image.
    #[arg(long)]
    pub no_sidecars: bool,
    /// Print JSON (schema in docs/JSON.md).
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct HashArgs {
    /// The image file.
    pub image: PathBuf,
    /// Algorithms, comma-separated: sha256, sha512, sha1, md5, blake3, crc32.
    #[arg(long, value_name = "LIST", default_value = "sha256")]
    pub algo: String,
    /// Hash the file's bytes as stored (the default).
    #[arg(long, conflicts_with = "device")]
    pub raw: bool,
    /// Hash the disk the image holds (the guest device of a container).
    #[arg(long)]
    pub device: bool,
    /// Print JSON (schema in docs/JSON.md).
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
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
        after_help = "Examples:\n  diskimg create iso ~/Photos/2019 -o photos-2019.iso      # label 2019\n  diskimg create iso ./tree -o t.iso --volume-id BACKUP --exclude '*.bak' --reproducible"
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
