//! FAT12/16/32 made by mkfs.fat + mcopy: our reading compared with mtools (mcopy, mdir),
//! fsck.fat's cluster count, and damaged copies made here (loops, cross-links, bad clusters,
//! absurd sizes).

mod common;

use common::*;
use diskimg::fs::{FileSystem, FileSystemExt};
use diskimg::io::MemorySource;
use diskimg::{ErrorKind, Image, Selection};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

fn extract_ours(img: &Path, dest: &Path, extra: &[&str]) {
    ok(diskimg()
        .arg("extract")
        .arg(img)
        .args(extra)
        .arg("-q")
        .arg("-o")
        .arg(dest));
}

#[test]
fn each_fat_type_matches_mcopy() {
    let Some(dir) = fixtures("fs") else { return };
    let Some(mcopy) = tool("mcopy") else { return };
    for bits in [12, 16, 32] {
        let img = dir.join(format!("fat{bits}.img"));
        let t = tempdir();
        let (ours, theirs) = (t.path().join("ours"), t.path().join("theirs"));
        extract_ours(&img, &ours, &[]);
        std::fs::create_dir(&theirs).unwrap();
        ok(Command::new(&mcopy)
            .args(["-s", "-m", "-n", "-i"])
            .arg(&img)
            .arg("::*")
            .arg(&theirs));
        // mcopy applies the NT "lower-case base name" flag of the OEM short name ÜNÏCØDÉ to
        // ASCII letters only; Windows and Linux (and we) apply it to the whole name.
        let oem = theirs.join("ÜnÏcØdÉ");
        if oem.exists() {
            std::fs::rename(&oem, theirs.join("ünïcødé")).unwrap();
        }
        let what = Compare {
            modes: false,
            file_times: true,
            dir_times: true,
        };
        assert_same_tree(&ours, &theirs, what, &format!("fat{bits}"));
        // The source tree, as a third opinion on names and contents.
        let src = dir.join("trees/common");
        for rel in [
            "ünïcødé/日本語のファイル.txt",
            "Long file name with spaces, more than sixty-four characters in total length.txt",
            "Mixed Case Name.Txt",
            "lower.txt",
            "data/big.bin",
            "many/file0299.txt",
        ] {
            assert_eq!(
                sha256_file(&ours.join(rel)),
                sha256_file(&src.join(rel)),
                "fat{bits}: {rel}"
            );
        }
    }
}

fn info_json(img: &Path) -> serde_json::Value {
    serde_json::from_slice(&ok(diskimg().arg("info").arg("--json").arg(img))).unwrap()
}

#[test]
fn type_label_and_usage_match_fsck_fat() {
    let Some(dir) = fixtures("fs") else { return };
    let Some(fsck) = tool("fsck.fat") else { return };
    for bits in [12, 16, 32] {
        let img = dir.join(format!("fat{bits}.img"));
        let info = info_json(&img);
        let fs = &info["file_systems"][0];
        assert_eq!(fs["type"], format!("fat{bits}"));
        assert_eq!(fs["label"], format!("FAT{bits}LABEL"));
        // "fat16.img: 329 files, 2083/16343 clusters"
        let out = String::from_utf8(ok(Command::new(&fsck).arg("-n").arg(&img))).unwrap();
        let counts = out
            .split_whitespace()
            .find(|w| w.contains('/') && w.chars().next().unwrap().is_ascii_digit())
            .unwrap();
        let (used, total) = counts.split_once('/').unwrap();
        let cs = fs["details"]["cluster_size"].as_u64().unwrap();
        assert_eq!(
            fs["details"]["clusters"].as_u64().unwrap(),
            total.parse::<u64>().unwrap()
        );
        assert_eq!(
            fs["usage"]["used"].as_u64().unwrap(),
            used.parse::<u64>().unwrap() * cs,
            "fat{bits}"
        );
    }
}

#[test]
fn listing_matches_mdir_and_lookup_ignores_case() {
    let Some(dir) = fixtures("fs") else { return };
    let Some(mdir) = tool("mdir") else { return };
    let img = dir.join("fat16.img");
    // mdir -b prints one full path per line, directories recursively with -/.
    let out = String::from_utf8(ok(Command::new(&mdir)
        .args(["-/", "-b", "-a", "-i"])
        .arg(&img)
        .arg("::/")))
    .unwrap();
    let mut theirs: Vec<String> = out
        .lines()
        .map(|l| l.trim_start_matches("::").trim_end_matches('/').to_owned())
        .filter(|l| !l.is_empty() && l != "/")
        .collect();
    theirs.sort();
    for p in &mut theirs {
        // See each_fat_type_matches_mcopy: mtools lower-cases ASCII letters only.
        *p = p.replace("ÜnÏcØdÉ", "ünïcødé");
    }
    let listing =
        String::from_utf8(ok(diskimg().arg("ls").arg("-R").arg("--json").arg(&img))).unwrap();
    let listing: serde_json::Value = serde_json::from_str(&listing).unwrap();
    let mut ours: Vec<String> = listing
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_owned())
        .collect();
    ours.sort();
    assert_eq!(ours, theirs);
    let cat = ok(diskimg().arg("cat").arg(&img).arg("/readme.txt"));
    assert_eq!(cat, b"Hello from the diskimg fs fixtures.\n");
    let cat = ok(diskimg().arg("cat").arg(&img).arg("/LONGFI~1.TXT"));
    assert_eq!(cat, b"long\n");
}

#[test]
fn fragmented_file_is_read_whole_and_extents_cover_it() {
    let Some(dir) = fixtures("fs") else { return };
    // mtools allocates FAT32 clusters after the FSInfo next-free hint, so the hole left by a
    // deleted file is not reused there; FAT32 fragmentation is covered by its directories.
    for bits in [12, 16] {
        let img = dir.join(format!("fat{bits}.img"));
        let image = Image::open(&img).unwrap();
        let fs = image.select(&Selection::default()).unwrap();
        let node = fs.resolve("/fragmented.bin").unwrap();
        let ext = fs.file_extents(node).unwrap().unwrap();
        assert!(ext.len() >= 2, "fat{bits}: the file is fragmented: {ext:?}");
        assert_eq!(ext.iter().map(|e| e.len).sum::<u64>(), 128_000);
        let data = ok(diskimg().arg("cat").arg(&img).arg("/fragmented.bin"));
        let expected: Vec<u8> = (0..4000)
            .flat_map(|i| {
                use sha2::Digest;
                sha2::Sha256::digest(i.to_string().as_bytes()).to_vec()
            })
            .collect();
        assert!(data == expected, "fat{bits}: fragmented.bin differs");
    }
}

#[test]
fn partitions_of_mbr_and_gpt_disks() {
    let Some(dir) = fixtures("fs") else { return };
    let mbr = dir.join("mbr_disk.img");
    let gpt = dir.join("gpt_disk.img");
    for (img, part, label) in [
        (&mbr, "1", "FAT16LABEL"),
        (&mbr, "5", "FAT12LABEL"),
        (&gpt, "1", "FAT32LABEL"),
    ] {
        let out = String::from_utf8(ok(diskimg()
            .arg("ls")
            .arg(img)
            .arg("-p")
            .arg(part)
            .arg("/etc")))
        .unwrap();
        let mut names: Vec<&str> = out.lines().collect();
        names.sort();
        assert_eq!(names, ["fstab", "hostname"], "{} -p {part}", img.display());
        let info = info_json(img);
        let p = info["partition_table"]["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["index"].as_u64().map(|i| i.to_string()).as_deref() == Some(part))
            .unwrap();
        assert_eq!(p["content"]["file_systems"][0]["label"], label);
    }
}

/// A FAT16 image in memory, with helpers to find and change its structures.
struct Fat16 {
    bytes: Vec<u8>,
}

impl Fat16 {
    fn load(dir: &Path) -> Self {
        Fat16 {
            bytes: std::fs::read(dir.join("fat16.img")).unwrap(),
        }
    }
    fn u16(&self, at: usize) -> usize {
        usize::from(u16::from_le_bytes([self.bytes[at], self.bytes[at + 1]]))
    }
    fn fat(&self) -> usize {
        self.u16(14) * 512
    }
    fn set_fat(&mut self, cluster: usize, value: u16) {
        for copy in 0..2 {
            let at = self.fat() + copy * self.u16(22) * 512 + cluster * 2;
            self.bytes[at..at + 2].copy_from_slice(&value.to_le_bytes());
        }
    }
    /// The device offset of the short entry of `path` and its first cluster.
    fn entry(&self, path: &str) -> (usize, usize) {
        let fs = self.open();
        let node = fs.resolve(path).unwrap() as usize;
        (node, self.u16(node + 26))
    }
    fn open(&self) -> Arc<dyn FileSystem> {
        let image =
            Image::from_device(Arc::new(MemorySource::new(self.bytes.clone())), "fat16").unwrap();
        image.select(&Selection::default()).unwrap()
    }
    fn walk_errors(&self) -> Vec<diskimg::Error> {
        let fs = self.open();
        let mut errors = Vec::new();
        for item in fs.walk(fs.root(), "/") {
            match item {
                Err(e) => errors.push(e),
                Ok(item) if item.metadata.file_type == diskimg::fs::FileType::File => {
                    let mut buf = vec![0u8; 1 << 16];
                    let mut off = 0;
                    while off < item.metadata.size {
                        match fs.read_at(item.node, off, &mut buf) {
                            Ok(0) => break,
                            Ok(n) => off += n as u64,
                            Err(e) => {
                                errors.push(e);
                                break;
                            }
                        }
                    }
                }
                Ok(_) => {}
            }
        }
        errors
    }
}

#[test]
fn directory_chain_loop_is_reported() {
    let Some(dir) = fixtures("fs") else { return };
    let mut img = Fat16::load(&dir);
    // /many spans several clusters: make its second cluster point back to its first.
    let (_, first) = img.entry("/many");
    let second = img.u16(img.fat() + first * 2);
    assert!(second > 2 && second < 0xFFF0, "/many has a second cluster");
    img.set_fat(second, first as u16);
    let errors = img.walk_errors();
    assert!(
        errors
            .iter()
            .any(|e| e.kind() == ErrorKind::Corrupt && e.to_string().contains("loop")),
        "{errors:?}"
    );
}

#[test]
fn file_chain_loop_short_chain_and_bad_clusters_are_corrupt() {
    let Some(dir) = fixtures("fs") else { return };
    let base = Fat16::load(&dir);
    let (_, first) = base.entry("/data/big.bin");
    // A loop: the third cluster points back to the first.
    let mut img = Fat16 {
        bytes: base.bytes.clone(),
    };
    let second = img.u16(img.fat() + first * 2);
    let third = img.u16(img.fat() + second * 2);
    img.set_fat(third, first as u16);
    let e = img.walk_errors();
    assert!(e.iter().any(|e| e.to_string().contains("twice")), "{e:?}");
    // The chain ends early.
    let mut img = Fat16 {
        bytes: base.bytes.clone(),
    };
    img.set_fat(second, 0xFFFF);
    let e = img.walk_errors();
    assert!(
        e.iter().any(|e| e.to_string().contains("ends after 2 of")),
        "{e:?}"
    );
    // A cluster number past the end of the volume, and a free cluster inside a chain.
    let mut img = Fat16 {
        bytes: base.bytes.clone(),
    };
    img.set_fat(second, 0xFFF0);
    let e = img.walk_errors();
    assert!(
        e.iter()
            .any(|e| e.to_string().contains("outside the volume")),
        "{e:?}"
    );
    let mut img = Fat16 {
        bytes: base.bytes.clone(),
    };
    img.set_fat(second, 0);
    let e = img.walk_errors();
    assert!(
        e.iter().any(|e| e.to_string().contains("free cluster")),
        "{e:?}"
    );
    // An absurd size: 4 GiB - 1 on a 32 MiB volume.
    let mut img = Fat16 {
        bytes: base.bytes.clone(),
    };
    let (entry, _) = img.entry("/README.TXT");
    img.bytes[entry + 28..entry + 32].copy_from_slice(&u32::MAX.to_le_bytes());
    let e = img.walk_errors();
    assert!(e.iter().any(|e| e.kind() == ErrorKind::Corrupt), "{e:?}");
}

#[test]
fn directory_cross_linked_to_its_parent_is_refused() {
    let Some(dir) = fixtures("fs") else { return };
    let mut img = Fat16::load(&dir);
    // /d1/d2 made to start at /d1's cluster: /d1/d2 would hold /d1 again, forever.
    let (_, d1) = img.entry("/d1");
    let (d2_entry, _) = img.entry("/d1/d2");
    img.bytes[d2_entry + 26..d2_entry + 28].copy_from_slice(&(d1 as u16).to_le_bytes());
    let errors = img.walk_errors();
    assert!(
        errors
            .iter()
            .any(|e| e.to_string().contains("appears twice")),
        "{errors:?}"
    );
    // Extraction reports it and finishes.
    let t = tempdir();
    let path = t.path().join("crosslinked.img");
    std::fs::write(&path, &img.bytes).unwrap();
    let out = run(diskimg()
        .arg("extract")
        .arg(&path)
        .arg("-q")
        .arg("-o")
        .arg(t.path().join("out")));
    assert!(!out.status.success());
    assert!(t.path().join("out/README.TXT").exists());
}
