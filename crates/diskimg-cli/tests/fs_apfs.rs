//! The APFS reader on containers made by macOS (the dissect.apfs test images: every decmpfs
//! type, resource forks, hard and symbolic links, devices, NFD names, snapshots, an HFS+
//! conversion, damaged checkpoints, an encrypted volume) and by mkapfs (apfsprogs), built by
//! tests/fixtures/make-apfs.sh. Listings and contents are compared with two independent
//! readers, libfsapfs and dissect.apfs; labels with fsapfsinfo. An APFS partition of a GPT
//! disk is read as is and through a DMG made by `diskimg convert`. Damaged copies made here
//! must give errors.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Images with a readable volume.
const READABLE: &[&str] = &[
    "macos/case_sensitive.img",
    "macos/case_insensitive.img",
    "macos/case_sensitive_beta.img",
    "macos/case_insensitive_beta.img",
    "macos/jhfs_converted.img",
    "macos/snapshot.img",
    "macos/corrupt.img",
    "mkapfs_ci.img",
    "mkapfs_cs.img",
    "mkapfs_plain.img",
];

/// One file as a reader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    kind: String,
    mode: u64,
    uid: u64,
    gid: u64,
    size: Option<u64>,
    sha256: Option<String>,
    link: Option<String>,
}

fn json(data: &[u8]) -> Value {
    serde_json::from_slice(data).unwrap()
}

fn reader_json(img: &Path, reader: &str) -> Value {
    let p = img.with_extension(format!("{reader}.json"));
    json(&std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
}

/// What diskimg sees: `ls -R --json` for the listing, `extract` for the contents.
fn ours(img: &Path, extra: &[&str]) -> BTreeMap<String, Seen> {
    let list = json(&ok(diskimg()
        .args(["ls", "-R", "--json"])
        .args(extra)
        .arg(img)));
    let t = tempdir();
    ok(diskimg()
        .arg("extract")
        .args(extra)
        .arg(img)
        .args(["--quiet", "-o"])
        .arg(t.path()));
    let files = tree(t.path());
    let mut out = BTreeMap::new();
    for e in list.as_array().unwrap() {
        let path = e["path"].as_str().unwrap().to_owned();
        let kind = e["type"].as_str().unwrap().to_owned();
        let (size, sha256) = if kind == "file" {
            match &files[path.trim_start_matches('/')].kind {
                Kind::File { size, sha256 } => {
                    assert_eq!(e["size"].as_u64(), Some(*size), "{path}: ls and extract");
                    (Some(*size), Some(sha256.clone()))
                }
                other => panic!("{path}: extracted as {other:?}"),
            }
        } else {
            (None, None)
        };
        out.insert(
            path,
            Seen {
                kind,
                mode: e["mode"].as_u64().unwrap(),
                uid: e["uid"].as_u64().unwrap(),
                gid: e["gid"].as_u64().unwrap(),
                size,
                sha256,
                link: e["target"].as_str().map(str::to_owned),
            },
        );
    }
    out
}

/// The first volume's files as a reader recorded them; files it could not read have no
/// size or hash. `None` when the reader could not open the container.
fn theirs(img: &Path, reader: &str) -> Option<(BTreeMap<String, Seen>, usize)> {
    let v = reader_json(img, reader);
    if v.get("error").is_some() {
        return None;
    }
    let mut out = BTreeMap::new();
    let mut unreadable = 0;
    for (path, f) in v["volumes"][0]["files"].as_object().unwrap() {
        unreadable += usize::from(f.get("error").is_some());
        out.insert(
            path.clone(),
            Seen {
                kind: f["type"].as_str().unwrap().to_owned(),
                mode: f["mode"].as_u64().unwrap(),
                uid: f["uid"].as_u64().unwrap(),
                gid: f["gid"].as_u64().unwrap(),
                size: f["size"].as_u64(),
                sha256: f["sha256"].as_str().map(str::to_owned),
                link: f["link"].as_str().map(str::to_owned),
            },
        );
    }
    Some((out, unreadable))
}

/// Compares our view with a reader's; returns how many file contents were compared.
fn compare(img: &Path, ours: &BTreeMap<String, Seen>, reader: &str) -> Option<usize> {
    let (theirs, _) = theirs(img, reader)?;
    let label = format!("{} vs {reader}", img.display());
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>(),
        "{label}: paths"
    );
    let mut contents = 0;
    for (path, a) in ours {
        let b = &theirs[path];
        assert_eq!(
            (&a.kind, a.mode, a.uid, a.gid, &a.link),
            (&b.kind, b.mode, b.uid, b.gid, &b.link),
            "{label}: {path}"
        );
        if b.sha256.is_some() {
            assert_eq!((a.size, &a.sha256), (b.size, &b.sha256), "{label}: {path}");
            contents += 1;
        }
    }
    Some(contents)
}

#[test]
fn trees_match_libfsapfs_and_dissect() {
    let Some(dir) = fixtures("apfs") else { return };
    let (mut by_libfsapfs, mut by_dissect) = (0, 0);
    for name in READABLE {
        let img = dir.join(name);
        let ours = ours(&img, &[]);
        by_dissect += compare(&img, &ours, "dissect")
            .unwrap_or_else(|| panic!("dissect.apfs could not read {name}"));
        by_libfsapfs += compare(&img, &ours, "libfsapfs").unwrap_or(0);
    }
    // Both readers compared real contents (libfsapfs 20201107 lacks LZFSE and snapshots'
    // object maps; dissect.apfs reads them all).
    assert!(
        by_dissect > 1000,
        "{by_dissect} files compared with dissect.apfs"
    );
    assert!(
        by_libfsapfs > 80,
        "{by_libfsapfs} files compared with libfsapfs"
    );
}

#[test]
fn every_decmpfs_type_reads() {
    let Some(dir) = fixtures("apfs") else { return };
    let img = dir.join("macos/case_insensitive.img");
    let t = theirs(&img, "dissect").unwrap().0;
    for codec in ["zlib", "lzvn", "lzfse"] {
        for place in ["xattr", "fork"] {
            let path = format!("/dir/compressed-{codec}-{place}");
            let data = ok(diskimg().arg("cat").arg(&img).arg(&path));
            assert_eq!(Some(sha256(&data)), t[&path].sha256, "{path}");
            let meta = json(&ok(diskimg()
                .args(["ls", "-l", "--json"])
                .arg(&img)
                .arg(&path)));
            assert_eq!(meta[0]["size"].as_u64(), Some(data.len() as u64), "{path}");
        }
    }
    // Compressed files are not stored plainly: no extents, yet extract reads them.
    let fork = ok(diskimg().arg("cat").arg(&img).arg("/dir/resourcefork:rsrc"));
    assert_eq!(fork, b"Resource fork data\n");
}

#[test]
fn lookups_follow_case_and_normalization_rules() {
    let Some(dir) = fixtures("apfs") else { return };
    let ci = dir.join("macos/case_insensitive.img");
    let cs = dir.join("macos/case_sensitive.img");
    assert_eq!(
        ok(diskimg().arg("cat").arg(&ci).arg("/DIR/FILE")),
        ok(diskimg().arg("cat").arg(&ci).arg("/dir/file"))
    );
    assert!(
        !run(diskimg().arg("cat").arg(&cs).arg("/DIR/FILE"))
            .status
            .success()
    );
    // The NFD-stored name is found by its NFC spelling.
    let nfc = "/nfd_t\u{e9}stfil\u{e8}";
    assert!(run(diskimg().arg("cat").arg(&cs).arg(nfc)).status.success());
    // A symbolic link's size is its target's length, as lstat gives it.
    let root = json(&ok(diskimg().args(["ls", "-l", "--json"]).arg(&cs)));
    let link = root
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "symlink-file")
        .unwrap();
    assert_eq!(link["target"], "dir/file");
    assert_eq!(link["size"], 8);
}

fn info(img: &Path) -> Value {
    json(&ok(diskimg().args(["info", "--json"]).arg(img)))
}

#[test]
fn labels_and_features_match_fsapfsinfo() {
    let Some(dir) = fixtures("apfs") else { return };
    let mut checked = 0;
    for name in READABLE.iter().chain(&["macos/encrypted.img"]) {
        let img = dir.join(name);
        let report = std::fs::read_to_string(img.with_extension("fsapfsinfo.txt")).unwrap();
        let Some(theirs) = report
            .lines()
            .find_map(|l| l.trim().strip_prefix("Name"))
            .map(|n| n.trim_start().trim_start_matches(':').trim().to_owned())
        else {
            continue;
        };
        let incompat = report
            .lines()
            .find_map(|l| l.trim().strip_prefix("Incompatible features"))
            .and_then(|v| v.split("0x").nth(1))
            .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
            .unwrap();
        let fs = &info(&img)["file_systems"][0];
        assert_eq!(fs["type"], "apfs", "{name}");
        assert_eq!(fs["label"].as_str(), Some(theirs.as_str()), "{name}");
        assert_eq!(
            fs["details"]["case_sensitive"].as_bool(),
            Some(incompat & 1 == 0),
            "{name}"
        );
        checked += 1;
    }
    assert!(checked >= 8, "{checked} labels compared");
}

#[test]
fn encrypted_volumes_are_listed_and_refused() {
    let Some(dir) = fixtures("apfs") else { return };
    let img = dir.join("macos/encrypted.img");
    let fs = &info(&img)["file_systems"][0];
    assert_eq!(fs["label"], "Encrypted");
    assert_eq!(fs["readable"], false);
    assert_eq!(fs["details"]["encrypted"], true);
    for args in [vec!["ls"], vec!["ls", "--namespace", "apfs:Encrypted"]] {
        let out = run(diskimg().args(&args).arg(&img));
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("encrypted"), "{err}");
    }
}

#[test]
fn volumes_are_picked_by_label_or_number() {
    let Some(dir) = fixtures("apfs") else { return };
    let img = dir.join("macos/case_sensitive.img");
    let all = ok(diskimg().args(["ls", "-R"]).arg(&img));
    for ns in ["apfs", "apfs:1", "apfs:Case Sensitive"] {
        let got = ok(diskimg().args(["ls", "-R", "--namespace", ns]).arg(&img));
        assert_eq!(got, all, "{ns}");
    }
    let out = run(diskimg().args(["ls", "--namespace", "apfs:2"]).arg(&img));
    assert!(!out.status.success());
}

#[test]
fn damaged_checkpoints_fall_back_to_an_older_one() {
    let Some(dir) = fixtures("apfs") else { return };
    let v = info(&dir.join("macos/corrupt.img"));
    assert_eq!(v["file_systems"][0]["details"]["checkpoint_xid"], 302);
    let warnings = v["warnings"].to_string();
    assert!(warnings.contains("xid 304"), "{warnings}");
    assert!(warnings.contains("checksum"), "{warnings}");
}

#[test]
fn apfs_partition_in_gpt_and_in_a_dmg() {
    let Some(dir) = fixtures("apfs") else { return };
    let raw = ours(&dir.join("macos/case_sensitive.img"), &[]);
    let gpt = dir.join("gpt_apfs.img");
    assert_eq!(ours(&gpt, &["-p", "1"]), raw, "GPT partition");
    assert_eq!(ours(&gpt, &[]), raw, "first readable partition");
    let t = tempdir();
    let dmg = t.path().join("apfs.dmg");
    ok(diskimg().args(["convert", "-q"]).arg(&gpt).arg(&dmg));
    assert_eq!(ours(&dmg, &["-p", "1"]), raw, "GPT in a DMG");
    let v = info(&dmg);
    assert!(v.to_string().contains("\"apfs\""), "{v}");
    // A bare container (no partition map) in a DMG.
    let bare = t.path().join("bare.dmg");
    ok(diskimg()
        .args(["convert", "-q"])
        .arg(dir.join("macos/case_sensitive.img"))
        .arg(&bare));
    assert_eq!(ours(&bare, &[]), raw, "bare container in a DMG");
}

/// A copy of `img` in a temporary folder.
fn copy(img: &Path, t: &Path) -> PathBuf {
    let p = t.join("copy.img");
    std::fs::copy(img, &p).unwrap();
    p
}

/// Offsets of the 4 KiB blocks whose object header has type `kind` and subtype `subtype`.
fn objects(data: &[u8], kind: u32, subtype: u32) -> Vec<usize> {
    (0..data.len() / 4096)
        .map(|i| i * 4096)
        .filter(|&o| {
            let t = u32::from_le_bytes(data[o + 24..o + 28].try_into().unwrap()) & 0xFFFF;
            let s = u32::from_le_bytes(data[o + 28..o + 32].try_into().unwrap());
            t == kind && s == subtype
        })
        .collect()
}

#[test]
fn damaged_copies_give_errors() {
    let Some(dir) = fixtures("apfs") else { return };
    let src = dir.join("macos/case_sensitive.img");
    let t = tempdir();
    // Every file-system tree node (type 2 or 3, subtype 0x0E) gets one byte changed: the
    // checksum no longer matches, and the listing says so.
    let p = copy(&src, t.path());
    let mut data = std::fs::read(&p).unwrap();
    let nodes: Vec<usize> = [2, 3]
        .iter()
        .flat_map(|&k| objects(&data, k, 0x0E))
        .collect();
    assert!(!nodes.is_empty());
    for o in nodes {
        data[o + 100] ^= 0x55;
    }
    std::fs::write(&p, &data).unwrap();
    let out = run(diskimg().args(["ls", "-R"]).arg(&p));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("checksum"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Cut short before the object maps: an error naming the truncation. Cut later: the
    // listing may work, reads of what is missing fail; never a hang or a panic.
    for (len, must_fail) in [
        (4096u64, true),
        (64 * 1024, true),
        (1 << 20, false),
        (3 << 20, false),
    ] {
        let p = copy(&src, t.path());
        std::fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .unwrap()
            .set_len(len)
            .unwrap();
        let out = run(diskimg()
            .args(["extract", "--quiet", "-o"])
            .arg(t.path().join(format!("x{len}")))
            .arg(&p));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{len}: {err}");
        if must_fail {
            assert!(!out.status.success(), "{len}");
            assert!(err.contains("truncated image"), "{len}: {err}");
        }
    }
}

#[test]
fn used_only_copies_keep_every_file() {
    let Some(dir) = fixtures("apfs") else { return };
    let t = tempdir();
    for (name, part) in [
        ("macos/case_sensitive.img", None),
        ("macos/snapshot.img", None),
        ("macos/jhfs_converted.img", None),
        ("gpt_apfs.img", Some("1")),
        ("mkapfs_cs.img", None),
    ] {
        let src = dir.join(name);
        let out = t.path().join(name.replace('/', "_"));
        let r = json(&ok(diskimg()
            .arg("image")
            .arg(&src)
            .arg(&out)
            .args(["--used-only", "--json"])));
        assert!(r["maps_from"].to_string().contains("apfs"), "{name}: {r}");
        assert!(r["unused"].as_u64().unwrap() > 0, "{name}: {r}");
        let extra: Vec<&str> = part.map(|p| vec!["-p", p]).unwrap_or_default();
        assert_eq!(ours(&out, &extra), ours(&src, &extra), "{name}");
        // apfsck checks the copy of a container it can check.
        if name.starts_with("mkapfs") {
            if let Some(apfsck) = tool("apfsck") {
                ok(std::process::Command::new(apfsck).arg(&out));
            }
        }
    }
}
