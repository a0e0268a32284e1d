//! Reads everything reachable in untrusted bytes, within bounds: the body of every fuzz target
//! and of the tests that replay the fuzzers' findings. Errors are expected and ignored; a
//! panic, a hang or an unbounded allocation is the bug being looked for.

use crate::container::Container;
use crate::container::vdi::Vdi;
use crate::container::vhd::Vhd;
use crate::container::vhdx::Vhdx;
use crate::container::vmdk::Vmdk;
use crate::container::vmdk::descriptor::VmdkDescriptor;
use crate::device::BlockDevice;
use crate::device::DeviceRef;
use crate::fs::{FileSystem, FileSystemExt, FileType, exfat, ext4, fat, squashfs};
use crate::image::{Image, Layer};
use crate::io::{MemorySource, ReadAt};
use crate::ops::info::InfoReport;
use crate::optical::audio::WavStream;
use crate::optical::disc::{DataFile, Disc};
use crate::optical::files::ZeroFiles;
use crate::optical::{UserDataView, ccd, cdi, cue, gdi, mds, nrg, toc};
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
            let chain = crate::container::OpenContext::default();
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
        "apfs" => volume(data, crate::fs::apfs::open_volume),
        "fat" => volume(data, |d| fat::open_volume(d.clone())),
        "exfat" => volume(data, |d| exfat::open_volume(d.clone())),
        "ext4" => volume(data, |d| ext4::open_volume(d.clone())),
        "squashfs" => volume(data, |d| squashfs::open_volume(d.clone())),
        "cso" => {
            let file: DeviceRef = Arc::new(MemorySource::new(data.to_vec()));
            if let Ok(img) = crate::container::cso::Cso::open(file) {
                container(&img);
            }
        }
        "qcow2" => {
            use crate::container::qcow2::{Qcow2, check::check_within};
            let file: DeviceRef = Arc::new(MemorySource::new(data.to_vec()));
            let ctx = crate::container::OpenContext::default();
            let _ = check_within(file.clone(), &ctx, MAX_CHECK_ENTRIES);
            if let Ok(img) = Qcow2::open(file, &ctx) {
                container(&img);
            }
        }
        "cue" => disc(cue::open(data, &ZeroFiles(DATA_FILE))),
        "toc" => disc(toc::open(data, &ZeroFiles(DATA_FILE))),
        "ccd" => disc(ccd::open(data, &ZeroFiles(DATA_FILE))),
        "mds" => disc(mds::open(data, &ZeroFiles(DATA_FILE))),
        "gdi" => disc(gdi::open(data, &ZeroFiles(DATA_FILE))),
        "nrg" => disc(nrg::open_source(Arc::new(MemorySource::new(data.to_vec())))),
        "cdi" => disc(cdi::open(DataFile {
            path: "fuzz.cdi".into(),
            source: Arc::new(MemorySource::new(data.to_vec())),
        })),
        "nbd" => nbd(data),
        "chd" => chd(data),
        _ => {}
    }
}

/// Describes a container and reads a bounded part of its device and allocation map.
/// A CHD: opened as a container and, when it is a CD, as a disc; every hunk checked.
fn chd(data: &[u8]) {
    let file: DeviceRef = Arc::new(MemorySource::new(data.to_vec()));
    let Ok(dev) = crate::container::chd::open_device(file, &Default::default()) else {
        return;
    };
    // Every hunk is checked only for small images (a tiny file may map millions of hunks).
    if dev.size() <= MAX_EXTENT_SPAN / 4 {
        let _ = crate::container::chd::verify::check_data(&dev, &|_| false);
    }
    if crate::container::chd::cd::is_cd(&dev.metadata) {
        disc(crate::container::chd::cd::disc(dev.clone(), None));
    }
    container(&crate::container::chd::Chd { device: dev });
}

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
            if let Some(map) = fs.allocation_map() {
                let _ = map.allocated_ranges();
            }
            tree(fs.as_ref());
        }
    }
}

/// Size of every data file a fuzzed descriptor names (all zeros, never stored).
const DATA_FILE: u64 = 64 << 20;
/// Sectors read at each end of each track.
const EDGE_SECTORS: i64 = 4;

/// Reads a parsed disc: sectors and subchannel at the edges of each track, each data track's
/// user-data view explored as a device, the cue sheet of its layout.
fn disc(d: crate::Result<Disc>) {
    let Ok(d) = d else { return };
    let d = Arc::new(d);
    let mut raw = [0u8; 2352];
    let mut sub = [0u8; 96];
    let mut user = vec![0u8; 2048];
    for t in &d.tracks {
        for lba in (t.first..t.first.saturating_add(EDGE_SECTORS).min(t.end))
            .chain(t.end.saturating_sub(EDGE_SECTORS).max(t.first)..t.end)
        {
            let _ = d.read_raw(lba, &mut raw);
            let _ = d.read_sub(lba, &mut sub);
            let _ = d.read_user(lba, 1, &mut user);
        }
        if t.mode.is_data() {
            if let Ok(view) = UserDataView::for_track(d.clone(), t.number) {
                let _ = view.extents(0, view.size());
                exercise(Arc::new(view));
            }
        } else {
            let _ = WavStream::new(d.clone(), t.number).map(|w| w.read_at(0, &mut user));
        }
    }
    let bins = [cue::BinFile {
        name: "x.bin".into(),
        tracks: d
            .tracks
            .iter()
            .map(|t| (t.number, t.mode_name(), t.first, t.length()))
            .collect(),
    }];
    let _ = cue::write(&d, &bins);
    let _ = crate::optical::cdtext::encode(&d);
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
    if let Some(d) = &l.disc {
        for (_, t) in &d.tracks {
            layer(t);
        }
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
