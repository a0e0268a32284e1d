//! Hostile CSO, ZSO and DAX images: fixtures made by maxcso (tests/fixtures/make-cso.sh),
//! changed here field by field as each test says. Every one must fail with a clear error naming
//! the format and the structure, never a panic, a hang or an allocation the file asks for.

mod common;
mod cso_support;

use common::*;
use cso_support::*;
use std::path::Path;

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// Writes `bytes` as `name` in `dir` and converts it to raw: returns diskimg's stderr, after
/// checking that it failed without panicking.
fn refused(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let img = dir.join(name);
    std::fs::write(&img, bytes).unwrap();
    let out = dir.join("out.img");
    let r = run(diskimg()
        .args(["convert", "-q", "--overwrite", "-O", "raw"])
        .arg(&img)
        .arg(&out));
    let err = String::from_utf8_lossy(&r.stderr).into_owned();
    assert!(!r.status.success(), "{name}: accepted");
    assert!(!err.contains("panicked"), "{name}: panicked: {err}");
    assert!(!out.exists(), "{name}: output left behind");
    // `info` must not fail on a damaged container: it reports it.
    let i = run(diskimg().args(["info", "--json"]).arg(&img));
    assert!(
        !String::from_utf8_lossy(&i.stderr).contains("panicked"),
        "{name}: info panicked"
    );
    err
}

#[test]
fn index_entries_past_the_end() {
    let Some(dir) = setup() else { return };
    let t = tempdir();
    let mut b = std::fs::read(dir.join("cso1.cso")).unwrap();
    // Entry 10 points 1 GiB in, far past the end of a 2.5 MB file (its high bit kept).
    let e = le32(&b, 24 + 40) & 0x8000_0000 | (1 << 30);
    b[64..68].copy_from_slice(&e.to_le_bytes());
    let err = refused(t.path(), "past_end.cso", &b);
    assert!(
        err.contains("cso") && err.contains("index") && err.contains("past the end"),
        "{err}"
    );
    // A file cut in half: the last index entries point past its end.
    let b = std::fs::read(dir.join("zso.zso")).unwrap();
    let err = refused(t.path(), "truncated.zso", &b[..b.len() / 2]);
    assert!(err.contains("zso") && err.contains("past the end"), "{err}");
    // DAX: frame 3's offset past the end.
    let mut b = std::fs::read(dir.join("dax.dax")).unwrap();
    b[32 + 12..32 + 16].copy_from_slice(&u32::MAX.to_le_bytes());
    let err = refused(t.path(), "past_end.dax", &b);
    assert!(err.contains("dax") && err.contains("past the end"), "{err}");
}

#[test]
fn index_that_goes_backwards() {
    let Some(dir) = setup() else { return };
    let t = tempdir();
    let mut b = std::fs::read(dir.join("cso2.cso")).unwrap();
    // Entries 20 and 21 swapped.
    let (x, y) = (le32(&b, 24 + 80), le32(&b, 24 + 84));
    b[104..108].copy_from_slice(&y.to_le_bytes());
    b[108..112].copy_from_slice(&x.to_le_bytes());
    let err = refused(t.path(), "backwards.cso", &b);
    assert!(err.contains("must increase"), "{err}");
}

#[test]
fn absurd_sizes_and_counts() {
    let Some(dir) = setup() else { return };
    let t = tempdir();
    let orig = std::fs::read(dir.join("cso1.cso")).unwrap();
    // uncompressed_size of 2^60 bytes: 2^49 blocks, refused before any allocation.
    let mut b = orig.clone();
    b[8..16].copy_from_slice(&(1u64 << 60).to_le_bytes());
    let err = refused(t.path(), "huge.cso", &b);
    assert!(err.contains("limit") || err.contains("exceed"), "{err}");
    // A size whose index would be larger than the file.
    let mut b = orig.clone();
    b[8..16].copy_from_slice(&(1u64 << 33).to_le_bytes());
    let err = refused(t.path(), "long_index.cso", &b);
    assert!(err.contains("index"), "{err}");
    // Block sizes of 1 GiB and of 3000 bytes.
    for (bs, name) in [(1u32 << 30, "bs_huge.cso"), (3000, "bs_odd.cso")] {
        let mut b = orig.clone();
        b[16..20].copy_from_slice(&bs.to_le_bytes());
        let err = refused(t.path(), name, &b);
        assert!(err.contains("block size"), "{name}: {err}");
    }
    // Unknown version, index shift of 200.
    let mut b = orig.clone();
    b[20] = 9;
    assert!(refused(t.path(), "v9.cso", &b).contains("version"));
    let mut b = orig;
    b[21] = 200;
    assert!(refused(t.path(), "shift.cso", &b).contains("shift"));
    // DAX claiming more non-compressed areas than frames.
    let mut b = std::fs::read(dir.join("dax.dax")).unwrap();
    b[8..12].copy_from_slice(&1u32.to_le_bytes());
    b[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(refused(t.path(), "nc.dax", &b).contains("non-compressed"));
}

/// A block that inflates beyond its block size is an error, never a larger buffer: the 16 KiB
/// CSO and the 8 KiB ZSO are relabelled with half their block size (and half their size, so
/// the index keeps its length), so every block holds twice what a block may.
#[test]
fn decompression_bombs() {
    let Some(dir) = setup() else { return };
    let t = tempdir();
    for (name, fmt) in [("cso1_16k.cso", "cso"), ("zso_8k.zso", "zso")] {
        let mut b = std::fs::read(dir.join(name)).unwrap();
        let bs = le32(&b, 16);
        let blocks = u64::from_le_bytes(b[8..16].try_into().unwrap()).div_ceil(u64::from(bs));
        b[8..16].copy_from_slice(&(blocks * u64::from(bs / 2)).to_le_bytes());
        b[16..20].copy_from_slice(&(bs / 2).to_le_bytes());
        let err = refused(t.path(), name, &b);
        assert!(
            err.contains(fmt) && err.contains("beyond the block size"),
            "{name}: {err}"
        );
    }
}

#[test]
fn corrupt_block_data() {
    let Some(dir) = setup() else { return };
    let t = tempdir();
    for name in ["cso1.cso", "zso.zso", "dax.dax"] {
        let mut b = std::fs::read(dir.join(name)).unwrap();
        // The data area of the last quarter of the file overwritten with 0xFF bytes.
        let n = b.len();
        b[n * 3 / 4..].fill(0xFF);
        let err = refused(t.path(), name, &b);
        assert!(err.contains("block"), "{name}: {err}");
    }
}
