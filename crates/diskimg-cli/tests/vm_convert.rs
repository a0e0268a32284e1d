//! The qcow2 and raw writers, `convert`, `create`, `commit`, `rebase` and `compare`, checked by
//! qemu-img (`check`, `compare` both ways, `map`, `info`) and by libqcow's qcowinfo.

mod common;
mod vm_common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use vm_common::*;

/// Output option sets for qcow2, each checked on several inputs.
const QCOW2_VARIANTS: &[&[&str]] = &[
    &[],
    &["-c"],
    &["-c", "-o", "compression_type=zstd"],
    &["-o", "compat=0.10"],
    &["-c", "-o", "compat=0.10"],
    &["-o", "cluster_size=512"],
    &["-c", "-o", "cluster_size=512"],
    &["-o", "cluster_size=2M"],
    &["-o", "refcount_bits=1"],
    &["-c", "-o", "refcount_bits=64,cluster_size=4k"],
    &["-o", "lazy_refcounts=on"],
];

fn convert(input: &Path, output: &Path, args: &[&str]) {
    ok(diskimg()
        .args(["convert", "-q"])
        .args(args)
        .arg(input)
        .arg(output));
}

#[test]
fn qcow2_output_passes_qemu_img_check_and_compare() {
    let Some((dir, qemu)) = setup() else { return };
    let t = tempdir();
    for input in ["data.raw", "zstd.qcow2", "top.qcow2", "extl2.qcow2"] {
        let src = dir.join(input);
        for (i, variant) in QCOW2_VARIANTS.iter().enumerate() {
            let out = t.path().join(format!("{input}.{i}.qcow2"));
            convert(&src, &out, variant);
            assert_qemu_check_clean(&qemu, &out);
            assert_qemu_identical(&qemu, &src, &out);
            let info = qemu_info(&qemu, &out);
            assert_eq!(info["format"], "qcow2");
            if variant.contains(&"-c") {
                assert!(
                    qemu_map_compressed(&qemu, &out),
                    "{input} {variant:?}: nothing was compressed"
                );
            }
            std::fs::remove_file(&out).unwrap();
        }
    }
}

/// Whether qemu-img map shows compressed clusters.
fn qemu_map_compressed(qemu: &Path, img: &Path) -> bool {
    let v: Value = serde_json::from_slice(&ok(Command::new(qemu)
        .args(["map", "--output=json"])
        .arg(img)))
    .unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .any(|e| e.get("compressed").and_then(Value::as_bool) == Some(true))
}

#[test]
fn qcow2_output_keeps_holes_and_zeros_out() {
    let Some((dir, qemu)) = setup() else { return };
    let t = tempdir();
    let out = t.path().join("out.qcow2");
    convert(&dir.join("data.raw"), &out, &[]);
    // data.raw holds 1 MiB of written zeros at 8 MiB: not stored.
    let map = our_map(&out);
    let at_8m = map
        .iter()
        .find(|(s, l, _)| *s <= 8 << 20 && 8 << 20 < s + l)
        .unwrap();
    assert_eq!(at_8m.2, "unallocated", "{map:?}");
    assert_eq!(map, qemu_map(&qemu, &out));
    // Only the data is stored (about 6.3 MiB of the 64 MiB disk, plus metadata).
    let size = std::fs::metadata(&out).unwrap().len();
    assert!(size < 8 << 20, "output of {size} bytes");
}

#[test]
fn raw_output_round_trips_and_is_sparse() {
    let Some((dir, qemu)) = setup() else { return };
    let t = tempdir();
    for input in ["v3.qcow2", "zlib.qcow2", "c512.qcow2", "over_raw.qcow2"] {
        let src = dir.join(input);
        let out = t.path().join(format!("{input}.img"));
        convert(&src, &out, &[]);
        assert_qemu_identical(&qemu, &src, &out);
        assert!(same_bytes(&out, &qemu_raw(&qemu, &src, t.path())));
        assert_eq!(our_map(&out), qemu_map(&qemu, &out), "{input}");
    }
    // -O raw with the qcow2 extension on the output still writes raw.
    let out = t.path().join("forced.qcow2");
    convert(&dir.join("v3.qcow2"), &out, &["-O", "raw"]);
    assert_eq!(qemu_info(&qemu, &out)["format"], "raw");
}

#[test]
fn qcowinfo_reads_our_output() {
    let Some((dir, _)) = setup() else { return };
    let Some(qcowinfo) = tool("qcowinfo") else {
        return;
    };
    let t = tempdir();
    for (i, variant) in [&[][..], &["-c"], &["-o", "compat=0.10"]]
        .iter()
        .enumerate()
    {
        let out = t.path().join(format!("{i}.qcow2"));
        convert(&dir.join("data.raw"), &out, variant);
        let text = String::from_utf8(ok(Command::new(&qcowinfo).arg(&out))).unwrap();
        assert!(text.contains("(67110400 bytes)"), "{text}");
    }
}

#[test]
fn convert_with_a_backing_file_stores_only_differences() {
    let Some((dir, qemu)) = setup() else { return };
    let t = tempdir();
    copy_fixtures(&dir, t.path(), &["base.qcow2", "mid.qcow2", "top.qcow2"]);
    let top = t.path().join("top.qcow2");
    let full = t.path().join("full.qcow2");
    convert(&top, &full, &[]);
    for compat in ["1.1", "0.10"] {
        let out = t.path().join(format!("diff-{compat}.qcow2"));
        convert(
            &top,
            &out,
            &[
                "-o",
                &format!("backing_file=base.qcow2,backing_fmt=qcow2,compat={compat}"),
            ],
        );
        assert_qemu_check_clean(&qemu, &out);
        assert_qemu_identical(&qemu, &top, &out);
        let info = qemu_info(&qemu, &out);
        assert_eq!(info["backing-filename"], "base.qcow2");
        assert_eq!(info["backing-filename-format"], "qcow2");
        let small = std::fs::metadata(&out).unwrap().len();
        let big = std::fs::metadata(&full).unwrap().len();
        assert!(small * 4 < big, "overlay of {small} bytes vs {big} in full");
    }
}

#[test]
fn create_makes_blank_images_and_overlays() {
    let Some((dir, qemu)) = setup() else { return };
    let t = tempdir();
    let blank = t.path().join("blank.qcow2");
    ok(diskimg().args(["create", "--size", "20G"]).arg(&blank));
    assert_qemu_check_clean(&qemu, &blank);
    let info = qemu_info(&qemu, &blank);
    assert_eq!(info["virtual-size"], 20u64 << 30);
    assert!(std::fs::metadata(&blank).unwrap().len() < 1 << 20);
    let raw = t.path().join("blank.img");
    ok(diskimg().args(["create", "--size", "1G"]).arg(&raw));
    assert_eq!(std::fs::metadata(&raw).unwrap().len(), 1 << 30);
    assert_eq!(qemu_info(&qemu, &raw)["format"], "raw");

    copy_fixtures(&dir, t.path(), &["base.qcow2"]);
    let sub = t.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let overlay = sub.join("desk1.qcow2");
    ok(diskimg().current_dir(t.path()).args([
        "create",
        "--backing",
        "base.qcow2",
        "sub/desk1.qcow2",
    ]));
    assert_qemu_check_clean(&qemu, &overlay);
    let info = qemu_info(&qemu, &overlay);
    // Recorded relative to the overlay's folder, so that the pair can be moved together.
    assert_eq!(info["backing-filename"], "../base.qcow2");
    assert_eq!(
        info["virtual-size"],
        qemu_info(&qemu, &t.path().join("base.qcow2"))["virtual-size"]
    );
    assert_qemu_identical(&qemu, &overlay, &t.path().join("base.qcow2"));
}

#[test]
fn commit_matches_qemu_img_commit() {
    let Some((dir, qemu)) = setup() else { return };
    let ours = tempdir();
    let theirs = tempdir();
    for d in [ours.path(), theirs.path()] {
        copy_fixtures(&dir, d, &["base.qcow2", "mid.qcow2", "top.qcow2"]);
    }
    let expected = qemu_raw(&qemu, &ours.path().join("top.qcow2"), ours.path());
    ok(diskimg()
        .args(["commit", "-q"])
        .arg(ours.path().join("top.qcow2")));
    ok(Command::new(&qemu)
        .arg("commit")
        .arg(theirs.path().join("top.qcow2")));
    for name in ["mid.qcow2", "top.qcow2"] {
        let (a, b) = (ours.path().join(name), theirs.path().join(name));
        assert_qemu_check_clean(&qemu, &a);
        assert_qemu_identical(&qemu, &a, &b);
        assert_qemu_identical(&qemu, &a, &expected);
    }
    // The overlay is empty afterwards, as qemu-img commit leaves it.
    let top_map = qemu_map(&qemu, &ours.path().join("top.qcow2"));
    let their_map = qemu_map(&qemu, &theirs.path().join("top.qcow2"));
    assert!(
        our_overlay_is_empty(&qemu, &ours.path().join("top.qcow2")),
        "{top_map:?}"
    );
    assert!(
        our_overlay_is_empty(&qemu, &theirs.path().join("top.qcow2")),
        "{their_map:?}"
    );
    // The base keeps its own backing file.
    assert_eq!(
        qemu_info(&qemu, &ours.path().join("mid.qcow2"))["backing-filename"],
        "base.qcow2"
    );
}

/// Whether the top image of a chain stores no cluster itself (qemu-img map depth > 0 for
/// every present run).
fn our_overlay_is_empty(qemu: &Path, img: &Path) -> bool {
    let v: Value = serde_json::from_slice(&ok(Command::new(qemu)
        .args(["map", "--output=json"])
        .arg(img)))
    .unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .all(|e| !e["present"].as_bool().unwrap() || e["depth"].as_u64().unwrap() > 0)
}

#[test]
fn rebase_keeps_content_like_qemu_img_rebase() {
    let Some((dir, qemu)) = setup() else { return };
    let ours = tempdir();
    let theirs = tempdir();
    for d in [ours.path(), theirs.path()] {
        copy_fixtures(
            &dir,
            d,
            &["base.qcow2", "mid.qcow2", "top.qcow2", "data.raw"],
        );
    }
    let expected = qemu_raw(&qemu, &ours.path().join("top.qcow2"), ours.path());
    // top over mid -> top over data.raw (raw new base).
    ok(diskimg()
        .current_dir(ours.path())
        .args(["rebase", "-q", "-b", "data.raw", "top.qcow2"]));
    ok(Command::new(&qemu).current_dir(theirs.path()).args([
        "rebase",
        "-b",
        "data.raw",
        "-F",
        "raw",
        "top.qcow2",
    ]));
    let (a, b) = (
        ours.path().join("top.qcow2"),
        theirs.path().join("top.qcow2"),
    );
    assert_qemu_check_clean(&qemu, &a);
    assert_qemu_identical(&qemu, &a, &b);
    assert_qemu_identical(&qemu, &a, &expected);
    let info = qemu_info(&qemu, &a);
    assert_eq!(info["backing-filename"], "data.raw");
    assert_eq!(info["backing-filename-format"], "raw");
    // Flatten: no backing file.
    ok(diskimg().args(["rebase", "-q", "-b", ""]).arg(&a));
    assert!(qemu_info(&qemu, &a).get("backing-filename").is_none());
    assert_qemu_identical(&qemu, &a, &expected);
    // Unsafe: only the name changes, as qemu-img rebase -u does.
    let mid = ours.path().join("mid.qcow2");
    let mid2 = theirs.path().join("mid.qcow2");
    ok(diskimg().current_dir(ours.path()).args([
        "rebase",
        "--unsafe",
        "-b",
        "data.raw",
        "mid.qcow2",
    ]));
    ok(Command::new(&qemu).current_dir(theirs.path()).args([
        "rebase",
        "-u",
        "-b",
        "data.raw",
        "-F",
        "raw",
        "mid.qcow2",
    ]));
    assert_qemu_check_clean(&qemu, &mid);
    assert_qemu_identical(&qemu, &mid, &mid2);
    assert_eq!(qemu_info(&qemu, &mid)["backing-filename"], "data.raw");
}

#[test]
fn compare_agrees_with_qemu_img_compare() {
    let Some((dir, qemu)) = setup() else { return };
    let t = tempdir();
    let changed = t.path().join("changed.qcow2");
    std::fs::copy(dir.join("v3.qcow2"), &changed).unwrap();
    ok(Command::new(tool("qemu-io").unwrap())
        .args(["-f", "qcow2", "-c", "write -P 0x3c 5000000 3"])
        .arg(&changed));
    let pairs: Vec<(PathBuf, PathBuf)> = vec![
        (dir.join("data.raw"), dir.join("v3.qcow2")),
        (dir.join("zlib.qcow2"), dir.join("c512.qcow2")),
        (dir.join("data.raw"), dir.join("top.qcow2")),
        (dir.join("v3.qcow2"), changed.clone()),
        (dir.join("small.raw"), dir.join("data.raw")),
        (dir.join("over_raw.qcow2"), dir.join("small.raw")),
    ];
    for (a, b) in pairs {
        let q = run(Command::new(&qemu).arg("compare").arg(&a).arg(&b));
        let o = run(diskimg().args(["compare", "-q"]).arg(&a).arg(&b));
        let label = format!("{} vs {}", a.display(), b.display());
        assert_eq!(o.status.code(), q.status.code(), "{label}");
        // qemu-img names the first differing 512-byte sector; diskimg the byte in it.
        let offset = |out: &[u8]| -> Option<u64> {
            String::from_utf8_lossy(out)
                .lines()
                .last()?
                .strip_prefix("Content mismatch at offset ")?
                .strip_suffix('!')?
                .parse()
                .ok()
        };
        match (offset(&o.stdout), offset(&q.stdout)) {
            (Some(ours), Some(theirs)) => {
                assert!(
                    theirs <= ours && ours < theirs + 512,
                    "{label}: {ours} vs {theirs}"
                )
            }
            (None, None) => assert_eq!(
                String::from_utf8_lossy(&o.stdout).trim(),
                String::from_utf8_lossy(&q.stdout).trim(),
                "{label}"
            ),
            other => panic!("{label}: {other:?}"),
        }
    }
    let (code, _) = diskimg_status(&[
        "compare".as_ref(),
        dir.join("nonexistent.qcow2").as_os_str(),
        dir.join("v3.qcow2").as_os_str(),
    ]);
    assert_eq!(code, 2);
}

#[test]
fn convert_memory_stays_bounded() {
    let Some((_, _)) = setup() else { return };
    let Some(time) = tool("time") else { return };
    let t = tempdir();
    let src = t.path().join("big.raw");
    // 192 MiB of incompressible data: more than the pipeline may hold.
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&src).unwrap();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut buf = vec![0u8; 1 << 20];
        for _ in 0..192 {
            for b in buf.chunks_exact_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b.copy_from_slice(&x.to_le_bytes());
            }
            f.write_all(&buf).unwrap();
        }
    }
    for args in [&["-O", "qcow2"][..], &["-O", "qcow2", "-c"], &["-O", "raw"]] {
        let out = t.path().join("out");
        let o = run(Command::new(&time)
            .arg("-v")
            .arg(env!("CARGO_BIN_EXE_diskimg"))
            .args(["convert", "-q", "--overwrite"])
            .args(args)
            .arg(&src)
            .arg(&out));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let err = String::from_utf8_lossy(&o.stderr);
        let kb: u64 = err
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("Maximum resident set size (kbytes): ")
            })
            .unwrap()
            .parse()
            .unwrap();
        assert!(kb < 100 * 1024, "{args:?}: peak RSS {kb} KiB");
    }
}

#[test]
fn existing_outputs_are_kept_unless_overwrite_is_given() {
    let t = tempdir();
    let src = t.path().join("in.raw");
    std::fs::write(&src, vec![7u8; 1 << 20]).unwrap();
    let out = t.path().join("out.qcow2");
    std::fs::write(&out, b"precious").unwrap();
    let o = run(diskimg().arg("convert").arg(&src).arg(&out));
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--overwrite") && err.lines().count() == 1,
        "{err}"
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    let o = run(diskimg().args(["create", "--size", "1M"]).arg(&out));
    assert!(!o.status.success());
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    convert(&src, &out, &["--overwrite"]);
    let o = run(diskimg()
        .args(["convert", "--overwrite"])
        .arg(&src)
        .arg(&src));
    assert!(!o.status.success(), "the output is the input");
    assert_eq!(std::fs::read(&src).unwrap(), vec![7u8; 1 << 20]);
    ok(diskimg()
        .args(["create", "--overwrite", "--size", "1M"])
        .arg(&out));
}
