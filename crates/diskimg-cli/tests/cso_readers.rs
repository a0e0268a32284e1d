//! The CSO/ZSO/DAX reader against maxcso: every image maxcso writes (tests/fixtures/make-cso.sh:
//! CSO v1 at three settings, CSO v2 with deflate and LZ4 blocks, ZSO at two block sizes, DAX)
//! reads back byte for byte as the ISO it was made from, and its file system lists and
//! extracts as the source tree.

mod common;
mod cso_support;

use common::*;
use cso_support::*;

#[test]
fn reads_equal_the_source_iso() {
    let Some(dir) = setup() else { return };
    let iso = dir.join("data.iso");
    let t = tempdir();
    for (name, _, _) in MAXCSO_IMAGES {
        // Through the disc path (an ISO output) and through the image pipeline (raw output).
        let out_iso = t.path().join("out.iso");
        ok(diskimg()
            .args(["convert", "-q", "--overwrite"])
            .arg(dir.join(name))
            .arg(&out_iso));
        assert!(same_file(&out_iso, &iso), "{name}: ISO output differs");
        let out_raw = t.path().join("out.img");
        ok(diskimg()
            .args(["convert", "-q", "--overwrite", "-O", "raw"])
            .arg(dir.join(name))
            .arg(&out_raw));
        assert!(same_file(&out_raw, &iso), "{name}: raw output differs");
    }
}

#[test]
fn info_reports_the_container() {
    let Some(dir) = setup() else { return };
    let size = std::fs::metadata(dir.join("data.iso")).unwrap().len();
    for (name, format, block) in MAXCSO_IMAGES {
        let v = info(&dir.join(name));
        let c = &v["containers"][0];
        assert_eq!(c["format"], *format, "{name}");
        let d = &c["details"];
        assert_eq!(d["virtual_size"], size, "{name}");
        assert_eq!(d["block_size"], *block, "{name}");
        let counted = d["blocks_stored"].as_u64().unwrap()
            + d["blocks_deflate"].as_u64().unwrap()
            + d["blocks_lz4"].as_u64().unwrap();
        assert_eq!(counted, d["blocks"].as_u64().unwrap(), "{name}");
    }
    // maxcso's CSO v2 with an LZ4 allowance mixes in LZ4 blocks; ZSO is all LZ4.
    let v = info(&dir.join("cso2_lz4.cso"));
    assert_eq!(v["containers"][0]["details"]["version"], 2);
    assert!(
        v["containers"][0]["details"]["blocks_lz4"]
            .as_u64()
            .unwrap()
            > 0
    );
}

#[test]
fn ls_cat_and_extract_through_the_container() {
    let Some(dir) = setup() else { return };
    let words = std::fs::read(dir.join("tree/docs/words.txt")).unwrap();
    for (name, _, _) in MAXCSO_IMAGES {
        let img = dir.join(name);
        let listing = String::from_utf8(ok(diskimg().arg("ls").arg(&img).arg("/data"))).unwrap();
        for f in ["mixed.bin", "random.bin", "zeros.bin"] {
            assert!(
                listing.contains(f),
                "{name}: ls /data lacks {f}:\n{listing}"
            );
        }
        let cat = ok(diskimg().arg("cat").arg(&img).arg("/docs/words.txt"));
        assert!(cat == words, "{name}: cat differs");
        let out = tempdir();
        ok(diskimg()
            .args(["extract", "-q"])
            .arg(&img)
            .arg("-o")
            .arg(out.path()));
        assert_same_tree(out.path(), &dir.join("tree"), Compare::default(), name);
    }
}

/// Samples of the third-party corpus (/work/corpus-out, made by maxcso from another ISO), when
/// present: each reads back as the ISO whose SHA-256 the MANIFEST records.
#[test]
fn corpus_samples_match_their_manifest() {
    let corpus = std::path::Path::new("/work/corpus-out");
    let Ok(manifest) = std::fs::read_to_string(corpus.join("MANIFEST")) else {
        eprintln!("skipped: no corpus");
        return;
    };
    let t = tempdir();
    let mut seen = 0;
    for line in manifest.lines().filter(|l| l.starts_with("ciso_")) {
        let name = line.split('\t').next().unwrap();
        let Some(sha) = line
            .split(';')
            .find_map(|kv| kv.strip_prefix("iso_sha256="))
        else {
            continue;
        };
        let img = corpus.join(name);
        if !img.exists() {
            continue;
        }
        let out = t.path().join("out.iso");
        ok(diskimg()
            .args(["convert", "-q", "--overwrite"])
            .arg(&img)
            .arg(&out));
        assert_eq!(sha256_file(&out), sha, "{name}");
        seen += 1;
    }
    eprintln!("corpus: {seen} compressed ISOs checked");
}
