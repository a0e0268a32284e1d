//! UDF (ECMA-167 3rd edition, OSTA UDF 1.02-2.60): detection and identification.
//!
//! Supported: the volume recognition sequence (BEA01/NSR02/NSR03), the anchor volume
//! descriptor pointer at sector 256 (or the last sector) for 512- to 4096-byte blocks, and
//! the primary and logical volume descriptors: label, volume identifier, UDF revision.
//! Not yet supported: reading the file tree (reported as detected, not readable).

mod detect;

pub use detect::{UdfSummary, detect};

use crate::format::{Confidence, FormatDescriptor, Opener};
use crate::fs::{FsEntry, FsVolume};

/// Format name.
pub const FORMAT: &str = "udf";

/// The registry entry.
pub static DESCRIPTOR: FormatDescriptor = FormatDescriptor {
    name: FORMAT,
    description: "UDF file system (detected; tree reading to come)",
    extensions: &["udf", "iso"],
    probe: |p| {
        if detect::has_nsr(p.head) {
            Confidence::CERTAIN
        } else {
            Confidence::NONE
        }
    },
    opener: Opener::FileSystem(|dev| {
        let s = detect(dev.as_ref())?;
        Ok(FsVolume {
            file_systems: vec![FsEntry {
                kind: FORMAT,
                label: Some(s.logical_volume_id.clone()),
                fs: None,
                details: serde_json::to_value(&s).unwrap_or_default(),
                note: Some("UDF is detected; reading its file tree is not implemented yet".into()),
            }],
            ..FsVolume::default()
        })
    }),
    create: None,
    check: None,
};
