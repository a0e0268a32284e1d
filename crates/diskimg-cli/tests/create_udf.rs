//! `diskimg create iso --udf`: ISO 9660/UDF bridge images at UDF 1.02, 2.01 and 2.50, read back
//! by 7-Zip (`7zz -tudf`), udfinfo (udftools), udfclient, pycdlib (both trees), bsdtar and
//! isoinfo (the ISO 9660 side) and our own reader, and compared with the source tree they were
//! made from. The trees are made here, with fixed contents, modes and times.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::fs::{File, FileTimes};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

const REVISIONS: [&str; 3] = ["1.02", "2.01", "2.50"];
/// Newer than every time in the trees, so nothing is clamped.
const EPOCH: &str = "1700000000";

/// Deterministic bytes.
fn data(seed: &str, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 32);
    let mut i = 0;
    while out.len() < n {
        out.extend_from_slice(&sha2::Sha256::digest(format!("{seed}:{i}")));
        i += 1;
    }
    out.truncate(n);
    out
}

use sha2::Digest;

/// Sets the modification time, and an access time in the future: reading the tree then does
/// not change it (relatime), and it is clamped to SOURCE_DATE_EPOCH like every later time.
fn set_mtime(path: &Path, secs: u64) {
    let t = UNIX_EPOCH + Duration::from_secs(secs);
    let later = std::time::SystemTime::now() + Duration::from_secs(3 * 86_400);
    File::open(path)
        .unwrap()
        .set_times(FileTimes::new().set_modified(t).set_accessed(later))
        .unwrap();
}

fn put(root: &Path, rel: &str, content: &[u8], mode: u32, mtime: u64) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, content).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    set_mtime(&p, mtime);
}

/// A tree like a photographer's or a project's: files of every size class, Unicode and long
/// names, modes, a hard link, deep and empty folders, many small files; with `links`, also
/// symbolic links (7-Zip refuses UDF volumes that hold any).
fn source_tree(dir: &Path, links: bool) -> PathBuf {
    let root = dir.join(if links { "rich" } else { "plain" });
    put(
        &root,
        "README.TXT",
        b"Hello from a bridge disc.\n",
        0o644,
        1_700_000_000,
    );
    put(&root, "empty.txt", b"", 0o644, 1_700_000_000);
    put(
        &root,
        "data/rand1.bin",
        &data("rand1", 100_000),
        0o600,
        1_690_000_000,
    );
    put(
        &root,
        "data/big.bin",
        &data("big", 3 * 1024 * 1024 + 123),
        0o644,
        1_690_000_000,
    );
    put(
        &root,
        "data/zero.bin",
        &[0u8; 200_000],
        0o644,
        1_690_000_000,
    );
    std::fs::hard_link(root.join("data/rand1.bin"), root.join("data/hardlink.bin")).unwrap();
    put(
        &root,
        "Long file name with spaces, more than sixty-four characters in total length.txt",
        b"long\n",
        0o644,
        1_600_000_000,
    );
    put(
        &root,
        "ünïcødé/日本語のファイル.txt",
        "こんにちは\n".as_bytes(),
        0o644,
        1_500_000_000,
    );
    // Outside the Basic Multilingual Plane: a surrogate pair in UDF and Joliet.
    put(
        &root,
        "ünïcødé/emoji 😀.txt",
        b"smile\n",
        0o644,
        1_500_000_000,
    );
    put(
        &root,
        "ünïcødé/Ελληνικά.txt",
        "γεια\n".as_bytes(),
        0o644,
        1_500_000_000,
    );
    put(
        &root,
        "bin/run.sh",
        b"#!/bin/sh\necho hi\n",
        0o755,
        1_600_000_000,
    );
    put(&root, "modes/readonly.txt", b"ro\n", 0o444, 1_600_000_000);
    put(
        &root,
        "modes/private.txt",
        b"private\n",
        0o600,
        1_600_000_000,
    );
    let deep: Vec<String> = (1..=12).map(|i| format!("d{i}")).collect();
    put(
        &root,
        &format!("{}/leaf.txt", deep.join("/")),
        b"twelve levels\n",
        0o644,
        1_600_000_000,
    );
    for i in 0..300 {
        put(
            &root,
            &format!("many/file{i:04}.txt"),
            format!("file {i}\n").as_bytes(),
            0o644,
            1_650_000_000,
        );
    }
    std::fs::create_dir_all(root.join("emptydir")).unwrap();
    if links {
        let link =
            |target: &str, at: &str| std::os::unix::fs::symlink(target, root.join(at)).unwrap();
        link("README.TXT", "link_to_readme");
        link("../data", "bin/link_to_data");
        link("/etc/passwd", "absolute_link");
        link("does/not/exist", "dangling_link");
    }
    let mut dirs: Vec<PathBuf> = tree(&root)
        .into_iter()
        .filter(|(_, e)| e.kind == Kind::Dir)
        .map(|(p, _)| root.join(p))
        .collect();
    dirs.push(root.clone());
    for d in dirs {
        set_mtime(&d, 1_650_000_000);
    }
    root
}

fn create(src: &Path, img: &Path, revision: &str, extra: &[&str]) {
    ok(diskimg()
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .args(["create", "iso", "-q", "--udf", "--udf-rev", revision])
        .arg(src)
        .arg("-o")
        .arg(img)
        .args(extra));
}

const ALL: Compare = Compare {
    modes: true,
    file_times: true,
    dir_times: true,
};

#[test]
fn seven_zip_reads_every_revision_like_the_source() {
    let Some(sevenz) = tool("7zz") else { return };
    let t = tempdir();
    // And a tree without any file data: 7-Zip finds the closing anchor right after the last
    // block it read, so nothing unread may sit there.
    let bare = t.path().join("bare");
    put(&bare, "empty.txt", b"", 0o644, 1_600_000_000);
    std::fs::create_dir(bare.join("folder")).unwrap();
    set_mtime(&bare.join("folder"), 1_650_000_000);
    set_mtime(&bare, 1_650_000_000);
    let full = source_tree(t.path(), false);
    for (src, rev) in REVISIONS
        .iter()
        .map(|r| (&full, *r))
        .chain(REVISIONS.iter().map(|r| (&bare, *r)))
    {
        let name = src.file_name().unwrap().to_string_lossy();
        let img = t.path().join(format!("{name}-{rev}.iso"));
        create(src, &img, rev, &[]);
        let out = t.path().join(format!("7z-{name}-{rev}"));
        let log = String::from_utf8(ok(Command::new(&sevenz)
            .args(["x", "-tudf", "-y"])
            .arg(format!("-o{}", out.display()))
            .arg(&img)))
        .unwrap();
        assert!(
            !log.contains("Warning") && !log.contains("Error"),
            "{name}, {rev}: {log}"
        );
        let cmp = Compare {
            modes: false,
            ..ALL
        };
        assert_same_tree(&out, src, cmp, &format!("7-Zip, {name}, UDF {rev}"));
    }
}

/// `key=value` lines and the space layout udfinfo prints.
fn udfinfo(udfinfo: &Path, img: &Path) -> (BTreeMap<String, String>, Vec<String>) {
    let out = run(Command::new(udfinfo).arg(img));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.is_empty(),
        "udfinfo: {stderr}"
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let layout = text
        .lines()
        .filter(|l| l.starts_with("start="))
        .map(str::to_owned)
        .collect();
    let facts = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| *k != "start")
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    (facts, layout)
}

/// Names that are not folders (hard links and links counted) and folders, the root included.
fn counts(src: &Path) -> (usize, usize) {
    let t = tree(src);
    let dirs = t.values().filter(|e| e.kind == Kind::Dir).count();
    (t.len() - dirs, dirs + 1)
}

#[test]
fn udfinfo_finds_nothing_to_warn_about() {
    let Some(udfinfo_bin) = tool("udfinfo") else {
        return;
    };
    let t = tempdir();
    let src = source_tree(t.path(), true);
    let (files, dirs) = counts(&src);
    for rev in REVISIONS {
        let img = t.path().join(format!("{rev}.iso"));
        create(&src, &img, rev, &["--volume-id", "Footage 2019"]);
        let (facts, layout) = udfinfo(&udfinfo_bin, &img);
        for (key, want) in [
            ("lvid", "Footage 2019"),
            ("vid", "Footage 2019"),
            ("fsid", "Footage 2019"),
            ("udfrev", rev),
            ("udfwriterev", rev),
            ("blocksize", "2048"),
            ("integrity", "closed"),
            ("accesstype", "readonly"),
            ("freeblocks", "0"),
            ("numfiles", &files.to_string()),
            ("numdirs", &dirs.to_string()),
        ] {
            assert_eq!(
                facts.get(key).map(String::as_str),
                Some(want),
                "{rev}: {key}"
            );
        }
        // Anchors at 256 and at the last sector, the partition after the first.
        let blocks: u64 = facts["blocks"].parse().unwrap();
        assert_eq!(std::fs::metadata(&img).unwrap().len(), blocks * 2048);
        assert!(
            layout.contains(&"start=256, blocks=1, type=ANCHOR".to_owned()),
            "{layout:?}"
        );
        assert!(
            layout.contains(&format!("start={}, blocks=1, type=ANCHOR", blocks - 1)),
            "{layout:?}"
        );
        assert!(
            layout
                .iter()
                .any(|l| l.starts_with("start=257,") && l.ends_with("PSPACE"))
        );
        for kind in ["VRS", "MVDS", "RVDS", "LVID"] {
            assert!(
                layout.iter().any(|l| l.ends_with(&format!("type={kind}"))),
                "{kind}"
            );
        }
    }
}

#[test]
fn our_reader_reads_every_revision_exactly() {
    let t = tempdir();
    let src = source_tree(t.path(), true);
    let (files, dirs) = counts(&src);
    for rev in REVISIONS {
        let img = t.path().join(format!("{rev}.iso"));
        create(&src, &img, rev, &[]);
        let out = t.path().join(format!("ours-{rev}"));
        ok(diskimg()
            .args(["extract", "-q", "--namespace", "udf"])
            .arg(&img)
            .arg("-o")
            .arg(&out));
        assert_same_tree(&out, &src, ALL, &format!("our UDF reader, UDF {rev}"));
        let info: serde_json::Value =
            serde_json::from_slice(&ok(diskimg().args(["info", "--json"]).arg(&img))).unwrap();
        let udf = info["file_systems"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["type"] == "udf")
            .expect("a UDF view")
            .clone();
        let d = &udf["details"];
        assert_eq!(d["revision"], rev);
        assert_eq!(d["files"], files);
        assert_eq!(d["directories"], dirs);
        let maps = if rev == "2.50" {
            serde_json::json!(["type1", "metadata"])
        } else {
            serde_json::json!(["type1"])
        };
        assert_eq!(d["partition_maps"], maps, "{rev}");
        // The ISO 9660 views stay the default; UDF comes after them.
        assert_eq!(info["file_systems"][0]["type"], "rockridge");
        // Hard links: one entry, two names, a link count of two.
        let ls: serde_json::Value = serde_json::from_slice(&ok(diskimg()
            .args(["ls", "--json", "--namespace", "udf"])
            .arg(&img)
            .arg("/data")))
        .unwrap();
        let entry = |name: &str| {
            ls.as_array()
                .unwrap()
                .iter()
                .find(|e| e["name"] == name)
                .unwrap()
                .clone()
        };
        assert_eq!(entry("rand1.bin")["ino"], entry("hardlink.bin")["ino"]);
        assert_eq!(entry("rand1.bin")["nlink"], 2);
        assert_eq!(entry("rand1.bin")["uid"], entry("big.bin")["uid"]);
    }
}

#[test]
fn pycdlib_reads_the_iso_and_udf_trees() {
    let Some(python) = tool("python3") else {
        return;
    };
    let t = tempdir();
    let src = source_tree(t.path(), true);
    let script = r#"
import hashlib, io, json, sys
try:
    import pycdlib
except ImportError:
    print("NO_PYCDLIB"); sys.exit(0)
iso = pycdlib.PyCdlib(); iso.open(sys.argv[1])
def digest(**path):
    b = io.BytesIO(); iso.get_file_from_iso_fp(b, **path)
    return hashlib.sha256(b.getvalue()).hexdigest()
udf = {}
def walk(p):
    for c in iso.list_children(udf_path=p):
        if c is None: continue
        fi = c.file_ident
        name = c.file_identifier().decode(getattr(fi, 'encoding', 'latin-1') or 'latin-1')
        q = p.rstrip('/') + '/' + name
        if c.is_dir():
            udf[q] = 'dir'; walk(q)
        elif c.is_symlink():
            udf[q] = 'link'
        else:
            udf[q] = digest(udf_path=q)
walk('/')
rr = {}
for root, dirs, files in iso.walk(rr_path='/'):
    for d in dirs:
        rr[root.rstrip('/') + '/' + d] = 'dir'
    for f in files:
        p = root.rstrip('/') + '/' + f
        rec = iso.get_record(rr_path=p)
        rr[p] = 'link' if rec.rock_ridge.is_symlink() else digest(rr_path=p)
print(json.dumps({'udf': udf, 'rr': rr}))
"#;
    let want: BTreeMap<String, String> = tree(&src)
        .into_iter()
        .map(|(p, e)| {
            let v = match e.kind {
                Kind::Dir => "dir".to_owned(),
                Kind::Symlink(_) => "link".to_owned(),
                Kind::File { sha256, .. } => sha256,
            };
            (format!("/{p}"), v)
        })
        .collect();
    for rev in REVISIONS {
        let img = t.path().join(format!("{rev}.iso"));
        create(&src, &img, rev, &[]);
        let out = run(Command::new(&python).arg("-c").arg(script).arg(&img));
        let stderr = String::from_utf8_lossy(&out.stderr);
        // pycdlib 1.12 (Debian 12's) reads no extended file entries (UDF 2.x) and misreads a
        // second partition map (2.50): UDF 1.02 is still checked with it; PyPI's reads all.
        let too_old = [
            "Tag identifier not 261",
            "Partition map goes beyond end of data",
        ];
        if rev != "1.02" && too_old.iter().any(|m| stderr.contains(m)) {
            eprintln!("note: this pycdlib cannot read UDF {rev}; checked with UDF 1.02 only");
            continue;
        }
        assert!(out.status.success(), "pycdlib, UDF {rev}: {stderr}");
        if out.stdout.starts_with(b"NO_PYCDLIB") {
            assert!(
                !strict(),
                "pycdlib missing (apt-get install python3-pycdlib)"
            );
            eprintln!("skipped: pycdlib missing");
            return;
        }
        let got: BTreeMap<String, BTreeMap<String, String>> =
            serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(got["udf"], want, "pycdlib's UDF tree, UDF {rev}");
        // The Rock Ridge walk also shows the relocation folder; older pycdlib lists the
        // relocated (deeper than eight levels) directories there, so those are left to bsdtar.
        for (path, value) in want.iter().filter(|(p, _)| p.matches('/').count() <= 8) {
            assert_eq!(
                got["rr"].get(path),
                Some(value),
                "pycdlib's Rock Ridge tree: {path}"
            );
        }
    }
}

#[test]
fn udfclient_reads_every_revision() {
    let (Some(udfclient), Some(udfdump)) = (tool("udfclient"), tool("udfdump")) else {
        return;
    };
    let t = tempdir();
    let src = source_tree(t.path(), false);
    // udfclient shows 8-bit identifiers as UTF-8 bytes, so names beyond ASCII are left out.
    let names: Vec<String> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.is_ascii())
        .collect();
    for rev in REVISIONS {
        let img = t.path().join(format!("{rev}.iso"));
        create(&src, &img, rev, &[]);
        let listing = run_with_input(
            Command::new(&udfclient).args(["-b", "2048"]).arg(&img),
            "ls\nquit\n",
        );
        let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
        let volume = listing
            .lines()
            .find(|l| l.starts_with('d'))
            .and_then(|l| l.split_whitespace().last())
            .unwrap_or_else(|| panic!("udfclient sees no volume in UDF {rev}: {listing}"))
            .to_owned();
        let out = t.path().join(format!("udfclient-{rev}"));
        std::fs::create_dir(&out).unwrap();
        let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
        let commands = format!(
            "lcd {}\ncd {volume}\nmget {}\nquit\n",
            out.display(),
            quoted.join(" ")
        );
        let log = run_with_input(
            Command::new(&udfclient).args(["-b", "2048"]).arg(&img),
            &commands,
        );
        assert!(
            log.status.success(),
            "{}",
            String::from_utf8_lossy(&log.stderr)
        );
        let got = tree(&out);
        let want: BTreeMap<String, Entry> = tree(&src)
            .into_iter()
            .filter(|(p, _)| p.split('/').next().unwrap().is_ascii())
            .collect();
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "udfclient, UDF {rev}"
        );
        for (p, e) in &want {
            assert_eq!(got[p].kind, e.kind, "udfclient, UDF {rev}: {p}");
        }
        // udfdump (the same author's dumper) walks the whole tree.
        let dump = ok(Command::new(&udfdump).args(["-b", "2048", "-t"]).arg(&img));
        let dump = String::from_utf8_lossy(&dump);
        for (p, e) in &want {
            if matches!(e.kind, Kind::File { .. }) {
                assert!(
                    dump.contains(&format!(":Rootdir/{p}\n")),
                    "udfdump, UDF {rev}: {p}"
                );
            }
        }
    }
}

/// Runs a command with `input` on its standard input.
fn run_with_input(cmd: &mut Command, input: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn the_iso_9660_side_is_unchanged() {
    let (Some(bsdtar), Some(isoinfo), Some(xorriso)) =
        (tool("bsdtar"), tool("isoinfo"), tool("xorriso"))
    else {
        return;
    };
    let t = tempdir();
    let src = source_tree(t.path(), true);
    for rev in ["1.02", "2.50"] {
        let img = t.path().join(format!("{rev}.iso"));
        create(&src, &img, rev, &["--volume-id", "BRIDGE"]);
        let out = t.path().join(format!("bsdtar-{rev}"));
        std::fs::create_dir(&out).unwrap();
        ok(Command::new(&bsdtar)
            .arg("-xf")
            .arg(&img)
            .arg("-C")
            .arg(&out));
        assert_same_tree(&out, &src, ALL, &format!("bsdtar, UDF {rev}"));
        let d =
            String::from_utf8(ok(Command::new(&isoinfo).arg("-d").arg("-i").arg(&img))).unwrap();
        assert!(d.contains("Volume id: BRIDGE"), "{d}");
        assert!(d.contains("Rock Ridge signatures version 1 found"), "{d}");
        let size: u64 = d
            .lines()
            .find_map(|l| l.strip_prefix("Volume size is: "))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(size * 2048, std::fs::metadata(&img).unwrap().len());
        let rr = String::from_utf8(ok(Command::new(&isoinfo)
            .args(["-R", "-f", "-i"])
            .arg(&img)))
        .unwrap();
        assert!(
            rr.lines().any(|l| l == "/ünïcødé/日本語のファイル.txt"),
            "{rr}"
        );
        xorriso_reads(
            &xorriso,
            &img,
            &src,
            &t.path().join(format!("xorriso-{rev}")),
        );
    }
}

/// xorriso finds no damage, extracts the Rock Ridge tree like the source and lists the Joliet
/// tree (Rock Ridge ignored) with every name Joliet can hold (64 characters).
fn xorriso_reads(xorriso: &Path, img: &Path, src: &Path, out: &Path) {
    let report = run(Command::new(xorriso)
        .arg("-indev")
        .arg(img)
        .args(["-check_media", "--"]));
    let text = String::from_utf8_lossy(&report.stdout).into_owned()
        + &String::from_utf8_lossy(&report.stderr);
    assert!(
        report.status.success() && text.contains("+ good") && !text.contains("- damaged"),
        "{text}"
    );
    assert!(
        !text.contains("FAILURE") && !text.contains("SORRY"),
        "{text}"
    );
    ok(Command::new(xorriso)
        .args(["-osirrox", "on", "-indev"])
        .arg(img)
        .args(["-extract", "/"])
        .arg(out));
    // xorriso sets a folder's time before it fills it.
    let cmp = Compare {
        dir_times: false,
        ..ALL
    };
    assert_same_tree(out, src, cmp, "xorriso, Rock Ridge");
    let listing = String::from_utf8(ok(Command::new(xorriso)
        .args(["-read_fs", "norock", "-indev"])
        .arg(img)
        .args(["-find", "/"])))
    .unwrap();
    let joliet: std::collections::BTreeSet<&str> = listing
        .lines()
        .filter_map(|l| l.strip_prefix("'/")?.strip_suffix('\''))
        .collect();
    for path in tree(src).keys() {
        if path.split('/').all(|c| c.chars().count() <= 64) {
            assert!(joliet.contains(path.as_str()), "Joliet: {path}");
        }
    }
    assert!(joliet.contains("ünïcødé/日本語のファイル.txt"), "{listing}");
}

#[test]
fn file_over_4_gib_is_whole_in_the_udf_tree() {
    let (Some(sevenz), Some(udfinfo_bin)) = (tool("7zz"), tool("udfinfo")) else {
        return;
    };
    let t = tempdir();
    let src = t.path().join("footage");
    std::fs::create_dir(&src).unwrap();
    let huge = src.join("clip.mov");
    let size: u64 = 4 * 1024 * 1024 * 1024 + 5 * 1024 * 1024 + 17;
    {
        use std::os::unix::fs::FileExt;
        let f = File::create(&huge).unwrap();
        f.set_len(size).unwrap();
        // Markers at the start, across the first UDF extent (1 GiB less a block), across the
        // ISO 9660 extent (4 GiB less a block) and at the end.
        for (at, text) in [
            (0, &b"head"[..]),
            (0x3FFF_F800 - 3, b"udf extent"),
            (0xFFFF_F800 - 4, b"iso extent"),
            (size - 4, b"tail"),
        ] {
            f.write_all_at(text, at).unwrap();
        }
    }
    // Holes keep the source and the image small; without them, or short of space, skip.
    use std::os::unix::fs::MetadataExt;
    let allocated = |p: &Path| std::fs::metadata(p).unwrap().blocks() * 512;
    let avail = String::from_utf8(ok(Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(t.path())))
    .unwrap();
    let avail: u64 = avail
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    if allocated(&huge) > 1 << 20 || avail < 1 << 30 {
        eprintln!(
            "skipped: no sparse files or less than 1 GiB free in {:?}",
            t.path()
        );
        return;
    }
    let img = t.path().join("footage.iso");
    ok(diskimg()
        .args(["create", "iso", "-q", "--udf"])
        .arg(&src)
        .arg("-o")
        .arg(&img));
    udfinfo(&udfinfo_bin, &img);
    let hash = |cmd: String| {
        String::from_utf8(ok(Command::new("sh").arg("-c").arg(cmd)))
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    };
    let theirs = hash(format!(
        "'{}' e -tudf -so '{}' clip.mov | sha256sum",
        sevenz.display(),
        img.display()
    ));
    assert_eq!(theirs, hash(format!("sha256sum < '{}'", huge.display())));
    let ls: serde_json::Value = serde_json::from_slice(&ok(diskimg()
        .args(["ls", "--json", "--namespace", "udf"])
        .arg(&img)
        .arg("/clip.mov")))
    .unwrap();
    assert_eq!(ls[0]["size"], size);
    assert!(allocated(&img) < 64 << 20, "holes of the source stay holes");
}

#[test]
fn bridge_images_are_reproducible() {
    let t = tempdir();
    let src = source_tree(t.path(), true);
    for rev in REVISIONS {
        let (a, b) = (t.path().join("a.iso"), t.path().join("b.iso"));
        create(&src, &a, rev, &["--overwrite"]);
        create(&src, &b, rev, &["--overwrite"]);
        assert_eq!(sha256_file(&a), sha256_file(&b), "UDF {rev}");
    }
}

#[test]
fn hybrid_images_keep_the_closing_anchor_clear_of_the_backup_gpt() {
    let Some(udfinfo_bin) = tool("udfinfo") else {
        return;
    };
    let t = tempdir();
    let src = source_tree(t.path(), false);
    put(&src, "efi.img", &[0u8; 1_474_560], 0o644, 1_650_000_000);
    set_mtime(&src, 1_650_000_000);
    let mbr = t.path().join("mbr.bin");
    std::fs::write(&mbr, [0u8; 432]).unwrap();
    for rev in ["1.02", "2.50"] {
        let img = t.path().join(format!("{rev}.iso"));
        let mbr = mbr.display().to_string();
        create(
            &src,
            &img,
            rev,
            &["--boot-uefi", "efi.img", "--hybrid", "--hybrid-mbr", &mbr],
        );
        let (facts, layout) = udfinfo(&udfinfo_bin, &img);
        let blocks: u64 = facts["blocks"].parse().unwrap();
        assert_eq!(blocks % 512, 0, "a hybrid image ends on a MiB");
        assert!(
            layout.contains(&format!("start={}, blocks=1, type=ANCHOR", blocks - 257)),
            "{layout:?}"
        );
        let out = t.path().join(format!("hybrid-{rev}"));
        ok(diskimg()
            .args(["extract", "-q", "--namespace", "udf"])
            .arg(&img)
            .arg("-o")
            .arg(&out));
        let got = tree(&out);
        assert!(got.contains_key("boot.catalog"));
        assert_eq!(got["efi.img"].kind, tree(&src)["efi.img"].kind);
        let gpt = String::from_utf8(ok(diskimg().args(["info", "--json"]).arg(&img))).unwrap();
        assert!(gpt.contains("\"gpt\""), "{gpt}");
    }
}

#[test]
fn udf_rev_needs_udf() {
    let t = tempdir();
    let out = run(diskimg()
        .args(["create", "iso", "--udf-rev", "2.01"])
        .arg(t.path())
        .arg("-o")
        .arg(t.path().join("x.iso")));
    assert!(!out.status.success());
    let out = run(diskimg()
        .args(["create", "iso", "--udf", "--udf-rev", "2.60"])
        .arg(t.path())
        .arg("-o")
        .arg(t.path().join("x.iso")));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("1.02, 2.01 or 2.50"));
}
