//! The `info` report: a serialisable description of every layer of an image.
//!
//! The JSON form is stable and documented in `docs/JSON.md`; fields are only ever added.

use crate::fs::FsEntry;
use crate::fs::iso9660::BootCatalog;
use crate::image::{DiscLayer, Image, Layer};
use crate::optical::disc::{CdText, SessionKind, Source, TrackFlags, TrackMode};
use crate::partition::Partition;
use serde::Serialize;
use serde_json::Value;

/// Schema version of the report; bumped only on incompatible changes.
pub const INFO_SCHEMA: u32 = 1;

/// Everything known about an image.
#[derive(Debug, Serialize)]
pub struct InfoReport {
    /// Schema version ([`INFO_SCHEMA`]).
    pub schema: u32,
    /// The image file.
    pub file: String,
    /// Its size in bytes.
    pub file_size: u64,
    /// Containers from the outside in; empty for a raw image.
    pub containers: Vec<ContainerReport>,
    /// What the innermost device holds.
    #[serde(flatten)]
    pub content: DeviceReport,
}

/// A container layer.
#[derive(Debug, Serialize)]
pub struct ContainerReport {
    /// Format name.
    pub format: &'static str,
    /// Format-specific facts.
    pub details: Value,
}

/// What a device holds.
#[derive(Debug, Serialize)]
pub struct DeviceReport {
    /// Size of the device in bytes.
    pub size: u64,
    /// Logical sector size.
    pub sector_size: u32,
    /// The optical disc, if the bytes are a disc image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disc: Option<DiscReport>,
    /// Partition table, if any.
    pub partition_table: Option<PartitionTableReport>,
    /// File systems on the whole device, richest first.
    pub file_systems: Vec<FsReport>,
    /// Boot records.
    pub boot: Option<BootReport>,
    /// Problems found.
    pub warnings: Vec<String>,
}

/// A partition table.
#[derive(Debug, Serialize)]
pub struct PartitionTableReport {
    /// `mbr` or `gpt`.
    pub scheme: &'static str,
    /// Scheme-specific facts.
    pub details: Value,
    /// The partitions.
    pub partitions: Vec<PartitionReport>,
    /// Problems with the table.
    pub warnings: Vec<String>,
}

/// A partition and what it holds.
#[derive(Debug, Serialize)]
pub struct PartitionReport {
    /// Position and type.
    #[serde(flatten)]
    pub partition: Partition,
    /// What the partition holds (absent for extended-partition containers).
    pub content: Option<DeviceReport>,
}

/// A file-system view.
#[derive(Debug, Serialize)]
pub struct FsReport {
    /// Type name (`iso9660`, `joliet`, `rockridge`, `udf`, ...).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Volume label.
    pub label: Option<String>,
    /// Whether diskimg can read its tree.
    pub readable: bool,
    /// Whether `ls`/`extract` use it when no `--namespace` is given.
    pub default: bool,
    /// Why it cannot be read, if it cannot.
    pub note: Option<String>,
    /// Size and use, where known.
    pub usage: Option<crate::fs::Usage>,
    /// Format-specific facts.
    pub details: Value,
}

/// An optical disc image.
#[derive(Debug, Serialize)]
pub struct DiscReport {
    /// Image format (`cue`, `toc`, `nrg`, `mds`, `ccd`, `cdi`, `gdi`, `raw`).
    pub format: &'static str,
    /// Data files the image reads.
    pub files: Vec<String>,
    /// Media catalogue number.
    pub catalog: Option<String>,
    /// Album CD-TEXT.
    pub cd_text: CdText,
    /// Sessions.
    pub sessions: Vec<SessionReport>,
    /// Tracks of all sessions.
    pub tracks: Vec<TrackReport>,
    /// The data track `ls`/`extract` read by default.
    pub default_track: Option<u8>,
}

/// A session of a disc.
#[derive(Debug, Serialize)]
pub struct SessionReport {
    /// Number from 1.
    pub number: u8,
    /// `cd-da`, `cd-rom`, `cd-rom-xa`, `cd-i`.
    pub kind: SessionKind,
    /// First and last track numbers.
    pub first_track: u8,
    /// Last track number.
    pub last_track: u8,
    /// LBA where its lead-out starts.
    pub leadout: i64,
}

/// A track of a disc. Positions are LBAs (LBA 0 = MSF 00:02:00), lengths sectors.
#[derive(Debug, Serialize)]
pub struct TrackReport {
    /// Track number.
    pub number: u8,
    /// Session number.
    pub session: u8,
    /// Cue-sheet mode and stored sector size: `AUDIO`, `MODE1/2048`, `MODE2/2352`, ...
    pub mode: String,
    /// Sector type: `Audio`, `Mode1`, `Mode2`, `Mode2Form1`, `Mode2Form2`, `Mode2Mixed`.
    pub sector_mode: TrackMode,
    /// Index 1.
    pub start: i64,
    /// Sectors from index 1 to the end of the track.
    pub length: u64,
    /// Sectors of pregap (index 0) before `start`.
    pub pregap: u64,
    /// How many pregap sectors the image stores (the rest are generated).
    pub pregap_stored: u64,
    /// Sectors of postgap at the end.
    pub postgap: u64,
    /// Every index: `{ "number", "start" }`, index 0 (when there is a pregap) and 1 included.
    pub indexes: Vec<IndexReport>,
    /// Control flags.
    pub flags: TrackFlags,
    /// ISRC.
    pub isrc: Option<String>,
    /// CD-TEXT.
    pub cd_text: CdText,
    /// Whether subchannel data is stored for the track.
    pub subchannel: bool,
    /// What the track's user data holds (data tracks only).
    pub content: Option<DeviceReport>,
}

/// An index of a track.
#[derive(Debug, Serialize)]
pub struct IndexReport {
    /// Index number.
    pub number: u8,
    /// Its first sector.
    pub start: i64,
}

impl DiscReport {
    fn new(d: &DiscLayer) -> Self {
        let disc = &d.disc;
        DiscReport {
            format: disc.format,
            files: disc
                .files
                .iter()
                .map(|f| f.path.display().to_string())
                .collect(),
            catalog: disc.catalog.clone(),
            cd_text: disc.cd_text.clone(),
            sessions: disc
                .sessions
                .iter()
                .map(|s| {
                    let mut tracks = disc.session_tracks(s.number);
                    let first = tracks.next().map_or(0, |t| t.number);
                    let last = disc.session_tracks(s.number).last().map_or(0, |t| t.number);
                    SessionReport {
                        number: s.number,
                        kind: s.kind,
                        first_track: first,
                        last_track: last,
                        leadout: disc.leadout(s.number),
                    }
                })
                .collect(),
            tracks: disc
                .tracks
                .iter()
                .map(|t| {
                    let mut indexes = Vec::new();
                    if t.pregap() > 0 {
                        indexes.push(IndexReport {
                            number: 0,
                            start: t.first,
                        });
                    }
                    indexes.push(IndexReport {
                        number: 1,
                        start: t.start,
                    });
                    for (i, &at) in t.indexes.iter().enumerate() {
                        indexes.push(IndexReport {
                            number: u8::try_from(i + 2).unwrap_or(99),
                            start: at,
                        });
                    }
                    let pregap_stored = t
                        .runs
                        .iter()
                        .filter(|r| matches!(r.source, Source::File { .. }))
                        .map(|r| (r.end().min(t.start) - r.lba.min(t.start)).max(0) as u64)
                        .sum();
                    TrackReport {
                        number: t.number,
                        session: t.session,
                        mode: t.mode_name(),
                        sector_mode: t.mode,
                        start: t.start,
                        length: t.length(),
                        pregap: t.pregap(),
                        pregap_stored,
                        postgap: t.postgap,
                        indexes,
                        flags: t.flags,
                        isrc: t.isrc.clone(),
                        cd_text: t.cd_text.clone(),
                        subchannel: t.has_subchannel(),
                        content: d
                            .tracks
                            .iter()
                            .find(|(n, _)| *n == t.number)
                            .map(|(_, l)| DeviceReport::new(l)),
                    }
                })
                .collect(),
            default_track: d.default_track(),
        }
    }
}

/// Boot records of a device.
#[derive(Debug, Serialize)]
pub struct BootReport {
    /// The El Torito catalog.
    pub el_torito: BootCatalog,
}

impl InfoReport {
    /// Describes an opened image.
    pub fn new(image: &Image) -> Self {
        let mut containers = Vec::new();
        let mut layer = &image.root;
        while let Some((c, inner)) = &layer.container {
            containers.push(ContainerReport {
                format: c.format(),
                details: c.details(),
            });
            layer = inner;
        }
        InfoReport {
            schema: INFO_SCHEMA,
            file: image.path.display().to_string(),
            file_size: image.file_size,
            containers,
            content: DeviceReport::new(layer),
        }
    }
}

impl DeviceReport {
    fn new(layer: &Layer) -> Self {
        let default_index = layer.file_systems.iter().position(|e| e.fs.is_some());
        DeviceReport {
            size: layer.device.size(),
            sector_size: layer.device.geometry().sector_size,
            disc: layer.disc.as_ref().map(DiscReport::new),
            partition_table: layer.partitions.as_ref().map(|p| PartitionTableReport {
                scheme: p.table.scheme(),
                details: p.table.details(),
                partitions: p
                    .children
                    .iter()
                    .map(|(part, child)| PartitionReport {
                        partition: part.clone(),
                        content: child.as_ref().map(DeviceReport::new),
                    })
                    .collect(),
                warnings: p.table.warnings().to_vec(),
            }),
            file_systems: layer
                .file_systems
                .iter()
                .enumerate()
                .map(|(i, e)| FsReport::new(e, Some(i) == default_index))
                .collect(),
            boot: layer.boot.clone().map(|el_torito| BootReport { el_torito }),
            warnings: layer
                .warnings
                .iter()
                .cloned()
                .chain(layer.failures.iter().map(|e| e.to_string()))
                .collect(),
        }
    }
}

impl FsReport {
    fn new(e: &FsEntry, default: bool) -> Self {
        FsReport {
            kind: e.kind,
            label: e.label.clone(),
            readable: e.fs.is_some(),
            default,
            note: e.note.clone(),
            usage: e.fs.as_ref().and_then(|f| f.usage()),
            details: e.details.clone(),
        }
    }
}
