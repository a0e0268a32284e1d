//! Optical disc image writers, checked by independent readers: bchunk (CUE/BIN), ccd2iso
//! (CloneCD), mdf2iso (Alcohol), nrg2iso (Nero), iat (all of them), chdman createcd (CUE and
//! TOC) and toc2cue (TOC). No independent writer of MDS, CCD or NRG exists here, so those
//! formats' round trips through our own reader are checked sector by sector as well.

mod common;

use common::*;
use diskimg::ops::optical::open_disc;
use std::path::Path;
use std::process::Command;

fn convert(src: &Path, out: &Path, extra: &[&str]) {
    ok(diskimg()
        .args(["convert", "-q"])
        .arg(src)
        .arg(out)
        .args(extra));
}

fn same_prefix(ours: &Path, reference: &Path, label: &str) {
    let a = std::fs::read(ours).unwrap_or_else(|e| panic!("{label}: {}: {e}", ours.display()));
    let b = std::fs::read(reference).unwrap();
    assert!(
        a.len() >= b.len(),
        "{label}: {} bytes, reference {}",
        a.len(),
        b.len()
    );
    assert!(
        a[..b.len()] == b[..],
        "{label}: data track differs from the source ISO"
    );
}

/// Every sector (and subchannel, when `sub`) of `a` and `b` from LBA 0 is the same, and so
/// are the tracks' pregaps, ISRC and flags.
fn same_disc(a: &Path, b: &Path, sub: bool) {
    same_sectors(a, b, sub, true, true);
}

/// With `meta` false, ISRC and flags are not compared; with `audio` false, audio sectors.
fn same_sectors(a: &Path, b: &Path, sub: bool, meta: bool, audio: bool) {
    let (da, db) = (open_disc(a).unwrap(), open_disc(b).unwrap());
    assert_eq!(
        da.tracks.len(),
        db.tracks.len(),
        "{} vs {}",
        a.display(),
        b.display()
    );
    if meta {
        assert_eq!(
            (&da.catalog, &da.cd_text),
            (&db.catalog, &db.cd_text),
            "{}",
            b.display()
        );
    }
    for (ta, tb) in da.tracks.iter().zip(&db.tracks) {
        assert_eq!(
            (ta.number, ta.start, ta.end, ta.mode),
            (tb.number, tb.start, tb.end, tb.mode),
            "{}",
            b.display()
        );
        // The first track's pregap before LBA 0 is the lead-in's, recorded or not.
        let pregap = |t: &diskimg::optical::Track| {
            t.start
                - if t.number == 1 {
                    t.first.max(0)
                } else {
                    t.first
                }
        };
        assert_eq!(
            pregap(ta),
            pregap(tb),
            "{} track {}",
            b.display(),
            ta.number
        );
        if meta {
            assert_eq!(
                (&ta.isrc, ta.flags.copy_permitted),
                (&tb.isrc, tb.flags.copy_permitted),
                "{}",
                b.display()
            );
        }
    }
    let (mut ra, mut rb) = ([0u8; 2352], [0u8; 2352]);
    let (mut sa, mut sb) = ([0u8; 96], [0u8; 96]);
    for lba in 0..da.span().1 {
        if !audio && da.track_at(lba).is_some_and(|t| !t.mode.is_data()) {
            continue;
        }
        da.read_raw(lba, &mut ra).unwrap();
        db.read_raw(lba, &mut rb).unwrap();
        assert!(ra == rb, "{}: sector {lba} differs", b.display());
        if sub {
            da.read_sub(lba, &mut sa).unwrap();
            db.read_sub(lba, &mut sb).unwrap();
            assert!(
                sa == sb,
                "{}: subchannel of sector {lba} differs",
                b.display()
            );
        }
    }
}

#[test]
fn cue_bin_read_by_bchunk_and_chdman() {
    let Some(dir) = fixtures("optical") else {
        return;
    };
    let t = tempdir();
    let raw = t.path().join("raw.cue");
    convert(&dir.join("mixed.cue"), &raw, &["-o", "mode=MODE1/2352"]);
    if tool("bchunk").is_some() {
        ok(Command::new("bchunk")
            .current_dir(t.path())
            .arg("raw.bin")
            .arg("raw.cue")
            .arg("b"));
        same_prefix(&t.path().join("b01.iso"), &dir.join("data.iso"), "bchunk");
        assert!(
            std::fs::read(t.path().join("b02.cdr")).unwrap()
                == std::fs::read(dir.join("a1.raw")).unwrap(),
            "bchunk audio track 2"
        );
        assert!(
            std::fs::read(t.path().join("b03.cdr")).unwrap()
                == std::fs::read(dir.join("a2.raw")).unwrap(),
            "bchunk audio track 3"
        );
    }
    if tool("chdman").is_none() {
        return;
    }
    // chdman reads our cooked cue (single and split) and our toc into the disc it read from
    // the original sheet: its extracted BIN is the same bytes.
    let reference = std::fs::read(dir.join("chd.bin")).unwrap();
    for (name, extra) in [
        ("cooked.cue", &[][..]),
        ("split.cue", &["--split"][..]),
        ("out.toc", &[][..]),
    ] {
        let out = t.path().join(name);
        convert(&dir.join("mixed.cue"), &out, extra);
        let chd = t.path().join(format!("{name}.chd"));
        ok(Command::new("chdman")
            .args(["createcd", "-f", "-i"])
            .arg(&out)
            .arg("-o")
            .arg(&chd));
        let cue = t.path().join(format!("{name}.x.cue"));
        let bin = t.path().join(format!("{name}.x.bin"));
        ok(Command::new("chdman")
            .args(["extractcd", "-f", "-i"])
            .arg(&chd)
            .arg("-o")
            .arg(&cue)
            .arg("-ob")
            .arg(&bin));
        assert!(
            std::fs::read(&bin).unwrap() == reference,
            "chdman on our {name}"
        );
    }
    // Raw MODE1/2352 through chdman and back is our BIN again.
    let chd = t.path().join("raw.chd");
    ok(Command::new("chdman")
        .args(["createcd", "-f", "-i"])
        .arg(&raw)
        .arg("-o")
        .arg(&chd));
    ok(Command::new("chdman")
        .args(["extractcd", "-f", "-i"])
        .arg(&chd)
        .arg("-o")
        .arg(t.path().join("rx.cue"))
        .arg("-ob")
        .arg(t.path().join("rx.bin")));
    assert!(
        std::fs::read(t.path().join("rx.bin")).unwrap()
            == std::fs::read(t.path().join("raw.bin")).unwrap(),
        "chdman raw"
    );
}

#[test]
fn toc_read_by_toc2cue() {
    let Some(dir) = fixtures("optical") else {
        return;
    };
    let Some(_) = tool("toc2cue") else { return };
    let t = tempdir();
    let toc = t.path().join("out.toc");
    convert(&dir.join("mixed.cue"), &toc, &[]);
    ok(Command::new("toc2cue")
        .arg(&toc)
        .arg(t.path().join("t2c.cue")));
    // toc2cue keeps positions and data, not ISRC; its cue sheet reads the big-endian audio
    // of a TOC's BIN as little-endian (toc2cue says so when it runs).
    same_sectors(
        &dir.join("mixed.cue"),
        &t.path().join("t2c.cue"),
        false,
        false,
        false,
    );
    same_disc(&dir.join("mixed.cue"), &toc, false);
}

#[test]
fn clonecd_alcohol_nero_read_by_their_converters() {
    let Some(dir) = fixtures("optical") else {
        return;
    };
    let t = tempdir();
    let iso = dir.join("data.iso");
    for (out, extra, tool_name, args) in [
        ("a.ccd", &[][..], "ccd2iso", vec!["a.img", "a.iso"]),
        (
            "b.mds",
            &["-o", "mode=MODE1/2352"][..],
            "mdf2iso",
            vec!["b.mdf", "b.iso"],
        ),
        ("c.nrg", &[][..], "nrg2iso", vec!["c.nrg", "c.iso"]),
    ] {
        convert(&dir.join("mixed.cue"), &t.path().join(out), extra);
        if tool(tool_name).is_none() {
            continue;
        }
        // ccd2iso stops with an error at the first audio sector, after the data track.
        run(Command::new(tool_name).current_dir(t.path()).args(&args));
        same_prefix(&t.path().join(args[1]), &iso, tool_name);
    }
    if tool("iat").is_none() {
        return;
    }
    for input in ["a.img", "b.mdf", "c.nrg"] {
        let out = format!("{input}.iat.iso");
        ok(Command::new("iat")
            .current_dir(t.path())
            .args(["-i", input, "-o", &out, "--iso"]));
        same_prefix(&t.path().join(&out), &iso, &format!("iat {input}"));
    }
}

#[test]
fn round_trips_are_lossless() {
    let Some(dir) = fixtures("optical") else {
        return;
    };
    let t = tempdir();
    let src = dir.join("mixed.cue");
    for (out, extra) in [
        ("r1.cue", &[][..]),
        ("r2.cue", &["--split"][..]),
        ("r3.toc", &[][..]),
        ("r.ccd", &[][..]),
        ("r.mds", &[][..]),
        ("r.nrg", &[][..]),
    ] {
        let p = t.path().join(out);
        convert(&src, &p, extra);
        // This MDS writer keeps no ISRC (the conversion says so).
        same_sectors(&src, &p, false, !out.ends_with(".mds"), true);
    }
    // Indexes, CD-TEXT, catalog, ISRC and an unstored pregap, from a hand-written TOC.
    let hand = dir.join("hand.toc");
    for out in ["h1.cue", "h2.toc", "h3.ccd", "h4.nrg"] {
        let p = t.path().join(out);
        convert(&hand, &p, &[]);
        same_sectors(&hand, &p, false, true, true);
    }
    // Subchannel, once there (CloneCD writes it), survives every format that can hold it.
    let ccd = t.path().join("r.ccd");
    for out in ["s1.mds", "s2.nrg", "s3.toc", "s4.ccd"] {
        let p = t.path().join(out);
        convert(&ccd, &p, &[]);
        same_sectors(&ccd, &p, true, !out.ends_with(".mds"), true);
    }
    // A Video CD: raw mode 2 sectors and a stored pregap, through every format.
    let vcd = dir.join("vcd.cue");
    for out in ["v1.cue", "v2.toc", "v3.ccd", "v4.mds", "v5.nrg"] {
        let p = t.path().join(out);
        convert(&vcd, &p, &[]);
        same_sectors(&vcd, &p, false, !out.ends_with(".mds"), true);
    }
    // Multisession: the data session keeps its LBAs.
    let extra = dir.join("extra.cue");
    for out in ["e1.cue", "e2.ccd", "e3.mds", "e4.nrg"] {
        let p = t.path().join(out);
        convert(&extra, &p, &[]);
        same_sectors(&extra, &p, false, !out.ends_with(".mds"), true);
        let ls = String::from_utf8(ok(diskimg().arg("ls").arg(&p))).unwrap();
        assert!(ls.contains("README.TXT"), "{out}: {ls}");
    }
    let o = run(diskimg()
        .arg("convert")
        .arg(&extra)
        .arg(t.path().join("e.toc")));
    assert!(!o.status.success(), "a TOC holds one session");
}

#[test]
fn iso_output_names_what_it_drops() {
    let Some(dir) = fixtures("optical") else {
        return;
    };
    let t = tempdir();
    let iso = t.path().join("x.iso");
    let o = run(diskimg()
        .arg("convert")
        .arg(dir.join("mixed.cue"))
        .arg(&iso));
    assert!(o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("audio track(s) 2, 3 dropped"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(std::fs::read(&iso).unwrap() == std::fs::read(dir.join("data.iso")).unwrap());
    // From an ISO: raw MODE1/2352 by default, cooked on request.
    let cue = t.path().join("from_iso.cue");
    convert(&iso, &cue, &[]);
    assert!(
        std::fs::read_to_string(&cue)
            .unwrap()
            .contains("MODE1/2352")
    );
    assert_eq!(
        std::fs::metadata(t.path().join("from_iso.bin"))
            .unwrap()
            .len(),
        334 * 2352
    );
    let cooked = t.path().join("cooked.cue");
    convert(&iso, &cooked, &["-o", "mode=MODE1/2048"]);
    assert!(std::fs::read(t.path().join("cooked.bin")).unwrap() == std::fs::read(&iso).unwrap());
    // Outputs exist: refused without --overwrite, and nothing is left half-written.
    let o = run(diskimg().arg("convert").arg(&iso).arg(&cue));
    assert!(!o.status.success());
    let o = run(diskimg()
        .args(["convert", "-q", "--overwrite"])
        .arg(&iso)
        .arg(&cue));
    assert!(o.status.success());
    let names: Vec<String> = std::fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".part")), "{names:?}");
}
