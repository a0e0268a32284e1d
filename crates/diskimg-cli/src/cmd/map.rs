//! `diskimg map`.

use crate::cli::MapArgs;
use anyhow::Result;
use diskimg::container::open::open_image;
use diskimg::ops::map::map;
use std::io::Write;

pub fn run(a: MapArgs) -> Result<()> {
    let img = open_image(&a.image, a.format.as_deref())?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if a.json {
        let mut first = true;
        write!(out, "[")?;
        map(&img.device, |e| {
            let sep = if first { "" } else { "," };
            first = false;
            let line = serde_json::json!({"start": e.offset, "length": e.len, "kind": e.kind});
            writeln!(out, "{sep}\n  {line}").map_err(diskimg::Error::from)
        })?;
        writeln!(out, "\n]")?;
    } else {
        writeln!(out, "{:<20} {:<20} kind", "start", "length")?;
        map(&img.device, |e| {
            let kind = serde_json::to_value(e.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            writeln!(out, "{:<20} {:<20} {kind}", e.offset, e.len).map_err(diskimg::Error::from)
        })?;
    }
    out.flush()?;
    Ok(())
}
