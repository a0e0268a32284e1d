//! Bad optical images give one clear error line, never a panic: descriptors naming missing or
//! short files, overlapping or out-of-order tracks, absurd counts, and damaged binary
//! descriptors (made here from fixtures by cutting or changing bytes, as each case says).

mod common;

use common::*;
use std::path::Path;

fn fails_with(image: &Path, needle: &str) {
    let o = run(diskimg().arg("info").arg(image));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{} was accepted", image.display());
    assert!(
        err.contains(needle),
        "{}: expected \"{needle}\" in: {err}",
        image.display()
    );
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
}

#[test]
fn cue_sheets_naming_missing_short_or_overlapping_data() {
    let t = tempdir();
    let d = t.path();
    std::fs::write(d.join("small.bin"), vec![0u8; 10 * 2352]).unwrap();
    let cases = [
        (
            "missing.cue",
            "FILE \"nothere.bin\" BINARY\n TRACK 01 AUDIO\n  INDEX 01 00:00:00\n",
            "nothere.bin",
        ),
        (
            "short.cue",
            "FILE \"small.bin\" BINARY\n TRACK 01 AUDIO\n  INDEX 01 00:00:00\n TRACK 02 AUDIO\n  INDEX 01 00:01:00\n",
            "too short",
        ),
        (
            "backwards.cue",
            "FILE \"small.bin\" BINARY\n TRACK 01 AUDIO\n  INDEX 01 00:00:05\n TRACK 02 AUDIO\n  INDEX 01 00:00:02\n",
            "starts before",
        ),
        (
            "order.cue",
            "FILE \"small.bin\" BINARY\n TRACK 02 AUDIO\n  INDEX 01 00:00:00\n TRACK 01 AUDIO\n  INDEX 01 00:00:05\n",
            "track 1 follows",
        ),
        (
            "track100.cue",
            "FILE \"small.bin\" BINARY\n TRACK 100 AUDIO\n  INDEX 01 00:00:00\n",
            "outside 1-99",
        ),
        (
            "noindex.cue",
            "FILE \"small.bin\" BINARY\n TRACK 01 AUDIO\n",
            "no INDEX 01",
        ),
        (
            "mode.cue",
            "FILE \"small.bin\" BINARY\n TRACK 01 MODE3/2352\n  INDEX 01 00:00:00\n",
            "MODE3/2352",
        ),
        (
            "mp3.cue",
            "FILE \"small.bin\" MP3\n TRACK 01 AUDIO\n  INDEX 01 00:00:00\n",
            "MP3",
        ),
    ];
    for (name, text, needle) in cases {
        std::fs::write(d.join(name), text).unwrap();
        fails_with(&d.join(name), needle);
    }
    let mut many = String::new();
    for i in 0..200 {
        many.push_str(&format!(
            "FILE \"small.bin\" BINARY\n TRACK {:02} AUDIO\n  INDEX 01 00:00:00\n",
            i % 99 + 1
        ));
    }
    std::fs::write(d.join("many.cue"), many).unwrap();
    fails_with(&d.join("many.cue"), "FILE commands");
}

#[test]
fn damaged_binary_descriptors() {
    let Some(dir) = fixtures("optical") else {
        return;
    };
    let t = tempdir();
    let d = t.path();
    for out in ["a.nrg", "a.mds", "a.ccd"] {
        ok(diskimg()
            .args(["convert", "-q"])
            .arg(dir.join("mixed.cue"))
            .arg(d.join(out)));
    }
    // NRG: a chunk length that runs past the footer (the CUEX length word set to 0x7fffffff).
    let mut nrg = std::fs::read(d.join("a.nrg")).unwrap();
    let at = nrg.windows(4).rposition(|w| w == b"CUEX").unwrap();
    nrg[at + 4..at + 8].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
    std::fs::write(d.join("b.nrg"), &nrg).unwrap();
    fails_with(&d.join("b.nrg"), "runs past the footer");
    // NRG: the DAOX table claims a track ending before it starts (end offset of track 2 zeroed).
    let mut nrg = std::fs::read(d.join("a.nrg")).unwrap();
    let at = nrg.windows(4).rposition(|w| w == b"DAOX").unwrap() + 8 + 22 + 42;
    nrg[at + 34..at + 42].copy_from_slice(&0u64.to_be_bytes());
    std::fs::write(d.join("c.nrg"), &nrg).unwrap();
    fails_with(&d.join("c.nrg"), "ends before it starts");
    // MDS: cut in the middle of the track blocks.
    let mds = std::fs::read(d.join("a.mds")).unwrap();
    std::fs::write(d.join("b.mds"), &mds[..150]).unwrap();
    std::fs::copy(d.join("a.mdf"), d.join("b.mdf")).unwrap();
    fails_with(&d.join("b.mds"), "past the end");
    // MDS: the data file is shorter than the tracks (the .mdf cut to one sector).
    std::fs::write(d.join("c.mds"), &mds).unwrap();
    std::fs::write(d.join("c.mdf"), vec![0u8; 2352]).unwrap();
    fails_with(&d.join("c.mds"), "too short");
    // CloneCD: the lead-out entries removed (every "Point=0xa2" becomes a track point 0x63 that
    // lies inside the image: no session end).
    let ccd = std::fs::read_to_string(d.join("a.ccd"))
        .unwrap()
        .replace("Point=0xa2", "Point=0x00");
    std::fs::write(d.join("b.ccd"), ccd).unwrap();
    std::fs::copy(d.join("a.img"), d.join("b.img")).unwrap();
    fails_with(&d.join("b.ccd"), "lead-out");
    // CloneCD without its .img.
    std::fs::write(d.join("c.ccd"), std::fs::read(d.join("a.ccd")).unwrap()).unwrap();
    fails_with(&d.join("c.ccd"), "c.img");
}

#[test]
fn toc_files_with_broken_syntax() {
    let t = tempdir();
    let d = t.path();
    std::fs::write(d.join("x.bin"), vec![0u8; 4 * 2352]).unwrap();
    let cases = [
        (
            "open.toc",
            "CD_DA\nCD_TEXT { LANGUAGE 0 { TITLE \"x\" }\nTRACK AUDIO\nFILE \"x.bin\" 0\n",
            "not closed",
        ),
        (
            "fifo.toc",
            "CD_DA\nTRACK AUDIO\nFIFO \"/dev/zero\" 100\n",
            "FIFO",
        ),
        (
            "missing.toc",
            "CD_DA\nTRACK AUDIO\nFILE \"gone.bin\" 0\n",
            "gone.bin",
        ),
        (
            "nodata.toc",
            "CD_DA\nTRACK AUDIO\nCOPY\n",
            "at least one sector",
        ),
    ];
    for (name, text, needle) in cases {
        std::fs::write(d.join(name), text).unwrap();
        fails_with(&d.join(name), needle);
    }
}
