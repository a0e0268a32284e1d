//! Integrity checks of a UDIF image, as `hdiutil verify` makes them: the CRC-32 of the data
//! fork as stored, the CRC-32 of every blkx table's stored sectors once decompressed (zero and
//! ignore chunks are not part of it), and the master CRC-32 (of the tables' checksums, in the
//! property list's order).
//!
//! [`verify`] returns a [`VerifyReport`] that a per-format integrity registry (`diskimg
//! verify`) can show as it is: one [`VerifyCheck`] per checksum, each `ok`, `mismatch` or
//! `skipped` (a checksum type other than CRC-32, or none recorded). A chunk that cannot be
//! decompressed is an error, not a mismatch. Tables are decompressed on every core.

use super::device::UdifDevice;
use super::koly::UdifChecksum;
use super::mish::ChunkKind;
use super::udif::{SECTOR, UdifImage};
use super::{Dmg, FORMAT};
use crate::container::OpenContext;
use crate::device::DeviceRef;
use crate::error::Result;
use crate::io::ReadAt;
use serde::Serialize;

/// Bytes of the data fork read at a time.
const READ_STEP: usize = 8 << 20;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// The value matches.
    Ok,
    /// The value differs: the image is damaged.
    Mismatch,
    /// Nothing to compare with (no checksum recorded, or a kind we do not compute).
    Skipped,
}

/// One checksum compared.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyCheck {
    /// What was checked (`data fork`, `blkx 'disk image (Apple_HFS : 4)'`, `master`).
    pub name: String,
    /// The recorded value.
    pub expected: String,
    /// The computed value.
    pub actual: String,
    /// The outcome.
    pub status: CheckStatus,
}

/// What [`verify`] found.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// The format checked.
    pub format: &'static str,
    /// No check failed.
    pub ok: bool,
    /// Every check.
    pub checks: Vec<VerifyCheck>,
}

fn check(name: String, recorded: &UdifChecksum, computed: u32) -> VerifyCheck {
    let (expected, status) = match recorded.as_crc32() {
        Some(v) => (
            format!("crc32:{v:08x}"),
            if v == computed {
                CheckStatus::Ok
            } else {
                CheckStatus::Mismatch
            },
        ),
        None => (recorded.describe(), CheckStatus::Skipped),
    };
    VerifyCheck {
        name,
        expected,
        actual: format!("crc32:{computed:08x}"),
        status,
    }
}

/// Checks every checksum of the UDIF image whose (first segment's) bytes are `file`.
pub fn verify(file: DeviceRef, ctx: &OpenContext) -> Result<VerifyReport> {
    let dmg = Dmg::open(file, ctx)?;
    verify_opened(dmg.image(), dmg.udif_device())
}

/// Checks an opened image.
pub fn verify_opened(image: &UdifImage, dev: &UdifDevice) -> Result<VerifyReport> {
    let mut checks = Vec::new();
    let k = &image.koly;
    if k.data_checksum.kind != 0 {
        let crc = if image.segments.len() > 1 {
            // Each segment's trailer checks its own data fork.
            None
        } else {
            Some(crc_of(dev.fork().as_ref())?)
        };
        match crc {
            Some(c) => checks.push(check("data fork".to_owned(), &k.data_checksum, c)),
            None => {
                let mut start = 0u64;
                for (i, seg) in image.segments.iter().enumerate() {
                    let len = seg.data_fork_length;
                    let part = crate::io::Slice::new(dev.fork().clone(), start, len)?;
                    checks.push(check(
                        format!("data fork of segment {}", i + 1),
                        &seg.data_checksum,
                        crc_of(&part)?,
                    ));
                    start += len;
                }
            }
        }
    }
    let mut master = crc32fast::Hasher::new();
    for e in &image.tables {
        master.update(&e.table.checksum.data[..4]);
        if e.table.checksum.kind == 0 {
            continue;
        }
        let crc = table_crc(dev, e)?;
        checks.push(check(format!("blkx '{}'", e.name), &e.table.checksum, crc));
    }
    if k.master_checksum.kind != 0 {
        checks.push(check(
            "master".to_owned(),
            &k.master_checksum,
            master.finalize(),
        ));
    }
    Ok(VerifyReport {
        format: FORMAT,
        ok: checks.iter().all(|c| c.status != CheckStatus::Mismatch),
        checks,
    })
}

/// CRC-32 of a whole source.
fn crc_of(src: &dyn ReadAt) -> Result<u32> {
    let mut h = crc32fast::Hasher::new();
    let mut buf = vec![0u8; READ_STEP];
    let size = src.size();
    let mut pos = 0u64;
    while pos < size {
        let n = crate::io::clamp_len(pos, READ_STEP, size);
        src.read_exact_at(pos, &mut buf[..n])?;
        h.update(&buf[..n]);
        pos += n as u64;
    }
    Ok(h.finalize())
}

/// CRC-32 of a table's stored chunks, decompressed, in order; chunks decompress in parallel
/// and their CRCs are combined.
fn table_crc(dev: &UdifDevice, e: &super::udif::BlkxEntry) -> Result<u32> {
    let t = &e.table;
    let chunks: Vec<_> = t
        .chunks
        .iter()
        .filter(|c| c.sector_count > 0 && (c.kind == ChunkKind::Raw || c.kind.is_compressed()))
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut total = crc32fast::Hasher::new();
    for group in chunks.chunks(threads * 4) {
        let parts: Vec<Result<crc32fast::Hasher>> = std::thread::scope(|s| {
            let handles: Vec<_> = group
                .chunks(group.len().div_ceil(threads))
                .map(|g| {
                    s.spawn(move || -> Result<Vec<crc32fast::Hasher>> {
                        let mut out = Vec::with_capacity(g.len());
                        for c in g {
                            let start = (t.first_sector + c.sector) * SECTOR;
                            let i = dev.runs().partition_point(|r| r.start < start);
                            let mut buf = vec![0u8; (c.sector_count * SECTOR) as usize];
                            match dev.runs().get(i) {
                                Some(r) if r.start == start => dev.decode_run(i, &mut buf)?,
                                _ => dev.read_exact_at(start, &mut buf)?,
                            }
                            let mut h = crc32fast::Hasher::new();
                            h.update(&buf);
                            out.push(h);
                        }
                        Ok(out)
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| match h.join() {
                    Ok(Ok(v)) => v.into_iter().map(Ok).collect::<Vec<_>>(),
                    Ok(Err(e)) => vec![Err(e)],
                    Err(_) => vec![Err(crate::Error::new(
                        crate::ErrorKind::Io,
                        "a verification thread failed (panicked)",
                    ))],
                })
                .collect()
        });
        for p in parts {
            total.combine(&p?);
        }
    }
    Ok(total.finalize())
}
