//! `diskimg convert` for optical disc images (CUE, TOC, CCD, MDS, NRG, ISO outputs).
//!
//! The general `convert` dispatches here when the output is a disc format
//! ([`diskimg::ops::optical::is_disc_output`]), or `-O` names one.

use crate::cli::ConvertArgs;
use crate::output::{human_size, print_json};
use crate::progress::Bar;
use anyhow::{Result, bail};
use diskimg::ops::extract::Progress;
use diskimg::ops::optical::{is_disc_output, open_disc};
use diskimg::optical::convert::{ConvertOptions, DataMode, convert, planned_bytes};
use std::path::Path;

/// Disc output formats, as `-O` names them.
const DISC_FORMATS: &[&str] = &["cue", "toc", "ccd", "mds", "nrg", "iso"];

/// Whether this conversion writes an optical disc image.
pub fn wants_disc(a: &ConvertArgs, output: &Path) -> bool {
    match &a.format {
        Some(f) => DISC_FORMATS.contains(&f.to_ascii_lowercase().as_str()),
        None => is_disc_output(output),
    }
}

pub fn run(a: &ConvertArgs, input: &Path, output: &Path) -> Result<()> {
    if let Some(f) = &a.format {
        let ext = output
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        if ext.as_deref() != Some(f.to_ascii_lowercase().as_str()) {
            bail!("a {f} image is written to a file named *.{f}");
        }
    }
    if a.compress {
        bail!("-c applies to formats that compress (qcow2); disc images are not compressed");
    }
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
    let disc = open_disc(input)?;
    let bar = Bar::new(a.quiet || a.json);
    bar.totals(planned_bytes(&disc, output, &opts), 0);
    let result = convert(&disc, output, &opts, &|n| bar.advance(n, 0));
    bar.finish();
    let report = result.map_err(|e| e.with_file(input))?;
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
