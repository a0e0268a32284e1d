//! The NTFS reader against ntfs-3g's own tools (ntfsls, ntfscat) and 7-Zip, on a volume made
//! by mkntfs and filled through the ntfs-3g FUSE driver (tests/fixtures/make-ntfs-hfs.sh):
//! LZNT1-compressed files, sparse files, alternate data streams, hard links, Interix and
//! Windows symbolic links, attributes.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn json(args: &[&str], img: &Path) -> Value {
    let out = ok(diskimg().args(args).arg(img));
    serde_json::from_slice(&out).unwrap()
}

/// The listing entry of `path` (from its directory's listing, so symlinks are not followed).
fn ls_json(img: &Path, path: &str) -> Value {
    let (dir, _) = path.rsplit_once('/').unwrap();
    let dir = if dir.is_empty() { "/" } else { dir };
    let out = ok(diskimg().arg("ls").arg("--json").arg(img).arg(dir));
    let all: Value = serde_json::from_slice(&out).unwrap();
    all.as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == path)
        .unwrap_or_else(|| panic!("{path} not listed"))
        .clone()
}

/// Every path (relative, no leading slash) that `ntfsls -R` lists.
fn ntfsls_paths(ntfsls: &Path, img: &Path) -> BTreeSet<String> {
    let out = String::from_utf8(ok(Command::new(ntfsls).arg("-R").arg(img))).unwrap();
    let mut dir = String::new();
    let mut paths = BTreeSet::new();
    for line in out.lines() {
        if let Some(d) = line.strip_suffix(':').filter(|d| d.starts_with('/')) {
            dir = d.trim_start_matches('/').to_owned();
        } else if !line.is_empty() && line != "." && line != ".." {
            paths.insert(if dir.is_empty() {
                line.to_owned()
            } else {
                format!("{dir}/{line}")
            });
        }
    }
    paths
}

#[test]
fn tree_matches_ntfsls() {
    let (Some(dir), Some(ntfsls)) = (fixtures("ntfs-hfs"), tool("ntfsls")) else {
        return;
    };
    let img = dir.join("ntfs.img");
    let theirs = ntfsls_paths(&ntfsls, &img);
    let listing = json(&["ls", "--json", "-R"], &img);
    let ours: BTreeSet<String> = listing
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["path"]
                .as_str()
                .unwrap()
                .trim_start_matches('/')
                .to_owned()
        })
        .collect();
    assert_eq!(ours, theirs);
}

#[test]
fn every_file_matches_ntfscat() {
    let (Some(dir), Some(ntfscat)) = (fixtures("ntfs-hfs"), tool("ntfscat")) else {
        return;
    };
    let img = dir.join("ntfs.img");
    let t = tempdir();
    let out = t.path().join("x");
    ok(diskimg()
        .arg("extract")
        .arg(&img)
        .arg("-o")
        .arg(&out)
        .arg("--quiet"));
    let mut checked = 0;
    for (path, entry) in tree(&out) {
        let Kind::File { sha256: ours, size } = entry.kind else {
            continue;
        };
        if path.starts_with("many/file") && !path.ends_with("0.txt") {
            continue; // a sample of the 500 small files is enough
        }
        let theirs = ok(Command::new(&ntfscat).arg(&img).arg(format!("/{path}")));
        assert_eq!(theirs.len() as u64, size, "{path}");
        assert_eq!(sha256(&theirs), ours, "{path}");
        checked += 1;
    }
    assert!(checked > 60, "only {checked} files compared");
}

#[test]
fn regular_files_match_7zip() {
    let (Some(dir), Some(sz)) = (fixtures("ntfs-hfs"), tool("7zz")) else {
        return;
    };
    let img = dir.join("ntfs.img");
    let t = tempdir();
    let (ours, theirs) = (t.path().join("ours"), t.path().join("theirs"));
    ok(diskimg()
        .arg("extract")
        .arg(&img)
        .arg("-o")
        .arg(&ours)
        .arg("--quiet"));
    // 7-Zip (26.02) reports a data error on the sparse file ntfs-3g wrote (ntfscat and we agree on
    // its bytes, see every_file_matches_ntfscat) and extracts everything else.
    let out = run(Command::new(sz)
        .arg("x")
        .arg("-y")
        .arg(&img)
        .arg(format!("-o{}", theirs.display())));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success()
            || (text.matches("Error :").count() == 1 && text.contains("Data Error : sparse.bin")),
        "7-Zip failed: {text}"
    );
    let theirs = tree(&theirs);
    let mut compared = 0;
    for (path, entry) in tree(&ours) {
        if path == "sparse.bin" {
            continue;
        }
        if let Kind::File { .. } = entry.kind {
            compared += 1;
            assert_eq!(
                Some(&entry.kind),
                theirs.get(&path).map(|e| &e.kind),
                "{path}"
            );
        }
    }
    assert!(compared > 500, "only {compared} files compared");
    // 7-Zip writes alternate data streams as `file:stream`; we read them by the same name.
    let theirs_ads = &theirs["streams.txt:ads_two"].kind;
    let ads = ok(diskimg().arg("cat").arg(&img).arg("/streams.txt:ads_two"));
    assert_eq!(
        theirs_ads,
        &Kind::File {
            size: ads.len() as u64,
            sha256: sha256(&ads)
        }
    );
}

#[test]
fn streams_links_attributes_and_compression() {
    let Some(dir) = fixtures("ntfs-hfs") else {
        return;
    };
    let img = dir.join("ntfs.img");
    let info = json(&["info", "--json"], &img);
    let fs = &info["file_systems"][0];
    assert_eq!(fs["type"], "ntfs");
    assert_eq!(fs["label"], "NTFS fixture");
    let used = fs["usage"]["used"].as_u64().unwrap();
    assert!(used > 4 << 20 && used < fs["usage"]["total"].as_u64().unwrap());

    let out = ok(diskimg()
        .arg("ls")
        .arg("--json")
        .arg(&img)
        .arg("/streams.txt"));
    let s = serde_json::from_slice::<Value>(&out).unwrap()[0].clone();
    let streams: Vec<(String, u64)> = s["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["name"].as_str().unwrap().into(),
                x["size"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        streams,
        vec![("ads_one".into(), 13), ("ads_two".into(), 50_000)]
    );
    let one = ok(diskimg().arg("cat").arg(&img).arg("/streams.txt:ads_one"));
    assert_eq!(one, b"first stream\n");

    let a = ls_json(&img, "/README.TXT");
    let b = ls_json(&img, "/data/hardlink2.txt");
    assert_eq!(a["ino"], b["ino"]);
    assert_eq!(a["nlink"], 3);
    assert_eq!(ls_json(&img, "/interix_link")["target"], "README.TXT");
    assert_eq!(ls_json(&img, "/windows_link")["target"], "README.TXT");
    assert_eq!(ls_json(&img, "/many/link_to_data")["target"], "../data");
    let ro = ls_json(&img, "/readonly.txt");
    assert_eq!(ro["mode"], 0o444);
    assert!(ro["flags"].as_array().unwrap().contains(&"readonly".into()));
    assert!(
        ls_json(&img, "/hidden.txt")["flags"]
            .as_array()
            .unwrap()
            .contains(&"hidden".into())
    );
    assert_eq!(
        ls_json(&img, "/README.TXT")["mtime"],
        "2023-11-14T22:13:20Z"
    );
    for f in [
        "text.txt",
        "random.bin",
        "mixed.bin",
        "sparse_compressed.bin",
    ] {
        let m = ls_json(&img, &format!("/compressed/{f}"));
        assert!(
            m["flags"]
                .as_array()
                .unwrap()
                .contains(&"compressed".into()),
            "{f} is not compressed: {m}"
        );
    }
    assert!(
        ls_json(&img, "/sparse.bin")["flags"]
            .as_array()
            .unwrap()
            .contains(&"sparse".into())
    );
    let text = ok(diskimg().arg("cat").arg(&img).arg("/compressed/text.txt"));
    let expected: String = (0..40000)
        .map(|i| format!("line {i} of a compressible text file\n"))
        .collect();
    assert!(text == expected.as_bytes(), "LZNT1 text differs");
}

#[test]
fn partition_of_an_mbr_disk() {
    let Some(dir) = fixtures("ntfs-hfs") else {
        return;
    };
    let whole = ok(diskimg().args(["ls", "-R"]).arg(dir.join("ntfs.img")));
    let part = ok(diskimg()
        .args(["ls", "-R", "-p", "1"])
        .arg(dir.join("ntfs_mbr.img")));
    assert_eq!(whole, part);
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

/// Runs `diskimg` on a damaged image: errors are fine, a panic or a hang is not.
fn survives(img: &Path, args: &[&str], what: &str) {
    let out = run(diskimg().args(args).arg(img));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code().is_some_and(|c| c != 101) && !err.contains("panicked"),
        "{what}: {err}"
    );
}

#[test]
fn damaged_volumes_give_errors_not_panics() {
    let Some(dir) = fixtures("ntfs-hfs") else {
        return;
    };
    let clean = std::fs::read(dir.join("ntfs.img")).unwrap();
    let bps = u64::from(u16::from_le_bytes([clean[11], clean[12]]));
    let cluster = bps * u64::from(clean[13]);
    let mft = u64::from_le_bytes(clean[0x30..0x38].try_into().unwrap()) * cluster;
    let t = tempdir();
    // What is damaged: the root directory's record, user file records, whole MFT regions, and
    // the index of the 500-file directory (found by name in the clean image).
    let many = clean
        .windows(16)
        .position(|w| {
            w == "file0250"
                .encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect::<Vec<_>>()
        })
        .unwrap() as u64;
    let cases: Vec<(&str, u64, usize)> = vec![
        ("root record", mft + 5 * 1024 + 56, 900),
        ("user records", mft + 64 * 1024, 40 * 1024),
        ("MFT header records", mft, 4 * 1024),
        ("index of many/", many & !4095, 4096),
        ("index entries of many/", many - 200, 400),
    ];
    for (i, (what, at, len)) in cases.into_iter().enumerate() {
        for seed in 0..3u64 {
            let mut img = clean.clone();
            let at = at as usize;
            img[at..at + len].copy_from_slice(&noise(seed * 31 + i as u64, len));
            let path = t.path().join(format!("damaged{i}_{seed}.img"));
            std::fs::write(&path, &img).unwrap();
            survives(&path, &["ls", "-R"], what);
            let out = t.path().join(format!("x{i}_{seed}"));
            survives(
                &path,
                &["extract", "--quiet", "-o", out.to_str().unwrap()],
                what,
            );
        }
    }
}
