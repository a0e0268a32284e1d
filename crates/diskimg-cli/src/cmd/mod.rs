//! One function per subcommand.

mod cat;
mod check;
mod compare;
mod convert;
mod convert_disc;
mod create;
mod drives;
mod extract;
mod hash;
mod image;
mod info;
mod ls;
mod map;
#[cfg(feature = "fuse")]
mod mount;
mod overlay;
mod serve;
mod verify;
mod write;

use crate::cli::Select;
use crate::cli::{Cli, Command};
use anyhow::Result;
use diskimg::Image;
use diskimg::fs::FileSystem;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

/// Runs a command; `Ok` carries the exit status of commands whose status means something
/// (compare, check).
pub fn run(cli: Cli) -> Result<ExitCode> {
    let done = |r: Result<()>| r.map(|()| ExitCode::SUCCESS);
    match cli.command {
        Command::Info(a) => done(info::run(a)),
        Command::Ls(a) => done(ls::run(a)),
        Command::Cat(a) => done(cat::run(a)),
        Command::Extract(a) => done(extract::run(a)),
        Command::Convert(a) => done(convert::run(a)),
        Command::Create(a) => match a.what {
            Some(what) => done(create::run(what)),
            None => done(convert::create(a.disk)),
        },
        Command::Commit(a) => done(overlay::commit(a)),
        Command::Rebase(a) => done(overlay::rebase(a)),
        Command::Compare(a) => compare::run(a),
        Command::Map(a) => done(map::run(a)),
        Command::Check(a) => check::run(a),
        #[cfg(feature = "fuse")]
        Command::Mount(a) => done(mount::run(a)),
        #[cfg(not(feature = "fuse"))]
        Command::Mount(_) => anyhow::bail!("this diskimg was built without FUSE (feature `fuse`)"),
        Command::Umount(a) => done(diskimg::mount::unmount(&a.mountpoint).map_err(Into::into)),
        Command::Serve(a) => done(serve::run(a)),
        Command::Write(a) => done(write::run(a)),
        Command::Image(a) => done(image::run(a)),
        Command::Drives(a) => done(drives::run(a)),
        Command::Verify(a) => done(verify::run(a)),
        Command::Hash(a) => done(hash::run(a)),
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
