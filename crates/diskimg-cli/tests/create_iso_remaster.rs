//! `diskimg create iso --from old.iso`: remastering an image xorriso made (isolinux BIOS
//! boot with a boot information table, a UEFI image, an isohybrid MBR) keeps its boot setup,
//! label and metadata, adds and replaces files and removes paths. Checked with xorriso
//! (-report_el_torito), bsdtar, isoinfo, sfdisk, and by booting the result under QEMU from a CD
//! and from a disk.

mod common;

use common::boot::*;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const ISOHDPFX: &str = "/usr/lib/ISOLINUX/isohdpfx.bin";

/// The original image, made by xorriso from the boot tree plus a `junk/` folder; `appended`
/// puts the UEFI image in an appended partition, outside the file tree.
fn original(dir: &Path, appended: bool) -> Option<PathBuf> {
    let xorriso = tool("xorriso")?;
    if !Path::new(ISOHDPFX).is_file() {
        assert!(!strict(), "{ISOHDPFX} missing: apt-get install isolinux");
        return None;
    }
    let tree = boot_tree(dir)?;
    std::fs::create_dir_all(tree.join("junk")).unwrap();
    std::fs::write(tree.join("junk/old.txt"), b"to be removed\n").unwrap();
    let iso = dir.join("orig.iso");
    let mut cmd = Command::new(xorriso);
    cmd.args(["-as", "mkisofs", "-R", "-J", "-V", "ORIGVOL"]);
    cmd.args([
        "-b",
        "isolinux/isolinux.bin",
        "-c",
        "isolinux/boot.cat",
        "-no-emul-boot",
        "-boot-load-size",
        "4",
        "-boot-info-table",
        "-eltorito-alt-boot",
    ]);
    if appended {
        let efi = dir.join("efiboot.img");
        std::fs::rename(tree.join("efiboot.img"), &efi).unwrap();
        cmd.arg("-append_partition")
            .arg("2")
            .arg("0xef")
            .arg(&efi)
            .args(["-e", "--interval:appended_partition_2:all::"]);
    } else {
        cmd.args(["-e", "efiboot.img"]);
    }
    cmd.args(["-no-emul-boot", "-isohybrid-mbr", ISOHDPFX]);
    if !appended {
        cmd.arg("-isohybrid-gpt-basdat");
    }
    ok(cmd.arg("-o").arg(&iso).arg(&tree));
    Some(iso)
}

fn el_torito(iso: &Path) -> String {
    let out = ok(Command::new(tool("xorriso").unwrap())
        .arg("-indev")
        .arg(iso)
        .args(["-report_el_torito", "plain"]));
    String::from_utf8(out).unwrap()
}

fn extract(iso: &Path, dest: &Path) {
    std::fs::create_dir_all(dest).unwrap();
    ok(Command::new(tool("bsdtar").unwrap())
        .arg("-xf")
        .arg(iso)
        .arg("-C")
        .arg(dest));
}

#[test]
fn remaster_keeps_the_boot_setup_and_metadata() {
    let t = tempdir();
    let Some(orig) = original(t.path(), false) else {
        return;
    };
    let extra = t.path().join("extra");
    std::fs::create_dir_all(extra.join("docs")).unwrap();
    std::fs::write(extra.join("docs/new.txt"), b"a new file\n").unwrap();
    std::fs::write(extra.join("README.TXT"), b"replaced\n").unwrap();
    let new = t.path().join("new.iso");
    ok(diskimg()
        .args(["create", "iso", "-q", "--from"])
        .arg(&orig)
        .arg("--add")
        .arg(&extra)
        .args(["--remove", "/junk", "-o"])
        .arg(&new));

    // The same El Torito entries, paths, load size and boot information table.
    let report = el_torito(&new);
    for want in [
        "El Torito cat path : /isolinux/boot.cat",
        "El Torito img path :   1  /isolinux/isolinux.bin",
        "El Torito img opts :   1  boot-info-table",
        "El Torito img path :   2  /efiboot.img",
    ] {
        assert!(report.contains(want), "{want}\n{report}");
    }
    let bios = report
        .lines()
        .find(|l| l.starts_with("El Torito boot img :   1"))
        .unwrap();
    assert!(
        bios.contains("BIOS  y   none") && bios.contains(" 4 "),
        "{bios}"
    );
    assert!(
        report.contains("El Torito boot img :   2  UEFI  y"),
        "{report}"
    );

    // The label is kept; the MBR makes it a hybrid image again.
    let info = String::from_utf8(ok(Command::new(tool("isoinfo").unwrap())
        .arg("-d")
        .arg("-i")
        .arg(&new)))
    .unwrap();
    assert!(info.contains("Volume id: ORIGVOL"), "{info}");
    let parts = String::from_utf8(ok(Command::new(tool("sfdisk").unwrap())
        .arg("-d")
        .arg(&new)))
    .unwrap();
    assert!(
        parts.contains("type=17, bootable") && parts.contains("type=ef"),
        "{parts}"
    );

    // The tree: the old one (modes and times from its Rock Ridge entries) with extra/ laid
    // over it and junk/ gone. The catalog and the patched loader differ by design.
    let expected = t.path().join("expected");
    extract(&orig, &expected);
    std::fs::remove_dir_all(expected.join("junk")).unwrap();
    ok(Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", extra.display()))
        .arg(&expected));
    let got = t.path().join("got");
    extract(&new, &got);
    let old_loader = std::fs::read(expected.join("isolinux/isolinux.bin")).unwrap();
    let new_loader = std::fs::read(got.join("isolinux/isolinux.bin")).unwrap();
    assert_eq!(old_loader.len(), new_loader.len());
    assert_eq!(old_loader[..8], new_loader[..8]);
    assert_eq!(
        old_loader[64..],
        new_loader[64..],
        "only the info table changes"
    );
    for dir in [&expected, &got] {
        std::fs::remove_file(dir.join("isolinux/boot.cat")).unwrap();
        std::fs::remove_file(dir.join("isolinux/isolinux.bin")).unwrap();
    }
    assert_same_tree(
        &got,
        &expected,
        Compare {
            modes: true,
            file_times: true,
            dir_times: false,
        },
        "remastered",
    );

    // It still boots, from a CD and from a disk.
    let Some(qemu) = qemu() else { return };
    let want = format!("Loading {MARK}");
    let path = new.to_str().unwrap();
    boots_to(&qemu, &["-cdrom", path, "-boot", "d"], &want)
        .unwrap_or_else(|out| panic!("CD boot: {out}"));
    let drive = format!("file={path},format=raw,if=ide");
    boots_to(&qemu, &["-drive", &drive, "-boot", "c"], &want)
        .unwrap_or_else(|out| panic!("disk boot: {out}"));
}

#[test]
fn a_boot_image_outside_the_tree_is_carried_over() {
    let t = tempdir();
    let Some(orig) = original(t.path(), true) else {
        return;
    };
    let new = t.path().join("new.iso");
    let out = run(diskimg()
        .args(["create", "iso", "--from"])
        .arg(&orig)
        .arg("-o")
        .arg(&new));
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("outside the old file tree"), "{err}");
    let report = el_torito(&new);
    assert!(
        report.contains("El Torito img path :   2  /boot-images/eltorito-2-efi.img"),
        "{report}"
    );
    let got = t.path().join("got");
    extract(&new, &got);
    assert_eq!(
        std::fs::read(got.join("boot-images/eltorito-2-efi.img")).unwrap(),
        std::fs::read(t.path().join("efiboot.img")).unwrap(),
        "the UEFI image is carried over whole"
    );
}

#[test]
fn remaster_mistakes_are_clear_errors() {
    let t = tempdir();
    let Some(orig) = original(t.path(), false) else {
        return;
    };
    let new = t.path().join("new.iso");
    for (args, want) in [
        (
            vec!["--remove", "/isolinux/isolinux.bin"],
            "boot image 1: it cannot be removed",
        ),
        (vec!["--remove", "/no/such/file"], "is not in the image"),
    ] {
        let out = run(diskimg()
            .args(["create", "iso", "--from"])
            .arg(&orig)
            .args(&args)
            .arg("-o")
            .arg(&new));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(want),
            "{args:?}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(!new.exists());
    }
    // --add belongs to --from.
    let out = run(diskimg()
        .args(["create", "iso", "--add"])
        .arg(t.path())
        .arg("-o")
        .arg(&new));
    assert!(!out.status.success());
}
