//! Damaged and hostile CHDs, made in this test from the chdman fixtures by changing named
//! fields: each gives a clear error (or a failed verification), never a panic, a hang or a
//! huge allocation.

mod common;

use common::*;
use std::path::Path;

fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}

/// Runs `diskimg ARGS FILE` on `bytes` and returns (success, stderr + stdout).
fn on(bytes: &[u8], args: &[&str]) -> (bool, String) {
    let dir = tempdir();
    let p = dir.path().join("x.chd");
    std::fs::write(&p, bytes).unwrap();
    let out = run(diskimg().args(args).arg(&p));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!text.contains("panicked"), "{args:?}: {text}");
    (out.status.success(), text)
}

fn refused(bytes: &[u8], label: &str, want: &str) {
    let dir = tempdir();
    let p = dir.path().join("x.chd");
    std::fs::write(&p, bytes).unwrap();
    let out = run(diskimg()
        .args(["convert", "-q", "-O", "raw", "-f", "chd"])
        .arg(&p)
        .arg(dir.path().join("o.img")));
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{label}: accepted");
    assert!(!text.contains("panicked"), "{label}: {text}");
    assert!(text.contains(want), "{label}: {text}");
    // info reads whatever else it can and never panics either.
    on(bytes, &["info"]);
}

fn fixture(name: &str) -> Option<Vec<u8>> {
    fixtures("chd").map(|fx| std::fs::read(Path::new(&fx).join(name)).unwrap())
}

#[test]
fn hostile_headers_maps_and_metadata() {
    let Some(hd) = fixture("hd.chd") else { return };
    // The map offset (v5 header byte 40) past the end of the file.
    let mut b = hd.clone();
    b[40..48].copy_from_slice(&(hd.len() as u64 + 100).to_be_bytes());
    refused(&b, "map past the end", "hunk map");
    // An absurd logical size (byte 32): more hunks than MAX_HUNKS.
    let mut b = hd.clone();
    b[32..40].copy_from_slice(&(1u64 << 45).to_be_bytes());
    refused(&b, "absurd hunk count", "hunks");
    // A logical size that would overflow.
    let mut b = hd.clone();
    b[32..40].copy_from_slice(&u64::MAX.to_be_bytes());
    refused(&b, "overflowing size", "logical size");
    // Hunk size 0 and 4 GiB (byte 56).
    for size in [0u32, u32::MAX] {
        let mut b = hd.clone();
        b[56..60].copy_from_slice(&size.to_be_bytes());
        refused(&b, "hunk size", "hunk size");
    }
    // Unit size that does not divide the hunk (byte 60).
    let mut b = hd.clone();
    b[60..64].copy_from_slice(&1000u32.to_be_bytes());
    refused(&b, "unit size", "unit size");
    // The compressed map's length (first 4 bytes of the map) far past the end.
    let map = be64(&hd, 40) as usize;
    let mut b = hd.clone();
    b[map..map + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    refused(&b, "map length", "compressed map");
    // A damaged map (its CRC then fails).
    let mut b = hd.clone();
    b[map + 20] ^= 0xff;
    refused(&b, "damaged map", "hunk map");
    // Metadata whose next entry is itself (meta offset at byte 48; next at entry + 8).
    let meta = be64(&hd, 48) as usize;
    let mut b = hd.clone();
    b[meta + 8..meta + 16].copy_from_slice(&(meta as u64).to_be_bytes());
    refused(&b, "metadata loop", "loops");
    // Truncated files.
    for len in [16, 100, 124, hd.len() / 2] {
        on(&hd[..len], &["info"]);
        on(&hd[..len], &["verify"]);
    }
}

#[test]
fn cd_metadata_and_frames_out_of_range() {
    let Some(cd) = fixture("cd_mixed.chd") else {
        return;
    };
    // A track claiming more frames than the image holds: same length text, bigger number.
    let at = cd
        .windows(7)
        .position(|w| w == b"FRAMES:")
        .expect("CHT2 metadata");
    let mut b = cd.clone();
    let digits = b[at + 7..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    for d in &mut b[at + 7..at + 7 + digits] {
        *d = b'9';
    }
    let (ok, msg) = on(&b, &["info"]);
    assert!(!ok || msg.contains("frames"), "{msg}");
    assert!(msg.contains("past the"), "{msg}");
}

#[test]
fn verify_finds_a_flipped_byte() {
    let Some(fx) = fixtures("chd") else { return };
    for name in ["hd.chd", "cd_mixed.chd", "dvd.chd"] {
        let good = std::fs::read(fx.join(name)).unwrap();
        let (ok_good, text) = on(&good, &["verify"]);
        assert!(ok_good, "{name}: {text}");
        // One byte in the middle of the hunk data (between the metadata and the map).
        let map = be64(&good, 40) as usize;
        let mut bad = good.clone();
        bad[map / 2 + 100] ^= 0x01;
        let (ok_bad, text) = on(&bad, &["verify"]);
        assert!(!ok_bad, "{name}: damage not found: {text}");
        assert!(
            text.contains("fail") || text.contains("FAIL"),
            "{name}: {text}"
        );
    }
}
