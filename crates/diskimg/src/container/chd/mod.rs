//! CHD (MAME "Compressed Hunks of Data"), read and write.
//!
//! Specification: MAME `src/lib/util/chd.h`, `chd.cpp` (header, map, metadata, codecs) and
//! `cdrom.h`/`cdrom.cpp` (the CD layout); chdman's `createcd`/`createdvd`/`createhd` and
//! `extractcd` for defaults and behaviour.
//!
//! Read: versions 3, 4 and 5; the MAME codecs (through the `chd` crate, pinned): zlib, lzma,
//! huff, flac, zstd, cdzl, cdlz, cdfl, cdzs; uncompressed images; hunks copied from other
//! hunks and from a parent image (found beside the child by its SHA-1). A CD image
//! (`CHT2`/`CHTR` metadata) opens as an optical disc ([`cd`]); a DVD (`DVD `) or hard disk
//! (`GDDD`) or any other CHD opens as a container whose device is the data. Not read: CHD
//! versions 1 and 2, GD-ROM layouts, hunks in external files, A/V Huffman (LaserDisc) hunks.
//!
//! Write ([`writer`]): version 5 with the CD, DVD and hard-disk layouts, chdman's default
//! codecs (FLAC only where there is audio), hunks compressed on every core (LZMA through
//! liblzma, deflate through libdeflate, the other codecs the `chd` crate's) and written in
//! order.
//!
//! Files: `header.rs` (header checks), `metadata.rs`, `map.rs` (map entries normalised and
//! checked), `codec.rs` (codecs per thread, CRC-16), `cache.rs` (decompressed hunks),
//! `device.rs` (the data as a device), `cd.rs` (the CD layout as a disc), `parent.rs`
//! (parent lookup), `writer.rs`, `encode.rs`, `lzma_raw.rs`, `v5.rs`, `map_encode.rs` and
//! `layout.rs` (writing), `verify.rs` (SHA-1s and hunk CRCs).

pub mod cache;
pub mod cd;
pub mod codec;
pub mod device;
pub mod encode;
pub mod header;
pub mod layout;
pub mod lzma_raw;
pub mod map;
pub mod map_encode;
pub mod metadata;
pub mod parent;
pub mod v5;
pub mod verify;
pub mod writer;

use crate::container::{Container, OpenContext};
use crate::device::DeviceRef;
use crate::error::Result;
use crate::format::{Confidence, FormatDescriptor, Opener, ProbeInput};
use crate::optical::Disc;
use device::ChdDevice;
use serde_json::{Value, json};
use std::sync::Arc;

/// Format name.
pub const FORMAT: &str = "chd";
/// Largest hunk, in bytes (chdman's hunks are 4 KiB to 19584 bytes; A/V frames below 1 MiB).
pub const MAX_HUNK_BYTES: u32 = 1 << 20;
/// Most hunks in one image: 16 Mi hunks (64 GiB in 4 KiB hunks); the map of a CHD is held in
/// memory at 12 bytes per hunk.
pub const MAX_HUNKS: u64 = 1 << 24;
/// Largest logical size accepted (before the hunk count is even computed).
pub const MAX_LOGICAL_BYTES: u64 = 1 << 46;

/// The registry entry of CHDs that are not CDs (DVD, hard disk, raw): a container.
pub static DESCRIPTOR: FormatDescriptor = FormatDescriptor {
    name: FORMAT,
    description: "MAME CHD v3-v5 (hard disk, DVD, raw; CD images open as discs)",
    extensions: &["chd"],
    probe: |p: &ProbeInput<'_>| match probe_kind(p) {
        Some(false) => Confidence::CERTAIN,
        _ => Confidence::NONE,
    },
    opener: Opener::Container(open_container),
    create: None,
    check: None,
};

/// The registry entry of CD CHDs: an optical disc.
pub static CD_DESCRIPTOR: FormatDescriptor = FormatDescriptor {
    name: "chdcd",
    description: "MAME CHD CD-ROM image (CHT2/CHTR tracks), read as a disc",
    extensions: &["chd"],
    probe: |p: &ProbeInput<'_>| match probe_kind(p) {
        Some(true) => Confidence::CERTAIN,
        _ => Confidence::NONE,
    },
    opener: Opener::Disc(open_disc),
    create: None,
    check: None,
};

/// `Some(is_cd)` for a CHD whose header and metadata read; `None` otherwise (a file with the
/// tag but a broken header is still claimed by the container entry, which then reports why).
fn probe_kind(p: &ProbeInput<'_>) -> Option<bool> {
    if !header::has_magic(p.head) {
        return None;
    }
    let cd = header::ChdHeader::read(p.device)
        .and_then(|h| metadata::read_metadata(p.device, h.meta_offset))
        .map(|m| cd::is_cd(&m))
        .unwrap_or(false);
    Some(cd)
}

/// Opens the CHD in `file`, looking for its parent beside `ctx.path`.
pub fn open_device(file: DeviceRef, ctx: &OpenContext) -> Result<Arc<ChdDevice>> {
    parent::open_with_chain(file, ctx)
}

fn open_container(file: DeviceRef, ctx: &OpenContext) -> Result<Box<dyn Container>> {
    Ok(Box::new(Chd {
        device: open_device(file, ctx)?,
    }))
}

fn open_disc(file: DeviceRef, ctx: &OpenContext) -> Result<Disc> {
    let dev = open_device(file, ctx)?;
    let mut disc = cd::disc(dev.clone(), ctx.path.clone())?;
    if let Some(e) = &dev.parent_error {
        disc.warnings.push(format!("parent image: {e}"));
    }
    Ok(disc)
}

/// An opened CHD container.
pub struct Chd {
    /// The data.
    pub device: Arc<ChdDevice>,
}

impl Container for Chd {
    fn format(&self) -> &'static str {
        FORMAT
    }

    fn device(&self) -> DeviceRef {
        self.device.clone()
    }

    fn details(&self) -> Value {
        details(&self.device)
    }
}

/// Facts for `info`.
pub fn details(d: &ChdDevice) -> Value {
    let h = &d.header;
    let hex = |s: &[u8; 20]| s.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let mut v = json!({
        "version": h.version,
        "logical_size": h.logical_bytes,
        "hunk_size": h.hunk_bytes,
        "unit_size": d.unit_bytes,
        "hunks": h.hunk_count,
        "compression": h.codecs().map(header::codec_name).collect::<Vec<_>>(),
        "sha1": hex(&h.sha1),
        "metadata": d.metadata.iter().map(|m| json!({
            "tag": m.tag_name(),
            "text": m.text(),
        })).collect::<Vec<_>>(),
    });
    if h.version >= 4 {
        v["data_sha1"] = json!(hex(&h.raw_sha1));
    }
    if h.has_parent {
        v["parent_sha1"] = json!(hex(&h.parent_sha1));
        if let Some(p) = &d.parent {
            v["parent"] = json!(p.path.display().to_string());
        }
        if let Some(e) = &d.parent_error {
            v["parent_error"] = json!(e);
        }
    }
    v
}
