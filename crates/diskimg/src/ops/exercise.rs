//! Reads everything reachable in untrusted bytes, within bounds: the body of every fuzz target
//! and of the tests that replay the fuzzers' findings. Errors are expected and ignored; a
//! panic, a hang or an unbounded allocation is the bug being looked for.

use crate::container::Container;
use crate::container::chain::Chain;
use crate::container::vdi::Vdi;
use crate::container::vhd::Vhd;
use crate::container::vhdx::Vhdx;
use crate::container::vmdk::Vmdk;
use crate::container::vmdk::descriptor::VmdkDescriptor;
use crate::device::DeviceRef;
use crate::fs::{FileSystem, FileSystemExt, FileType, exfat, ext4, fat, squashfs};
use crate::image::{Image, Layer};
use crate::io::{MemorySource, ReadAt};
use crate::ops::info::InfoReport;
use crate::partition::{apm::Apm, gpt::Gpt, mbr::Mbr};
use std::sync::Arc;

/// Most tree entries visited per file system.
const MAX_ENTRIES: usize = 4096;
/// Most bytes read per file or device.
const MAX_READ: u64 = 256 * 1024;
/// Most guest bytes whose allocation is asked for.
const MAX_EXTENT_SPAN: u64 = 64 << 20;
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
        "udf" => {
            // As for ISO 9660: the fuzzer's bytes start at byte 32768, where the volume
            // recognition sequence is; seeds are images with 512-byte blocks.
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
        "vhd" | "vhdx" | "vdi" | "vmdk" => {
            let file: DeviceRef = Arc::new(MemorySource::new(data.to_vec()));
            let chain = Chain::default();
            let opened: Option<Box<dyn Container>> = match name {
                "vhd" => Vhd::open(file, &chain).ok().map(|c| Box::new(c) as _),
                "vhdx" => Vhdx::open(file, &chain).ok().map(|c| Box::new(c) as _),
                "vdi" => Vdi::open(file, &chain).ok().map(|c| Box::new(c) as _),
                _ => Vmdk::open(file, &chain).ok().map(|c| Box::new(c) as _),
            };
            if let Some(c) = opened {
                container(c.as_ref());
            }
        }
        "vmdk_descriptor" => {
            let _ = VmdkDescriptor::parse(data);
        }
        "dmg" => {
            use crate::container::dmg::{Dmg, verify::verify_opened};
            let file: DeviceRef = Arc::new(MemorySource::new(data.to_vec()));
            if let Ok(d) = Dmg::open(file, &crate::container::OpenContext::default()) {
                container(&d);
                if d.udif_device().size() <= MAX_EXTENT_SPAN {
                    let _ = verify_opened(d.image(), d.udif_device());
                }
            }
        }
        "dmg_plist" => {
            let _ = crate::container::dmg::plist::parse(data);
        }
        "dmg_mish" => {
            let _ = crate::container::dmg::mish::BlkxTable::parse(data, 0);
            let _ = crate::container::dmg::rsrc::resources_of(data, b"blkx", 0);
        }
        "dmg_adc" => {
            let mut out = vec![0u8; 1 << 20];
            let _ = crate::container::dmg::adc::decompress(data, &mut out);
        }
        "dmg_sparse" => {
            let file: DeviceRef = Arc::new(MemorySource::new(data.to_vec()));
            if let Ok(s) = crate::container::dmg::sparse::SparseImage::open(file.clone()) {
                container(&s);
            }
            let _ = crate::container::dmg::crypt::EncrHeader::read(file.as_ref());
        }
        "apm" => {
            let _ = Apm::read(&MemorySource::new(data.to_vec()));
        }
        "ntfs" => volume(data, crate::fs::ntfs::open_volume),
        "hfsplus" => volume(data, crate::fs::hfsplus::open_volume),
        "fat" => volume(data, |d| fat::open_volume(d.clone())),
        "exfat" => volume(data, |d| exfat::open_volume(d.clone())),
        "ext4" => volume(data, |d| ext4::open_volume(d.clone())),
        "squashfs" => volume(data, |d| squashfs::open_volume(d.clone())),
        "qcow2" => {
            use crate::container::qcow2::{Qcow2, check::check_within};
            let file: DeviceRef = Arc::new(MemorySource::new(data.to_vec()));
            let ctx = crate::container::OpenContext::default();
            let _ = check_within(file.clone(), &ctx, MAX_CHECK_ENTRIES);
            if let Ok(img) = Qcow2::open(file, &ctx) {
                container(&img);
            }
        }
        _ => {}
    }
}

/// Describes a container and reads a bounded part of its device and allocation map.
fn container(c: &dyn Container) {
    let _ = serde_json::to_string(&c.details());
    let dev = c.device();
    let size = dev.size();
    let _ = dev.extents(0, size.min(MAX_EXTENT_SPAN));
    let mut buf = vec![0u8; 64 * 1024];
    let mut off = 0;
    while off < size.min(MAX_READ) {
        match dev.read_at(off, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => off += n as u64,
        }
    }
    for at in [size / 3, size / 2, size.saturating_sub(4096)] {
        let _ = dev.read_at(at, &mut buf[..4096]);
    }
}

/// Opens `data` as one file-system format and walks what it holds.
fn volume(data: &[u8], open: fn(&DeviceRef) -> crate::Result<crate::fs::FsVolume>) {
    let dev: DeviceRef = Arc::new(MemorySource::new(data.to_vec()));
    let Ok(v) = open(&dev) else { return };
    for e in &v.file_systems {
        if let Some(fs) = &e.fs {
            let _ = fs.usage();
            tree(fs.as_ref());
        }
    }
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
        for s in &item.metadata.streams {
            if let Ok(Some(n)) = fs.lookup(item.node, &format!("x:{}", s.name)) {
                let _ = fs.read_at(n, 0, &mut buf);
            }
        }
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
