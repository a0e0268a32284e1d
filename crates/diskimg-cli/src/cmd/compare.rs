//! `diskimg compare`.

use crate::cli::CompareArgs;
use crate::output::print_json;
use crate::progress::Bar;
use anyhow::Result;
use diskimg::ops::compare::compare_files;
use std::process::ExitCode;

pub fn run(a: CompareArgs) -> Result<ExitCode> {
    let bar = Bar::new(a.quiet || a.json);
    let r = compare_files(&a.a, &a.b, None, None, a.strict, &bar);
    bar.finish();
    let r = r?;
    if a.json {
        print_json(&r)?;
        return Ok(if r.identical {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    if r.size_a != r.size_b {
        println!("Warning: Image size mismatch!");
    }
    if r.identical {
        println!("Images are identical.");
    } else if let Some(off) = r.first_difference {
        println!("Content mismatch at offset {off}!");
    }
    Ok(if r.identical {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
