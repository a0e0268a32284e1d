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
use crate::fs::{FileSystem, FileSystemExt, FileType};
use crate::image::{Image, Layer};
use crate::io::MemorySource;
use crate::ops::info::InfoReport;
use crate::partition::{apm::Apm, gpt::Gpt, mbr::Mbr};
use std::sync::Arc;

/// Most tree entries visited per file system.
const MAX_ENTRIES: usize = 4096;
/// Most bytes read per file or device.
const MAX_READ: u64 = 256 * 1024;
/// Most guest bytes whose allocation is asked for.
const MAX_EXTENT_SPAN: u64 = 64 << 20;

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
        "apm" => {
            let _ = Apm::read(&MemorySource::new(data.to_vec()));
        }
        "ntfs" => volume(data, crate::fs::ntfs::open_volume),
        "hfsplus" => volume(data, crate::fs::hfsplus::open_volume),
        "nbd" => nbd(data),
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

/// Feeds `data` to the NBD server as one client's byte stream (handshake, then requests) over a
/// writable and a read-only export in memory; replies are discarded.
fn nbd(data: &[u8]) {
    use crate::nbd::{Export, run_session};
    use crate::overlay::MemoryDevice;
    struct Duplex<'a>(&'a [u8]);
    impl std::io::Read for Duplex<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    impl std::io::Write for Duplex<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let exports = vec![
        Export::writable("rw", Arc::new(MemoryDevice::new(vec![0u8; 1 << 20]))),
        Export::read_only("ro", Arc::new(MemorySource::new(vec![1u8; 64 << 10]))),
    ];
    let stop = std::sync::atomic::AtomicBool::new(false);
    let _ = run_session(&mut Duplex(data), &exports, &stop);
}
