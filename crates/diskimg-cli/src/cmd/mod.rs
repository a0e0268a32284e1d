//! One function per subcommand.

mod cat;
mod convert_disc;
mod extract;
mod info;
mod ls;
mod verify;

use crate::cli::Select;
use crate::cli::{Cli, Command};
use anyhow::Result;
use diskimg::Image;
use diskimg::fs::FileSystem;
use std::path::Path;
use std::sync::Arc;

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Info(a) => info::run(a),
        Command::Ls(a) => ls::run(a),
        Command::Cat(a) => cat::run(a),
        Command::Extract(a) => extract::run(a),
        Command::Convert(a) => convert_disc::run(a),
        Command::Verify(a) => verify::run(a),
    }
}

/// Opens an image; the error already names the file.
fn open(path: &Path) -> Result<Image> {
    Ok(Image::open(path)?)
}

/// The file system the user selected; errors name the image file.
fn select(image: &Image, sel: &Select) -> Result<Arc<dyn FileSystem>> {
    Ok(image
        .select(&sel.selection())
        .map_err(|e| e.with_file(&image.path))?)
}
