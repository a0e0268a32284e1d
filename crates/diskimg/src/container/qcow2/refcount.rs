//! Refcounts: the refcount table, refcount blocks, and entries of any width (1 to 64 bits).
//!
//! qemu `docs/interop/qcow2.txt`, "Host cluster management". A refcount block is one cluster of
//! `cluster_size * 8 / refcount_bits` entries, big-endian for widths of 8 bits and more; for
//! narrower widths bit 0 of a byte holds the lowest entry.

use super::FORMAT;
use super::header::{MAX_REFCOUNT_TABLE_BYTES, Qcow2Header};
use super::table::OFFSET_MASK;
use crate::device::DeviceRef;
use crate::error::{Error, Result};
use crate::io::read_vec;

/// Entries in one refcount block.
pub fn block_entries(cluster_bits: u32, refcount_order: u32) -> u64 {
    (1u64 << (cluster_bits + 3)) >> refcount_order
}

/// Reads entry `i` of a refcount block of width `1 << order` bits.
pub fn get(block: &[u8], i: u64, order: u32) -> u64 {
    let bits = 1u32 << order;
    if bits >= 8 {
        let w = (bits / 8) as usize;
        let at = i as usize * w;
        block[at..at + w]
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
    } else {
        let bit = i * u64::from(bits);
        let byte = block[(bit / 8) as usize];
        (u64::from(byte) >> (bit % 8)) & ((1u64 << bits) - 1)
    }
}

/// Writes entry `i` of a refcount block of width `1 << order` bits (`value` must fit).
pub fn set(block: &mut [u8], i: u64, order: u32, value: u64) {
    let bits = 1u32 << order;
    if bits >= 8 {
        let w = (bits / 8) as usize;
        let at = i as usize * w;
        for (k, b) in block[at..at + w].iter_mut().enumerate() {
            *b = (value >> (8 * (w - 1 - k))) as u8;
        }
    } else {
        let bit = i * u64::from(bits);
        let mask = ((1u64 << bits) - 1) as u8;
        let shift = (bit % 8) as u32;
        let byte = &mut block[(bit / 8) as usize];
        *byte = (*byte & !(mask << shift)) | (((value as u8) & mask) << shift);
    }
}

/// Largest refcount an entry of width `1 << order` holds.
pub fn max_value(order: u32) -> u64 {
    if order >= 6 {
        u64::MAX
    } else {
        (1u64 << (1u32 << order)) - 1
    }
}

/// The refcount table of an image: offsets of its refcount blocks (0: not allocated).
pub fn read_table(file: &DeviceRef, h: &Qcow2Header) -> Result<Vec<u64>> {
    let bytes = u64::from(h.refcount_table_clusters)
        .checked_mul(h.cluster_size())
        .filter(|b| *b <= MAX_REFCOUNT_TABLE_BYTES)
        .ok_or_else(|| {
            Error::limit(
                FORMAT,
                "refcount table",
                h.refcount_table_offset,
                format!(
                    "refcount table of {} clusters exceeds {MAX_REFCOUNT_TABLE_BYTES} bytes",
                    h.refcount_table_clusters
                ),
            )
        })?;
    let raw = read_vec(
        file.as_ref(),
        h.refcount_table_offset,
        bytes,
        MAX_REFCOUNT_TABLE_BYTES,
    )
    .map_err(|e| {
        Error::corrupt(
            FORMAT,
            "refcount table",
            h.refcount_table_offset,
            format!("refcount table does not lie in the file: {}", e.message()),
        )
    })?;
    Ok(raw
        .chunks_exact(8)
        .map(|c| u64::from_be_bytes(c.try_into().unwrap_or([0; 8])) & OFFSET_MASK)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_width_round_trips() {
        for order in 0..=6u32 {
            let mut block = vec![0u8; 512];
            let n = block_entries(9, order);
            let max = max_value(order);
            for i in 0..n {
                set(&mut block, i, order, (i * 7) & max);
            }
            for i in 0..n {
                assert_eq!(
                    get(&block, i, order),
                    (i * 7) & max,
                    "order {order} entry {i}"
                );
            }
        }
        let mut b = vec![0u8; 8];
        set(&mut b, 1, 4, 0x0102);
        assert_eq!(b[2..4], [1, 2]);
    }
}
