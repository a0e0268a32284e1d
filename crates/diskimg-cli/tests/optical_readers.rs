//! Optical disc image readers against images made by other tools (tests/fixtures/make-optical.sh:
//! genisoimage, sox, chdman extractcd, toc2cue, vcdimager; the libcdio samples when present):
//! the data track's files equal the source tree, track positions equal cd-info's, audio equals
//! the PCM sox made.

mod common;

use common::*;
use diskimg::io::ReadAt;
use diskimg::optical::audio::WavStream;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn info(image: &Path) -> Value {
    serde_json::from_slice(&ok(diskimg().args(["info", "--json"]).arg(image))).unwrap()
}

fn starts(v: &Value) -> Vec<i64> {
    v["disc"]["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["start"].as_i64().unwrap())
        .collect()
}

#[test]
fn data_track_files_equal_the_source_tree() {
    let Some(dir) = fixtures("optical") else {
        return;
    };
    for name in [
        "mixed.cue",
        "chd.cue",
        "chdtoc.toc",
        "toc2cue.cue",
        "hand.toc",
    ] {
        let out = tempdir();
        ok(diskimg()
            .arg("extract")
            .arg("-q")
            .arg(dir.join(name))
            .arg("-o")
            .arg(out.path()));
        assert_same_tree(out.path(), &dir.join("tree"), Compare::default(), name);
    }
}

#[test]
fn gdi_high_density_track_is_the_default() {
    let Some(dir) = fixtures("optical") else {
        return;
    };
    let v = info(&dir.join("game.gdi"));
    assert_eq!(starts(&v), vec![0, 484, 45000]);
    assert_eq!(v["disc"]["default_track"], 3);
    let out = tempdir();
    ok(diskimg()
        .args(["extract", "-q"])
        .arg(dir.join("game.gdi"))
        .arg("-o")
        .arg(out.path()));
    assert_same_tree(
        out.path(),
        &dir.join("tree"),
        Compare::default(),
        "game.gdi",
    );
    let json = String::from_utf8(ok(diskimg()
        .args(["info", "--json"])
        .arg(dir.join("game.gdi"))))
    .unwrap();
    assert!(
        json.contains("GD_DATA") && json.contains("OPTICAL_DATA"),
        "{json}"
    );
}

#[test]
fn multisession_data_session_is_read_at_its_lbas() {
    let Some(dir) = fixtures("optical") else {
        return;
    };
    let v = info(&dir.join("extra.cue"));
    assert_eq!(v["disc"]["sessions"].as_array().unwrap().len(), 2);
    assert_eq!(starts(&v), vec![0, 11550]);
    assert_eq!(v["disc"]["default_track"], 2);
    let out = tempdir();
    ok(diskimg()
        .args(["extract", "-q"])
        .arg(dir.join("extra.cue"))
        .arg("-o")
        .arg(out.path()));
    assert_same_tree(
        out.path(),
        &dir.join("tree"),
        Compare::default(),
        "extra.cue",
    );
    // Track 1 is audio: naming it is a clear error.
    let o = run(diskimg()
        .args(["ls", "--track", "1"])
        .arg(dir.join("extra.cue")));
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("audio"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn track_positions_equal_cd_info() {
    let Some(dir) = fixtures("optical") else {
        return;
    };
    let Some(_) = tool("cd-info") else { return };
    let mut cases = vec![
        ("--cue-file", dir.join("chd.cue")),
        ("--cue-file", dir.join("vcd.cue")),
    ];
    let public = Path::new("/work/shared/corpus/public/libcdio");
    for n in ["p1.nrg", "videocd.nrg"] {
        if public.join(n).exists() {
            cases.push(("--nrg-file", public.join(n)));
        }
    }
    for (flag, image) in cases {
        let out = ok(Command::new("cd-info")
            .args(["--no-device-info", "--no-cddb", flag])
            .arg(&image));
        let theirs: Vec<i64> = String::from_utf8_lossy(&out)
            .lines()
            .filter_map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                (w.len() > 2
                    && w[0].ends_with(':')
                    && w[0] != "170:"
                    && w[0].trim_end_matches(':').parse::<u32>().is_ok())
                .then(|| w[2].parse().ok())
                .flatten()
            })
            .collect();
        assert_eq!(starts(&info(&image)), theirs, "{}", image.display());
    }
}

#[test]
fn cue_and_toc_metadata() {
    let Some(dir) = fixtures("optical") else {
        return;
    };
    let v = info(&dir.join("mixed.cue"));
    assert_eq!(starts(&v), vec![0, 484, 634]);
    let d = &v["disc"];
    assert_eq!(d["catalog"], "0000010271955");
    assert_eq!(d["cd_text"]["title"], "Fixture Album");
    assert_eq!(d["tracks"][1]["isrc"], "USXXX2300001");
    assert_eq!(d["tracks"][1]["flags"]["copy_permitted"], true);
    assert_eq!(d["tracks"][1]["pregap"], 150);
    assert_eq!(d["tracks"][1]["pregap_stored"], 150);
    assert_eq!(d["tracks"][1]["cd_text"]["title"], "Tone A");
    assert_eq!(d["tracks"][0]["mode"], "MODE1/2048");
    let t = info(&dir.join("hand.toc"));
    assert_eq!(starts(&t), vec![0, 484, 634]);
    let idx: Vec<i64> = t["disc"]["tracks"][1]["indexes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["start"].as_i64().unwrap())
        .collect();
    assert_eq!(idx, vec![334, 484, 559]);
    assert_eq!(t["disc"]["tracks"][1]["pregap_stored"], 0);
    assert_eq!(t["disc"]["cd_text"]["title"], "Hand TOC");
}

#[test]
fn audio_tracks_equal_the_pcm_sox_made() {
    let Some(dir) = fixtures("optical") else {
        return;
    };
    let a1 = std::fs::read(dir.join("a1.raw")).unwrap();
    let a2 = std::fs::read(dir.join("a2.raw")).unwrap();
    let pregap_a1 = std::fs::read(dir.join("a1_pregap.raw")).unwrap();
    // chdman's toc stores audio big-endian and its track 2 spans the stored pregap again.
    for (name, t2) in [
        ("mixed.cue", &a1),
        ("hand.toc", &a1),
        ("chd.cue", &a1),
        ("chdtoc.toc", &pregap_a1),
    ] {
        let out = tempdir();
        ok(diskimg()
            .args(["extract", "-q", "--tracks"])
            .arg(dir.join(name))
            .arg("-o")
            .arg(out.path()));
        let w2 = std::fs::read(out.path().join("Track 02.wav")).unwrap();
        let w3 = std::fs::read(out.path().join("Track 03.wav")).unwrap();
        assert_eq!(&w2[44..], &t2[..], "{name} track 2");
        assert_eq!(&w3[44..], &a2[..], "{name} track 3");
        assert_eq!(
            std::fs::read(out.path().join("Track 01.iso")).unwrap(),
            std::fs::read(dir.join("data.iso")).unwrap(),
            "{name} track 1"
        );
        // The library's WAV stream (what FUSE serves) is the same bytes.
        let disc = diskimg::ops::optical::open_disc(&dir.join(name)).unwrap();
        let stream = WavStream::new(disc, 2).unwrap();
        let mut buf = vec![0u8; stream.size() as usize];
        stream.read_exact_at(0, &mut buf).unwrap();
        assert_eq!(buf, w2, "{name}: WavStream");
        // A read straddling the header and the samples.
        let mut part = vec![0u8; 100];
        stream.read_exact_at(20, &mut part).unwrap();
        assert_eq!(part, w2[20..120]);
    }
}

#[test]
fn flac_tracks_decode_to_the_pcm() {
    let Some(dir) = fixtures("optical") else {
        return;
    };
    let Some(_) = tool("flac") else { return };
    let out = tempdir();
    ok(diskimg()
        .args(["extract", "-q", "--tracks", "--flac"])
        .arg(dir.join("mixed.cue"))
        .arg("-o")
        .arg(out.path()));
    for (n, pcm) in [(2, "a1.raw"), (3, "a2.raw")] {
        let f = out.path().join(format!("Track {n:02}.flac"));
        // The reference decoder checks the frames' CRCs and the MD5 of the samples.
        ok(std::process::Command::new("flac")
            .args(["-t", "-s"])
            .arg(&f));
        let decoded = ok(std::process::Command::new("flac")
            .args([
                "-d",
                "-s",
                "-c",
                "--force-raw-format",
                "--endian=little",
                "--sign=signed",
            ])
            .arg(&f));
        assert!(
            decoded == std::fs::read(dir.join(pcm)).unwrap(),
            "track {n}"
        );
    }
    assert!(out.path().join("Track 01.iso").exists());
}

#[test]
fn video_cd_and_public_samples() {
    let Some(dir) = fixtures("optical") else {
        return;
    };
    let ls = String::from_utf8(ok(diskimg().arg("ls").arg(dir.join("vcd.cue")))).unwrap();
    for d in ["MPEGAV", "VCD"] {
        assert!(ls.lines().any(|l| l == d), "{ls}");
    }
    let public = Path::new("/work/shared/corpus/public/libcdio");
    if !public.join("videocd.nrg").exists() {
        eprintln!("skipped: libcdio samples absent");
        return;
    }
    let ls = String::from_utf8(ok(diskimg().arg("ls").arg(public.join("videocd.nrg")))).unwrap();
    assert!(ls.lines().any(|l| l == "MPEG2"), "{ls}");
    let v = info(&public.join("p1.nrg"));
    assert_eq!(v["disc"]["cd_text"]["performer"], "Richard Stallman");
    assert_eq!(v["disc"]["tracks"][0]["pregap"], 300);
    // The toc names a file that is not there: a clear error naming it.
    let o = run(diskimg().arg("info").arg(public.join("vcd_demo.toc")));
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("vcd_demo.bin"));
    for n in ["isofs-m1.cue", "isofs-m1.toc"] {
        let ls = String::from_utf8(ok(diskimg().arg("ls").arg(public.join(n)))).unwrap();
        assert!(ls.contains("COPYING"), "{n}: {ls}");
    }
}

#[test]
fn corpus_images_match_their_manifest() {
    let corpus = Path::new("/work/corpus-out");
    if !corpus.join("MANIFEST").exists() {
        eprintln!("skipped: /work/corpus-out absent");
        return;
    }
    for (name, tracks, label) in [
        ("vcd_vcdimager.cue", 2, "CORPUS_VCD"),
        ("mixed_mode1_audio.cue", 3, "CORPUS_MIXED"),
        ("chd_extract_mixed.cue", 3, "CORPUS_MIXED"),
        ("chd_extract_vcd.toc", 2, "CORPUS_VCD"),
    ] {
        let image = corpus.join(name);
        if !image.exists() {
            continue;
        }
        let v = info(&image);
        assert_eq!(
            v["disc"]["tracks"].as_array().unwrap().len(),
            tracks,
            "{name}"
        );
        let t = v["disc"]["default_track"].as_u64().unwrap() as usize - 1;
        assert_eq!(
            v["disc"]["tracks"][t]["content"]["file_systems"][0]["label"], label,
            "{name}"
        );
    }
    // vcdimager's raw sectors all check good.
    let o = run(diskimg()
        .arg("verify")
        .arg(corpus.join("vcd_vcdimager.cue")));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}
