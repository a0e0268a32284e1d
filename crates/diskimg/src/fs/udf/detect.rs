//! Finding a UDF volume: the volume recognition sequence (ECMA-167 2/8.3) and the anchor
//! volume descriptor pointers (3/10.2) at sector 256, N-257 and N-1 (and 512, UDF 2.2.3).

use super::fields::ExtentAd;
use super::tag::{self, id};
use crate::io::ReadAt;

/// The volume recognition sequence starts at byte 32768.
const VRS_START: usize = 32 * 1024;
/// Most recognition descriptors scanned.
const MAX_VRS: usize = 64;
/// Sector sizes tried, most common first.
pub(super) const SECTOR_SIZES: [u64; 4] = [2048, 512, 4096, 1024];

/// Whether the recognition sequence in `head` announces an NSR02/NSR03 (UDF) volume. The
/// descriptors are 2048 bytes apart, or one per sector on 4096-byte sectors.
pub fn has_nsr(head: &[u8]) -> bool {
    [2048, 4096]
        .into_iter()
        .any(|step| nsr_with_step(head, step))
}

fn nsr_with_step(head: &[u8], step: usize) -> bool {
    let mut bea = false;
    for i in 0..MAX_VRS {
        let at = VRS_START + i * step;
        let Some(d) = head.get(at..at + 6) else { break };
        match &d[1..6] {
            b"BEA01" => bea = true,
            b"NSR02" | b"NSR03" if bea => return true,
            b"TEA01" => bea = false,
            b"CD001" | b"BOOT2" | b"CDW02" => {}
            _ => break,
        }
    }
    false
}

/// A valid anchor: where it was found and the two volume descriptor sequences it names.
#[derive(Debug, Clone, Copy)]
pub(super) struct Anchor {
    pub sector_size: u64,
    pub sector: u64,
    pub main: ExtentAd,
    pub reserve: ExtentAd,
}

/// Every valid anchor, for the first sector size that has one: sector 256 first, then the
/// end of the volume, then 512. An anchor with a bad checksum, CRC or location is skipped.
pub(super) fn anchors(dev: &dyn ReadAt) -> Vec<Anchor> {
    let size = dev.size();
    for ss in SECTOR_SIZES {
        let sectors = size / ss;
        let mut found = Vec::new();
        for sector in [
            256,
            sectors.saturating_sub(257),
            sectors.saturating_sub(1),
            512,
        ] {
            if sector < 256
                || sector >= sectors
                || found.iter().any(|a: &Anchor| a.sector == sector)
            {
                continue;
            }
            if let Some(a) = anchor_at(dev, ss, sector) {
                found.push(a);
            }
        }
        if !found.is_empty() {
            return found;
        }
    }
    Vec::new()
}

fn anchor_at(dev: &dyn ReadAt, ss: u64, sector: u64) -> Option<Anchor> {
    let mut b = [0u8; 512];
    dev.read_exact_at(sector * ss, &mut b).ok()?;
    let location = u32::try_from(sector).ok()?;
    tag::check(&b, &[id::ANCHOR], Some(location), "anchor", sector * ss).ok()?;
    Some(Anchor {
        sector_size: ss,
        sector,
        main: ExtentAd::parse(&b, 16),
        reserve: ExtentAd::parse(&b, 24),
    })
}
