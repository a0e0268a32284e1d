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
        after_help = "Examples:\n  diskimg extract photos.iso -o out/\n  diskimg extract photos.iso /Fotos/2019 -o out/      # creates out/2019\n  diskimg extract album.cue --tracks -o tracks/      # audio as WAV (--flac), data as ISO\n  diskimg extract --boot-images installer.iso -o boot/\n  diskimg extract disk.img -p 2 --raw -o part2.img    # a partition's raw bytes"
    )]
    Extract(ExtractArgs),
    /// Convert an image to another format: VM disks (raw, qcow2, ...) reading only allocated
    /// data, and optical discs (CUE/BIN, TOC, CCD, MDS, NRG, ISO) keeping every sector.
    #[command(
        after_help = "Examples:\n  diskimg convert vm.vmdk vm.qcow2              # format from the extension\n  diskimg convert -O raw vm.qcow2 disk.img\n  diskimg convert -c -o compression_type=zstd vm.raw vm.qcow2\n  diskimg convert -O qcow2 -o compat=0.10,cluster_size=128k in.img out.qcow2\n  diskimg convert -o backing_file=base.qcow2 desk.qcow2 desk-new.qcow2\n  diskimg convert album.mds album.cue              # discs: everything the target cannot hold is listed\n  diskimg convert game.ccd game.cue --split        # one .bin per track\n  diskimg convert game.nrg game.iso                # the data track\n  diskimg convert app.dmg app.img                 # the raw disk inside a DMG\n  diskimg convert disk.img out.dmg --compression lzfse   # or -o compression=lzfse\n  diskimg convert disk.img secret.dmg --encrypt --password-file pw.txt\n\nOptions for -o by format: diskimg convert --list-options FORMAT"
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
        after_help = "Examples:\n  diskimg image /dev/sdb backup.img\n  diskimg image /dev/sdb backup.qcow2 --used-only -c\n  diskimg image /dev/sdb backup.vhdx -o subformat=fixed --mapfile backup.map"
    )]
    Image(ImageArgs),
    /// List the drives an image can be written to, and why others are refused.
    #[command(after_help = "Examples:\n  diskimg drives\n  diskimg drives --all --json")]
    Drives(DrivesArgs),
    /// Check every integrity record of an image and its checksum files.
    #[command(
        after_help = "Examples:\n  diskimg verify Fedora.iso                    # implanted MD5, SHA256SUMS beside it\n  diskimg verify game.cue                      # EDC/ECC of every raw CD sector\n  diskimg verify disk.img --sums ~/Downloads/SHA256SUMS\n  diskimg verify --json disk.vhdx"
    )]
    Verify(VerifyArgs),
    /// Digests of an image in one read: sha256, sha512, sha1, md5, blake3, crc32.
    #[command(
        after_help = "Examples:\n  diskimg hash image.iso\n  diskimg hash --algo sha256,md5,blake3 image.iso\n  diskimg hash --device disk.vhdx                # the guest disk, not the file"
    )]
    Hash(HashArgs),
}

#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// The input image (any format diskimg reads; raw if none matches).
    #[arg(required_unless_present = "list_options")]
    pub input: Option<PathBuf>,
    /// The output image.
    #[arg(required_unless_present = "list_options")]
    pub output: Option<PathBuf>,
    /// Output format (default: from the output's extension).
    #[arg(short = 'O', long = "output-format", value_name = "FORMAT")]
    pub format: Option<String>,
    /// Input format (default: detected).
    #[arg(short = 'f', long = "input-format", value_name = "FORMAT")]
    pub input_format: Option<String>,
    /// Format option KEY=VALUE (repeatable, or comma-separated); for disc outputs
    /// mode=MODE1/2352 (raw, the default from an ISO) or mode=MODE1/2048 (cooked).
    #[arg(short = 'o', value_name = "KEY=VALUE")]
    pub options: Vec<String>,
    /// Compress the data (formats that can: qcow2; vmdk, as streamOptimized).
    #[arg(short = 'c', long = "compress")]
    pub compress: bool,
    /// Disc outputs: one BIN file per track, named `NAME (Track N).bin` (CUE output).
    #[arg(long)]
    pub split: bool,
    /// Disc outputs to ISO: which data track (default: the first data track of the last session
    /// that has data).
    #[arg(short = 't', long = "track", value_name = "N")]
    pub track: Option<u8>,
    /// Replace outputs that exist.
    #[arg(long)]
    pub overwrite: bool,
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
    /// Replace the image if it exists.
    #[arg(long)]
    pub overwrite: bool,
    /// Print a JSON summary.
    #[arg(long)]
    pub json: bool,
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
    #[command(flatten)]
    pub secret: PasswordArgs,
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
    #[command(flatten)]
    pub secret: PasswordArgs,
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
    #[command(flatten)]
    pub secret: PasswordArgs,
}

#[derive(Args, Debug)]
pub struct ImageArgs {
    /// The drive to read (or any file).
    pub device: PathBuf,
    /// The image to write: any writable format, from the extension (raw when none claims it).
    pub output: PathBuf,
    /// Output format (default: from the output's extension; raw when it names none).
    #[arg(short = 'O', long = "output-format", value_name = "FORMAT")]
    pub format: Option<String>,
    /// Format option KEY=VALUE (repeatable, or comma-separated), as `convert -o`.
    #[arg(short = 'o', value_name = "KEY=VALUE")]
    pub options: Vec<String>,
    /// Compress the data (formats that can: qcow2; vmdk, as streamOptimized).
    #[arg(short = 'c', long = "compress")]
    pub compress: bool,
    /// Worker threads (default: the number of cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Copy only what the file systems on the drive use (the rest is left unallocated and
    /// reads as zeros).
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
    #[command(flatten)]
    pub secret: PasswordArgs,
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
    /// Track of an optical disc image (default: the first data track of the last session
    /// that holds data).
    #[arg(short = 't', long = "track", value_name = "N")]
    pub track: Option<u8>,
    /// Which tree of a multi-tree volume: rockridge, udf, joliet, iso9660 (default: the
    /// richest present, in that order); for one volume of an APFS container, apfs:LABEL or
    /// apfs:N (N from 1; default: the first readable volume).
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
    #[arg(long, conflicts_with_all = ["boot_images", "paths", "namespace", "tracks"])]
    pub raw: bool,
    /// Write the tracks of an optical disc image instead of the file tree: audio tracks as
    /// `Track NN.wav`, data tracks as `Track NN.iso` (all, or the one --track names).
    #[arg(long, conflicts_with = "boot_images")]
    pub tracks: bool,
    /// With --tracks: write audio tracks as FLAC instead of WAV.
    #[arg(long, requires = "tracks")]
    pub flac: bool,
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
            track: self.track,
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
        after_help = "Examples:\n  diskimg create iso ~/Photos/2019 -o photos-2019.iso      # label 2019\n  diskimg create iso ./tree -o t.iso --volume-id BACKUP --exclude '*.bak' --reproducible\n  diskimg create iso ~/Footage -o footage.iso --udf         # ISO 9660/UDF bridge, files over 4 GiB\n  diskimg create iso --from old.iso --add ./extra -o new.iso # remaster, keeping the boot setup"
    )]
    Iso(Box<CreateIsoArgs>),
    /// A FAT12/16/32 image: a superfloppy, or one MBR or GPT partition.
    #[command(
        after_help = "Examples:\n  diskimg create fat ./stick -o stick.img --size 2G                  # FAT32\n  diskimg create fat ./stick -o disk.img --partition gpt --label DATA\n  diskimg create fat ./boot -o floppy.img --size 1440K --fat 12"
    )]
    Fat(CreateFatArgs),
    /// An Apple disk image (UDIF .dmg) holding the folders' files, mountable by macOS.
    #[command(
        after_help = "Examples:\n  diskimg create dmg ./Assets -o assets.dmg --volume-name Assets\n  diskimg create dmg ./App -o app.dmg --compression lzfse\n  diskimg create dmg ./Secret -o secret.dmg --encrypt --password-file pw.txt\n\nThe file system inside is ISO 9660 with Rock Ridge and Joliet (macOS mounts it read-only)."
    )]
    Dmg(CreateDmgArgs),
}

#[derive(Args, Debug)]
pub struct CreateFatArgs {
    /// Folders whose contents become the root (files are placed at the root).
    #[arg(required = true)]
    pub sources: Vec<PathBuf>,
    /// The image to write.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
    /// Size of the image (the whole disk with --partition): bytes, or with K, M, G, T (powers
    /// of 1024). Default: the smallest size that holds the tree with 10% to spare.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub size: Option<u64>,
    /// FAT type (default: as mkfs.fat picks for the size: FAT32 from 512 MiB).
    #[arg(long = "fat", value_name = "BITS", value_parser = ["12", "16", "32"])]
    pub fat: Option<String>,
    /// Volume label, up to 11 characters (default: the first folder's name).
    #[arg(long, value_name = "NAME")]
    pub label: Option<String>,
    /// A superfloppy (none), or one partition from 1 MiB in an MBR or GPT.
    #[arg(long, value_name = "KIND", default_value = "none", value_parser = ["none", "mbr", "gpt"])]
    pub partition: String,
    /// Leave out entries matching PATTERN (`*.tmp`, `cache/**`, `/build`); repeatable.
    #[arg(long, value_name = "PATTERN")]
    pub exclude: Vec<String>,
    /// Store what symlinks point to (FAT has no symlinks: without this they are left out).
    #[arg(long)]
    pub follow_symlinks: bool,
    /// Place a host file or folder at a path of the image: IMAGE_PATH=HOST_PATH (repeatable).
    #[arg(long, value_name = "IMAGE_PATH=HOST_PATH")]
    pub graft: Vec<String>,
    /// Identical bytes on every run: times clamped to SOURCE_DATE_EPOCH, else the newest file.
    #[arg(long)]
    pub reproducible: bool,
    /// Replace the output if it exists.
    #[arg(long)]
    pub overwrite: bool,
    /// No progress bar or summary.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Parses `2G`, `1440K`, `100M`, `512`.
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("'{s}' is not a size (a number, optionally with K, M, G or T)"))?;
    let shift = match unit
        .trim()
        .to_ascii_uppercase()
        .trim_end_matches(['B', 'I'])
    {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(format!("'{s}': unknown unit (K, M, G or T)")),
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("'{s}' is too large"))
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
    #[arg(required_unless_present = "from")]
    pub sources: Vec<PathBuf>,
    /// Remaster: start from this image's files, boot setup, hybrid MBR and label.
    #[arg(long, value_name = "IMAGE", help_heading = "Remastering")]
    pub from: Option<PathBuf>,
    /// With --from: a folder whose contents are laid over the image's root (folders merge,
    /// files replace); the same as giving it as a source. Repeatable.
    #[arg(
        long,
        value_name = "DIR",
        requires = "from",
        help_heading = "Remastering"
    )]
    pub add: Vec<PathBuf>,
    /// With --from: leave out this path of the image (a file, or a folder with all it holds).
    /// Repeatable.
    #[arg(
        long,
        value_name = "PATH",
        requires = "from",
        help_heading = "Remastering"
    )]
    pub remove: Vec<String>,
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
    /// UEFI boot image (a FAT image) inside the tree, e.g. efiboot.img; or a folder of the
    /// tree (e.g. /EFI), made into a FAT image added to the tree.
    #[arg(long, value_name = "PATH", help_heading = "Booting")]
    pub boot_uefi: Option<String>,
    /// Where the FAT image made from a --boot-uefi folder goes (default /efiboot.img).
    #[arg(
        long,
        value_name = "PATH",
        help_heading = "Booting",
        requires = "boot_uefi"
    )]
    pub boot_uefi_image: Option<String>,
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
    /// Spread the files over several images of at most this size: cd650, cd700, dvd5, dvd9,
    /// bd25, bd50, or a size such as 4G. Writes OUTPUT-1.iso, OUTPUT-2.iso, ... and a catalog
    /// (with --udf, every volume is an ISO 9660/UDF bridge image).
    #[arg(long, value_name = "PRESET|SIZE", help_heading = "Spanning")]
    pub span: Option<String>,
    /// With --span: refuse files larger than a volume instead of cutting them into parts.
    #[arg(long, requires = "span", help_heading = "Spanning")]
    pub no_split: bool,
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
    fn sizes_parse_with_binary_units() {
        use super::parse_size;
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("1440K"), Ok(1440 << 10));
        assert_eq!(parse_size("100MiB"), Ok(100 << 20));
        assert_eq!(parse_size("512"), Ok(512));
        assert!(parse_size("2X").is_err());
        assert!(parse_size("G").is_err());
        assert!(parse_size("99999999T").is_err());
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
