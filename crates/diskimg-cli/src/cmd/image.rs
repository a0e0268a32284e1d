//! `diskimg image`.

use crate::cli::ImageArgs;
use crate::output::human_size;
use crate::progress::ByteBar;
use anyhow::Result;
use diskimg::drive::{ImageOptions, image_drive};

pub fn run(a: ImageArgs) -> Result<()> {
    let cancel = crate::signals::cancel_flag()?;
    let size = diskimg::drive::ReadBack::open(&a.device)?.size();
    let bar = ByteBar::new(a.quiet || a.json, size, cancel);
    let opts = ImageOptions {
        retries: a.retries,
        used_only: a.used_only,
        replace: a.overwrite,
        mapfile: a.mapfile.clone(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        format: a.format.clone(),
        options: a.options.clone(),
        compress: a.compress,
        threads: a.threads,
    };
    let result = image_drive(&a.device, &a.output, &opts, &bar);
    bar.finish();
    let r = result?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else if !a.quiet {
        eprintln!(
            "copied {} of {} to {} ({}, {}){}",
            human_size(r.read),
            human_size(r.size),
            a.output.display(),
            r.format,
            human_size(r.output_size),
            if r.unused > 0 {
                format!(
                    "; {} unused by {} left unallocated",
                    human_size(r.unused),
                    r.maps_from.join(", ")
                )
            } else {
                String::new()
            }
        );
    }
    if r.bad_bytes > 0 {
        eprintln!(
            "diskimg: {} in {} ranges could not be read and are zeros in the image (map: {})",
            human_size(r.bad_bytes),
            r.bad_ranges.len(),
            r.mapfile
                .as_ref()
                .map_or_else(String::new, |p| p.display().to_string())
        );
        std::process::exit(2);
    }
    Ok(())
}
