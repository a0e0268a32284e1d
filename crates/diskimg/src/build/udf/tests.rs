//! Bridge images written here and read back through the UDF reader (`fs::udf`): what the
//! command-line tests cannot reach cheaply (reads at chosen offsets of a file too large to
//! hash, devices, names too long for UDF).

use super::{UdfPlan, UdfRevision};
use crate::build::iso::{self, IsoOptions};
use crate::build::tree::{FileTree, Kind, Meta, ROOT, Source};
use crate::fs::{FileSystem, FileSystemExt, FileType};
use crate::io::FileSource;
use crate::time::Timestamp;
use std::sync::Arc;

fn meta(mode: u32) -> Meta {
    Meta::synthetic(mode, Timestamp::from_secs(1_600_000_000))
}

/// Writes `tree` as a bridge image into `dir` and opens its UDF view.
fn write_and_open(
    tree: &FileTree,
    revision: UdfRevision,
    dir: &std::path::Path,
) -> Arc<dyn FileSystem> {
    let udf = UdfPlan::new(tree, revision, false).unwrap();
    let opts = IsoOptions {
        fixed_time: Some(Timestamp::from_secs(1_700_000_000)),
        reserve: udf.reserve(),
        ..IsoOptions::default()
    };
    let plan = iso::plan(tree, opts).unwrap();
    let path = dir.join(format!("{revision}.iso"));
    let out = std::fs::File::create_new(&path).unwrap();
    iso::write_iso_with(&plan, &out, &(), Some(&udf.writer())).unwrap();
    let dev = Arc::new(FileSource::open(&path).unwrap());
    let volume = crate::fs::udf::open_volume(dev).unwrap();
    assert!(volume.warnings.is_empty(), "{:?}", volume.warnings);
    volume.file_systems[0].fs.clone().unwrap()
}

fn read(fs: &dyn FileSystem, path: &str, offset: u64, len: usize) -> Vec<u8> {
    let node = fs.resolve(path).unwrap();
    let mut b = vec![0u8; len];
    assert_eq!(fs.read_at(node, offset, &mut b).unwrap(), len);
    b
}

#[test]
fn a_file_beyond_what_an_entry_holds_continues_in_allocation_extents() {
    // 130 GiB: 130 extents, more than an extended entry holds as long descriptors (114, UDF
    // 2.50) but not as short ones (229, UDF 2.01). Sparse: only the markers hold data.
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("huge.bin");
    let size: u64 = 130 * 1024 * 1024 * 1024 + 12_345;
    let marks = [0, 113 * super::layout::MAX_EXTENT - 3, 120 << 30, size - 8];
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::File::create(&host).unwrap();
        f.set_len(size).unwrap();
        for at in marks {
            f.write_all_at(&at.to_le_bytes(), at).unwrap();
        }
    }
    let mut tree = FileTree::new(meta(0o755));
    tree.add(
        ROOT,
        "huge.bin",
        Kind::File {
            source: Source::Host(host),
            size,
        },
        meta(0o644),
    )
    .unwrap();
    for revision in [UdfRevision::V2_01, UdfRevision::V2_50] {
        let plan = UdfPlan::new(&tree, revision, false).unwrap();
        let aeds: u32 = plan.icbs.iter().map(|i| i.aeds).sum();
        assert_eq!(
            aeds,
            u32::from(revision == UdfRevision::V2_50),
            "{revision}"
        );
        let fs = write_and_open(&tree, revision, dir.path());
        let node = fs.resolve("/huge.bin").unwrap();
        assert_eq!(fs.metadata(node).unwrap().size, size);
        for at in marks {
            assert_eq!(
                read(fs.as_ref(), "/huge.bin", at, 8),
                at.to_le_bytes(),
                "{revision} @{at}"
            );
        }
        // One contiguous run on the device: the sectors the ISO 9660 tree shares.
        let runs = fs.file_extents(node).unwrap().unwrap();
        assert_eq!(runs.len(), 1, "{revision}: {runs:?}");
        assert_eq!(runs[0].len, size);
    }
}

#[test]
fn devices_fifos_set_id_bits_and_long_names_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut tree = FileTree::new(meta(0o755));
    let dev = tree
        .add(ROOT, "dev", Kind::Dir(Vec::new()), meta(0o755))
        .unwrap();
    tree.add(dev, "sda1", Kind::Device(false, 8, 1), meta(0o660))
        .unwrap();
    tree.add(dev, "tty0", Kind::Device(true, 4, 0), meta(0o620))
        .unwrap();
    tree.add(dev, "pipe", Kind::Fifo, meta(0o644)).unwrap();
    let bytes = |b: &[u8]| Kind::File {
        source: Source::Bytes(b.to_vec().into()),
        size: b.len() as u64,
    };
    tree.add(ROOT, "su", bytes(b"#!/bin/sh\n"), meta(0o4755))
        .unwrap();
    tree.add(ROOT, "shared", Kind::Dir(Vec::new()), meta(0o1777))
        .unwrap();
    let long_a = format!("{}-a.txt", "long ".repeat(60));
    let long_b = format!("{}-b.txt", "long ".repeat(60));
    tree.add(ROOT, &long_a, bytes(b"a"), meta(0o644)).unwrap();
    tree.add(ROOT, &long_b, bytes(b"b"), meta(0o644)).unwrap();
    let far = "/target/".to_owned() + &"x/".repeat(1200);
    tree.add(ROOT, "far", Kind::Symlink(far.clone()), meta(0o777))
        .unwrap();
    for revision in [UdfRevision::V1_02, UdfRevision::V2_01, UdfRevision::V2_50] {
        let fs = write_and_open(&tree, revision, dir.path());
        let m = |p: &str| fs.metadata(fs.resolve(p).unwrap()).unwrap();
        assert_eq!(m("/dev/sda1").file_type, FileType::BlockDevice);
        assert_eq!(m("/dev/sda1").rdev, Some((8, 1)));
        assert_eq!(m("/dev/tty0").file_type, FileType::CharDevice);
        assert_eq!(m("/dev/tty0").rdev, Some((4, 0)));
        assert_eq!(m("/dev/pipe").file_type, FileType::Fifo);
        assert_eq!(m("/su").mode, Some(0o4755));
        assert_eq!(m("/shared").mode, Some(0o1777));
        assert_eq!(m("/dev/sda1").mode, Some(0o660));
        // The long target does not fit in the entry: it is in a block of its own.
        let link = fs.resolve("/far").unwrap();
        assert_eq!(fs.read_link(link).unwrap(), far.trim_end_matches('/'));
        // Names over 255 bytes come back shortened, distinct, with their extension.
        let names: Vec<String> = fs
            .read_dir(fs.root())
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .filter(|n| n.starts_with("long"))
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert_ne!(names[0], names[1]);
        for n in &names {
            assert!(
                n.ends_with(".txt") && n.contains('#') && n.len() < 255,
                "{n}"
            );
        }
        assert_eq!(
            [
                read(fs.as_ref(), &format!("/{}", names[0]), 0, 1),
                read(fs.as_ref(), &format!("/{}", names[1]), 0, 1)
            ]
            .concat(),
            b"ab"
        );
    }
}
