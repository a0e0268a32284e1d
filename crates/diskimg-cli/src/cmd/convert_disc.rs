//! `diskimg convert` for optical disc images (CUE, TOC, CCD, MDS, NRG, ISO outputs).
//!
//! Kept apart from other conversions so that a general `convert` can dispatch here when the
//! input or output is a disc format ([`diskimg::ops::optical::is_disc_output`]).

use crate::cli::ConvertArgs;
use crate::output::{human_size, print_json};
use crate::progress::Bar;
use anyhow::{Result, bail};
use diskimg::ops::extract::Progress;
use diskimg::ops::optical::open_disc;
use diskimg::optical::convert::{ConvertOptions, DataMode, convert, planned_bytes};

pub fn run(a: ConvertArgs) -> Result<()> {
    let mut opts = ConvertOptions {
        split: a.split,
        replace: a.overwrite,
        track: a.track,
        ..Default::default()
    };
    for o in &a.options {
        match o.split_once('=') {
            Some(("mode", v)) => opts.mode = Some(DataMode::parse(v)?),
            _ => bail!(
                "unknown option \"{o}\" (disc outputs take mode=MODE1/2352 or mode=MODE1/2048)"
            ),
        }
    }
    let disc = open_disc(&a.input)?;
    let bar = Bar::new(a.quiet || a.json);
    bar.totals(planned_bytes(&disc, &a.output, &opts), 0);
    let result = convert(&disc, &a.output, &opts, &|n| bar.advance(n, 0));
    bar.finish();
    let report = result.map_err(|e| e.with_file(&a.input))?;
    if a.json {
        print_json(&report)?;
        return Ok(());
    }
    for n in &report.notes {
        eprintln!("diskimg: note: {n}");
    }
    if !a.quiet {
        let names: Vec<String> = report
            .outputs
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        eprintln!("wrote {} ({})", names.join(", "), human_size(report.bytes));
    }
    Ok(())
}
