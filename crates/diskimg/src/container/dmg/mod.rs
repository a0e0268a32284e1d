//! Apple disk images: UDIF (`.dmg`) read and written, sparse images and sparse bundles read,
//! encrypted images (`encrcdsa`) read and written.
//!
//! Specifications: libyal libmodi "Mac OS disk image types" (koly trailer, blkx tables, sparse
//! image header, sparse bundle Info.plist), Apple's property list DTD, Inside Macintosh (the
//! resource fork), the `vfdecrypt` notes for `encrcdsa`; 7-Zip's `DmgHandler` and dmg2img as
//! second readings. Own code throughout (the project's rule for UDIF); codecs from crates.
//!
//! - [`koly`]: the 512-byte trailer; [`plist`]: a bounded XML property-list reader and writer;
//!   [`rsrc`]: the classic resource fork (older images keep blkx tables there);
//!   [`mish`]: blkx tables and chunk types; [`adc`]: Apple Data Compression;
//!   [`codec`]: every chunk codec; [`segment`]: `.dmgpart` segments; [`udif`]: opening an image;
//!   [`device`]: reads through the chunk map (cache, parallel decompression);
//!   [`verify`]: data, per-table and master CRC-32 checks; [`writer`]: the UDIF writer;
//!   [`sparse`]: `.sparseimage`; [`bundle`]: `.sparsebundle` folders;
//!   [`crypt`]: `encrcdsa` v2 (AES-128/256, PBKDF2 + 3DES key unwrap, HMAC-SHA1 IVs).
//!
//! Read: every chunk type (zero, raw, ignore, ADC, zlib, bzip2, LZFSE, LZMA/xz, comment,
//! terminator); blkx tables from the XML property list or the resource fork; a table's data
//! offset; segmented images; `extents()` from the chunks (zero chunks are `zero`, ignore
//! chunks and gaps `unallocated`, the rest data).
//!
//! Written: UDRO, UDZO, UDBZ, ULFO, ULMO with 1 MiB chunks, one blkx table per partition of
//! the disk's MBR/GPT/APM (as hdiutil lays them out) or one for the whole disk, the property
//! list, the koly trailer with data fork and master CRC-32s; optionally encrypted.
//!
//! Not supported: NDIF and Disk Copy 4.2 images; UDIF stubs without tables; checksum types
//! other than CRC-32 (reported, not verified); encrcdsa v1 headers and public-key (certificate)
//! encryption; writing segmented images, sparse images or bundles.

pub mod adc;
pub mod bundle;
pub mod codec;
pub mod crypt;
pub mod device;
pub mod koly;
pub mod layout;
pub mod mish;
pub mod plist;
pub mod rsrc;
pub mod segment;
pub mod sparse;
pub mod udif;
pub mod verify;
pub mod writer;

use crate::container::{Container, OpenContext};
use crate::device::DeviceRef;
use crate::error::Result;
use crate::format::{Confidence, FormatDescriptor, Opener, ProbeInput};
use crate::io::ReadAt;
use device::UdifDevice;
use koly::{KOLY_LEN, KOLY_MAGIC};
use mish::ChunkKind;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use udif::{Metadata, UdifImage};

pub use verify::{ChecksumResult, VerifyReport, verify};

/// Format name.
pub const FORMAT: &str = "dmg";

/// UDIF disk images.
pub static DESCRIPTOR: FormatDescriptor = FormatDescriptor {
    name: FORMAT,
    description: "Apple disk image (UDIF .dmg)",
    extensions: &["dmg"],
    probe,
    opener: Opener::Container(open),
    create: Some(&writer::HOOK),
    check: None,
};

fn probe(input: &ProbeInput<'_>) -> Confidence {
    let size = input.device.size();
    if size < KOLY_LEN as u64 {
        return Confidence::NONE;
    }
    let mut b = [0u8; 12];
    if input
        .device
        .read_exact_at(size - KOLY_LEN as u64, &mut b)
        .is_err()
    {
        return Confidence::NONE;
    }
    if b[..4] != KOLY_MAGIC {
        return Confidence::NONE;
    }
    if b[4..12] == [0, 0, 0, 4, 0, 0, 2, 0] {
        Confidence::CERTAIN
    } else {
        Confidence::WEAK
    }
}

fn open(file: DeviceRef, ctx: &OpenContext) -> Result<Box<dyn Container>> {
    Ok(Box::new(Dmg::open(file, ctx)?))
}

/// An opened UDIF image.
pub struct Dmg {
    image: UdifImage,
    device: Arc<UdifDevice>,
}

impl Dmg {
    /// Opens the image whose (first segment's) bytes are `file`; `ctx.path` finds segments.
    pub fn open(file: DeviceRef, ctx: &OpenContext) -> Result<Self> {
        let (image, device) = udif::open(&file, ctx)?;
        Ok(Dmg {
            image,
            device: Arc::new(device),
        })
    }

    /// The image's structure.
    pub fn image(&self) -> &UdifImage {
        &self.image
    }

    /// The disk.
    pub fn udif_device(&self) -> &Arc<UdifDevice> {
        &self.device
    }

    /// hdiutil's name for the image's format, from the chunks it holds: UDZO, UDBZ, ULFO,
    /// ULMO, UDCO (ADC), UDRO (raw only).
    pub fn variant(&self) -> &'static str {
        let has = |k: ChunkKind| self.device.runs().iter().any(|r| r.kind == k);
        if has(ChunkKind::Zlib) {
            "UDZO"
        } else if has(ChunkKind::Bzip2) {
            "UDBZ"
        } else if has(ChunkKind::Lzfse) {
            "ULFO"
        } else if has(ChunkKind::Lzma) {
            "ULMO"
        } else if has(ChunkKind::Adc) {
            "UDCO"
        } else {
            "UDRO"
        }
    }
}

impl Container for Dmg {
    fn format(&self) -> &'static str {
        FORMAT
    }

    fn device(&self) -> DeviceRef {
        self.device.clone()
    }

    fn details(&self) -> serde_json::Value {
        let k = &self.image.koly;
        let mut chunks: BTreeMap<&str, u64> = BTreeMap::new();
        let mut stored = 0u64;
        for r in self.device.runs() {
            *chunks.entry(r.kind.name()).or_default() += 1;
            if r.kind == ChunkKind::Raw || r.kind.is_compressed() {
                stored += r.src_len;
            }
        }
        let partitions: Vec<_> = self
            .image
            .tables
            .iter()
            .map(|e| {
                json!({
                    "name": e.name,
                    "id": e.id,
                    "first_sector": e.table.first_sector,
                    "sectors": e.table.sector_count,
                    "chunks": e.table.chunks.len(),
                    "checksum": e.table.checksum.describe(),
                })
            })
            .collect();
        json!({
            "variant": self.variant(),
            "virtual_size": self.image.size,
            "sector_count": k.sector_count,
            "data_fork_length": self.device.fork().size(),
            "stored_bytes": stored,
            "metadata": match self.image.metadata {
                Metadata::Xml => "xml plist",
                Metadata::ResourceFork => "resource fork",
            },
            "segments": self.image.segments.len(),
            "segment_id": crate::container::bytes::uuid_be(&k.segment_id),
            "data_checksum": k.data_checksum.describe(),
            "master_checksum": k.master_checksum.describe(),
            "chunk_types": chunks,
            "partitions": partitions,
        })
    }
}
