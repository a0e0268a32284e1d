//! Allocation descriptors (ECMA-167 4/12, 4/14.14): short, long and extended, continued in
//! allocation extent descriptors (4/14.5), turned into a list of data extents. Extents that
//! are allocated but not recorded, or not allocated, read as zeros.

use super::fields::{LbAddr, le32};
use super::tag::{self, id};
use super::{FORMAT, UdfFs};
use crate::error::{Error, Result};
use std::collections::HashSet;

/// Most extents one file may have.
pub(super) const MAX_EXTENTS: usize = 1 << 18;
/// Most allocation extent descriptors followed for one file.
pub(super) const MAX_AED_CHAIN: usize = 4096;

/// How allocation descriptors are recorded (the low three bits of the ICB flags, 4/14.6.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AdKind {
    Short,
    Long,
    Extended,
    Inline,
}

impl AdKind {
    pub fn from_flags(flags: u16) -> Result<Self> {
        Ok(match flags & 7 {
            0 => AdKind::Short,
            1 => AdKind::Long,
            2 => AdKind::Extended,
            3 => AdKind::Inline,
            n => {
                return Err(Error::unsupported(
                    FORMAT,
                    format!("allocation descriptor type {n} in an ICB"),
                ));
            }
        })
    }

    fn size(self) -> usize {
        match self {
            AdKind::Short => 8,
            AdKind::Long => 16,
            AdKind::Extended => 20,
            AdKind::Inline => 0,
        }
    }
}

/// A piece of file data: `len` bytes at `file_offset`, recorded at `at`, or zeros (`None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct DataExtent {
    pub file_offset: u64,
    pub len: u64,
    pub at: Option<LbAddr>,
}

/// One decoded descriptor.
enum Ad {
    Data { len: u64, at: Option<LbAddr> },
    Next { len: u32, at: LbAddr },
    End,
}

fn decode(b: &[u8], kind: AdKind, icb_partition: u16) -> Ad {
    let raw = le32(b, 0);
    let (len, typ) = (raw & 0x3FFF_FFFF, raw >> 30);
    if len == 0 {
        return Ad::End;
    }
    let at = match kind {
        AdKind::Short => LbAddr {
            block: le32(b, 4),
            partition: icb_partition,
        },
        AdKind::Long => LbAddr::parse(b, 4),
        AdKind::Extended | AdKind::Inline => LbAddr::parse(b, 12),
    };
    match typ {
        3 => Ad::Next { len, at },
        0 => Ad::Data {
            len: u64::from(len),
            at: Some(at),
        },
        _ => Ad::Data {
            len: u64::from(len),
            at: None,
        },
    }
}

impl UdfFs {
    /// The data extents described by the allocation descriptors in `area` (from an ICB whose
    /// partition is `icb_partition`, at device offset `area_offset`), following continuations,
    /// up to `info_len` bytes.
    pub(super) fn extents(
        &self,
        area: &[u8],
        area_offset: u64,
        kind: AdKind,
        icb_partition: u16,
        info_len: u64,
    ) -> Result<Vec<DataExtent>> {
        let size = kind.size();
        let mut out: Vec<DataExtent> = Vec::new();
        let mut file_offset = 0u64;
        let mut owned;
        let mut area = area;
        let mut area_offset = area_offset;
        let mut seen = HashSet::new();
        'areas: loop {
            let mut next = None;
            for (i, b) in area.chunks_exact(size).enumerate() {
                let ad = decode(b, kind, icb_partition);
                match ad {
                    Ad::End => break,
                    Ad::Next { len, at } => {
                        next = Some((len, at, area_offset + (i * size) as u64));
                        break;
                    }
                    Ad::Data { len, at } => {
                        if file_offset >= info_len {
                            break 'areas;
                        }
                        if out.len() >= MAX_EXTENTS {
                            return Err(Error::limit(
                                FORMAT,
                                "allocation descriptor",
                                area_offset + (i * size) as u64,
                                format!("file has more than {MAX_EXTENTS} extents"),
                            ));
                        }
                        let len = len.min(info_len - file_offset);
                        // An extended descriptor may record fewer bytes than it spans.
                        let recorded = match (kind, at) {
                            (AdKind::Extended, Some(_)) => {
                                u64::from(le32(b, 4) & 0x3FFF_FFFF).min(len)
                            }
                            _ => len,
                        };
                        out.push(DataExtent {
                            file_offset,
                            len: recorded,
                            at,
                        });
                        if recorded < len {
                            out.push(DataExtent {
                                file_offset: file_offset + recorded,
                                len: len - recorded,
                                at: None,
                            });
                        }
                        file_offset += len;
                    }
                }
            }
            let Some((len, at, from)) = next else { break };
            if seen.len() >= MAX_AED_CHAIN {
                return Err(Error::limit(
                    FORMAT,
                    "allocation extent descriptor",
                    from,
                    format!("more than {MAX_AED_CHAIN} allocation extents"),
                ));
            }
            if !seen.insert(at) {
                return Err(Error::corrupt(
                    FORMAT,
                    "allocation extent descriptor",
                    from,
                    "allocation extents form a loop",
                ));
            }
            let (block, offset) = self.read_block(at, "allocation extent descriptor", from)?;
            tag::check(
                &block,
                &[id::ALLOC_EXTENT],
                Some(at.block),
                "allocation extent descriptor",
                offset,
            )?;
            let l_ad = le32(&block, 20) as usize;
            let limit = (len as usize).min(block.len()).saturating_sub(24);
            if l_ad > limit {
                return Err(Error::corrupt(
                    FORMAT,
                    "allocation extent descriptor",
                    offset,
                    format!("{l_ad} bytes of descriptors in an extent of {len} bytes"),
                ));
            }
            owned = block;
            area = &owned[24..24 + l_ad];
            area_offset = offset + 24;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_each_descriptor_type() {
        let mut b = [0u8; 20];
        b[0..4].copy_from_slice(&(4096u32 | (1 << 30)).to_le_bytes());
        b[4..8].copy_from_slice(&77u32.to_le_bytes());
        match decode(&b, AdKind::Short, 3) {
            Ad::Data { len, at } => assert_eq!((len, at), (4096, None)),
            _ => panic!("expected data"),
        }
        b[0..4].copy_from_slice(&2048u32.to_le_bytes());
        match decode(&b, AdKind::Short, 3) {
            Ad::Data { at, .. } => assert_eq!(
                at,
                Some(LbAddr {
                    block: 77,
                    partition: 3
                })
            ),
            _ => panic!("expected data"),
        }
        b[0..4].copy_from_slice(&(2048u32 | (3 << 30)).to_le_bytes());
        assert!(matches!(decode(&b, AdKind::Long, 0), Ad::Next { .. }));
        b[0..4].copy_from_slice(&0u32.to_le_bytes());
        assert!(matches!(decode(&b, AdKind::Long, 0), Ad::End));
    }
}
