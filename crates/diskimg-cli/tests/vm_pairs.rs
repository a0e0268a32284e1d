//! `diskimg convert` between every pair of VM disk formats: each input made by qemu-img from
//! one raw source (qcow2, qcow2 with compressed clusters, VHD fixed and dynamic, VHDX, VDI,
//! VMDK monolithicSparse and streamOptimized), converted by diskimg to each output format, and
//! every output checked with `qemu-img compare` against the source (both ways) and, where qemu
//! checks the format, `qemu-img check`.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

const M: u64 = 1 << 20;

/// Inputs: file name, qemu-img output format and options.
const INPUTS: &[(&str, &str, &[&str])] = &[
    ("in.qcow2", "qcow2", &[]),
    ("in-c.qcow2", "qcow2", &["-c"]),
    ("in-fixed.vhd", "vpc", &["-o", "subformat=fixed"]),
    ("in-dyn.vhd", "vpc", &["-o", "subformat=dynamic"]),
    ("in.vhdx", "vhdx", &[]),
    ("in.vdi", "vdi", &[]),
    ("in.vmdk", "vmdk", &[]),
    (
        "in-stream.vmdk",
        "vmdk",
        &["-o", "subformat=streamOptimized"],
    ),
];

/// Outputs: diskimg's format name, qemu's, and whether `qemu-img check` knows it.
const OUTPUTS: &[(&str, &str, bool)] = &[
    ("raw", "raw", false),
    ("qcow2", "qcow2", true),
    ("vhd", "vpc", false),
    ("vhdx", "vhdx", true),
    ("vdi", "vdi", true),
    ("vmdk", "vmdk", true),
];

/// A 24 MiB disk with data runs across cluster and block boundaries, written zeros and holes.
fn source(path: &Path) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::create(path).unwrap();
    f.set_len(24 * M).unwrap();
    let mut x: u32 = 12345;
    for (off, len) in [
        (0, 70_000),
        (2 * M - 4096, 12_288),
        (9 * M + 512, M),
        (24 * M - 777, 777),
    ] {
        let data: Vec<u8> = (0..len)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) as u8 | 1
            })
            .collect();
        f.write_all_at(&data, off).unwrap();
    }
    f.write_all_at(&vec![0u8; 1 << 16], 16 * M).unwrap();
}

fn compare(qemu: &Path, a: &Path, a_fmt: &str, b: &Path, b_fmt: &str) -> bool {
    Command::new(qemu)
        .args(["compare", "-q", "-f", a_fmt, "-F", b_fmt])
        .arg(a)
        .arg(b)
        .status()
        .unwrap()
        .success()
}

#[test]
fn every_format_converts_to_every_other() {
    let Some(qemu) = tool("qemu-img") else { return };
    let t = tempdir();
    let src = t.path().join("src.raw");
    source(&src);
    for (name, fmt, opts) in INPUTS {
        let input = t.path().join(name);
        ok(Command::new(&qemu)
            .args(["convert", "-O", fmt])
            .args(*opts)
            .arg(&src)
            .arg(&input));
        for (out_fmt, qemu_fmt, checked) in OUTPUTS {
            let label = format!("{name} -> {out_fmt}");
            let out = t.path().join(format!("out-{name}.{out_fmt}"));
            let o = run(diskimg()
                .args(["convert", "-q", "-O", out_fmt])
                .arg(&input)
                .arg(&out));
            assert!(
                o.status.success(),
                "{label}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            assert!(
                compare(&qemu, &src, "raw", &out, qemu_fmt),
                "{label}: differs"
            );
            assert!(
                compare(&qemu, &out, qemu_fmt, &src, "raw"),
                "{label}: differs (reverse)"
            );
            if *checked {
                let c = run(Command::new(&qemu)
                    .args(["check", "-f", qemu_fmt])
                    .arg(&out));
                assert!(
                    c.status.success(),
                    "{label}: qemu-img check: {}",
                    String::from_utf8_lossy(&c.stdout)
                );
            }
            std::fs::remove_file(&out).unwrap();
        }
    }
}
