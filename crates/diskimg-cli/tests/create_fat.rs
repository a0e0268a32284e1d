//! `diskimg create fat` and UEFI images made from folders: our FAT images checked by fsck.fat,
//! mtools (mdir, mcopy), 7-Zip, sfdisk and sgdisk, and read back by our own reader; the
//! geometry compared with mkfs.fat's for the same sizes; random trees read back equal.

mod common;

use common::*;
use diskimg::build::fat::{self, FatOptions, FatType, PartitionStyle};
use diskimg::build::tree::{FileTree, Kind as TreeKind, Meta, ROOT, Source};
use diskimg::fs::{FileSystem, FileSystemExt, FileType};
use diskimg::time::Timestamp;
use std::collections::{BTreeMap, HashSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// Bytes that do not repeat in a short period (so misplaced clusters show).
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn set_mtime(p: &Path, secs: u64) {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    std::fs::File::open(p).unwrap().set_modified(t).unwrap();
}

/// A source folder with the names FAT makes hard: case variants, long and unicode names,
/// names that look like generated short names, empty files and folders, deep folders, many
/// similar names, a read-only file and a file of several MiB. Times are even seconds (FAT's
/// resolution), modes 0644/0444/0755 (what a FAT reader gives back).
fn source_tree(root: &Path) {
    let files: Vec<(String, Vec<u8>)> = vec![
        ("readme.txt".into(), b"hello\n".to_vec()),
        ("README.TXT".into(), b"upper case twin\n".to_vec()),
        ("Mixed Case Name.Txt".into(), b"mixed\n".to_vec()),
        (
            "Long file name with spaces, more than sixty-four characters in total length.txt"
                .into(),
            b"long\n".to_vec(),
        ),
        (
            "LONGFI~1.TXT".into(),
            b"a name that looks generated\n".to_vec(),
        ),
        ("x.tar.gz".into(), pattern(3000, 1)),
        (".hidden".into(), b"dot\n".to_vec()),
        ("empty.dat".into(), Vec::new()),
        ("ro.txt".into(), b"read only\n".to_vec()),
        (
            "ünïcødé/日本語のファイル.txt".into(),
            "こんにちは\n".as_bytes().to_vec(),
        ),
        ("ünïcødé/émoji 🎉.txt".into(), b"party\n".to_vec()),
        ("data/big.bin".into(), pattern((2 << 20) + 123, 2)),
        ("deep/a/b/c/d/e/f/g/h/deep.txt".into(), b"deep\n".to_vec()),
    ];
    let mut all = files;
    for i in 0..300 {
        all.push((
            format!("many/file{i:04}.txt"),
            format!("file {i}\n").into_bytes(),
        ));
    }
    for i in 0..40 {
        all.push((
            format!("many/Long similar name {i:03}.text"),
            pattern(100 + i * 37, i as u64),
        ));
    }
    for (rel, data) in &all {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
    }
    std::fs::create_dir_all(root.join("emptydir")).unwrap();
    // Times and modes last, deepest first, so creating children does not move them.
    let mut entries: Vec<PathBuf> = tree(root).keys().map(|k| root.join(k)).collect();
    entries.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for (i, p) in entries.iter().enumerate() {
        let mode = if p.ends_with("ro.txt") {
            0o444
        } else if p.is_dir() {
            0o755
        } else {
            0o644
        };
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
        set_mtime(p, 1_700_000_000 + 2 * i as u64);
    }
}

fn create(src: &Path, out: &Path, extra: &[&str]) -> Vec<u8> {
    let o = run(diskimg()
        .args(["create", "fat", "-q"])
        .arg(src)
        .arg("-o")
        .arg(out)
        .args(extra));
    assert!(
        o.status.success(),
        "create fat {extra:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stderr
}

/// Runs fsck.fat -n on the volume at `offset` of `img` and checks it found nothing.
fn fsck(fsck: &Path, img: &Path, offset: u64, t: &Path) {
    let vol = if offset == 0 {
        img.to_path_buf()
    } else {
        let v = t.join("volume.img");
        let _ = std::fs::remove_file(&v);
        ok(diskimg()
            .args(["extract", "-q", "--raw", "-p", "1"])
            .arg(img)
            .arg("-o")
            .arg(&v));
        v
    };
    let o = run(Command::new(fsck).arg("-n").arg(&vol));
    let text =
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "fsck.fat: {text}");
    // A clean run prints the version and the summary line only.
    assert_eq!(text.lines().count(), 2, "fsck.fat: {text}");
}

/// An mtools command that reads FAT times as UTC (as we write them) and names as UTF-8.
fn mtools(tool: &Path) -> Command {
    let mut c = Command::new(tool);
    c.env("TZ", "UTC").env("LC_ALL", "C.UTF-8");
    c
}

fn mimg(img: &Path, offset: u64) -> String {
    if offset == 0 {
        img.display().to_string()
    } else {
        format!("{}@@{offset}", img.display())
    }
}

/// The short names mdir lists in each folder, and the long name beside each.
fn mdir_names(mdir: &Path, img: &Path, offset: u64) -> BTreeMap<String, Vec<(String, String)>> {
    let out = String::from_utf8(ok(mtools(mdir).args([
        "-/",
        "-a",
        "-i",
        &mimg(img, offset),
        "::/",
    ])))
    .unwrap();
    let mut dirs: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut cur = String::new();
    for line in out.lines() {
        if let Some(d) = line.strip_prefix("Directory for ::") {
            cur = d.to_owned();
            continue;
        }
        // "NAME     EXT   <size or <DIR>> yyyy-mm-dd  hh:mm  long name"
        let b = line.as_bytes();
        if b.len() < 39 || b.get(27) != Some(&b'-') {
            continue;
        }
        let name = line[..8].trim_end();
        let ext = line[9..12].trim_end();
        if name == "." || name == ".." {
            continue;
        }
        let short = if ext.is_empty() {
            name.to_owned()
        } else {
            format!("{name}.{ext}")
        };
        let long = line.get(42..).unwrap_or("").trim().to_owned();
        dirs.entry(cur.clone()).or_default().push((short, long));
    }
    dirs
}

#[test]
fn geometry_matches_mkfs_fat() {
    let Some(mkfs) = tool("mkfs.fat") else { return };
    let t = tempdir();
    let empty = t.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let cases: &[(u64, Option<&str>)] = &[
        (1440, None),
        (2880, None),
        (1024, None),
        (4096, None),
        (16 << 10, None),
        (64 << 10, None),
        (300 << 10, None),
        ((512 << 10) - 1024, None),
        (512 << 10, None),
        (2 << 20, None),
        (9 << 20, None),
        (40 << 20, None),
        (64 << 10, Some("12")),
        (16 << 10, Some("16")),
        (100 << 10, Some("32")),
        (300 << 10, Some("32")),
        (1 << 20, Some("16")),
    ];
    for &(kib, forced) in cases {
        let theirs = t.path().join("theirs.img");
        let ours = t.path().join("ours.img");
        let _ = std::fs::remove_file(&theirs);
        let mut m = Command::new(&mkfs);
        m.arg("-C");
        if let Some(f) = forced {
            m.args(["-F", f]);
        }
        ok(m.arg(&theirs).arg(kib.to_string()));
        let mut args = vec!["--overwrite".to_owned(), "--size".into(), format!("{kib}K")];
        if let Some(f) = forced {
            args.extend(["--fat".into(), f.into()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        create(&empty, &ours, &args);
        let read = |p: &Path| {
            let mut b = vec![0u8; 512];
            std::io::Read::read_exact(&mut std::fs::File::open(p).unwrap(), &mut b).unwrap();
            b
        };
        let (a, b) = (read(&ours), read(&theirs));
        let label = format!("{kib} KiB, FAT {forced:?}");
        // BIOS parameter block: sector size .. total sectors.
        assert_eq!(a[11..36], b[11..36], "{label}: BPB");
        if b[22..24] == [0, 0] {
            // FAT32: FAT length, flags, version, root cluster, FSInfo, backup sector.
            assert_eq!(a[36..52], b[36..52], "{label}: FAT32 fields");
            assert_eq!(a[82..90], b[82..90], "{label}: type");
        } else {
            assert_eq!(a[54..62], b[54..62], "{label}: type");
        }
        assert_eq!(
            std::fs::metadata(&ours).unwrap().len(),
            std::fs::metadata(&theirs).unwrap().len(),
            "{label}"
        );
    }
}

#[test]
fn fsck_mtools_and_partition_tools_accept_every_type() {
    let (Some(fsck_fat), Some(mdir), Some(mcopy), Some(sfdisk), Some(sgdisk)) = (
        tool("fsck.fat"),
        tool("mdir"),
        tool("mcopy"),
        tool("sfdisk"),
        tool("sgdisk"),
    ) else {
        return;
    };
    let t = tempdir();
    let src = t.path().join("src");
    source_tree(&src);
    for (bits, size) in [("12", "4M"), ("16", "40M"), ("32", "100M")] {
        for partition in ["none", "mbr", "gpt"] {
            let label = format!("FAT{bits} {partition}");
            let img = t.path().join(format!("fat{bits}-{partition}.img"));
            create(
                &src,
                &img,
                &[
                    "--size",
                    size,
                    "--fat",
                    bits,
                    "--partition",
                    partition,
                    "--label",
                    "Test Vol",
                ],
            );
            let offset = if partition == "none" { 0 } else { 1 << 20 };
            if partition != "none" {
                let j: serde_json::Value =
                    serde_json::from_slice(&ok(Command::new(&sfdisk).arg("-J").arg(&img))).unwrap();
                let pt = &j["partitiontable"];
                assert_eq!(pt["label"], if partition == "mbr" { "dos" } else { "gpt" });
                let p = &pt["partitions"][0];
                assert_eq!(p["start"], 2048, "{label}");
                let kind = p["type"].as_str().unwrap().to_owned();
                let want = match (partition, bits) {
                    ("gpt", _) => "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7",
                    (_, "12") => "1",
                    (_, "16") => "e",
                    _ => "c",
                };
                assert_eq!(kind, want, "{label}");
                let v =
                    String::from_utf8_lossy(&ok(Command::new(&sfdisk).arg("--verify").arg(&img)))
                        .into_owned();
                assert!(v.contains("No errors detected"), "{label}: {v}");
                if partition == "gpt" {
                    let v = String::from_utf8_lossy(&ok(Command::new(&sgdisk).arg("-v").arg(&img)))
                        .into_owned();
                    assert!(v.contains("No problems found"), "{label}: {v}");
                }
            }
            fsck(&fsck_fat, &img, offset, t.path());
            // mtools: the same names, sizes, contents and times.
            let out = t.path().join(format!("mcopy-{bits}-{partition}"));
            std::fs::create_dir(&out).unwrap();
            ok(mtools(&mcopy)
                .args(["-s", "-m", "-n", "-i", &mimg(&img, offset), "::*"])
                .arg(&out));
            let cmp = Compare {
                modes: false,
                file_times: true,
                dir_times: false,
            };
            // mtools decodes long names one UTF-16 unit at a time: a character outside the
            // BMP (a surrogate pair) comes out as two underscores (mcopy writes such names
            // without it at all). Our reader and 7-Zip read the pair.
            let uni = out.join("ünïcødé");
            std::fs::rename(uni.join("émoji __.txt"), uni.join("émoji 🎉.txt")).unwrap();
            assert_same_tree(&out, &src, cmp, &label);
            // Short names are unique in each folder and made as Windows makes them.
            let names = mdir_names(&mdir, &img, offset);
            for (dir, entries) in &names {
                let mut seen = HashSet::new();
                for (short, _) in entries {
                    assert!(
                        seen.insert(short.to_uppercase()),
                        "{label}: {dir}: {short} twice"
                    );
                }
            }
            let root = &names["/"];
            let find = |long: &str| {
                root.iter()
                    .find(|(s, l)| l == long || (l.is_empty() && s == long))
                    .map(|(s, _)| s.clone())
                    .unwrap_or_else(|| panic!("{label}: {long} not listed: {root:?}"))
            };
            // The tree is in byte order: README.TXT takes the plain short name first.
            assert_eq!(find("README.TXT"), "README.TXT", "{label}: no long name");
            assert_eq!(find("readme.txt"), "README~1.TXT", "{label}");
            assert_eq!(find("LONGFI~1.TXT"), "LONGFI~1.TXT", "{label}");
            assert_eq!(
                find(
                    "Long file name with spaces, more than sixty-four characters in total length.txt"
                ),
                "LONGFI~2.TXT",
                "{label}"
            );
            assert_eq!(find("x.tar.gz"), "XTAR~1.GZ", "{label}");
            assert_eq!(find("Mixed Case Name.Txt"), "MIXEDC~1.TXT", "{label}");
            let many = &names["/many"];
            assert!(
                many.iter()
                    .any(|(s, l)| s == "LONGSI~4.TEX" && l == "Long similar name 003.text"),
                "{label}: {many:?}"
            );
            assert!(
                many.iter()
                    .filter(|(s, _)| s.starts_with("LO") && !s.starts_with("LONGSI~"))
                    .count()
                    == 36,
                "{label}: hashed short names after ~4"
            );
        }
    }
}

/// Names that fit 8.3 in one case per part are short entries alone, with the NT case flags;
/// the label comes from the folder name.
#[test]
fn mtools_sees_case_flags_and_the_label() {
    let (Some(mdir), Some(mlabel)) = (tool("mdir"), tool("mlabel")) else {
        return;
    };
    let t = tempdir();
    let src = t.path().join("My Stick");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("lower.txt"), b"x").unwrap();
    std::fs::write(src.join("UPPER.TXT"), b"x").unwrap();
    std::fs::write(src.join("base.TXT"), b"x").unwrap();
    let img = t.path().join("l.img");
    create(&src, &img, &[]);
    let l = String::from_utf8(ok(mtools(&mlabel).args(["-s", "-i"]).arg(&img).arg("::"))).unwrap();
    assert!(l.contains("MY STICK"), "{l}");
    let names = mdir_names(&mdir, &img, 0);
    let root: HashSet<(String, String)> = names["/"].iter().cloned().collect();
    for n in ["lower.txt", "UPPER.TXT", "base.TXT"] {
        assert!(
            root.contains(&(n.to_owned(), String::new())),
            "{n}: {root:?}"
        );
    }
}

#[test]
fn seven_zip_and_our_reader_extract_the_same_tree() {
    let Some(sevenz) = tool("7zz") else { return };
    let t = tempdir();
    let src = t.path().join("src");
    source_tree(&src);
    for (name, extra) in [
        ("auto.img", vec![]),
        ("fat32.img", vec!["--fat", "32"]),
        ("gpt.img", vec!["--partition", "gpt", "--size", "64M"]),
    ] {
        let img = t.path().join(name);
        create(&src, &img, &extra);
        // Our reader: names, contents, modes (read-only), file and folder times.
        let ours = t.path().join(format!("{name}.ours"));
        ok(diskimg()
            .args(["extract", "-q"])
            .arg(&img)
            .arg("-o")
            .arg(&ours));
        let all = Compare {
            modes: true,
            file_times: true,
            dir_times: true,
        };
        assert_same_tree(&ours, &src, all, &format!("{name}: our reader"));
        if extra.contains(&"--partition") {
            continue;
        }
        let theirs = t.path().join(format!("{name}.7z"));
        ok(Command::new(&sevenz)
            .env("TZ", "UTC")
            .args(["x", "-y", "-bd"])
            .arg(format!("-o{}", theirs.display()))
            .arg(&img));
        let cmp = Compare {
            modes: false,
            file_times: true,
            dir_times: false,
        };
        assert_same_tree(&theirs, &src, cmp, &format!("{name}: 7-Zip"));
    }
}

#[test]
fn automatic_sizes_fit_and_too_small_sizes_are_refused() {
    let t = tempdir();
    let src = t.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("a.bin"), pattern(3 << 20, 9)).unwrap();
    let img = t.path().join("a.img");
    create(&src, &img, &[]);
    let size = std::fs::metadata(&img).unwrap().len();
    assert_eq!(size, 4 << 20, "3 MiB of data with 10% to spare: 4 MiB");
    let small = t.path().join("small.img");
    let o = run(diskimg()
        .args(["create", "fat", "-q", "--size", "2M"])
        .arg(&src)
        .arg("-o")
        .arg(&small));
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("needs") && err.contains("bytes"), "{err}");
    assert!(!small.exists(), "a failed image leaves no file");
    let o = run(diskimg()
        .args(["create", "fat", "-q", "--size", "2M", "--fat", "32"])
        .arg(&src)
        .arg("-o")
        .arg(&small));
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("FAT32"));
}

#[test]
fn symlinks_are_left_out_with_a_warning_or_followed() {
    let t = tempdir();
    let src = t.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("target.txt"), b"target\n").unwrap();
    std::os::unix::fs::symlink("target.txt", src.join("link")).unwrap();
    let img = t.path().join("s.img");
    let stderr = create(&src, &img, &[]);
    assert!(String::from_utf8_lossy(&stderr).contains("/link: symlink"));
    let ls = String::from_utf8(ok(diskimg().arg("ls").arg(&img))).unwrap();
    assert!(!ls.contains("link") && ls.contains("target.txt"), "{ls}");
    create(&src, &img, &["--follow-symlinks", "--overwrite"]);
    assert_eq!(ok(diskimg().arg("cat").arg(&img).arg("/link")), b"target\n");
}

#[test]
fn reproducible_images_are_identical() {
    let t = tempdir();
    let src = t.path().join("src");
    source_tree(&src);
    let (a, b) = (t.path().join("a.img"), t.path().join("b.img"));
    for img in [&a, &b] {
        ok(diskimg()
            .env("SOURCE_DATE_EPOCH", "1700000100")
            .args([
                "create",
                "fat",
                "-q",
                "--reproducible",
                "--partition",
                "gpt",
            ])
            .arg(&src)
            .arg("-o")
            .arg(img));
    }
    assert_eq!(sha256_file(&a), sha256_file(&b));
    // Times newer than SOURCE_DATE_EPOCH were clamped to it.
    let ls = String::from_utf8(ok(diskimg().args(["ls", "-l"]).arg(&a).arg("/many"))).unwrap();
    assert!(
        ls.contains("2023-11-14T22:15:00Z") || ls.contains("2023-11-14 22:15"),
        "{ls}"
    );
}

#[test]
fn uefi_folder_becomes_the_el_torito_image() {
    let (Some(xorriso), Some(mcopy), Some(fsck_fat)) =
        (tool("xorriso"), tool("mcopy"), tool("fsck.fat"))
    else {
        return;
    };
    let t = tempdir();
    let src = t.path().join("src");
    let loader = pattern(40_000, 5);
    for root in ["EFI/BOOT", "staging/EFI/BOOT"] {
        std::fs::create_dir_all(src.join(root)).unwrap();
        std::fs::write(src.join(root).join("BOOTX64.EFI"), &loader).unwrap();
        std::fs::write(src.join(root).join("grub.cfg"), b"set timeout=5\n").unwrap();
    }
    std::fs::write(src.join("readme.txt"), b"disc\n").unwrap();
    for (uefi, image, inside) in [
        ("/EFI", None, "/efiboot.img"),
        ("/staging", Some("/boot/efi.img"), "/boot/efi.img"),
    ] {
        let iso = t.path().join("u.iso");
        let mut cmd = diskimg();
        cmd.args(["create", "iso", "-q", "--overwrite", "--boot-uefi", uefi]);
        if let Some(i) = image {
            cmd.args(["--boot-uefi-image", i]);
        }
        ok(cmd.arg(&src).arg("-o").arg(&iso));
        let report = String::from_utf8_lossy(&ok(Command::new(&xorriso)
            .arg("-indev")
            .arg(&iso)
            .args(["-report_el_torito", "plain"])))
        .into_owned();
        assert!(
            report
                .lines()
                .any(|l| l.contains("boot img") && l.contains("UEFI")),
            "{report}"
        );
        assert!(
            report
                .lines()
                .any(|l| l.contains("img path") && l.contains(inside)),
            "{report}"
        );
        let efi = t.path().join("efi.img");
        let _ = std::fs::remove_file(&efi);
        ok(Command::new(&xorriso)
            .args(["-osirrox", "on", "-indev"])
            .arg(&iso)
            .args(["-extract", inside])
            .arg(&efi));
        fsck(&fsck_fat, &efi, 0, t.path());
        assert!(std::fs::metadata(&efi).unwrap().len() <= 2_949_120);
        let got = t.path().join("BOOTX64.EFI");
        let _ = std::fs::remove_file(&got);
        ok(mtools(&mcopy)
            .args(["-n", "-i"])
            .arg(&efi)
            .arg("::/EFI/BOOT/BOOTX64.EFI")
            .arg(&got));
        assert_eq!(std::fs::read(&got).unwrap(), loader);
        // The folder stays in the ISO tree too.
        let cat = ok(diskimg().arg("cat").arg(&iso).arg(format!(
            "{}/BOOT/BOOTX64.EFI",
            if uefi == "/EFI" {
                "/EFI"
            } else {
                "/staging/EFI"
            }
        )));
        assert_eq!(cat, loader);
    }
}

/// A small deterministic generator (xorshift), so failures replay by seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// A random tree: names from a pool that collides in 8.3 and in case, unicode, deep folders,
/// empty files and folders.
fn random_tree(rng: &mut Rng, nodes: u64) -> FileTree {
    const STEMS: &[&str] = &[
        "readme",
        "README",
        "ReadMe",
        "Long file name",
        "long FILE name",
        "ünïcødé",
        "日本語",
        "🎉 party",
        "a.b",
        ".hidden",
        "x",
        "LONGFI~1",
        "data",
        "Data",
        "two  spaces",
        "naïve café",
        "ÄÖÜ",
        "setup",
        "SETUP",
        "1234567890",
    ];
    const EXTS: &[&str] = &["", ".txt", ".TXT", ".Txt", ".jpeg", ".tar.gz", ".c", ".EFI"];
    let meta = |rng: &mut Rng, mode: u32| Meta {
        mode,
        uid: 0,
        gid: 0,
        mtime: Timestamp::from_secs(1_000_000_000 + 2 * rng.below(500_000_000) as i64),
        atime: Timestamp::from_secs(0),
        ctime: Timestamp::from_secs(0),
        link_group: None,
    };
    let root_meta = meta(rng, 0o755);
    let mut t = FileTree::new(root_meta);
    let mut dirs = vec![ROOT];
    let count = 1 + rng.below(nodes);
    for _ in 0..count {
        let dir = dirs[rng.below(dirs.len() as u64) as usize];
        let mut name = format!("{}{}", rng.pick(STEMS), rng.pick(EXTS));
        if rng.below(3) == 0 {
            name = format!("{name} {}", rng.below(30));
        }
        let made = if rng.below(4) == 0 && t.depth(dir) < 12 {
            let m = meta(rng, 0o755);
            t.add(dir, &name, TreeKind::Dir(Vec::new()), m)
        } else {
            let len = match rng.below(10) {
                0 => 0,
                1 => rng.below(200_000) as usize,
                _ => rng.below(3000) as usize,
            };
            let data = pattern(len, rng.next());
            let mode = if rng.below(5) == 0 { 0o444 } else { 0o644 };
            let m = meta(rng, mode);
            t.add(
                dir,
                &name,
                TreeKind::File {
                    source: Source::Bytes(data.into()),
                    size: len as u64,
                },
                m,
            )
        };
        if let Ok(i) = made {
            if matches!(t.node(i).kind, TreeKind::Dir(_)) {
                dirs.push(i);
            }
        }
    }
    t
}

type Listing = BTreeMap<String, (bool, Vec<u8>, i64, u32)>;

fn tree_listing(t: &FileTree) -> Listing {
    let mut out = Listing::new();
    for i in t.depth_first().into_iter().skip(1) {
        let n = t.node(i);
        let secs = n.meta.mtime.secs;
        let entry = match &n.kind {
            TreeKind::Dir(_) => (true, Vec::new(), secs, 0o755),
            TreeKind::File {
                source: Source::Bytes(b),
                ..
            } => (
                false,
                b.to_vec(),
                secs,
                if n.meta.mode & 0o222 == 0 {
                    0o444
                } else {
                    0o644
                },
            ),
            _ => continue,
        };
        out.insert(t.path(i), entry);
    }
    out
}

fn fs_listing(fs: &dyn FileSystem) -> Listing {
    let mut out = Listing::new();
    for e in fs.walk(fs.root(), "/").skip(1) {
        let e = e.unwrap();
        let m = &e.metadata;
        let mut data = vec![0u8; m.size as usize];
        let mut done = 0;
        while done < data.len() {
            let n = fs.read_at(e.node, done as u64, &mut data[done..]).unwrap();
            assert!(n > 0, "{}: short read", e.path);
            done += n;
        }
        let dir = m.file_type == FileType::Directory;
        out.insert(
            e.path,
            (
                dir,
                data,
                m.mtime.map_or(0, |t| t.secs),
                m.mode.unwrap_or(0),
            ),
        );
    }
    out
}

#[test]
fn random_trees_read_back_equal() {
    let fsck_fat = tool("fsck.fat");
    let mdir = tool("mdir");
    let t = tempdir();
    for seed in 1..=40u64 {
        let mut rng = Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D));
        // Every fifth tree is large enough to crowd one folder with similar names.
        let tree = random_tree(&mut rng, if seed % 5 == 0 { 800 } else { 120 });
        let fat_type = match rng.below(6) {
            0 => Some(FatType::Fat16),
            1 => Some(FatType::Fat32),
            _ => None,
        };
        let partition = match rng.below(4) {
            0 => PartitionStyle::Gpt,
            1 => PartitionStyle::Mbr,
            _ => PartitionStyle::None,
        };
        let opts = FatOptions {
            fat_type,
            partition,
            label: Some(format!("SEED {seed}")),
            ..FatOptions::default()
        };
        let plan = fat::plan(&tree, ROOT, &opts).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let bytes = fat::write_fat_to_vec(&plan).unwrap();
        let volume = bytes[plan.volume_offset() as usize..].to_vec();
        let dev: diskimg::device::DeviceRef =
            Arc::new(diskimg::io::MemorySource::new(volume.clone()));
        let vol = diskimg::fs::fat::open_volume(dev).unwrap();
        let fs = vol.file_systems[0].fs.clone().unwrap();
        assert_eq!(fs.label().as_deref(), Some(format!("SEED {seed}").as_str()));
        let (got, want) = (fs_listing(fs.as_ref()), tree_listing(&tree));
        // What differs, with contents shown by their length.
        type Brief = Option<(bool, usize, i64, u32)>;
        let brief = |e: Option<&(bool, Vec<u8>, i64, u32)>| -> Brief {
            e.map(|e| (e.0, e.1.len(), e.2, e.3))
        };
        let differ: Vec<(&String, Brief, Brief)> = got
            .keys()
            .chain(want.keys())
            .filter(|k| got.get(*k) != want.get(*k))
            .map(|k| (k, brief(got.get(k)), brief(want.get(k))))
            .collect();
        assert!(
            differ.is_empty(),
            "seed {seed}: (path, read back, tree): {differ:#?}"
        );
        // Independent checkers on a few.
        if seed <= 8 {
            let img = t.path().join(format!("seed{seed}.img"));
            std::fs::write(&img, &volume).unwrap();
            if let Some(f) = &fsck_fat {
                fsck(f, &img, 0, t.path());
            }
            if let Some(m) = &mdir {
                let names = mdir_names(m, &img, 0);
                let listed: usize = names.values().map(Vec::len).sum();
                assert_eq!(listed, tree_listing(&tree).len(), "seed {seed}: mdir");
            }
        }
    }
}
