//! VDI (VirtualBox Disk Image), read side.
//!
//! Specification: VirtualBox `src/VBox/Storage/VDICore.h` (header version 1.1); second opinion:
//! qemu `block/vdi.c`.
//!
//! Supported: dynamic ("normal") and static ("fixed") images, the block map with its free and
//! zero entries, per-block extra data, and differencing images: the parent is the `.vdi` file
//! in the same folder whose image UUID equals the child's link UUID (its last-modification UUID
//! is compared too, with a warning when it differs). Not supported: header version 0.x, undo
//! images (type 3), writing (a writer will sit beside these files).
//!
//! Files: `header.rs` (pre-header and header), `map.rs` (block map as a block map).

pub mod header;
mod map;
pub mod writer;

use crate::container::bytes::guid_le;
use crate::container::chain::{self, Parent};
use crate::container::mapped::MappedDevice;
use crate::container::{BackingInfo, Container, OpenContext};
use crate::device::{DeviceRef, Geometry};
use crate::error::{Error, ErrorKind, Result, ResultExt};
use crate::format::{Confidence, FormatDescriptor, Opener, ProbeInput};
use crate::io::{FileSource, ReadAt, read_vec};
use header::{HEADER_LEN, ImageType, VdiHeader};
use map::VdiMap;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Largest block map read, in entries (2 TiB of 1 MiB blocks is 2 Mi entries).
pub const MAX_BLOCKS: u64 = 1 << 24;
/// Most directory entries looked at when searching for a parent.
pub const MAX_DIR_SCAN: usize = 4096;

/// The registry entry.
pub static DESCRIPTOR: FormatDescriptor = FormatDescriptor {
    create: Some(&writer::HOOK),
    check: None,
    name: "vdi",
    description: "VirtualBox disk image (VDI)",
    extensions: &["vdi"],
    probe,
    opener: Opener::Container(open),
};

fn probe(input: &ProbeInput<'_>) -> Confidence {
    if VdiHeader::has_signature(input.head) {
        Confidence::CERTAIN
    } else {
        Confidence::NONE
    }
}

fn open(device: DeviceRef, ctx: &OpenContext) -> Result<Box<dyn Container>> {
    Ok(Box::new(Vdi::open(device, ctx)?))
}

/// An opened VDI.
pub struct Vdi {
    device: Arc<MappedDevice<VdiMap>>,
    header: VdiHeader,
    file_size: u64,
    parent: Option<(PathBuf, Box<Vdi>)>,
    backing: Option<BackingInfo>,
    warnings: Vec<String>,
}

impl Vdi {
    /// Opens the VDI in `file`; `ctx` says where it came from (to find a parent) and which
    /// images are already open above it in a chain.
    pub fn open(file: DeviceRef, ctx: &OpenContext) -> Result<Vdi> {
        let head = read_vec(file.as_ref(), 0, HEADER_LEN as u64, HEADER_LEN as u64)?;
        let h = VdiHeader::parse(&head)?;
        let blocks = h.disk_size.div_ceil(u64::from(h.block_size));
        if blocks > MAX_BLOCKS {
            return Err(Error::limit(
                "vdi",
                "block map",
                u64::from(h.offset_bmap),
                format!("{blocks} blocks exceed the limit of {MAX_BLOCKS}"),
            ));
        }
        let raw = read_vec(
            file.as_ref(),
            u64::from(h.offset_bmap),
            blocks * 4,
            blocks * 4,
        )
        .map_err(|e| {
            e.with_format("vdi")
                .with_structure("block map")
                .with_offset(u64::from(h.offset_bmap))
        })?;
        let bmap: Vec<u32> = raw
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let mut warnings = Vec::new();
        let parent = if h.image_type == ImageType::Differencing {
            let found = find_parent(&h, ctx, &mut warnings);
            Some(Parent::new(
                ctx,
                "vdi",
                &format!("{{{}}}", guid_le(&h.uuid_link)),
                h.disk_size,
                found,
            ))
        } else {
            None
        };
        let map = VdiMap {
            file: file.clone(),
            size: h.disk_size,
            block_size: u64::from(h.block_size),
            block_extra: u64::from(h.block_extra),
            offset_data: u64::from(h.offset_data),
            bmap,
            flat: h.image_type == ImageType::Static,
        };
        let device = Arc::new(MappedDevice::new(
            map,
            parent.as_ref().map(|p| p.device.clone()),
            Geometry { sector_size: 512 },
        ));
        let (parent, backing) = match parent {
            Some(p) => (p.found, Some(p.info)),
            None => (None, None),
        };
        Ok(Vdi {
            device,
            header: h,
            file_size: file.size(),
            parent,
            backing,
            warnings,
        })
    }

    /// The header.
    pub fn header(&self) -> &VdiHeader {
        &self.header
    }
}

/// Searches the child's folder for the `.vdi` whose image UUID is the child's link UUID (a VDI
/// records no parent path: VirtualBox keeps it in the machine's settings).
fn find_parent(
    h: &VdiHeader,
    ctx: &OpenContext,
    warnings: &mut Vec<String>,
) -> Result<(PathBuf, Vdi)> {
    let want = guid_le(&h.uuid_link);
    let Some(child) = ctx.path.as_deref() else {
        return Err(Error::unsupported(
            "vdi",
            format!(
                "differencing image inside another image: its parent (UUID {want}) cannot be looked up"
            ),
        ));
    };
    let own = std::fs::canonicalize(child).ok();
    let dir = match child.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut looked = 0usize;
    let entries = std::fs::read_dir(dir).map_err(Error::from).in_file(dir)?;
    for e in entries.take(MAX_DIR_SCAN) {
        let Ok(e) = e else { continue };
        let path = e.path();
        let is_vdi = path
            .extension()
            .is_some_and(|x| x.eq_ignore_ascii_case("vdi"));
        if !is_vdi || !path.is_file() || std::fs::canonicalize(&path).ok() == own {
            continue;
        }
        looked += 1;
        let Ok(src) = FileSource::open(&path) else {
            continue;
        };
        let mut b = vec![0u8; HEADER_LEN];
        if src.read_exact_at(0, &mut b).is_err() {
            continue;
        }
        let Ok(ph) = VdiHeader::parse(&b) else {
            continue;
        };
        if ph.uuid_image != h.uuid_link {
            continue;
        }
        if ph.uuid_last_snap != h.uuid_parent {
            warnings.push(format!(
                "parent {} was modified after this image was made (modification UUID {}, expected {})",
                path.display(),
                guid_le(&ph.uuid_last_snap),
                guid_le(&h.uuid_parent)
            ));
        }
        let sub = chain::enter(ctx, &path).map_err(|e| e.with_format("vdi"))?;
        let parent = Vdi::open(Arc::new(src), &sub).in_file(&path)?;
        return Ok((path, parent));
    }
    Err(Error::new(
        ErrorKind::NotFound,
        format!(
            "parent image with UUID {want} not found: none of the {looked} other .vdi files in {} has that UUID",
            dir.display()
        ),
    )
    .with_format("vdi")
    .with_structure("header"))
}

impl Container for Vdi {
    fn format(&self) -> &'static str {
        "vdi"
    }

    fn device(&self) -> DeviceRef {
        self.device.clone()
    }

    fn backing(&self) -> Option<&BackingInfo> {
        self.backing.as_ref()
    }

    fn details(&self) -> Value {
        let h = &self.header;
        let blocks = self.device.map().allocated_blocks();
        let mut d = json!({
            "subformat": h.image_type.name(),
            "version": format!("{}.{}", h.version >> 16, h.version & 0xffff),
            "virtual_size": h.disk_size,
            "sector_size": h.sector_size,
            "file_size": self.file_size,
            "block_size": h.block_size,
            "block_extra": h.block_extra,
            "blocks": h.blocks_in_image,
            "allocated_blocks": blocks,
            "allocated_size": blocks * u64::from(h.block_size),
            "uuid": guid_le(&h.uuid_image),
            "modification_uuid": guid_le(&h.uuid_last_snap),
            "description": h.description,
            "legacy_geometry": {
                "cylinders": h.legacy_geometry.0,
                "heads": h.legacy_geometry.1,
                "sectors": h.legacy_geometry.2,
            },
        });
        if h.image_type == ImageType::Differencing {
            d["parent_uuid"] = json!(guid_le(&h.uuid_link));
            d["parent_modification_uuid"] = json!(guid_le(&h.uuid_parent));
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
