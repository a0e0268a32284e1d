//! The ISO 9660 reader against independent readers (bsdtar, 7-Zip, isoinfo, xorriso, sfdisk)
//! on images made by xorriso, genisoimage and isohybrid (tests/fixtures/make-iso.sh).

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

/// Images compared whole with bsdtar, and whether they carry Rock Ridge (modes and times).
const IMAGES: &[(&str, bool)] = &[
    ("l1_genisoimage.iso", false),
    ("l2_genisoimage.iso", false),
    ("l3_xorriso.iso", false),
    ("l4_iso1999_genisoimage.iso", false),
    ("joliet_genisoimage.iso", false),
    ("joliet_long_genisoimage.iso", false),
    ("rr_joliet_genisoimage.iso", true),
    ("rr_rational_genisoimage.iso", true),
    ("rr_joliet_xorriso.iso", true),
    ("eltorito_isohybrid_xorriso.iso", true),
    ("eltorito_efi_gpt_xorriso.iso", true),
    ("eltorito_isohybrid_syslinux.iso", true),
    ("eltorito_floppy_genisoimage.iso", false),
    ("eltorito_hdemul_genisoimage.iso", false),
    ("multisession_xorriso.iso", true),
    ("zisofs_xorriso.iso", true),
    ("udf_bridge_genisoimage.iso", true),
];

fn extract_ours(img: &Path, dest: &Path, extra: &[&str]) {
    ok(diskimg()
        .arg("extract")
        .arg(img)
        .args(extra)
        .arg("-o")
        .arg(dest)
        .arg("--quiet"));
}

#[test]
fn extraction_matches_bsdtar() {
    let (Some(dir), Some(bsdtar)) = (fixtures("iso"), tool("bsdtar")) else {
        return;
    };
    for (name, rr) in IMAGES {
        let img = dir.join(name);
        let t = tempdir();
        let (ours, theirs) = (t.path().join("ours"), t.path().join("theirs"));
        std::fs::create_dir(&theirs).unwrap();
        extract_ours(&img, &ours, &[]);
        ok(Command::new(&bsdtar)
            .arg("-xf")
            .arg(&img)
            .arg("-C")
            .arg(&theirs));
        let cmp = Compare {
            modes: *rr,
            file_times: true,
            dir_times: *rr,
        };
        assert_same_tree(&ours, &theirs, cmp, name);
    }
}

#[test]
fn joliet_tree_matches_7zip() {
    let (Some(dir), Some(sevenz)) = (fixtures("iso"), tool("7zz")) else {
        return;
    };
    for name in [
        "joliet_genisoimage.iso",
        "joliet_long_genisoimage.iso",
        "rr_joliet_xorriso.iso",
    ] {
        let img = dir.join(name);
        let t = tempdir();
        let (ours, theirs) = (t.path().join("ours"), t.path().join("theirs"));
        extract_ours(&img, &ours, &["--namespace", "joliet"]);
        ok(Command::new(&sevenz)
            .arg("x")
            .arg("-y")
            .arg(format!("-o{}", theirs.display()))
            .arg(&img));
        assert_same_tree(&ours, &theirs, Compare::default(), name);
    }
}

#[test]
fn rock_ridge_tree_matches_xorriso() {
    let (Some(dir), Some(xorriso)) = (fixtures("iso"), tool("xorriso")) else {
        return;
    };
    for name in [
        "rr_joliet_xorriso.iso",
        "rr_joliet_genisoimage.iso",
        "zisofs_xorriso.iso",
        "multisession_xorriso.iso",
    ] {
        let img = dir.join(name);
        let t = tempdir();
        let (ours, theirs) = (t.path().join("ours"), t.path().join("theirs"));
        extract_ours(&img, &ours, &[]);
        ok(Command::new(&xorriso)
            .args(["-osirrox", "on", "-indev"])
            .arg(&img)
            .args(["-extract", "/"])
            .arg(&theirs));
        let cmp = Compare {
            modes: true,
            file_times: true,
            dir_times: false,
        };
        // xorriso shows genisoimage's relocation directory; bsdtar and diskimg hide it.
        let _ = std::fs::remove_dir_all(theirs.join("rr_moved"));
        assert_same_tree(&ours, &theirs, cmp, name);
    }
}

/// Paths of a listing by isoinfo, version suffixes and trailing dots removed.
fn isoinfo_paths(isoinfo: &Path, img: &Path, flag: Option<&str>) -> Vec<String> {
    let out = ok(Command::new(isoinfo).args(flag).args(["-f", "-i"]).arg(img));
    let mut v: Vec<String> = String::from_utf8_lossy(&out)
        .lines()
        .map(|l| {
            let l = match l.rfind(';') {
                Some(i) if l[i + 1..].bytes().all(|b| b.is_ascii_digit()) => &l[..i],
                _ => l,
            };
            let l = if flag.is_none() {
                l.strip_suffix('.').unwrap_or(l)
            } else {
                l
            };
            l.to_owned()
        })
        .collect();
    v.sort();
    v
}

fn our_paths(img: &Path, namespace: &str) -> Vec<String> {
    let out = ok(diskimg()
        .args(["ls", "-R", "--namespace", namespace])
        .arg(img));
    let mut v: Vec<String> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

#[test]
fn each_namespace_lists_what_isoinfo_lists() {
    let (Some(dir), Some(isoinfo)) = (fixtures("iso"), tool("isoinfo")) else {
        return;
    };
    let cases: &[(&str, &str, Option<&str>)] = &[
        ("l1_genisoimage.iso", "iso9660", None),
        ("rr_joliet_genisoimage.iso", "iso9660", None),
        ("joliet_long_genisoimage.iso", "joliet", Some("-J")),
        ("rr_joliet_xorriso.iso", "joliet", Some("-J")),
        ("rr_joliet_xorriso.iso", "rockridge", Some("-R")),
        ("rr_rational_genisoimage.iso", "rockridge", Some("-R")),
    ];
    for (name, ns, flag) in cases {
        let img = dir.join(name);
        let theirs = isoinfo_paths(&isoinfo, &img, *flag);
        if *ns == "rockridge" {
            // isoinfo does not follow relocated directories (CL): it shows them under the
            // relocation directory, and a relocated directory twice. Compare the set of names.
            let base = |v: &[String]| -> std::collections::BTreeSet<String> {
                v.iter()
                    .map(|p| p.rsplit('/').next().unwrap().to_owned())
                    .filter(|n| !n.eq_ignore_ascii_case("rr_moved"))
                    .collect()
            };
            assert_eq!(base(&our_paths(&img, ns)), base(&theirs), "{name} {ns}");
        } else {
            // isoinfo cannot print UCS-2 names outside Latin-1 (7-Zip checks those, above):
            // compare the ASCII paths, and the number of the others.
            let ours = our_paths(&img, ns);
            let split = |v: &[String]| -> (Vec<String>, usize) {
                let ascii: Vec<String> = v.iter().filter(|p| p.is_ascii()).cloned().collect();
                let n = v.len() - ascii.len();
                (ascii, n)
            };
            assert_eq!(split(&ours), split(&theirs), "{name} {ns}");
        }
    }
}

fn info_json(img: &Path) -> serde_json::Value {
    serde_json::from_slice(&ok(diskimg().args(["info", "--json"]).arg(img))).unwrap()
}

#[test]
fn labels_and_extensions_match_isoinfo() {
    let (Some(dir), Some(isoinfo)) = (fixtures("iso"), tool("isoinfo")) else {
        return;
    };
    for (name, _) in IMAGES {
        let img = dir.join(name);
        let d =
            String::from_utf8(ok(Command::new(&isoinfo).arg("-d").arg("-i").arg(&img))).unwrap();
        let volume = d
            .lines()
            .find_map(|l| l.strip_prefix("Volume id: "))
            .unwrap()
            .trim();
        let info = info_json(&img);
        let fss = info["file_systems"].as_array().unwrap();
        let kinds: Vec<&str> = fss.iter().map(|f| f["type"].as_str().unwrap()).collect();
        let plain = fss.iter().find(|f| f["type"] == "iso9660").unwrap();
        assert_eq!(plain["label"].as_str().unwrap_or(""), volume, "{name}");
        assert_eq!(
            kinds.contains(&"joliet"),
            d.contains("Joliet with UCS level"),
            "{name} joliet"
        );
        assert_eq!(
            kinds.contains(&"rockridge"),
            d.contains("Rock Ridge signatures"),
            "{name} rock ridge"
        );
        assert_eq!(
            info["boot"].is_object(),
            d.contains("El Torito"),
            "{name} el torito"
        );
        assert_eq!(
            kinds.contains(&"udf"),
            *name == "udf_bridge_genisoimage.iso",
            "{name} udf"
        );
    }
}

#[test]
fn boot_images_match_xorriso() {
    let (Some(dir), Some(xorriso)) = (fixtures("iso"), tool("xorriso")) else {
        return;
    };
    for name in [
        "eltorito_isohybrid_xorriso.iso",
        "eltorito_efi_gpt_xorriso.iso",
        "eltorito_floppy_genisoimage.iso",
        "eltorito_hdemul_genisoimage.iso",
    ] {
        let img = dir.join(name);
        let report = String::from_utf8(ok(Command::new(&xorriso)
            .arg("-indev")
            .arg(&img)
            .args(["-report_el_torito", "plain"])))
        .unwrap();
        let count = report
            .lines()
            .filter(|l| l.starts_with("El Torito boot img"))
            .count();
        let info = info_json(&img);
        let entries = info["boot"]["el_torito"]["entries"].as_array().unwrap();
        assert_eq!(entries.len(), count, "{name}: entries");

        let t = tempdir();
        let (ours, theirs) = (t.path().join("ours"), t.path().join("theirs"));
        ok(diskimg()
            .args(["extract", "--boot-images", "-q"])
            .arg(&img)
            .arg("-o")
            .arg(&ours));
        ok(Command::new(&xorriso)
            .args(["-osirrox", "on", "-indev"])
            .arg(&img)
            .arg("-extract_boot_images")
            .arg(&theirs));
        let sums = |d: &Path, skip_catalog: bool| {
            let mut v: Vec<String> = std::fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| {
                    !(skip_catalog && p.file_name().unwrap().to_string_lossy().contains("catalog"))
                })
                .filter(|p| !p.file_name().unwrap().to_string_lossy().contains("mbr"))
                .filter(|p| !p.file_name().unwrap().to_string_lossy().contains("gpt"))
                .filter(|p| {
                    !p.file_name()
                        .unwrap()
                        .to_string_lossy()
                        .contains("systemarea")
                })
                .map(|p| sha256_file(&p))
                .collect();
            v.sort();
            v
        };
        assert_eq!(
            sums(&ours, false),
            sums(&theirs, true),
            "{name}: boot image bytes"
        );
    }
}

/// (start, length) in bytes of each partition sfdisk sees in the MBR.
fn sfdisk_mbr(sfdisk: &Path, img: &Path) -> Vec<(u64, u64)> {
    let v: serde_json::Value =
        serde_json::from_slice(&ok(Command::new(sfdisk).arg("-J").arg(img))).unwrap();
    assert_eq!(v["partitiontable"]["label"], "dos");
    v["partitiontable"]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["start"].as_u64().unwrap() * 512,
                p["size"].as_u64().unwrap() * 512,
            )
        })
        .collect()
}

fn starts_lengths(list: &serde_json::Value, len_key: &str) -> Vec<(u64, u64)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|p| (p["start"].as_u64().unwrap(), p[len_key].as_u64().unwrap()))
        .collect()
}

#[test]
fn hybrid_mbr_matches_sfdisk() {
    let (Some(dir), Some(sfdisk)) = (fixtures("iso"), tool("sfdisk")) else {
        return;
    };
    for name in [
        "eltorito_isohybrid_xorriso.iso",
        "eltorito_isohybrid_syslinux.iso",
    ] {
        let img = dir.join(name);
        let info = info_json(&img);
        let pt = &info["partition_table"];
        assert_eq!(pt["scheme"], "mbr", "{name}");
        assert_eq!(
            starts_lengths(&pt["partitions"], "length"),
            sfdisk_mbr(&sfdisk, &img),
            "{name}"
        );
        // The ISO stays the default view: its file systems are on the whole device.
        assert!(
            info["file_systems"][0]["default"].as_bool().unwrap(),
            "{name}"
        );
    }
}

#[test]
fn hybrid_gpt_matches_gdisk_and_its_mbr_matches_sfdisk() {
    let (Some(dir), Some(sfdisk), Some(gdisk)) = (fixtures("iso"), tool("sfdisk"), tool("gdisk"))
    else {
        return;
    };
    let img = dir.join("eltorito_efi_gpt_xorriso.iso");
    let info = info_json(&img);
    let pt = &info["partition_table"];
    assert_eq!(pt["scheme"], "gpt");
    assert_eq!(pt["details"]["mbr"], "hybrid");
    assert_eq!(
        starts_lengths(&pt["details"]["mbr_partitions"], "length"),
        sfdisk_mbr(&sfdisk, &img)
    );
    // gdisk, told to use the GPT, lists the partitions it accepts (it drops the one that
    // overlaps the table, which xorriso writes on purpose to cover the whole ISO).
    let mut child = Command::new(&gdisk)
        .arg("-l")
        .arg(&img)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"2\n").unwrap();
    let out = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
    let listed: Vec<(u64, u64)> = out
        .lines()
        .skip_while(|l| !l.starts_with("Number"))
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (s, e): (u64, u64) = (f.get(1)?.parse().ok()?, f.get(2)?.parse().ok()?);
            Some((s * 512, (e - s + 1) * 512))
        })
        .collect();
    assert!(!listed.is_empty(), "gdisk listed nothing:\n{out}");
    let ours = starts_lengths(&pt["partitions"], "length");
    for p in listed {
        assert!(ours.contains(&p), "gdisk partition {p:?} not in {ours:?}");
    }
}

#[test]
fn multisession_reads_the_last_session() {
    let (Some(dir), Some(xorriso)) = (fixtures("iso"), tool("xorriso")) else {
        return;
    };
    let img = dir.join("multisession_xorriso.iso");
    let toc = String::from_utf8(ok(Command::new(&xorriso)
        .arg("-indev")
        .arg(&img)
        .arg("-toc")))
    .unwrap();
    let sessions = toc.lines().filter(|l| l.starts_with("ISO session")).count();
    let info = info_json(&img);
    let ours = info["file_systems"][0]["details"]["sessions"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(ours, sessions);
    let paths = our_paths(&img, "rockridge");
    assert!(
        paths.contains(&"/S2.TXT".to_owned()),
        "second session's file: {paths:?}"
    );
    assert!(
        !paths.contains(&"/EMPTY.TXT".to_owned()),
        "removed in the third session: {paths:?}"
    );
}

#[test]
fn hard_links_stay_hard_links() {
    let Some(dir) = fixtures("iso") else { return };
    for name in ["rr_joliet_xorriso.iso", "rr_joliet_genisoimage.iso"] {
        let t = tempdir();
        extract_ours(&dir.join(name), t.path(), &[]);
        use std::os::unix::fs::MetadataExt;
        let a = std::fs::metadata(t.path().join("DATA/RAND1.BIN")).unwrap();
        let b = std::fs::metadata(t.path().join("DATA/HARDLINK.BIN")).unwrap();
        assert_eq!(a.ino(), b.ino(), "{name}");
    }
}

#[test]
fn file_over_4_gib_is_read_whole_and_extracted_sparse() {
    let (Some(dir), Some(bsdtar)) = (fixtures("iso"), tool("bsdtar")) else {
        return;
    };
    let img = dir.join("multiextent_4g_xorriso.iso");
    let listing = String::from_utf8(ok(Command::new(&bsdtar).arg("-tvf").arg(&img))).unwrap();
    let size: u64 = listing
        .lines()
        .find(|l| l.ends_with("HUGE.BIN"))
        .unwrap()
        .split_whitespace()
        .nth(4)
        .unwrap()
        .parse()
        .unwrap();
    let ours = info_size(&img);
    assert_eq!(ours, size);
    let hash = |cmd: String| {
        String::from_utf8(ok(Command::new("sh").arg("-c").arg(cmd)))
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    };
    let ours_sha = hash(format!(
        "'{}' cat '{}' /HUGE.BIN | sha256sum",
        env!("CARGO_BIN_EXE_diskimg"),
        img.display()
    ));
    let theirs_sha = hash(format!(
        "'{}' -xOf '{}' HUGE.BIN | sha256sum",
        bsdtar.display(),
        img.display()
    ));
    assert_eq!(ours_sha, theirs_sha);
    let t = tempdir();
    extract_ours(&img, t.path(), &[]);
    let out = t.path().join("HUGE.BIN");
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(&out).unwrap();
    assert_eq!(m.len(), size);
    assert!(
        m.blocks() * 512 < 64 * 1024 * 1024,
        "the zeros of the image stay holes"
    );
    assert_eq!(sha256_file(&out), ours_sha);
}

fn info_size(img: &Path) -> u64 {
    let out = ok(diskimg().args(["ls", "--json"]).arg(img).arg("/HUGE.BIN"));
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    v[0]["size"].as_u64().unwrap()
}
