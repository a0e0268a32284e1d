//! Round trips through our FAT reader.

use super::*;
use crate::build::tree::{Meta, ROOT, Source};
use crate::device::DeviceRef;
use crate::fs::{FileSystem, FileSystemExt, FileType};
use crate::io::MemorySource;
use std::sync::Arc;

fn meta(mode: u32, secs: i64) -> Meta {
    Meta::synthetic(mode, Timestamp::from_secs(secs))
}

fn file(t: &mut FileTree, dir: NodeIndex, name: &str, data: &[u8]) -> NodeIndex {
    t.add(
        dir,
        name,
        Kind::File {
            source: Source::Bytes(data.into()),
            size: data.len() as u64,
        },
        meta(0o644, 1_700_000_000),
    )
    .unwrap()
}

fn sample() -> FileTree {
    let mut t = FileTree::new(meta(0o755, 1_600_000_000));
    file(&mut t, ROOT, "readme.txt", b"hello\n");
    file(&mut t, ROOT, "README.TXT", b"upper\n");
    file(
        &mut t,
        ROOT,
        "Long file name with spaces.jpeg",
        &[7u8; 5000],
    );
    file(&mut t, ROOT, "empty", b"");
    let d = t
        .add(
            ROOT,
            "ünïcødé",
            Kind::Dir(Vec::new()),
            meta(0o755, 1_650_000_000),
        )
        .unwrap();
    file(&mut t, d, "日本語.txt", "こんにちは".as_bytes());
    let deep = t
        .ensure_dir("/a/b/c/d/e/f/g/h/i/j", meta(0o755, 1_650_000_000))
        .unwrap();
    file(&mut t, deep, "deep.bin", &[1u8; 70_000]);
    let ro = file(&mut t, ROOT, "ro.txt", b"ro");
    let mut m = t.node(ro).meta;
    m.mode = 0o444;
    t.set_meta(ro, m);
    t.add(
        ROOT,
        "link",
        Kind::Symlink("readme.txt".into()),
        meta(0o777, 0),
    )
    .unwrap();
    t
}

fn open(bytes: Vec<u8>, offset: u64) -> Arc<dyn FileSystem> {
    let bytes = bytes[offset as usize..].to_vec();
    let dev: DeviceRef = Arc::new(MemorySource::new(bytes));
    let vol = crate::fs::fat::open_volume(dev).unwrap();
    vol.file_systems[0].fs.clone().unwrap()
}

/// Every file and folder of `fs`: path -> (is dir, content, mtime, mode).
fn listing(fs: &dyn FileSystem) -> Vec<(String, bool, Vec<u8>, i64, u32)> {
    let mut out = Vec::new();
    for e in fs.walk(fs.root(), "/").skip(1) {
        let e = e.unwrap();
        let m = &e.metadata;
        let mut data = vec![0u8; m.size as usize];
        let mut done = 0;
        while done < data.len() {
            let n = fs.read_at(e.node, done as u64, &mut data[done..]).unwrap();
            assert!(n > 0);
            done += n;
        }
        out.push((
            e.path,
            m.file_type == FileType::Directory,
            data,
            m.mtime.map_or(0, |t| t.secs),
            m.mode.unwrap_or(0),
        ));
    }
    out.sort();
    out
}

/// The tree's own view, as `listing` gives it (FAT times are even seconds).
fn expected(t: &FileTree, root: NodeIndex) -> Vec<(String, bool, Vec<u8>, i64, u32)> {
    let mut out = Vec::new();
    let mut stack = vec![(root, String::new())];
    while let Some((n, path)) = stack.pop() {
        for &c in t.children(n) {
            let node = t.node(c);
            let p = format!("{path}/{}", node.name);
            let secs = node.meta.mtime.secs / 2 * 2;
            match &node.kind {
                Kind::Dir(_) => {
                    out.push((p.clone(), true, Vec::new(), secs, 0o755));
                    stack.push((c, p));
                }
                Kind::File {
                    source: Source::Bytes(b),
                    ..
                } => {
                    let mode = if node.meta.mode & 0o222 == 0 {
                        0o444
                    } else {
                        0o644
                    };
                    out.push((p, false, b.to_vec(), secs, mode));
                }
                _ => {}
            }
        }
    }
    out.sort();
    out
}

#[test]
fn each_fat_type_reads_back_equal() {
    let t = sample();
    for (ft, size) in [
        (FatType::Fat12, 2 << 20),
        (FatType::Fat16, 20 << 20),
        (FatType::Fat32, 40 << 20),
    ] {
        for partition in [
            PartitionStyle::None,
            PartitionStyle::Mbr,
            PartitionStyle::Gpt,
        ] {
            let opts = FatOptions {
                size: Some(size),
                fat_type: Some(ft),
                label: Some("Test Vol".into()),
                partition,
                ..FatOptions::default()
            };
            let p = plan(&t, ROOT, &opts).unwrap();
            assert_eq!(p.fat_type(), ft);
            assert_eq!(p.warnings().len(), 2, "{:?}", p.warnings()); // the link, the case pair
            let bytes = write_fat_to_vec(&p).unwrap();
            assert_eq!(bytes.len() as u64, size);
            let fs = open(bytes, p.volume_offset());
            assert_eq!(fs.kind(), ft.name());
            assert_eq!(fs.label().as_deref(), Some("TEST VOL"));
            assert_eq!(
                listing(fs.as_ref()),
                expected(&t, ROOT),
                "{ft:?} {partition:?}"
            );
            let usage = fs.usage().unwrap();
            assert_eq!(usage.used, u64::from(p.clusters().1) * p.cluster_size());
        }
    }
}

#[test]
fn files_are_contiguous_in_tree_order() {
    let t = sample();
    let p = plan(&t, ROOT, &FatOptions::default()).unwrap();
    let fs = open(write_fat_to_vec(&p).unwrap(), 0);
    let mut last_end = 0;
    for f in &p.layout.files {
        let path = t.path(f.node);
        let node = fs.resolve(&path).unwrap();
        let ext = fs.file_extents(node).unwrap().unwrap();
        assert_eq!(ext.len(), 1, "{path} is in one piece");
        let at = ext[0].device_offset.unwrap();
        assert!(at > last_end, "{path} follows the previous file");
        last_end = at;
    }
}

#[test]
fn automatic_sizes_are_small_and_reproducible() {
    let t = sample();
    let p = plan(&t, ROOT, &FatOptions::default()).unwrap();
    assert_eq!(p.image_size(), 1440 << 10, "a floppy holds the sample");
    let a = write_fat_to_vec(&p).unwrap();
    let b = write_fat_to_vec(&plan(&t, ROOT, &FatOptions::default()).unwrap()).unwrap();
    assert_eq!(a, b);
    let mut big = sample();
    file(&mut big, ROOT, "big.bin", &vec![3u8; 3 << 20]);
    let p = plan(&big, ROOT, &FatOptions::default()).unwrap();
    assert_eq!(p.image_size(), 4 << 20);
    let other = plan(&big, ROOT, &FatOptions::default()).unwrap();
    assert_eq!(other.serial(), p.serial());
    let gpt = FatOptions {
        partition: PartitionStyle::Gpt,
        ..FatOptions::default()
    };
    let p = plan(&big, ROOT, &gpt).unwrap();
    assert_eq!(p.image_size() % (1 << 20), 0);
    let fs = open(write_fat_to_vec(&p).unwrap(), p.volume_offset());
    assert_eq!(listing(fs.as_ref()), expected(&big, ROOT));
}

#[test]
fn a_tree_that_does_not_fit_is_refused() {
    let mut t = sample();
    file(&mut t, ROOT, "big.bin", &vec![0u8; 2 << 20]);
    let opts = FatOptions {
        size: Some(1440 << 10),
        ..FatOptions::default()
    };
    let e = plan(&t, ROOT, &opts).err().unwrap();
    assert_eq!(e.kind(), crate::error::ErrorKind::NoSpace);
    let opts = FatOptions {
        fat_type: Some(FatType::Fat12),
        size: Some(1 << 30),
        ..FatOptions::default()
    };
    assert!(plan(&t, ROOT, &opts).is_err());
}

#[test]
fn a_subfolder_becomes_the_root_and_fixed_time_clamps() {
    let t = sample();
    let d = t.lookup("/a/b").unwrap();
    let opts = FatOptions {
        fixed_time: Some(Timestamp::from_secs(1_500_000_000)),
        ..FatOptions::default()
    };
    let p = plan(&t, d, &opts).unwrap();
    let fs = open(write_fat_to_vec(&p).unwrap(), 0);
    let got = listing(fs.as_ref());
    assert_eq!(got.len(), 9);
    assert!(got.iter().all(|e| e.3 == 1_500_000_000), "{got:?}");
    assert_eq!(got[0].0, "/c");
}

#[test]
fn efi_images_are_floppies_with_the_efi_folder_inside() {
    let mut t = sample();
    let boot = t
        .ensure_dir("/EFI/BOOT", meta(0o755, 1_650_000_000))
        .unwrap();
    file(&mut t, boot, "BOOTX64.EFI", &[0x4D, 0x5A, 1, 2, 3]);
    let efi = t.lookup("/EFI").unwrap();
    let img = efi_image(&t, efi, None).unwrap();
    assert_eq!(img.len(), 1440 << 10);
    let fs = open(img, 0);
    let f = fs.resolve("/EFI/BOOT/BOOTX64.EFI").unwrap();
    let mut b = [0u8; 5];
    assert_eq!(fs.read_at(f, 0, &mut b).unwrap(), 5);
    assert_eq!(b, [0x4D, 0x5A, 1, 2, 3]);
    // The folder goes into the tree as an image file; the folder stays.
    let path = efi_boot_image(&mut t, "/EFI", None, None).unwrap();
    assert_eq!(path, "/efiboot.img");
    assert!(t.lookup("/efiboot.img").is_some() && t.lookup("/EFI/BOOT").is_some());
    assert_eq!(
        efi_boot_image(&mut t, "/efiboot.img", None, None).unwrap(),
        "/efiboot.img"
    );
    assert!(efi_boot_image(&mut t, "/efiboot.img", Some("/x.img"), None).is_err());
    // A symlink in the folder is an error, not a warning.
    t.add(boot, "l", Kind::Symlink("x".into()), meta(0o777, 0))
        .unwrap();
    assert!(efi_image(&t, efi, None).is_err());
}

#[test]
fn a_literal_8_3_name_keeps_its_short_name() {
    let mut t = FileTree::new(meta(0o755, 1_600_000_000));
    // Byte order puts the long name first; it must not take LONGFI~1.
    file(&mut t, ROOT, "LONGFILE NAME.txt", b"long");
    file(&mut t, ROOT, "LONGFI~1.TXT", b"literal");
    let p = plan(&t, ROOT, &FatOptions::default()).unwrap();
    let fs = open(write_fat_to_vec(&p).unwrap(), 0);
    let read = |path: &str| {
        let n = fs.lookup(fs.root(), path).unwrap().unwrap();
        let mut b = vec![0u8; 16];
        let len = fs.read_at(n, 0, &mut b).unwrap();
        b.truncate(len);
        b
    };
    assert_eq!(read("LONGFI~1.TXT"), b"literal");
    assert_eq!(read("LONGFI~2.TXT"), b"long");
    assert_eq!(read("LONGFILE NAME.txt"), b"long");
}
