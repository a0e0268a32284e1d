//! Logical block addresses to device offsets, through the partition maps of the logical
//! volume: type 1 (physical), sparable (UDF 2.2.9: packets remapped by a sparing table),
//! virtual (UDF 2.2.8: blocks through the virtual allocation table) and metadata (UDF 2.2.10:
//! blocks through the extents of the metadata file).

use super::FORMAT;
use crate::error::{Error, Result};
use std::collections::BTreeMap;

/// A VAT entry that maps to nothing (UDF 2.2.11).
pub(super) const VAT_UNUSED: u32 = 0xFFFF_FFFF;

/// Where a virtual or metadata partition keeps its blocks.
#[derive(Debug, Clone, Copy)]
pub(super) enum Base {
    /// Another partition map (type 1 or sparable) by index.
    Map(usize),
    /// A partition descriptor that no type 1 map names: start sector and length in blocks.
    Plain { start: u64, len: u64 },
}

/// One run of the metadata file: metadata blocks `first..first + len` are blocks
/// `block..block + len` of the base partition.
#[derive(Debug, Clone, Copy)]
pub(super) struct MetaRun {
    pub first: u64,
    pub len: u64,
    pub block: u64,
}

/// A partition map, ready to translate addresses.
#[derive(Debug, Clone)]
pub(super) enum Partition {
    /// Blocks `0..len` are sectors `start..start + len`.
    Physical { start: u64, len: u64 },
    /// As physical, except packets listed in the sparing table, which live at another sector.
    Sparable {
        start: u64,
        len: u64,
        packet_len: u64,
        /// First block of a packet (partition-relative) -> sector it was moved to.
        remap: BTreeMap<u64, u64>,
    },
    /// Block n is block `vat[n]` of the base partition.
    Virtual { base: Base, vat: Vec<u32> },
    /// Blocks through the (sorted, non-overlapping) runs of the metadata file.
    Metadata { base: Base, runs: Vec<MetaRun> },
    /// A map this reader cannot use; addresses in it are an error.
    Unusable { why: String },
}

/// Translates `block` of partition `part` to a device offset; also returns how many blocks,
/// up to `want`, follow contiguously there (at least 1).
pub(super) fn locate(
    maps: &[Partition],
    bs: u64,
    part: u16,
    block: u64,
    want: u64,
) -> Result<(u64, u64)> {
    let Some(map) = maps.get(usize::from(part)) else {
        return Err(bad(format!(
            "partition reference {part} names no partition map"
        )));
    };
    let want = want.max(1);
    match map {
        Partition::Physical { start, len } => plain(*start, *len, bs, part, block, want),
        Partition::Sparable {
            start,
            len,
            packet_len,
            remap,
        } => {
            if block >= *len {
                return Err(outside(part, block, *len));
            }
            let within = block % packet_len;
            let run = want.min(packet_len - within).min(len - block);
            let sector = match remap.get(&(block - within)) {
                Some(moved) => moved + within,
                None => start + block,
            };
            Ok((sector * bs, run))
        }
        Partition::Virtual { base, vat } => {
            let Some(&first) = usize::try_from(block).ok().and_then(|i| vat.get(i)) else {
                return Err(outside(part, block, vat.len() as u64));
            };
            if first == VAT_UNUSED {
                return Err(bad(format!(
                    "virtual block {block} is not mapped by the VAT"
                )));
            }
            let mut run = 1;
            while run < want
                && vat.get((block + run) as usize) == Some(&(first.wrapping_add(run as u32)))
            {
                run += 1;
            }
            base_locate(maps, *base, bs, part, u64::from(first), run)
        }
        Partition::Metadata { base, runs } => {
            let i = runs.partition_point(|r| r.first + r.len <= block);
            let Some(r) = runs.get(i).filter(|r| r.first <= block) else {
                return Err(bad(format!(
                    "metadata block {block} is not in the metadata file"
                )));
            };
            let within = block - r.first;
            base_locate(
                maps,
                *base,
                bs,
                part,
                r.block + within,
                want.min(r.len - within),
            )
        }
        Partition::Unusable { why } => Err(Error::unsupported(
            FORMAT,
            format!("partition map {part}: {why}"),
        )),
    }
}

fn base_locate(
    maps: &[Partition],
    base: Base,
    bs: u64,
    part: u16,
    block: u64,
    want: u64,
) -> Result<(u64, u64)> {
    match base {
        Base::Plain { start, len } => plain(start, len, bs, part, block, want),
        Base::Map(i) => match maps.get(i) {
            Some(Partition::Physical { .. } | Partition::Sparable { .. }) => {
                locate(maps, bs, i as u16, block, want)
            }
            _ => Err(bad(
                "a virtual or metadata partition must lie on a physical one".into(),
            )),
        },
    }
}

fn plain(start: u64, len: u64, bs: u64, part: u16, block: u64, want: u64) -> Result<(u64, u64)> {
    if block >= len {
        return Err(outside(part, block, len));
    }
    Ok(((start + block) * bs, want.min(len - block)))
}

fn outside(part: u16, block: u64, len: u64) -> Error {
    bad(format!(
        "block {block} is outside partition {part} ({len} blocks)"
    ))
}

/// An address that leads nowhere; the caller adds the offset of the structure holding it.
fn bad(msg: String) -> Error {
    Error::corrupt(FORMAT, "logical block address", 0, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translates_through_each_kind() {
        let mut remap = BTreeMap::new();
        remap.insert(32, 9000);
        let maps = vec![
            Partition::Physical {
                start: 100,
                len: 50,
            },
            Partition::Sparable {
                start: 200,
                len: 128,
                packet_len: 32,
                remap,
            },
            Partition::Virtual {
                base: Base::Map(0),
                vat: vec![5, 6, 7, VAT_UNUSED, 1],
            },
            Partition::Metadata {
                base: Base::Map(0),
                runs: vec![
                    MetaRun {
                        first: 0,
                        len: 4,
                        block: 20,
                    },
                    MetaRun {
                        first: 4,
                        len: 2,
                        block: 10,
                    },
                ],
            },
        ];
        assert_eq!(locate(&maps, 2048, 0, 3, 100).unwrap(), (103 * 2048, 47));
        assert!(locate(&maps, 2048, 0, 50, 1).is_err());
        assert_eq!(locate(&maps, 2048, 1, 3, 100).unwrap(), (203 * 2048, 29));
        assert_eq!(locate(&maps, 2048, 1, 33, 4).unwrap(), (9001 * 2048, 4));
        assert_eq!(locate(&maps, 2048, 2, 0, 8).unwrap(), (105 * 2048, 3));
        assert!(locate(&maps, 2048, 2, 3, 1).is_err());
        assert!(locate(&maps, 2048, 2, 9, 1).is_err());
        assert_eq!(locate(&maps, 2048, 3, 2, 9).unwrap(), (122 * 2048, 2));
        assert_eq!(locate(&maps, 2048, 3, 5, 9).unwrap(), (111 * 2048, 1));
        assert!(locate(&maps, 2048, 3, 6, 1).is_err());
        assert!(locate(&maps, 2048, 7, 0, 1).is_err());
    }
}
