//! DMG writing: our images read back by dmg2img (byte-identical raw disk), 7-Zip (`7zz t`
//! clean, the same partitions), pydmg (an independent reader, data fork checksum) and our own
//! verify; encrypted images round-trip; `create dmg` holds the folder. Fixtures:
//! tests/fixtures/make-dmg.sh.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn convert(input: &Path, output: &Path, extra: &[&str]) {
    ok(diskimg()
        .args(["convert", "-q"])
        .arg(input)
        .arg(output)
        .args(extra));
}

fn seven_zip_partitions(dmg: &Path) -> Option<Vec<u8>> {
    let z = tool("7zz")?;
    let out = ok(Command::new(&z).args(["t", "-tdmg"]).arg(dmg));
    assert!(
        String::from_utf8_lossy(&out).contains("Everything is Ok"),
        "7zz t {}",
        dmg.display()
    );
    let d = tempdir();
    ok(Command::new(z)
        .args(["x", "-tdmg", "-y"])
        .arg(format!("-o{}", d.path().display()))
        .arg(dmg));
    let mut parts: Vec<PathBuf> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let num = |p: &PathBuf| -> u64 {
        let n = p.file_name().unwrap().to_string_lossy().into_owned();
        n.split('.').next().unwrap().parse().unwrap()
    };
    parts.sort_by_key(num);
    let mut all = Vec::new();
    for p in &parts {
        all.extend(std::fs::read(p).unwrap());
    }
    Some(all)
}

fn pydmg(fx: &Path) -> Option<PathBuf> {
    let p = fx.join("venv/bin/python");
    if p.exists() {
        Some(p)
    } else {
        assert!(!strict(), "pydmg's virtualenv is missing");
        None
    }
}

fn verify(dmg: &Path) -> diskimg::container::dmg::VerifyReport {
    let file: diskimg::device::DeviceRef =
        std::sync::Arc::new(diskimg::io::FileSource::open(dmg).unwrap());
    diskimg::container::dmg::verify(file, &Default::default()).unwrap()
}

#[test]
fn every_compression_reads_back_in_dmg2img_7zip_pydmg_and_diskimg() {
    let Some(fx) = fixtures("dmg") else { return };
    let src = fx.join("gpt.img");
    let disk = std::fs::read(&src).unwrap();
    let d = tempdir();
    for c in ["zlib", "bzip2", "lzfse", "lzma", "none"] {
        let dmg = d.path().join(format!("{c}.dmg"));
        convert(&src, &dmg, &["-o", &format!("compression={c}")]);
        let back = d.path().join(format!("{c}.img"));
        convert(&dmg, &back, &[]);
        assert!(
            std::fs::read(&back).unwrap() == disk,
            "{c}: diskimg reads another disk"
        );
        // The Debian dmg2img reads zlib, bzip2 and raw chunks (not LZFSE or LZMA).
        if matches!(c, "zlib" | "bzip2" | "none") {
            if let Some(t) = tool("dmg2img") {
                let r = d.path().join(format!("{c}.dmg2img"));
                ok(Command::new(t).arg("-s").arg(&dmg).arg(&r));
                assert!(
                    std::fs::read(&r).unwrap() == disk,
                    "{c}: dmg2img reads another disk"
                );
            }
        }
        // 7-Zip's LZFSE decoder refuses some chunks that Apple's reference decoder (checked
        // below with pyliblzfse) reads: LZFSE images are checked there instead.
        if c != "lzfse" {
            if let Some(z) = seven_zip_partitions(&dmg) {
                assert!(z == disk, "{c}: 7-Zip's partitions differ");
            }
        }
        let report = verify(&dmg);
        assert!(
            report.ok && report.checks.len() > 3,
            "{c}: {:?}",
            report.checks
        );
        // One blkx table per region of the GPT, as hdiutil writes them.
        let info = ok(diskimg().args(["info", "--json"]).arg(&dmg));
        let v: serde_json::Value = serde_json::from_slice(&info).unwrap();
        let parts = v["containers"][0]["details"]["partitions"]
            .as_array()
            .unwrap()
            .clone();
        let names: Vec<&str> = parts.iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(
            names[0], "Protective Master Boot Record (MBR : 0)",
            "{names:?}"
        );
        assert!(names.iter().any(|n| n.starts_with("DATA (")), "{names:?}");
        assert!(
            names.iter().any(|n| n.contains("Backup GPT Header")),
            "{names:?}"
        );
    }
    // pydmg reads zlib images: its checksum of the data fork, and the FAT partition's bytes.
    if let Some(py) = pydmg(&fx) {
        let dmg = d.path().join("zlib.dmg");
        let out = ok(Command::new(py)
            .arg("-c")
            .arg(
                "import sys, pydmg, hashlib\n\
             p = sys.argv[1]\n\
             assert pydmg.verify_data_checksum(p)\n\
             parts = pydmg.list_partitions(p)\n\
             i = [x['index'] for x in parts if x['name'].startswith('DATA')][0]\n\
             print(hashlib.sha256(pydmg.read_partition(p, i)).hexdigest())",
            )
            .arg(&dmg));
        let want = sha256(&disk[1 << 20..(1 << 20) + (48 << 20)]);
        assert_eq!(String::from_utf8_lossy(&out).trim(), want);
        // Every LZFSE chunk, decoded by Apple's reference implementation, is the disk's bytes.
        let out = ok(Command::new(fx.join("venv/bin/python")).arg("-c").arg(
            "import sys, pydmg, liblzfse\n\
             p, disk = sys.argv[1], open(sys.argv[2], 'rb').read()\n\
             data, n = open(p, 'rb').read(), 0\n\
             for part in pydmg.list_partitions(p):\n\
             \x20   t = part['table']\n\
             \x20   for c in t['chunks']:\n\
             \x20       if c['raw_type'] != 0x80000007: continue\n\
             \x20       s = (t['sector_number'] + c['sector_number']) * 512\n\
             \x20       b = data[c['compressed_offset']:c['compressed_offset'] + c['compressed_length']]\n\
             \x20       assert liblzfse.decompress(b) == disk[s:s + c['sector_count'] * 512], s\n\
             \x20       n += 1\n\
             print(n)",
        ).arg(d.path().join("lzfse.dmg")).arg(&src));
        assert!(String::from_utf8_lossy(&out).trim().parse::<u32>().unwrap() > 5);
    }
}

#[test]
fn a_disk_without_a_partition_map_is_one_table_and_zeros_are_not_stored() {
    let Some(fx) = fixtures("dmg") else { return };
    let d = tempdir();
    let dmg = d.path().join("fat.dmg");
    convert(
        &fx.join("fat.img"),
        &dmg,
        &["-o", "compression=zlib,level=6"],
    );
    let info = ok(diskimg().args(["info", "--json"]).arg(&dmg));
    let v: serde_json::Value = serde_json::from_slice(&info).unwrap();
    let det = &v["containers"][0]["details"];
    assert_eq!(det["partitions"].as_array().unwrap().len(), 1);
    assert!(det["chunk_types"]["ignore"].as_u64().unwrap() > 0);
    // The map shows the free space as unallocated.
    let map = ok(diskimg().args(["map", "--json"]).arg(&dmg));
    assert!(String::from_utf8_lossy(&map).contains("unallocated"));
    if let Some(t) = tool("dmg2img") {
        let r = d.path().join("r.img");
        ok(Command::new(t).arg("-s").arg(&dmg).arg(&r));
        assert!(std::fs::read(&r).unwrap() == std::fs::read(fx.join("fat.img")).unwrap());
    }
}

#[test]
fn encrypted_images_round_trip_and_refuse_wrong_passwords() {
    let Some(fx) = fixtures("dmg") else { return };
    let d = tempdir();
    let pw = d.path().join("pw.txt");
    std::fs::write(&pw, "correct horse\n").unwrap();
    let disk = std::fs::read(fx.join("gpt.img")).unwrap();
    for bits in ["128", "256"] {
        let dmg = d.path().join(format!("secret{bits}.dmg"));
        convert(
            &fx.join("gpt.img"),
            &dmg,
            &[
                "--encrypt",
                "--encryption-bits",
                bits,
                "--password-file",
                pw.to_str().unwrap(),
            ],
        );
        let head = std::fs::read(&dmg).unwrap();
        assert_eq!(&head[..8], b"encrcdsa");
        // Read with the password from standard input.
        let back = d.path().join("back.img");
        let mut child = diskimg()
            .args(["convert", "-q", "--overwrite", "--password-stdin"])
            .arg(&dmg)
            .arg(&back)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"correct horse\n")
            .unwrap();
        assert!(child.wait().unwrap().success());
        assert!(std::fs::read(&back).unwrap() == disk, "AES-{bits}");
        let x = d.path().join(format!("x{bits}"));
        ok(diskimg()
            .arg("extract")
            .arg("-q")
            .arg(&dmg)
            .arg("-o")
            .arg(&x)
            .args(["--password-file", pw.to_str().unwrap()]));
        assert_same_tree(&x, &fx.join("tree"), Compare::default(), "encrypted");
        std::fs::write(d.path().join("bad"), "horse correct\n").unwrap();
        let out = run(diskimg()
            .arg("ls")
            .arg(&dmg)
            .arg("--password-file")
            .arg(d.path().join("bad")));
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("wrong password"));
    }
    // Only DMG outputs can be encrypted.
    let out = run(diskimg()
        .args(["convert", "-q", "--encrypt", "--password-file"])
        .arg(&pw)
        .arg(fx.join("fat.img"))
        .arg(d.path().join("x.qcow2")));
    assert!(!out.status.success());
    assert!(!d.path().join("x.qcow2").exists());
}

#[test]
fn create_dmg_holds_the_folder() {
    let Some(fx) = fixtures("dmg") else { return };
    let d = tempdir();
    let dmg = d.path().join("assets.dmg");
    ok(diskimg()
        .args([
            "create",
            "dmg",
            "-q",
            "--volume-name",
            "Assets",
            "--compression",
            "lzfse",
        ])
        .arg(fx.join("tree"))
        .arg("-o")
        .arg(&dmg));
    let x = d.path().join("x");
    ok(diskimg()
        .arg("extract")
        .arg("-q")
        .arg(&dmg)
        .arg("-o")
        .arg(&x));
    assert_same_tree(
        &x,
        &fx.join("tree"),
        Compare {
            modes: true,
            file_times: true,
            dir_times: false,
        },
        "create dmg",
    );
    // 7-Zip opens the DMG and the ISO 9660 volume inside it (a zlib image: see above).
    let zdmg = d.path().join("assets-zlib.dmg");
    ok(diskimg()
        .args(["create", "dmg", "-q"])
        .arg(fx.join("tree"))
        .arg("-o")
        .arg(&zdmg));
    if let Some(z) = tool("7zz") {
        let y = d.path().join("y");
        ok(Command::new(z)
            .args(["x", "-y"])
            .arg(format!("-o{}", y.display()))
            .arg(&zdmg));
        assert_same_tree(&y, &fx.join("tree"), Compare::default(), "7-Zip");
    }
    if let Some(info) = tool("isoinfo") {
        let raw = d.path().join("raw.img");
        ok(diskimg().args(["convert", "-q"]).arg(&dmg).arg(&raw));
        let out = ok(Command::new(info).args(["-d", "-i"]).arg(&raw));
        assert!(String::from_utf8_lossy(&out).contains("Volume id: Assets"));
    }
    // Atomic: an existing output is kept without --overwrite, and no temporary file remains.
    let out = run(diskimg()
        .args(["create", "dmg", "-q"])
        .arg(fx.join("tree"))
        .arg("-o")
        .arg(&dmg));
    assert!(!out.status.success());
    let left: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".diskimg"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
