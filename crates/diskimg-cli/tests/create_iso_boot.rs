//! `diskimg create iso` with El Torito, hybrid MBR/GPT and an implanted MD5: checked with
//! xorriso, checkisomd5, sfdisk, gdisk, mtools and by booting isolinux under QEMU from a CD and
//! from a disk.

mod common;

use common::boot::*;
use common::*;
use std::path::Path;
use std::process::{Command, Stdio};

fn make_boot_iso(tree: &Path, out: &Path) {
    ok(diskimg()
        .args(["create", "iso", "-q"])
        .arg(tree)
        .arg("-o")
        .arg(out)
        .args([
            "--boot-bios",
            "isolinux/isolinux.bin",
            "--boot-uefi",
            "efiboot.img",
            "--hybrid",
            "--md5",
        ]));
}

#[test]
fn el_torito_hybrid_and_md5_read_by_reference_tools() {
    let (Some(xorriso), Some(sfdisk), Some(checkisomd5)) =
        (tool("xorriso"), tool("sfdisk"), tool("checkisomd5"))
    else {
        return;
    };
    let t = tempdir();
    let Some(tree) = boot_tree(t.path()) else {
        return;
    };
    let img = t.path().join("boot.iso");
    make_boot_iso(&tree, &img);

    let report = String::from_utf8(ok(Command::new(&xorriso)
        .arg("-indev")
        .arg(&img)
        .args(["-report_el_torito", "plain"])))
    .unwrap();
    let imgs: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with("El Torito boot img :"))
        .collect();
    assert_eq!(imgs.len(), 2, "{report}");
    assert!(
        imgs[0].contains("BIOS")
            && imgs[0].contains(" none ")
            && imgs[0].split_whitespace().rev().nth(1) == Some("4"),
        "{report}"
    );
    assert!(imgs[1].contains("UEFI"), "{report}");
    assert!(
        report.contains("El Torito img path :   1  /isolinux/isolinux.bin"),
        "{report}"
    );
    assert!(
        report.contains("El Torito img path :   2  /efiboot.img"),
        "{report}"
    );
    assert!(
        report.contains("El Torito cat path : /isolinux/boot.cat"),
        "{report}"
    );

    // The boot images xorriso extracts: the UEFI image as given, isolinux with its boot
    // information table filled in (bytes 8..64) and otherwise as given.
    let out = t.path().join("xboot");
    ok(Command::new(&xorriso)
        .args(["-osirrox", "on", "-indev"])
        .arg(&img)
        .arg("-extract_boot_images")
        .arg(&out));
    let efi = std::fs::read(out.join("eltorito_img2_uefi.img")).unwrap();
    assert_eq!(efi, std::fs::read(tree.join("efiboot.img")).unwrap());
    let bios = std::fs::read(out.join("eltorito_img1_bios.img")).unwrap();
    let src = std::fs::read(ISOLINUX).unwrap();
    assert_eq!(bios[64..], src[64..]);
    assert_eq!(
        u32::from_le_bytes(bios[8..12].try_into().unwrap()),
        16,
        "table: primary descriptor sector"
    );
    assert_eq!(
        u32::from_le_bytes(bios[16..20].try_into().unwrap()) as usize,
        src.len(),
        "table: file length"
    );

    let md5 = run(Command::new(&checkisomd5).arg(&img));
    assert!(
        md5.status.success(),
        "{}",
        String::from_utf8_lossy(&md5.stdout)
    );

    let v: serde_json::Value =
        serde_json::from_slice(&ok(Command::new(&sfdisk).arg("-J").arg(&img))).unwrap();
    let parts = v["partitiontable"]["partitions"].as_array().unwrap();
    let size = std::fs::metadata(&img).unwrap().len();
    assert_eq!(
        size % (1 << 20),
        0,
        "a hybrid image ends on a 1 MiB boundary"
    );
    assert_eq!(parts[0]["start"], 0);
    assert_eq!(parts[0]["size"].as_u64().unwrap() * 512, size);
    assert_eq!(parts[0]["type"], "17");
    assert_eq!(parts[0]["bootable"], true);
    assert_eq!(parts[1]["type"], "ef");
    assert_eq!(parts[1]["size"].as_u64().unwrap() * 512, efi.len() as u64);

    // Our own reader: the GPT's EFI system partition holds the FAT image's files.
    let info: serde_json::Value =
        serde_json::from_slice(&ok(diskimg().args(["info", "--json"]).arg(&img))).unwrap();
    assert_eq!(info["partition_table"]["scheme"], "gpt");
    let listed = String::from_utf8(ok(diskimg().args(["ls", "-R", "-p", "1"]).arg(&img))).unwrap();
    assert!(
        listed
            .lines()
            .any(|l| l.eq_ignore_ascii_case("/EFI/BOOT/BOOTX64.EFI")),
        "{listed}"
    );
}

#[test]
fn gdisk_accepts_the_gpt() {
    let (Some(sgdisk), Some(gdisk)) = (tool("sgdisk"), tool("gdisk")) else {
        return;
    };
    let t = tempdir();
    let Some(tree) = boot_tree(t.path()) else {
        return;
    };
    let img = t.path().join("boot.iso");
    make_boot_iso(&tree, &img);
    // The hybrid MBR's partition 1 covers the whole image, the EFI image included, as isohybrid
    // and xorriso make it: gdisk calls that an MBR problem. Every check of the GPT must pass.
    let v = run(Command::new(&sgdisk).arg("-v").arg(&img));
    let text = String::from_utf8_lossy(&v.stdout);
    let problems: Vec<&str> = text.lines().filter(|l| l.starts_with("Problem:")).collect();
    assert!(
        problems.iter().all(|p| p.contains("MBR partitions")),
        "{text}"
    );
    // Told to use the GPT, gdisk lists the EFI system partition.
    let mut child = Command::new(&gdisk)
        .arg("-l")
        .arg(&img)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"2\n").unwrap();
    let out = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
    assert!(
        out.lines()
            .any(|l| l.contains("EF00") && l.contains("EFI boot")),
        "{out}"
    );
}

#[test]
fn floppy_and_hard_disk_emulation() {
    let (Some(xorriso), Some(mkfs), Some(sfdisk)) =
        (tool("xorriso"), tool("mkfs.fat"), tool("sfdisk"))
    else {
        return;
    };
    let t = tempdir();
    let tree = t.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    ok(Command::new(mkfs)
        .args(["-C", "-n", "FLOPPY"])
        .arg(tree.join("floppy.img"))
        .arg("1440"));
    let hd = tree.join("hd.img");
    std::fs::File::create(&hd)
        .unwrap()
        .set_len(4 << 20)
        .unwrap();
    let mut child = Command::new(sfdisk)
        .arg("-q")
        .arg(&hd)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"label: dos\nstart=2048, size=6144, type=6, bootable\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
    for (flag, file, emul) in [
        ("--boot-floppy", "floppy.img", "fd1.4"),
        ("--boot-hd", "hd.img", "hd"),
    ] {
        let img = t.path().join(format!("{file}.iso"));
        ok(diskimg()
            .args(["create", "iso", "-q"])
            .arg(&tree)
            .arg("-o")
            .arg(&img)
            .args([flag, file]));
        let report = String::from_utf8(ok(Command::new(&xorriso)
            .arg("-indev")
            .arg(&img)
            .args(["-report_el_torito", "plain"])))
        .unwrap();
        let line = report
            .lines()
            .find(|l| l.starts_with("El Torito boot img :"))
            .unwrap_or_else(|| panic!("{report}"));
        assert!(line.split_whitespace().any(|w| w == emul), "{flag}: {line}");
        let out = t.path().join(format!("{file}.x"));
        ok(diskimg()
            .args(["extract", "-q", "--boot-images"])
            .arg(&img)
            .arg("-o")
            .arg(&out));
        let got = std::fs::read_dir(&out)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        assert_eq!(
            std::fs::read(got).unwrap(),
            std::fs::read(tree.join(file)).unwrap(),
            "{flag}"
        );
    }
}

#[test]
fn boots_under_qemu_from_a_cd_and_from_a_disk() {
    let Some(qemu) = qemu() else { return };
    let t = tempdir();
    let Some(tree) = boot_tree(t.path()) else {
        return;
    };
    let img = t.path().join("boot.iso");
    make_boot_iso(&tree, &img);
    let want = format!("Loading {MARK}");
    let path = img.to_str().unwrap();
    boots_to(&qemu, &["-cdrom", path, "-boot", "d"], &want)
        .unwrap_or_else(|out| panic!("CD boot: {out}"));
    let drive = format!("file={path},format=raw,if=ide");
    boots_to(&qemu, &["-drive", &drive, "-boot", "c"], &want)
        .unwrap_or_else(|out| panic!("disk boot: {out}"));
}
