//! `diskimg convert` and `diskimg create`.

use crate::cli::{ConvertArgs, CreateDiskArgs};
use crate::output::{human_size, print_json};
use crate::progress::Bar;
use anyhow::{Context, Result, anyhow};
use diskimg::container::dmg::crypt::EncryptOptions;
use diskimg::container::write::parse_size;
use diskimg::format::by_name;
use diskimg::ops::convert::{ConvertOptions, CreateOptions, convert, create_image};

pub fn run(a: ConvertArgs) -> Result<()> {
    if let Some(f) = &a.list_options {
        return list_options(f);
    }
    let (Some(input), Some(output)) = (&a.input, &a.output) else {
        return Err(anyhow!("convert needs an input and an output"));
    };
    if super::convert_disc::wants_disc(&a, output) {
        return super::convert_disc::run(&a, input, output);
    }
    if a.split || a.track.is_some() {
        return Err(anyhow!(
            "--split and --track apply to optical disc outputs (cue, toc, ccd, mds, nrg, iso)"
        ));
    }
    let password = super::read_password(&a.secret)?;
    let encrypt = if a.encrypt {
        let password = match &password {
            Some(p) => p.clone(),
            None => super::new_password(&a.secret)?,
        };
        let mut e = EncryptOptions::aes256(password);
        e.key_bits = if a.encryption_bits == "128" { 128 } else { 256 };
        Some(e)
    } else {
        None
    };
    let opts = ConvertOptions {
        format: a.format.clone(),
        input_format: a.input_format.clone(),
        options: a
            .options
            .iter()
            .cloned()
            .chain(a.compression.iter().map(|c| format!("compression={c}")))
            .collect(),
        compress: a.compress,
        threads: a.threads,
        replace: a.overwrite,
        password,
        encrypt,
    };
    let bar = Bar::new(a.quiet || a.json);
    let r = convert(input, output, &opts, &bar);
    bar.finish();
    let s = r.with_context(|| format!("converting {}", input.display()))?;
    if a.json {
        return print_json(&s);
    }
    if !a.quiet {
        eprintln!(
            "{} ({}) -> {} ({}): {} virtual, {} read, {} written",
            input.display(),
            s.input_format,
            output.display(),
            s.output_format,
            human_size(s.virtual_size),
            human_size(s.stats.bytes_read),
            human_size(s.output_size),
        );
    }
    Ok(())
}

fn list_options(format: &str) -> Result<()> {
    let d = by_name(format).ok_or_else(|| anyhow!("unknown format '{format}'"))?;
    let hook = d
        .create
        .ok_or_else(|| anyhow!("diskimg cannot write {} images", d.name))?;
    if hook.options.is_empty() {
        println!("{} has no options", d.name);
    }
    for o in hook.options {
        println!("{:<20} {}", o.key, o.help);
    }
    Ok(())
}

pub fn create(a: CreateDiskArgs) -> Result<()> {
    let Some(output) = a.output.clone() else {
        return Err(anyhow!(
            "create needs the new image's name, or what to make: `diskimg create iso DIR -o FILE`"
        ));
    };
    let size = a
        .size
        .as_deref()
        .map(parse_size)
        .transpose()
        .map_err(|e| anyhow!("--size: {e}"))?;
    let opts = CreateOptions {
        size,
        format: a.format.clone(),
        options: a.options.clone(),
        backing: a.backing.clone(),
        backing_format: a.backing_format.clone(),
        replace: a.overwrite,
    };
    let s = create_image(&output, &opts)?;
    if a.json {
        return print_json(&s);
    }
    println!(
        "created {} ({}, {} virtual{})",
        output.display(),
        s.format,
        human_size(s.virtual_size),
        s.backing
            .as_ref()
            .map(|b| format!(", backing file {b}"))
            .unwrap_or_default()
    );
    Ok(())
}
