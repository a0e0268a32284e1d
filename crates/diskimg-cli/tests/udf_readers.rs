//! The UDF reader against the source trees the fixtures were made from, 7-Zip (`7zz -tudf`),
//! udfinfo (udftools) and pycdlib's reader, on images made by mkudffs, newfs_udf, udfclient,
//! genisoimage and pycdlib (tests/fixtures/make-udf.sh).

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Top-level names udfclient copies into the smaller images (make-udf.sh, SMALL).
const SMALL: &[&str] = &["README.TXT", "small.txt", "data", "bin", "ünïcødé"];

/// Images with files, and whether they hold the whole source tree or the SMALL part.
const FILLED: &[(&str, bool)] = &[
    ("hd_2048_r0201_mkudffs.img", true),
    ("hd_512_r0201_mkudffs.img", true),
    ("hd_4096_r0201_mkudffs.img", true),
    ("hd_2048_r0102_mkudffs.img", true),
    ("hd_2048_r0150_mkudffs.img", true),
    ("hd_2048_noefe_shortad_mkudffs.img", false),
    ("strategy4096_mkudffs.img", false),
    ("cdrw_sparable_mkudffs.img", false),
    ("newfs_udf_udfclient.img", false),
    ("bridge_genisoimage.iso", true),
    ("bridge_pycdlib.iso", true),
];

/// Images 7-Zip reads as UDF.
const SEVEN_ZIP: &[&str] = &[
    "hd_2048_r0201_mkudffs.img",
    "hd_512_r0201_mkudffs.img",
    "hd_2048_r0102_mkudffs.img",
    "hd_2048_r0150_mkudffs.img",
    "hd_2048_noefe_shortad_mkudffs.img",
    "bridge_genisoimage.iso",
];

/// Empty images with a virtual partition (VAT).
const VAT: &[&str] = &[
    "vat_cdr_r0150_mkudffs.img",
    "vat_cdr_r0201_mkudffs.img",
    "vat_bdr_r0250_mkudffs.img",
    "vat_bdr_r0260_mkudffs.img",
    "vat_dvdr_r0201_closed_mkudffs.img",
];

fn extract_udf(img: &Path, dest: &Path) {
    ok(diskimg()
        .arg("extract")
        .arg(img)
        .args(["--namespace", "udf", "-o"])
        .arg(dest)
        .arg("--quiet"));
}

fn seven_zip(sevenz: &Path, img: &Path, dest: &Path) {
    ok(Command::new(sevenz)
        .args(["x", "-tudf", "-y"])
        .arg(format!("-o{}", dest.display()))
        .arg(img));
}

fn info_json(img: &Path) -> serde_json::Value {
    serde_json::from_slice(&ok(diskimg().args(["info", "--json"]).arg(img))).unwrap()
}

fn udf_entry(info: &serde_json::Value) -> serde_json::Value {
    info["file_systems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["type"] == "udf")
        .cloned()
        .expect("a udf file system")
}

/// `key=value` lines that make-udf.sh saved from udfinfo.
fn udfinfo(dir: &Path, name: &str) -> BTreeMap<String, String> {
    std::fs::read_to_string(dir.join(format!("{name}.udfinfo")))
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The source tree, or its SMALL part, by relative path.
fn source(dir: &Path, whole: bool) -> BTreeMap<String, Entry> {
    tree(&dir.join("trees/full"))
        .into_iter()
        .filter(|(p, _)| whole || SMALL.contains(&p.split('/').next().unwrap()))
        .collect()
}

/// Each byte of `s` as the character with that code point.
fn as_latin1(s: &str) -> String {
    s.bytes().map(char::from).collect()
}

#[test]
fn contents_match_the_source_tree() {
    let Some(dir) = fixtures("udf") else { return };
    for (name, whole) in FILLED {
        let img = dir.join(name);
        let t = tempdir();
        extract_udf(&img, t.path());
        let mut ours = tree(t.path());
        let mut want = source(&dir, *whole);
        if name.contains("udfclient") || name.contains("mkudffs") {
            // udfclient records the UTF-8 bytes of a name as 8-bit OSTA CS0 characters (each
            // byte a code point), which is what 7-Zip and this reader then show.
            want = want.into_iter().map(|(p, e)| (as_latin1(&p), e)).collect();
        }
        if *name == "bridge_pycdlib.iso" {
            // pycdlib adds links the source tree does not have (checked below).
            for extra in [
                "link_to_readme",
                "bin/link_to_data_dir",
                "absolute_link",
                "dangling_link",
                "data/hardlink.bin",
            ] {
                assert!(ours.remove(extra).is_some(), "{name}: {extra}");
            }
        }
        let paths = |m: &BTreeMap<String, Entry>| m.keys().cloned().collect::<Vec<_>>();
        assert_eq!(paths(&ours), paths(&want), "{name}: paths");
        for (p, e) in &want {
            assert_eq!(ours[p].kind, e.kind, "{name}: {p}");
        }
        // udfclient and genisoimage keep permissions; pycdlib makes everything read-only.
        if *name != "bridge_pycdlib.iso" && *name != "bridge_genisoimage.iso" {
            for (p, e) in &want {
                if matches!(e.kind, Kind::File { .. }) {
                    assert_eq!(ours[p].mode, e.mode, "{name}: mode of {p}");
                }
            }
        }
    }
}

#[test]
fn extraction_matches_7zip() {
    let (Some(dir), Some(sevenz)) = (fixtures("udf"), tool("7zz")) else {
        return;
    };
    let mut images: Vec<PathBuf> = SEVEN_ZIP.iter().map(|n| dir.join(n)).collect();
    let public = Path::new("/work/shared/corpus/public/libcdio");
    for n in ["test-udf1.iso", "udf102.iso"] {
        if public.join(n).exists() {
            images.push(public.join(n));
        }
    }
    for img in images {
        let t = tempdir();
        let (ours, theirs) = (t.path().join("ours"), t.path().join("theirs"));
        extract_udf(&img, &ours);
        seven_zip(&sevenz, &img, &theirs);
        let cmp = Compare {
            modes: false,
            file_times: true,
            dir_times: false,
        };
        assert_same_tree(&ours, &theirs, cmp, &img.display().to_string());
    }
}

#[test]
fn labels_revisions_and_counts_match_udfinfo() {
    let Some(dir) = fixtures("udf") else { return };
    let names = FILLED.iter().map(|(n, _)| *n).chain(VAT.iter().copied());
    for name in names {
        let img = dir.join(name);
        let want = udfinfo(&dir, name);
        let fs = udf_entry(&info_json(&img));
        let d = &fs["details"];
        assert_eq!(fs["label"].as_str().unwrap_or(""), want["lvid"], "{name}");
        // udfinfo's udfrev is the minimum read revision of the integrity descriptor.
        assert_eq!(d["min_read_revision"], want["udfrev"].as_str(), "{name}");
        assert_eq!(
            d["min_write_revision"],
            want["udfwriterev"].as_str(),
            "{name}"
        );
        let domain = name.split('_').find_map(|p| p.strip_prefix("r0"));
        if let Some(rev) = domain.filter(|r| r.len() == 3) {
            assert_eq!(
                d["revision"],
                format!("{}.{}", &rev[..1], &rev[1..]),
                "{name}"
            );
        }
        assert_eq!(
            d["block_size"].as_u64().unwrap().to_string(),
            want["blocksize"],
            "{name}"
        );
        assert_eq!(d["volume_set_id"], want["fullvsid"].as_str(), "{name}");
        assert_eq!(d["files"].as_u64().unwrap().to_string(), want["numfiles"]);
        // Every file and directory udfinfo counts is in our tree (the root included).
        let listed = String::from_utf8(ok(diskimg()
            .args(["ls", "-R", "--namespace", "udf"])
            .arg(&img)))
        .unwrap()
        .lines()
        .count();
        let counted: usize =
            want["numfiles"].parse::<usize>().unwrap() + want["numdirs"].parse::<usize>().unwrap();
        assert_eq!(listed + 1, counted, "{name}: entries");
    }
}

#[test]
fn virtual_partitions_are_read_through_the_vat() {
    let Some(dir) = fixtures("udf") else { return };
    for name in VAT {
        let img = dir.join(name);
        let info = info_json(&img);
        let fs = udf_entry(&info);
        assert_eq!(
            fs["default"], true,
            "{name}: a UDF-only disc defaults to UDF"
        );
        let maps: Vec<&str> = fs["details"]["partition_maps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap())
            .collect();
        assert_eq!(maps, ["type1", "virtual"], "{name}");
        let root = ok(diskimg()
            .args(["ls", "--json", "--namespace", "udf"])
            .arg(&img)
            .arg("/"));
        let root: serde_json::Value = serde_json::from_slice(&root).unwrap();
        assert_eq!(root.as_array().unwrap().len(), 0, "{name}: empty root");
    }
    let sparable = udf_entry(&info_json(&dir.join("cdrw_sparable_mkudffs.img")));
    assert_eq!(sparable["details"]["partition_maps"][0], "sparable");
}

#[test]
fn bridge_discs_prefer_rock_ridge_then_udf() {
    let Some(dir) = fixtures("udf") else { return };
    // Rock Ridge first, then UDF ahead of Joliet and plain ISO 9660.
    let cases: [(&str, &[&str]); 2] = [
        (
            "bridge_genisoimage.iso",
            &["rockridge", "udf", "joliet", "iso9660"],
        ),
        ("bridge_pycdlib.iso", &["udf", "iso9660"]),
    ];
    for (name, expect) in cases {
        let info = info_json(&dir.join(name));
        let fss = info["file_systems"].as_array().unwrap();
        let kinds: Vec<&str> = fss.iter().map(|f| f["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, expect, "{name}");
        assert_eq!(fss[0]["default"], true, "{name}");
    }
    let only = info_json(&dir.join("hd_2048_r0201_mkudffs.img"));
    assert_eq!(only["file_systems"][0]["type"], "udf");
    assert_eq!(only["file_systems"][0]["default"], true);
}

#[test]
fn links_match_what_pycdlib_wrote() {
    let Some(dir) = fixtures("udf") else { return };
    let img = dir.join("bridge_pycdlib.iso");
    let t = tempdir();
    extract_udf(&img, t.path());
    let got = tree(t.path());
    for (path, target) in [
        ("link_to_readme", "README.TXT"),
        ("bin/link_to_data_dir", "../data"),
        ("absolute_link", "/etc/passwd"),
        ("dangling_link", "does/not/exist"),
    ] {
        assert_eq!(got[path].kind, Kind::Symlink(target.into()), "{path}");
    }
    assert_eq!(got["data/rand1.bin"].kind, got["data/hardlink.bin"].kind);
    // pycdlib records a link count of 1 on the shared entry, so the two names share an
    // inode number in the image (checked here) but are extracted as two files.
    let ino = |p: &str| -> u64 {
        let out = ok(diskimg()
            .args(["ls", "--json", "--namespace", "udf"])
            .arg(&img)
            .arg(p));
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        v[0]["ino"].as_u64().unwrap()
    };
    assert_eq!(ino("/data/rand1.bin"), ino("/data/hardlink.bin"));
}

#[test]
fn pycdlib_reader_agrees() {
    let (Some(dir), Some(python)) = (fixtures("udf"), tool("python3")) else {
        return;
    };
    let img = dir.join("bridge_pycdlib.iso");
    let script = r#"
import hashlib, io, json, sys, pycdlib
iso = pycdlib.PyCdlib(); iso.open(sys.argv[1]); out = {}
def walk(p):
    for c in iso.list_children(udf_path=p):
        if c is None: continue  # the parent entry (pycdlib 1.12 yields None for it)
        fi = c.file_ident  # 8-bit CS0 is Latin-1, 16-bit is UTF-16
        name = c.file_identifier().decode(getattr(fi, 'encoding', 'latin-1') or 'latin-1')
        q = (p.rstrip('/') + '/' + name)
        if c.is_dir():
            out[q] = 'dir'; walk(q)
        elif c.is_symlink():
            out[q] = 'link'
        else:
            b = io.BytesIO(); iso.get_file_from_iso_fp(b, udf_path=q)
            out[q] = hashlib.sha256(b.getvalue()).hexdigest()
walk('/')
print(json.dumps(out))
"#;
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(&img)
        .output()
        .unwrap();
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr);
        assert!(!strict(), "pycdlib failed: {msg}");
        eprintln!("skipped: pycdlib cannot read: {msg}");
        return;
    }
    let theirs: BTreeMap<String, String> = serde_json::from_slice(&out.stdout).unwrap();
    let t = tempdir();
    extract_udf(&img, t.path());
    let ours: BTreeMap<String, String> = tree(t.path())
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
    assert_eq!(ours, theirs);
}

#[test]
fn file_over_4_gib_is_read_whole_and_extracted_sparse() {
    let (Some(dir), Some(sevenz)) = (fixtures("udf"), tool("7zz")) else {
        return;
    };
    let img = dir.join("huge_genisoimage.iso");
    let out = ok(diskimg()
        .args(["ls", "--json", "--namespace", "udf"])
        .arg(&img)
        .arg("/huge.bin"));
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let size = 4 * 1024u64.pow(3) + 5 * 1024 * 1024 + 17;
    assert_eq!(v[0]["size"].as_u64(), Some(size));
    let hash = |cmd: String| {
        String::from_utf8(ok(Command::new("sh").arg("-c").arg(cmd)))
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    };
    let ours = hash(format!(
        "'{}' cat --namespace udf '{}' /huge.bin | sha256sum",
        env!("CARGO_BIN_EXE_diskimg"),
        img.display()
    ));
    let theirs = hash(format!(
        "'{}' e -tudf -so '{}' huge.bin | sha256sum",
        sevenz.display(),
        img.display()
    ));
    assert_eq!(ours, theirs);
    let t = tempdir();
    extract_udf(&img, t.path());
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(t.path().join("huge.bin")).unwrap();
    assert_eq!(m.len(), size);
    assert!(
        m.blocks() * 512 < 64 * 1024 * 1024,
        "zeros of the image stay holes"
    );
}
