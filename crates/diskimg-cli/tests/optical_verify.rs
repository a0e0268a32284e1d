//! EDC/ECC: our codec against independent implementations. vcdimager wrote the Video CD's raw
//! mode 2 form 1 and form 2 sectors with its own EDC/ECC code; the libcdio sample isofs-m1.bin
//! (when present) holds raw mode 1 sectors written by another tool. Every such sector checks
//! good with `diskimg verify`, and re-encoding its user data with our codec gives the same
//! 2352 bytes. Damage made here in a copy is reported with its LBA.

mod common;

use common::*;
use diskimg::optical::sector::{self, RAW, SectorKind};
use serde_json::Value;
use std::path::Path;

/// Re-encodes every data sector of a raw image from its user data and compares.
fn regenerates(bin: &Path) -> (u64, u64) {
    let data = std::fs::read(bin).unwrap();
    let (mut form1, mut form2) = (0, 0);
    for (i, s) in data.chunks_exact(RAW).enumerate() {
        let s: &[u8; RAW] = s.try_into().unwrap();
        let lba = i as i64;
        let mut ours = [0u8; RAW];
        let kind = sector::kind_of(s);
        let sub = |k| Some(<[u8; 8]>::try_from(&s[16..24]).unwrap()).filter(|_| k);
        match kind {
            SectorKind::Mode1 => sector::encode(&mut ours, lba, kind, &s[16..2064], None),
            SectorKind::Mode2Form1 => sector::encode(&mut ours, lba, kind, &s[24..2072], sub(true)),
            SectorKind::Mode2Form2 if s[2348..] != [0; 4] => {
                sector::encode(&mut ours, lba, kind, &s[24..2348], sub(true))
            }
            _ => continue,
        }
        assert!(
            ours == *s,
            "{}: sector {i} ({kind:?}) re-encodes differently",
            bin.display()
        );
        match kind {
            SectorKind::Mode2Form2 => form2 += 1,
            _ => form1 += 1,
        }
    }
    (form1, form2)
}

fn verify_json(image: &Path) -> (bool, Value) {
    let o = run(diskimg().args(["verify", "--json"]).arg(image));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    (o.status.success(), v)
}

#[test]
fn vcdimager_sectors_check_good_and_re_encode_identically() {
    let Some(dir) = fixtures("optical") else {
        return;
    };
    let (f1, f2) = regenerates(&dir.join("vcd.bin"));
    assert!(f1 > 100 && f2 > 100, "form 1: {f1}, form 2: {f2}");
    let (ok, v) = verify_json(&dir.join("vcd.cue"));
    assert!(ok, "{v}");
    for c in v["checks"].as_array().unwrap() {
        assert_eq!(c["status"], "pass", "{c}");
        assert_eq!(c["data"]["bad_edc"], 0);
    }
    assert!(v["checks"][0]["data"]["good"].as_u64().unwrap() >= 300);
}

#[test]
fn libcdio_mode1_sectors_check_good_and_re_encode_identically() {
    let bin = Path::new("/work/shared/corpus/public/libcdio/isofs-m1.bin");
    if !bin.exists() {
        eprintln!("skipped: libcdio samples absent");
        return;
    }
    let (f1, _) = regenerates(bin);
    assert!(f1 > 300, "{f1} mode 1 sectors");
    let (ok, v) = verify_json(&bin.with_extension("cue"));
    assert!(ok, "{v}");
}

#[test]
fn our_raw_sectors_check_good_and_damage_is_found() {
    let Some(dir) = fixtures("optical") else {
        return;
    };
    let t = tempdir();
    let cue = t.path().join("raw.cue");
    ok(diskimg()
        .args(["convert", "-q", "-o", "mode=MODE1/2352"])
        .arg(dir.join("mixed.cue"))
        .arg(&cue));
    let (good, v) = verify_json(&cue);
    assert!(good, "{v}");
    assert_eq!(v["checks"][0]["data"]["good"], 334);
    assert_eq!(v["checks"][1]["status"], "skipped");
    // One flipped bit in the user data of sector 20, one in the Q parity of sector 30.
    let bin = t.path().join("raw.bin");
    let mut data = std::fs::read(&bin).unwrap();
    data[20 * RAW + 100] ^= 1;
    data[30 * RAW + 2300] ^= 1;
    std::fs::write(&bin, &data).unwrap();
    let (good, v) = verify_json(&cue);
    assert!(!good);
    let d = &v["checks"][0]["data"];
    assert_eq!(
        (d["bad_edc"].as_u64(), d["bad_ecc"].as_u64()),
        (Some(1), Some(1)),
        "{d}"
    );
    assert_eq!(d["bad_sectors"], serde_json::json!([20, 30]));
    assert_eq!(v["status"], "fail");
    let o = run(diskimg().arg("verify").arg(&cue));
    let text = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        text.contains("FAIL") && text.contains("first at LBA 20") && err.contains("FAILED"),
        "{text}{err}"
    );
    // A cooked image has nothing to check: it says so and does not claim success.
    let (good, v) = verify_json(&dir.join("mixed.cue"));
    assert!(!good);
    assert_eq!(v["status"], "none");
    assert_eq!(v["checks"][0]["status"], "skipped");
}
