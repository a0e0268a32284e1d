//! From the recorded partition maps to usable ones: partition descriptors for type 1 maps,
//! sparing tables (UDF 2.2.12) for sparable maps, the virtual allocation table (UDF 2.2.11,
//! found in the last blocks of the medium) for virtual maps, and the metadata file or its
//! mirror (UDF 2.2.13) for metadata maps.

use super::fields::{LbAddr, le16, le32, regid_ident};
use super::icb::{Data, file_type};
use super::partition::{Base, MetaRun, Partition};
use super::tag::{self, id};
use super::volume::{MapEntry, VolumeDescriptors};
use super::{FORMAT, UdfFs};
use crate::error::{Error, Result};
use crate::io::{ReadAt, read_vec};
use std::collections::BTreeMap;

/// Largest sparing table read, in bytes.
const MAX_SPARING_TABLE: u64 = 1024 * 1024;
/// Largest VAT read, in bytes.
const MAX_VAT_SIZE: u64 = 64 * 1024 * 1024;
/// Blocks searched for the VAT, back from the end of the medium.
const MAX_VAT_SCAN: u64 = 64;
/// Most runs in the metadata file.
const MAX_META_RUNS: usize = 1 << 16;

/// The first pass: type 1 and sparable maps are ready; virtual and metadata maps wait for
/// [`UdfFs::resolve_maps`], which needs a file system to read their files through.
pub(super) fn first_pass(
    dev: &dyn ReadAt,
    bs: u64,
    vds: &VolumeDescriptors,
    warnings: &mut Vec<String>,
) -> Vec<Partition> {
    vds.logical
        .maps
        .iter()
        .enumerate()
        .map(|(i, m)| match m {
            MapEntry::Physical { partition } => match descriptor(vds, *partition) {
                Some((start, len)) => Partition::Physical { start, len },
                None => no_descriptor(*partition),
            },
            MapEntry::Sparable {
                partition,
                packet_len,
                table_size,
                tables,
            } => match descriptor(vds, *partition) {
                Some((start, len)) if *packet_len > 0 => {
                    let remap = sparing_table(dev, bs, *table_size, tables).unwrap_or_else(|e| {
                        warnings.push(format!(
                            "partition map {i}: no usable sparing table ({e}); \
                             reading without remapping"
                        ));
                        BTreeMap::new()
                    });
                    Partition::Sparable {
                        start,
                        len,
                        packet_len: u64::from(*packet_len),
                        remap,
                    }
                }
                Some(_) => Partition::Unusable {
                    why: "sparable partition with a packet length of 0".into(),
                },
                None => no_descriptor(*partition),
            },
            MapEntry::Virtual { .. } | MapEntry::Metadata { .. } => Partition::Unusable {
                why: "not resolved".into(),
            },
            MapEntry::Unknown { ident } => Partition::Unusable {
                why: format!("partition map type `{ident}` is not supported"),
            },
        })
        .collect()
}

fn no_descriptor(number: u16) -> Partition {
    Partition::Unusable {
        why: format!("no partition descriptor numbered {number}"),
    }
}

/// Start sector and length in blocks of the partition numbered `number`.
fn descriptor(vds: &VolumeDescriptors, number: u16) -> Option<(u64, u64)> {
    vds.partitions
        .iter()
        .find(|p| p.number == number)
        .map(|p| (u64::from(p.start), u64::from(p.length)))
}

/// The first valid copy of the sparing table: first block of a packet -> sector it moved to.
fn sparing_table(
    dev: &dyn ReadAt,
    bs: u64,
    size: u32,
    locations: &[u32],
) -> Result<BTreeMap<u64, u64>> {
    let mut last = Error::corrupt(FORMAT, "sparing table", 0, "the map lists no table");
    for &sector in locations {
        let offset = u64::from(sector) * bs;
        let len = u64::from(size)
            .max(56)
            .next_multiple_of(bs)
            .min(MAX_SPARING_TABLE);
        let b = match read_vec(dev, offset, len, MAX_SPARING_TABLE) {
            Ok(b) => b,
            Err(e) => {
                last = e.with_format(FORMAT).with_structure("sparing table");
                continue;
            }
        };
        if let Err(e) = tag::check(&b, &[0], Some(sector), "sparing table", offset) {
            last = e;
            continue;
        }
        if regid_ident(&b[16..48]) != "*UDF Sparing Table" {
            last = Error::corrupt(FORMAT, "sparing table", offset, "wrong identifier");
            continue;
        }
        let count = usize::from(le16(&b, 48));
        if 56 + count * 8 > b.len() {
            last = Error::corrupt(
                FORMAT,
                "sparing table",
                offset,
                format!("{count} entries do not fit in {} bytes", b.len()),
            );
            continue;
        }
        let mut remap = BTreeMap::new();
        for i in 0..count {
            let (original, mapped) = (le32(&b, 56 + 8 * i), le32(&b, 60 + 8 * i));
            if original < 0xFFFF_FFF0 {
                remap.insert(u64::from(original), u64::from(mapped));
            }
        }
        return Ok(remap);
    }
    Err(last)
}

impl UdfFs {
    /// The second pass: reads the VAT of each virtual map and the metadata file of each
    /// metadata map.
    pub(super) fn resolve_maps(
        &mut self,
        vds: &VolumeDescriptors,
        warnings: &mut Vec<String>,
    ) -> Result<()> {
        for (i, m) in vds.logical.maps.iter().enumerate() {
            let resolved = match m {
                MapEntry::Virtual { partition } => {
                    let base = base_of(vds, &self.maps, *partition)?;
                    match base {
                        Base::Map(j) => Partition::Virtual {
                            base,
                            vat: self.find_vat(j as u16)?,
                        },
                        Base::Plain { .. } => Partition::Unusable {
                            why: "a virtual partition without a type 1 map".into(),
                        },
                    }
                }
                MapEntry::Metadata {
                    partition,
                    file,
                    mirror,
                } => {
                    let base = base_of(vds, &self.maps, *partition)?;
                    let Base::Map(j) = base else {
                        return Err(Error::corrupt(
                            FORMAT,
                            "partition map",
                            0,
                            "a metadata partition without a type 1 map",
                        ));
                    };
                    let runs = match self.metadata_runs(j as u16, *file, file_type::METADATA) {
                        Ok(r) => r,
                        Err(main) => {
                            match self.metadata_runs(j as u16, *mirror, file_type::METADATA_MIRROR)
                            {
                                Ok(r) => {
                                    warnings.push(format!(
                                        "metadata file damaged ({main}); its mirror is used"
                                    ));
                                    r
                                }
                                Err(_) => return Err(main),
                            }
                        }
                    };
                    Partition::Metadata { base, runs }
                }
                _ => continue,
            };
            self.maps[i] = resolved;
        }
        Ok(())
    }

    /// Finds the VAT in the last blocks of the medium, as an entry of partition `base`.
    fn find_vat(&self, base: u16) -> Result<Vec<u32>> {
        let bs = self.block_size;
        let (Partition::Physical { start, len } | Partition::Sparable { start, len, .. }) =
            self.maps[usize::from(base)]
        else {
            return Err(Error::unsupported(FORMAT, "VAT on an unusable partition"));
        };
        let last = self.dev.size() / bs;
        let mut head = [0u8; 32];
        for sector in (last.saturating_sub(MAX_VAT_SCAN)..last).rev() {
            if sector < start || sector - start >= len {
                continue;
            }
            let block = sector - start;
            if self.dev.read_exact_at(sector * bs, &mut head).is_err()
                || !tag::looks_tagged(&head)
                || !matches!(le16(&head, 0), id::FILE_ENTRY | id::EXTENDED_FILE_ENTRY)
            {
                continue;
            }
            let at = LbAddr {
                block: block as u32,
                partition: base,
            };
            let Ok(e) = self.read_entry(at, sector * bs) else {
                continue;
            };
            if !matches!(e.file_type, file_type::VAT | file_type::UNSPECIFIED)
                || e.info_len > MAX_VAT_SIZE
            {
                continue;
            }
            let mut data = vec![0u8; e.info_len as usize];
            if self.read_data(&e, 0, &mut data).is_err() {
                continue;
            }
            let entries = if e.file_type == file_type::VAT {
                if data.len() < 152 {
                    continue;
                }
                let header = usize::from(le16(&data, 0).max(152));
                if data.len() < header {
                    continue;
                }
                &data[header..]
            } else {
                // UDF 1.50: the entries, then the VAT identifier and the previous VAT.
                let Some(tail) = data.len().checked_sub(36) else {
                    continue;
                };
                if regid_ident(&data[tail..tail + 32]) != "*UDF Virtual Alloc Tbl" {
                    continue;
                }
                &data[..tail]
            };
            return Ok(entries
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect());
        }
        Err(Error::corrupt(
            FORMAT,
            "virtual allocation table",
            last.saturating_sub(1) * bs,
            format!("no VAT in the last {MAX_VAT_SCAN} blocks"),
        ))
    }

    /// The runs of the metadata file (or mirror) at `block` of partition `base`.
    fn metadata_runs(&self, base: u16, block: u32, want_type: u8) -> Result<Vec<MetaRun>> {
        let at = LbAddr {
            block,
            partition: base,
        };
        let e = self.read_entry(at, 0)?;
        let offset = self.entry_offset(&e);
        if e.file_type != want_type {
            return Err(Error::corrupt(
                FORMAT,
                "metadata file",
                offset,
                format!("file type {}, expected {want_type}", e.file_type),
            ));
        }
        let Data::Extents(extents) = &e.data else {
            return Err(Error::corrupt(
                FORMAT,
                "metadata file",
                offset,
                "metadata file with embedded data",
            ));
        };
        let bs = self.block_size;
        let mut runs = Vec::new();
        for x in extents {
            let Some(loc) = x.at else { continue };
            if x.file_offset % bs != 0 || loc.partition != base || runs.len() >= MAX_META_RUNS {
                return Err(Error::corrupt(
                    FORMAT,
                    "metadata file",
                    offset,
                    "extent not block aligned, outside its partition, or too many",
                ));
            }
            runs.push(MetaRun {
                first: x.file_offset / bs,
                len: x.len.div_ceil(bs),
                block: u64::from(loc.block),
            });
        }
        Ok(runs)
    }
}

/// Where a virtual or metadata map on partition `number` keeps its blocks.
fn base_of(vds: &VolumeDescriptors, maps: &[Partition], number: u16) -> Result<Base> {
    let by_map = vds.logical.maps.iter().enumerate().find(|(i, m)| {
        matches!(m, MapEntry::Physical { partition } | MapEntry::Sparable { partition, .. }
            if *partition == number)
            && matches!(
                maps.get(*i),
                Some(Partition::Physical { .. } | Partition::Sparable { .. })
            )
    });
    if let Some((i, _)) = by_map {
        return Ok(Base::Map(i));
    }
    descriptor(vds, number)
        .map(|(start, len)| Base::Plain { start, len })
        .ok_or_else(|| {
            Error::corrupt(
                FORMAT,
                "partition map",
                0,
                format!("no partition descriptor numbered {number}"),
            )
        })
}
