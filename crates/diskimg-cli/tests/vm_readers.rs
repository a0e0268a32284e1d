//! The VHD, VHDX, VDI and VMDK readers against qemu-img (`convert -O raw`, `map`, `info`),
//! libyal's vhdiinfo/vmdkinfo, and expected contents computed independently of diskimg, on the
//! images of tests/fixtures/make-vmreaders.sh; hostile variants are made here by changing a
//! copy of a fixture, each test saying what it changes.

mod common;

use common::*;
use diskimg::device::{DeviceRef, ExtentKind};
use diskimg::{ErrorKind, Image};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One row of the fixture manifest (`images.tsv`).
struct Row {
    name: String,
    /// qemu's format name, or `-` when qemu cannot read the image.
    qemu_fmt: String,
    /// `qemu` or `file:<expected raw>`.
    reference: String,
    /// Whether `qemu-img map` tells this format's allocation.
    map: bool,
}

fn manifest(dir: &Path) -> Vec<Row> {
    std::fs::read_to_string(dir.join("images.tsv"))
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Row {
                name: f[0].into(),
                qemu_fmt: f[1].into(),
                reference: f[2].into(),
                map: f[3] == "yes",
            }
        })
        .collect()
}

/// The guest device of the (outermost) container in `path`.
fn device(path: &Path) -> DeviceRef {
    let img = Image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (c, _) = img.root.container.as_ref().expect("a container");
    c.device()
}

fn details(path: &Path) -> Value {
    let out = ok(diskimg().arg("info").arg("--json").arg(path));
    let v: Value = serde_json::from_slice(&out).unwrap();
    v["containers"][0].clone()
}

/// Compares `dev` with the raw file `reference`, byte for byte.
fn assert_same_bytes(dev: &DeviceRef, reference: &Path, label: &str) {
    use std::io::Read;
    let mut f = std::fs::File::open(reference).unwrap();
    let size = f.metadata().unwrap().len();
    assert_eq!(dev.size(), size, "{label}: size");
    let mut a = vec![0u8; 1 << 20];
    let mut b = vec![0u8; 1 << 20];
    let mut off = 0u64;
    while off < size {
        let n = (size - off).min(a.len() as u64) as usize;
        dev.read_exact_at(off, &mut a[..n])
            .unwrap_or_else(|e| panic!("{label}: read at {off}: {e}"));
        f.read_exact(&mut b[..n]).unwrap();
        if a[..n] != b[..n] {
            let i = (0..n).find(|&i| a[i] != b[i]).unwrap();
            panic!(
                "{label}: differs at byte {} (ours {:#04x}, reference {:#04x})",
                off + i as u64,
                a[i],
                b[i]
            );
        }
        off += n as u64;
    }
}

fn qemu_raw(img: &Path, fmt: &str, out: &Path) {
    ok(Command::new("qemu-img")
        .args(["convert", "-f", fmt, "-O", "raw"])
        .arg(img)
        .arg(out));
}

fn reference_of(dir: &Path, row: &Row, tmp: &Path) -> PathBuf {
    match row.reference.strip_prefix("file:") {
        Some(f) => dir.join(f),
        None => {
            let out = tmp.join(format!("{}.raw", row.name));
            qemu_raw(&dir.join(&row.name), &row.qemu_fmt, &out);
            out
        }
    }
}

#[test]
fn every_image_reads_like_the_reference() {
    let (Some(dir), Some(_)) = (fixtures("vmreaders"), tool("qemu-img")) else {
        return;
    };
    let t = tempdir();
    for row in manifest(&dir) {
        let reference = reference_of(&dir, &row, t.path());
        let dev = device(&dir.join(&row.name));
        assert_same_bytes(&dev, &reference, &row.name);
        if row.reference == "qemu" {
            std::fs::remove_file(&reference).unwrap();
        }
    }
}

#[test]
fn concurrent_reads_agree() {
    let (Some(dir), Some(_)) = (fixtures("vmreaders"), tool("qemu-img")) else {
        return;
    };
    for name in ["vmdk_stream.vmdk", "vhd_grandchild.vhd", "vhdx_child.vhdx"] {
        let dev = device(&dir.join(name));
        let mut whole = vec![0u8; dev.size() as usize];
        dev.read_exact_at(0, &mut whole).unwrap();
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let (dev, whole) = (&dev, &whole);
                s.spawn(move || {
                    let mut buf = vec![0u8; 5000];
                    let mut off = t * 7919;
                    while off + 5000 < dev.size() {
                        dev.read_exact_at(off, &mut buf).unwrap();
                        assert_eq!(&buf[..], &whole[off as usize..off as usize + 5000]);
                        off += 123_457;
                    }
                });
            }
        });
    }
}

/// Runs of one class: `D` data, `Z` zero, `U` unallocated (`N` when a format cannot say
/// which of zero and unallocated).
fn runs(mut v: Vec<(u64, u64, char)>) -> Vec<(u64, u64, char)> {
    v.sort();
    let mut out: Vec<(u64, u64, char)> = Vec::new();
    for (s, e, c) in v {
        match out.last_mut() {
            Some(last) if last.2 == c && last.1 == s => last.1 = e,
            _ => out.push((s, e, c)),
        }
    }
    out
}

#[test]
fn allocation_matches_qemu_map() {
    let (Some(dir), Some(_)) = (fixtures("vmreaders"), tool("qemu-img")) else {
        return;
    };
    for row in manifest(&dir).into_iter().filter(|r| r.map) {
        let path = dir.join(&row.name);
        // qemu's vpc and vdi drivers have no backing files, so they call unallocated blocks
        // zero; only data versus no data can be compared there.
        let merge_nz = matches!(row.qemu_fmt.as_str(), "vpc" | "vdi");
        let class = |c: char| if merge_nz && c != 'D' { 'N' } else { c };
        let out = ok(Command::new("qemu-img")
            .args(["map", "--output=json", "-f", &row.qemu_fmt])
            .arg(&path));
        let theirs: Vec<Value> = serde_json::from_slice(&out).unwrap();
        let theirs = runs(
            theirs
                .iter()
                .map(|r| {
                    let s = r["start"].as_u64().unwrap();
                    let c = if !r["present"].as_bool().unwrap() {
                        'U'
                    } else if r["zero"].as_bool().unwrap() {
                        'Z'
                    } else {
                        'D'
                    };
                    (s, s + r["length"].as_u64().unwrap(), class(c))
                })
                .collect(),
        );
        let dev = device(&path);
        let ours = runs(
            dev.extents(0, dev.size())
                .unwrap()
                .iter()
                .map(|e| {
                    let c = match e.kind {
                        ExtentKind::Data => 'D',
                        ExtentKind::Zero => 'Z',
                        ExtentKind::Unallocated => 'U',
                    };
                    (e.offset, e.offset + e.len, class(c))
                })
                .collect(),
        );
        assert_eq!(
            ours, theirs,
            "{}: extents differ from qemu-img map",
            row.name
        );
    }
}

#[test]
fn vhdx_allocation_matches_the_writes() {
    // qemu's vhdx driver reports everything as data, so the expected allocation comes from the
    // writes of make-vmreaders.sh: W1 touches 1 MiB blocks 0, 1, 3, 4, 12 and 15.
    let Some(dir) = fixtures("vmreaders") else {
        return;
    };
    let dev = device(&dir.join("vhdx_1m.vhdx"));
    let mut data_blocks: Vec<u64> = dev
        .extents(0, dev.size())
        .unwrap()
        .iter()
        .filter(|e| e.kind == ExtentKind::Data)
        .flat_map(|e| (e.offset >> 20)..((e.offset + e.len) >> 20))
        .collect();
    data_blocks.dedup();
    assert_eq!(data_blocks, vec![0, 1, 3, 4, 12, 15]);
    // The child of the differencing pair shows its own sectors and the parent's blocks.
    // Through the parent, the child shows the parent's data blocks and its own; the parent's
    // unwritten blocks are qemu's ZERO blocks.
    let dev = device(&dir.join("vhdx_child.vhdx"));
    let mut data_blocks: Vec<u64> = dev
        .extents(0, dev.size())
        .unwrap()
        .iter()
        .filter(|e| e.kind == ExtentKind::Data)
        .flat_map(|e| (e.offset >> 20)..(e.offset + e.len).div_ceil(1 << 20))
        .collect();
    data_blocks.sort();
    data_blocks.dedup();
    assert_eq!(data_blocks, vec![0, 1, 3, 4, 5, 9, 12, 15]);
}

fn qemu_info(path: &Path, fmt: &str) -> Value {
    let out = ok(Command::new("qemu-img")
        .args(["info", "--output=json", "-f", fmt])
        .arg(path));
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn facts_match_qemu_img_info() {
    let (Some(dir), Some(_)) = (fixtures("vmreaders"), tool("qemu-img")) else {
        return;
    };
    for row in manifest(&dir).into_iter().filter(|r| r.qemu_fmt != "-") {
        let path = dir.join(&row.name);
        let q = qemu_info(&path, &row.qemu_fmt);
        let d = details(&path);
        let fmt = match row.qemu_fmt.as_str() {
            "vpc" => "vhd",
            f => f,
        };
        assert_eq!(d["format"], fmt, "{}", row.name);
        let ours = &d["details"];
        assert_eq!(
            ours["virtual_size"], q["virtual-size"],
            "{}: virtual size",
            row.name
        );
        if let Some(cs) = q.get("cluster-size") {
            let key = ["block_size", "grain_size"]
                .into_iter()
                .find(|k| ours.get(*k).is_some())
                .unwrap_or("block_size");
            assert_eq!(&ours[key], cs, "{}: {key}", row.name);
        }
        if let Some(b) = q.get("full-backing-filename") {
            let chain = ours["backing_chain"].as_array().expect("backing chain");
            let ours_file = std::fs::canonicalize(chain[0]["file"].as_str().unwrap()).unwrap();
            let theirs = std::fs::canonicalize(b.as_str().unwrap()).unwrap();
            assert_eq!(ours_file, theirs, "{}: backing file", row.name);
        }
    }
    let d = details(&dir.join("vmdk_snap2.vmdk"))["details"].clone();
    let chain: Vec<&str> = d["backing_chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["file"].as_str().unwrap())
        .collect();
    assert!(chain[0].ends_with("vmdk_snap.vmdk") && chain[1].ends_with("vmdk_sparse.vmdk"));
    let d = details(&dir.join("vhd_dynamic_qem2.vhd"))["details"].clone();
    assert_eq!(d["creator"]["application"], "qem2");
    assert!(d.get("qemu_virtual_size").is_none());
    let d = details(&dir.join("vhdx_fixed.vhdx"))["details"].clone();
    assert_eq!(d["subformat"], "fixed");
}

#[test]
fn vhdx_4k_sectors_and_dirty_log() {
    let Some(dir) = fixtures("vmreaders") else {
        return;
    };
    let out = ok(diskimg()
        .arg("info")
        .arg("--json")
        .arg(dir.join("vhdx_4k.vhdx")));
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["sector_size"], 4096);
    assert_eq!(v["containers"][0]["details"]["logical_sector_size"], 4096);
    let dirty = dir.join("vhdx_dirty.vhdx");
    let before = sha256_file(&dirty);
    let d = details(&dirty)["details"].clone();
    assert_eq!(d["log"]["replayed"], true);
    let w = d["warnings"][0].as_str().unwrap();
    assert!(w.contains("replayed in memory"), "{w}");
    let dev = device(&dirty);
    let mut b = vec![0u8; 4096];
    dev.read_exact_at(5 << 20, &mut b).unwrap();
    assert!(
        b.iter().all(|&x| x == 0x22),
        "the block the log allocates reads back"
    );
    assert_eq!(sha256_file(&dirty), before, "the input was modified");
}

fn libyal_field(out: &[u8], key: &str) -> Option<String> {
    String::from_utf8_lossy(out)
        .lines()
        .find(|l| l.trim_start().starts_with(key))
        .map(|l| l.split_once(':').unwrap().1.trim().to_owned())
}

#[test]
fn facts_match_libyal() {
    let Some(dir) = fixtures("vmreaders") else {
        return;
    };
    if let Some(vhdiinfo) = tool("vhdiinfo") {
        for name in [
            "vhd_dynamic.vhd",
            "vhd_fixed.vhd",
            "vhd_child.vhd",
            "vhdx_1m.vhdx",
            "vhdx_4k.vhdx",
            "vhdx_child.vhdx",
        ] {
            let path = dir.join(name);
            let out = ok(Command::new(&vhdiinfo).arg(&path));
            let d = details(&path)["details"].clone();
            let media = libyal_field(&out, "Media size").unwrap();
            let bytes = media.split('(').nth(1).unwrap().split(' ').next().unwrap();
            assert_eq!(d["virtual_size"].to_string(), bytes, "{name}: media size");
            let sector = libyal_field(&out, "Bytes per sector").unwrap();
            assert_eq!(format!("{} bytes", d["sector_size"]), sector, "{name}");
            // vhdiinfo's identifier is the footer's unique id (VHD), the data write GUID (VHDX).
            let id = if name.ends_with(".vhdx") {
                &d["data_write_guid"]
            } else {
                &d["uuid"]
            };
            assert_eq!(
                Some(id.as_str().unwrap().to_owned()),
                libyal_field(&out, "Identifier"),
                "{name}: identifier"
            );
        }
    }
    if let Some(vmdkinfo) = tool("vmdkinfo") {
        for name in ["vmdk_sparse.vmdk", "vmdk_snap.vmdk", "vmdk_2gb_sparse.vmdk"] {
            let path = dir.join(name);
            let out = ok(Command::new(&vmdkinfo).arg(&path));
            let d = details(&path)["details"].clone();
            let media = libyal_field(&out, "Media size").unwrap();
            assert!(
                media.contains(&format!("({} bytes)", d["virtual_size"])),
                "{name}: {media}"
            );
            let cid = libyal_field(&out, "Content identifier").unwrap();
            assert_eq!(format!("0x{}", d["cid"].as_str().unwrap()), cid, "{name}");
            let n = libyal_field(&out, "Number of extents").unwrap();
            assert_eq!(
                d["extents"].as_array().unwrap().len().to_string(),
                n,
                "{name}"
            );
        }
    }
}

// ------------------------------------------------------------------------------------------
// Hostile variants, made from copies of fixtures.

fn copy_to(dir: &Path, names: &[&str], to: &Path) {
    for n in names {
        std::fs::copy(dir.join(n), to.join(n)).unwrap();
    }
}

fn patch(path: &Path, at: u64, bytes: &[u8]) {
    let mut d = std::fs::read(path).unwrap();
    d[at as usize..at as usize + bytes.len()].copy_from_slice(bytes);
    std::fs::write(path, d).unwrap();
}

fn open_err(path: &Path) -> diskimg::Error {
    match Image::open(path) {
        Ok(_) => panic!("{} opened", path.display()),
        Err(e) => e,
    }
}

/// A differencing image whose parent cannot be used still opens (so that it can be inspected
/// and repaired with `rebase --unsafe`), says why in `backing_error`, and fails the reads that
/// fall through to the parent: returns that read's error.
fn chain_err(path: &Path) -> diskimg::Error {
    let d = details(path)["details"].clone();
    assert!(d["backing_error"].is_string(), "{}: {d}", path.display());
    let img = Image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (c, _) = img.root.container.as_ref().expect("a container");
    assert!(c.backing().is_some_and(|b| b.error.is_some()));
    read_all(&c.device()).expect_err("reads through a missing parent")
}

/// Recomputes the checksum of the VHD structure at `at` (`len` bytes, checksum at `field`).
fn vhd_fix_checksum(path: &Path, at: u64, len: usize, field: usize) {
    let mut d = std::fs::read(path).unwrap();
    let s = &mut d[at as usize..at as usize + len];
    s[field..field + 4].fill(0);
    let sum: u32 = s.iter().map(|&b| u32::from(b)).sum();
    s[field..field + 4].copy_from_slice(&(!sum).to_be_bytes());
    std::fs::write(path, d).unwrap();
}

/// The error of opening `path` and reading all of it (opening reads the first sectors).
fn open_or_read_err(path: &Path) -> diskimg::Error {
    match Image::open(path) {
        Err(e) => e,
        Ok(img) => {
            let (c, _) = img.root.container.as_ref().expect("a container");
            read_all(&c.device()).expect_err("reads everything")
        }
    }
}

fn read_all(dev: &DeviceRef) -> diskimg::Result<()> {
    let mut b = vec![0u8; 1 << 20];
    let mut off = 0;
    while off < dev.size() {
        let n = (dev.size() - off).min(b.len() as u64) as usize;
        dev.read_exact_at(off, &mut b[..n])?;
        off += n as u64;
    }
    Ok(())
}

#[test]
fn hostile_vhd() {
    let Some(dir) = fixtures("vmreaders") else {
        return;
    };
    let t = tempdir();
    let p = t.path().join("vhd_dynamic.vhd");
    copy_to(&dir, &["vhd_dynamic.vhd"], t.path());
    // BAT entry 0 (at byte 1536 of qemu's layout) points far past the end of the file.
    patch(&p, 1536, &0x0fff_ffffu32.to_be_bytes());
    let e = open_or_read_err(&p);
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    // The footer claims 2^50 bytes: the BAT cannot cover that.
    copy_to(&dir, &["vhd_dynamic.vhd"], t.path());
    let foot = std::fs::metadata(&p).unwrap().len() - 512;
    patch(&p, foot + 48, &(1u64 << 50).to_be_bytes());
    vhd_fix_checksum(&p, foot, 512, 64);
    assert_eq!(open_err(&p).kind(), ErrorKind::Corrupt);
    // A damaged footer checksum with an intact copy at the start: opens with a warning.
    copy_to(&dir, &["vhd_dynamic.vhd"], t.path());
    patch(&p, foot + 100, &[1]);
    let d = details(&p)["details"].clone();
    assert!(
        d["warnings"][0]
            .as_str()
            .unwrap()
            .contains("copy at the start")
    );
    // A child whose parent is itself: its locator names vhd_base.vhd and it is renamed so.
    let child = t.path().join("vhd_base.vhd");
    std::fs::copy(dir.join("vhd_child.vhd"), &child).unwrap();
    let own_id = std::fs::read(&child).unwrap()[68..84].to_vec();
    patch(&child, 512 + 40, &own_id);
    vhd_fix_checksum(&child, 512, 1024, 36);
    let e = chain_err(&child);
    assert!(e.to_string().contains("loops"), "{e}");
    // A parent with another unique id (vhd_dynamic.vhd standing in for vhd_base.vhd).
    let t2 = tempdir();
    copy_to(&dir, &["vhd_child.vhd"], t2.path());
    std::fs::copy(dir.join("vhd_dynamic.vhd"), t2.path().join("vhd_base.vhd")).unwrap();
    let e = chain_err(&t2.path().join("vhd_child.vhd"));
    assert!(e.to_string().contains("unique id"), "{e}");
    // No parent at all.
    std::fs::remove_file(t2.path().join("vhd_base.vhd")).unwrap();
    let e = chain_err(&t2.path().join("vhd_child.vhd"));
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.to_string().contains("vhd_base.vhd"), "{e}");
}

#[test]
fn hostile_vdi() {
    let Some(dir) = fixtures("vmreaders") else {
        return;
    };
    let t = tempdir();
    copy_to(&dir, &["vdi_dynamic.vdi", "vdi_child.vdi"], t.path());
    let p = t.path().join("vdi_dynamic.vdi");
    // Block map entry 0 (at offset_bmap, byte 0x154) gets an index far past the file.
    let bmap = u32::from_le_bytes(std::fs::read(&p).unwrap()[0x154..0x158].try_into().unwrap());
    patch(&p, u64::from(bmap), &0x00ff_ffffu32.to_le_bytes());
    assert_eq!(open_or_read_err(&p).kind(), ErrorKind::Corrupt);
    // A disk size the block count cannot hold.
    patch(&p, 0x170, &(1u64 << 60).to_le_bytes());
    assert_eq!(open_err(&p).kind(), ErrorKind::Corrupt);
    // The child's parent is not in its folder (vdi_dynamic.vdi has another UUID).
    let e = chain_err(&t.path().join("vdi_child.vdi"));
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.to_string().contains("UUID"), "{e}");
}

fn vhdx_fix_header(path: &Path, at: u64) {
    let mut d = std::fs::read(path).unwrap();
    let h = &mut d[at as usize..at as usize + 4096];
    h[4..8].fill(0);
    let c = crc32c(h);
    h[4..8].copy_from_slice(&c.to_le_bytes());
    std::fs::write(path, d).unwrap();
}

fn crc32c(b: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &x in b {
        crc ^= u32::from(x);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn hostile_vhdx() {
    let Some(dir) = fixtures("vmreaders") else {
        return;
    };
    let t = tempdir();
    let p = t.path().join("vhdx_1m.vhdx");
    copy_to(&dir, &["vhdx_1m.vhdx"], t.path());
    // One damaged header: the other one is used.
    patch(&p, 65536 + 200, &[0xff]);
    assert!(read_all(&device(&p)).is_ok());
    // Both damaged: corrupt.
    patch(&p, 131072 + 200, &[0xff]);
    assert_eq!(open_err(&p).kind(), ErrorKind::Corrupt);
    // BAT entry 0 (the BAT region is at 2 MiB in qemu's layout) points 2^40 MiB into the file.
    copy_to(&dir, &["vhdx_1m.vhdx"], t.path());
    patch(&p, 2 << 20, &((1u64 << 40 << 20) | 6).to_le_bytes());
    assert_eq!(open_or_read_err(&p).kind(), ErrorKind::Corrupt);
    // A log GUID in the header with nothing valid in the log: opens, nothing replayed.
    copy_to(&dir, &["vhdx_1m.vhdx"], t.path());
    for at in [65536u64, 131072] {
        patch(&p, at + 48, &[0x5a; 16]);
        vhdx_fix_header(&p, at);
    }
    let d = details(&p)["details"].clone();
    assert_eq!(d["log"]["replayed"], false);
}

#[test]
fn hostile_vmdk() {
    let Some(dir) = fixtures("vmreaders") else {
        return;
    };
    let t = tempdir();
    // Garbage in a descriptor.
    copy_to(&dir, &["vmdk_flat.vmdk", "vmdk_flat-flat.vmdk"], t.path());
    let p = t.path().join("vmdk_flat.vmdk");
    let text = String::from_utf8(std::fs::read(dir.join("vmdk_flat.vmdk")).unwrap()).unwrap();
    std::fs::write(
        &p,
        text.replace("# Extent description", "this line is garbage"),
    )
    .unwrap();
    let e = open_err(&p);
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    // A flat extent larger than its file.
    std::fs::write(&p, text.replace("RW 32768 FLAT", "RW 99999999 FLAT")).unwrap();
    assert_eq!(open_err(&p).kind(), ErrorKind::Corrupt);
    // A missing extent file.
    std::fs::write(&p, &text).unwrap();
    std::fs::remove_file(t.path().join("vmdk_flat-flat.vmdk")).unwrap();
    assert_eq!(open_err(&p).kind(), ErrorKind::NotFound);
    // A sparse header whose grain directory lies past the end (gdOffset at byte 56): the
    // redundant directory (rgdOffset, byte 48; qemu sets flag 1 for it) is used instead.
    copy_to(&dir, &["vmdk_sparse.vmdk"], t.path());
    let s = t.path().join("vmdk_sparse.vmdk");
    patch(&s, 56, &(1u64 << 40).to_le_bytes());
    let d = details(&s)["details"].clone();
    assert!(
        d["warnings"][0].as_str().unwrap().contains("redundant"),
        "{d}"
    );
    let (a, b) = (device(&s), device(&dir.join("vmdk_sparse.vmdk")));
    let (mut x, mut y) = (vec![0u8; a.size() as usize], vec![0u8; b.size() as usize]);
    a.read_exact_at(0, &mut x).unwrap();
    b.read_exact_at(0, &mut y).unwrap();
    assert!(x == y, "the redundant directory reads the same disk");
    // Both directories past the end.
    patch(&s, 48, &(1u64 << 40).to_le_bytes());
    assert_eq!(open_err(&s).kind(), ErrorKind::OutOfBounds);
    // An absurd capacity (byte 12): a grain directory too large to read.
    copy_to(&dir, &["vmdk_sparse.vmdk"], t.path());
    patch(&s, 12, &(1u64 << 60).to_le_bytes());
    assert!(Image::open(&s).is_err());
    // A snapshot whose parent changed (parentCID no longer matches).
    copy_to(&dir, &["vmdk_snap.vmdk", "vmdk_sparse.vmdk"], t.path());
    let snap = t.path().join("vmdk_snap.vmdk");
    let mut d = std::fs::read(&snap).unwrap();
    let at = d.windows(10).position(|w| w == b"parentCID=").unwrap() + 10;
    d[at..at + 8].copy_from_slice(b"01234567");
    std::fs::write(&snap, d).unwrap();
    let e = chain_err(&snap);
    assert!(e.to_string().contains("content id"), "{e}");
    // A snapshot that is its own parent.
    let own = t.path().join("loop.vmdk");
    std::fs::write(
        &own,
        "# Disk DescriptorFile\nCID=1\nparentCID=1\ncreateType=\"monolithicFlat\"\nparentFileNameHint=\"loop.vmdk\"\nRW 2048 ZERO\n",
    )
    .unwrap();
    // It opens (its ZERO extent never falls through to the parent), and says why.
    let d = details(&own)["details"].clone();
    let e = d["backing_error"].as_str().unwrap_or_default();
    assert!(e.contains("loops"), "{d}");
}

// ------------------------------------------------------------------------------------------
// Third-party samples, when present.

#[test]
fn public_samples() {
    let dfvfs = Path::new("/work/shared/corpus/public/dfvfs");
    if !dfvfs.is_dir() || tool("qemu-img").is_none() {
        eprintln!("skipped: /work/shared/corpus/public/dfvfs absent");
        return;
    }
    let t = tempdir();
    for (name, fmt) in [("ext2.vhd", "vpc"), ("ext2.vmdk", "vmdk")] {
        let path = dfvfs.join(name);
        let raw = t.path().join("ref.raw");
        qemu_raw(&path, fmt, &raw);
        let dev = device(&path);
        // qemu sizes this 'vpc'-made VHD by its CHS geometry; compare what both hold.
        let want = std::fs::read(&raw).unwrap();
        let mut ours = vec![0u8; want.len().min(dev.size() as usize)];
        dev.read_exact_at(0, &mut ours).unwrap();
        assert_eq!(ours, want[..ours.len()], "{name}");
    }
    let e = chain_err(&dfvfs.join("fat-differential.vhd"));
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().contains("fat-parent.vhd"), "{e}");
}

#[test]
fn corpus_images_hold_the_source_disk() {
    let corpus = Path::new("/work/corpus-out");
    let Ok(manifest) = std::fs::read_to_string(corpus.join("MANIFEST")) else {
        eprintln!("skipped: /work/corpus-out absent");
        return;
    };
    use sha2::{Digest, Sha256};
    for line in manifest.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let name = f[0];
        if !["vhd_", "vhdx_", "vmdk_", "vdi_"]
            .iter()
            .any(|p| name.starts_with(p))
            || name.contains("-flat")
            || name.contains("-s00")
        {
            continue;
        }
        let facts = f.last().unwrap();
        let get = |k: &str| {
            facts
                .split(';')
                .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
                .map(str::to_owned)
        };
        let (Some(sha), Some(vsize)) = (get("raw_sha256"), get("virtual_size")) else {
            continue;
        };
        let dev = device(&corpus.join(name));
        // The corpus took qemu's size of vhd_fixed.vhd from a raw probe (footer included).
        if !name.starts_with("vhd_fixed") {
            assert_eq!(dev.size().to_string(), vsize, "{name}: virtual size");
        }
        // The source disk is 8 MiB; a VHD rounds its size up to CHS with zeros.
        let mut buf = vec![0u8; 8 << 20];
        dev.read_exact_at(0, &mut buf).unwrap();
        let got: String = Sha256::digest(&buf)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(got, sha, "{name}: content");
        let mut rest = vec![0u8; (dev.size() - (8 << 20)) as usize];
        dev.read_exact_at(8 << 20, &mut rest).unwrap();
        assert!(rest.iter().all(|&b| b == 0), "{name}: tail");
    }
}
