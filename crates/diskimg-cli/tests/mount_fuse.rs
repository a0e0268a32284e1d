//! `diskimg mount`: FUSE mounts walked with the host's own tools and compared with
//! `diskimg extract` and with the source tree, `--all` views, large directories, concurrent
//! reads, read-only refusals, and unmounting by `diskimg umount` and by Ctrl-C.
//!
//! Needs /dev/fuse and fusermount3 (skips otherwise, unless DISKIMG_REQUIRE_FIXTURES=1).

mod common;

use common::*;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A background mount, unmounted on drop.
struct Mount {
    dir: tempfile::TempDir,
}

impl Mount {
    fn new(image: &Path, args: &[&str]) -> Mount {
        let dir = tempdir();
        ok(diskimg()
            .arg("mount")
            .arg(image)
            .arg(dir.path())
            .arg("--background")
            .args(args));
        Mount { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = diskimg().arg("umount").arg(self.dir.path()).output();
    }
}

fn fuse_ready() -> bool {
    if Path::new("/dev/fuse").exists() && tool("fusermount3").is_some() {
        return true;
    }
    let msg = "/dev/fuse or fusermount3 missing";
    assert!(!strict(), "{msg}");
    eprintln!("skipped: {msg}");
    false
}

fn fixture(name: &str) -> Option<PathBuf> {
    if !fuse_ready() {
        return None;
    }
    fixtures("mount-serve").map(|d| d.join(name))
}

fn is_mounted(dir: &Path) -> bool {
    let dir = dir.canonicalize().unwrap();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(dir.to_str().unwrap()))
}

fn extract(image: &Path, args: &[&str]) -> tempfile::TempDir {
    let out = tempdir();
    ok(diskimg()
        .arg("extract")
        .arg(image)
        .arg("-q")
        .arg("-o")
        .arg(out.path().join("x"))
        .args(args));
    out
}

#[test]
fn iso_mount_equals_extraction_and_source() {
    let Some(iso) = fixture("rr.iso") else { return };
    let m = Mount::new(&iso, &[]);
    assert!(is_mounted(m.path()));
    let x = extract(&iso, &[]);
    let all = Compare {
        modes: true,
        file_times: true,
        dir_times: true,
    };
    assert_same_tree(m.path(), &x.path().join("x"), all, "mount vs extract");
    let src = fixtures("mount-serve").unwrap().join("tree");
    assert_same_tree(m.path(), &src, all, "mount vs source tree");
    // Sizes and link targets as the host sees them.
    let meta = std::fs::symlink_metadata(m.path().join("data/big.bin")).unwrap();
    assert_eq!(meta.len(), 6 * 1024 * 1024 + 4097);
    assert_eq!(
        std::fs::read_link(m.path().join("bin/link_to_big")).unwrap(),
        Path::new("../data/big.bin")
    );
}

#[test]
fn find_and_sha256sum_see_the_same_files() {
    let Some(iso) = fixture("rr.iso") else { return };
    let (Some(_), Some(_)) = (tool("find"), tool("sha256sum")) else {
        return;
    };
    let m = Mount::new(&iso, &[]);
    let x = extract(&iso, &[]);
    let sums = |root: &Path| {
        let out = ok(Command::new("sh")
            .arg("-c")
            .arg("find . -type f -print0 | sort -z | xargs -0 sha256sum")
            .current_dir(root));
        String::from_utf8(out).unwrap()
    };
    let a = sums(m.path());
    assert!(a.lines().count() > 2500, "{} files", a.lines().count());
    assert_eq!(a, sums(&x.path().join("x")));
}

#[test]
fn large_directory_lists_every_entry_once() {
    let Some(iso) = fixture("rr.iso") else { return };
    let m = Mount::new(&iso, &[]);
    let mut names: Vec<String> = std::fs::read_dir(m.path().join("large_dir"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let before = names.len();
    names.dedup();
    assert_eq!(before, names.len(), "duplicates in the listing");
    assert_eq!(names.len(), 2500);
    assert_eq!(
        std::fs::read_to_string(m.path().join("large_dir/entry_01234.txt")).unwrap(),
        "entry 1234\n"
    );
}

#[test]
fn concurrent_reads_return_the_right_bytes() {
    let Some(iso) = fixture("rr.iso") else { return };
    let m = Mount::new(&iso, &[]);
    let want = std::fs::read(fixtures("mount-serve").unwrap().join("tree/data/big.bin")).unwrap();
    let path = m.path().join("data/big.bin");
    std::thread::scope(|s| {
        for t in 0..6u64 {
            let (path, want) = (&path, &want);
            s.spawn(move || {
                let f = std::fs::File::open(path).unwrap();
                let mut off = t * 77_777;
                while (off as usize) < want.len() {
                    let mut buf = vec![0u8; 100_000];
                    let n = f.read_at(&mut buf, off).unwrap();
                    assert_eq!(&buf[..n], &want[off as usize..off as usize + n]);
                    off += 6 * 77_777;
                }
            });
        }
    });
}

#[test]
fn writes_are_refused() {
    let Some(iso) = fixture("rr.iso") else { return };
    let m = Mount::new(&iso, &[]);
    let e = std::fs::OpenOptions::new()
        .write(true)
        .open(m.path().join("README.TXT"))
        .unwrap_err();
    assert_eq!(e.raw_os_error(), Some(30), "{e}"); // EROFS
    assert!(std::fs::write(m.path().join("new.txt"), b"x").is_err());
}

#[test]
fn all_shows_every_partition_and_view_of_a_vhdx() {
    let Some(vhdx) = fixture("gpt.vhdx") else {
        return;
    };
    let m = Mount::new(&vhdx, &["--all"]);
    let mut names: Vec<String> = std::fs::read_dir(m.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["p1-ntfs", "p2-iso9660", "p2-joliet", "p2-rockridge"]
    );
    let x = extract(&vhdx, &["-p", "1"]);
    assert_same_tree(
        &m.path().join("p1-ntfs"),
        &x.path().join("x"),
        Compare::default(),
        "p1 vs extract -p 1",
    );
    let x = extract(&vhdx, &["-p", "2"]);
    assert_same_tree(
        &m.path().join("p2-rockridge"),
        &x.path().join("x"),
        Compare {
            modes: true,
            file_times: true,
            dir_times: true,
        },
        "p2 vs extract -p 2",
    );
}

#[test]
fn ntfs_in_a_vhd_and_a_partition_by_number() {
    let Some(vhd) = fixture("ntfs.vhd") else {
        return;
    };
    let m = Mount::new(&vhd, &[]);
    let x = extract(&vhd, &[]);
    assert_same_tree(
        m.path(),
        &x.path().join("x"),
        Compare::default(),
        "ntfs.vhd",
    );
    let src = fixtures("mount-serve").unwrap().join("tree");
    assert_eq!(
        sha256_file(&m.path().join("data/big.bin")),
        sha256_file(&src.join("data/big.bin"))
    );
    let vhdx = fixtures("mount-serve").unwrap().join("gpt.vhdx");
    let p1 = Mount::new(&vhdx, &["-p", "1"]);
    assert!(p1.path().join("large_dir/entry_00000.txt").is_file());
}

#[test]
fn iso_fixtures_of_the_iso_area_mount_like_they_extract() {
    if !fuse_ready() {
        return;
    }
    // The iso area writes a 4 GiB sparse file; it is used when built, never required here.
    let dir = common::repo().join("tests/fixtures/out/iso");
    if !dir.join(".done").exists() {
        eprintln!("skipped: iso fixtures not built");
        return;
    }
    for name in [
        "rr_joliet_xorriso.iso",
        "joliet_genisoimage.iso",
        "zisofs_xorriso.iso",
    ] {
        let iso = dir.join(name);
        let m = Mount::new(&iso, &[]);
        let x = extract(&iso, &[]);
        assert_same_tree(m.path(), &x.path().join("x"), Compare::default(), name);
    }
}

#[test]
fn ctrl_c_unmounts_and_the_command_ends() {
    let Some(iso) = fixture("rr.iso") else { return };
    let dir = tempdir();
    let mut child = diskimg()
        .arg("mount")
        .arg(&iso)
        .arg(dir.path())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The foreground mount says when it is up.
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut err, &mut line).unwrap();
    assert!(line.contains("mounted read-only"), "{line}");
    assert!(is_mounted(dir.path()));
    ok(Command::new("kill").arg("-INT").arg(child.id().to_string()));
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(!is_mounted(dir.path()));
}

#[test]
fn umount_ends_a_background_mount_and_refuses_an_unmounted_folder() {
    let Some(iso) = fixture("rr.iso") else { return };
    let m = Mount::new(&iso, &[]);
    ok(diskimg().arg("umount").arg(m.path()));
    assert!(!is_mounted(m.path()));
    let out = run(diskimg().arg("umount").arg(m.path()));
    assert!(!out.status.success());
}

#[test]
fn mounting_on_a_missing_folder_fails_clearly() {
    let Some(iso) = fixture("rr.iso") else { return };
    let out = run(diskimg()
        .arg("mount")
        .arg(&iso)
        .arg("/nonexistent/mountpoint")
        .arg("--background"));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("mount"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
