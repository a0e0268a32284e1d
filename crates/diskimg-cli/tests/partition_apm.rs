//! The Apple partition map reader against parted (a disk it labelled `mac`) and 7-Zip (the
//! maps xorriso writes beside ISO 9660 with 2048- and 512-byte blocks);
//! tests/fixtures/make-ntfs-hfs.sh makes the images.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn partitions(img: &Path) -> Vec<Value> {
    let out = ok(diskimg().args(["info", "--json"]).arg(img));
    let info: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(info["partition_table"]["scheme"], "apm", "{info}");
    info["partition_table"]["partitions"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn parted_disk_matches_parted_print() {
    let Some(dir) = fixtures("ntfs-hfs") else {
        return;
    };
    // `parted -m unit B print`: number:start:end:size:fs:name:flags; (free space not listed).
    let print = std::fs::read_to_string(dir.join("apm_parted.print")).unwrap();
    let theirs: Vec<(u64, u64, u64, String)> = print
        .lines()
        .skip(2)
        .map(|l| {
            let f: Vec<&str> = l.trim_end_matches(';').split(':').collect();
            let num = |s: &str| s.trim_end_matches('B').parse::<u64>().unwrap();
            (num(f[0]), num(f[1]), num(f[3]), f[5].to_owned())
        })
        .collect();
    let ours: Vec<(u64, u64, u64, String)> = partitions(&dir.join("apm_parted.img"))
        .iter()
        .map(|p| {
            (
                p["index"].as_u64().unwrap(),
                p["start"].as_u64().unwrap(),
                p["length"].as_u64().unwrap(),
                p["name"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(ours, theirs);
}

#[test]
fn hybrid_maps_match_7zip() {
    let (Some(dir), Some(sz)) = (fixtures("ntfs-hfs"), tool("7zz")) else {
        return;
    };
    for name in ["hfsplus_hybrid_2048.iso", "hfsplus_hybrid_512.iso"] {
        let img = dir.join(name);
        // 7-Zip's APM handler lists each entry as NAME.TYPE with its size, free entries too.
        // It also reports an error on these maps (their driver descriptor map gives a block
        // count that is not the image's), so its exit status is not checked.
        let out = run(Command::new(&sz).args(["l", "-tAPM"]).arg(&img));
        let out = String::from_utf8(out.stdout).unwrap();
        let mut theirs: Vec<(u64, String)> = out
            .lines()
            .filter_map(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                let name = cols.last()?;
                let size = cols.get(cols.len().checked_sub(3)?)?.parse::<u64>().ok()?;
                (cols.len() >= 4 && name.contains('.') && !name.ends_with(".free"))
                    .then(|| (size, (*name).to_owned()))
            })
            .collect();
        let mut ours: Vec<(u64, String)> = partitions(&img)
            .iter()
            .map(|p| {
                let kind = p["type"].as_str().unwrap();
                let ext = if kind == "Apple_HFS" { "hfs" } else { kind };
                (
                    p["length"].as_u64().unwrap(),
                    format!("{}.{ext}", p["name"].as_str().unwrap()),
                )
            })
            .collect();
        theirs.sort();
        ours.sort();
        assert_eq!(ours, theirs, "{name}");
        let hfs = partitions(&img)
            .into_iter()
            .find(|p| p["type"] == "Apple_HFS")
            .unwrap();
        assert_eq!(
            hfs["content"]["file_systems"][0]["type"], "hfsplus",
            "{name}"
        );
    }
}

#[test]
fn damaged_maps_give_errors_or_warnings() {
    let Some(dir) = fixtures("ntfs-hfs") else {
        return;
    };
    let clean = std::fs::read(dir.join("apm_parted.img")).unwrap();
    let t = tempdir();
    // The first entry claims 2^31 entries; then the third entry loses its signature.
    let mut huge = clean.clone();
    huge[512 + 4..512 + 8].copy_from_slice(&0x8000_0000u32.to_be_bytes());
    let mut cut = clean.clone();
    cut[3 * 512..3 * 512 + 2].copy_from_slice(b"XX");
    for (what, img) in [("huge count", huge), ("missing entry", cut)] {
        let path = t.path().join("d.img");
        std::fs::write(&path, &img).unwrap();
        let out = run(diskimg().args(["info", "--json"]).arg(&path));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.code() != Some(101), "{what}: {text}");
        assert!(
            text.contains("entries") || text.contains("missing or damaged"),
            "{what}: {text}"
        );
    }
}
