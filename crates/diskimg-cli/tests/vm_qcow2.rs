//! The qcow2 reader against qemu-img (and libqcow's qcowinfo) on images made by qemu-img and
//! qemu-io (tests/fixtures/make-qcow2.sh): guest bytes, allocation maps, `info`, `check`.

mod common;
mod vm_common;

use common::*;
use serde_json::Value;
use std::process::Command;
use vm_common::*;

#[test]
fn guest_bytes_match_qemu_img() {
    let Some((dir, qemu)) = setup() else { return };
    let t = tempdir();
    for img in readable_images(&dir) {
        let theirs = qemu_raw(&qemu, &img, t.path());
        let ours = t.path().join("ours.raw");
        ok(diskimg()
            .args(["convert", "-q", "--overwrite", "-O", "raw"])
            .arg(&img)
            .arg(&ours));
        assert!(
            same_bytes(&ours, &theirs),
            "{}: guest bytes differ",
            img.display()
        );
        // The raw output is sparse: holes of the image stay holes.
        let m = std::fs::metadata(&ours).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert!(
            m.blocks() * 512 < m.len(),
            "{}: raw output is not sparse",
            img.display()
        );
    }
}

#[test]
fn allocation_map_matches_qemu_img_map() {
    let Some((dir, qemu)) = setup() else { return };
    let mut images = readable_images(&dir);
    images.push(dir.join("data.raw"));
    for img in images {
        assert_eq!(our_map(&img), qemu_map(&qemu, &img), "{}", img.display());
    }
}

#[test]
fn info_matches_qemu_img_info() {
    let Some((dir, qemu)) = setup() else { return };
    for img in readable_images(&dir) {
        let q = qemu_info(&qemu, &img);
        let ours: Value =
            serde_json::from_slice(&ok(diskimg().args(["info", "--json"]).arg(&img))).unwrap();
        let c = &ours["containers"][0];
        let name = img.display();
        assert_eq!(c["format"], "qcow2", "{name}");
        let d = &c["details"];
        assert_eq!(d["virtual_size"], q["virtual-size"], "{name}");
        assert_eq!(d["cluster_size"], q["cluster-size"], "{name}");
        let spec = &q["format-specific"]["data"];
        assert_eq!(d["compat"], spec["compat"], "{name}");
        assert_eq!(d["compression_type"], spec["compression-type"], "{name}");
        assert_eq!(d["refcount_bits"], spec["refcount-bits"], "{name}");
        if let Some(lazy) = spec.get("lazy-refcounts") {
            assert_eq!(&d["lazy_refcounts"], lazy, "{name}");
        }
        if let Some(ext) = spec.get("extended-l2") {
            assert_eq!(&d["extended_l2"], ext, "{name}");
        }
        let backing = q.get("backing-filename").cloned().unwrap_or(Value::Null);
        assert_eq!(d["backing_file"], backing, "{name}");
        let snaps: Vec<&str> = q
            .get("snapshots")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|s| s["name"].as_str().unwrap()).collect())
            .unwrap_or_default();
        let ours_snaps: Vec<&str> = d["snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(ours_snaps, snaps, "{name}");
    }
}

#[test]
fn backing_chain_is_listed() {
    let Some((dir, _)) = setup() else { return };
    let ours: Value = serde_json::from_slice(&ok(diskimg()
        .args(["info", "--json"])
        .arg(dir.join("top.qcow2"))))
    .unwrap();
    let chain = ours["containers"][0]["details"]["backing_chain"]
        .as_array()
        .unwrap()
        .clone();
    let names: Vec<String> = chain
        .iter()
        .map(|c| {
            std::path::Path::new(c["path"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(names, ["mid.qcow2", "base.qcow2"]);
    let text = String::from_utf8(ok(diskimg().arg("info").arg(dir.join("top.qcow2")))).unwrap();
    assert!(text.contains("backing_file: mid.qcow2"), "{text}");
}

#[test]
fn check_agrees_with_qemu_img_check() {
    let Some((dir, qemu)) = setup() else { return };
    for img in readable_images(&dir) {
        let theirs = run(Command::new(&qemu).arg("check").arg(&img));
        let (ours, err) = diskimg_status(&[std::ffi::OsStr::new("check"), img.as_os_str()]);
        assert_eq!(
            ours,
            theirs.status.code().unwrap(),
            "{}: {err}\nqemu-img: {}",
            img.display(),
            String::from_utf8_lossy(&theirs.stdout)
        );
    }
}

#[test]
fn encrypted_images_are_reported_as_unsupported() {
    let Some((dir, _)) = setup() else { return };
    let img = dir.join("luks.qcow2");
    for cmd in ["info", "map"] {
        let (code, err) = diskimg_status(&[cmd.as_ref(), img.as_os_str()]);
        assert_eq!(code, 1);
        assert!(
            err.contains("unsupported") && err.contains("encrypted"),
            "{err}"
        );
    }
}

#[test]
fn qcowinfo_reads_the_fixtures_as_we_do() {
    let Some((dir, _)) = setup() else { return };
    let Some(qcowinfo) = tool("qcowinfo") else {
        return;
    };
    for name in ["v2.qcow2", "v3.qcow2", "zlib.qcow2", "c512.qcow2"] {
        let img = dir.join(name);
        let text = String::from_utf8(ok(Command::new(&qcowinfo).arg(&img))).unwrap();
        let ours: Value =
            serde_json::from_slice(&ok(diskimg().args(["info", "--json"]).arg(&img))).unwrap();
        let d = &ours["containers"][0]["details"];
        let size = d["virtual_size"].as_u64().unwrap();
        assert!(
            text.contains(&format!("{size} bytes")),
            "{name}: qcowinfo says\n{text}"
        );
        assert!(
            text.contains(&format!("Format version\t\t: {}\n", d["version"])),
            "{name}: {text}"
        );
    }
}
