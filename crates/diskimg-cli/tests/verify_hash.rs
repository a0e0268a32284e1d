//! `diskimg verify` and `diskimg hash`, checked against independent tools: checkisomd5 for
//! implanted MD5s, sha256sum/md5sum/sha1sum (GNU and `--tag` BSD lines) for checksum files
//! and digests, Python's zlib for CRC-32, qemu-img for the guest disk of a container.
//! Damaged inputs are made here by changing one byte of a copy of a fixture, as each test says.

mod common;

use common::*;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn copy_fixture(name: &str, dir: &Path) -> Option<PathBuf> {
    let fx = fixtures("mount-serve")?;
    let to = dir.join(name);
    std::fs::copy(fx.join(name), &to).unwrap();
    Some(to)
}

fn flip(path: &Path, at: u64) {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0xFF], at).unwrap();
}

fn verify_json(image: &Path, extra: &[&str]) -> (bool, serde_json::Value) {
    let out = run(diskimg().arg("verify").arg("--json").arg(image).args(extra));
    (
        out.status.success(),
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null),
    )
}

fn statuses(v: &serde_json::Value, check: &str) -> Vec<String> {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["check"] == check)
        .map(|c| c["status"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn implanted_md5_agrees_with_checkisomd5() {
    let tmp = tempdir();
    let Some(iso) = copy_fixture("rr_md5.iso", tmp.path()) else {
        return;
    };
    let Some(check) = tool("checkisomd5") else {
        return;
    };
    assert!(run(Command::new(&check).arg(&iso)).status.success());
    let (ok_, v) = verify_json(&iso, &[]);
    assert!(ok_, "{v}");
    assert_eq!(v["status"], "pass");
    assert_eq!(statuses(&v, "iso-md5"), ["pass"]);
    // One byte of file data (in big.bin, late in the image) changed: both tools fail.
    let len = std::fs::metadata(&iso).unwrap().len();
    flip(&iso, len - 600 * 1024);
    assert!(!run(Command::new(&check).arg(&iso)).status.success());
    let (ok_, v) = verify_json(&iso, &[]);
    assert!(!ok_);
    assert_eq!(v["status"], "fail");
    let c = &v["checks"][0];
    assert_eq!(c["status"], "fail");
    assert_ne!(c["expected"], c["actual"]);
    assert!(c["message"].as_str().unwrap().contains("fragment"), "{c}");
}

#[test]
fn an_iso_without_records_has_nothing_to_verify() {
    let tmp = tempdir();
    let Some(iso) = copy_fixture("rr.iso", tmp.path()) else {
        return;
    };
    let (ok_, v) = verify_json(&iso, &[]);
    assert!(!ok_);
    assert_eq!(v["status"], "none");
}

#[test]
fn sidecar_files_in_gnu_and_bsd_style() {
    let tmp = tempdir();
    let Some(iso) = copy_fixture("rr.iso", tmp.path()) else {
        return;
    };
    for t in ["sha256sum", "md5sum", "sha1sum", "sha512sum"] {
        if tool(t).is_none() {
            return;
        }
    }
    let sum = |tool: &str, tag: bool| {
        let mut c = Command::new(tool);
        if tag {
            c.arg("--tag");
        }
        String::from_utf8(ok(c.arg("rr.iso").current_dir(tmp.path()))).unwrap()
    };
    // SHA256SUMS listing another file too, a BSD-style .md5, a GNU .sha1 and a bare .sha512.
    let other = format!("{}  other.iso\n", "0".repeat(64));
    std::fs::write(
        tmp.path().join("SHA256SUMS"),
        other + &sum("sha256sum", false),
    )
    .unwrap();
    std::fs::write(tmp.path().join("rr.iso.md5"), sum("md5sum", true)).unwrap();
    std::fs::write(tmp.path().join("rr.sha1"), sum("sha1sum", false)).unwrap();
    let bare = sum("sha512sum", false);
    std::fs::write(
        tmp.path().join("rr.iso.sha512"),
        bare.split_whitespace().next().unwrap(),
    )
    .unwrap();
    let (ok_, v) = verify_json(&iso, &[]);
    assert!(ok_, "{v}");
    let algos: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["algorithm"].as_str().unwrap())
        .collect();
    for a in ["sha256", "md5", "sha1", "sha512"] {
        assert!(algos.contains(&a), "{a} missing: {v}");
    }
    // A wrong line fails, naming the file and line.
    let bad = format!("{}  rr.iso\n", "ab".repeat(32));
    let named = tmp.path().join("elsewhere.sums");
    std::fs::write(&named, bad).unwrap();
    let (ok_, v) = verify_json(&iso, &["--sums", named.to_str().unwrap(), "--no-sidecars"]);
    assert!(!ok_);
    assert_eq!(statuses(&v, "sidecar"), ["fail"]);
    // A named file that does not mention the image is an error, not a pass.
    let unrelated = tmp.path().join("unrelated.sums");
    std::fs::write(&unrelated, format!("{}  x.iso\n", "0".repeat(64))).unwrap();
    let (ok_, v) = verify_json(
        &iso,
        &["--sums", unrelated.to_str().unwrap(), "--no-sidecars"],
    );
    assert!(!ok_);
    assert_eq!(v["status"], "error");
    // The image changed: every sidecar fails.
    flip(&iso, 40000);
    let (ok_, v) = verify_json(&iso, &[]);
    assert!(!ok_);
    assert!(statuses(&v, "sidecar").iter().all(|s| s == "fail"), "{v}");
}

#[test]
fn gpt_and_vhdx_checksums() {
    let tmp = tempdir();
    let Some(vhdx) = copy_fixture("gpt.vhdx", tmp.path()) else {
        return;
    };
    let (ok_, v) = verify_json(&vhdx, &[]);
    assert!(ok_, "{v}");
    assert_eq!(statuses(&v, "gpt-crc"), ["pass"; 4]);
    assert_eq!(statuses(&v, "vhdx-checksum"), ["pass"; 4]);
    // The second VHDX header (at 128 KiB): one byte of its reserved area changed.
    flip(&vhdx, 128 * 1024 + 1000);
    let (ok_, v) = verify_json(&vhdx, &[]);
    assert!(!ok_);
    assert_eq!(
        statuses(&v, "vhdx-checksum"),
        ["pass", "fail", "pass", "pass"]
    );
    // GPT: the raw disk's backup entry array (the 32 sectors before the last one) damaged.
    let Some(raw) = copy_fixture("gpt.raw", tmp.path()) else {
        return;
    };
    let len = std::fs::metadata(&raw).unwrap().len();
    flip(&raw, len - 512 - 32 * 512 + 10);
    let (ok_, v) = verify_json(&raw, &[]);
    assert!(!ok_);
    assert_eq!(statuses(&v, "gpt-crc"), ["pass", "pass", "pass", "fail"]);
    if let Some(sgdisk) = tool("sgdisk") {
        // sgdisk agrees that something is wrong with the table.
        let out = run(Command::new(sgdisk).arg("-v").arg(&raw));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("CRC") || text.contains("problem"), "{text}");
    }
}

#[test]
fn hash_matches_the_coreutils_and_zlib() {
    let Some(fx) = fixtures("mount-serve") else {
        return;
    };
    let iso = fx.join("rr.iso");
    let out = ok(diskimg()
        .arg("hash")
        .args(["--algo", "sha256,md5,sha1,sha512,crc32,blake3", "--json"])
        .arg(&iso));
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let d = &v["digests"];
    for (t, a) in [
        ("sha256sum", "sha256"),
        ("md5sum", "md5"),
        ("sha1sum", "sha1"),
        ("sha512sum", "sha512"),
    ] {
        let Some(t) = tool(t) else { return };
        let s = String::from_utf8(ok(Command::new(t).arg(&iso))).unwrap();
        assert_eq!(d[a], s.split_whitespace().next().unwrap(), "{a}");
    }
    if let Some(py) = tool("python3") {
        let s = ok(Command::new(py)
            .arg("-c")
            .arg("import sys, zlib; print('%08x' % zlib.crc32(open(sys.argv[1], 'rb').read()))")
            .arg(&iso));
        assert_eq!(d["crc32"], String::from_utf8(s).unwrap().trim());
    }
    if let Some(b3) = tool("b3sum") {
        let s = String::from_utf8(ok(Command::new(b3).arg(&iso))).unwrap();
        assert_eq!(d["blake3"], s.split_whitespace().next().unwrap());
    }
    // The text form is BSD style, one line per algorithm.
    let text = String::from_utf8(ok(diskimg().arg("hash").arg(&iso))).unwrap();
    assert_eq!(
        text,
        format!(
            "SHA256 ({}) = {}\n",
            iso.display(),
            d["sha256"].as_str().unwrap()
        )
    );
    let bad = run(diskimg().args(["hash", "--algo", "sha3"]).arg(&iso));
    assert!(!bad.status.success());
}

#[test]
fn hash_of_the_guest_disk_equals_qemus_conversion() {
    let Some(fx) = fixtures("mount-serve") else {
        return;
    };
    let Some(qemu) = tool("qemu-img") else { return };
    let tmp = tempdir();
    let raw = tmp.path().join("g.raw");
    ok(Command::new(qemu)
        .args(["convert", "-O", "raw"])
        .arg(fx.join("ntfs.vhd"))
        .arg(&raw));
    let out = ok(diskimg()
        .args(["hash", "--device", "--json"])
        .arg(fx.join("ntfs.vhd")));
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["digests"]["sha256"], sha256_file(&raw));
    assert_eq!(v["what"], "device");
    let file = ok(diskimg().args(["hash", "--json"]).arg(fx.join("ntfs.vhd")));
    let f: serde_json::Value = serde_json::from_slice(&file).unwrap();
    assert_eq!(f["digests"]["sha256"], sha256_file(&fx.join("ntfs.vhd")));
}
