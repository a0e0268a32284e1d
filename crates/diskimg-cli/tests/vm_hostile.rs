//! Hostile qcow2 images: copies of the fixtures with one field changed here (each test says
//! which), and backing chains that loop or run too deep. Every case must end in a clear error
//! naming the structure (or a finding of `check`), never a panic, a hang or a huge allocation.

mod common;
mod vm_common;

use common::*;
use std::ffi::OsStr;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use vm_common::*;

const COPIED: u64 = 1 << 63;

fn be64(f: &Path, at: u64) -> u64 {
    let mut b = [0u8; 8];
    std::fs::File::open(f)
        .unwrap()
        .read_exact_at(&mut b, at)
        .unwrap();
    u64::from_be_bytes(b)
}

fn put64(f: &Path, at: u64, v: u64) {
    let file = std::fs::OpenOptions::new().write(true).open(f).unwrap();
    file.write_all_at(&v.to_be_bytes(), at).unwrap();
}

fn put32(f: &Path, at: u64, v: u32) {
    let file = std::fs::OpenOptions::new().write(true).open(f).unwrap();
    file.write_all_at(&v.to_be_bytes(), at).unwrap();
}

/// A copy of fixture `name` in `t`.
fn copy(dir: &Path, t: &Path, name: &str, as_name: &str) -> PathBuf {
    let p = t.join(as_name);
    std::fs::copy(dir.join(name), &p).unwrap();
    p
}

/// `diskimg convert -O raw img` fails with exit 1 and a message containing every `needle`.
fn convert_fails(img: &Path, needles: &[&str]) {
    let out = img.with_extension("out.raw");
    let (code, err) = diskimg_status(&[
        OsStr::new("convert"),
        OsStr::new("-q"),
        OsStr::new("-O"),
        OsStr::new("raw"),
        img.as_os_str(),
        out.as_os_str(),
    ]);
    assert_eq!(code, 1, "{}: {err}", img.display());
    for n in needles {
        assert!(err.contains(n), "{}: '{n}' not in: {err}", img.display());
    }
    assert!(!out.exists(), "a failed conversion left its output");
}

/// Offset of the first L2 table of an image (from L1 entry 0).
fn first_l2(img: &Path) -> u64 {
    let l1 = be64(img, 40);
    be64(img, l1) & 0x00ff_ffff_ffff_fe00
}

#[test]
fn tables_pointing_outside_the_file() {
    let Some((dir, _)) = setup() else { return };
    let t = tempdir();
    // L1 entry 0 points 1 TiB past the file.
    let img = copy(&dir, t.path(), "v3.qcow2", "l1_out.qcow2");
    put64(&img, be64(&img, 40), COPIED | (1 << 40));
    convert_fails(
        &img,
        &["corrupt qcow2 L2 table", "does not lie in the file"],
    );
    // L1 entry 0 is not cluster-aligned.
    let img = copy(&dir, t.path(), "v3.qcow2", "l1_unaligned.qcow2");
    put64(&img, be64(&img, 40), COPIED | 0x10200);
    convert_fails(&img, &["corrupt qcow2 L1 table", "not cluster-aligned"]);
    // L2 entry 0 points past the end of the file.
    let img = copy(&dir, t.path(), "v3.qcow2", "l2_out.qcow2");
    put64(&img, first_l2(&img), COPIED | (1 << 45));
    convert_fails(
        &img,
        &["corrupt qcow2 L2 table", "past the end of the file"],
    );
    // The L1 table itself lies past the end.
    let img = copy(&dir, t.path(), "v3.qcow2", "l1_table_out.qcow2");
    put64(&img, 40, 1 << 50);
    convert_fails(&img, &["corrupt qcow2 L1 table"]);
    // The file is cut in half: clusters past its end.
    let img = copy(&dir, t.path(), "v3.qcow2", "truncated.qcow2");
    let len = std::fs::metadata(&img).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&img)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    convert_fails(&img, &["corrupt qcow2"]);
}

#[test]
fn absurd_sizes_and_counts() {
    let Some((dir, _)) = setup() else { return };
    let t = tempdir();
    // Virtual size 2^62 with the original small L1 table.
    let img = copy(&dir, t.path(), "v3.qcow2", "huge_size.qcow2");
    put64(&img, 24, 1 << 62);
    convert_fails(&img, &["corrupt qcow2 header", "L1 table"]);
    // An L1 table of 4 billion entries (for a virtual size that needs them).
    let img = copy(&dir, t.path(), "v3.qcow2", "huge_l1.qcow2");
    put64(&img, 24, 1 << 60);
    put32(&img, 36, u32::MAX);
    convert_fails(&img, &["limit exceeded", "L1 table"]);
    // Clusters of 2^40 bytes, and of 2^3.
    for bits in [40u32, 3] {
        let img = copy(&dir, t.path(), "v3.qcow2", &format!("bits{bits}.qcow2"));
        put32(&img, 20, bits);
        convert_fails(&img, &["qcow2"]);
    }
    // A backing file name of 5000 bytes.
    let img = copy(&dir, t.path(), "top.qcow2", "long_backing.qcow2");
    put32(&img, 16, 5000);
    convert_fails(&img, &["corrupt qcow2 header", "backing file name"]);
    // 4 billion snapshots: info still describes the image; check reports the table.
    let img = copy(&dir, t.path(), "snapshot.qcow2", "many_snapshots.qcow2");
    put32(&img, 60, u32::MAX);
    let out = ok(diskimg().args(["info", "--json"]).arg(&img));
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let e = v["containers"][0]["details"]["snapshot_error"]
        .as_str()
        .unwrap();
    assert!(e.contains("limit"), "{e}");
    let (code, _) = diskimg_status(&[OsStr::new("check"), img.as_os_str()]);
    assert_eq!(code, 2);
}

#[test]
fn refcount_table_overflows_are_findings_of_check() {
    let Some((dir, qemu)) = setup() else { return };
    let t = tempdir();
    // A refcount table of 4 billion clusters: reading the disk needs no refcounts.
    let img = copy(&dir, t.path(), "v3.qcow2", "rt_huge.qcow2");
    put32(&img, 56, u32::MAX);
    let out = t.path().join("rt.raw");
    ok(diskimg()
        .args(["convert", "-q", "-O", "raw"])
        .arg(&img)
        .arg(&out));
    assert!(same_bytes(&out, &dir.join("data.raw")));
    let o = run(diskimg().arg("check").arg(&img));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stdout).contains("limit"));
    // A refcount table past the end of the file.
    let img = copy(&dir, t.path(), "v3.qcow2", "rt_out.qcow2");
    put64(&img, 48, 1 << 48);
    let (code, _) = diskimg_status(&[OsStr::new("check"), img.as_os_str()]);
    assert_eq!(code, 2);
    // Two L2 entries share one data cluster: an overlap that qemu-img check reports too.
    let img = copy(&dir, t.path(), "v3.qcow2", "overlap.qcow2");
    let l2 = first_l2(&img);
    put64(&img, l2 + 8, be64(&img, l2));
    let (code, _) = diskimg_status(&[OsStr::new("check"), img.as_os_str()]);
    let theirs = run(Command::new(&qemu).arg("check").arg(&img));
    assert_eq!(code, 2);
    assert_eq!(theirs.status.code(), Some(2));
}

#[test]
fn damaged_compressed_cluster() {
    let Some((dir, _)) = setup() else { return };
    let t = tempdir();
    let img = copy(&dir, t.path(), "zlib.qcow2", "bad_deflate.qcow2");
    // The second cluster (compressible text at 1 MiB is compressed; entry 16 of the first L2).
    let l2 = first_l2(&img);
    let e = be64(&img, l2 + 16 * 8);
    assert!(e & (1 << 62) != 0, "fixture cluster 16 is not compressed");
    let host = e & ((1u64 << 54) - 1);
    let f = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
    f.write_all_at(&[0xff; 64], host).unwrap();
    convert_fails(&img, &["corrupt qcow2 compressed cluster"]);
}

#[test]
fn backing_chains_that_loop_or_run_too_deep() {
    let Some((_, qemu)) = setup() else { return };
    let t = tempdir();
    let create = |name: &str, backing: &str| {
        ok(Command::new(&qemu).current_dir(t.path()).args([
            "create", "-f", "qcow2", "-u", "-b", backing, "-F", "qcow2", name, "1M",
        ]));
    };
    // a -> b -> a, and c -> c.
    create("a.qcow2", "b.qcow2");
    create("b.qcow2", "a.qcow2");
    create("c.qcow2", "a.qcow2");
    ok(Command::new(&qemu)
        .current_dir(t.path())
        .args(["rebase", "-u", "-b", "c.qcow2", "-F", "qcow2", "c.qcow2"]));
    for name in ["a.qcow2", "c.qcow2"] {
        let img = t.path().join(name);
        let v: serde_json::Value =
            serde_json::from_slice(&ok(diskimg().args(["info", "--json"]).arg(&img))).unwrap();
        let e = v["containers"][0]["details"]["backing_error"]
            .as_str()
            .unwrap();
        assert!(e.contains("loops"), "{e}");
        convert_fails(&img, &["backing", "loops"]);
    }
    // A chain of 70 images: deeper than the limit.
    ok(Command::new(&qemu)
        .current_dir(t.path())
        .args(["create", "-f", "qcow2", "d0.qcow2", "1M"]));
    for i in 1..70 {
        create(&format!("d{i}.qcow2"), &format!("d{}.qcow2", i - 1));
    }
    convert_fails(&t.path().join("d69.qcow2"), &["longer than"]);
    // A missing backing file.
    create("orphan.qcow2", "nowhere.qcow2");
    convert_fails(&t.path().join("orphan.qcow2"), &["nowhere.qcow2"]);
    let o = ok(diskimg().arg("info").arg(t.path().join("orphan.qcow2")));
    assert!(String::from_utf8_lossy(&o).contains("backing_error"));
}
