//! `diskimg create iso --span`: a collection spread over several images. Each volume is read
//! back by bsdtar (and with `--udf`, its UDF tree by 7-Zip and udfinfo); the volumes together,
//! with cut files joined again, equal the source.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// A small deterministic byte pattern (no randomness, so a failure repeats).
fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Folders of photos of varied sizes, one file larger than a volume, an empty file, an empty
/// folder and a symlink.
fn make_source(root: &Path) {
    for (d, files) in [("2019/summer", 9u64), ("2020/winter", 7), ("notes", 3)] {
        let dir = root.join(d);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..files {
            let len = 40_000 + (i as usize * 53_117) % 260_000;
            std::fs::write(dir.join(format!("img_{i:03}.jpg")), pattern(i + 7, len)).unwrap();
        }
    }
    std::fs::write(root.join("video.mkv"), pattern(99, 2_700_000)).unwrap();
    std::fs::write(root.join("notes/empty.txt"), b"").unwrap();
    std::fs::set_permissions(
        root.join("notes/img_001.jpg"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::fs::create_dir(root.join("unsorted")).unwrap();
    std::os::unix::fs::symlink("2019/summer", root.join("latest")).unwrap();
}

fn volumes(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "iso"))
        .collect();
    v.sort();
    v
}

/// Joins `NAME.partKofN` files below `dir` into `NAME`.
fn join_parts(dir: &Path) {
    for (rel, _) in tree(dir) {
        let Some((name, rest)) = rel.rsplit_once(".part1of") else {
            continue;
        };
        let n: u32 = rest.parse().unwrap();
        let mut whole = Vec::new();
        for k in 1..=n {
            let part = dir.join(format!("{name}.part{k}of{n}"));
            whole.extend(std::fs::read(&part).unwrap());
            let mtime = part.metadata().unwrap().modified().unwrap();
            std::fs::remove_file(&part).unwrap();
            std::fs::write(dir.join(name), &whole).unwrap();
            let f = std::fs::File::options()
                .write(true)
                .open(dir.join(name))
                .unwrap();
            f.set_modified(mtime).unwrap();
        }
    }
}

#[test]
fn volumes_fit_and_together_hold_the_source() {
    let (Some(bsdtar), Some(isoinfo)) = (tool("bsdtar"), tool("isoinfo")) else {
        return;
    };
    let t = tempdir();
    let src = t.path().join("photos");
    make_source(&src);
    let out = t.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let capacity = 1u64 << 20;
    ok(diskimg()
        .args([
            "create",
            "iso",
            "-q",
            "--span",
            "1M",
            "--volume-id",
            "PHOTOS",
        ])
        .arg(&src)
        .arg("-o")
        .arg(out.join("photos.iso")));
    let count = volumes(&out).len();
    assert!(count >= 4, "{count} volumes");
    let vols: Vec<_> = (1..=count)
        .map(|n| out.join(format!("photos-{n}.iso")))
        .collect();
    assert!(vols.iter().all(|v| v.exists()), "{vols:?}");
    let catalog = std::fs::read_to_string(out.join("photos-catalog.txt")).unwrap();
    let joined = t.path().join("joined");
    std::fs::create_dir(&joined).unwrap();
    for (i, v) in vols.iter().enumerate() {
        let size = v.metadata().unwrap().len();
        assert!(size <= capacity, "{} is {size} bytes", v.display());
        let info = String::from_utf8(ok(Command::new(&isoinfo).arg("-d").arg("-i").arg(v)))
            .unwrap_or_default();
        assert!(
            info.contains(&format!("Volume id: PHOTOS_{}", i + 1)),
            "{info}"
        );
        let x = t.path().join(format!("v{i}"));
        std::fs::create_dir(&x).unwrap();
        ok(Command::new(&bsdtar).arg("-xf").arg(v).arg("-C").arg(&x));
        assert_eq!(
            std::fs::read_to_string(x.join("diskimg-catalog.txt")).unwrap(),
            catalog,
            "catalog on volume {}",
            i + 1
        );
        ok(Command::new(&bsdtar)
            .arg("-xf")
            .arg(v)
            .arg("-C")
            .arg(&joined));
    }
    std::fs::remove_file(joined.join("diskimg-catalog.txt")).unwrap();
    join_parts(&joined);
    let cmp = Compare {
        modes: true,
        file_times: true,
        dir_times: false,
    };
    assert_same_tree(&joined, &src, cmp, "joined volumes");
    // The catalog names every file with data, and the volume it is on.
    for (rel, e) in tree(&src) {
        if matches!(e.kind, Kind::File { .. }) {
            assert!(catalog.contains(&format!("/{rel}")), "{rel} not in catalog");
        }
    }
    assert!(catalog.contains("/video.mkv.part1of"), "{catalog}");
}

#[test]
fn udf_volumes_fit_and_their_udf_trees_together_hold_the_source() {
    let (Some(sevenz), Some(udfinfo)) = (tool("7zz"), tool("udfinfo")) else {
        return;
    };
    let t = tempdir();
    let src = t.path().join("photos");
    make_source(&src);
    std::fs::remove_file(src.join("latest")).unwrap(); // 7-Zip's UDF reader skips symlinks
    let out = t.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let capacity = 1u64 << 20;
    ok(diskimg()
        .args([
            "create",
            "iso",
            "-q",
            "--span",
            "1M",
            "--udf",
            "--udf-rev",
            "2.50",
        ])
        .arg(&src)
        .arg("-o")
        .arg(out.join("photos.iso")));
    let vols = volumes(&out);
    assert!(vols.len() >= 4, "{} volumes", vols.len());
    let joined = t.path().join("joined");
    for v in &vols {
        let size = v.metadata().unwrap().len();
        assert!(size <= capacity, "{} is {size} bytes", v.display());
        let info = String::from_utf8(ok(Command::new(&udfinfo).arg(v))).unwrap();
        assert!(info.contains("udfrev=2.50"), "{info}");
        let log = String::from_utf8(ok(Command::new(&sevenz)
            .args(["x", "-tudf", "-y"])
            .arg(format!("-o{}", joined.display()))
            .arg(v)))
        .unwrap();
        assert!(!log.contains("Warning") && !log.contains("Error"), "{log}");
    }
    std::fs::remove_file(joined.join("diskimg-catalog.txt")).unwrap();
    join_parts(&joined);
    let cmp = Compare {
        modes: false,
        file_times: true,
        dir_times: false,
    };
    assert_same_tree(&joined, &src, cmp, "joined UDF trees");
}

#[test]
fn no_split_refuses_a_file_larger_than_a_volume_and_writes_nothing() {
    let t = tempdir();
    let src = t.path().join("photos");
    make_source(&src);
    let out = t.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let r = run(diskimg()
        .args(["create", "iso", "-q", "--span", "1M", "--no-split"])
        .arg(&src)
        .arg("-o")
        .arg(out.join("photos.iso")));
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("video.mkv") && err.lines().count() == 1,
        "{err}"
    );
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
}

#[test]
fn a_disc_preset_holding_everything_makes_one_volume() {
    let Some(bsdtar) = tool("bsdtar") else { return };
    let t = tempdir();
    let src = t.path().join("photos");
    make_source(&src);
    let out = t.path().join("set.iso");
    ok(diskimg()
        .args(["create", "iso", "-q", "--span", "cd700"])
        .arg(&src)
        .arg("-o")
        .arg(&out));
    let one = t.path().join("set-1.iso");
    assert!(one.exists() && !t.path().join("set-2.iso").exists());
    let x = t.path().join("x");
    std::fs::create_dir(&x).unwrap();
    ok(Command::new(&bsdtar).arg("-xf").arg(&one).arg("-C").arg(&x));
    std::fs::remove_file(x.join("diskimg-catalog.txt")).unwrap();
    let cmp = Compare {
        modes: true,
        file_times: true,
        dir_times: true,
    };
    assert_same_tree(&x, &src, cmp, "one volume");
}

#[test]
fn unknown_sizes_and_volumes_too_small_are_clear_errors() {
    let t = tempdir();
    let src = t.path().join("photos");
    make_source(&src);
    for (size, says) in [("floppy", "preset"), ("64K", "too small")] {
        let r = run(diskimg()
            .args(["create", "iso", "-q", "--span", size])
            .arg(&src)
            .arg("-o")
            .arg(t.path().join("x.iso")));
        assert!(!r.status.success());
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(err.contains(says), "{size}: {err}");
    }
}
