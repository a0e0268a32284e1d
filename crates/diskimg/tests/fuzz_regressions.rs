//! Replays every input the fuzzers found (fuzz/regressions/<target>/*) through the same code as
//! the fuzz targets: none may panic, hang or allocate without bound.

use std::path::Path;

#[test]
fn kept_fuzz_findings_do_not_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions");
    for target in [
        "open",
        "iso9660",
        "mbr",
        "gpt",
        "udf",
        "vhd",
        "vhdx",
        "vdi",
        "vmdk",
        "vmdk_descriptor",
        "apm",
        "ntfs",
        "hfsplus",
        "apfs",
        "fat",
        "exfat",
        "ext4",
        "squashfs",
        "qcow2",
        "cso",
        "cue",
        "toc",
        "nrg",
        "mds",
        "ccd",
        "cdi",
        "gdi",
        "nbd",
        "dmg",
        "dmg_plist",
        "dmg_mish",
        "dmg_adc",
        "dmg_sparse",
        "chd",
    ] {
        let Ok(entries) = std::fs::read_dir(root.join(target)) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            if path.is_file() {
                let data = std::fs::read(&path).unwrap();
                diskimg::ops::exercise::run_target(target, &data);
            }
        }
    }
}
