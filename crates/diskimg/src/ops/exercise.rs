//! Reads everything reachable in untrusted bytes, within bounds: the body of every fuzz target
//! and of the tests that replay the fuzzers' findings. Errors are expected and ignored; a
//! panic, a hang or an unbounded allocation is the bug being looked for.

use crate::device::{BlockDevice, DeviceRef};
use crate::fs::{FileSystem, FileSystemExt, FileType};
use crate::image::{Image, Layer};
use crate::io::{MemorySource, ReadAt};
use crate::ops::info::InfoReport;
use crate::partition::{gpt::Gpt, mbr::Mbr};
use std::sync::Arc;

/// Most tree entries visited per file system.
const MAX_ENTRIES: usize = 4096;
/// Most bytes read per file.
const MAX_READ: u64 = 256 * 1024;
/// Guest bytes of a container whose allocation is mapped.
const MAX_MAP: u64 = 256 << 20;
/// L2 entries a qcow2 check may visit.
const MAX_CHECK_ENTRIES: u64 = 1 << 20;

/// Runs fuzz target `name` on `data`. Unknown names do nothing.
pub fn run_target(name: &str, data: &[u8]) {
    match name {
        "open" => exercise(Arc::new(MemorySource::new(data.to_vec()))),
        "iso9660" => {
            // The fuzzer's bytes start at sector 16, where the volume descriptors are.
            let mut img = vec![0u8; 32 * 1024];
            img.extend_from_slice(data);
            exercise(Arc::new(MemorySource::new(img)));
        }
        "mbr" => {
            let _ = Mbr::read(&MemorySource::new(data.to_vec()), 512);
        }
        "gpt" => {
            let _ = Gpt::read(&MemorySource::new(data.to_vec()));
        }
        "qcow2" => qcow2(data),
        _ => {}
    }
}

/// A qcow2 image: header, tables, guest reads, allocation map, snapshots, check.
fn qcow2(data: &[u8]) {
    use crate::container::qcow2::{Qcow2, check::check_within};
    let file: DeviceRef = Arc::new(MemorySource::new(data.to_vec()));
    let ctx = crate::container::OpenContext::default();
    let _ = check_within(file.clone(), &ctx, MAX_CHECK_ENTRIES);
    let Ok(img) = Qcow2::open(file, &ctx) else {
        return;
    };
    let _ = crate::container::Container::details(&img);
    let dev = crate::container::Container::device(&img);
    let _ = dev.extents(0, dev.size().min(MAX_MAP));
    let mut buf = vec![0u8; 64 * 1024];
    let mut off = 0;
    while off < dev.size().min(MAX_READ) {
        match dev.read_at(off, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => off += n as u64,
        }
    }
    // A read far into the disk as well (the last cluster).
    let _ = dev.read_at(dev.size().saturating_sub(4096), &mut buf[..4096]);
}

/// Opens `device` through every layer, describes it, and walks and reads every file system.
pub fn exercise(device: DeviceRef) {
    let Ok(image) = Image::from_device(device, "fuzz") else {
        return;
    };
    let _ = serde_json::to_string(&InfoReport::new(&image));
    layer(&image.root);
}

fn layer(l: &Layer) {
    if let Some((_, inner)) = &l.container {
        layer(inner);
    }
    for e in &l.file_systems {
        if let Some(fs) = &e.fs {
            tree(fs.as_ref());
        }
    }
    if let Some(p) = &l.partitions {
        for (_, child) in &p.children {
            if let Some(c) = child {
                layer(c);
            }
        }
    }
}

fn tree(fs: &dyn FileSystem) {
    let mut buf = vec![0u8; 64 * 1024];
    for item in fs.walk(fs.root(), "/").take(MAX_ENTRIES) {
        let Ok(item) = item else { continue };
        let _ = fs.lookup(item.node, "x");
        match item.metadata.file_type {
            FileType::Symlink => {
                let _ = fs.read_link(item.node);
                let _ = fs.resolve_follow(&item.path);
            }
            FileType::File => {
                let _ = fs.file_extents(item.node);
                let mut off = 0;
                while off < item.metadata.size.min(MAX_READ) {
                    match fs.read_at(item.node, off, &mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => off += n as u64,
                    }
                }
            }
            _ => {}
        }
    }
}
