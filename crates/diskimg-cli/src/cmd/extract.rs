//! `diskimg extract`.

use crate::cli::ExtractArgs;
use crate::output::human_size;
use crate::progress::Bar;
use anyhow::{Context, Result, bail};
use diskimg::ops::extract::{Existing, ExtractOptions, extract, extract_boot_images, extract_raw};
use diskimg::ops::optical::AudioFormat;
use std::path::PathBuf;

pub fn run(a: ExtractArgs) -> Result<()> {
    let image = super::open(&a.image, &a.secret)?;
    let dest = a
        .output
        .clone()
        .unwrap_or_else(|| default_output(&a.image, a.raw.then_some(a.select.partition)));
    let existing = if a.overwrite {
        Existing::Replace
    } else if a.skip_existing {
        Existing::Skip
    } else {
        Existing::Fail
    };
    if a.raw {
        let content = image.content();
        let layer = match a.select.partition {
            Some(n) => content.partition(n)?,
            None => content,
        };
        let bar = Bar::new(a.quiet);
        let result = extract_raw(&layer.device, &dest, existing, &bar);
        bar.finish();
        let bytes = result.with_context(|| format!("extracting {}", a.image.display()))?;
        if !a.quiet {
            eprintln!("wrote {} to {}", human_size(bytes), dest.display());
        }
        return Ok(());
    }
    if a.tracks {
        let Some(d) = &image.content().disc else {
            bail!(
                "{}: --tracks applies to optical disc images",
                a.image.display()
            );
        };
        let only: Vec<u8> = a.select.track.into_iter().collect();
        let bar = Bar::new(a.quiet);
        let audio = if a.flac {
            AudioFormat::Flac
        } else {
            AudioFormat::Wav
        };
        let r = diskimg::ops::optical::extract_tracks(
            &d.disc,
            &dest,
            &only,
            audio,
            existing == Existing::Replace,
            &|n| diskimg::ops::extract::Progress::advance(&bar, n, 0),
        );
        bar.finish();
        let r = r.map_err(|e| e.with_file(&a.image))?;
        for n in &r.notes {
            eprintln!("diskimg: note: {n}");
        }
        if !a.quiet {
            eprintln!(
                "wrote {} tracks ({}) to {}",
                r.files.len(),
                human_size(r.bytes),
                dest.display()
            );
        }
        return Ok(());
    }
    if a.boot_images {
        let layer = image.content();
        let Some(boot) = &layer.boot else {
            bail!("{}: no El Torito boot catalog", a.image.display());
        };
        for p in extract_boot_images(boot, &layer.device, &dest, existing)? {
            if !a.quiet {
                eprintln!("{}", p.display());
            }
        }
        return Ok(());
    }
    let fs = super::select(&image, &a.select)?;
    let sources = if a.paths.is_empty() {
        vec!["/".to_owned()]
    } else {
        a.paths.clone()
    };
    let mut opts = ExtractOptions {
        existing,
        ..ExtractOptions::default()
    };
    if let Some(t) = a.threads {
        opts.threads = t.max(1);
    }
    let bar = Bar::new(a.quiet);
    let result = extract(fs.as_ref(), &sources, &dest, &opts, &bar);
    bar.finish();
    let summary = result.with_context(|| format!("extracting {}", a.image.display()))?;
    if !a.quiet {
        eprintln!(
            "extracted {} files ({}), {} directories, {} symlinks, {} hard links to {}{}",
            summary.files,
            human_size(summary.bytes),
            summary.directories,
            summary.symlinks,
            summary.hard_links,
            dest.display(),
            if summary.skipped > 0 {
                format!("; {} skipped", summary.skipped)
            } else {
                String::new()
            }
        );
    }
    Ok(())
}

/// `photos.iso` -> `./photos`; with `--raw`, `disk.img -p 2` -> `./disk-p2.img`.
fn default_output(image: &std::path::Path, raw: Option<Option<u32>>) -> PathBuf {
    let stem = image
        .file_stem()
        .map_or_else(|| "extracted".into(), |s| s.to_os_string());
    match raw {
        None => PathBuf::from(stem),
        Some(part) => {
            let mut name = stem;
            name.push(match part {
                Some(n) => format!("-p{n}.img"),
                None => ".raw".to_owned(),
            });
            PathBuf::from(name)
        }
    }
}
