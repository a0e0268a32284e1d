//! What `chdman verify` checks: every hunk decompresses and matches its CRC, the SHA-1 of the
//! data (`raw_sha1`), and the overall SHA-1: the SHA-1 of the data SHA-1 followed by, for each
//! metadata entry flagged as checksummed, its tag and the SHA-1 of its data, these 24-byte
//! records sorted bytewise (MAME `chd.cpp`, `compute_overall_sha1`).

use super::device::ChdDevice;
use super::metadata::FLAG_CHECKSUM;
use crate::error::Result;
use crate::io::ReadAt;
use rayon::prelude::*;
use sha1::{Digest, Sha1};

/// Hunks decompressed per parallel batch.
const BATCH: usize = 256;
/// Bad hunks listed in a report.
pub const MAX_LISTED: usize = 16;

/// What reading every hunk found.
#[derive(Debug, Clone)]
pub struct DataCheck {
    /// SHA-1 of the logical data.
    pub raw_sha1: [u8; 20],
    /// The overall SHA-1 computed from `raw_sha1` and the metadata.
    pub overall_sha1: [u8; 20],
    /// Hunks that failed (number and why), the first [`MAX_LISTED`].
    pub bad_hunks: Vec<(u32, String)>,
    /// How many hunks failed.
    pub bad_count: u64,
}

/// The overall SHA-1 of data with SHA-1 `raw` and the image's metadata.
pub fn overall_sha1(dev: &ChdDevice, raw: &[u8; 20]) -> [u8; 20] {
    let mut records: Vec<[u8; 24]> = dev
        .metadata
        .iter()
        .filter(|m| m.flags & FLAG_CHECKSUM != 0)
        .map(|m| {
            let mut r = [0u8; 24];
            r[..4].copy_from_slice(&m.tag.to_be_bytes());
            r[4..].copy_from_slice(&Sha1::digest(&m.data));
            r
        })
        .collect();
    records.sort();
    let mut s = Sha1::new();
    s.update(raw);
    for r in &records {
        s.update(r);
    }
    s.finalize().into()
}

/// Reads every hunk (in parallel batches, hashed in order). `progress` gets bytes done and
/// answers whether to stop.
pub fn check_data(dev: &ChdDevice, progress: &dyn Fn(u64) -> bool) -> Result<DataCheck> {
    let hunk = dev.hunk_bytes();
    let count = dev.header.hunk_count;
    let size = dev.size();
    let mut sha = Sha1::new();
    let mut bad = Vec::new();
    let mut bad_count = 0u64;
    let mut bufs = vec![vec![0u8; hunk]; BATCH.min(count as usize).max(1)];
    let mut first = 0u32;
    while first < count {
        let n = (count - first).min(BATCH as u32) as usize;
        let errors: Vec<Option<String>> = bufs[..n]
            .par_iter_mut()
            .enumerate()
            .map(|(i, b)| {
                dev.read_hunk(first + i as u32, b).err().map(|e| {
                    b.fill(0);
                    e.message().to_owned()
                })
            })
            .collect();
        for (i, (b, e)) in bufs[..n].iter().zip(errors).enumerate() {
            let at = u64::from(first + i as u32) * hunk as u64;
            let len = (hunk as u64).min(size - at) as usize;
            sha.update(&b[..len]);
            if let Some(e) = e {
                bad_count += 1;
                if bad.len() < MAX_LISTED {
                    bad.push((first + i as u32, e));
                }
            }
            if progress(len as u64) {
                return Err(crate::error::Error::new(
                    crate::ErrorKind::Io,
                    "verification cancelled",
                ));
            }
        }
        first += n as u32;
    }
    let raw_sha1: [u8; 20] = sha.finalize().into();
    Ok(DataCheck {
        overall_sha1: overall_sha1(dev, &raw_sha1),
        raw_sha1,
        bad_hunks: bad,
        bad_count,
    })
}
