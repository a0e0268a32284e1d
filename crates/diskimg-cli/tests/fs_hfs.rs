//! The HFS+ reader on volumes written by xorriso (HFS+ beside ISO 9660 behind an Apple
//! partition map, 2048- and 512-byte map blocks) and copied into a parted-made APM disk
//! (tests/fixtures/make-ntfs-hfs.sh); compared with the tree xorriso was given and with 7-Zip.
//! An HFS wrapper is built around the volume in code; damaged copies must give errors.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use unicode_normalization::UnicodeNormalization;

/// The extracted tree with names in NFC (HFS+ stores NFD; the source tree is NFC).
fn nfc_tree(root: &Path) -> BTreeMap<String, Entry> {
    tree(root)
        .into_iter()
        .map(|(k, v)| (k.nfc().collect(), v))
        .collect()
}

fn extract(img: &Path, part: &str, dest: &Path) {
    ok(diskimg()
        .arg("extract")
        .arg(img)
        .args(["-p", part, "--quiet", "-o"])
        .arg(dest));
}

/// The partition number of the `Apple_HFS` entry.
fn hfs_partition(img: &Path) -> String {
    let out = ok(diskimg().args(["info", "--json"]).arg(img));
    let info: Value = serde_json::from_slice(&out).unwrap();
    let parts = info["partition_table"]["partitions"].as_array().unwrap();
    let p = parts.iter().find(|p| p["type"] == "Apple_HFS").unwrap();
    p["index"].to_string()
}

fn source(dir: &Path) -> PathBuf {
    dir.join("work/hfs_tree")
}

#[test]
fn volumes_match_the_source_tree() {
    let Some(dir) = fixtures("ntfs-hfs") else {
        return;
    };
    let src = nfc_tree(&source(dir.as_path()));
    for img in [
        "hfsplus_hybrid_2048.iso",
        "hfsplus_hybrid_512.iso",
        "apm_parted.img",
    ] {
        let img = dir.join(img);
        let t = tempdir();
        extract(&img, &hfs_partition(&img), t.path());
        let ours = nfc_tree(t.path());
        assert_eq!(
            ours.keys().collect::<Vec<_>>(),
            src.keys().collect::<Vec<_>>(),
            "{}",
            img.display()
        );
        for (path, e) in &ours {
            let s = &src[path];
            assert_eq!(e.kind, s.kind, "{path}");
            if !matches!(e.kind, Kind::Symlink(_)) {
                assert_eq!(e.mode, s.mode, "mode of {path}");
            }
            if matches!(e.kind, Kind::File { .. }) {
                assert_eq!(e.mtime, s.mtime, "mtime of {path}");
            }
        }
    }
}

#[test]
fn files_match_7zip() {
    let (Some(dir), Some(sz)) = (fixtures("ntfs-hfs"), tool("7zz")) else {
        return;
    };
    let img = dir.join("apm_parted.img");
    let t = tempdir();
    // 7-Zip opens the APM, then the HFS+ volume in it.
    ok(Command::new(&sz)
        .args(["e", "-y"])
        .arg(&img)
        .arg(format!("-o{}", t.path().display()))
        .arg("MacHD.hfs"));
    let theirs_dir = t.path().join("theirs");
    // 7-Zip refuses to write the symlink that leaves its folder (`../data`) and says so.
    let out = run(Command::new(&sz)
        .args(["x", "-y"])
        .arg(t.path().join("MacHD.hfs"))
        .arg(format!("-o{}", theirs_dir.display())));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success()
            || text
                .lines()
                .all(|l| !l.contains("ERROR") || l.contains("Dangerous link")),
        "7-Zip failed: {text}"
    );
    let ours_dir = t.path().join("ours");
    extract(&img, "2", &ours_dir);
    let theirs = nfc_tree(&theirs_dir.join("HFS_FIXTURE"));
    let ours = nfc_tree(&ours_dir);
    let mut compared = 0;
    for (path, e) in &ours {
        if let Kind::File { .. } = e.kind {
            assert_eq!(Some(&e.kind), theirs.get(path).map(|x| &x.kind), "{path}");
            compared += 1;
        }
    }
    assert!(compared > 400, "only {compared} files compared");
}

#[test]
fn lookups_label_and_usage() {
    let Some(dir) = fixtures("ntfs-hfs") else {
        return;
    };
    let img = dir.join("apm_parted.img");
    let cat = |path: &str| ok(diskimg().arg("cat").arg(&img).args(["-p", "2", path]));
    // Case-insensitive HFS+: any case finds the file; an NFC name finds the NFD one.
    assert_eq!(cat("/case/MIXEDCASE.txt"), b"mixed\n");
    assert_eq!(cat("/ünïcødé/日本語.txt"), "こんにちは\n".as_bytes());
    let out = ok(diskimg().args(["info", "--json"]).arg(&img));
    let info: Value = serde_json::from_slice(&out).unwrap();
    let fs = &info["partition_table"]["partitions"][1]["content"]["file_systems"][0];
    assert_eq!(fs["type"], "hfsplus", "{info}");
    assert_eq!(fs["label"], "HFS_FIXTURE");
    let used = fs["usage"]["used"].as_u64().unwrap();
    assert!(used > 2 << 20 && used <= fs["usage"]["total"].as_u64().unwrap());
}

/// The HFS+ volume of partition 2 of the APM fixture (its bytes).
fn hfs_volume(dir: &Path) -> Vec<u8> {
    let disk = std::fs::read(dir.join("apm_parted.img")).unwrap();
    disk[1 << 20..8 << 20].to_vec()
}

#[test]
fn hfs_wrapper_around_the_volume() {
    let Some(dir) = fixtures("ntfs-hfs") else {
        return;
    };
    let vol = hfs_volume(&dir);
    // An HFS master directory block at 1024 embedding the HFS+ volume: allocation blocks of
    // 2048 bytes starting at sector 4, the embedded volume at allocation block 1 (byte 4096).
    let mut img = vec![0u8; 4096];
    img[1024..1026].copy_from_slice(b"BD");
    img[1024 + 20..1024 + 24].copy_from_slice(&2048u32.to_be_bytes());
    img[1024 + 28..1024 + 30].copy_from_slice(&4u16.to_be_bytes());
    img[1024 + 124..1024 + 126].copy_from_slice(b"H+");
    img[1024 + 126..1024 + 128].copy_from_slice(&1u16.to_be_bytes());
    let blocks = (vol.len() / 2048) as u16;
    img[1024 + 128..1024 + 130].copy_from_slice(&blocks.to_be_bytes());
    img.extend_from_slice(&vol);
    let t = tempdir();
    let (plain, wrapped) = (t.path().join("plain.img"), t.path().join("wrapped.img"));
    std::fs::write(&plain, &vol).unwrap();
    std::fs::write(&wrapped, &img).unwrap();
    let a = ok(diskimg().args(["ls", "-l", "-R"]).arg(&plain));
    let b = ok(diskimg().args(["ls", "-l", "-R"]).arg(&wrapped));
    assert!(a.len() > 1000);
    assert_eq!(a, b);
    let info = String::from_utf8(ok(diskimg().args(["info", "--json"]).arg(&wrapped))).unwrap();
    assert!(info.contains("\"hfs_wrapper\": true"), "{info}");
}

/// Deterministic bytes for damaging fixtures.
fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn damaged_volumes_give_errors_not_panics() {
    let Some(dir) = fixtures("ntfs-hfs") else {
        return;
    };
    let clean = hfs_volume(&dir);
    let be32 = |o: usize| u32::from_be_bytes(clean[o..o + 4].try_into().unwrap()) as usize;
    let block = be32(1024 + 40);
    let catalog = be32(1024 + 272 + 16) * block;
    let node_size = usize::from(u16::from_be_bytes([
        clean[catalog + 32],
        clean[catalog + 33],
    ]));
    let t = tempdir();
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    // Noise over the catalog header node, over leaf nodes, and over the whole catalog start.
    for (what, at, len) in [
        ("catalog header", catalog, 512),
        ("catalog nodes", catalog + node_size, 4 * node_size),
        ("catalog", catalog, 16 * node_size),
    ] {
        for seed in 0..3u64 {
            let mut img = clean.clone();
            img[at..at + len].copy_from_slice(&noise(seed + at as u64, len));
            cases.push((format!("{what} {seed}"), img));
        }
    }
    // Every catalog node's forward link pointing at itself (a loop in the leaf chain), and
    // the root pointing at the header node.
    let mut looped = clean.clone();
    for n in 1..16 {
        let o = catalog + n * node_size;
        looped[o..o + 4].copy_from_slice(&(n as u32).to_be_bytes());
    }
    cases.push(("leaf chain loop".into(), looped));
    let mut root = clean.clone();
    root[catalog + 16..catalog + 20].copy_from_slice(&0u32.to_be_bytes());
    root[catalog + 14..catalog + 16].copy_from_slice(&200u16.to_be_bytes());
    cases.push(("root is the header node".into(), root));
    for (i, (what, img)) in cases.iter().enumerate() {
        let path = t.path().join(format!("d{i}.img"));
        std::fs::write(&path, img).unwrap();
        for args in [&["ls", "-R"][..], &["extract", "--quiet", "-o"][..]] {
            let mut cmd = diskimg();
            cmd.args(args);
            if args[0] == "extract" {
                cmd.arg(t.path().join(format!("x{i}")));
            }
            let out = run(cmd.arg(&path));
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.code().is_some_and(|c| c != 101) && !err.contains("panicked"),
                "{what}: {err}"
            );
        }
    }
}
