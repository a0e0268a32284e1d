//! `diskimg image` into every container format, checked by qemu-img (loop devices: needs root,
//! skips otherwise); `diskimg image --used-only` on disks made by other tools (the ntfs-hfs fixtures: an MBR
//! disk with an NTFS volume by mkntfs + ntfs-3g, an APM disk by parted with an HFS+ volume by
//! xorriso): what is left out reads as zeros, and independent tools (ntfsls, 7-Zip) see the
//! same volumes in the copy. Works on image files, so it needs no root.

mod common;

use common::loopdev;
use common::*;
use std::path::Path;
use std::process::Command;

fn used_only(src: &Path, out: &Path, extra: &[&str]) -> serde_json::Value {
    serde_json::from_slice(&ok(diskimg()
        .arg("image")
        .arg(src)
        .arg(out)
        .args(["--used-only", "--json"])
        .args(extra)))
    .unwrap()
}

fn same_extraction(a: &Path, b: &Path, partition: Option<&str>) {
    let (x, y) = (tempdir(), tempdir());
    for (img, dir) in [(a, &x), (b, &y)] {
        let mut cmd = diskimg();
        cmd.arg("extract").arg(img);
        if let Some(p) = partition {
            cmd.args(["-p", p]);
        }
        ok(cmd.args(["-q", "-o"]).arg(dir.path().join("t")));
    }
    assert_same_tree(
        &x.path().join("t"),
        &y.path().join("t"),
        Compare::default(),
        "copy vs original",
    );
}

#[test]
fn ntfs_free_clusters_are_left_out() {
    let Some(fx) = fixtures("ntfs-hfs") else {
        return;
    };
    let src = fx.join("ntfs_mbr.img");
    let tmp = tempdir();
    let out = tmp.path().join("copy.img");
    let map = tmp.path().join("copy.map");
    let r = used_only(&src, &out, &["--mapfile", map.to_str().unwrap()]);
    assert!(r["maps_from"].to_string().contains("ntfs"), "{r}");
    assert!(r["unused"].as_u64().unwrap() > 16 << 20, "{r}");
    assert_eq!(
        std::fs::metadata(&out).unwrap().len(),
        std::fs::metadata(&src).unwrap().len()
    );
    same_extraction(&src, &out, Some("1"));
    // ntfs-3g's ntfsls reads the copied volume as it reads the original.
    let Some(ntfsls) = tool("ntfsls") else { return };
    let part = |img: &Path, name: &str| {
        let p = tmp.path().join(name);
        let data = std::fs::read(img).unwrap();
        // Partition 1 starts at sector 2048 (sfdisk's default alignment).
        std::fs::write(&p, &data[1 << 20..]).unwrap();
        String::from_utf8(ok(Command::new(&ntfsls).args(["-R", "-l", "-a"]).arg(&p))).unwrap()
    };
    assert_eq!(part(&out, "a.ntfs"), part(&src, "b.ntfs"));
    // The mapfile says which ranges were read (+) and which were not (?).
    let text = std::fs::read_to_string(&map).unwrap();
    assert!(text.starts_with("# Mapfile. Created by diskimg"), "{text}");
    assert!(text.lines().any(|l| l.ends_with(" ?")), "{text}");
    assert!(text.lines().any(|l| l.ends_with(" +")), "{text}");
}

#[test]
fn hfsplus_volume_survives_and_the_slack_after_it_is_left_out() {
    let Some(fx) = fixtures("ntfs-hfs") else {
        return;
    };
    let src = fx.join("apm_parted.img");
    let tmp = tempdir();
    let out = tmp.path().join("copy.img");
    let r = used_only(&src, &out, &[]);
    assert!(r["maps_from"].to_string().contains("hfsplus"), "{r}");
    assert!(r["unused"].as_u64().unwrap() > 0, "{r}");
    same_extraction(&src, &out, Some("2"));
    // 7-Zip lists partition 2 of both alike and tests every file of the copy.
    let Some(sz) = tool("7zz") else { return };
    let part = |img: &Path, name: &str| {
        let p = tmp.path().join(name);
        let data = std::fs::read(img).unwrap();
        std::fs::write(&p, &data[1 << 20..8 << 20]).unwrap();
        p
    };
    let (a, b) = (part(&out, "a.hfs"), part(&src, "b.hfs"));
    let list =
        |p: &Path| String::from_utf8(ok(Command::new(&sz).args(["l", "-ba"]).arg(p))).unwrap();
    assert_eq!(list(&a), list(&b));
    ok(Command::new(&sz).arg("t").arg(&a));
}

/// The qemu-img name of each container diskimg writes, by extension.
const CONTAINERS: &[(&str, &str)] = &[
    ("qcow2", "qcow2"),
    ("vhdx", "vhdx"),
    ("vdi", "vdi"),
    ("vmdk", "vmdk"),
    ("vhd", "vpc"),
];

fn qemu_compare(a: &Path, a_fmt: &str, b: &Path, b_fmt: &str) {
    ok(Command::new("qemu-img")
        .args(["compare", "-q", "-f", a_fmt, "-F", b_fmt])
        .arg(a)
        .arg(b));
}

/// A loop device (a real block device read with O_DIRECT) imaged into every container format:
/// qemu-img checks each image and finds it equal to the drive; with --used-only and -c, the
/// qcow2 is equal to the raw used-only copy, and what was not read is not allocated in it.
#[test]
fn a_drive_imaged_into_every_container_format_is_what_qemu_img_reads() {
    if !loopdev::ready() || tool("qemu-img").is_none() {
        return;
    }
    let Some(fx) = fixtures("mount-serve") else {
        return;
    };
    let tmp = tempdir();
    let back = tmp.path().join("disk.img");
    std::fs::copy(fx.join("gpt.raw"), &back).unwrap();
    let Some(l) = loopdev::Loop::new(&back) else {
        return;
    };
    for (ext, qfmt) in CONTAINERS {
        let out = tmp.path().join(format!("copy.{ext}"));
        let r: serde_json::Value = serde_json::from_slice(&ok(diskimg()
            .arg("image")
            .arg(&l.dev)
            .arg(&out)
            .arg("--json")))
        .unwrap();
        assert_eq!(r["bad_bytes"], 0, "{r}");
        assert_eq!(r["read"], r["size"], "{r}");
        if *qfmt != "vpc" {
            // qemu-img has no check for VHD.
            ok(Command::new("qemu-img")
                .args(["check", "-q", "-f", qfmt])
                .arg(&out));
        }
        qemu_compare(&back, "raw", &out, qfmt);
    }
    // -O names the format whatever the extension; -o passes writer options.
    let named = tmp.path().join("backup.bin");
    let r: serde_json::Value = serde_json::from_slice(&ok(diskimg()
        .arg("image")
        .arg(&l.dev)
        .arg(&named)
        .args(["-O", "vhdx", "-o", "subformat=fixed", "--json"])))
    .unwrap();
    assert_eq!(r["format"], "vhdx");
    qemu_compare(&back, "raw", &named, "vhdx");
    // --used-only into a compressed qcow2: the same bytes as the raw used-only copy.
    let (raw, q) = (tmp.path().join("used.img"), tmp.path().join("used.qcow2"));
    let rr: serde_json::Value = serde_json::from_slice(&ok(diskimg()
        .arg("image")
        .arg(&l.dev)
        .arg(&raw)
        .args(["--used-only", "--json"])))
    .unwrap();
    let rq: serde_json::Value = serde_json::from_slice(&ok(diskimg()
        .arg("image")
        .arg(&l.dev)
        .arg(&q)
        .args(["--used-only", "-c", "--json"])))
    .unwrap();
    assert!(rq["unused"].as_u64().unwrap() > 16 << 20, "{rq}");
    assert!(rq["stats"]["units_encoded"].as_u64().unwrap() > 0, "{rq}");
    assert_eq!(rr["format"], "raw");
    ok(Command::new("qemu-img").args(["check", "-q"]).arg(&q));
    qemu_compare(&raw, "raw", &q, "qcow2");
    // Nothing the copy did not read is allocated in the qcow2 (qemu-img map lists data).
    let map: serde_json::Value = serde_json::from_slice(&ok(Command::new("qemu-img")
        .args(["map", "--output=json", "-f", "qcow2"])
        .arg(&q)))
    .unwrap();
    let data: u64 = map
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["data"] == true)
        .map(|e| e["length"].as_u64().unwrap())
        .sum();
    assert!(data <= rq["read"].as_u64().unwrap(), "{data} {rq}");
    // The raw copy keeps its holes: it takes less room on disk than the drive is long.
    let blocks = std::os::unix::fs::MetadataExt::blocks(&std::fs::metadata(&raw).unwrap());
    assert!(blocks * 512 < rr["size"].as_u64().unwrap() / 2, "{blocks}");
}

/// An output that exists is kept without --overwrite, an unwritable container is refused,
/// and either way nothing is left behind.
#[test]
fn refusals_leave_nothing() {
    let Some(fx) = fixtures("mount-serve") else {
        return;
    };
    let tmp = tempdir();
    let src = fx.join("halfsparse.raw");
    for name in ["x.wim", "x.qcow2"] {
        let out = tmp.path().join(name);
        if name == "x.qcow2" {
            std::fs::write(&out, b"keep").unwrap();
        }
        let r = run(diskimg().arg("image").arg(&src).arg(&out));
        assert!(!r.status.success());
        assert_eq!(
            std::fs::read_dir(tmp.path()).unwrap().count(),
            usize::from(name == "x.qcow2")
        );
    }
    assert_eq!(std::fs::read(tmp.path().join("x.qcow2")).unwrap(), b"keep");
}

/// Images of `names` in fixture area `area`, when it was built.
fn fixture_images(area: &str, names: &[&str]) -> Vec<std::path::PathBuf> {
    fixtures(area).map_or_else(Vec::new, |fx| {
        names.iter().map(|n| fx.join(format!("{n}.img"))).collect()
    })
}

/// The used-only copy of `src`: its report, after checking that the file system's map was
/// used and that a large part of the volume (all but a third) was not read.
fn mostly_unread_copy(src: &Path, out: &Path, kind: &str) -> serde_json::Value {
    let r = used_only(src, out, &["--overwrite"]);
    assert!(r["maps_from"].to_string().contains(kind), "{r}");
    let (size, read) = (r["size"].as_u64().unwrap(), r["read"].as_u64().unwrap());
    assert!(read < size / 3 * 2, "{}: {r}", src.display());
    assert_eq!(r["unused"].as_u64().unwrap(), size - read, "{r}");
    r
}

/// ext2/3/4 made by mke2fs -d (the fs fixtures: one or more groups; the drive fixtures: 16
/// groups, flex_bg with uninitialised groups, meta_bg), copied with --used-only: e2fsck finds
/// the copy clean and debugfs dumps the same files from it as from the original. In the drive
/// fixtures every free block held 0xEE: the copy keeps holes there.
#[test]
fn ext_used_only_copies_pass_e2fsck_and_hold_the_same_files() {
    let (Some(e2fsck), Some(debugfs)) = (tool("e2fsck"), tool("debugfs")) else {
        return;
    };
    let mut images = fixture_images(
        "fs",
        &["ext2", "ext3", "ext4", "ext4_inline", "ext4_32bit_nocsum"],
    );
    let junk = fixture_images("drive", &["ext4_flex", "ext4_meta_bg"]);
    images.extend(junk.iter().cloned());
    for src in &images {
        let tmp = tempdir();
        let out = tmp.path().join("copy.img");
        let r = mostly_unread_copy(src, &out, "ext");
        ok(Command::new(&e2fsck).arg("-fn").arg(&out));
        let dump = |img: &Path, name: &str| {
            let d = tmp.path().join(name);
            std::fs::create_dir(&d).unwrap();
            ok(Command::new(&debugfs)
                .arg("-R")
                .arg(format!("rdump / {}", d.display()))
                .arg(img));
            d
        };
        let (a, b) = (dump(&out, "copy"), dump(src, "orig"));
        assert_same_tree(&a, &b, Compare::default(), &src.display().to_string());
        if junk.contains(src) {
            let on_disk = std::os::unix::fs::MetadataExt::blocks(&std::fs::metadata(&out).unwrap());
            assert!(
                on_disk * 512 <= r["read"].as_u64().unwrap(),
                "{on_disk} {r}"
            );
        }
    }
}

/// FAT12/16/32 made by mkfs.fat + mcopy and exFAT made by mkfs.exfat (the fs fixtures), copied
/// with --used-only: fsck.fat / fsck.exfat find the copy clean; mtools copies the same files
/// out of it as out of the original (exFAT: diskimg extracts the same files).
#[test]
fn fat_and_exfat_used_only_copies_pass_fsck_and_hold_the_same_files() {
    let (Some(fsck_fat), Some(mcopy)) = (tool("fsck.fat"), tool("mcopy")) else {
        return;
    };
    for src in fixture_images("fs", &["fat12", "fat16", "fat32"]) {
        let tmp = tempdir();
        let out = tmp.path().join("copy.img");
        mostly_unread_copy(&src, &out, "fat");
        ok(Command::new(&fsck_fat).arg("-n").arg(&out));
        let dump = |img: &Path, name: &str| {
            let d = tmp.path().join(name);
            std::fs::create_dir(&d).unwrap();
            ok(Command::new(&mcopy)
                .args(["-s", "-m", "-n", "-i"])
                .arg(img)
                .arg("::*")
                .arg(&d));
            d
        };
        let (a, b) = (dump(&out, "copy"), dump(&src, "orig"));
        assert_same_tree(&a, &b, Compare::default(), &src.display().to_string());
    }
    let Some(fsck_exfat) = tool("fsck.exfat") else {
        return;
    };
    for src in fixture_images("fs", &["exfat"]) {
        let tmp = tempdir();
        let out = tmp.path().join("copy.img");
        mostly_unread_copy(&src, &out, "exfat");
        ok(Command::new(&fsck_exfat).arg("-n").arg(&out));
        same_extraction(&src, &out, None);
    }
}

/// Disks with several file systems (the fs fixtures: GPT with FAT32, ext4 and exFAT; MBR with
/// FAT16, ext4, exFAT and FAT12 in primary and logical partitions): every map is used, and
/// each partition of the GPT disk reads the same.
#[test]
fn every_file_system_of_a_disk_gives_its_map() {
    for (src, parts) in fixture_images("fs", &["gpt_disk", "mbr_disk"])
        .into_iter()
        .zip([3, 4])
    {
        let tmp = tempdir();
        let out = tmp.path().join("copy.img");
        let r = used_only(&src, &out, &[]);
        let maps = r["maps_from"].as_array().unwrap();
        assert_eq!(maps.len(), parts, "{r}");
        assert!(
            r["unused"].as_u64().unwrap() > r["size"].as_u64().unwrap() / 3,
            "{r}"
        );
        if parts == 3 {
            for p in 1..=parts {
                same_extraction(&src, &out, Some(&p.to_string()));
            }
        }
    }
}
