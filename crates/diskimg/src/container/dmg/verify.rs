//! Integrity checks of a UDIF image, as `hdiutil verify` makes them: the CRC-32 of the data
//! fork as stored (per segment in a segmented image), the CRC-32 of every blkx table's stored
//! sectors once decompressed (zero and ignore chunks are not part of it), and the master
//! CRC-32 (of the tables' checksums, in the property list's order).
//!
//! [`verify`] returns a [`VerifyReport`] that a per-format integrity registry (`diskimg
//! verify`) can show as it is: one [`ChecksumResult`] per checksum record, naming the record,
//! its algorithm, the recorded and computed values, the outcome (`ok`, `mismatch`, or `skipped`
//! for a checksum type other than CRC-32) and where the checked bytes start in the file. A
//! record of type 0 (none) is not listed. A chunk that cannot be decompressed is an error, not
//! a mismatch. Chunks decompress on every core; memory is bounded by the chunk limit, whatever
//! the image's size (raw chunks are read in steps).

use super::device::UdifDevice;
use super::koly::{KOLY_LEN, UdifChecksum};
use super::mish::ChunkKind;
use super::udif::{BlkxEntry, SECTOR, UdifImage};
use super::{Dmg, FORMAT};
use crate::container::OpenContext;
use crate::device::DeviceRef;
use crate::error::{Error, ErrorKind, Result};
use crate::io::{ReadAt, Slice, clamp_len};
use serde::Serialize;

/// Bytes of the data fork (or of a raw chunk) read at a time.
const READ_STEP: usize = 8 << 20;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// The value matches.
    Ok,
    /// The value differs: the image is damaged.
    Mismatch,
    /// A checksum type that is not computed (MD5, SHA variants): nothing compared.
    Skipped,
}

/// One checksum record compared.
#[derive(Debug, Clone, Serialize)]
pub struct ChecksumResult {
    /// Which record: `data fork`, `data fork of segment 2`, `blkx 'disk image (Apple_HFS :
    /// 4)'`, `master`.
    pub record: String,
    /// The algorithm: `crc32`, or `type N (B bits)` for one that is not computed.
    pub algorithm: String,
    /// The recorded value, in hexadecimal.
    pub expected: String,
    /// The computed value, in hexadecimal (`None` when skipped).
    pub actual: Option<String>,
    /// The outcome.
    pub status: CheckStatus,
    /// Where the checked bytes start in the image file: the data fork's offset, a table's
    /// first stored chunk (counted across the joined data forks of a segmented image), or the
    /// koly trailer that holds the master checksum.
    pub offset: u64,
}

impl ChecksumResult {
    /// Whether the record did not fail (matched, or skipped).
    pub fn passed(&self) -> bool {
        self.status != CheckStatus::Mismatch
    }
}

/// What [`verify`] found.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// The format checked.
    pub format: &'static str,
    /// No check failed.
    pub ok: bool,
    /// Every record checked, in the image's order: data fork, tables, master.
    pub checks: Vec<ChecksumResult>,
}

fn check(record: String, recorded: &UdifChecksum, offset: u64, computed: u32) -> ChecksumResult {
    let (algorithm, expected, actual, status) = match recorded.as_crc32() {
        Some(v) => (
            "crc32".to_owned(),
            format!("{v:08x}"),
            Some(format!("{computed:08x}")),
            if v == computed {
                CheckStatus::Ok
            } else {
                CheckStatus::Mismatch
            },
        ),
        None => {
            let n = (recorded.bits as usize / 8).min(recorded.data.len());
            let hex: String = recorded.data[..n]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            (recorded.describe(), hex, None, CheckStatus::Skipped)
        }
    };
    ChecksumResult {
        record,
        algorithm,
        expected,
        actual,
        status,
        offset,
    }
}

/// Checks every checksum of the UDIF image whose (first segment's) bytes are `file`;
/// `ctx.path` finds the other segments of a segmented image.
pub fn verify(file: DeviceRef, ctx: &OpenContext) -> Result<VerifyReport> {
    let trailer_at = file.size().saturating_sub(KOLY_LEN as u64);
    let dmg = Dmg::open(file, ctx)?;
    verify_checksums(dmg.image(), dmg.udif_device(), trailer_at)
}

/// Checks an opened image (the master checksum's offset given as 0).
pub fn verify_opened(image: &UdifImage, dev: &UdifDevice) -> Result<VerifyReport> {
    verify_checksums(image, dev, 0)
}

fn verify_checksums(image: &UdifImage, dev: &UdifDevice, trailer_at: u64) -> Result<VerifyReport> {
    let mut checks = Vec::new();
    let k = &image.koly;
    let fork = dev.fork();
    if image.segments.len() <= 1 {
        if k.data_checksum.kind != 0 {
            let crc = crc_of(fork.as_ref(), 0, fork.size())?;
            checks.push(check(
                "data fork".to_owned(),
                &k.data_checksum,
                k.data_fork_offset,
                crc,
            ));
        }
    } else {
        // Each segment's trailer checks its own data fork; the forks are joined in order, each
        // starting at its `running_data_fork_offset` (checked when the image was opened).
        for (i, seg) in image.segments.iter().enumerate() {
            let start = if i == 0 {
                0
            } else {
                seg.running_data_fork_offset
            };
            let end = image
                .segments
                .get(i + 1)
                .map_or(fork.size(), |n| n.running_data_fork_offset);
            if seg.data_checksum.kind == 0 {
                continue;
            }
            let part = Slice::new(fork.clone(), start, end.saturating_sub(start))?;
            checks.push(check(
                format!("data fork of segment {}", i + 1),
                &seg.data_checksum,
                seg.data_fork_offset,
                crc_of(&part, 0, part.size())?,
            ));
        }
    }
    let mut master = crc32fast::Hasher::new();
    for e in &image.tables {
        master.update(&e.table.checksum.data[..4]);
        if e.table.checksum.kind == 0 {
            continue;
        }
        let first_stored = e
            .table
            .chunks
            .iter()
            .find(|c| is_stored(c.kind) && c.sector_count > 0)
            .map_or(0, |c| e.table.data_offset.saturating_add(c.offset));
        let offset = if image.segments.len() <= 1 {
            k.data_fork_offset.saturating_add(first_stored)
        } else {
            first_stored
        };
        let crc = if e.table.checksum.as_crc32().is_some() {
            table_crc(dev, e)?
        } else {
            0
        };
        checks.push(check(
            format!("blkx '{}'", e.name),
            &e.table.checksum,
            offset,
            crc,
        ));
    }
    if k.master_checksum.kind != 0 {
        checks.push(check(
            "master".to_owned(),
            &k.master_checksum,
            trailer_at,
            master.finalize(),
        ));
    }
    Ok(VerifyReport {
        format: FORMAT,
        ok: checks.iter().all(ChecksumResult::passed),
        checks,
    })
}

fn is_stored(kind: ChunkKind) -> bool {
    kind == ChunkKind::Raw || kind.is_compressed()
}

/// CRC-32 of `len` bytes of `src` at `start`, read in steps.
fn crc_of(src: &dyn ReadAt, start: u64, len: u64) -> Result<u32> {
    let mut h = crc32fast::Hasher::new();
    let mut buf = vec![0u8; READ_STEP.min(usize::try_from(len).unwrap_or(READ_STEP))];
    let end = start.saturating_add(len);
    let mut pos = start;
    while pos < end {
        let n = clamp_len(pos, buf.len(), end);
        src.read_exact_at(pos, &mut buf[..n])?;
        h.update(&buf[..n]);
        pos += n as u64;
    }
    Ok(h.finalize())
}

/// CRC-32 of one stored chunk (run `i` of the device), decompressed.
fn run_crc(dev: &UdifDevice, i: usize) -> Result<crc32fast::Hasher> {
    let r = &dev.runs()[i];
    let mut h = crc32fast::Hasher::new();
    if r.kind == ChunkKind::Raw {
        let crc = crc_of(dev.fork().as_ref(), r.src, r.len)?;
        return Ok(crc32fast::Hasher::new_with_initial_len(crc, r.len));
    }
    // Compressed runs are at most `udif::MAX_CHUNK_BYTES` (checked when the image was opened).
    let len = usize::try_from(r.len)
        .map_err(|_| Error::corrupt(FORMAT, "blkx table", r.src, "a chunk too large"))?;
    let mut buf = vec![0u8; len];
    dev.decode_run(i, &mut buf)?;
    h.update(&buf);
    Ok(h)
}

/// CRC-32 of a table's stored chunks, decompressed, in order; chunks decompress in parallel
/// and their CRCs are combined.
fn table_crc(dev: &UdifDevice, e: &BlkxEntry) -> Result<u32> {
    let t = &e.table;
    // The device run of every stored chunk, in the table's order.
    let mut runs = Vec::new();
    for c in t
        .chunks
        .iter()
        .filter(|c| c.sector_count > 0 && is_stored(c.kind))
    {
        let start = t
            .first_sector
            .saturating_add(c.sector)
            .saturating_mul(SECTOR);
        let i = dev.runs().partition_point(|r| r.start < start);
        match dev.runs().get(i) {
            Some(r) if r.start == start => runs.push(i),
            _ => {
                return Err(Error::corrupt(
                    FORMAT,
                    "blkx table",
                    t.data_offset.saturating_add(c.offset),
                    format!(
                        "table '{}': the chunk at sector {} is not in the chunk map",
                        e.name, c.sector
                    ),
                ));
            }
        }
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut total = crc32fast::Hasher::new();
    for group in runs.chunks(threads * 4) {
        let parts: Vec<Result<Vec<crc32fast::Hasher>>> = std::thread::scope(|s| {
            let handles: Vec<_> = group
                .chunks(group.len().div_ceil(threads))
                .map(|g| s.spawn(move || g.iter().map(|&i| run_crc(dev, i)).collect()))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(Error::new(
                            ErrorKind::Io,
                            "a verification thread failed (panicked)",
                        ))
                    })
                })
                .collect()
        });
        for p in parts {
            for h in p? {
                total.combine(&h);
            }
        }
    }
    Ok(total.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::dmg::codec::Compression;
    use crate::container::dmg::writer::{UdifSettings, UdifWriter};
    use crate::io::{MemorySink, MemorySource};
    use crate::ops::convert::{NoProgress, write_image};
    use std::sync::Arc;

    /// A small UDZO image of `disk` (raw and zlib chunks, zero chunks), in memory.
    fn udzo(disk: &[u8]) -> Vec<u8> {
        let sink = Arc::new(MemorySink::new());
        let settings = UdifSettings {
            compression: Compression::Zlib,
            level: 1,
            per_partition: true,
        };
        let w = UdifWriter::new(sink.clone(), disk.len() as u64, settings).unwrap();
        let src: DeviceRef = Arc::new(MemorySource::new(disk.to_vec()));
        write_image(&src, Box::new(w), None, 2, &NoProgress).unwrap();
        sink.to_vec()
    }

    fn disk() -> Vec<u8> {
        let mut d = vec![0u8; 3 << 20];
        for (i, b) in d[..1 << 20].iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
        let mut x = 1u32;
        for b in &mut d[2 << 20..] {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            *b = (x >> 16) as u8;
        }
        d
    }

    #[test]
    fn every_record_is_reported_with_its_offset() {
        let img = udzo(&disk());
        let len = img.len() as u64;
        let r = verify(Arc::new(MemorySource::new(img)), &OpenContext::default()).unwrap();
        assert!(r.ok, "{:?}", r.checks);
        assert_eq!(r.checks[0].record, "data fork");
        assert_eq!(r.checks[0].offset, 0);
        let master = r.checks.last().unwrap();
        assert_eq!(master.record, "master");
        assert_eq!(master.offset, len - 512);
        assert!(r.checks.iter().any(|c| c.record.starts_with("blkx")));
        for c in &r.checks {
            assert_eq!(c.algorithm, "crc32");
            assert_eq!(c.actual.as_deref(), Some(c.expected.as_str()), "{c:?}");
            assert!(c.passed());
        }
    }

    #[test]
    fn a_flipped_byte_fails_the_data_fork_and_its_table() {
        let mut img = udzo(&disk());
        let file: DeviceRef = Arc::new(MemorySource::new(img.clone()));
        let dmg = Dmg::open(file, &OpenContext::default()).unwrap();
        let raw = dmg
            .udif_device()
            .runs()
            .iter()
            .find(|r| r.kind == ChunkKind::Raw);
        // The random third of the disk does not compress: it is stored raw.
        img[raw.unwrap().src as usize + 1000] ^= 1;
        let r = verify(Arc::new(MemorySource::new(img)), &OpenContext::default()).unwrap();
        assert!(!r.ok);
        let failed: Vec<_> = r.checks.iter().filter(|c| !c.passed()).collect();
        assert_eq!(failed.len(), 2, "{failed:?}");
        assert_eq!(failed[0].record, "data fork");
        assert!(failed[1].record.starts_with("blkx"));
        assert_ne!(failed[1].expected, failed[1].actual.clone().unwrap());
        // The master checksum covers the tables' recorded values, which are intact.
        assert!(r.checks.last().unwrap().passed());
    }

    #[test]
    fn a_type_not_computed_is_skipped() {
        let mut sum = UdifChecksum::crc32(0x1234_5678);
        sum.kind = 4;
        sum.bits = 128;
        let c = check("master".to_owned(), &sum, 7, 0);
        assert_eq!(c.status, CheckStatus::Skipped);
        assert_eq!(c.expected, format!("12345678{}", "0".repeat(24)));
        assert_eq!(c.actual, None);
        assert!(c.passed());
    }
}
