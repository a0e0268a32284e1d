//! CHD reading checked against chdman: our CD, DVD and hard-disk reads of images chdman made
//! equal what `chdman extractcd/extractdvd/extracthd` gives back, a child CHD reads through its
//! parent, and files listed and extracted through a CHD equal those of the source image as an
//! independent reader (bsdtar, mtools) sees them. Corpus samples are used when present.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// chdman 0.289 unpacked by the fixtures script (extractdvd is not in Debian's chdman).
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

/// The cue sheet with its FILE line's name replaced, to compare two sheets' tracks.
fn cue_tracks(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("FILE"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Our CUE/BIN of a CD CHD equals chdman extractcd's, byte for byte.
fn cd_like_extractcd(chd: &Path, label: &str) {
    let Some(chdman_bin) = tool("chdman") else {
        return;
    };
    let dir = tempdir();
    let (ours, theirs) = (dir.path().join("ours.cue"), dir.path().join("theirs.cue"));
    ok(diskimg().args(["convert", "-q"]).arg(chd).arg(&ours));
    let mut c = Command::new(&chdman_bin);
    c.args(["extractcd", "-f", "-i"])
        .arg(chd)
        .arg("-o")
        .arg(&theirs)
        .arg("-ob")
        .arg(dir.path().join("theirs.bin"));
    ok(&mut c);
    same_file(
        &dir.path().join("ours.bin"),
        &dir.path().join("theirs.bin"),
        label,
    );
    assert_eq!(
        cue_tracks(&ours),
        cue_tracks(&theirs),
        "{label}: cue sheets differ"
    );
}

#[test]
fn cd_reads_equal_chdman_extractcd() {
    let Some(fx) = fixtures("chd") else { return };
    cd_like_extractcd(&fx.join("cd_mixed.chd"), "cd_mixed");
    cd_like_extractcd(&fx.join("cd_iso.chd"), "cd_iso");
    // The extract the fixtures script kept is the same as chdman's, as a second witness.
    let dir = tempdir();
    let out = dir.path().join("x.cue");
    ok(diskimg()
        .args(["convert", "-q"])
        .arg(fx.join("cd_mixed.chd"))
        .arg(&out));
    same_file(
        &dir.path().join("x.bin"),
        &fx.join("cd_mixed_extract.bin"),
        "cd_mixed kept",
    );
    for s in [
        "chd_cd_mixed_chdman.chd",
        "chd_cd_vcd_chdman.chd",
        "chd_cd_iso_chdman.chd",
    ] {
        let p = Path::new("/work/corpus-out").join(s);
        if p.exists() {
            cd_like_extractcd(&p, s);
        }
    }
}

#[test]
fn dvd_and_hd_reads_equal_chdman_extract() {
    let Some(fx) = fixtures("chd") else { return };
    let dir = tempdir();
    for (chd, source) in [
        ("dvd.chd", "data.iso"),
        ("dvd_zstd.chd", "data.iso"),
        ("hd.chd", "disk.img"),
        ("raw.chd", "disk.img"),
        ("family/child.chd", "disk2.img"),
    ] {
        let out = dir.path().join(format!("{}.img", chd.replace('/', "_")));
        ok(diskimg()
            .args(["convert", "-q", "-O", "raw"])
            .arg(fx.join(chd))
            .arg(&out));
        same_file(&out, &fx.join(source), chd);
    }
    // What chdman extracts from the same images is the same again.
    let theirs = dir.path().join("dvd-chdman.iso");
    let mut c = Command::new(chdman289(&fx));
    c.args(["extractdvd", "-f", "-i"])
        .arg(fx.join("dvd.chd"))
        .arg("-o")
        .arg(&theirs);
    ok(&mut c);
    same_file(&theirs, &fx.join("data.iso"), "chdman extractdvd");
    // A DVD CHD converts to an ISO through the disc path too.
    let iso = dir.path().join("dvd.iso");
    ok(diskimg()
        .args(["convert", "-q"])
        .arg(fx.join("dvd.chd"))
        .arg(&iso));
    same_file(&iso, &fx.join("data.iso"), "dvd.chd -> iso");
    if let Some(chdman_bin) = tool("chdman") {
        let theirs = dir.path().join("child-chdman.img");
        let mut c = Command::new(chdman_bin);
        c.args(["extracthd", "-f", "-i"])
            .arg(fx.join("family/child.chd"))
            .arg("-ip")
            .arg(fx.join("family/parent.chd"))
            .arg("-o")
            .arg(&theirs);
        ok(&mut c);
        same_file(&theirs, &fx.join("disk2.img"), "chdman extracthd child");
    }
    let corpus = Path::new("/work/corpus-out/chd_dvd_chdman0289.chd");
    if corpus.exists() {
        let out = dir.path().join("corpus-dvd.img");
        ok(diskimg()
            .args(["convert", "-q", "-O", "raw"])
            .arg(corpus)
            .arg(&out));
        let mut c = Command::new(chdman289(&fx));
        c.args(["extractdvd", "-f", "-i"])
            .arg(corpus)
            .arg("-o")
            .arg(dir.path().join("c.iso"));
        ok(&mut c);
        same_file(&out, &dir.path().join("c.iso"), "corpus dvd");
    }
}

#[test]
fn ls_and_extract_through_a_chd() {
    let Some(fx) = fixtures("chd") else { return };
    let Some(bsdtar) = tool("bsdtar") else { return };
    let Some(mcopy) = tool("mcopy") else { return };
    let dir = tempdir();
    // ISO 9660 inside a CD CHD and a DVD CHD, against bsdtar on the source ISO.
    let theirs = dir.path().join("bsdtar");
    std::fs::create_dir_all(&theirs).unwrap();
    ok(Command::new(bsdtar)
        .arg("-xf")
        .arg(fx.join("data.iso"))
        .arg("-C")
        .arg(&theirs));
    for chd in ["cd_mixed.chd", "cd_iso.chd", "dvd.chd"] {
        let listing =
            String::from_utf8(ok(diskimg().arg("ls").arg(fx.join(chd)).arg("/"))).unwrap();
        assert!(listing.contains("README.TXT"), "{chd}: {listing}");
        let ours = dir.path().join(chd);
        ok(diskimg()
            .args(["extract", "-q"])
            .arg(fx.join(chd))
            .arg("-o")
            .arg(&ours));
        assert_same_tree(&ours, &theirs, Compare::default(), chd);
    }
    // FAT inside a hard-disk CHD and its child, against mtools on the source images.
    for (chd, img, name) in [
        ("hd.chd", "disk.img", "PATTERN.BIN"),
        ("family/child.chd", "disk2.img", "CHILD.TXT"),
    ] {
        let ours = dir.path().join(format!("{}.bin", chd.replace('/', "_")));
        let theirs = dir.path().join(format!("{}.mtools", chd.replace('/', "_")));
        let out = ok(diskimg()
            .arg("cat")
            .arg(fx.join(chd))
            .arg(format!("/{name}")));
        std::fs::write(&ours, out).unwrap();
        ok(Command::new(&mcopy)
            .arg("-i")
            .arg(fx.join(img))
            .arg(format!("::/{name}"))
            .arg(&theirs));
        same_file(&ours, &theirs, chd);
    }
}
