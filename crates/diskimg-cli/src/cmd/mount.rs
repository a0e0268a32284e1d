//! `diskimg mount`: in the foreground by default, so that Ctrl-C unmounts, errors reach the
//! terminal and nothing lingers after a script ends; `--background` starts a detached copy of
//! itself, waits until the mount is up (or failed) and returns.

use crate::cli::MountArgs;
use anyhow::{Context, Result, bail};
use diskimg::mount::{MountOptions, mount};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

pub fn run(a: MountArgs) -> Result<()> {
    if a.background && !a.detached_child {
        return detach(&a);
    }
    let result = mount_and_wait(&a);
    if a.detached_child {
        if let Err(e) = &result {
            // Before the mount is up the parent is reading and reports this; later nobody
            // may be, and a closed pipe must not turn into a panic.
            let _ = writeln!(std::io::stdout(), "error: {e:#}");
        }
    }
    result
}

fn mount_and_wait(a: &MountArgs) -> Result<()> {
    let image = super::open(&a.image, &a.secret)?;
    let opts = MountOptions {
        all: a.all,
        selection: a.select.selection(),
        allow_other: a.allow_other,
        threads: 0,
    };
    let mounted = mount(&image, &a.mountpoint, &opts).map_err(|e| e.with_file(&a.image))?;
    drop(image);
    let unmounter = mounted.unmounter();
    crate::signals::on_interrupt(move || {
        let _ = unmounter.unmount();
    })?;
    if a.detached_child {
        let mut out = std::io::stdout();
        writeln!(out, "ready")?;
        out.flush()?;
    } else if !a.quiet {
        eprintln!(
            "diskimg: {} mounted read-only on {}; Ctrl-C or `diskimg umount {}` unmounts",
            a.image.display(),
            a.mountpoint.display(),
            a.mountpoint.display()
        );
    }
    mounted.wait()?;
    if !a.quiet && !a.detached_child {
        eprintln!("diskimg: unmounted {}", a.mountpoint.display());
    }
    Ok(())
}

/// Starts `diskimg mount ... --detached-child` in a process group of its own and waits for it to
/// say the mount is up.
fn detach(a: &MountArgs) -> Result<()> {
    let exe = std::env::current_exe().context("cannot find the diskimg executable")?;
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    args.push("--detached-child".into());
    let mut cmd = Command::new(exe);
    cmd.args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    // A process group of its own: Ctrl-C in this terminal no longer reaches it.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().context("cannot start the background mount")?;
    let out = child
        .stdout
        .take()
        .context("no pipe to the background mount")?;
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line)?;
    match line.trim() {
        "ready" => {
            if !a.quiet {
                eprintln!(
                    "diskimg: {} mounted read-only on {} (background, pid {}); `diskimg umount {}` unmounts",
                    a.image.display(),
                    a.mountpoint.display(),
                    child.id(),
                    a.mountpoint.display()
                );
            }
            Ok(())
        }
        other => {
            let _ = child.wait();
            bail!(
                "{}",
                other
                    .strip_prefix("error: ")
                    .unwrap_or("the background mount failed")
            )
        }
    }
}
