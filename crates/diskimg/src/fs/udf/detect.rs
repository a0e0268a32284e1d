//! Finding a UDF volume: recognition sequence, anchor, and the volume descriptors that name it.

use super::FORMAT;
use crate::error::{Error, Result};
use crate::io::ReadAt;
use serde::Serialize;

/// The volume recognition sequence starts at byte 32768.
const VRS_START: usize = 32 * 1024;
/// Most recognition descriptors scanned.
const MAX_VRS: usize = 64;
/// Most volume descriptors read from the main sequence.
const MAX_VDS_DESCRIPTORS: u64 = 256;
const BLOCK_SIZES: [u64; 4] = [2048, 512, 1024, 4096];

/// What identifies a UDF volume.
#[derive(Debug, Clone, Serialize)]
pub struct UdfSummary {
    /// UDF revision from the logical volume's domain identifier, such as `2.01`.
    pub revision: String,
    /// Logical block size.
    pub block_size: u64,
    /// Volume identifier of the primary volume descriptor.
    pub volume_id: String,
    /// Logical volume identifier: what systems show as the label.
    pub logical_volume_id: String,
}

/// Whether the recognition sequence in `head` announces an NSR02/NSR03 (UDF) volume.
pub fn has_nsr(head: &[u8]) -> bool {
    let mut bea = false;
    for i in 0..MAX_VRS {
        let at = VRS_START + i * 2048;
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

/// Finds the anchor and reads the volume descriptors.
pub fn detect(dev: &dyn ReadAt) -> Result<UdfSummary> {
    let size = dev.size();
    for bs in BLOCK_SIZES {
        let blocks = size / bs;
        for lba in [256, blocks.saturating_sub(1), blocks.saturating_sub(257)] {
            if lba == 0 || lba >= blocks {
                continue;
            }
            if let Some((len, loc)) = anchor(dev, lba, bs) {
                return volume_descriptors(dev, bs, len, loc);
            }
        }
    }
    Err(Error::corrupt(
        FORMAT,
        "anchor volume descriptor pointer",
        256 * 2048,
        "not found at sector 256 or at the end",
    ))
}

/// Checks a descriptor tag: identifier, recorded location and checksum.
fn tag_ok(b: &[u8], id: u16, lba: u64) -> bool {
    let sum = b[..16]
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 4)
        .fold(0u8, |a, (_, &x)| a.wrapping_add(x));
    u16::from_le_bytes([b[0], b[1]]) == id
        && sum == b[4]
        && u64::from(u32::from_le_bytes([b[12], b[13], b[14], b[15]])) == lba
}

fn anchor(dev: &dyn ReadAt, lba: u64, bs: u64) -> Option<(u64, u64)> {
    let mut b = [0u8; 32];
    dev.read_exact_at(lba * bs, &mut b).ok()?;
    if !tag_ok(&b, 2, lba) {
        return None;
    }
    let len = u64::from(u32::from_le_bytes([b[16], b[17], b[18], b[19]]));
    let loc = u64::from(u32::from_le_bytes([b[20], b[21], b[22], b[23]]));
    Some((len, loc))
}

fn volume_descriptors(dev: &dyn ReadAt, bs: u64, len: u64, loc: u64) -> Result<UdfSummary> {
    let mut out = UdfSummary {
        revision: String::new(),
        block_size: bs,
        volume_id: String::new(),
        logical_volume_id: String::new(),
    };
    let mut b = vec![0u8; 512];
    for i in 0..(len / bs).min(MAX_VDS_DESCRIPTORS) {
        let lba = loc + i;
        if dev.read_exact_at(lba * bs, &mut b).is_err() {
            break;
        }
        let id = u16::from_le_bytes([b[0], b[1]]);
        if !tag_ok(&b, id, lba) {
            continue;
        }
        match id {
            1 => out.volume_id = dstring(&b[24..56]),
            6 => {
                out.logical_volume_id = dstring(&b[84..212]);
                let rev = u16::from_le_bytes([b[216 + 24], b[216 + 25]]);
                out.revision = format!("{}.{:02x}", rev >> 8, rev & 0xFF);
            }
            8 => break,
            _ => {}
        }
    }
    Ok(out)
}

/// An OSTA CS0 "dstring": compression id, characters, and the used length in the last byte.
pub fn dstring(field: &[u8]) -> String {
    let used = usize::from(*field.last().unwrap_or(&0)).min(field.len().saturating_sub(1));
    if used == 0 {
        return String::new();
    }
    let body = &field[1..used];
    match field[0] {
        16 => {
            let units = body
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]));
            char::decode_utf16(units)
                .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect()
        }
        _ => body.iter().map(|&c| c as char).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dstrings() {
        let mut f = [0u8; 32];
        f[0] = 8;
        f[1..5].copy_from_slice(b"DISC");
        f[31] = 5;
        assert_eq!(dstring(&f), "DISC");
        let mut g = [0u8; 32];
        g[0] = 16;
        g[1..5].copy_from_slice(&[0, b'A', 0x30, 0x42]);
        g[31] = 5;
        assert_eq!(dstring(&g), "A\u{3042}");
        assert_eq!(dstring(&[0u8; 32]), "");
    }
}
