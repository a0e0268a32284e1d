//! Damaged and hostile ISO images, made by changing fixtures in code (each test says what it
//! changes): every one must end in a clear error or a warning, never a panic or a hang.

use diskimg::fs::FileSystemExt;
use diskimg::io::MemorySource;
use diskimg::ops::exercise::exercise;
use diskimg::ops::extract::{ExtractOptions, NoProgress, extract};
use diskimg::ops::list::list;
use diskimg::{ErrorKind, Image, Selection};
use std::path::PathBuf;
use std::sync::Arc;

fn fixture(name: &str) -> Option<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/out/iso");
    if !dir.join(".done").exists() {
        assert!(
            std::env::var("DISKIMG_REQUIRE_FIXTURES").as_deref() != Ok("1"),
            "fixtures missing: run tests/fixtures/make-fixtures.sh iso"
        );
        eprintln!("skipped: fixtures missing (tests/fixtures/make-fixtures.sh iso)");
        return None;
    }
    Some(std::fs::read(dir.join(name)).unwrap())
}

fn open(data: Vec<u8>) -> Image {
    Image::from_device(Arc::new(MemorySource::new(data)), "test.iso").unwrap()
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// Writes a both-endian 32-bit field.
fn put733(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    b[at + 4..at + 8].copy_from_slice(&v.to_be_bytes());
}

/// Sector of the root directory named by the primary volume descriptor.
fn root_lba(iso: &[u8]) -> usize {
    le32(iso, 16 * 2048 + 156 + 2) as usize
}

/// Byte offset of the record named `name` (ISO 9660 identifier) in the directory at `lba`.
fn record(iso: &[u8], lba: usize, name: &[u8]) -> usize {
    let mut at = lba * 2048;
    loop {
        let len = iso[at] as usize;
        assert!(
            len > 0,
            "record {:?} not found",
            String::from_utf8_lossy(name)
        );
        let n = iso[at + 32] as usize;
        if &iso[at + 33..at + 33 + n] == name {
            return at;
        }
        at += len;
    }
}

#[test]
fn every_truncation_is_handled() {
    for name in [
        "l1_genisoimage.iso",
        "rr_joliet_xorriso.iso",
        "eltorito_efi_gpt_xorriso.iso",
    ] {
        let Some(iso) = fixture(name) else { return };
        let mut cuts: Vec<usize> = (0..80).map(|i| i * 2048 + 7).collect();
        cuts.extend([iso.len() / 3, iso.len() / 2, iso.len() - 1]);
        for cut in cuts.into_iter().filter(|&c| c <= iso.len()) {
            exercise(Arc::new(MemorySource::new(iso[..cut].to_vec())));
        }
    }
}

#[test]
fn a_directory_that_contains_its_ancestor_is_a_loop_not_a_hang() {
    let Some(mut iso) = fixture("l1_genisoimage.iso") else {
        return;
    };
    // Point the root's DATA entry at the root directory's own extent.
    let root = root_lba(&iso);
    let data = record(&iso, root, b"DATA");
    put733(&mut iso, data + 2, root as u32);
    let image = open(iso);
    let fs = image.select(&Selection::default()).unwrap();
    let err = fs
        .walk(fs.root(), "/")
        .find_map(Result::err)
        .expect("the loop is reported");
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert_eq!(
        list(fs.as_ref(), "/", true).unwrap_err().kind(),
        ErrorKind::Corrupt
    );
    let t = tempfile::tempdir().unwrap();
    let r = extract(
        fs.as_ref(),
        &["/".into()],
        t.path(),
        &ExtractOptions::default(),
        &NoProgress,
    );
    assert!(r.is_err());
}

#[test]
fn an_absurd_directory_size_is_refused_before_reading() {
    let Some(mut iso) = fixture("l1_genisoimage.iso") else {
        return;
    };
    let data = record(&iso, root_lba(&iso), b"DATA");
    put733(&mut iso, data + 10, 0xFFFF_F800);
    let image = open(iso);
    let fs = image.select(&Selection::default()).unwrap();
    let node = fs.resolve("/DATA").unwrap();
    let err = fs.read_dir(node).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LimitExceeded, "{err}");
    assert!(err.to_string().contains("iso9660"), "{err}");
}

#[test]
fn a_file_past_the_end_fails_alone() {
    let Some(mut iso) = fixture("l1_genisoimage.iso") else {
        return;
    };
    let data_dir = le32(&iso, record(&iso, root_lba(&iso), b"DATA") + 2) as usize;
    let rand = record(&iso, data_dir, b"RAND1.BIN;1");
    put733(&mut iso, rand + 2, 0x7FFF_0000);
    let image = open(iso);
    let fs = image.select(&Selection::default()).unwrap();
    let node = fs.resolve("/DATA/RAND1.BIN").unwrap();
    let mut buf = [0u8; 16];
    let err = fs.read_at(node, 0, &mut buf).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::OutOfBounds, "{err}");
    assert!(fs.resolve("/README.TXT").is_ok());
}

#[test]
fn continuation_areas_that_point_at_themselves_hit_the_limit() {
    let Some(mut iso) = fixture("rr_joliet_xorriso.iso") else {
        return;
    };
    // xorriso keeps the root's ER entry in a continuation area named by a CE entry in the
    // root's "." record: make that area start with a CE entry pointing at itself.
    let root = root_lba(&iso) * 2048;
    let dot_len = iso[root] as usize;
    let ce = (root..root + dot_len)
        .find(|&i| &iso[i..i + 2] == b"CE" && iso[i + 2] == 28)
        .expect("the root carries a CE entry");
    let (block, offset) = (le32(&iso, ce + 4) as usize, le32(&iso, ce + 12) as usize);
    let area = block * 2048 + offset;
    let copy: Vec<u8> = iso[ce..ce + 28].to_vec();
    iso[area..area + 28].copy_from_slice(&copy);
    let image = open(iso);
    // Rock Ridge cannot be read any more; the other views still can, and the reason is given.
    let kinds: Vec<&str> = image.root.file_systems.iter().map(|f| f.kind).collect();
    assert!(!kinds.contains(&"rockridge"), "{kinds:?}");
    assert!(kinds.contains(&"joliet"));
    let warnings = image.root.warnings.join("\n");
    assert!(warnings.contains("continuation"), "{warnings}");
}

#[test]
fn a_damaged_boot_catalog_is_a_warning() {
    let Some(mut iso) = fixture("eltorito_isohybrid_xorriso.iso") else {
        return;
    };
    let boot_record = (16..32)
        .find(|&s| {
            iso[s * 2048] == 0 && &iso[s * 2048 + 7..s * 2048 + 30] == b"EL TORITO SPECIFICATION"
        })
        .unwrap();
    let catalog = le32(&iso, boot_record * 2048 + 0x47) as usize * 2048;
    iso[catalog + 28] ^= 0xFF; // break the validation entry checksum
    let image = open(iso);
    assert!(image.root.boot.is_none());
    assert!(
        image.root.warnings.iter().any(|w| w.contains("El Torito")),
        "{:?}",
        image.root.warnings
    );
    assert!(image.select(&Selection::default()).is_ok());
}

/// Recomputes the CRC32 of the GPT header at `at`.
fn fix_gpt_crc(b: &mut [u8], at: usize) {
    let size = le32(b, at + 12) as usize;
    b[at + 16..at + 20].fill(0);
    let crc = crc32fast::hash(&b[at..at + size]);
    b[at + 16..at + 20].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn gpt_falls_back_to_the_backup_and_refuses_absurd_counts() {
    let Some(iso) = fixture("eltorito_efi_gpt_xorriso.iso") else {
        return;
    };
    let parts = |img: &Image| -> Vec<(u64, u64)> {
        img.root.partitions.as_ref().map_or_else(Vec::new, |p| {
            p.table
                .partitions()
                .iter()
                .map(|x| (x.start, x.length))
                .collect()
        })
    };
    let good = parts(&open(iso.clone()));
    assert_eq!(good.len(), 2);

    let mut damaged = iso.clone();
    damaged[512 + 8] ^= 0xFF; // break the primary header (its CRC no longer matches)
    let img = open(damaged);
    assert_eq!(parts(&img), good);
    let w = img
        .root
        .partitions
        .as_ref()
        .unwrap()
        .table
        .warnings()
        .join("\n");
    assert!(w.contains("using the backup"), "{w}");

    let mut huge = iso;
    huge[512 + 80..512 + 84].copy_from_slice(&u32::MAX.to_le_bytes());
    fix_gpt_crc(&mut huge, 512);
    let last = huge.len() - 512;
    huge[last + 80..last + 84].copy_from_slice(&u32::MAX.to_le_bytes());
    fix_gpt_crc(&mut huge, last);
    let img = open(huge);
    assert!(
        img.root
            .partitions
            .as_ref()
            .is_none_or(|p| p.table.scheme() == "mbr")
    );
    let failures: Vec<String> = img.root.failures.iter().map(ToString::to_string).collect();
    assert!(failures.iter().any(|f| f.contains("limit")), "{failures:?}");
    assert!(
        img.select(&Selection::default()).is_ok(),
        "the ISO is still read"
    );
}

#[test]
fn overlapping_multi_extent_parts_are_refused() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/public/libcdio/multi_extent_8k.iso");
    let Ok(mut iso) = std::fs::read(&path) else {
        eprintln!("skipped: {} absent", path.display());
        return;
    };
    // The file's records follow each other in the root: give the second the first's extent.
    let root = root_lba(&iso) * 2048;
    let mut at = root;
    let mut extents = Vec::new();
    while iso[at] != 0 {
        if iso[at + 25] & 0x80 != 0 || (!extents.is_empty() && extents.len() < 2) {
            extents.push(at);
        }
        at += iso[at] as usize;
    }
    assert!(extents.len() >= 2, "no multi-extent file found");
    let first = le32(&iso, extents[0] + 2);
    put733(&mut iso, extents[1] + 2, first);
    let image = open(iso);
    let fs = image.select(&Selection::default()).unwrap();
    let entries = fs.read_dir(fs.root()).unwrap();
    let file = entries
        .iter()
        .find(|e| e.file_type == diskimg::fs::FileType::File)
        .unwrap();
    let err = fs.metadata(file.node).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert!(err.to_string().contains("overlap"), "{err}");
}
