//! `diskimg create`.

use crate::cli::{CreateDmgArgs, CreateFatArgs, CreateIsoArgs, CreateWhat};
use crate::output::human_size;
use crate::progress::Bar;
use anyhow::{Result, bail};
use diskimg::build::fat::{FatOptions, FatType, PartitionStyle, label_from_name};
use diskimg::build::glob::Pattern;
use diskimg::build::iso::hybrid::read_template;
use diskimg::build::iso::{IsoLevel, IsoOptions};
use diskimg::build::span::parse_capacity;
use diskimg::build::tree::{ROOT, ScanOptions};
use diskimg::container::dmg::crypt::EncryptOptions;
use diskimg::ops::create::{
    BootRequest, Contents, CreateReport, DmgOptions, Graft, gather, prepare_boot,
    reproducible_time, write_bridge_file, write_dmg_file, write_fat_file, write_iso_file,
    write_iso_span,
};
use diskimg::ops::remaster::remaster;

pub fn run(what: CreateWhat) -> Result<()> {
    match what {
        CreateWhat::Iso(a) => iso(*a),
        CreateWhat::Fat(a) => fat(a),
        CreateWhat::Dmg(a) => dmg(a),
    }
}

fn dmg(a: CreateDmgArgs) -> Result<()> {
    let contents = Contents {
        sources: a.sources.clone(),
        grafts: Vec::new(),
        scan: ScanOptions {
            exclude: a.exclude.iter().map(|p| Pattern::new(p)).collect(),
            follow_symlinks: a.follow_symlinks,
        },
    };
    let (tree, scan) = gather(&contents)?;
    for w in &scan.warnings {
        eprintln!("diskimg: warning: {w}");
    }
    let encrypt = if a.encrypt {
        Some(EncryptOptions::aes256(super::new_password(&a.secret)?))
    } else {
        None
    };
    let options = DmgOptions {
        iso: IsoOptions {
            volume_id: a
                .volume_name
                .clone()
                .unwrap_or_else(|| default_label(&a.sources)),
            fixed_time: reproducible_time(&tree, a.reproducible)?,
            ..IsoOptions::default()
        },
        options: vec![format!("compression={}", a.compression)],
        encrypt,
        threads: None,
    };
    let bar = Bar::new(a.quiet);
    bar.set_total(tree.data_size());
    let result = write_dmg_file(&tree, options, &a.output, a.overwrite, &bar);
    bar.finish();
    let report = result?;
    if !a.quiet {
        eprintln!(
            "created {} ({}): {} files ({}), {} folders",
            report.output.display(),
            human_size(report.size),
            report.files,
            human_size(report.data),
            report.directories
        );
    }
    Ok(())
}

fn contents(
    sources: &[std::path::PathBuf],
    graft: &[String],
    exclude: &[String],
    follow_symlinks: bool,
) -> Result<Contents> {
    Ok(Contents {
        sources: sources.to_vec(),
        grafts: graft
            .iter()
            .map(|g| Graft::parse(g))
            .collect::<Result<_, _>>()?,
        scan: ScanOptions {
            exclude: exclude.iter().map(|p| Pattern::new(p)).collect(),
            follow_symlinks,
        },
    })
}

fn iso(a: CreateIsoArgs) -> Result<()> {
    let sources: Vec<_> = a.sources.iter().chain(&a.add).cloned().collect();
    let contents = contents(&sources, &a.graft, &a.exclude, a.follow_symlinks)?;
    let (mut tree, scan, base) = match &a.from {
        Some(from) => {
            let r = remaster(from, &contents, &a.remove)?;
            (
                r.tree,
                r.scan,
                Some((r.boot, r.hybrid_mbr, r.volume_id, r.notes)),
            )
        }
        None => {
            let (tree, scan) = gather(&contents)?;
            (tree, scan, None)
        }
    };
    let fixed_time = reproducible_time(&tree, a.reproducible)?;
    let boot = BootRequest {
        bios: a.boot_bios.clone(),
        uefi: a.boot_uefi.clone(),
        uefi_image: a.boot_uefi_image.clone(),
        fixed_time,
        floppy: a.boot_floppy.clone(),
        hard_disk: a.boot_hd.clone(),
        load_size: a.boot_load_size,
        info_table: if a.boot_info_table {
            Some(true)
        } else if a.no_boot_info_table {
            Some(false)
        } else {
            None
        },
        catalog: a.boot_catalog.clone(),
        hybrid: a.hybrid,
        hybrid_mbr: a.hybrid_mbr.clone(),
    };
    let mut old_label = None;
    let (boot, hybrid_mbr) = match base {
        // New boot options replace the old image's boot setup.
        Some((old_boot, old_mbr, label, notes)) if boot.is_empty() => {
            old_label = label;
            if !a.quiet {
                for n in &notes {
                    eprintln!("diskimg: note: {n}");
                }
            }
            if old_boot.is_none() && (a.hybrid || boot.hybrid_mbr.is_some()) {
                bail!(
                    "--hybrid needs a boot image: the old image has none (give --boot-bios or --boot-uefi)"
                );
            }
            let mbr = match &boot.hybrid_mbr {
                Some(p) => Some(read_template(p)?),
                None if a.hybrid && old_mbr.is_none() => bail!(
                    "--hybrid: the old image has no hybrid MBR to reuse; give the MBR code with --hybrid-mbr"
                ),
                None => old_mbr,
            };
            (old_boot, mbr)
        }
        Some((old_boot, _, label, _)) => {
            old_label = label;
            if let Some(b) = old_boot {
                tree.remove_path(&b.catalog)?;
            }
            prepare_boot(&mut tree, &boot)?
        }
        None => prepare_boot(&mut tree, &boot)?,
    };
    for w in &scan.warnings {
        eprintln!("diskimg: warning: {w}");
    }
    let volume_id = a
        .volume_id
        .clone()
        .or(old_label)
        .unwrap_or_else(|| default_label(&a.sources));
    let options = IsoOptions {
        volume_id,
        level: match a.iso_level {
            1 => IsoLevel::L1,
            2 => IsoLevel::L2,
            4 => IsoLevel::Iso1999,
            _ => IsoLevel::L3,
        },
        rock_ridge: !a.no_rock_ridge,
        joliet: !a.no_joliet,
        joliet_long: !a.joliet_short,
        fixed_time,
        boot,
        hybrid_mbr,
        md5: a.md5,
        ..IsoOptions::default()
    };
    let bar = Bar::new(a.quiet);
    bar.set_total(tree.data_size());
    let result = match &a.span {
        Some(size) => parse_capacity(size).and_then(|capacity| {
            write_iso_span(
                &tree,
                options,
                a.udf.then_some(a.udf_rev),
                &a.output,
                capacity,
                !a.no_split,
                a.overwrite,
                &bar,
            )
        }),
        None if a.udf => write_bridge_file(&tree, options, a.udf_rev, &a.output, a.overwrite, &bar)
            .map(|r| vec![r]),
        None => write_iso_file(&tree, options, &a.output, a.overwrite, &bar).map(|r| vec![r]),
    };
    bar.finish();
    for report in &result? {
        summary(report, a.quiet);
    }
    Ok(())
}

fn summary(report: &CreateReport, quiet: bool) {
    if !quiet {
        eprintln!(
            "created {} ({}): {} files ({}), {} folders",
            report.output.display(),
            human_size(report.size),
            report.files,
            human_size(report.data),
            report.directories
        );
    }
}

fn fat(a: CreateFatArgs) -> Result<()> {
    let contents = contents(&a.sources, &a.graft, &a.exclude, a.follow_symlinks)?;
    let (tree, scan) = gather(&contents)?;
    for w in &scan.warnings {
        eprintln!("diskimg: warning: {w}");
    }
    let label = match &a.label {
        Some(l) => Some(l.clone()),
        None if a.sources[0].is_dir() => folder_name(&a.sources).and_then(|n| label_from_name(&n)),
        None => None,
    };
    let options = FatOptions {
        size: a.size,
        fat_type: a.fat.as_deref().map(|b| match b {
            "12" => FatType::Fat12,
            "16" => FatType::Fat16,
            _ => FatType::Fat32,
        }),
        label,
        fixed_time: reproducible_time(&tree, a.reproducible)?,
        partition: match a.partition.as_str() {
            "mbr" => PartitionStyle::Mbr,
            "gpt" => PartitionStyle::Gpt,
            _ => PartitionStyle::None,
        },
        ..FatOptions::default()
    };
    let bar = Bar::new(a.quiet);
    bar.set_total(tree.data_size());
    let result = write_fat_file(&tree, ROOT, &options, &a.output, a.overwrite, &bar);
    bar.finish();
    let report = result?;
    for w in &report.warnings {
        eprintln!("diskimg: warning: {w}");
    }
    summary(&report, a.quiet);
    Ok(())
}

/// The first source folder's name, as the label.
fn default_label(sources: &[std::path::PathBuf]) -> String {
    folder_name(sources).unwrap_or_else(|| "CDROM".to_owned())
}

/// The name of the first source.
fn folder_name(sources: &[std::path::PathBuf]) -> Option<String> {
    sources
        .first()
        .and_then(|p| std::fs::canonicalize(p).ok())
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
}
