//! The VHD, VHDX, VDI and VMDK writers (`convert -O`, `create`), every subformat, checked by
//! independent readers: `qemu-img check` (where qemu checks the format: VHDX, VDI, VMDK),
//! `qemu-img compare` both ways against the source, `qemu-img map` (holes stay holes),
//! `qemu-img info`, libyal's vhdiinfo/vmdkinfo and pyvhdi (differencing VHD/VHDX chains).
//! Also: odd sizes, blank images, differencing images read back through their parents, and
//! outputs that fail half-way (nothing is left under the final names, for sets of files too).
//!
//! Sources are raw files written here (sparse, with data patterns); the damaged source of the
//! failure test is a qcow2 made by qemu-img/qemu-io with one L2 entry changed.

mod common;
mod vm_common;

use common::*;
use serde_json::Value;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use vm_common::*;

const M: u64 = 1 << 20;

/// One output variant: format, `convert` arguments, qemu's name for the format (empty where
/// qemu cannot read the variant: VHDX with 4 KiB logical sectors, read with pyvhdi instead),
/// and whether qemu-img check knows the format.
struct Variant {
    format: &'static str,
    args: &'static [&'static str],
    qemu: &'static str,
    checked: bool,
}

const fn v(
    format: &'static str,
    args: &'static [&'static str],
    qemu: &'static str,
    checked: bool,
) -> Variant {
    Variant {
        format,
        args,
        qemu,
        checked,
    }
}

/// Every subformat written, and the options that change the layout.
const VARIANTS: &[Variant] = &[
    v("vhd", &[], "vpc", false),
    v("vhd", &["-o", "subformat=fixed"], "vpc", false),
    v("vhd", &["-o", "block_size=512k"], "vpc", false),
    v("vhdx", &[], "vhdx", true),
    v("vhdx", &["-o", "subformat=fixed"], "vhdx", true),
    v("vhdx", &["-o", "block_size=1M"], "vhdx", true),
    v("vhdx", &["-o", "logical_sector_size=4096"], "", false),
    v("vdi", &[], "vdi", true),
    v("vdi", &["-o", "subformat=static"], "vdi", true),
    v("vmdk", &[], "vmdk", true),
    v("vmdk", &["-c"], "vmdk", true),
    v(
        "vmdk",
        &["-o", "subformat=streamOptimized,compression_level=1"],
        "vmdk",
        true,
    ),
    v("vmdk", &["-o", "subformat=monolithicFlat"], "vmdk", true),
    v(
        "vmdk",
        &["-o", "subformat=twoGbMaxExtentSparse"],
        "vmdk",
        true,
    ),
    v(
        "vmdk",
        &["-o", "subformat=twoGbMaxExtentFlat"],
        "vmdk",
        true,
    ),
    v(
        "vmdk",
        &["-o", "adapter_type=lsilogic,hwversion=7"],
        "vmdk",
        true,
    ),
];

impl Variant {
    fn label(&self) -> String {
        format!("{} {}", self.format, self.args.join(" "))
    }

    fn fixed_vhd(&self) -> bool {
        self.format == "vhd" && self.args.contains(&"subformat=fixed")
    }

    fn sector(&self) -> u64 {
        if self.args.contains(&"logical_sector_size=4096") {
            4096
        } else {
            512
        }
    }

    /// The guest size written for a source of `size` bytes.
    fn virtual_size(&self, size: u64) -> u64 {
        if self.fixed_vhd() {
            size.next_multiple_of(M)
        } else {
            size.next_multiple_of(self.sector())
        }
    }

    /// Whether the output is a dynamic (allocate-on-write) image that keeps holes in its own
    /// tables, and qemu-img map shows them (qemu maps every VHDX block as data).
    fn mapped_holes(&self) -> bool {
        self.format != "vhdx"
            && !self.fixed_vhd()
            && !self.args.iter().any(|a| {
                a.contains("subformat=fixed") || a.contains("static") || a.contains("Flat")
            })
    }
}

fn setup() -> Option<PathBuf> {
    tool("qemu-img")
}

/// A deterministic byte pattern (never all zeros over a sector).
fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x as u8) | 1
        })
        .collect()
}

/// Writes a sparse raw disk of `size` bytes holding `runs` of (offset, length, seed); seed 0
/// writes zeros (allocated in the file, so the writers must find them).
fn make_raw(path: &Path, size: u64, runs: &[(u64, u64, u64)]) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::create(path).unwrap();
    f.set_len(size).unwrap();
    for &(off, len, seed) in runs {
        let len = len.min(size - off) as usize;
        let data = if seed == 0 {
            vec![0u8; len]
        } else {
            pattern(seed, len)
        };
        f.write_all_at(&data, off).unwrap();
    }
}

/// A mostly empty disk of 100 MiB and 3 sectors and 7 bytes: data at the start, an odd 4 KiB,
/// a run across the 2 MiB and 32 MiB block boundaries, 1 MiB of written zeros, and the last
/// bytes of the disk; the rest is holes (64-96 MiB is one whole 32 MiB VHDX block of them).
fn main_source(path: &Path) -> u64 {
    let size = 100 * M + 3 * 512 + 7;
    make_raw(
        path,
        size,
        &[
            (0, 64 << 10, 1),
            (3 * M + 3 * 512, 4096, 2),
            (2 * M - 8192, 16384, 3),
            (32 * M - (300 << 10), M, 4),
            (8 * M, M, 0),
            (size - 1000, 1000, 5),
        ],
    );
    size
}

fn convert(input: &Path, output: &Path, format: &str, args: &[&str]) {
    ok(diskimg()
        .args(["convert", "-q", "-O", format])
        .args(args)
        .arg(input)
        .arg(output));
}

/// The independent checks of an output `out` of `var` made from the raw file `src`: qemu-img
/// check and compare both ways, or (where qemu cannot read the variant) pyvhdi reading the
/// source's bytes followed by zeros.
fn check_output(qemu: &Path, var: &Variant, src: &Path, out: &Path, tmp: &Path) {
    if var.checked {
        assert_qemu_check_clean(qemu, out);
    }
    if !var.qemu.is_empty() {
        qemu_compare(qemu, src, out, var.qemu);
        let info = qemu_info_fmt(qemu, out, var.qemu);
        let size = std::fs::metadata(src).unwrap().len();
        assert_eq!(
            info["virtual-size"],
            var.virtual_size(size),
            "{}",
            var.label()
        );
        return;
    }
    let read = tmp.join("pyvhdi.raw");
    if !pyvhdi_read(&read, &[out]) {
        return;
    }
    let (got, want) = (std::fs::read(&read).unwrap(), std::fs::read(src).unwrap());
    assert_eq!(got.len() as u64, var.virtual_size(want.len() as u64));
    assert!(got[..want.len()] == want[..], "{}", var.label());
    assert!(got[want.len()..].iter().all(|&b| b == 0), "{}", var.label());
}

/// qemu-img compare of a raw file with an image of the given qemu format, both ways.
fn qemu_compare(qemu: &Path, raw: &Path, img: &Path, fmt: &str) {
    for args in [
        ["-f", "raw", "-F", fmt, path_str(raw), path_str(img)],
        ["-f", fmt, "-F", "raw", path_str(img), path_str(raw)],
    ] {
        let out = run(Command::new(qemu).arg("compare").args(args));
        assert!(
            out.status.success(),
            "qemu-img compare {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `qemu-img map` of an image of the given qemu format (a fixed VHD is not probed as one).
fn qemu_map_fmt(qemu: &Path, img: &Path, fmt: &str) -> Vec<(u64, u64, String)> {
    let v: Value = serde_json::from_slice(&ok(Command::new(qemu)
        .args(["map", "--output=json", "-f", fmt])
        .arg(img)))
    .unwrap();
    merge(v.as_array().unwrap().iter().map(|e| {
        let kind = if e["data"].as_bool().unwrap() {
            "data"
        } else if e["present"].as_bool().unwrap() {
            "zero"
        } else {
            "unallocated"
        };
        (
            e["start"].as_u64().unwrap(),
            e["length"].as_u64().unwrap(),
            kind.to_owned(),
        )
    }))
}

fn qemu_info_fmt(qemu: &Path, img: &Path, fmt: &str) -> Value {
    serde_json::from_slice(&ok(Command::new(qemu)
        .args(["info", "--output=json", "-f", fmt])
        .arg(img)))
    .unwrap()
}

/// Bytes the host file system holds for the files whose names start with `stem`.
fn allocated(dir: &Path, stem: &str) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().starts_with(stem))
        .map(|e| e.metadata().unwrap().blocks() * 512)
        .sum()
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The output of the libyal info tool for a format (vhdiinfo, vmdkinfo), when installed.
fn libyal_info(format: &str, img: &Path) -> Option<String> {
    let name = match format {
        "vhd" | "vhdx" => "vhdiinfo",
        "vmdk" => "vmdkinfo",
        _ => return None,
    };
    let t = tool(name)?;
    Some(String::from_utf8(ok(Command::new(t).arg(img))).unwrap())
}

/// The value after `key` on a line of libyal tool output (`Key : value`).
fn libyal_field(text: &str, key: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .find(|l| l.starts_with(key) && l[key.len()..].trim_start().starts_with(':'))
        .map(|l| l[key.len()..].trim_start()[1..].trim().to_owned())
}

#[test]
fn every_variant_passes_qemu_img_and_libyal() {
    let Some(qemu) = setup() else { return };
    let t = tempdir();
    let src = t.path().join("src.raw");
    let size = main_source(&src);
    for (i, var) in VARIANTS.iter().enumerate() {
        let label = var.label();
        let dir = t.path().join(format!("v{i}"));
        std::fs::create_dir(&dir).unwrap();
        let out = dir.join(format!("out.{}", var.format));
        convert(&src, &out, var.format, var.args);
        check_output(&qemu, var, &src, &out, &dir);
        ok(diskimg().arg("compare").arg(&src).arg(&out));
        let want = var.virtual_size(size);
        if let Some(text) = libyal_info(var.format, &out) {
            assert!(text.contains(&format!("({want} bytes)")), "{label}: {text}");
        }
        // Mostly empty: the output holds little more than the 3.1 MiB of data.
        let held = allocated(&dir, "out");
        assert!(held < 12 * M, "{label}: {held} bytes allocated");
        // Holes of the source are holes of a dynamic output (not stored, not even as zeros).
        if var.qemu.is_empty() {
            continue;
        }
        if var.mapped_holes() {
            let map = qemu_map_fmt(&qemu, &out, var.qemu);
            let hole = map
                .iter()
                .find(|(s, l, _)| *s <= 70 * M && 70 * M < s + l)
                .unwrap();
            assert_ne!(hole.2, "data", "{label}: {map:?}");
        }
        // Our own reader agrees with qemu, byte for byte.
        let ours = dir.join("ours.raw");
        ok(diskimg()
            .args(["convert", "-q", "-O", "raw"])
            .arg(&out)
            .arg(&ours));
        let theirs = dir.join("qemu.raw");
        ok(Command::new(&qemu)
            .args(["convert", "-f", var.qemu, "-O", "raw"])
            .arg(&out)
            .arg(&theirs));
        assert!(
            same_bytes(&ours, &theirs),
            "{label}: diskimg and qemu read different bytes"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn odd_sizes_round_trip() {
    let Some(qemu) = setup() else { return };
    let t = tempdir();
    // One sector; just under and just over a 2 MiB VHD block; a size that is no whole sector;
    // one that is no whole 4 KiB; a MiB and one sector (a partial grain table, VDI block).
    let sizes = [
        512,
        2 * M - 512,
        2 * M + 512,
        5 * M + 1,
        3 * M + 1536,
        M + 512,
    ];
    for (n, &size) in sizes.iter().enumerate() {
        let src = t.path().join(format!("s{n}.raw"));
        // Data in the first and last sectors, so a short or shifted output shows.
        make_raw(
            &src,
            size,
            &[
                (0, 512.min(size), 10 + n as u64),
                (size - size.min(700), size.min(700), 20),
            ],
        );
        for (i, var) in VARIANTS.iter().enumerate() {
            let label = format!("{size} bytes, {}", var.label());
            let out = t.path().join(format!("s{n}-{i}.{}", var.format));
            convert(&src, &out, var.format, var.args);
            check_output(&qemu, var, &src, &out, t.path());
            let info: Value =
                serde_json::from_slice(&ok(diskimg().args(["info", "--json"]).arg(&out))).unwrap();
            assert!(
                info.to_string()
                    .contains(&format!("\"virtual_size\":{}", var.virtual_size(size))),
                "{label}: {info}"
            );
            for f in names(t.path()) {
                if f.starts_with(&format!("s{n}-{i}")) {
                    std::fs::remove_file(t.path().join(f)).unwrap();
                }
            }
        }
    }
}

#[test]
fn blank_images_are_small() {
    let Some(qemu) = setup() else { return };
    let t = tempdir();
    for (i, var) in VARIANTS.iter().enumerate() {
        if var.args.contains(&"-c") {
            continue; // create takes no -c
        }
        let label = var.label();
        let dir = t.path().join(format!("b{i}"));
        std::fs::create_dir(&dir).unwrap();
        let out = dir.join(format!("blank.{}", var.format));
        ok(diskimg()
            .args(["create", "--size", "20G", "-O", var.format])
            .args(var.args)
            .arg(&out));
        let held = allocated(&dir, "blank");
        assert!(held < 8 * M, "{label}: {held} bytes allocated");
        if var.checked {
            assert_qemu_check_clean(&qemu, &out);
        }
        if !var.qemu.is_empty() {
            let info = qemu_info_fmt(&qemu, &out, var.qemu);
            assert_eq!(info["virtual-size"], 20u64 << 30, "{label}");
        }
        if !var.qemu.is_empty() && var.mapped_holes() {
            let map = qemu_map_fmt(&qemu, &out, var.qemu);
            assert!(map.iter().all(|r| r.2 != "data"), "{label}: {map:?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// Base and top disks of 40 MiB + 1 sector: the top changes the base in place, adds data
/// where the base has none, writes zeros over a whole 2 MiB block of base data (VHD and VDI
/// blocks, VMDK grains) and over part of another, and ends in a changed last sector.
fn chain_sources(dir: &Path) -> (PathBuf, PathBuf) {
    let size = 40 * M + 512;
    let base_runs = [
        (0, 6 * M, 1),
        (12 * M, 4 * M, 2),
        (30 * M, 64 << 10, 3),
        (size - 512, 512, 4),
    ];
    let base = dir.join("base.raw");
    make_raw(&base, size, &base_runs);
    let top = dir.join("top.raw");
    let mut top_runs = base_runs.to_vec();
    top_runs.extend([
        (4096, 4096, 7),
        (2 * M, 2 * M, 0),
        (5 * M + 1024, 1024, 0),
        (13 * M + 3 * 512, 512, 8),
        (20 * M, 3 * M, 9),
        (size - 512, 512, 11),
    ]);
    make_raw(&top, size, &top_runs);
    (base, top)
}

/// Reads a VHD/VHDX chain (child first) with libyal's pyvhdi into `out`; false when pyvhdi
/// is not installed.
fn pyvhdi_read(out: &Path, chain: &[&Path]) -> bool {
    let py = "/usr/bin/python3";
    let have = Command::new(py)
        .args(["-c", "import pyvhdi"])
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        assert!(!strict(), "pyvhdi (python3-libvhdi) missing");
        eprintln!("skipped: pyvhdi (python3-libvhdi) missing");
        return false;
    }
    ok(Command::new(py)
        .arg(repo().join("tests/fixtures/vmreaders.py"))
        .arg("pyvhdi_read")
        .arg(out)
        .args(chain));
    true
}

/// The field `key` of the libyal tool output for `img`, which must be present.
fn yal(tool_name: &str, img: &Path, key: &str) -> Option<String> {
    let t = tool(tool_name)?;
    let text = String::from_utf8(ok(Command::new(t).arg(img))).unwrap();
    Some(libyal_field(&text, key).unwrap_or_else(|| panic!("{key} missing: {text}")))
}

/// Independent checks of a differencing image `child` over `parent` that should read as
/// `want` (a raw file).
fn check_chain(qemu: &Path, format: &str, parent: &Path, child: &Path, want: &Path, t: &Path) {
    let label = child.display().to_string();
    match format {
        "vhd" | "vhdx" => {
            let read = t.join("pyvhdi.raw");
            if pyvhdi_read(&read, &[child, parent]) {
                // pyvhdi reads whole sectors: the top's size is a whole number of them.
                assert!(same_bytes(&read, want), "{label}: pyvhdi reads otherwise");
            }
            // libvhdi's identifier is the VHD footer's unique id or the VHDX data write GUID:
            // what the child records of its parent.
            if let (Some(id), Some(parent_id)) = (
                yal("vhdiinfo", parent, "Identifier"),
                yal("vhdiinfo", child, "Parent identifier"),
            ) {
                assert_eq!(id, parent_id, "{label}");
                if format == "vhd" {
                    let name = yal("vhdiinfo", child, "Parent filename").unwrap();
                    let file = parent.file_name().unwrap().to_string_lossy();
                    assert!(name.ends_with(&*file), "{label}: parent name {name}");
                }
            }
        }
        "vmdk" => {
            assert_qemu_check_clean(qemu, child);
            qemu_compare(qemu, want, child, "vmdk");
            let info = qemu_info(qemu, child);
            assert_eq!(
                info["backing-filename"],
                parent.file_name().unwrap().to_str().unwrap()
            );
            if let (Some(cid), Some(parent_cid)) = (
                yal("vmdkinfo", parent, "Content identifier"),
                yal("vmdkinfo", child, "Parent content identifier"),
            ) {
                assert_eq!(cid, parent_cid, "{label}");
            }
        }
        "vdi" => check_vdi_child(qemu, parent, child, want, t),
        _ => unreachable!(),
    }
}

/// qemu-img reads no differencing VDI. The child is checked in a copy made a plain dynamic
/// image (image type 1, link UUIDs cleared): qemu-img check finds it clean, every block qemu
/// maps as data holds the top's bytes, and the child's link UUID is the parent's UUID.
fn check_vdi_child(qemu: &Path, parent: &Path, child: &Path, want: &Path, t: &Path) {
    let c = std::fs::read(child).unwrap();
    let p = std::fs::read(parent).unwrap();
    assert_eq!(u32::from_le_bytes(c[0x4C..0x50].try_into().unwrap()), 4);
    assert_eq!(c[0x1A8..0x1B8], p[0x188..0x198], "link UUID = parent UUID");
    assert_eq!(c[0x1B8..0x1C8], p[0x198..0x1A8], "parent modification UUID");
    let mut d = c.clone();
    d[0x4C..0x50].copy_from_slice(&1u32.to_le_bytes());
    d[0x1A8..0x1C8].fill(0);
    let plain = t.join("unlinked.vdi");
    std::fs::write(&plain, d).unwrap();
    assert_qemu_check_clean(qemu, &plain);
    let raw = qemu_raw(qemu, &plain, t);
    let (got, want) = (std::fs::read(raw).unwrap(), std::fs::read(want).unwrap());
    let mut data = 0;
    for (s, l, k) in qemu_map(qemu, &plain) {
        if k == "data" {
            let r = s as usize..(s + l) as usize;
            assert!(got[r.clone()] == want[r], "block at {s} differs");
            data += l;
        }
    }
    // Something was compared, unless the child holds no block (a blank overlay).
    let blocks = u32::from_le_bytes(c[0x184..0x188].try_into().unwrap());
    assert_eq!(data > 0, blocks > 0, "{} blocks allocated", blocks);
}

#[test]
fn differencing_images_read_through_their_parents() {
    let Some(qemu) = setup() else { return };
    let t = tempdir();
    let (base_raw, top_raw) = chain_sources(t.path());
    for (format, args) in [
        ("vhd", &[][..]),
        ("vhd", &["-o", "block_size=512k"][..]),
        ("vhdx", &[]),
        ("vhdx", &["-o", "block_size=1M"]),
        ("vdi", &[]),
        ("vmdk", &[]),
        ("vmdk", &["-o", "subformat=twoGbMaxExtentSparse"]),
    ] {
        let dir = t.path().join(format!("{format}{}", args.len()));
        std::fs::create_dir(&dir).unwrap();
        let base = dir.join(format!("base.{format}"));
        convert(&base_raw, &base, format, args);
        let child = dir.join(format!("child.{format}"));
        let mut a = args.to_vec();
        let backing = format!("backing_file=base.{format}");
        a.extend(["-o", &backing]);
        convert(&top_raw, &child, format, &a);
        // Our reader, through the parent.
        ok(diskimg().arg("compare").arg(&top_raw).arg(&child));
        let info: Value =
            serde_json::from_slice(&ok(diskimg().args(["info", "--json"]).arg(&child))).unwrap();
        assert!(info.to_string().contains("base."), "{info}");
        // The child holds what changed (5 MiB, in whole blocks where the format has no
        // sector bitmap) and its metadata, not the base's 10 MiB of data.
        let c = allocated(&dir, "child");
        assert!(c < 19 * M / 2, "{format} {args:?}: child of {c} bytes");
        check_chain(&qemu, format, &base, &child, &top_raw, &dir);
        // A blank overlay reads as its parent.
        let blank = dir.join(format!("blank.{format}"));
        ok(diskimg()
            .current_dir(&dir)
            .args(["create", "--backing", &format!("base.{format}")])
            .args(args)
            .arg(format!("blank.{format}")));
        ok(diskimg().arg("compare").arg(&base_raw).arg(&blank));
        assert!(allocated(&dir, "blank") < M);
        check_chain(&qemu, format, &base, &blank, &base_raw, &dir);
    }
}

#[test]
fn two_gb_extents_split_and_commit_together() {
    let Some(qemu) = setup() else { return };
    let t = tempdir();
    let src = t.path().join("big.raw");
    let size = 4 * 1024 * M + 300 * M + 512;
    let split = 2047 * M;
    make_raw(
        &src,
        size,
        &[
            (0, M, 1),
            (split - 4096, 8192, 2),
            (2 * split + (64 << 10), 128 << 10, 3),
            (size - 512, 512, 4),
        ],
    );
    for (subformat, files) in [
        (
            "twoGbMaxExtentSparse",
            &["d-s001.vmdk", "d-s002.vmdk", "d-s003.vmdk", "d.vmdk"][..],
        ),
        (
            "twoGbMaxExtentFlat",
            &["d-f001.vmdk", "d-f002.vmdk", "d-f003.vmdk", "d.vmdk"],
        ),
        ("monolithicFlat", &["d-flat.vmdk", "d.vmdk"]),
    ] {
        let dir = t.path().join(subformat);
        std::fs::create_dir(&dir).unwrap();
        let out = dir.join("d.vmdk");
        convert(
            &src,
            &out,
            "vmdk",
            &["-o", &format!("subformat={subformat}")],
        );
        assert_eq!(names(&dir), files, "{subformat}");
        assert_qemu_check_clean(&qemu, &out);
        qemu_compare(&qemu, &src, &out, "vmdk");
        if let Some(n) = yal("vmdkinfo", &out, "Number of extents") {
            assert_eq!(n, (files.len() - 1).to_string(), "{subformat}");
        }
        assert!(allocated(&dir, "d") < 16 * M, "{subformat}");
    }
}

/// A 5 GiB qcow2 with data at 0, 2.5 GiB and 4 GiB, whose cluster at 4 GiB is made a
/// compressed cluster pointing at the header (not a deflate stream): it opens and maps, and
/// reading that cluster fails, after the writers have written what comes before it.
fn failing_source(qemu: &Path, dir: &Path) -> Option<PathBuf> {
    let qemu_io = tool("qemu-io")?;
    let p = dir.join("bad.qcow2");
    ok(Command::new(qemu)
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&p)
        .arg("5G"));
    ok(Command::new(qemu_io)
        .args(["-c", "write -P 0x11 0 1M"])
        .args(["-c", "write -P 0x33 2560M 1M"])
        .args(["-c", "write -P 0x22 4G 1M"])
        .arg(&p));
    let mut d = std::fs::read(&p).unwrap();
    let be = |b: &[u8]| u64::from_be_bytes(b.try_into().unwrap());
    let l1 = be(&d[40..48]) as usize;
    // L1 entry 8 maps 4 GiB (64 KiB clusters: 512 MiB per L2 table); its first L2 entry.
    let l2 = (be(&d[l1 + 64..l1 + 72]) & 0x00ff_ffff_ffff_fe00) as usize;
    assert_ne!(l2, 0);
    // Compressed (bit 62), two sectors (one more, bits 54+), at host offset 0.
    d[l2..l2 + 8].copy_from_slice(&((1u64 << 62) | (1 << 54)).to_be_bytes());
    std::fs::write(&p, d).unwrap();
    Some(p)
}

#[test]
fn failed_writes_leave_nothing() {
    let Some(qemu) = setup() else { return };
    let t = tempdir();
    let Some(bad) = failing_source(&qemu, t.path()) else {
        return;
    };
    let out_dir = t.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    for var in VARIANTS {
        let out = out_dir.join(format!("d.{}", var.format));
        let head = ["convert", "-q", "-O", var.format];
        let mut args: Vec<&std::ffi::OsStr> = head.iter().map(|s| s.as_ref()).collect();
        args.extend(var.args.iter().map(std::ffi::OsStr::new));
        args.extend([bad.as_os_str(), out.as_os_str()]);
        let (code, err) = diskimg_status(&args);
        assert_ne!(code, 0, "{}", var.label());
        assert!(err.contains("compressed cluster"), "{}: {err}", var.label());
        assert!(
            names(&out_dir).is_empty(),
            "{}: left {:?}",
            var.label(),
            names(&out_dir)
        );
    }
    // An output that exists is left as it was when its replacement fails.
    let keep = out_dir.join("d.vmdk");
    std::fs::write(&keep, b"old").unwrap();
    let (code, _) = diskimg_status(&[
        "convert".as_ref(),
        "-q".as_ref(),
        "-o".as_ref(),
        "subformat=twoGbMaxExtentFlat".as_ref(),
        bad.as_os_str(),
        keep.as_os_str(),
    ]);
    assert_ne!(code, 0);
    assert_eq!(names(&out_dir), ["d.vmdk"]);
    assert_eq!(std::fs::read(&keep).unwrap(), b"old");
}
