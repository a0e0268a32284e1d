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
        after_help = "Examples:\n  diskimg extract photos.iso -o out/\n  diskimg extract album.cue --tracks -o tracks/\n  diskimg extract album.cue --tracks --flac -o tracks/\n  diskimg extract photos.iso /Fotos/2019 -o out/      # creates out/2019\n  diskimg extract --boot-images installer.iso -o boot/"
    )]
    Extract(ExtractArgs),
    /// Convert an optical disc image to another format (CUE/BIN, TOC/BIN, CCD/IMG/SUB,
    /// MDS/MDF, NRG, ISO), losslessly where the target can hold everything.
    #[command(
        after_help = "The output's extension names the format. Everything the target cannot hold is listed.\n\nExamples:\n  diskimg convert album.mds album.cue\n  diskimg convert game.nrg game.iso            # the data track; names the audio tracks dropped\n  diskimg convert game.ccd game.cue --split    # one .bin per track\n  diskimg convert disc.iso disc.cue -o mode=MODE1/2048"
    )]
    Convert(ConvertArgs),
    /// Check the integrity data an image carries (EDC/ECC of raw CD sectors, per track).
    #[command(
        after_help = "Exits with status 1 when a check fails.\n\nExamples:\n  diskimg verify game.cue\n  diskimg verify --json game.ccd"
    )]
    Verify(VerifyArgs),
}

#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// The image to read (a disc image, or an ISO).
    pub input: PathBuf,
    /// The image to write; its extension names the format.
    pub output: PathBuf,
    /// One BIN file per track, named `NAME (Track N).bin` (CUE output).
    #[arg(long)]
    pub split: bool,
    /// Output options as KEY=VALUE: mode=MODE1/2352 (raw, the default from an ISO) or
    /// mode=MODE1/2048 (cooked).
    #[arg(short = 'o', long = "option", value_name = "KEY=VALUE")]
    pub options: Vec<String>,
    /// For an ISO output: which data track (default: the first data track of the last
    /// session that has data).
    #[arg(short = 't', long = "track", value_name = "N")]
    pub track: Option<u8>,
    /// Replace outputs that exist.
    #[arg(long)]
    pub overwrite: bool,
    /// No progress bar or summary.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The image file.
    pub image: PathBuf,
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
    /// Track of an optical disc image (default: the first data track of the last session
    /// that holds data).
    #[arg(short = 't', long = "track", value_name = "N")]
    pub track: Option<u8>,
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
