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

use crate::cli::{Cli, Command};
use crate::cli::{PasswordArgs, Select};
use anyhow::{Context, Result};
use diskimg::ErrorKind;
use diskimg::Image;
use diskimg::container::password::Password;
use diskimg::fs::FileSystem;
use std::io::IsTerminal;
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

/// Opens an image; the error already names the file. An encrypted image is unlocked with the
/// password given, else (on a terminal) one asked for.
fn open(path: &Path, secret: &PasswordArgs) -> Result<Image> {
    let given = read_password(secret)?;
    let asked = given.is_none();
    match Image::open_with_password(path, given) {
        Err(e) if e.kind() == ErrorKind::NeedsPassword && asked && interactive() => {
            let p = prompt(&format!("Password for {}: ", path.display()))?;
            Ok(Image::open_with_password(path, Some(p))?)
        }
        r => Ok(r?),
    }
}

/// Whether a password can be asked for.
fn interactive() -> bool {
    std::io::stdin().is_terminal()
}

/// Asks for a password on the terminal, without echo.
fn prompt(text: &str) -> Result<Password> {
    let line = rpassword::prompt_password(text).context("reading the password")?;
    Ok(Password::new(line.into_bytes()))
}

/// The password given with --password-file or --password-stdin, if any.
pub fn read_password(secret: &PasswordArgs) -> Result<Option<Password>> {
    if let Some(f) = &secret.password_file {
        let text = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
        return Ok(Some(Password::from_first_line(&text)));
    }
    if secret.password_stdin {
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut text)
            .context("reading the password from standard input")?;
        return Ok(Some(Password::from_first_line(&text)));
    }
    Ok(None)
}

/// The password for a new encrypted image: given, else asked for twice.
pub fn new_password(secret: &PasswordArgs) -> Result<Password> {
    if let Some(p) = read_password(secret)? {
        return Ok(p);
    }
    if !interactive() {
        anyhow::bail!("--encrypt needs a password: --password-file FILE or --password-stdin");
    }
    let a = prompt("Password for the new image: ")?;
    let b = prompt("Again: ")?;
    if a != b {
        anyhow::bail!("the passwords differ");
    }
    Ok(a)
}

/// The file system the user selected; errors name the image file.
fn select(image: &Image, sel: &Select) -> Result<Arc<dyn FileSystem>> {
    Ok(image
        .select(&sel.selection())
        .map_err(|e| e.with_file(&image.path))?)
}
