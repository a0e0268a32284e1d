//! VHDX (Hyper-V virtual hard disk v2), read side.
//!
//! Specification: Microsoft [MS-VHDX] "Virtual Hard Disk v2 (VHDX) File Format"; second
//! opinions: libyal/libvhdi's format notes and qemu's `vhdx` driver behaviour.
//!
//! Supported: the file type identifier; both headers (CRC-32C, the newer one by sequence
//! number); both region tables; the metadata items (block size, logical sector size 512 or
//! 4096, physical sector size, virtual size and id, parent locator); the BAT with its payload
//! and sector bitmap entries; fixed, dynamic and differencing disks (a parent found through
//! `relative_path`, `absolute_win32_path` or `volume_path`, checked against `parent_linkage`);
//! and log replay: when the log holds an active sequence it is applied in memory (the input is
//! never written) and `details` says so. Not supported: unknown required regions or metadata
//! items (reported by GUID); writing (a writer will sit beside these files).
//!
//! Files: `header.rs` (identifier, headers, region tables), `metadata.rs`, `log.rs` (replay
//! overlay), `bat.rs` (the BAT as a block map).

pub mod bat;
pub mod header;
pub mod log;
pub mod metadata;
pub mod writer;

use crate::container::bytes::guid_le;
use crate::container::chain::{self, Candidate, Parent};
use crate::container::mapped::MappedDevice;
use crate::container::{BackingInfo, Container, OpenContext};
use crate::device::{DeviceRef, Geometry};
use crate::error::{Error, Result, ResultExt};
use crate::format::{Confidence, FormatDescriptor, Opener, ProbeInput};
use crate::io::{BlockCache, FileSource, ReadAt, read_vec};
use bat::VhdxMap;
use header::{VhdxHeader, file_identifier};
use log::LogOverlay;
use metadata::VhdxMetadata;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;

/// Largest BAT read.
pub const MAX_BAT_LEN: u64 = 256 << 20;
/// Cache for sector bitmaps.
const META_CACHE: u64 = 4 << 20;

/// The registry entry.
pub static DESCRIPTOR: FormatDescriptor = FormatDescriptor {
    create: Some(&writer::HOOK),
    check: None,
    name: "vhdx",
    description: "Hyper-V virtual hard disk v2 (VHDX)",
    extensions: &["vhdx", "avhdx"],
    probe,
    opener: Opener::Container(open),
};

fn probe(input: &ProbeInput<'_>) -> Confidence {
    if input.head.starts_with(b"vhdxfile") {
        Confidence::CERTAIN
    } else {
        Confidence::NONE
    }
}

fn open(device: DeviceRef, ctx: &OpenContext) -> Result<Box<dyn Container>> {
    Ok(Box::new(Vhdx::open(device, ctx)?))
}

/// An opened VHDX.
pub struct Vhdx {
    device: Arc<MappedDevice<VhdxMap>>,
    creator: String,
    header: VhdxHeader,
    metadata: VhdxMetadata,
    file_size: u64,
    replay: Option<log::Replay>,
    parent: Option<(PathBuf, Box<Vhdx>)>,
    backing: Option<BackingInfo>,
    warnings: Vec<String>,
}

impl Vhdx {
    /// Opens the VHDX in `file`; `ctx` says where it came from (to find a parent) and which
    /// images are already open above it in a chain.
    pub fn open(raw: DeviceRef, ctx: &OpenContext) -> Result<Vhdx> {
        let mut warnings = Vec::new();
        let head = read_vec(raw.as_ref(), 0, 1024, 1024)?;
        let creator = file_identifier(&head).ok_or_else(|| {
            Error::corrupt(
                "vhdx",
                "file type identifier",
                0,
                "no \"vhdxfile\" signature",
            )
        })?;
        let header = VhdxHeader::current(raw.as_ref(), &mut warnings)?;
        if header.log_version != 0 {
            return Err(Error::unsupported(
                "vhdx",
                format!("log version {}", header.log_version),
            ));
        }
        let (file, replay) = if header.log_guid != [0; 16] && header.log_length != 0 {
            LogOverlay::replay(
                raw.clone(),
                header.log_offset,
                u64::from(header.log_length),
                &header.log_guid,
            )?
        } else {
            (raw.clone(), None)
        };
        if let Some(r) = &replay {
            warnings.push(format!(
                "the log held {} unapplied entr{} ({} changes, newest sequence {}): replayed in memory, the file was not changed",
                r.entries,
                if r.entries == 1 { "y" } else { "ies" },
                r.descriptors,
                r.head_sequence
            ));
        }
        let regions = header::current_region_table(file.as_ref(), &mut warnings)?;
        let find = |id| regions.iter().find(|r| r.guid == id);
        if let Some(r) = regions.iter().find(|r| {
            r.required && r.guid != header::BAT_REGION && r.guid != header::METADATA_REGION
        }) {
            return Err(Error::unsupported(
                "vhdx",
                format!("required region {}", guid_le(&r.guid)),
            ));
        }
        let missing = |what| {
            Error::corrupt(
                "vhdx",
                "region table",
                header::REGION_TABLE_OFFSETS[0],
                format!("no {what} region"),
            )
        };
        let bat_region = find(header::BAT_REGION).ok_or_else(|| missing("BAT"))?;
        let meta_region = find(header::METADATA_REGION).ok_or_else(|| missing("metadata"))?;
        let metadata =
            VhdxMetadata::read(file.as_ref(), meta_region.file_offset, meta_region.length)?;
        let block_size = u64::from(metadata.block_size);
        let lss = u64::from(metadata.logical_sector_size);
        let chunk_ratio = ((1u64 << 23) * lss) / block_size;
        let entries = bat::bat_entries(
            metadata.virtual_disk_size,
            block_size,
            chunk_ratio,
            metadata.has_parent,
        );
        let bat_len = entries.saturating_mul(8);
        if bat_len > u64::from(bat_region.length) {
            return Err(Error::corrupt(
                "vhdx",
                "block allocation table",
                bat_region.file_offset,
                format!(
                    "{entries} entries do not fit the BAT region of {} bytes",
                    bat_region.length
                ),
            ));
        }
        let raw_bat = read_vec(file.as_ref(), bat_region.file_offset, bat_len, MAX_BAT_LEN)
            .map_err(|e| {
                e.with_format("vhdx")
                    .with_structure("block allocation table")
                    .with_offset(bat_region.file_offset)
            })?;
        let bat = raw_bat
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect();
        let parent = if metadata.has_parent {
            Some(open_parent(&metadata, ctx)?)
        } else {
            None
        };
        let map = VhdxMap {
            file: file.clone(),
            size: metadata.virtual_disk_size,
            block_size,
            logical_sector_size: lss,
            chunk_ratio,
            bat,
            meta: BlockCache::new(file.clone(), 64 * 1024, META_CACHE),
        };
        let device = Arc::new(MappedDevice::new(
            map,
            parent.as_ref().map(|p| p.device.clone()),
            Geometry {
                sector_size: metadata.logical_sector_size,
            },
        ));
        let (parent, backing) = match parent {
            Some(p) => (p.found, Some(p.info)),
            None => (None, None),
        };
        Ok(Vhdx {
            device,
            creator,
            header,
            metadata,
            file_size: raw.size(),
            replay,
            parent,
            backing,
            warnings,
        })
    }

    /// The current header.
    pub fn header(&self) -> &VhdxHeader {
        &self.header
    }

    /// The metadata items.
    pub fn metadata(&self) -> &VhdxMetadata {
        &self.metadata
    }

    /// Whether the log was replayed when the file was opened.
    pub fn log_replayed(&self) -> bool {
        self.replay.is_some()
    }
}

/// `{8b7ca206-...}` -> `8b7ca206-...`, lower case.
fn bare_guid(s: &str) -> String {
    s.trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .to_ascii_lowercase()
}

/// The parent locator's paths in the order [MS-VHDX] gives: relative, volume, absolute. A
/// `\\?\Volume{GUID}\dir\file.vhdx` path is taken from the volume's root.
fn parent_references(m: &VhdxMetadata) -> Vec<String> {
    let mut refs = Vec::new();
    for key in ["relative_path", "volume_path", "absolute_win32_path"] {
        let Some(v) = m.locator(key) else { continue };
        let v = match v.strip_prefix("\\\\?\\") {
            Some(rest) if rest.starts_with("Volume{") => {
                rest.split_once('\\').map_or(rest, |(_, p)| p)
            }
            Some(rest) => rest,
            None => v,
        };
        refs.push(v.to_owned());
    }
    refs
}

fn open_parent(m: &VhdxMetadata, ctx: &OpenContext) -> Result<Parent<Vhdx>> {
    let linkage = m
        .locator("parent_linkage")
        .map(bare_guid)
        .ok_or_else(|| Error::corrupt("vhdx", "parent locator", 0, "no parent_linkage entry"))?;
    let linkage2 = m.locator("parent_linkage2").map(bare_guid);
    let what = format!("with data write GUID {linkage}");
    let refs = parent_references(m);
    let found = chain::find_parent(ctx, "vhdx", &refs, &what, |path, sub| {
        let src: DeviceRef = Arc::new(FileSource::open(path)?);
        let parent = Vhdx::open(src, sub).in_file(path)?;
        let got = guid_le(&parent.header.data_write_guid);
        Ok(
            if got == linkage || linkage2.as_deref() == Some(got.as_str()) {
                Candidate::Parent(parent)
            } else {
                Candidate::Other(format!("has data write GUID {got}"))
            },
        )
    });
    let recorded = refs.first().cloned().unwrap_or_default();
    Ok(Parent::new(
        ctx,
        "vhdx",
        &recorded,
        m.virtual_disk_size,
        found,
    ))
}

fn is_fixed(map: &VhdxMap) -> bool {
    let (full, partial, zero) = map.counts();
    partial == 0 && zero == 0 && full == map.size.div_ceil(map.block_size)
}

impl Container for Vhdx {
    fn format(&self) -> &'static str {
        "vhdx"
    }

    fn device(&self) -> DeviceRef {
        self.device.clone()
    }

    fn backing(&self) -> Option<&BackingInfo> {
        self.backing.as_ref()
    }

    fn details(&self) -> Value {
        let m = &self.metadata;
        let h = &self.header;
        let map = self.device.map();
        let (full, partial, zero) = map.counts();
        let subformat = if m.has_parent {
            "differencing"
        } else if is_fixed(map) {
            "fixed"
        } else {
            "dynamic"
        };
        let mut d = json!({
            "subformat": subformat,
            "virtual_size": m.virtual_disk_size,
            "sector_size": m.logical_sector_size,
            "logical_sector_size": m.logical_sector_size,
            "physical_sector_size": m.physical_sector_size,
            "block_size": m.block_size,
            "chunk_ratio": map.chunk_ratio,
            "file_size": self.file_size,
            "allocated_size": (full + partial) * u64::from(m.block_size),
            "blocks": {
                "fully_present": full,
                "partially_present": partial,
                "zero": zero,
            },
            "uuid": guid_le(&m.virtual_disk_id),
            "data_write_guid": guid_le(&h.data_write_guid),
            "creator": self.creator,
            "header_sequence": h.sequence_number,
            "leave_blocks_allocated": m.leave_blocks_allocated,
            "log": {
                "offset": h.log_offset,
                "length": h.log_length,
                "replayed": self.replay.is_some(),
            },
        });
        if let Some(r) = &self.replay {
            d["log"]["entries_replayed"] = json!(r.entries);
            d["log"]["head_sequence"] = json!(r.head_sequence);
        }
        if m.has_parent {
            d["parent_locator"] = Value::Object(
                m.parent_locator
                    .iter()
                    .map(|(k, v)| (k.clone(), json!(v)))
                    .collect(),
            );
        }
        if let Some((path, p)) = &self.parent {
            d["backing_chain"] = chain::backing_chain(path, p.as_ref());
        }
        if let Some(e) = self.backing.as_ref().and_then(|b| b.error.as_ref()) {
            d["backing_error"] = json!(e);
        }
        if !self.warnings.is_empty() {
            d["warnings"] = json!(self.warnings);
        }
        d
    }
}
