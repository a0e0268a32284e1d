//! The volume descriptor sequence (ECMA-167 3/8.4): primary volume, partition and logical
//! volume descriptors, followed through volume descriptor pointers, keeping the prevailing
//! descriptor of each kind (the highest sequence number). The main sequence is read first;
//! when it is damaged or incomplete, the reserve sequence is used.

use super::FORMAT;
use super::detect::Anchor;
use super::fields::{ExtentAd, LongAd, dstring, le16, le32, regid_ident, regid_revision};
use super::tag::{self, id};
use crate::error::{Error, Result};
use crate::io::ReadAt;
use crate::time::Timestamp;

/// Most descriptors read from one sequence, pointers included.
const MAX_VDS_DESCRIPTORS: u64 = 1024;
/// Most volume descriptor pointers followed.
const MAX_VDS_POINTERS: usize = 16;
/// Most partition descriptors kept.
const MAX_PARTITIONS: usize = 64;
/// Longest partition map table (3/10.6.13).
const MAX_MAP_TABLE: usize = 64 * 1024;

/// A partition descriptor (3/10.5).
#[derive(Debug, Clone)]
pub(super) struct PartitionDescriptor {
    pub sequence: u32,
    pub number: u16,
    pub contents: String,
    pub access_type: u32,
    /// First sector of the partition.
    pub start: u32,
    /// Length in sectors.
    pub length: u32,
}

/// A partition map of the logical volume (3/10.7, UDF 2.2.8-2.2.10), as recorded.
#[derive(Debug, Clone)]
pub(super) enum MapEntry {
    /// Type 1: a partition by number.
    Physical { partition: u16 },
    /// Type 2 `*UDF Virtual Partition` (UDF 1.50+): blocks through the VAT.
    Virtual { partition: u16 },
    /// Type 2 `*UDF Sparable Partition`: packets remapped through sparing tables.
    Sparable {
        partition: u16,
        packet_len: u16,
        table_size: u32,
        tables: Vec<u32>,
    },
    /// Type 2 `*UDF Metadata Partition` (UDF 2.50+): blocks through the metadata file.
    Metadata {
        partition: u16,
        file: u32,
        mirror: u32,
    },
    /// A type 2 map of another kind.
    Unknown { ident: String },
}

impl MapEntry {
    /// A short name for `info`.
    pub fn name(&self) -> String {
        match self {
            MapEntry::Physical { .. } => "type1".into(),
            MapEntry::Virtual { .. } => "virtual".into(),
            MapEntry::Sparable { .. } => "sparable".into(),
            MapEntry::Metadata { .. } => "metadata".into(),
            MapEntry::Unknown { ident } => format!("unknown ({ident})"),
        }
    }
}

/// The logical volume descriptor (3/10.6).
#[derive(Debug, Clone)]
pub(super) struct LogicalVolume {
    pub sequence: u32,
    pub id: String,
    pub block_size: u32,
    pub domain: String,
    pub revision: u16,
    pub file_set: LongAd,
    pub maps: Vec<MapEntry>,
    pub integrity: ExtentAd,
}

/// What the volume descriptor sequence says.
#[derive(Debug, Clone)]
pub(super) struct VolumeDescriptors {
    pub volume_id: String,
    pub volume_set_id: String,
    pub recorded: Option<Timestamp>,
    pub application: String,
    pub implementation: String,
    pub partitions: Vec<PartitionDescriptor>,
    pub logical: LogicalVolume,
    /// `main` or `reserve`.
    pub sequence: &'static str,
}

/// Reads the main sequence of `anchor`, or its reserve when the main one fails; the error of
/// the main sequence comes back with the result so that the caller can report it.
pub(super) fn read(
    dev: &dyn ReadAt,
    anchor: &Anchor,
) -> Result<(VolumeDescriptors, Option<Error>)> {
    match read_sequence(dev, anchor.sector_size, anchor.main, "main") {
        Ok(v) => Ok((v, None)),
        Err(main_err) => match read_sequence(dev, anchor.sector_size, anchor.reserve, "reserve") {
            Ok(v) => Ok((v, Some(main_err))),
            Err(_) => Err(main_err),
        },
    }
}

#[derive(Default)]
struct Found {
    primary: Option<(u32, VolumeFacts)>,
    partitions: Vec<PartitionDescriptor>,
    logical: Option<LogicalVolume>,
}

struct VolumeFacts {
    volume_id: String,
    volume_set_id: String,
    recorded: Option<Timestamp>,
    application: String,
    implementation: String,
}

fn read_sequence(
    dev: &dyn ReadAt,
    ss: u64,
    extent: ExtentAd,
    which: &'static str,
) -> Result<VolumeDescriptors> {
    let mut found = Found::default();
    let mut extent = extent;
    let mut pointers = 0;
    let mut read = 0u64;
    let mut buf = vec![0u8; usize::try_from(ss).unwrap_or(2048).max(512)];
    'extents: loop {
        let count = u64::from(extent.len) / ss;
        if count == 0 {
            return Err(Error::corrupt(
                FORMAT,
                "volume descriptor sequence",
                u64::from(extent.location) * ss,
                format!("the {which} sequence is empty ({} bytes)", extent.len),
            ));
        }
        for i in 0..count {
            read += 1;
            if read > MAX_VDS_DESCRIPTORS {
                return Err(Error::limit(
                    FORMAT,
                    "volume descriptor sequence",
                    u64::from(extent.location) * ss,
                    format!("more than {MAX_VDS_DESCRIPTORS} descriptors"),
                ));
            }
            let sector = u64::from(extent.location) + i;
            let offset = sector * ss;
            dev.read_exact_at(offset, &mut buf).map_err(|e| {
                e.with_format(FORMAT)
                    .with_structure("volume descriptor")
                    .with_offset(offset)
            })?;
            if buf.iter().all(|&b| b == 0) {
                // An unrecorded sector ends the sequence (3/8.4.2).
                break 'extents;
            }
            // A logical volume descriptor with many partition maps runs past one sector.
            let long;
            let desc: &[u8] = if le16(&buf, 0) == id::LOGICAL_VOLUME
                && tag::TAG_LEN + tag::crc_len(&buf) > buf.len()
            {
                let len = (tag::TAG_LEN + tag::crc_len(&buf)) as u64;
                long = crate::io::read_vec(dev, offset, len, 440 + MAX_MAP_TABLE as u64).map_err(
                    |e| {
                        e.with_format(FORMAT)
                            .with_structure("logical volume descriptor")
                    },
                )?;
                &long
            } else {
                &buf
            };
            let t = tag::check(
                desc,
                &[1, 2, 3, 4, 5, 6, 7, 8, 9],
                u32::try_from(sector).ok(),
                "volume descriptor",
                offset,
            )?;
            match t.id {
                id::TERMINATING => break 'extents,
                id::VOLUME_POINTER => {
                    pointers += 1;
                    if pointers > MAX_VDS_POINTERS {
                        return Err(Error::limit(
                            FORMAT,
                            "volume descriptor pointer",
                            offset,
                            format!("more than {MAX_VDS_POINTERS} pointers"),
                        ));
                    }
                    extent = ExtentAd::parse(&buf, 20);
                    continue 'extents;
                }
                id::PRIMARY_VOLUME => {
                    let seq = le32(&buf, 16);
                    if found.primary.as_ref().is_none_or(|(s, _)| seq >= *s) {
                        found.primary = Some((seq, primary(&buf)));
                    }
                }
                id::PARTITION => {
                    let pd = partition(&buf);
                    let full = found.partitions.len() >= MAX_PARTITIONS;
                    match found.partitions.iter_mut().find(|p| p.number == pd.number) {
                        Some(p) if pd.sequence >= p.sequence => *p = pd,
                        Some(_) => {}
                        None if !full => found.partitions.push(pd),
                        None => {
                            return Err(Error::limit(
                                FORMAT,
                                "partition descriptor",
                                offset,
                                format!("more than {MAX_PARTITIONS} partitions"),
                            ));
                        }
                    }
                }
                id::LOGICAL_VOLUME => {
                    let lv = logical(desc, offset)?;
                    if found
                        .logical
                        .as_ref()
                        .is_none_or(|l| lv.sequence >= l.sequence)
                    {
                        found.logical = Some(lv);
                    }
                }
                _ => {}
            }
        }
        break;
    }
    let at = u64::from(extent.location) * ss;
    let Some((_, facts)) = found.primary else {
        return Err(Error::corrupt(
            FORMAT,
            "volume descriptor sequence",
            at,
            format!("the {which} sequence has no primary volume descriptor"),
        ));
    };
    let Some(logical) = found.logical else {
        return Err(Error::corrupt(
            FORMAT,
            "volume descriptor sequence",
            at,
            format!("the {which} sequence has no logical volume descriptor"),
        ));
    };
    if found.partitions.is_empty() {
        return Err(Error::corrupt(
            FORMAT,
            "volume descriptor sequence",
            at,
            format!("the {which} sequence has no partition descriptor"),
        ));
    }
    Ok(VolumeDescriptors {
        volume_id: facts.volume_id,
        volume_set_id: facts.volume_set_id,
        recorded: facts.recorded,
        application: facts.application,
        implementation: facts.implementation,
        partitions: found.partitions,
        logical,
        sequence: which,
    })
}

fn primary(b: &[u8]) -> VolumeFacts {
    VolumeFacts {
        volume_id: dstring(&b[24..56]),
        volume_set_id: dstring(&b[72..200]),
        recorded: super::fields::timestamp(&b[376..388]),
        application: regid_ident(&b[344..376]),
        implementation: regid_ident(&b[388..420]),
    }
}

fn partition(b: &[u8]) -> PartitionDescriptor {
    PartitionDescriptor {
        sequence: le32(b, 16),
        number: le16(b, 22),
        contents: regid_ident(&b[24..56]),
        access_type: le32(b, 184),
        start: le32(b, 188),
        length: le32(b, 192),
    }
}

/// Reads a logical volume descriptor (the whole of it, partition maps included).
fn logical(b: &[u8], offset: u64) -> Result<LogicalVolume> {
    let table_len = le32(b, 264) as usize;
    let count = le32(b, 268) as usize;
    let Some(table) = b.get(440..440 + table_len) else {
        return Err(Error::corrupt(
            FORMAT,
            "logical volume descriptor",
            offset,
            format!("partition map table of {table_len} bytes runs past the descriptor"),
        ));
    };
    if count > table_len / 6 {
        return Err(Error::corrupt(
            FORMAT,
            "logical volume descriptor",
            offset,
            format!("{count} partition maps cannot fit in {table_len} bytes"),
        ));
    }
    let mut maps = Vec::with_capacity(count);
    let mut at = 0usize;
    for _ in 0..count {
        let (Some(&kind), Some(&len)) = (table.get(at), table.get(at + 1)) else {
            return Err(map_error(offset, at, "partition map table ends early"));
        };
        let len = usize::from(len);
        let Some(m) = table.get(at..at + len) else {
            return Err(map_error(offset, at, "partition map runs past the table"));
        };
        maps.push(match (kind, len) {
            (1, 6) => MapEntry::Physical {
                partition: le16(m, 4),
            },
            (2, 64) => type2(m),
            _ => {
                return Err(map_error(
                    offset,
                    at,
                    &format!("partition map of type {kind} and length {len}"),
                ));
            }
        });
        at += len;
    }
    Ok(LogicalVolume {
        sequence: le32(b, 16),
        id: dstring(&b[84..212]),
        block_size: le32(b, 212),
        domain: regid_ident(&b[216..248]),
        revision: regid_revision(&b[216..248]),
        file_set: LongAd::parse(b, 248),
        maps,
        integrity: ExtentAd::parse(b, 432),
    })
}

fn map_error(offset: u64, at: usize, what: &str) -> Error {
    Error::corrupt(
        FORMAT,
        "partition map",
        offset + 440 + at as u64,
        what.to_owned(),
    )
}

fn type2(m: &[u8]) -> MapEntry {
    let ident = regid_ident(&m[4..36]);
    let partition = le16(m, 38);
    match ident.as_str() {
        "*UDF Virtual Partition" => MapEntry::Virtual { partition },
        "*UDF Sparable Partition" => {
            let n = usize::from(m[42]).min(4);
            MapEntry::Sparable {
                partition,
                packet_len: le16(m, 40),
                table_size: le32(m, 44),
                tables: (0..n).map(|i| le32(m, 48 + 4 * i)).collect(),
            }
        }
        "*UDF Metadata Partition" => MapEntry::Metadata {
            partition,
            file: le32(m, 40),
            mirror: le32(m, 44),
        },
        _ => MapEntry::Unknown { ident },
    }
}
