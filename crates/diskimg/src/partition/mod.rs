//! L2: partition tables. A partition is a byte window of its parent device.
//!
//! Each scheme parses its table into [`Partition`]s (numbered as fdisk numbers them) behind the
//! [`PartitionTable`] trait; the layer above opens each partition as a [`Slice`](crate::io::Slice)
//! of the parent and probes it again.

pub mod apm;
pub mod gpt;
pub mod mbr;
mod types;

use serde::Serialize;

/// One partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Partition {
    /// Number as fdisk counts: GPT entry number; MBR slot 1-4, logical partitions from 5.
    pub index: u32,
    /// First byte on the parent device.
    pub start: u64,
    /// Length in bytes.
    pub length: u64,
    /// Type: `0x83` for MBR, a GUID for GPT.
    #[serde(rename = "type")]
    pub type_id: String,
    /// Human name of the type, where known.
    pub type_name: Option<&'static str>,
    /// Partition name (GPT).
    pub name: Option<String>,
    /// Unique partition GUID (GPT).
    pub guid: Option<String>,
    /// Bootable/active flag (MBR) or legacy BIOS bootable attribute (GPT).
    pub bootable: bool,
}

/// A parsed partition table.
pub trait PartitionTable: Send + Sync {
    /// `mbr`, `gpt` or `apm`.
    fn scheme(&self) -> &'static str;
    /// The partitions, in index order.
    fn partitions(&self) -> &[Partition];
    /// Scheme-specific facts for `info` (disk GUID, sector size, which header was used...).
    fn details(&self) -> serde_json::Value;
    /// Problems found that did not stop the parse (backup header used, overlaps...).
    fn warnings(&self) -> &[String];
}

/// Warns about partitions that reach past the end of the device or overlap each other.
fn check_layout(parts: &[Partition], device_size: u64, warnings: &mut Vec<String>) {
    for p in parts {
        if p.start.saturating_add(p.length) > device_size {
            warnings.push(format!(
                "partition {} ends at byte {}, past the end of the image ({device_size} bytes); it is cut short",
                p.index,
                p.start.saturating_add(p.length)
            ));
        }
    }
    for (i, a) in parts.iter().enumerate() {
        for b in &parts[i + 1..] {
            if a.start < b.start.saturating_add(b.length)
                && b.start < a.start.saturating_add(a.length)
            {
                warnings.push(format!("partitions {} and {} overlap", a.index, b.index));
            }
        }
    }
}
