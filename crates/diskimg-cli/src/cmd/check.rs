//! `diskimg check`.

use crate::cli::CheckArgs;
use crate::output::print_json;
use anyhow::Result;
use diskimg::ops::check::check_file;
use std::process::ExitCode;

pub fn run(a: CheckArgs) -> Result<ExitCode> {
    let r = check_file(&a.image, a.format.as_deref())?;
    if a.json {
        print_json(&r)?;
    } else {
        for c in &r.corruptions {
            println!("ERROR {c}");
        }
        for l in &r.leaks {
            println!("Leaked {l}");
        }
        for w in &r.warnings {
            println!("warning: {w}");
        }
        if r.is_clean() {
            println!("No errors were found on the image.");
        } else {
            println!(
                "{} errors and {} leaked clusters were found on the image.",
                r.corruptions.len(),
                r.leaked_clusters
            );
        }
    }
    Ok(if !r.corruptions.is_empty() {
        ExitCode::from(2)
    } else if !r.leaks.is_empty() {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}
