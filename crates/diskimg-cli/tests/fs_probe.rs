//! Each file system's probe claims its own images only: every fs fixture is recognised as
//! exactly one file system and no partition table, and the disks as a table and no file system.

mod common;

use common::*;
use std::path::Path;

fn info(img: &Path) -> serde_json::Value {
    serde_json::from_slice(&ok(diskimg().arg("info").arg("--json").arg(img))).unwrap()
}

fn kinds(v: &serde_json::Value) -> Vec<String> {
    v["file_systems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["type"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn each_image_is_exactly_its_own_file_system() {
    let Some(dir) = fixtures("fs") else { return };
    let mut expected = vec![
        ("fat12.img", "fat12"),
        ("fat16.img", "fat16"),
        ("fat32.img", "fat32"),
        ("exfat.img", "exfat"),
        ("ext2.img", "ext2"),
        ("ext3.img", "ext3"),
        ("ext4.img", "ext4"),
        ("ext4_inline.img", "ext4"),
        ("ext4_32bit_nocsum.img", "ext4"),
    ];
    let squash: Vec<String> = [
        "gzip",
        "lzo",
        "lz4",
        "xz",
        "zstd",
        "lzma",
        "uncompressed",
        "4k_fragments",
    ]
    .iter()
    .map(|c| format!("squashfs_{c}.img"))
    .collect();
    expected.extend(squash.iter().map(|s| (s.as_str(), "squashfs")));
    for (name, kind) in expected {
        let v = info(&dir.join(name));
        assert_eq!(kinds(&v), [kind], "{name}");
        assert!(v["partition_table"].is_null(), "{name}: no partition table");
        assert!(
            v["file_systems"][0]["readable"].as_bool().unwrap(),
            "{name}"
        );
    }
    for (disk, parts) in [
        ("gpt_disk.img", vec!["fat32", "ext4", "squashfs", "exfat"]),
        (
            "mbr_disk.img",
            vec!["fat16", "ext4", "exfat", "fat12", "squashfs"],
        ),
    ] {
        let v = info(&dir.join(disk));
        assert!(
            kinds(&v).is_empty(),
            "{disk}: no file system on the whole disk"
        );
        let found: Vec<String> = v["partition_table"]["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| !p["content"].is_null())
            .flat_map(|p| kinds(&p["content"]))
            .collect();
        assert_eq!(found, parts, "{disk}");
    }
}
