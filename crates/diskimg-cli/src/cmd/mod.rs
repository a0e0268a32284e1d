//! One function per subcommand.

mod cat;
mod create;
mod drives;
mod extract;
mod hash;
mod image;
mod info;
mod ls;
#[cfg(feature = "fuse")]
mod mount;
mod serve;
mod verify;
mod write;

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
        Command::Create(a) => create::run(a),
        #[cfg(feature = "fuse")]
        Command::Mount(a) => mount::run(a),
        #[cfg(not(feature = "fuse"))]
        Command::Mount(_) => anyhow::bail!("this diskimg was built without FUSE (feature `fuse`)"),
        Command::Umount(a) => {
            diskimg::mount::unmount(&a.mountpoint)?;
            Ok(())
        }
        Command::Serve(a) => serve::run(a),
        Command::Write(a) => write::run(a),
        Command::Image(a) => image::run(a),
        Command::Drives(a) => drives::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Hash(a) => hash::run(a),
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
