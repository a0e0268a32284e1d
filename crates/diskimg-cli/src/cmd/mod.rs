//! One function per subcommand.

mod cat;
mod extract;
mod info;
mod ls;

use crate::cli::{Cli, Command};
use anyhow::Result;
use diskimg::Image;
use std::path::Path;

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Info(a) => info::run(a),
        Command::Ls(a) => ls::run(a),
        Command::Cat(a) => cat::run(a),
        Command::Extract(a) => extract::run(a),
    }
}

/// Opens an image; the error already names the file.
fn open(path: &Path) -> Result<Image> {
    Ok(Image::open(path)?)
}
