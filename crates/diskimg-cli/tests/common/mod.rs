//! Helpers shared by the integration tests: fixtures, reference tools, running diskimg, and
//! comparing extracted trees.
//!
//! Fixtures are built by `tests/fixtures/make-fixtures.sh`. When they or a reference tool are
//! missing, a test prints why and passes, unless `DISKIMG_REQUIRE_FIXTURES=1` (set by
//! `scripts/test.sh` and CI), where a missing fixture or tool fails the test.
#![allow(dead_code)]

pub mod boot;
pub mod loopdev;

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Whether missing fixtures and tools are failures.
pub fn strict() -> bool {
    std::env::var("DISKIMG_REQUIRE_FIXTURES").is_ok_and(|v| v == "1")
}

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The fixture folder of `area`, or `None` (with a message) when it was not built.
pub fn fixtures(area: &str) -> Option<PathBuf> {
    let dir = repo().join("tests/fixtures/out").join(area);
    if dir.join(".done").exists() {
        return Some(dir);
    }
    let msg = format!("fixtures '{area}' missing: run tests/fixtures/make-fixtures.sh {area}");
    assert!(!strict(), "{msg}");
    eprintln!("skipped: {msg}");
    None
}

/// The path of a reference tool, or `None` (with a message) when it is not installed.
pub fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let msg = format!("reference tool '{name}' missing: run scripts/test.sh (installs it)");
        assert!(!strict(), "{msg}");
        eprintln!("skipped: {msg}");
    }
    found
}

/// Runs a command, returning its output; panics if it cannot start.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs a command that must succeed; returns stdout.
pub fn ok(cmd: &mut Command) -> Vec<u8> {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A `diskimg` command.
pub fn diskimg() -> Command {
    Command::new(env!("CARGO_BIN_EXE_diskimg"))
}

/// What a compared tree entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    File { size: u64, sha256: String },
    Dir,
    Symlink(String),
}

/// One entry of a tree on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    pub mode: u32,
    pub mtime: i64,
}

/// Hash of a host file.
pub fn sha256_file(path: &Path) -> String {
    let mut h = Sha256::new();
    let mut f = std::fs::File::open(path).unwrap();
    std::io::copy(&mut f, &mut h).unwrap();
    hex(&h.finalize())
}

/// Hash of bytes.
pub fn sha256(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Every entry below `root`, by path relative to it (`/`-separated, no leading slash).
pub fn tree(root: &Path) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Entry>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        let m = p.symlink_metadata().unwrap();
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let kind = if m.file_type().is_symlink() {
            Kind::Symlink(
                std::fs::read_link(&p)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            )
        } else if m.is_dir() {
            walk(root, &p, out);
            Kind::Dir
        } else {
            Kind::File {
                size: m.len(),
                sha256: sha256_file(&p),
            }
        };
        out.insert(
            rel,
            Entry {
                kind,
                mode: m.permissions().mode() & 0o777,
                mtime: m.mtime(),
            },
        );
    }
}

/// What to compare besides paths, types, sizes, contents and link targets.
#[derive(Debug, Clone, Copy, Default)]
pub struct Compare {
    pub modes: bool,
    pub file_times: bool,
    pub dir_times: bool,
}

/// Asserts that two extracted trees hold the same entries.
pub fn assert_same_tree(ours: &Path, theirs: &Path, what: Compare, label: &str) {
    let a = tree(ours);
    let b = tree(theirs);
    let only_a: Vec<_> = a.keys().filter(|k| !b.contains_key(*k)).collect();
    let only_b: Vec<_> = b.keys().filter(|k| !a.contains_key(*k)).collect();
    assert!(
        only_a.is_empty() && only_b.is_empty(),
        "{label}: paths differ\n  only in ours: {only_a:?}\n  only in reference: {only_b:?}"
    );
    for (path, ea) in &a {
        let eb = &b[path];
        assert_eq!(ea.kind, eb.kind, "{label}: {path}");
        let is_link = matches!(ea.kind, Kind::Symlink(_));
        let is_dir = ea.kind == Kind::Dir;
        if what.modes && !is_link {
            assert_eq!(
                ea.mode, eb.mode,
                "{label}: mode of {path} ({:o} vs {:o})",
                ea.mode, eb.mode
            );
        }
        if (what.file_times && !is_dir && !is_link) || (what.dir_times && is_dir) {
            assert_eq!(ea.mtime, eb.mtime, "{label}: mtime of {path}");
        }
    }
}

/// A fresh temporary folder.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}
