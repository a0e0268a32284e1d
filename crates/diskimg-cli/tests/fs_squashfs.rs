//! squashfs made by mksquashfs with each codec: every node compared with the Linux kernel's
//! view (loop mount) where the kernel has the codec, and with unsquashfs for all; damaged
//! copies made here.

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

const CODECS: [&str; 8] = [
    "gzip",
    "lzo",
    "lz4",
    "xz",
    "zstd",
    "lzma",
    "uncompressed",
    "4k_fragments",
];

/// Whether the running kernel can mount squashfs with this codec.
fn kernel_has(codec: &str) -> bool {
    codec != "lzma" // Linux never took the legacy lzma codec
}

#[test]
fn every_node_matches_the_kernel() {
    let Some(dir) = fixtures("fs") else { return };
    for codec in CODECS.into_iter().filter(|c| kernel_has(c)) {
        let img = dir.join(format!("squashfs_{codec}.img"));
        let Some(mnt) = Mount::new(&img, "squashfs", "ro,loop") else {
            return;
        };
        let theirs = host_snapshot(mnt.path(), true);
        let ours = our_snapshot(open(&img).as_ref(), true);
        assert!(ours.len() > 3300, "{codec}: {} nodes", ours.len());
        assert_same(&ours, &theirs, codec);
    }
}

#[test]
fn every_codec_matches_unsquashfs() {
    let Some(dir) = fixtures("fs") else { return };
    let Some(unsquashfs) = tool("unsquashfs") else {
        return;
    };
    for codec in CODECS {
        let img = dir.join(format!("squashfs_{codec}.img"));
        let t = tempdir();
        let (ours, theirs) = (t.path().join("ours"), t.path().join("theirs"));
        ok(diskimg()
            .arg("extract")
            .arg(&img)
            .arg("-q")
            .arg("-o")
            .arg(&ours));
        // -n: no progress; -no-xattrs; devices and FIFOs need root, which we skip anyway.
        ok(Command::new(&unsquashfs)
            .args(["-n", "-no-xattrs", "-d"])
            .arg(&theirs)
            .arg(&img));
        let mut theirs = host_snapshot(&theirs, false);
        theirs.retain(|_, v| {
            v.starts_with("file") || v.starts_with("symlink") || v.starts_with("dir")
        });
        let mut ours = host_snapshot(&ours, false);
        for snap in [&mut ours, &mut theirs] {
            for v in snap.values_mut() {
                // Extraction drops setuid, setgid and sticky bits on purpose.
                *v = v.replace("mode 4755", "mode 755");
                if v.starts_with("dir") {
                    // Directory sizes are the host's.
                    *v = v
                        .split(" mode")
                        .nth(1)
                        .map(|r| format!("dir mode{r}"))
                        .unwrap();
                }
            }
        }
        assert_same(&ours, &theirs, codec);
    }
}

#[test]
fn uncompressed_files_are_copied_from_their_extents() {
    let Some(dir) = fixtures("fs") else { return };
    let img = dir.join("squashfs_uncompressed.img");
    let fs = open(&img);
    let node = fs.resolve("/data/rand1.bin").unwrap();
    let ext = fs.file_extents(node).unwrap().expect("stored plainly");
    assert_eq!(ext.iter().map(|e| e.len).sum::<u64>(), 100_000);
    let compressed = open(&dir.join("squashfs_gzip.img"));
    let node = compressed.resolve("/data/rand1.bin").unwrap();
    // Random data does not compress, so mksquashfs stores its blocks plainly even here;
    // a compressible file has no plain extents.
    let zeros = compressed.resolve("/many/file0001.txt").unwrap();
    assert!(compressed.file_extents(zeros).unwrap().is_none());
    let _ = compressed.file_extents(node).unwrap();
}

#[test]
fn small_reads_anywhere_match_the_file() {
    let Some(dir) = fixtures("fs") else { return };
    let src = std::fs::read(dir.join("trees/unix/data/big.bin")).unwrap();
    for codec in ["xz", "4k_fragments"] {
        let fs = open(&dir.join(format!("squashfs_{codec}.img")));
        let node = fs.resolve("/data/big.bin").unwrap();
        for off in [0u64, 1, 131_071, 131_072, 3_000_000, src.len() as u64 - 5] {
            let mut buf = [0u8; 300];
            let n = fs.read_at(node, off, &mut buf).unwrap();
            assert!(n > 0);
            assert_eq!(
                &buf[..n],
                &src[off as usize..off as usize + n],
                "{codec} at {off}"
            );
        }
    }
}

#[test]
fn partitions_of_mbr_and_gpt_disks() {
    let Some(dir) = fixtures("fs") else { return };
    for (disk, part) in [("gpt_disk.img", "3"), ("mbr_disk.img", "6")] {
        let out = ok(diskimg()
            .arg("cat")
            .arg(dir.join(disk))
            .arg("-p")
            .arg(part)
            .arg("/etc/hostname"));
        assert_eq!(out, b"fixture\n", "{disk} -p {part}");
    }
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

fn walk_errors(bytes: Vec<u8>) -> Vec<diskimg::Error> {
    let image = match Image::from_device(Arc::new(MemorySource::new(bytes)), "damaged") {
        Ok(i) => i,
        Err(e) => return vec![e],
    };
    let fs = match image.select(&Selection::default()) {
        Ok(f) => f,
        Err(e) => return vec![e],
    };
    let mut errors = Vec::new();
    for item in fs.walk(fs.root(), "/") {
        match item {
            Err(e) => errors.push(e),
            Ok(item) if item.metadata.file_type == diskimg::fs::FileType::File => {
                let mut out = Vec::new();
                if let Err(e) = diskimg::ops::list::cat(fs.as_ref(), &item.path, &mut out) {
                    errors.push(e);
                }
            }
            Ok(_) => {}
        }
    }
    errors
}

fn damaged(img: &Path, change: impl Fn(&mut Vec<u8>)) -> Vec<diskimg::Error> {
    let mut b = std::fs::read(img).unwrap();
    change(&mut b);
    walk_errors(b)
}

/// A change made to a copy of an image.
type Change = Box<dyn Fn(&mut Vec<u8>)>;

#[test]
fn bad_tables_are_reported() {
    let Some(dir) = fixtures("fs") else { return };
    let img = dir.join("squashfs_gzip.img");
    let b = std::fs::read(&img).unwrap();
    let dir_table = u64_at(&b, 72) as usize;
    let inode_table = u64_at(&b, 64) as usize;
    let frag_table = u64_at(&b, 80) as usize;
    let cases: Vec<(&str, Change)> = vec![
        // Tables out of order: the directory table before the inode table.
        (
            "not in order",
            Box::new(|b: &mut Vec<u8>| b[72..80].copy_from_slice(&10u64.to_le_bytes())),
        ),
        // bytes_used beyond the image.
        (
            "bytes used",
            Box::new(|b: &mut Vec<u8>| b[40..48].copy_from_slice(&u64::MAX.to_le_bytes())),
        ),
        // The first inode block's header claims 0x7FFF stored bytes (over 8 KiB).
        (
            "stored size",
            Box::new(move |b: &mut Vec<u8>| {
                b[inode_table..inode_table + 2].copy_from_slice(&0x7FFFu16.to_le_bytes())
            }),
        ),
        // Garbage inside the compressed directory table.
        (
            "gzip data",
            Box::new(move |b: &mut Vec<u8>| {
                for x in &mut b[dir_table + 2..dir_table + 40] {
                    *x ^= 0x5A;
                }
            }),
        ),
        // A fragment table pointer past the table.
        (
            "fragment table",
            Box::new(move |b: &mut Vec<u8>| {
                b[frag_table..frag_table + 8].copy_from_slice(&u64::MAX.to_le_bytes())
            }),
        ),
        // An absurd block size.
        (
            "block size",
            Box::new(|b: &mut Vec<u8>| b[12..16].copy_from_slice(&(1u32 << 30).to_le_bytes())),
        ),
    ];
    for (what, change) in cases {
        let errors = damaged(&img, change);
        assert!(
            errors.iter().any(|e| matches!(
                e.kind(),
                ErrorKind::Corrupt | ErrorKind::NotRecognized
            ) && e.to_string().contains(what)),
            "{what}: {errors:?}"
        );
    }
}
