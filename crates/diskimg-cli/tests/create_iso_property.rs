//! Property test of the ISO writer: random trees (Unicode and very long names, deep folders,
//! empty and odd-sized files, modes, times, symlinks, hard links) made into images with random
//! option sets read back equal — through our reader and through bsdtar (Rock Ridge), and
//! through 7-Zip's UDF reader for bridge images. Each case is one seed; a failure names it, and
//! `DISKIMG_PROPTEST_SEED=N` replays it. `DISKIMG_PROPTEST_CASES` sets how many cases run
//! (default 10).

mod common;

use common::*;
use filetime::FileTime;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A small deterministic generator (xorshift64*), so every case replays from its seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const PIECES: &[&str] = &[
    "a",
    "B",
    "photo",
    "IMG_0001",
    "ÄÖÜ",
    "é",
    "日本語",
    "😀",
    "x y",
    "read.me",
    "-dash",
    "über",
    "Ωmega",
    "lower",
    "UPPER",
    "tab",
    "1999",
    "_",
    "long-name-part",
];

/// A name of one to a few pieces; sometimes very long (up to 240 bytes).
fn name(rng: &mut Rng) -> String {
    let mut n = String::new();
    let parts = if rng.below(8) == 0 {
        12
    } else {
        1 + rng.below(3)
    };
    for i in 0..parts {
        if i > 0 {
            n.push(*rng.pick(&['.', '_', ' ', '-']));
        }
        let piece = PIECES[rng.below(PIECES.len() as u64) as usize];
        n.push_str(piece);
    }
    while n.len() > 240 {
        n.pop();
    }
    n
}

fn time(rng: &mut Rng) -> FileTime {
    // 1980 .. 2037, whole seconds (what Rock Ridge short-form stamps and ISO records keep).
    FileTime::from_unix_time(315_532_800 + rng.below(1_830_000_000) as i64, 0)
}

/// Builds a random tree under `root`; returns the folders made (deepest last).
fn random_tree(rng: &mut Rng, root: &Path) {
    let mut dirs = vec![root.to_path_buf()];
    let mut files: Vec<PathBuf> = Vec::new();
    let count = 10 + rng.below(60);
    for _ in 0..count {
        let parent = rng.pick(&dirs).clone();
        let path = parent.join(name(rng));
        if path.symlink_metadata().is_ok() {
            continue;
        }
        match rng.below(10) {
            0..=1 => {
                std::fs::create_dir(&path).unwrap();
                dirs.push(path);
            }
            2 => {
                // A chain of folders deeper than ISO 9660's eight levels.
                let mut p = path;
                for i in 0..(3 + rng.below(8)) {
                    std::fs::create_dir(&p).unwrap();
                    dirs.push(p.clone());
                    p = p.join(format!("d{i}"));
                }
            }
            3 => {
                let target = if files.is_empty() || rng.below(3) == 0 {
                    format!("../{}", name(rng))
                } else {
                    let f = rng.pick(&files).clone();
                    f.strip_prefix(root).unwrap().to_string_lossy().into_owned()
                };
                std::os::unix::fs::symlink(target, &path).unwrap();
            }
            4 if !files.is_empty() => {
                let f = rng.pick(&files).clone();
                std::fs::hard_link(f, &path).unwrap();
            }
            _ => {
                let size = match rng.below(6) {
                    0 => 0,
                    1 => 2048,
                    2 => 2047 + rng.below(3),
                    3 => rng.below(300_000),
                    _ => rng.below(5000),
                };
                let mut data = vec![0u8; size as usize];
                let mut x = rng.next();
                for b in data.iter_mut() {
                    x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    *b = (x >> 56) as u8;
                }
                std::fs::write(&path, data).unwrap();
                files.push(path);
            }
        }
    }
    use std::os::unix::fs::PermissionsExt;
    for f in &files {
        let mode = *rng.pick(&[0o644, 0o600, 0o755, 0o444, 0o640]);
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(mode)).unwrap();
        filetime::set_file_mtime(f, time(rng)).unwrap();
    }
    for d in dirs.iter().skip(1).rev() {
        let mode = *rng.pick(&[0o755, 0o700, 0o750]);
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(mode)).unwrap();
        filetime::set_file_mtime(d, time(rng)).unwrap();
    }
}

fn cases() -> Vec<u64> {
    if let Ok(s) = std::env::var("DISKIMG_PROPTEST_SEED") {
        return vec![s.parse().expect("DISKIMG_PROPTEST_SEED is a number")];
    }
    let n = std::env::var("DISKIMG_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    (1..=n).collect()
}

#[test]
fn random_trees_read_back_equal() {
    let (Some(bsdtar), Some(sevenzip)) = (tool("bsdtar"), tool("7zz")) else {
        return;
    };
    for seed in cases() {
        let t = tempdir();
        let mut rng = Rng::new(seed);
        let src = t.path().join("src");
        std::fs::create_dir(&src).unwrap();
        random_tree(&mut rng, &src);
        let udf = rng.below(3) == 0;
        let mut args: Vec<&str> = vec!["create", "iso", "-q"];
        if udf {
            args.push("--udf");
        }
        if rng.below(2) == 0 {
            args.push("--reproducible");
        }
        if rng.below(3) == 0 {
            args.push("--no-joliet");
        }
        let iso = t.path().join("t.iso");
        let label = format!("seed {seed} ({args:?})");
        let out = run(diskimg().args(&args).arg(&src).arg("-o").arg(&iso));
        assert!(
            out.status.success(),
            "{label}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let every = Compare {
            modes: true,
            file_times: true,
            dir_times: true,
        };

        let ours = t.path().join("ours");
        ok(diskimg()
            .args(["extract", "-q", "--namespace", "rockridge"])
            .arg(&iso)
            .arg("-o")
            .arg(&ours));
        assert_same_tree(&ours, &src, every, &format!("{label}, our reader"));

        let theirs = t.path().join("bsdtar");
        std::fs::create_dir(&theirs).unwrap();
        ok(Command::new(&bsdtar)
            .arg("-xf")
            .arg(&iso)
            .arg("-C")
            .arg(&theirs));
        assert_same_tree(&theirs, &src, every, &format!("{label}, bsdtar"));

        if udf {
            let ours_udf = t.path().join("ours-udf");
            ok(diskimg()
                .args(["extract", "-q", "--namespace", "udf"])
                .arg(&iso)
                .arg("-o")
                .arg(&ours_udf));
            assert_same_tree(&ours_udf, &src, every, &format!("{label}, our UDF reader"));
            // 7-Zip refuses UDF volumes that hold symlinks; check the contents where it reads.
            let z = t.path().join("7z");
            let o = run(Command::new(&sevenzip)
                .args(["x", "-tudf", "-y"])
                .arg(format!("-o{}", z.display()))
                .arg(&iso));
            if o.status.success() {
                assert_same_tree(&z, &src, Compare::default(), &format!("{label}, 7-Zip UDF"));
            }
        }
    }
}
