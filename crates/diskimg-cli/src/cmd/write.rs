//! `diskimg write`.

use crate::cli::WriteArgs;
use crate::output::human_size;
use crate::progress::ByteBar;
use anyhow::{Result, bail};
use diskimg::drive::{WriteOptions, check_target, write_image};
use std::io::{BufRead, IsTerminal, Write};

pub fn run(a: WriteArgs) -> Result<()> {
    let image = super::open(&a.image, &a.secret)?;
    let device = image.content().device.clone();
    let drive = check_target(&a.target, a.allow_fixed)?;
    if device.size() > drive.size {
        bail!(
            "{}: the image needs {}, {} has {} (nothing was written)",
            a.image.display(),
            human_size(device.size()),
            a.target.display(),
            human_size(drive.size)
        );
    }
    if !a.yes {
        if !std::io::stdin().is_terminal() {
            bail!(
                "refusing to erase {} without --yes (standard input is not a terminal)",
                a.target.display()
            );
        }
        eprint!(
            "This erases everything on {} ({}{}{}).\nType 'yes' to write {} to it: ",
            a.target.display(),
            human_size(drive.size),
            drive
                .model
                .as_ref()
                .map_or(String::new(), |m| format!(", {m}")),
            drive
                .transport
                .as_ref()
                .map_or(String::new(), |t| format!(", {t}")),
            a.image.display()
        );
        std::io::stderr().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if answer.trim() != "yes" {
            bail!("nothing written");
        }
    }
    let cancel = crate::signals::cancel_flag()?;
    let bar = ByteBar::new(a.quiet || a.json, device.size(), cancel);
    let opts = WriteOptions {
        verify: !a.no_verify,
        sparse: a.sparse,
        before_verify: None,
    };
    let result = write_image(device.as_ref(), &a.target, &opts, &bar);
    bar.finish();
    let r = result?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    if !a.quiet {
        let rate = |bytes: u64, secs: f64| human_size((bytes as f64 / secs.max(1e-3)) as u64);
        eprintln!(
            "wrote {} of data and zeroed {}{} in {:.1} s ({}/s{})",
            human_size(r.written),
            human_size(r.zeroed),
            if r.skipped > 0 {
                format!(", left {} untouched", human_size(r.skipped))
            } else {
                String::new()
            },
            r.write_seconds,
            rate(r.image_size, r.write_seconds),
            if r.direct_io { ", direct I/O" } else { "" }
        );
        if a.no_verify {
            eprintln!("not verified (--no-verify)");
        } else {
            eprintln!(
                "verified {} read back from {} in {:.1} s: the drive matches the image",
                human_size(r.verified),
                a.target.display(),
                r.verify_seconds
            );
        }
    }
    Ok(())
}
