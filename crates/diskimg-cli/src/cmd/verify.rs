//! `diskimg verify`.

use crate::cli::VerifyArgs;
use crate::output::print_json;
use crate::progress::Bar;
use anyhow::Result;
use diskimg::ops::extract::Progress;
use diskimg::ops::verify::{Status, verify};
use std::process::ExitCode;

/// Exit status 0 when every check passed, 1 when one failed.
pub fn run(a: VerifyArgs) -> Result<ExitCode> {
    let image = super::open(&a.image)?;
    let bar = Bar::new(a.quiet || a.json);
    if let Some(d) = &image.content().disc {
        let (first, end) = d.disc.span();
        bar.totals((end - first).max(0) as u64, 0);
    }
    let result = verify(&image, &|n| bar.advance(n, 0));
    bar.finish();
    let report = result.map_err(|e| e.with_file(&image.path))?;
    if a.json {
        print_json(&report)?;
    } else {
        for c in &report.checks {
            let tag = match c.status {
                Status::Ok => "ok",
                Status::Failed => "FAILED",
                Status::Skipped => "skipped",
            };
            println!("{}: {tag}: {}", c.name, c.detail);
        }
        println!(
            "{}: {}",
            report.file,
            if report.ok { "ok" } else { "FAILED" }
        );
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
