//! `diskimg image --used-only` on disks made by other tools (the ntfs-hfs fixtures: an MBR
//! disk with an NTFS volume by mkntfs + ntfs-3g, an APM disk by parted with an HFS+ volume by
//! xorriso): what is left out reads as zeros, and independent tools (ntfsls, 7-Zip) see the
//! same volumes in the copy. Works on image files, so it needs no root.

mod common;

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

fn same_extraction(a: &Path, b: &Path, partition: &str) {
    let (x, y) = (tempdir(), tempdir());
    for (img, dir) in [(a, &x), (b, &y)] {
        ok(diskimg()
            .arg("extract")
            .arg(img)
            .args(["-p", partition, "-q", "-o"])
            .arg(dir.path().join("t")));
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
    same_extraction(&src, &out, "1");
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
    same_extraction(&src, &out, "2");
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
