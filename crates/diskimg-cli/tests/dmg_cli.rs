//! The DMG command lines a user types, each checked against an independent reader:
//! `convert x.dmg -O raw` and `convert disk.img -O dmg --compression ...` against dmg2img and
//! 7-Zip, `create dmg DIR` read by dmg2img then 7-Zip, and `info`, `ls`, `extract` through a
//! DMG compared with what 7-Zip finds in dmg2img's disk. Fixtures: tests/fixtures/make-dmg.sh.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// dmg2img's raw disk of `dmg`, written in `dir`.
fn dmg2img(dmg: &Path, dir: &Path) -> Option<PathBuf> {
    let t = tool("dmg2img")?;
    let out = dir.join("dmg2img.raw");
    ok(Command::new(t).arg("-s").arg(dmg).arg(&out));
    Some(out)
}

/// 7-Zip's extraction of `archive` (of type `kind` when given) into `dir`.
fn seven_zip_x(z: &Path, archive: &Path, kind: Option<&str>, dir: &Path) {
    let mut cmd = Command::new(z);
    cmd.args(["x", "-y"]);
    if let Some(k) = kind {
        cmd.arg(format!("-t{k}"));
    }
    ok(cmd.arg(format!("-o{}", dir.display())).arg(archive));
}

#[test]
fn convert_dmg_to_raw_with_output_format_equals_dmg2img() {
    let Some(fx) = fixtures("dmg") else { return };
    // dmg2img drops the gaps between hdiutil's GPT tables (its disks come out 15 KiB short):
    // the hdiutil samples are checked against 7-Zip in dmg_readers.rs instead.
    let images = ["pydmg.dmg", "mkdmg_fat.dmg", "mkdmg_iso.dmg"]
        .iter()
        .map(|n| fx.join(n))
        .filter(|p| p.exists());
    for dmg in images {
        let d = tempdir();
        // No extension says the format: -O raw does.
        let ours = d.path().join("disk.out");
        ok(diskimg()
            .args(["convert", "-q", "-O", "raw"])
            .arg(&dmg)
            .arg(&ours));
        let Some(theirs) = dmg2img(&dmg, d.path()) else {
            return;
        };
        assert!(
            sha256_file(&ours) == sha256_file(&theirs),
            "{}: diskimg and dmg2img read different disks",
            dmg.display()
        );
    }
}

#[test]
fn convert_raw_to_dmg_with_compression_reads_back_in_dmg2img_and_7zip() {
    let Some(fx) = fixtures("dmg") else { return };
    let src = fx.join("fat.img");
    let want = sha256_file(&src);
    for c in ["zlib", "bzip2", "none", "lzma"] {
        let d = tempdir();
        // No .dmg extension: -O dmg chooses the format.
        let dmg = d.path().join("out.img");
        ok(diskimg()
            .args(["convert", "-q", "-O", "dmg", "--compression", c])
            .arg(&src)
            .arg(&dmg));
        let info = String::from_utf8(ok(diskimg().arg("info").arg(&dmg))).unwrap();
        let variant = match c {
            "zlib" => "UDZO",
            "bzip2" => "UDBZ",
            "lzma" => "ULMO",
            _ => "UDRO",
        };
        assert!(info.contains(&format!("variant: {variant}")), "{c}: {info}");
        // The Debian dmg2img has no LZMA decoder.
        if c != "lzma" {
            if let Some(raw) = dmg2img(&dmg, d.path()) {
                assert_eq!(sha256_file(&raw), want, "{c}: dmg2img reads another disk");
            }
        }
        if let Some(z) = tool("7zz") {
            let t = ok(Command::new(&z).args(["t", "-tdmg"]).arg(&dmg));
            assert!(
                String::from_utf8_lossy(&t).contains("Everything is Ok"),
                "{c}: 7zz t"
            );
            // One FAT volume, no partition map: 7-Zip's one partition is the whole disk.
            let x = d.path().join("7z");
            seven_zip_x(&z, &dmg, Some("dmg"), &x);
            let parts: Vec<PathBuf> = std::fs::read_dir(&x)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            assert_eq!(parts.len(), 1, "{c}: {parts:?}");
            assert_eq!(
                sha256_file(&parts[0]),
                want,
                "{c}: 7-Zip reads another disk"
            );
        }
    }
    // An unknown codec is refused, naming the ones there are, and leaves no output.
    let d = tempdir();
    let dmg = d.path().join("bad.dmg");
    let out = run(diskimg()
        .args(["convert", "-q", "--compression", "zstd"])
        .arg(&src)
        .arg(&dmg));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("lzfse"));
    assert!(!dmg.exists());
}

#[test]
fn create_dmg_is_read_by_dmg2img_and_7zip() {
    let Some(fx) = fixtures("dmg") else { return };
    let (Some(_), Some(z)) = (tool("dmg2img"), tool("7zz")) else {
        return;
    };
    let d = tempdir();
    let dmg = d.path().join("x.dmg");
    ok(diskimg()
        .args(["create", "dmg", "-q"])
        .arg(fx.join("tree"))
        .arg("-o")
        .arg(&dmg));
    // dmg2img's disk is an ISO 9660 volume; 7-Zip reads the files out of it.
    let raw = dmg2img(&dmg, d.path()).unwrap();
    let x = d.path().join("7z");
    seven_zip_x(&z, &raw, Some("iso"), &x);
    assert_same_tree(&x, &fx.join("tree"), Compare::default(), "dmg2img + 7-Zip");
    // Our own reading of the image is the same disk.
    let ours = d.path().join("ours.raw");
    ok(diskimg()
        .args(["convert", "-q", "-O", "raw"])
        .arg(&dmg)
        .arg(&ours));
    assert_eq!(sha256_file(&ours), sha256_file(&raw));
}

#[test]
fn info_ls_extract_through_a_dmg_match_7zip_on_dmg2img_disk() {
    let Some(fx) = fixtures("dmg") else { return };
    let (Some(_), Some(z)) = (tool("dmg2img"), tool("7zz")) else {
        return;
    };
    let dmg = fx.join("pydmg.dmg");
    let d = tempdir();
    // The independent view: dmg2img's disk, its MBR partition and the FAT files in it, by 7-Zip.
    let raw = dmg2img(&dmg, d.path()).unwrap();
    let parts = d.path().join("parts");
    seven_zip_x(&z, &raw, Some("mbr"), &parts);
    let fat = parts.join("0.fat");
    let theirs = d.path().join("theirs");
    seven_zip_x(&z, &fat, Some("fat"), &theirs);

    let info = String::from_utf8(ok(diskimg().arg("info").arg(&dmg))).unwrap();
    for want in [
        "format: dmg",
        "variant: UDZO",
        "partition table: MBR",
        "\"PYDMG\"",
    ] {
        assert!(info.contains(want), "info lacks {want:?}:\n{info}");
    }
    let info: serde_json::Value =
        serde_json::from_slice(&ok(diskimg().args(["info", "--json"]).arg(&dmg))).unwrap();
    assert_eq!(info["containers"][0]["format"], "dmg", "{info}");

    // ls -R lists what 7-Zip lists.
    let listed = String::from_utf8(ok(diskimg().args(["ls", "-R"]).arg(&dmg).arg("/"))).unwrap();
    let mut ours: Vec<String> = listed
        .lines()
        .map(|l| l.trim_start_matches('/').to_owned())
        .collect();
    ours.sort();
    let mut seven: Vec<String> = tree(&theirs).into_keys().collect();
    seven.sort();
    assert_eq!(ours, seven);

    let x = d.path().join("ours");
    ok(diskimg()
        .args(["extract", "-q"])
        .arg(&dmg)
        .arg("-o")
        .arg(&x));
    assert_same_tree(&x, &theirs, Compare::default(), "extract vs 7-Zip");
}

#[test]
fn verify_checks_the_udif_checksums_and_finds_damage() {
    let Some(fx) = fixtures("dmg") else { return };
    let dmg = fx.join("pydmg.dmg");
    let o = run(diskimg().args(["verify", "--json"]).arg(&dmg));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(o.status.success(), "{v}");
    assert_eq!(v["status"], "pass");
    let checks = v["checks"].as_array().unwrap();
    assert!(
        checks
            .iter()
            .any(|c| c["check"] == "dmg-checksum" && c["subject"] == "master"),
        "{v}"
    );
    // One flipped byte in the data fork.
    let d = tempdir();
    let bad = d.path().join("bad.dmg");
    let mut bytes = std::fs::read(&dmg).unwrap();
    bytes[600] ^= 0x40;
    std::fs::write(&bad, &bytes).unwrap();
    let o = run(diskimg().args(["verify", "--json"]).arg(&bad));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    assert!(!o.status.success(), "{v}");
    assert_ne!(v["status"], "pass", "{v}");
}

/// A disk whose first chunk is all zeros (no partition map, unit 0 never reaches the writer)
/// converts to a DMG that dmg2img reads back as the same disk.
#[test]
fn a_disk_starting_with_zeros_converts() {
    let d = tempdir();
    let raw = d.path().join("zeros-first.img");
    let mut disk = vec![0u8; 4 << 20];
    let mut x: u32 = 7;
    for b in &mut disk[(2 << 20)..(3 << 20)] {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        *b = (x >> 16) as u8;
    }
    std::fs::write(&raw, &disk).unwrap();
    let dmg = d.path().join("z.dmg");
    ok(diskimg().args(["convert", "-q"]).arg(&raw).arg(&dmg));
    let back = d.path().join("back.img");
    ok(diskimg()
        .args(["convert", "-q", "-O", "raw"])
        .arg(&dmg)
        .arg(&back));
    assert!(std::fs::read(&back).unwrap() == disk);
    if let Some(theirs) = dmg2img(&dmg, d.path()) {
        assert!(std::fs::read(theirs).unwrap() == disk, "dmg2img");
    }
}
