//! One function per subcommand.

mod cat;
mod check;
mod compare;
mod convert;
mod convert_disc;
mod create;
mod extract;
mod info;
mod ls;
mod map;
mod overlay;
mod verify;

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
