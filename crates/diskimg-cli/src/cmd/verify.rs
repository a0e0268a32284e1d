//! `diskimg verify`.

use crate::cli::VerifyArgs;
use crate::progress::ByteBar;
use anyhow::{Result, bail};
use diskimg::ops::verify::{Status, VerifyOptions, verify};

pub fn run(a: VerifyArgs) -> Result<()> {
    let cancel = crate::signals::cancel_flag()?;
    let size = std::fs::metadata(&a.image).map(|m| m.len()).unwrap_or(0);
    let bar = ByteBar::new(a.quiet || a.json, size, cancel);
    let opts = VerifyOptions {
        sums: a.sums.clone(),
        no_sidecars: a.no_sidecars,
    };
    let report = verify(&a.image, &opts, &bar);
    bar.finish();
    let report = report?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for c in &report.checks {
            let mark = match c.status {
                Status::Pass => "ok  ",
                Status::Fail => "FAIL",
                Status::Error => "ERR ",
                Status::Skipped => "skip",
                Status::None => "    ",
            };
            println!("{mark} {:<14} {}: {}", c.check, c.subject, c.message);
            if c.status == Status::Fail {
                if let (Some(e), Some(g)) = (&c.expected, &c.actual) {
                    println!("       expected {e}\n       computed {g}");
                }
            }
        }
    }
    match report.status {
        Status::Pass => Ok(()),
        Status::Fail => bail!("{}: verification FAILED", a.image.display()),
        Status::Error => bail!("{}: some records could not be checked", a.image.display()),
        Status::Skipped | Status::None => bail!(
            "{}: nothing to verify: no integrity record in the image and no checksum file beside it (name one with --sums)",
            a.image.display()
        ),
    }
}
