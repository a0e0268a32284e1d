//! `diskimg write`, `diskimg image` and `diskimg drives` against loop devices (losetup), with
//! byte comparisons; refusals (mounted, too small, not a drive); a read-back that was changed
//! behind the writer's back, which verification must catch.
//!
//! Needs root and losetup (skips otherwise, unless DISKIMG_REQUIRE_FIXTURES=1). Each test
//! attaches its own loop devices and detaches them when done.

mod common;

use common::loopdev::{Loop, ready};
use common::*;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A file of `len` bytes filled with 0xEE (what a used stick holds).
fn junk_file(path: &Path, len: u64) {
    let f = std::fs::File::create(path).unwrap();
    f.set_len(len).unwrap();
    let chunk = vec![0xEEu8; 1 << 20];
    let mut at = 0;
    while at < len {
        let n = (len - at).min(chunk.len() as u64) as usize;
        f.write_all_at(&chunk[..n], at).unwrap();
        at += n as u64;
    }
}

fn read_dev(dev: &Path, len: u64) -> Vec<u8> {
    let f = std::fs::File::open(dev).unwrap();
    let mut buf = vec![0u8; len as usize];
    f.read_exact_at(&mut buf, 0).unwrap();
    buf
}

#[test]
fn iso_written_to_a_loop_device_is_byte_identical() {
    if !ready() {
        return;
    }
    let Some(fx) = fixtures("mount-serve") else {
        return;
    };
    let tmp = tempdir();
    let back = tmp.path().join("stick.img");
    junk_file(&back, 32 << 20);
    let Some(l) = Loop::new(&back) else { return };
    let iso = fx.join("rr.iso");
    let out = ok(diskimg()
        .arg("write")
        .arg(&iso)
        .arg(&l.dev)
        .args(["--yes", "--json"]));
    let r: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let len = std::fs::metadata(&iso).unwrap().len();
    assert_eq!(r["image_size"], len);
    assert_eq!(r["verified"], len);
    assert!(
        read_dev(&l.dev, len) == std::fs::read(&iso).unwrap(),
        "the drive differs from the ISO"
    );
    // Past the image, the drive is left as it was.
    let rest = read_dev(&l.dev, 32 << 20);
    assert!(rest[len as usize..].iter().all(|&b| b == 0xEE));
    // And `cmp` agrees.
    if tool("cmp").is_some() {
        ok(Command::new("cmp")
            .args(["-n", &len.to_string()])
            .arg(&iso)
            .arg(&l.dev));
    }
}

#[test]
fn a_container_writes_its_guest_disk_and_zero_ranges_are_zeroed() {
    if !ready() {
        return;
    }
    let Some(fx) = fixtures("mount-serve") else {
        return;
    };
    let Some(_) = tool("qemu-img") else { return };
    let tmp = tempdir();
    let raw = tmp.path().join("guest.raw");
    ok(Command::new("qemu-img")
        .args(["convert", "-O", "raw"])
        .arg(fx.join("gpt.vhdx"))
        .arg(&raw));
    let back = tmp.path().join("stick.img");
    junk_file(&back, 160 << 20);
    let Some(l) = Loop::new(&back) else { return };
    let out = ok(diskimg()
        .arg("write")
        .arg(fx.join("gpt.vhdx"))
        .arg(&l.dev)
        .args(["--yes", "--json"]));
    let r: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert!(r["zeroed"].as_u64().unwrap() > 0, "{r}");
    assert!(r["written"].as_u64().unwrap() < 128 << 20, "{r}");
    let want = std::fs::read(&raw).unwrap();
    assert!(
        read_dev(&l.dev, want.len() as u64) == want,
        "the drive differs from the guest disk"
    );
}

#[test]
fn sparse_leaves_zero_ranges_alone() {
    if !ready() {
        return;
    }
    let Some(fx) = fixtures("mount-serve") else {
        return;
    };
    let tmp = tempdir();
    let back = tmp.path().join("stick.img");
    junk_file(&back, 16 << 20);
    let Some(l) = Loop::new(&back) else { return };
    let img = fx.join("halfsparse.raw");
    ok(diskimg()
        .arg("write")
        .arg(&img)
        .arg(&l.dev)
        .args(["--yes", "--sparse", "--quiet"]));
    let got = read_dev(&l.dev, 16 << 20);
    let want = std::fs::read(&img).unwrap();
    let mib = 1 << 20;
    for i in 0..16 {
        let (g, w) = (&got[i * mib..(i + 1) * mib], &want[i * mib..(i + 1) * mib]);
        if i % 2 == 0 {
            assert!(g == w, "MiB {i} differs");
        } else {
            assert!(g.iter().all(|&b| b == 0xEE), "MiB {i} was touched");
        }
    }
}

#[test]
fn refusals_leave_the_drive_untouched() {
    if !ready() {
        return;
    }
    let Some(fx) = fixtures("mount-serve") else {
        return;
    };
    let tmp = tempdir();
    // Too small.
    let small = tmp.path().join("small.img");
    junk_file(&small, 4 << 20);
    let Some(l) = Loop::new(&small) else { return };
    let out = run(diskimg()
        .arg("write")
        .arg(fx.join("rr.iso"))
        .arg(&l.dev)
        .arg("--yes"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing was written"));
    assert!(read_dev(&l.dev, 4 << 20).iter().all(|&b| b == 0xEE));
    // No --yes and no terminal.
    let big = tmp.path().join("big.img");
    junk_file(&big, 16 << 20);
    let Some(l2) = Loop::new(&big) else { return };
    let out = run(diskimg()
        .arg("write")
        .arg(fx.join("halfsparse.raw"))
        .arg(&l2.dev));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    assert!(read_dev(&l2.dev, 16 << 20).iter().all(|&b| b == 0xEE));
    // Not a drive.
    let out = run(diskimg()
        .arg("write")
        .arg(fx.join("halfsparse.raw"))
        .arg(&small)
        .arg("--yes"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a block device"));
    assert!(std::fs::read(&small).unwrap().iter().all(|&b| b == 0xEE));
    let _ = &l.file;
}

#[test]
fn a_mounted_drive_is_refused() {
    if !ready() {
        return;
    }
    let Some(fx) = fixtures("mount-serve") else {
        return;
    };
    let Some(mke2fs) = tool("mke2fs") else { return };
    let tmp = tempdir();
    // An ext4 volume (the kernel here mounts ext4; iso9660 may be absent) on a loop device.
    let back = tmp.path().join("ext4.img");
    std::fs::File::create(&back)
        .unwrap()
        .set_len(32 << 20)
        .unwrap();
    ok(Command::new(mke2fs)
        .args(["-q", "-F", "-t", "ext4"])
        .arg(&back));
    let before = sha256_file(&back);
    let Some(l) = Loop::new(&back) else { return };
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let m = run(Command::new("mount")
        .args(["-o", "ro", "-t", "ext4"])
        .arg(&l.dev)
        .arg(&mnt));
    if !m.status.success() {
        let msg = format!(
            "cannot mount a loop device here: {}",
            String::from_utf8_lossy(&m.stderr).trim()
        );
        assert!(!strict(), "{msg}");
        eprintln!("skipped: {msg}");
        return;
    }
    let out = run(diskimg()
        .arg("write")
        .arg(fx.join("halfsparse.raw"))
        .arg(&l.dev)
        .arg("--yes"));
    let listed = run(diskimg().args(["drives", "--all", "--json"]));
    let _ = Command::new("umount").arg(&mnt).output();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("mounted"), "{err}");
    assert_eq!(sha256_file(&back), before);
    // `drives` says why.
    let v: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let ours = v
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["path"] == l.dev.to_str().unwrap())
        .unwrap();
    assert_eq!(ours["writable"], false);
    assert!(
        ours["refused"].as_str().unwrap().contains("mounted"),
        "{ours}"
    );
}

#[test]
fn drives_lists_the_loop_device_and_refuses_the_system_disk() {
    if !ready() {
        return;
    }
    let tmp = tempdir();
    let back = tmp.path().join("d.img");
    junk_file(&back, 8 << 20);
    let Some(l) = Loop::new(&back) else { return };
    let out = ok(diskimg().args(["drives", "--all", "--json"]));
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let list = v.as_array().unwrap();
    let ours = list
        .iter()
        .find(|d| d["path"] == l.dev.to_str().unwrap())
        .expect("our loop device is listed");
    assert_eq!(ours["writable"], true);
    assert_eq!(ours["size"], 8 << 20);
    // Whatever holds / here is refused (when it is a block device we can see).
    for d in list {
        if d["system"] == true {
            assert_eq!(d["writable"], false);
        }
    }
}

#[test]
fn verification_catches_a_change_made_between_write_and_read_back() {
    if !ready() {
        return;
    }
    let Some(fx) = fixtures("mount-serve") else {
        return;
    };
    let tmp = tempdir();
    let back = tmp.path().join("stick.img");
    junk_file(&back, 32 << 20);
    let Some(l) = Loop::new(&back) else { return };
    let image = diskimg::Image::open(fx.join("rr.iso")).unwrap();
    let device = image.content().device.clone();
    // After the write and its sync, one byte is changed in the file under the loop device:
    // a second path to the same medium, as a failing stick or a faulty cache would.
    let flip = || {
        let f = std::fs::OpenOptions::new().write(true).open(&back).unwrap();
        f.write_all_at(&[0x42], 5 * 1024 * 1024 + 17).unwrap();
        f.sync_all().unwrap();
        Ok(())
    };
    let opts = diskimg::drive::WriteOptions {
        before_verify: Some(&flip),
        ..Default::default()
    };
    let e = diskimg::drive::write_image(device.as_ref(), &l.dev, &opts, &()).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("verification FAILED"), "{msg}");
    assert!(
        msg.contains(&(4u64 << 20).to_string()),
        "names the range: {msg}"
    );
    // Without the change the same write verifies.
    let opts = diskimg::drive::WriteOptions::default();
    let r = diskimg::drive::write_image(device.as_ref(), &l.dev, &opts, &()).unwrap();
    assert_eq!(r.verified, device.size());
}

#[test]
fn image_copies_a_drive_byte_for_byte_and_used_only_skips_free_space() {
    if !ready() {
        return;
    }
    let Some(fx) = fixtures("mount-serve") else {
        return;
    };
    let tmp = tempdir();
    let back = tmp.path().join("disk.img");
    std::fs::copy(fx.join("gpt.raw"), &back).unwrap();
    let Some(l) = Loop::new(&back) else { return };
    let out = tmp.path().join("copy.img");
    let r: serde_json::Value = serde_json::from_slice(&ok(diskimg()
        .arg("image")
        .arg(&l.dev)
        .arg(&out)
        .arg("--json")))
    .unwrap();
    assert_eq!(r["bad_bytes"], 0);
    assert_eq!(sha256_file(&out), sha256_file(&back));
    // --used-only: NTFS ($Bitmap) in partition 1 and ISO 9660 (its volume size) in partition 2
    // say which of their bytes are used; the rest is not read and reads as zeros; everything
    // outside them (the GPT, gaps) is copied.
    let used = tmp.path().join("used.img");
    let r: serde_json::Value = serde_json::from_slice(&ok(diskimg()
        .arg("image")
        .arg(&l.dev)
        .arg(&used)
        .args(["--used-only", "--json"])))
    .unwrap();
    assert!(r["unused"].as_u64().unwrap() > 0, "{r}");
    let maps = r["maps_from"].to_string();
    assert!(
        maps.contains("ntfs") && maps.contains("rockridge"),
        "{maps}"
    );
    let iso = std::fs::read(fx.join("rr.iso")).unwrap();
    let copy = std::fs::read(&used).unwrap();
    let p2 = 51380224usize;
    assert!(
        copy[p2..p2 + iso.len()] == iso[..],
        "partition 2 differs from the ISO"
    );
    // The NTFS volume (partition 1: 1 MiB + 48 MiB) lost only its free clusters: ntfs-3g's
    // ntfsls lists the same tree in both, and diskimg extracts the same files.
    let (p1, p1_len) = (1usize << 20, 48usize << 20);
    let orig = std::fs::read(&back).unwrap();
    assert_eq!(&copy[..p1], &orig[..p1], "the GPT before partition 1");
    // Not read: the slack of partition 2 after the ISO volume, and NTFS's free clusters.
    let iso_slack = (32u64 << 20) - iso.len() as u64;
    let unused = r["unused"].as_u64().unwrap();
    assert!(
        unused > iso_slack + (16 << 20),
        "NTFS free space was read: {r}"
    );
    if let Some(ntfsls) = tool("ntfsls") {
        let list = |bytes: &[u8], name: &str| {
            let f = tmp.path().join(name);
            std::fs::write(&f, bytes).unwrap();
            String::from_utf8(ok(Command::new(&ntfsls).args(["-R", "-l"]).arg(&f))).unwrap()
        };
        assert_eq!(
            list(&copy[p1..p1 + p1_len], "a.ntfs"),
            list(&orig[p1..p1 + p1_len], "b.ntfs")
        );
    }
    let x1 = tempdir();
    let x2 = tempdir();
    ok(diskimg()
        .arg("extract")
        .arg(&used)
        .args(["-p", "1", "-q", "-o"])
        .arg(x1.path().join("x")));
    ok(diskimg()
        .arg("extract")
        .arg(&back)
        .args(["-p", "1", "-q", "-o"])
        .arg(x2.path().join("x")));
    assert_same_tree(
        &x1.path().join("x"),
        &x2.path().join("x"),
        Compare::default(),
        "p1",
    );
    // An existing output is kept unless --overwrite.
    let again = run(diskimg().arg("image").arg(&l.dev).arg(&out));
    assert!(!again.status.success());
}

/// A tmpfs of `size` mounted on a new folder of `dir`, unmounted on drop.
struct SmallFs(PathBuf);

impl SmallFs {
    fn new(dir: &Path, size: &str) -> Option<SmallFs> {
        let p = dir.join("smallfs");
        std::fs::create_dir(&p).unwrap();
        let out = run(Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&p));
        if !out.status.success() {
            let msg = "cannot mount a tmpfs here";
            assert!(!strict(), "{msg}");
            eprintln!("skipped: {msg}");
            return None;
        }
        Some(SmallFs(p))
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).output();
    }
}

#[test]
fn a_drive_that_fills_up_midway_is_reported_incomplete() {
    if !ready() {
        return;
    }
    let Some(fx) = fixtures("mount-serve") else {
        return;
    };
    let tmp = tempdir();
    // A 32 MiB "drive" whose storage runs out after 4 MiB: writes fail part of the way.
    let Some(fs) = SmallFs::new(tmp.path(), "4m") else {
        return;
    };
    let back = fs.0.join("thin.img");
    std::fs::File::create(&back)
        .unwrap()
        .set_len(32 << 20)
        .unwrap();
    let Some(l) = Loop::new(&back) else { return };
    let out = run(diskimg()
        .arg("write")
        .arg(fx.join("rr.iso"))
        .arg(&l.dev)
        .arg("--yes"));
    drop(l);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("incomplete"), "{err}");
    assert!(!err.contains("matches the image"), "{err}");
}
