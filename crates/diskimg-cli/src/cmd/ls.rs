//! `diskimg ls`.

use crate::cli::LsArgs;
use crate::output;
use anyhow::Result;
use diskimg::ops::list::list;
use std::io::Write;

pub fn run(a: LsArgs) -> Result<()> {
    let image = super::open(&a.image, &a.secret)?;
    let fs = super::select(&image, &a.select)?;
    let entries = list(fs.as_ref(), &a.path, a.recursive).map_err(|e| e.with_file(&a.image))?;
    if a.json {
        return output::print_json(&entries);
    }
    let mut out = std::io::stdout().lock();
    let width = entries
        .iter()
        .map(|e| e.metadata.size.to_string().len())
        .max()
        .unwrap_or(1);
    for e in &entries {
        let shown = if a.recursive {
            e.path.as_str()
        } else {
            e.name.as_str()
        };
        if a.long {
            writeln!(out, "{}", output::long_line(e, shown, width))?;
        } else {
            writeln!(out, "{shown}")?;
        }
    }
    Ok(())
}
