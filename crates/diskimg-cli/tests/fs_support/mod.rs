//! Helpers shared by the file-system tests: loop mounts, and snapshots of a tree (ours from
//! the library, theirs from the host) in the same words so that differences print plainly.
#![allow(dead_code)]

use crate::common::*;
use diskimg::fs::{FileSystem, FileSystemExt, FileType};
use diskimg::time::Timestamp;
use diskimg::{Image, Selection};
use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

/// What we compare about one node, as text so that differences print plainly.
pub type Snapshot = BTreeMap<String, String>;

/// A read-only loop mount that goes away with the guard.
pub struct Mount {
    dir: tempfile::TempDir,
}

impl Mount {
    pub fn new(img: &Path, fstype: &str, opts: &str) -> Option<Mount> {
        let dir = tempdir();
        let out = run(Command::new("mount")
            .args(["-t", fstype, "-o", opts])
            .arg(img)
            .arg(dir.path()));
        if !out.status.success() {
            let msg = format!(
                "cannot loop-mount {} ({}): {}",
                img.display(),
                fstype,
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(!strict(), "{msg}");
            eprintln!("skipped: {msg}");
            return None;
        }
        Some(Mount { dir })
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

pub fn stamp(secs: i64, nanos: i64) -> String {
    Timestamp {
        secs,
        nanos: nanos as u32,
    }
    .to_string()
}

/// The host's view of a tree: type, mode, owner, size, times, links, device numbers,
/// link targets, and a hash of regular files. Special files are never opened.
pub fn host_snapshot(root: &Path, with_owner: bool) -> Snapshot {
    let mut out = Snapshot::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let m = p.symlink_metadata().unwrap();
            let rel = format!("/{}", p.strip_prefix(root).unwrap().to_string_lossy());
            let ft = m.file_type();
            let kind = if ft.is_symlink() {
                format!(
                    "symlink -> {}",
                    std::fs::read_link(&p).unwrap().to_string_lossy()
                )
            } else if ft.is_dir() {
                stack.push(p.clone());
                format!("dir size {}", m.size())
            } else if ft.is_file() {
                format!("file {} {}", m.size(), sha256_file(&p))
            } else if ft.is_fifo() {
                "fifo".into()
            } else if ft.is_socket() {
                "socket".into()
            } else {
                let dev = m.rdev();
                let kind = if ft.is_char_device() { "chr" } else { "blk" };
                format!("{kind} {}:{}", libc_major(dev), libc_minor(dev))
            };
            let mut line = format!(
                "{kind} mode {:o} mtime {}",
                m.mode() & 0o7777,
                stamp(m.mtime(), m.mtime_nsec())
            );
            if with_owner {
                line += &format!(" owner {}:{} links {}", m.uid(), m.gid(), m.nlink());
            }
            out.insert(rel, line);
        }
    }
    out
}

fn libc_major(dev: u64) -> u64 {
    ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)
}

fn libc_minor(dev: u64) -> u64 {
    ((dev >> 12) & 0xffff_ff00) | (dev & 0xff)
}

/// Our view, from the library, in the same words.
pub fn our_snapshot(fs: &dyn FileSystem, with_owner: bool) -> Snapshot {
    let mut out = Snapshot::new();
    for item in fs.walk(fs.root(), "/").skip(1) {
        let item = item.unwrap();
        let m = &item.metadata;
        let kind = match m.file_type {
            FileType::Symlink => format!("symlink -> {}", fs.read_link(item.node).unwrap()),
            FileType::Directory => format!("dir size {}", m.size),
            FileType::File => {
                let mut data = Vec::new();
                diskimg::ops::list::cat(fs, &item.path, &mut data).unwrap();
                format!("file {} {}", m.size, sha256(&data))
            }
            FileType::Fifo => "fifo".into(),
            FileType::Socket => "socket".into(),
            FileType::CharDevice | FileType::BlockDevice => {
                let (ma, mi) = m.rdev.unwrap();
                let kind = if m.file_type == FileType::CharDevice {
                    "chr"
                } else {
                    "blk"
                };
                format!("{kind} {ma}:{mi}")
            }
        };
        let mtime = m.mtime.unwrap();
        let mut line = format!(
            "{kind} mode {:o} mtime {}",
            m.mode.unwrap(),
            stamp(mtime.secs, i64::from(mtime.nanos))
        );
        if with_owner {
            line += &format!(
                " owner {}:{} links {}",
                m.uid.unwrap(),
                m.gid.unwrap(),
                m.nlink.unwrap()
            );
        }
        out.insert(item.path, line);
    }
    out
}

pub fn open(img: &Path) -> Arc<dyn FileSystem> {
    Image::open(img)
        .unwrap()
        .select(&Selection::default())
        .unwrap()
}

pub fn assert_same(ours: &Snapshot, theirs: &Snapshot, label: &str) {
    let only_ours: Vec<_> = ours.keys().filter(|k| !theirs.contains_key(*k)).collect();
    let only_theirs: Vec<_> = theirs.keys().filter(|k| !ours.contains_key(*k)).collect();
    assert!(
        only_ours.is_empty() && only_theirs.is_empty(),
        "{label}: paths differ\n  only ours: {only_ours:?}\n  only theirs: {only_theirs:?}"
    );
    let diffs: Vec<String> = ours
        .iter()
        .filter(|(k, v)| theirs[*k] != **v)
        .take(10)
        .map(|(k, v)| format!("{k}:\n    ours:   {v}\n    theirs: {}", theirs[k]))
        .collect();
    assert!(
        diffs.is_empty(),
        "{label}: {} differ:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}
