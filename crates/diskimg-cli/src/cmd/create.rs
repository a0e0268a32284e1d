//! `diskimg create`.

use crate::cli::{CreateDmgArgs, CreateIsoArgs, CreateWhat};
use crate::output::human_size;
use crate::progress::Bar;
use anyhow::Result;
use diskimg::build::glob::Pattern;
use diskimg::build::iso::{IsoLevel, IsoOptions};
use diskimg::build::tree::ScanOptions;
use diskimg::container::dmg::crypt::EncryptOptions;
use diskimg::ops::create::{
    BootRequest, Contents, DmgOptions, Graft, gather, prepare_boot, reproducible_time,
    write_dmg_file, write_iso_file,
};

pub fn run(what: CreateWhat) -> Result<()> {
    match what {
        CreateWhat::Iso(a) => iso(a),
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

fn iso(a: CreateIsoArgs) -> Result<()> {
    let contents = Contents {
        sources: a.sources.clone(),
        grafts: a
            .graft
            .iter()
            .map(|g| Graft::parse(g))
            .collect::<Result<_, _>>()?,
        scan: ScanOptions {
            exclude: a.exclude.iter().map(|p| Pattern::new(p)).collect(),
            follow_symlinks: a.follow_symlinks,
        },
    };
    let (mut tree, scan) = gather(&contents)?;
    let boot = BootRequest {
        bios: a.boot_bios.clone(),
        uefi: a.boot_uefi.clone(),
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
    let (boot, hybrid_mbr) = prepare_boot(&mut tree, &boot)?;
    for w in &scan.warnings {
        eprintln!("diskimg: warning: {w}");
    }
    let volume_id = a
        .volume_id
        .clone()
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
        fixed_time: reproducible_time(&tree, a.reproducible)?,
        boot,
        hybrid_mbr,
        md5: a.md5,
        ..IsoOptions::default()
    };
    let bar = Bar::new(a.quiet);
    bar.set_total(tree.data_size());
    let result = write_iso_file(&tree, options, &a.output, a.overwrite, &bar);
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

/// The first source folder's name, as the label.
fn default_label(sources: &[std::path::PathBuf]) -> String {
    sources
        .first()
        .and_then(|p| std::fs::canonicalize(p).ok())
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "CDROM".to_owned())
}
