//! Shared by the CSO tests: the fixtures made by maxcso (tests/fixtures/make-cso.sh) and the
//! maxcso binary kept beside them.
#![allow(dead_code)]

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every image maxcso made, with the format diskimg should report.
pub const MAXCSO_IMAGES: &[(&str, &str, u64)] = &[
    ("cso1.cso", "cso", 2048),
    ("cso1_fast.cso", "cso", 2048),
    ("cso1_16k.cso", "cso", 16384),
    ("cso2.cso", "cso", 2048),
    ("cso2_lz4.cso", "cso", 2048),
    ("zso.zso", "zso", 2048),
    ("zso_8k.zso", "zso", 8192),
    ("dax.dax", "dax", 8192),
];

/// The fixture folder, or `None` when it was not built.
pub fn setup() -> Option<PathBuf> {
    fixtures("cso")
}

/// `maxcso` from the fixture folder.
pub fn maxcso(dir: &Path) -> Command {
    let mut c = Command::new(dir.join("maxcso"));
    c.args(["--quiet", "--threads=2"]);
    c
}

/// Decompresses `image` with maxcso into `out`.
pub fn maxcso_decompress(dir: &Path, image: &Path, out: &Path) {
    ok(maxcso(dir)
        .arg("--decompress")
        .arg(image)
        .arg("-o")
        .arg(out));
}

/// Whether two files hold the same bytes.
pub fn same_file(a: &Path, b: &Path) -> bool {
    std::fs::read(a).unwrap() == std::fs::read(b).unwrap()
}

/// `diskimg info --json`.
pub fn info(image: &Path) -> serde_json::Value {
    serde_json::from_slice(&ok(diskimg().args(["info", "--json"]).arg(image))).unwrap()
}
