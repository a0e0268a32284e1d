//! The command line on ISO images: output forms, exit codes, one-line errors, and safe,
//! atomic extraction.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Output;

fn fixture(name: &str) -> Option<PathBuf> {
    fixtures("iso").map(|d| d.join(name))
}

/// A failed run: exit code 1, and stderr is one line naming the problem.
fn assert_one_line_error(out: &Output, contains: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line expected: {err}");
    assert!(err.starts_with("diskimg: "), "{err}");
    assert!(
        err.contains(contains),
        "{err:?} should contain {contains:?}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn missing_and_unrecognised_files_are_one_line_errors() {
    let t = tempdir();
    let out = run(diskimg().args(["info"]).arg(t.path().join("nope.iso")));
    assert_one_line_error(&out, "nope.iso");
    let junk = t.path().join("junk.bin");
    std::fs::write(&junk, vec![0x5au8; 100_000]).unwrap();
    assert_one_line_error(
        &run(diskimg().arg("ls").arg(&junk)),
        "no readable file system",
    );
    assert_one_line_error(&run(diskimg().arg("ls").arg(t.path())), "directory");
}

#[test]
fn truncated_images_fail_cleanly_at_every_cut() {
    let Some(img) = fixture("rr_joliet_xorriso.iso") else {
        return;
    };
    let data = std::fs::read(&img).unwrap();
    let t = tempdir();
    let cut = t.path().join("cut.iso");
    for len in [
        0usize,
        1000,
        32 * 1024,
        34 * 1024,
        40 * 1024,
        60 * 1024,
        100 * 1024,
        200 * 1024,
    ] {
        std::fs::write(&cut, &data[..len]).unwrap();
        for args in [vec!["ls", "-R"], vec!["info"]] {
            let out = run(diskimg().args(&args).arg(&cut));
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!err.contains("panicked"), "cut at {len}: {err}");
            assert!(
                matches!(out.status.code(), Some(0 | 1)),
                "cut at {len}: {err}"
            );
        }
    }
    // Cut inside the file data: the tree lists, extraction reports the damaged files and
    // leaves neither half-written files nor temporary files behind.
    std::fs::write(&cut, &data[..data.len() / 2]).unwrap();
    let out_dir = t.path().join("out");
    let out = run(diskimg().arg("extract").arg(&cut).arg("-o").arg(&out_dir));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("out of bounds") || err.contains("past the end"),
        "{err}"
    );
    for (path, e) in tree(&out_dir) {
        assert!(!path.contains(".diskimg-"), "temporary file left: {path}");
        if let Kind::File { size, .. } = e.kind {
            let expect = std::fs::metadata(img.parent().unwrap().join("trees/full").join(&path))
                .map(|m| m.len())
                .unwrap_or(size);
            assert_eq!(size, expect, "{path} is complete or absent");
        }
    }
}

#[test]
fn json_outputs_parse_and_carry_the_documented_fields() {
    let Some(img) = fixture("eltorito_isohybrid_xorriso.iso") else {
        return;
    };
    let info: serde_json::Value =
        serde_json::from_slice(&ok(diskimg().args(["info", "--json"]).arg(&img))).unwrap();
    assert_eq!(info["schema"], 1);
    for f in info["file_systems"].as_array().unwrap() {
        assert!(f["type"].is_string() && f.get("label").is_some(), "{f}");
    }
    assert_eq!(info["partition_table"]["scheme"], "mbr");
    assert!(
        info["boot"]["el_torito"]["entries"][0]["bootable"]
            .as_bool()
            .unwrap()
    );
    let ls: serde_json::Value = serde_json::from_slice(&ok(diskimg()
        .args(["ls", "--json"])
        .arg(&img)
        .arg("/isolinux")))
    .unwrap();
    let names: Vec<&str> = ls
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"isolinux.bin"), "{names:?}");
    let e = &ls[0];
    for key in ["path", "name", "type", "size", "mode", "mtime"] {
        assert!(e.get(key).is_some(), "missing {key}: {e}");
    }
}

#[test]
fn text_info_shows_the_partition_table_and_the_iso() {
    let Some(img) = fixture("eltorito_isohybrid_xorriso.iso") else {
        return;
    };
    let text = String::from_utf8(ok(diskimg().arg("info").arg(&img))).unwrap();
    for want in [
        "partition table: MBR",
        "rockridge \"FIX_BOOT\" (default)",
        "joliet",
        "El Torito",
        "isolinux.bin",
    ] {
        assert!(text.contains(want), "{want} missing in:\n{text}");
    }
}

#[test]
fn ls_forms() {
    let Some(img) = fixture("rr_joliet_xorriso.iso") else {
        return;
    };
    let short = String::from_utf8(ok(diskimg().arg("ls").arg(&img).arg("/bin"))).unwrap();
    assert_eq!(
        short.lines().collect::<Vec<_>>(),
        ["link_to_data_dir", "run.sh"],
        "sorted by name"
    );
    let long = String::from_utf8(ok(diskimg().args(["ls", "-l"]).arg(&img).arg("/bin"))).unwrap();
    assert!(
        long.lines()
            .any(|l| l.starts_with("-rwxr-xr-x") && l.ends_with(" run.sh")),
        "{long}"
    );
    assert!(
        long.lines()
            .any(|l| l.starts_with('l') && l.ends_with("link_to_data_dir -> ../DATA")),
        "{long}"
    );
    // A symlink to a directory given as the path is followed, as ls does.
    let via_link = String::from_utf8(ok(diskimg()
        .arg("ls")
        .arg(&img)
        .arg("/bin/link_to_data_dir")))
    .unwrap();
    assert!(via_link.contains("RAND1.BIN"), "{via_link}");
    let file = String::from_utf8(ok(diskimg().arg("ls").arg(&img).arg("/README.TXT"))).unwrap();
    assert_eq!(file.trim(), "README.TXT");
    let err = run(diskimg().args(["ls", "--namespace", "udf"]).arg(&img));
    assert_one_line_error(&err, "rockridge, joliet, iso9660");
}

#[test]
fn cat_writes_exact_bytes() {
    let Some(img) = fixture("rr_joliet_xorriso.iso") else {
        return;
    };
    let trees = img.parent().unwrap().join("trees/full");
    let out = ok(diskimg().arg("cat").arg(&img).arg("/DATA/BIG.BIN"));
    assert_eq!(sha256(&out), sha256_file(&trees.join("DATA/BIG.BIN")));
    let two = ok(diskimg()
        .arg("cat")
        .arg(&img)
        .arg("/README.TXT")
        .arg("/link_to_readme"));
    let readme = std::fs::read(trees.join("README.TXT")).unwrap();
    assert_eq!(two, [readme.clone(), readme].concat());
    assert_one_line_error(
        &run(diskimg().arg("cat").arg(&img).arg("/DATA")),
        "not a regular file",
    );
}

#[test]
fn extract_subtrees_and_single_files() {
    let Some(img) = fixture("rr_joliet_xorriso.iso") else {
        return;
    };
    let t = tempdir();
    ok(diskimg()
        .arg("extract")
        .arg(&img)
        .arg("/MANY/../DATA/")
        .arg("/README.TXT")
        .arg("-o")
        .arg(t.path())
        .arg("-q"));
    let got: Vec<String> = tree(t.path()).into_keys().collect();
    assert!(got.contains(&"DATA/RAND1.BIN".to_owned()), "{got:?}");
    assert!(got.contains(&"README.TXT".to_owned()), "{got:?}");
    assert!(!got.iter().any(|p| p.starts_with("MANY")), "{got:?}");
}

#[test]
fn existing_outputs_fail_unless_told() {
    let Some(img) = fixture("l1_genisoimage.iso") else {
        return;
    };
    let t = tempdir();
    let dest = t.path().join("out");
    ok(diskimg()
        .arg("extract")
        .arg(&img)
        .arg("-o")
        .arg(&dest)
        .arg("-q"));
    assert_one_line_error(
        &run(diskimg()
            .arg("extract")
            .arg(&img)
            .arg("-o")
            .arg(&dest)
            .arg("-q")),
        "--overwrite",
    );
    std::fs::write(dest.join("README.TXT"), b"mine").unwrap();
    ok(diskimg()
        .arg("extract")
        .arg(&img)
        .arg("-o")
        .arg(&dest)
        .arg("-q")
        .arg("--skip-existing"));
    assert_eq!(std::fs::read(dest.join("README.TXT")).unwrap(), b"mine");
    ok(diskimg()
        .arg("extract")
        .arg(&img)
        .arg("-o")
        .arg(&dest)
        .arg("-q")
        .arg("--overwrite"));
    assert_ne!(std::fs::read(dest.join("README.TXT")).unwrap(), b"mine");
}

#[test]
fn default_output_folder_is_named_after_the_image() {
    let Some(img) = fixture("l1_genisoimage.iso") else {
        return;
    };
    let t = tempdir();
    ok(diskimg()
        .current_dir(t.path())
        .arg("extract")
        .arg(&img)
        .arg("-q"));
    assert!(t.path().join("l1_genisoimage/README.TXT").is_file());
}

/// Replaces every occurrence of `from` by `to` (same length) in a copy of `img`.
fn patched(img: &Path, from: &[u8], to: &[u8], dir: &Path) -> PathBuf {
    assert_eq!(from.len(), to.len());
    let mut data = std::fs::read(img).unwrap();
    let mut n = 0;
    let mut i = 0;
    while i + from.len() <= data.len() {
        if &data[i..i + from.len()] == from {
            data[i..i + from.len()].copy_from_slice(to);
            n += 1;
        }
        i += 1;
    }
    assert!(n > 0, "pattern not found");
    let out = dir.join("patched.iso");
    std::fs::write(&out, data).unwrap();
    out
}

#[test]
fn names_that_climb_out_are_refused_or_sanitised() {
    let Some(img) = fixture("rr_joliet_xorriso.iso") else {
        return;
    };
    let t = tempdir();
    // Rock Ridge NM entries of the directories d1 (in /) and d2 (in /d1): "d1" becomes "..",
    // "d2"... is reached only through d1, so rename "bin" instead: "bin" -> "a/b".
    let step1 = patched(&img, b"NM\x07\x01\x00d1", b"NM\x07\x01\x00..", t.path());
    let img2 = patched(
        &step1,
        b"NM\x08\x01\x00bin",
        b"NM\x08\x01\x00a/b",
        &t.path().join(""),
    );
    let dest = t.path().join("sandbox/out");
    std::fs::create_dir_all(&dest).unwrap();
    let out = run(diskimg().arg("extract").arg(&img2).arg("-o").arg(&dest));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("skipped: the name is unsafe"), "{err}");
    assert!(err.contains("written as 'a_b'"), "{err}");
    assert!(dest.join("a_b/run.sh").is_file());
    // Nothing appeared beside the target.
    let beside: Vec<_> = std::fs::read_dir(t.path().join("sandbox"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(beside, ["out"]);
}

#[test]
fn never_writes_through_a_symlink_in_the_target() {
    let Some(img) = fixture("rr_joliet_xorriso.iso") else {
        return;
    };
    let t = tempdir();
    let victim = t.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    let dest = t.path().join("out");
    std::fs::create_dir(&dest).unwrap();
    std::os::unix::fs::symlink(&victim, dest.join("DATA")).unwrap();
    let out = run(diskimg()
        .arg("extract")
        .arg(&img)
        .arg("-o")
        .arg(&dest)
        .arg("-q"));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a directory"));
    assert_eq!(
        std::fs::read_dir(&victim).unwrap().count(),
        0,
        "wrote through the symlink"
    );
    // Symlinks from the image are created as symlinks, never followed.
    let clean = t.path().join("clean");
    ok(diskimg()
        .arg("extract")
        .arg(&img)
        .arg("-o")
        .arg(&clean)
        .arg("-q"));
    assert_eq!(
        std::fs::read_link(clean.join("absolute_link")).unwrap(),
        Path::new("/etc/passwd")
    );
}

#[test]
fn boot_images_need_a_catalog() {
    let Some(img) = fixture("l1_genisoimage.iso") else {
        return;
    };
    let t = tempdir();
    assert_one_line_error(
        &run(diskimg()
            .args(["extract", "--boot-images"])
            .arg(&img)
            .arg("-o")
            .arg(t.path())),
        "no El Torito boot catalog",
    );
}
