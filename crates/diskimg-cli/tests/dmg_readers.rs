//! DMG reading: images from independent writers (pydmg, shared/bench/mkdmg.py, hdiutil samples
//! of every codec and AES-256) read through every layer and compared with dmg2img, 7-Zip and
//! the source trees. Fixtures: tests/fixtures/make-dmg.sh.

mod common;

use common::*;
use std::path::Path;

/// The raw disk diskimg reads from `dmg`.
fn raw_of(dmg: &Path, extra: &[&str]) -> Vec<u8> {
    let d = tempdir();
    let out = d.path().join("disk.img");
    ok(diskimg()
        .args(["convert", "-q"])
        .arg(dmg)
        .arg(&out)
        .args(extra));
    std::fs::read(&out).unwrap()
}

/// The raw disk 7-Zip extracts: its partition files (named `N.name`) in order.
fn raw_of_7z(dmg: &Path) -> Option<Vec<u8>> {
    let z = tool("7zz")?;
    let d = tempdir();
    ok(std::process::Command::new(z)
        .args(["x", "-tdmg", "-y"])
        .arg(format!("-o{}", d.path().display()))
        .arg(dmg));
    let mut parts: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let num = |p: &Path| -> u64 {
        let n = p.file_name().unwrap().to_string_lossy().into_owned();
        n.split('.').next().unwrap().parse().unwrap()
    };
    parts.sort_by_key(|p| num(p));
    let mut all = Vec::new();
    for p in parts {
        all.extend(std::fs::read(p).unwrap());
    }
    Some(all)
}

fn dmg2img(dmg: &Path) -> Option<Vec<u8>> {
    let t = tool("dmg2img")?;
    let d = tempdir();
    let out = d.path().join("r.img");
    ok(std::process::Command::new(t).arg("-s").arg(dmg).arg(&out));
    Some(std::fs::read(out).unwrap())
}

#[test]
fn pydmg_and_mkdmg_images_equal_dmg2img_and_hold_the_tree() {
    let Some(fx) = fixtures("dmg") else { return };
    for (name, inside) in [
        ("pydmg.dmg", "/tree"),
        ("mkdmg_fat.dmg", "/"),
        ("mkdmg_iso.dmg", "/"),
    ] {
        let dmg = fx.join(name);
        if !dmg.exists() {
            assert!(!strict() || name == "pydmg.dmg", "{name} missing");
            continue;
        }
        let ours = raw_of(&dmg, &[]);
        if let Some(theirs) = dmg2img(&dmg) {
            assert!(
                ours == theirs,
                "{name}: diskimg and dmg2img read different disks"
            );
        }
        if name == "mkdmg_fat.dmg" {
            assert!(ours == std::fs::read(fx.join("fat.img")).unwrap());
        }
        let d = tempdir();
        let out = d.path().join("x");
        ok(diskimg()
            .arg("extract")
            .arg("-q")
            .arg(&dmg)
            .arg(inside)
            .arg("-o")
            .arg(&out));
        let got = if inside == "/" {
            out.clone()
        } else {
            out.join("tree")
        };
        assert_same_tree(&got, &fx.join("tree"), Compare::default(), name);
    }
}

#[test]
fn hdiutil_samples_of_every_codec_read_the_same_disk() {
    let Some(fx) = fixtures("dmg") else { return };
    let h = fx.join("hdiutil");
    if !h.join("ro.dmg").exists() {
        eprintln!("skipped: no hdiutil samples (DMG_SAMPLES_GIT)");
        return;
    }
    let reference = raw_of(&h.join("ro.dmg"), &[]);
    assert_eq!(reference.len(), 10_510_336);
    for codec in ["adc", "bzip2", "lzfse", "lzma", "zlib"] {
        let dmg = h.join(format!("{codec}.dmg"));
        let ours = raw_of(&dmg, &[]);
        assert!(ours == reference, "{codec}: differs from the UDRO image");
        if let Some(z) = raw_of_7z(&dmg) {
            assert!(z == ours, "{codec}: differs from 7-Zip");
        }
        let info = ok(diskimg().args(["info", "--json"]).arg(&dmg));
        let v: serde_json::Value = serde_json::from_slice(&info).unwrap();
        let details = &v["containers"][0]["details"];
        assert!(
            details["chunk_types"][codec].as_u64().unwrap() > 0,
            "{codec}"
        );
    }
    // An old image whose blkx tables have data offsets and a resource fork.
    let raw = raw_of(&h.join("non_null_data_offset.dmg"), &[]);
    assert!(raw == std::fs::read(h.join("non_null_data_offset.raw")).unwrap());
    // AES-256 (hdiutil), password test123.
    let d = tempdir();
    let pw = d.path().join("pw");
    std::fs::write(&pw, "test123\n").unwrap();
    let raw = raw_of(
        &h.join("aes256.dmg"),
        &["--password-file", pw.to_str().unwrap()],
    );
    assert!(raw == reference, "AES-256 image");
    std::fs::write(&pw, "wrong\n").unwrap();
    let out = run(diskimg()
        .arg("info")
        .arg(h.join("aes256.dmg"))
        .args(["--password-file", pw.to_str().unwrap()]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong password"));
    let out = run(diskimg()
        .arg("info")
        .arg(h.join("aes256.dmg"))
        .stdin(std::process::Stdio::null()));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--password-file"));
}

#[test]
fn checksums_of_independent_images_verify() {
    let Some(fx) = fixtures("dmg") else { return };
    let mut images = vec![fx.join("pydmg.dmg")];
    for c in [
        "adc",
        "bzip2",
        "lzfse",
        "lzma",
        "zlib",
        "ro",
        "non_null_data_offset",
    ] {
        let p = fx.join("hdiutil").join(format!("{c}.dmg"));
        if p.exists() {
            images.push(p);
        }
    }
    for p in images {
        let file: diskimg::device::DeviceRef =
            std::sync::Arc::new(diskimg::io::FileSource::open(&p).unwrap());
        let r = diskimg::container::dmg::verify(file, &Default::default()).unwrap();
        assert!(r.ok, "{}: {:?}", p.display(), r.checks);
        assert!(
            r.checks
                .iter()
                .any(|c| c.status == diskimg::container::dmg::verify::CheckStatus::Ok),
            "{}: nothing was checked",
            p.display()
        );
    }
}

#[test]
fn the_corpus_pydmg_image_reads_as_its_manifest_says() {
    let p = Path::new("/work/corpus-out/dmg_fat32_pydmg.dmg");
    if !p.exists() {
        eprintln!("skipped: {} absent", p.display());
        return;
    }
    let raw = raw_of(p, &[]);
    assert_eq!(raw.len(), 40_960_512);
    assert_eq!(
        sha256(&raw),
        "bb4d1d54e6e1ff7d2ebc07049f4ed36303b70c289b55209d61fa4098818c80da"
    );
}

#[test]
fn sparse_bundles_made_from_a_disk_read_back() {
    let Some(fx) = fixtures("dmg") else { return };
    let disk = std::fs::read(fx.join("gpt.img")).unwrap();
    let d = tempdir();
    let b = d.path().join("disk.sparsebundle");
    std::fs::create_dir_all(b.join("bands")).unwrap();
    let band = 8 << 20;
    std::fs::write(
        b.join("Info.plist"),
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\">\n<dict>\n\
             <key>CFBundleInfoDictionaryVersion</key><string>6.0</string>\n\
             <key>band-size</key><integer>{band}</integer>\n\
             <key>bundle-backingstore-version</key><integer>1</integer>\n\
             <key>diskimage-bundle-type</key><string>com.apple.diskimage.sparsebundle</string>\n\
             <key>size</key><integer>{}</integer>\n</dict>\n</plist>\n",
            disk.len()
        ),
    )
    .unwrap();
    for (i, c) in disk.chunks(band).enumerate() {
        if c.iter().any(|&x| x != 0) {
            std::fs::write(b.join("bands").join(format!("{i:x}")), c).unwrap();
        }
    }
    let out = d.path().join("back.img");
    ok(diskimg().args(["convert", "-q"]).arg(&b).arg(&out));
    assert!(std::fs::read(&out).unwrap() == disk);
    let x = d.path().join("x");
    ok(diskimg().arg("extract").arg("-q").arg(&b).arg("-o").arg(&x));
    assert_same_tree(&x, &fx.join("tree"), Compare::default(), "sparsebundle");
}

/// pydmg's image cut into a segmented one, as hdiutil `segment` lays them out: `seg.dmg` holds
/// the first part of the data fork, the property list and a trailer (segment 1 of 3);
/// `seg.002.dmgpart` and `seg.003.dmgpart` hold the rest of the fork, each with its trailer
/// (number, running offset, the shared segment id). The cuts fall inside chunks. Data fork
/// checksums are dropped (type none): they would need recomputing per segment.
#[test]
fn a_segmented_image_reads_as_the_whole() {
    use diskimg::container::dmg::koly::{KolyTrailer, UdifChecksum};
    let Some(fx) = fixtures("dmg") else { return };
    let img = std::fs::read(fx.join("pydmg.dmg")).unwrap();
    let at = img.len() - 512;
    let whole = KolyTrailer::parse(&img[at..], at as u64).unwrap();
    assert_eq!(whole.data_fork_offset, 0);
    let fork = &img[..whole.data_fork_length as usize];
    let xml = &img[whole.xml_offset as usize..(whole.xml_offset + whole.xml_length) as usize];
    let cuts = [0, fork.len() / 3 + 1001, 2 * fork.len() / 3 + 7, fork.len()];
    let d = tempdir();
    let first = d.path().join("seg.dmg");
    for n in 0..3 {
        let part = &fork[cuts[n]..cuts[n + 1]];
        let mut k = whole.clone();
        k.segment_number = n as u32 + 1;
        k.segment_count = 3;
        k.segment_id = [0x5e; 16];
        k.running_data_fork_offset = cuts[n] as u64;
        k.data_fork_length = part.len() as u64;
        k.data_checksum = UdifChecksum::NONE;
        let mut file = part.to_vec();
        if n == 0 {
            k.xml_offset = part.len() as u64;
            file.extend_from_slice(xml);
        } else {
            (k.xml_offset, k.xml_length) = (0, 0);
        }
        file.extend_from_slice(&k.to_bytes());
        let name = if n == 0 {
            first.clone()
        } else {
            d.path().join(format!("seg.{:03}.dmgpart", n + 1))
        };
        std::fs::write(name, file).unwrap();
    }
    let raw = raw_of(&first, &[]);
    assert!(raw == std::fs::read(fx.join("pydmg.raw")).unwrap());
    // The table checksums read chunks across the cuts.
    let file: diskimg::device::DeviceRef =
        std::sync::Arc::new(diskimg::io::FileSource::open(&first).unwrap());
    let ctx = diskimg::container::OpenContext {
        path: Some(first.clone()),
        ..Default::default()
    };
    let r = diskimg::container::dmg::verify(file, &ctx).unwrap();
    assert!(r.ok, "{:?}", r.checks);
    assert!(r.checks.iter().any(|c| c.record.starts_with("blkx")));
    // A missing segment is an error naming it.
    std::fs::remove_file(d.path().join("seg.003.dmgpart")).unwrap();
    let out = run(diskimg()
        .args(["convert", "-q"])
        .arg(&first)
        .arg(d.path().join("x.raw")));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("seg.003.dmgpart"));
}
