//! Helpers for the VM-image tests: qemu-img as the reference reader, writer checker and map.
#![allow(dead_code)]

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The qcow2 fixtures and qemu-img, or `None` (with a message) when either is missing.
pub fn setup() -> Option<(PathBuf, PathBuf)> {
    let dir = fixtures("qcow2")?;
    let qemu = tool("qemu-img")?;
    Some((dir, qemu))
}

/// The qcow2 fixtures qemu-img can read without a key.
pub fn readable_images(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "qcow2"))
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with("luks"))
        .collect();
    v.sort();
    assert!(v.len() >= 15, "qcow2 fixtures missing in {}", dir.display());
    v
}

/// The guest bytes of `img` as qemu-img reads them, in a raw file in `tmp`.
pub fn qemu_raw(qemu: &Path, img: &Path, tmp: &Path) -> PathBuf {
    let out = tmp.join(format!(
        "{}.qemu.raw",
        img.file_name().unwrap().to_string_lossy()
    ));
    ok(Command::new(qemu)
        .args(["convert", "-O", "raw"])
        .arg(img)
        .arg(&out));
    out
}

/// Whether two files hold the same bytes (read in blocks, sizes first).
pub fn same_bytes(a: &Path, b: &Path) -> bool {
    use std::io::Read;
    let (ma, mb) = (std::fs::metadata(a).unwrap(), std::fs::metadata(b).unwrap());
    if ma.len() != mb.len() {
        return false;
    }
    let (mut fa, mut fb) = (
        std::fs::File::open(a).unwrap(),
        std::fs::File::open(b).unwrap(),
    );
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = fa.read(&mut ba).unwrap();
        if n == 0 {
            return true;
        }
        fb.read_exact(&mut bb[..n]).unwrap();
        if ba[..n] != bb[..n] {
            return false;
        }
    }
}

/// Runs of (start, length, kind) merged where adjacent and of one kind.
pub fn merge(runs: impl IntoIterator<Item = (u64, u64, String)>) -> Vec<(u64, u64, String)> {
    let mut out: Vec<(u64, u64, String)> = Vec::new();
    for (s, l, k) in runs {
        if let Some(last) = out.last_mut() {
            if last.2 == k && last.0 + last.1 == s {
                last.1 += l;
                continue;
            }
        }
        out.push((s, l, k));
    }
    out
}

/// `qemu-img map --output=json` as data / zero / unallocated runs.
pub fn qemu_map(qemu: &Path, img: &Path) -> Vec<(u64, u64, String)> {
    let v: Value = serde_json::from_slice(&ok(Command::new(qemu)
        .args(["map", "--output=json"])
        .arg(img)))
    .unwrap();
    merge(v.as_array().unwrap().iter().map(|e| {
        let kind = if e["data"].as_bool().unwrap() {
            "data"
        } else if e["present"].as_bool().unwrap() {
            "zero"
        } else {
            "unallocated"
        };
        (
            e["start"].as_u64().unwrap(),
            e["length"].as_u64().unwrap(),
            kind.to_owned(),
        )
    }))
}

/// `diskimg map --json` as runs.
pub fn our_map(img: &Path) -> Vec<(u64, u64, String)> {
    let v: Value =
        serde_json::from_slice(&ok(diskimg().arg("map").arg("--json").arg(img))).unwrap();
    merge(v.as_array().unwrap().iter().map(|e| {
        (
            e["start"].as_u64().unwrap(),
            e["length"].as_u64().unwrap(),
            e["kind"].as_str().unwrap().to_owned(),
        )
    }))
}

/// `qemu-img info --output=json`.
pub fn qemu_info(qemu: &Path, img: &Path) -> Value {
    serde_json::from_slice(&ok(Command::new(qemu)
        .args(["info", "--output=json"])
        .arg(img)))
    .unwrap()
}

/// Asserts that qemu-img check finds the image clean.
pub fn assert_qemu_check_clean(qemu: &Path, img: &Path) {
    let out = run(Command::new(qemu).arg("check").arg(img));
    assert!(
        out.status.success(),
        "qemu-img check {}: {}\n{}",
        img.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Asserts that qemu-img compare finds two images identical, in both directions.
pub fn assert_qemu_identical(qemu: &Path, a: &Path, b: &Path) {
    for (x, y) in [(a, b), (b, a)] {
        let out = run(Command::new(qemu).arg("compare").arg(x).arg(y));
        assert!(
            out.status.success(),
            "qemu-img compare {} {}: {}{}",
            x.display(),
            y.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Copies the fixture files `names` into `tmp` (for commands that change images).
pub fn copy_fixtures(dir: &Path, tmp: &Path, names: &[&str]) {
    for n in names {
        std::fs::copy(dir.join(n), tmp.join(n)).unwrap();
    }
}

/// Runs diskimg and returns (exit code, stderr), asserting it did not panic.
pub fn diskimg_status(args: &[&std::ffi::OsStr]) -> (i32, String) {
    let out = run(diskimg().args(args));
    let code = out.status.code().unwrap_or(-1);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_ne!(code, 101, "diskimg panicked: {err}");
    (code, err)
}
