//! exFAT made by mkfs.exfat and filled through the FUSE exFAT driver: our reading compared
//! with that driver's (a read-only mount), fsck.exfat's view, and damaged copies made here.

mod common;
mod fs_support;

use common::*;
use diskimg::fs::FileSystemExt;
use diskimg::io::MemorySource;
use diskimg::{ErrorKind, Image, Selection};
use fs_support::*;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

/// A read-only FUSE exFAT mount of an image (through a loop device: the driver wants a block
/// device when run as root).
struct FuseExfat {
    mount: tempfile::TempDir,
    loop_dev: String,
}

impl FuseExfat {
    fn new(img: &Path) -> Option<FuseExfat> {
        tool("mount.exfat-fuse")?;
        let out = run(Command::new("losetup")
            .args(["-f", "--show", "-r"])
            .arg(img));
        let loop_dev = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        let mount = tempdir();
        let ok = out.status.success()
            && run(Command::new("mount.exfat-fuse")
                .args(["-o", "ro"])
                .arg(&loop_dev)
                .arg(mount.path()))
            .status
            .success();
        if !ok {
            let _ = Command::new("losetup").arg("-d").arg(&loop_dev).status();
            let msg = "cannot mount exFAT through FUSE (needs root, /dev/fuse and a loop device)";
            assert!(!strict(), "{msg}");
            eprintln!("skipped: {msg}");
            return None;
        }
        Some(FuseExfat { mount, loop_dev })
    }
}

impl Drop for FuseExfat {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.mount.path()).status();
        let _ = Command::new("losetup")
            .arg("-d")
            .arg(&self.loop_dev)
            .status();
    }
}

/// Modes are the driver's (0777), directory sizes the host's: compare the rest.
fn normalise(s: &mut Snapshot) {
    for v in s.values_mut() {
        let (kind, rest) = v.split_once(" mode ").unwrap();
        let mtime = rest.split_once(" mtime ").unwrap().1;
        let kind = if kind.starts_with("dir") { "dir" } else { kind };
        *v = format!("{kind} mtime {mtime}");
    }
}

#[test]
fn tree_matches_the_fuse_driver() {
    let Some(dir) = fixtures("fs") else { return };
    let img = dir.join("exfat.img");
    let Some(fuse) = FuseExfat::new(&img) else {
        return;
    };
    let mut theirs = host_snapshot(fuse.mount.path(), false);
    let mut ours = our_snapshot(open(&img).as_ref(), false);
    normalise(&mut theirs);
    normalise(&mut ours);
    assert!(ours.len() > 320, "{} nodes", ours.len());
    assert_same(&ours, &theirs, "exfat");
    // And the extracted tree, read back from the host.
    let t = tempdir();
    ok(diskimg()
        .arg("extract")
        .arg(&img)
        .arg("-q")
        .arg("-o")
        .arg(t.path()));
    let mut extracted = host_snapshot(t.path(), false);
    normalise(&mut extracted);
    assert_same(&extracted, &theirs, "exfat extracted");
}

#[test]
fn label_usage_and_fragmented_files() {
    let Some(dir) = fixtures("fs") else { return };
    let img = dir.join("exfat.img");
    let info: serde_json::Value =
        serde_json::from_slice(&ok(diskimg().arg("info").arg("--json").arg(&img))).unwrap();
    let fs = &info["file_systems"][0];
    assert_eq!(fs["type"], "exfat");
    assert_eq!(fs["label"], "EXFATLABEL");
    let (used, total) = (
        fs["usage"]["used"].as_f64().unwrap(),
        fs["usage"]["total"].as_f64().unwrap(),
    );
    let percent = fs["details"]["percent_in_use"].as_f64().unwrap();
    assert!(
        (used / total * 100.0 - percent).abs() <= 1.0,
        "{used}/{total} vs {percent}%"
    );
    let fs = open(&img);
    for name in ["/frag_a.bin", "/frag_b.bin"] {
        let node = fs.resolve(name).unwrap();
        let ext = fs.file_extents(node).unwrap().unwrap();
        assert!(ext.len() > 1, "{name} is fragmented: {ext:?}");
    }
    // The fixture holds both contiguous (NoFatChain) and FAT-chained files in its root.
    let b = std::fs::read(&img).unwrap();
    let u32_at = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize;
    let cs = 512usize << b[109];
    let root = u32_at(88) * 512 + (u32_at(96) - 2) * cs;
    let flags: Vec<u8> = b[root..root + cs]
        .chunks(32)
        .filter(|e| e[0] == 0xC0)
        .map(|e| e[1])
        .collect();
    assert!(
        flags.iter().any(|f| f & 2 != 0) && flags.iter().any(|f| f & 2 == 0),
        "{flags:?}"
    );
    // Lookup folds case through the volume's up-case table, also beyond ASCII.
    let cat = ok(diskimg().arg("cat").arg(&img).arg("/ÜNÏCØDÉ/ΕΛΛΗΝΙΚΆ.TXT"));
    assert_eq!(cat, "γεια\n".as_bytes());
}

#[test]
fn partitions_of_mbr_and_gpt_disks() {
    let Some(dir) = fixtures("fs") else { return };
    for (disk, part) in [("gpt_disk.img", "4"), ("mbr_disk.img", "3")] {
        let out = ok(diskimg()
            .arg("cat")
            .arg(dir.join(disk))
            .arg("-p")
            .arg(part)
            .arg("/etc/hostname"));
        assert_eq!(out, b"fixture\n", "{disk} -p {part}");
    }
}

fn errors(bytes: Vec<u8>) -> Vec<diskimg::Error> {
    let image = match Image::from_device(Arc::new(MemorySource::new(bytes)), "damaged") {
        Ok(i) => i,
        Err(e) => return vec![e],
    };
    let mut out: Vec<diskimg::Error> = Vec::new();
    for w in &image.root.warnings {
        out.push(diskimg::Error::new(ErrorKind::Corrupt, w.clone()));
    }
    let fs = match image.select(&Selection::default()) {
        Ok(f) => f,
        Err(e) => {
            out.push(e);
            return out;
        }
    };
    for item in fs.walk(fs.root(), "/") {
        match item {
            Err(e) => out.push(e),
            Ok(item) if item.metadata.file_type == diskimg::fs::FileType::File => {
                let mut data = Vec::new();
                if let Err(e) = diskimg::ops::list::cat(fs.as_ref(), &item.path, &mut data) {
                    out.push(e);
                }
            }
            Ok(_) => {}
        }
    }
    out
}

fn entry_offset(img: &[u8], path: &str) -> usize {
    let image = Image::from_device(Arc::new(MemorySource::new(img.to_vec())), "x").unwrap();
    let fs = image.select(&Selection::default()).unwrap();
    (fs.resolve(path).unwrap() & !(1 << 63)) as usize
}

fn fat_offset(img: &[u8]) -> usize {
    u32::from_le_bytes(img[80..84].try_into().unwrap()) as usize * 512
}

/// Recomputes the checksum of the entry set at `at`, so that what a test changed is what fails.
fn fix_set_checksum(b: &mut [u8], at: usize) {
    let n = usize::from(b[at + 1]);
    let mut sum = 0u16;
    for (i, &x) in b[at..at + (n + 1) * 32].iter().enumerate() {
        if i != 2 && i != 3 {
            sum = sum.rotate_right(1).wrapping_add(u16::from(x));
        }
    }
    b[at + 2..at + 4].copy_from_slice(&sum.to_le_bytes());
}

#[test]
fn damaged_entry_sets_chains_and_boot_regions() {
    let Some(dir) = fixtures("fs") else { return };
    let base = std::fs::read(dir.join("exfat.img")).unwrap();
    let check = |what: &str, change: &dyn Fn(&mut Vec<u8>)| {
        let mut b = base.clone();
        change(&mut b);
        let e = errors(b);
        assert!(
            e.iter().any(|e| e.to_string().contains(what)),
            "{what}: {e:?}"
        );
    };
    let readme = entry_offset(&base, "/README.TXT");
    // A changed name character: the set checksum no longer matches.
    check("set checksum", &|b| b[readme + 64 + 2] ^= 1);
    // Valid data length past the data length (checksum kept right).
    check("valid data length", &|b| {
        b[readme + 32 + 8..readme + 32 + 16].copy_from_slice(&u64::MAX.to_le_bytes());
        fix_set_checksum(b, readme);
    });
    // frag_a.bin's chain made to loop: its second cluster points back to its first.
    let frag = entry_offset(&base, "/frag_a.bin");
    let first =
        u32::from_le_bytes(base[frag + 32 + 20..frag + 32 + 24].try_into().unwrap()) as usize;
    let fat = fat_offset(&base);
    let second = u32::from_le_bytes(
        base[fat + first * 4..fat + first * 4 + 4]
            .try_into()
            .unwrap(),
    ) as usize;
    check("twice", &|b| {
        b[fat + second * 4..fat + second * 4 + 4].copy_from_slice(&(first as u32).to_le_bytes())
    });
    check("outside the volume", &|b| {
        b[fat + second * 4..fat + second * 4 + 4].copy_from_slice(&0x00FF_FFFFu32.to_le_bytes())
    });
    // A contiguous file moved past the end of the heap.
    check("outside the volume", &|b| {
        b[readme + 32 + 20..readme + 32 + 24].copy_from_slice(&0x00FF_FFF0u32.to_le_bytes());
        b[readme + 32 + 1] |= 2; // NoFatChain
        fix_set_checksum(b, readme);
    });
    // The main boot sector damaged: the backup region is used, with a warning.
    check("backup region is used", &|b| b[100] ^= 0xFF);
    // Both damaged: the volume is not read.
    check("both boot regions", &|b| {
        b[100] ^= 0xFF;
        b[12 * 512 + 100] ^= 0xFF;
    });
}
