//! The UDF reader on fixtures changed in code: damaged descriptors (the reserve sequence and the
//! other anchors are used, or a corrupt error names the structure and its offset), directory
//! and allocation-extent loops, absurd extents; and structures no tool on this machine writes,
//! built from a fixture: a metadata partition (with its mirror), ICB strategy 4096 with an
//! indirect entry, a sparing table that moves a packet.

mod common;

use common::*;
use std::path::PathBuf;
use std::process::Output;

const BS: usize = 2048;

fn le16(b: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn le32(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
}

fn put16(b: &mut [u8], at: usize, v: usize) {
    b[at..at + 2].copy_from_slice(&(v as u16).to_le_bytes());
}

fn put32(b: &mut [u8], at: usize, v: usize) {
    b[at..at + 4].copy_from_slice(&(v as u32).to_le_bytes());
}

/// CRC-ITU-T as ECMA-167 1/7.2.6 defines it.
fn crc(data: &[u8]) -> u16 {
    let mut crc = 0u16;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Recomputes the CRC (over the length the tag gives) and the checksum of the tag at `at`.
fn seal(img: &mut [u8], at: usize) {
    let len = le16(img, at + 10);
    let c = crc(&img[at + 16..at + 16 + len]);
    img[at + 8..at + 10].copy_from_slice(&c.to_le_bytes());
    let sum = (0..16)
        .filter(|&i| i != 4)
        .fold(0u8, |a, i| a.wrapping_add(img[at + i]));
    img[at + 4] = sum;
}

/// Where things are in a 2048-byte-block image with one type 1 partition.
struct Layout {
    part_start: usize,
    part_len: usize,
    main_vds: usize,
    reserve_vds: usize,
    fsd: usize,
    root: usize,
}

impl Layout {
    fn of(img: &[u8]) -> Layout {
        let anchor = 256 * BS;
        assert_eq!(le16(img, anchor), 2, "anchor at sector 256");
        let main_vds = le32(img, anchor + 20);
        let reserve_vds = le32(img, anchor + 28);
        let (mut part_start, mut part_len, mut fsd) = (None, 0, None);
        for s in main_vds..main_vds + 16 {
            let b = &img[s * BS..];
            match le16(b, 0) {
                5 => (part_start, part_len) = (Some(le32(b, 188)), le32(b, 192)),
                6 => fsd = Some(le32(b, 252)),
                8 => break,
                _ => {}
            }
        }
        let part_start = part_start.expect("a partition descriptor");
        let fsd = fsd.expect("a logical volume descriptor");
        let fsd_at = (part_start + fsd) * BS;
        assert_eq!(le16(img, fsd_at), 256, "file set descriptor");
        Layout {
            part_start,
            part_len,
            main_vds,
            reserve_vds,
            fsd,
            root: le32(img, fsd_at + 404),
        }
    }

    /// Byte offset of partition block `b`.
    fn at(&self, b: usize) -> usize {
        (self.part_start + b) * BS
    }

    /// A partition block far from anything written (the fixtures are mostly empty).
    fn free(&self, img: &[u8], from_end: usize) -> usize {
        let b = self.part_len - from_end;
        assert!(img[self.at(b)..self.at(b) + BS].iter().all(|&x| x == 0));
        b
    }
}

/// The (extended) file entry at `at`: offset of its allocation descriptors and their length.
fn ad_area(img: &[u8], at: usize) -> (usize, usize) {
    let (l_ea_at, header) = if le16(img, at) == 266 {
        (208, 216)
    } else {
        (168, 176)
    };
    let l_ea = le32(img, at + l_ea_at);
    (at + header + l_ea, le32(img, at + l_ea_at + 4))
}

/// The file identifiers of the directory whose entry is at partition block `dir`: for each,
/// its offset, name bytes (after the compression id) and ICB block.
fn fids(img: &[u8], l: &Layout, dir: usize) -> Vec<(usize, Vec<u8>, usize)> {
    let fe = l.at(dir);
    let (area, l_ad) = ad_area(img, fe);
    let info_len = le32(img, fe + 56);
    let start = match le16(img, fe + 34) & 7 {
        3 => area,
        0 => l.at(le32(img, area + 4)),
        1 => l.at(le32(img, area + 4)),
        n => panic!("allocation descriptors of type {n}"),
    };
    assert!(l_ad > 0);
    let mut out = Vec::new();
    let mut pos = start;
    while pos < start + info_len {
        assert_eq!(le16(img, pos), 257, "file identifier at {pos}");
        let (l_fi, l_iu) = (usize::from(img[pos + 19]), le16(img, pos + 36));
        let name = if l_fi > 0 {
            img[pos + 38 + l_iu + 1..pos + 38 + l_iu + l_fi].to_vec()
        } else {
            Vec::new()
        };
        out.push((pos, name, le32(img, pos + 24)));
        pos += (38 + l_iu + l_fi).next_multiple_of(4);
    }
    out
}

/// The FID and ICB block of `name` in directory `dir`.
fn child(img: &[u8], l: &Layout, dir: usize, name: &str) -> (usize, usize) {
    fids(img, l, dir)
        .into_iter()
        .find(|(_, n, _)| n == name.as_bytes())
        .map(|(at, _, icb)| (at, icb))
        .unwrap_or_else(|| panic!("no {name}"))
}

/// Seals a changed file identifier, and the entry of its directory when the identifiers are
/// embedded in it.
fn seal_fid(img: &mut [u8], l: &Layout, dir: usize, fid: usize) {
    seal(img, fid);
    let fe = l.at(dir);
    if fid > fe && fid < fe + BS {
        seal(img, fe);
    }
}

fn fixture(name: &str) -> Option<(PathBuf, Vec<u8>)> {
    let dir = fixtures("udf")?;
    let data = std::fs::read(dir.join(name)).unwrap();
    Some((dir, data))
}

/// Writes `img` to a temporary file and runs diskimg with `args` then the file then `tail`.
fn run_on(img: &[u8], args: &[&str], tail: &[&str]) -> Output {
    let t = tempdir();
    let path = t.path().join("changed.img");
    std::fs::write(&path, img).unwrap();
    let out = run(diskimg().args(args).arg(&path).args(tail));
    drop(t);
    out
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn listing(img: &[u8]) -> Vec<String> {
    let out = run_on(img, &["ls", "-R", "--namespace", "udf"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn info(img: &[u8]) -> String {
    let out = run_on(img, &["info", "--json"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8(out.stdout).unwrap()
}

const HD: &str = "hd_2048_r0201_mkudffs.img";

#[test]
fn damaged_main_sequence_falls_back_to_the_reserve() {
    let Some((_, mut img)) = fixture(HD) else {
        return;
    };
    let whole = listing(&img);
    let l = Layout::of(&img);
    // Break the checksum of the first descriptor of the main sequence.
    img[l.main_vds * BS + 4] ^= 0xFF;
    assert!(info(&img).contains("the reserve sequence is used"));
    assert_eq!(listing(&img), whole);
    // And the reserve too: the volume cannot be opened; the error names the descriptor.
    img[l.reserve_vds * BS + 4] ^= 0xFF;
    let out = run_on(&img, &["ls", "--namespace", "udf"], &[]);
    assert!(!out.status.success());
    let msg = stderr(&out);
    assert!(
        msg.contains(&format!(
            "corrupt udf volume descriptor at byte {}",
            l.main_vds * BS
        )),
        "{msg}"
    );
}

#[test]
fn damaged_anchor_at_256_falls_back_to_the_end() {
    let Some((_, mut img)) = fixture(HD) else {
        return;
    };
    let whole = listing(&img);
    img[256 * BS + 20] ^= 0x01; // inside the CRC, not the checksum
    assert!(info(&img).contains("no valid anchor at sector 256"));
    assert_eq!(listing(&img), whole);
}

#[test]
fn damaged_file_entries_are_corrupt_with_their_offset() {
    let Some((_, img)) = fixture(HD) else { return };
    let l = Layout::of(&img);
    let (_, data) = child(&img, &l, l.root, "data");
    // A byte inside the CRC of the directory's entry.
    let mut bad = img.clone();
    bad[l.at(data) + 40] ^= 0x55;
    let out = run_on(&bad, &["ls", "--namespace", "udf"], &["/data"]);
    let msg = stderr(&out);
    assert!(!out.status.success());
    assert!(
        msg.contains(&format!("corrupt udf file entry at byte {}", l.at(data)))
            && msg.contains("CRC"),
        "{msg}"
    );
    // The tag says it lives in another block (checksum redone, so only the location is off).
    let mut moved = img.clone();
    let loc = le32(&moved, l.at(data) + 12);
    put32(&mut moved, l.at(data) + 12, loc + 1);
    seal(&mut moved, l.at(data));
    let out = run_on(&moved, &["ls", "--namespace", "udf"], &["/data"]);
    let msg = stderr(&out);
    assert!(msg.contains("tag says it is at block"), "{msg}");
}

#[test]
fn directory_loops_are_refused() {
    let Some((_, mut img)) = fixture(HD) else {
        return;
    };
    let l = Layout::of(&img);
    // The identifier of /data now names the root directory.
    let (fid, _) = child(&img, &l, l.root, "data");
    put32(&mut img, fid + 24, l.root);
    seal_fid(&mut img, &l, l.root, fid);
    let out = run_on(&img, &["ls", "-R", "--namespace", "udf"], &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("appears twice"), "{}", stderr(&out));
    let t = tempdir();
    let path = t.path().join("loop.img");
    std::fs::write(&path, &img).unwrap();
    let out = run(diskimg()
        .args(["extract", "--namespace", "udf", "-q", "-o"])
        .arg(t.path().join("out"))
        .arg(&path));
    assert!(!out.status.success(), "extract of a looping tree must fail");
}

#[test]
fn absurd_extents_are_errors() {
    let Some((_, img)) = fixture(HD) else { return };
    let l = Layout::of(&img);
    let (_, data) = child(&img, &l, l.root, "data");
    let (_, rand1) = child(&img, &l, data, "rand1.bin");
    let fe = l.at(rand1);
    let (area, l_ad) = ad_area(&img, fe);
    assert!(l_ad >= 8, "rand1.bin has allocation descriptors");
    let short = le16(&img, fe + 34) & 7 == 0;

    // An extent of 1 GiB far outside the partition.
    let mut far = img.clone();
    put32(&mut far, area, 0x3FFF_F800);
    put32(&mut far, area + 4, 0x7FFF_FFF0);
    far[fe + 56..fe + 64].copy_from_slice(&0x3FFF_F800u64.to_le_bytes());
    seal(&mut far, fe);
    let out = run_on(&far, &["cat", "--namespace", "udf"], &["/data/rand1.bin"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("outside partition"),
        "{}",
        stderr(&out)
    );

    // A size of 2^62 that the descriptors do not cover.
    let mut huge = img.clone();
    huge[fe + 56..fe + 64].copy_from_slice(&(1u64 << 62).to_le_bytes());
    seal(&mut huge, fe);
    let out = run_on(&huge, &["cat", "--namespace", "udf"], &["/data/rand1.bin"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("exceeds"), "{}", stderr(&out));

    // Allocation extents that lead back to themselves.
    let mut looped = img.clone();
    let z = l.free(&img, 100);
    let next = BS | (3 << 30);
    put32(&mut looped, area, next);
    if short {
        put32(&mut looped, area + 4, z);
    } else {
        put32(&mut looped, area + 4, z);
        put16(&mut looped, area + 8, 0);
    }
    seal(&mut looped, fe);
    let aed = l.at(z);
    looped[aed] = 2; // tag identifier 258
    looped[aed + 1] = 1;
    put16(&mut looped, aed + 2, 2);
    put32(&mut looped, aed + 12, z);
    let ad_len = if short { 8 } else { 16 };
    put32(&mut looped, aed + 20, ad_len);
    put32(&mut looped, aed + 24, next);
    put32(&mut looped, aed + 28, z);
    put16(&mut looped, aed + 10, 8 + ad_len);
    seal(&mut looped, aed);
    let out = run_on(
        &looped,
        &["cat", "--namespace", "udf"],
        &["/data/rand1.bin"],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("loop"), "{}", stderr(&out));
}

/// Writes a file entry for a metadata file (`kind` 250) or its mirror (251) at partition
/// block `at`, whose data is the given (block, length in blocks) runs.
fn metadata_file(img: &mut [u8], l: &Layout, at: usize, kind: u8, runs: &[(usize, usize)]) {
    let fe = l.at(at);
    img[fe..fe + BS].fill(0);
    put16(img, fe, 261);
    put16(img, fe + 2, 3);
    put32(img, fe + 12, at);
    put16(img, fe + 16 + 4, 4); // strategy 4
    img[fe + 16 + 11] = kind;
    put16(img, fe + 16 + 18, 0); // short allocation descriptors
    put32(img, fe + 36, u32::MAX as usize);
    put32(img, fe + 40, u32::MAX as usize);
    put16(img, fe + 48, 1);
    let total: usize = runs.iter().map(|r| r.1).sum();
    img[fe + 56..fe + 64].copy_from_slice(&((total * BS) as u64).to_le_bytes());
    put32(img, fe + 172, runs.len() * 8);
    for (i, (block, len)) in runs.iter().enumerate() {
        put32(img, fe + 176 + 8 * i, len * BS);
        put32(img, fe + 176 + 8 * i + 4, *block);
    }
    put16(img, fe + 10, 176 + runs.len() * 8 - 16);
    seal(img, fe);
}

#[test]
fn metadata_partition_and_its_mirror() {
    let Some((_, img)) = fixture(HD) else { return };
    let whole = listing(&img);
    let mut img = img;
    let l = Layout::of(&img);
    // Metadata block 0 is a copy of the file set descriptor at a free block P (recorded as
    // being at metadata block 0); blocks 1.. are the partition's blocks 0.. . The original
    // descriptor is erased, so only a reader that maps through the metadata file finds it.
    let (p, m, mirror) = (l.free(&img, 20), l.free(&img, 30), l.free(&img, 40));
    let fsd: Vec<u8> = img[l.at(l.fsd)..l.at(l.fsd) + BS].to_vec();
    img[l.at(p)..l.at(p) + BS].copy_from_slice(&fsd);
    put32(&mut img, l.at(p) + 12, 0);
    seal(&mut img, l.at(p));
    img[l.at(l.fsd)..l.at(l.fsd) + BS].fill(0);
    let runs = [(p, 1), (0, l.part_len - 100)];
    metadata_file(&mut img, &l, m, 250, &runs);
    metadata_file(&mut img, &l, mirror, 251, &runs);
    for vds in [l.main_vds, l.reserve_vds] {
        let lvd = (vds..vds + 16)
            .map(|s| s * BS)
            .find(|&at| le16(&img, at) == 6)
            .unwrap();
        assert_eq!(le32(&img, lvd + 268), 1, "one partition map");
        put32(&mut img, lvd + 264, 70);
        put32(&mut img, lvd + 268, 2);
        let map = lvd + 440 + 6;
        img[map..map + 64].fill(0);
        img[map] = 2;
        img[map + 1] = 64;
        img[map + 5..map + 5 + 23].fill(0);
        img[map + 5..map + 5 + 23][..23].copy_from_slice(b"*UDF Metadata Partition");
        put16(&mut img, map + 4 + 24, 0x0250);
        put16(&mut img, map + 36, 1);
        let number = le16(&img, lvd + 440 + 4);
        put16(&mut img, map + 38, number);
        put32(&mut img, map + 40, m);
        put32(&mut img, map + 44, mirror);
        put32(&mut img, map + 48, u32::MAX as usize);
        put32(&mut img, map + 52, 32);
        put16(&mut img, map + 56, 1);
        // The file set descriptor is metadata block 0 (partition reference 1).
        put32(&mut img, lvd + 252, 0);
        put16(&mut img, lvd + 256, 1);
        put16(&mut img, lvd + 10, 440 + 70 - 16);
        seal(&mut img, lvd);
    }
    let report: serde_json::Value = serde_json::from_str(&info(&img)).unwrap();
    let udf = report["file_systems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["type"] == "udf")
        .unwrap();
    assert_eq!(
        udf["details"]["partition_maps"],
        serde_json::json!(["type1", "metadata"])
    );
    assert_eq!(listing(&img), whole);
    // A damaged metadata file: the mirror is used, and said so.
    img[l.at(m) + 4] ^= 0xFF;
    assert!(info(&img).contains("its mirror is used"));
    assert_eq!(listing(&img), whole);
    // Both damaged: the volume cannot be read.
    img[l.at(mirror) + 4] ^= 0xFF;
    let out = run_on(&img, &["ls", "--namespace", "udf"], &[]);
    assert!(!out.status.success());
}

#[test]
fn strategy_4096_follows_the_indirect_entry() {
    let Some((_, mut img)) = fixture(HD) else {
        return;
    };
    let l = Layout::of(&img);
    let (fid, readme) = child(&img, &l, l.root, "README.TXT");
    let original: Vec<u8> = img[l.at(readme)..l.at(readme) + BS].to_vec();
    // F: the first entry of a strategy 4096 ICB; F+1: an indirect entry to G, a newer entry
    // that records only 5 bytes of the file.
    let f = l.free(&img, 60);
    let g = l.free(&img, 70);
    for (at, len) in [(f, None), (g, Some(5u64))] {
        let o = l.at(at);
        img[o..o + BS].copy_from_slice(&original);
        put16(&mut img, o + 16 + 4, 4096);
        put16(&mut img, o + 16 + 8, 2);
        put32(&mut img, o + 12, at);
        if let Some(n) = len {
            img[o + 56..o + 64].copy_from_slice(&n.to_le_bytes());
        }
        seal(&mut img, o);
    }
    let ie = l.at(f + 1);
    assert!(img[ie..ie + BS].iter().all(|&x| x == 0));
    put16(&mut img, ie, 259);
    put16(&mut img, ie + 2, 3);
    put32(&mut img, ie + 12, f + 1);
    put16(&mut img, ie + 16 + 4, 4096);
    img[ie + 16 + 11] = 3; // indirect entry
    put32(&mut img, ie + 36, BS);
    put32(&mut img, ie + 40, g);
    put16(&mut img, ie + 10, 52 - 16);
    seal(&mut img, ie);
    put32(&mut img, fid + 24, f);
    seal_fid(&mut img, &l, l.root, fid);
    let out = run_on(&img, &["cat", "--namespace", "udf"], &["/README.TXT"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(out.stdout, b"Hello");
    // An indirect entry that points back to the first: a loop, refused.
    put32(&mut img, ie + 40, f);
    seal(&mut img, ie);
    let out = run_on(&img, &["cat", "--namespace", "udf"], &["/README.TXT"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("loop"), "{}", stderr(&out));
}

#[test]
fn sparing_table_moves_a_packet() {
    let Some((dir, mut img)) = fixture("cdrw_sparable_mkudffs.img") else {
        return;
    };
    let want = std::fs::read(dir.join("trees/full/data/rand1.bin")).unwrap();
    let anchor = 256 * BS;
    let main_vds = le32(&img, anchor + 20);
    let (mut start, mut map) = (0, None);
    for s in main_vds..main_vds + 16 {
        match le16(&img, s * BS) {
            5 => start = le32(&img, s * BS + 188),
            6 => map = Some(s * BS + 440),
            _ => {}
        }
    }
    let map = map.unwrap();
    assert_eq!(&img[map + 5..map + 28], b"*UDF Sparable Partition");
    let packet = le16(&img, map + 40);
    let tables: Vec<usize> = (0..usize::from(img[map + 42]))
        .map(|i| le32(&img, map + 48 + 4 * i))
        .collect();
    // Where the data of /data/rand1.bin starts, found by its first bytes.
    let needle = &want[..64];
    let data_at = (start * BS..img.len())
        .step_by(BS)
        .find(|&o| &img[o..o + 64] == needle)
        .expect("rand1.bin's first block");
    let block = data_at / BS - start;
    let first = block - block % packet;
    // Move that packet to the first spare location of the table, and wipe the original.
    let t0 = tables[0] * BS;
    let entries = le16(&img, t0 + 48);
    let slot = (0..entries)
        .find(|&i| le32(&img, t0 + 56 + 8 * i) == u32::MAX as usize)
        .expect("a free sparing entry");
    let spare = le32(&img, t0 + 60 + 8 * slot);
    let (from, to) = ((start + first) * BS, spare * BS);
    let bytes: Vec<u8> = img[from..from + packet * BS].to_vec();
    img[to..to + packet * BS].copy_from_slice(&bytes);
    img[from..from + packet * BS].fill(0);
    for &t in &tables {
        put32(&mut img, t * BS + 56 + 8 * slot, first);
        seal(&mut img, t * BS);
    }
    let out = run_on(&img, &["cat", "--namespace", "udf"], &["/data/rand1.bin"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        out.stdout == want,
        "rand1.bin read through the sparing table"
    );
}

#[test]
fn unrecorded_extents_read_as_zeros() {
    let Some((_, mut img)) = fixture(HD) else {
        return;
    };
    let l = Layout::of(&img);
    let (_, data) = child(&img, &l, l.root, "data");
    let (_, big) = child(&img, &l, data, "big.bin");
    let fe = l.at(big);
    let (area, _) = ad_area(&img, fe);
    // The first extent becomes "allocated but not recorded" (type 1).
    let first = le32(&img, area);
    let len = first & 0x3FFF_FFFF;
    put32(&mut img, area, len | (1 << 30));
    seal(&mut img, fe);
    let out = run_on(&img, &["cat", "--namespace", "udf"], &["/data/big.bin"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(out.stdout.len(), 3 * 1024 * 1024 + 123);
    assert!(out.stdout[..len].iter().all(|&b| b == 0));
    assert!(out.stdout[len..].iter().any(|&b| b != 0) || len == out.stdout.len());
}
