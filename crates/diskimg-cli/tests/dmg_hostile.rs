//! Damaged and hostile DMGs: every damage is made here from an image our writer produced
//! (the trailer, the property list, the blkx tables, the chunks, the data fork), and each must
//! give an error (or a verify mismatch), never a panic, a hang or an attacker-sized allocation.

use diskimg::ErrorKind;
use diskimg::container::OpenContext;
use diskimg::container::dmg::koly::KolyTrailer;
use diskimg::container::dmg::mish::{BlkxTable, ChunkKind};
use diskimg::container::dmg::plist::{self, Value};
use diskimg::container::dmg::verify::{CheckStatus, verify};
use diskimg::container::dmg::writer::{UdifSettings, UdifWriter};
use diskimg::container::dmg::{Dmg, codec::Compression};
use diskimg::device::DeviceRef;
use diskimg::io::{MemorySink, MemorySource, ReadAt};
use diskimg::ops::convert::{NoProgress, write_image};
use std::sync::Arc;

/// A 3 MiB disk: text, random bytes, a zero MiB; as a UDZO image.
fn image() -> (Vec<u8>, Vec<u8>) {
    let mut disk = Vec::new();
    for i in 0..60_000u32 {
        disk.extend_from_slice(format!("line {i}\n").as_bytes());
    }
    disk.resize(1 << 20, b'x');
    let mut x = 12345u32;
    for _ in 0..(1 << 20) {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        disk.push((x >> 16) as u8);
    }
    disk.resize(3 << 20, 0);
    let sink = Arc::new(MemorySink::new());
    let w = UdifWriter::new(
        sink.clone(),
        disk.len() as u64,
        UdifSettings {
            compression: Compression::Zlib,
            level: 1,
            per_partition: true,
        },
    )
    .unwrap();
    let src: DeviceRef = Arc::new(MemorySource::new(disk.clone()));
    write_image(&src, Box::new(w), None, 2, &NoProgress).unwrap();
    (disk, sink.to_vec())
}

fn open(bytes: Vec<u8>) -> diskimg::Result<Dmg> {
    Dmg::open(Arc::new(MemorySource::new(bytes)), &OpenContext::default())
}

/// The image with its trailer changed by `f`.
fn with_koly(img: &[u8], f: impl Fn(&mut KolyTrailer)) -> Vec<u8> {
    let n = img.len() - 512;
    let mut k = KolyTrailer::parse(&img[n..], n as u64).unwrap();
    f(&mut k);
    let mut out = img[..n].to_vec();
    out.extend_from_slice(&k.to_bytes());
    out
}

/// The image with its first blkx table changed by `f` (plist and trailer rewritten).
fn with_table(img: &[u8], f: impl Fn(&mut BlkxTable)) -> Vec<u8> {
    let n = img.len() - 512;
    let k = KolyTrailer::parse(&img[n..], n as u64).unwrap();
    let xml = &img[k.xml_offset as usize..(k.xml_offset + k.xml_length) as usize];
    let mut doc = plist::parse(xml).unwrap();
    let Value::Dict(top) = &mut doc else { panic!() };
    let Value::Dict(rf) = &mut top[0].1 else {
        panic!()
    };
    let Value::Array(blkx) = &mut rf[0].1 else {
        panic!()
    };
    let Value::Dict(entry) = &mut blkx[0] else {
        panic!()
    };
    for (key, v) in entry.iter_mut() {
        if key == "Data" {
            let Value::Data(d) = v else { panic!() };
            let mut t = BlkxTable::parse(d, 0).unwrap();
            f(&mut t);
            *d = t.to_bytes();
        }
    }
    let text = plist::write(&doc);
    let mut out = img[..k.xml_offset as usize].to_vec();
    out.extend_from_slice(text.as_bytes());
    let mut k2 = k.clone();
    k2.xml_length = text.len() as u64;
    out.extend_from_slice(&k2.to_bytes());
    out
}

#[test]
fn the_undamaged_image_reads_and_verifies() {
    let (disk, img) = image();
    let d = open(img.clone()).unwrap();
    let mut back = vec![0u8; disk.len()];
    diskimg::container::Container::device(&d)
        .read_exact_at(0, &mut back)
        .unwrap();
    assert!(back == disk);
    let r = verify(Arc::new(MemorySource::new(img)), &OpenContext::default()).unwrap();
    assert!(r.ok, "{:?}", r.checks);
}

#[test]
fn damaged_trailers_are_errors() {
    let (_, img) = image();
    let mut bad = img.clone();
    let n = bad.len() - 512;
    bad[n] = b'K';
    assert_eq!(open(bad).err().unwrap().kind(), ErrorKind::Corrupt);
    let cases: Vec<(&str, Vec<u8>, ErrorKind)> = vec![
        (
            "xml past the end",
            with_koly(&img, |k| k.xml_offset = 1 << 40),
            ErrorKind::OutOfBounds,
        ),
        (
            "huge xml",
            with_koly(&img, |k| k.xml_length = u64::MAX / 2),
            ErrorKind::LimitExceeded,
        ),
        (
            "xml cut",
            with_koly(&img, |k| k.xml_length -= 100),
            ErrorKind::Corrupt,
        ),
        (
            "huge disk",
            with_koly(&img, |k| k.sector_count = u64::MAX),
            ErrorKind::LimitExceeded,
        ),
        (
            "small disk",
            with_koly(&img, |k| k.sector_count = 8),
            ErrorKind::Corrupt,
        ),
        (
            "fork past the end",
            with_koly(&img, |k| k.data_fork_length = 1 << 40),
            ErrorKind::Corrupt,
        ),
        (
            "no metadata",
            with_koly(&img, |k| k.xml_length = 0),
            ErrorKind::Unsupported,
        ),
        (
            "segments without a path",
            with_koly(&img, |k| k.segment_count = 3),
            ErrorKind::Unsupported,
        ),
        (
            "many segments",
            with_koly(&img, |k| k.segment_count = 100_000),
            ErrorKind::LimitExceeded,
        ),
    ];
    for (what, bytes, kind) in cases {
        let e = open(bytes)
            .err()
            .unwrap_or_else(|| panic!("{what}: opened"));
        assert_eq!(e.kind(), kind, "{what}: {e}");
    }
}

#[test]
fn damaged_tables_are_errors() {
    let (_, img) = image();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "chunk past the fork",
            with_table(&img, |t| t.chunks[0].offset = 1 << 40),
        ),
        (
            "chunk outside its table",
            with_table(&img, |t| t.chunks[0].sector_count = t.sector_count + 1),
        ),
        ("overlap", with_table(&img, |t| t.first_sector += 1)),
        (
            "huge chunk",
            with_table(&img, |t| t.chunks[0].sector_count = 1 << 40),
        ),
        (
            "raw chunk of the wrong length",
            with_table(&img, |t| {
                t.chunks[0].kind = ChunkKind::Raw;
            }),
        ),
    ];
    for (what, bytes) in cases {
        assert!(open(bytes).is_err(), "{what}: opened");
    }
}

#[test]
fn damaged_chunks_fail_reads_and_verify_finds_flipped_bytes() {
    let (disk, img) = image();
    let d = open(img.clone()).unwrap();
    let runs = d.udif_device().runs().to_vec();
    let zlib = runs.iter().find(|r| r.kind == ChunkKind::Zlib).unwrap();
    // Garbage in a compressed chunk: the read of its sectors is a corrupt error.
    let mut bad = img.clone();
    for b in &mut bad[zlib.src as usize..(zlib.src + zlib.src_len.min(64)) as usize] {
        *b ^= 0x5a;
    }
    let dev = diskimg::container::Container::device(&open(bad.clone()).unwrap());
    let mut buf = vec![0u8; 4096];
    let e = dev.read_exact_at(zlib.start, &mut buf).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    // Everything else still reads.
    let other = runs
        .iter()
        .find(|r| r.start != zlib.start && r.kind != ChunkKind::Ignore);
    if let Some(o) = other {
        dev.read_exact_at(o.start, &mut buf).unwrap();
        assert!(buf == disk[o.start as usize..o.start as usize + 4096]);
    }
    // One flipped byte in a raw chunk: the data and table checksums say so.
    let raw = runs.iter().find(|r| r.kind == ChunkKind::Raw);
    if let Some(r) = raw {
        let mut flipped = img.clone();
        flipped[(r.src + 1000) as usize] ^= 1;
        let rep = verify(
            Arc::new(MemorySource::new(flipped)),
            &OpenContext::default(),
        )
        .unwrap();
        assert!(!rep.ok);
        let bad: Vec<_> = rep
            .checks
            .iter()
            .filter(|c| c.status == CheckStatus::Mismatch)
            .map(|c| c.record.as_str())
            .collect();
        assert!(bad.contains(&"data fork"), "{bad:?}");
        assert!(bad.iter().any(|n| n.starts_with("blkx")), "{bad:?}");
    }
}

#[test]
fn truncated_images_are_errors() {
    let (_, img) = image();
    for cut in [0, 100, 511, img.len() / 2, img.len() - 1] {
        assert!(open(img[..cut].to_vec()).is_err(), "cut at {cut}");
    }
}
