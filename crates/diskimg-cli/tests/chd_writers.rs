//! CHD writing checked by chdman: our CHDs pass `chdman verify`, and `chdman extractcd`,
//! `extractdvd` and `extracthd` give back the source byte for byte. A CD CHD we make from a
//! cue sheet carries the same data and overall SHA-1s as chdman's own CHD of that sheet
//! (same frames, padding and track metadata), and round trips both ways give the same bytes.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn chdman289(fx: &Path) -> PathBuf {
    fx.join("npm/package/dist/chdman")
}

fn same_file(a: &Path, b: &Path, label: &str) {
    let (x, y) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    assert!(
        x == y,
        "{label}: {} ({} bytes) differs from {} ({} bytes)",
        a.display(),
        x.len(),
        b.display(),
        y.len()
    );
}

fn verify(chdman: &Path, chd: &Path) {
    let out = ok(Command::new(chdman).args(["verify", "-i"]).arg(chd));
    let _ = out;
}

/// `SHA1:` and `Data SHA1:` lines of `chdman info`.
fn sha1s(chdman: &Path, chd: &Path) -> Vec<String> {
    String::from_utf8(ok(Command::new(chdman).args(["info", "-i"]).arg(chd)))
        .unwrap()
        .lines()
        .filter(|l| l.contains("SHA1:"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn cd_from_a_cue_matches_chdman() {
    let Some(fx) = fixtures("chd") else { return };
    let Some(chdman) = tool("chdman") else { return };
    let dir = tempdir();
    let ours = dir.path().join("ours.chd");
    ok(diskimg()
        .args(["convert", "-q"])
        .arg(fx.join("mixed.cue"))
        .arg(&ours));
    verify(&chdman, &ours);
    assert_eq!(
        sha1s(&chdman, &ours),
        sha1s(&chdman, &fx.join("cd_mixed.chd"))
    );
    // chdman gives back the same BIN/CUE from our CHD as from its own.
    let cue = dir.path().join("back.cue");
    ok(Command::new(&chdman)
        .args(["extractcd", "-f", "-i"])
        .arg(&ours)
        .arg("-o")
        .arg(&cue)
        .arg("-ob")
        .arg(dir.path().join("back.bin")));
    same_file(
        &dir.path().join("back.bin"),
        &fx.join("cd_mixed_extract.bin"),
        "extractcd bin",
    );
    let text = std::fs::read_to_string(&cue).unwrap();
    let reference = std::fs::read_to_string(fx.join("cd_mixed_extract.cue")).unwrap();
    assert_eq!(
        text.replace("back.bin", "X"),
        reference.replace("cd_mixed_extract.bin", "X"),
        "extractcd cue"
    );
    // And our own way back out gives the same again.
    let ours_cue = dir.path().join("ours-back.cue");
    ok(diskimg().args(["convert", "-q"]).arg(&ours).arg(&ours_cue));
    same_file(
        &dir.path().join("ours-back.bin"),
        &fx.join("cd_mixed_extract.bin"),
        "our bin",
    );
    // A CHD of the BIN/CUE we wrote is the same CHD again (both ways round).
    let again = dir.path().join("again.chd");
    ok(diskimg().args(["convert", "-q"]).arg(&ours_cue).arg(&again));
    assert_eq!(sha1s(&chdman, &again), sha1s(&chdman, &ours));
}

#[test]
fn cd_from_an_iso_and_other_codecs() {
    let Some(fx) = fixtures("chd") else { return };
    let Some(chdman) = tool("chdman") else { return };
    let dir = tempdir();
    let ours = dir.path().join("iso.chd");
    ok(diskimg()
        .args(["convert", "-q", "-o", "layout=cd"])
        .arg(fx.join("data.iso"))
        .arg(&ours));
    verify(&chdman, &ours);
    assert_eq!(
        sha1s(&chdman, &ours),
        sha1s(&chdman, &fx.join("cd_iso.chd"))
    );
    for codecs in ["cdzl", "cdfl+cdzl", "none"] {
        let out = dir
            .path()
            .join(format!("c-{}.chd", codecs.replace('+', "-")));
        ok(diskimg()
            .args(["convert", "-q", "-o"])
            .arg(format!("compression={codecs}"))
            .arg(fx.join("mixed.cue"))
            .arg(&out));
        ok(Command::new(&chdman)
            .args(["extractcd", "-f", "-i"])
            .arg(&out)
            .arg("-o")
            .arg(dir.path().join("c.cue"))
            .arg("-ob")
            .arg(dir.path().join("c.bin")));
        same_file(
            &dir.path().join("c.bin"),
            &fx.join("cd_mixed_extract.bin"),
            codecs,
        );
    }
    // zstd codecs need chdman 0.289.
    let z = dir.path().join("zstd.chd");
    ok(diskimg()
        .args(["convert", "-q", "-o", "compression=cdzs+cdzl"])
        .arg(fx.join("mixed.cue"))
        .arg(&z));
    verify(&chdman289(&fx), &z);
}

/// Raw MODE1/2352 sectors: our CD codecs strip the sync and ECC that the reader regenerates,
/// as chdman's do, so our CHD verifies, extracts to the same BIN, has chdman's SHA-1s and is
/// about chdman's size (keeping the ECC would make it an eighth larger).
#[test]
fn cd_of_raw_sectors_strips_ecc_like_chdman() {
    let Some(fx) = fixtures("chd") else { return };
    let Some(chdman) = tool("chdman") else { return };
    let dir = tempdir();
    // Our ISO -> CUE/BIN conversion writes raw sectors with generated EDC/ECC.
    let cue = dir.path().join("raw.cue");
    ok(diskimg()
        .args(["convert", "-q"])
        .arg(fx.join("data.iso"))
        .arg(&cue));
    assert!(
        std::fs::read_to_string(&cue)
            .unwrap()
            .contains("MODE1/2352")
    );
    let theirs = dir.path().join("theirs.chd");
    ok(Command::new(&chdman)
        .args(["createcd", "-f", "-i"])
        .arg(&cue)
        .arg("-o")
        .arg(&theirs));
    let ours = dir.path().join("ours.chd");
    ok(diskimg().args(["convert", "-q"]).arg(&cue).arg(&ours));
    verify(&chdman, &ours);
    assert_eq!(sha1s(&chdman, &ours), sha1s(&chdman, &theirs));
    let (a, b) = (
        std::fs::metadata(&ours).unwrap().len(),
        std::fs::metadata(&theirs).unwrap().len(),
    );
    assert!(a * 100 <= b * 101, "ours {a} bytes, chdman's {b}");
    ok(Command::new(&chdman)
        .args(["extractcd", "-f", "-i"])
        .arg(&ours)
        .arg("-o")
        .arg(dir.path().join("x.cue"))
        .arg("-ob")
        .arg(dir.path().join("x.bin")));
    same_file(
        &dir.path().join("x.bin"),
        &dir.path().join("raw.bin"),
        "extractcd bin",
    );
    // Our reader gives the sectors back too.
    let back = dir.path().join("back.cue");
    ok(diskimg().args(["convert", "-q"]).arg(&ours).arg(&back));
    same_file(
        &dir.path().join("back.bin"),
        &dir.path().join("raw.bin"),
        "our bin",
    );
}

#[test]
fn dvd_and_hd_round_trips() {
    let Some(fx) = fixtures("chd") else { return };
    let Some(chdman) = tool("chdman") else { return };
    let c289 = chdman289(&fx);
    let dir = tempdir();
    // ISO 9660 -> DVD layout, 2048-byte hunks.
    let dvd = dir.path().join("d.chd");
    ok(diskimg()
        .args(["convert", "-q"])
        .arg(fx.join("data.iso"))
        .arg(&dvd));
    verify(&c289, &dvd);
    let info = String::from_utf8(ok(Command::new(&c289).args(["info", "-i"]).arg(&dvd))).unwrap();
    assert!(
        info.contains("Hunk Size:    2,048") && info.contains("DVD"),
        "{info}"
    );
    let iso = dir.path().join("d.iso");
    ok(Command::new(&c289)
        .args(["extractdvd", "-f", "-i"])
        .arg(&dvd)
        .arg("-o")
        .arg(&iso));
    same_file(&iso, &fx.join("data.iso"), "extractdvd");
    // Same data SHA-1 as chdman createdvd (the overall one too: same metadata).
    assert_eq!(sha1s(&c289, &dvd), sha1s(&c289, &fx.join("dvd.chd")));
    // Anything else -> hard-disk layout; chdman's geometry and SHA-1s.
    let hd = dir.path().join("h.chd");
    ok(diskimg()
        .args(["convert", "-q"])
        .arg(fx.join("disk.img"))
        .arg(&hd));
    verify(&chdman, &hd);
    assert_eq!(sha1s(&chdman, &hd), sha1s(&chdman, &fx.join("hd.chd")));
    let back = dir.path().join("h.img");
    ok(Command::new(&chdman)
        .args(["extracthd", "-f", "-i"])
        .arg(&hd)
        .arg("-o")
        .arg(&back));
    same_file(&back, &fx.join("disk.img"), "extracthd");
    // chdman's CHD -> ours -> raw is the source again.
    let ours = dir.path().join("from-chdman.chd");
    ok(diskimg()
        .args(["convert", "-q", "-O", "chd"])
        .arg(fx.join("hd.chd"))
        .arg(&ours));
    let raw = dir.path().join("r.img");
    ok(diskimg()
        .args(["convert", "-q", "-O", "raw"])
        .arg(&ours)
        .arg(&raw));
    same_file(&raw, &fx.join("disk.img"), "chd -> chd -> raw");
    // Layout and codec overrides.
    let z = dir.path().join("z.chd");
    ok(diskimg()
        .args([
            "convert",
            "-q",
            "-o",
            "layout=hd,compression=zstd,hunk_size=8192",
        ])
        .arg(fx.join("data.iso"))
        .arg(&z));
    verify(&c289, &z);
    let out = run(diskimg()
        .args(["convert", "-q", "-o", "compression=bogus"])
        .arg(fx.join("data.iso"))
        .arg(dir.path().join("bad.chd")));
    assert!(!out.status.success());
    assert!(!dir.path().join("bad.chd").exists());
}
