//! The `info` report: a serialisable description of every layer of an image.
//!
//! The JSON form is stable and documented in `docs/JSON.md`; fields are only ever added.

use crate::fs::FsEntry;
use crate::fs::iso9660::BootCatalog;
use crate::image::{Image, Layer};
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
