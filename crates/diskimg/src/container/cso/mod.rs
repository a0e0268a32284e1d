//! CSO (v1, v2), ZSO and DAX: compressed ISO images of PSP and PS2 games, read and written.
//!
//! Specifications: maxcso's `README_CSO.md` (CSO v1 by BOOSTER, the experimental v2) and
//! `README_ZSO.md`; DAX from the structures maxcso reads (`src/dax.h`, `src/input.cpp`).
//! Every variant cuts the ISO into fixed blocks (DAX: 8 KiB frames) compressed one by one and
//! located by an index after the header:
//!
//! | variant | magic  | blocks                                    | index                         |
//! |---------|--------|-------------------------------------------|-------------------------------|
//! | CSO v1  | `CISO` | raw deflate; high bit: stored             | `u32` offsets >> shift, n + 1 |
//! | CSO v2  | `CISO` | deflate or LZ4 (high bit); stored if whole | as v1                         |
//! | ZSO     | `ZISO` | LZ4 blocks; high bit: stored              | as v1                         |
//! | DAX     | `DAX\0`| zlib frames; NC areas stored              | `u32` offsets, `u16` lengths  |
//!
//! The container's device is the ISO: `info`, `ls`, `cat`, `extract` and `convert` see the file
//! system inside without unpacking. Files: `header.rs`, `index.rs` (the checked index),
//! `codec.rs` (deflate/zlib through libdeflate, our bounded LZ4 decoder, LZ4 HC), `reader.rs`
//! (the device: parallel decoding of long reads), `presets.rs` (writer options),
//! `writer.rs` (the [`ImageWriter`](crate::container::write::ImageWriter) that `convert` drives).
//!
//! Supported: reading all four variants, any power-of-two block size from 512 bytes to 1 MiB,
//! index shifts, DAX non-compressed areas; writing all four (`-O cso`, `cso2`, `zso`, `dax`).
//! Not supported: DAX NC areas on writing (maxcso does not write them either), CSO files whose
//! index is not in increasing order (the format forbids it). CSO carries no checksums, so
//! `verify` has nothing to check in it beyond a full read.

pub mod codec;
pub mod header;
pub mod index;
pub mod presets;
pub mod reader;
pub mod writer;

use crate::container::{Container, OpenContext};
use crate::device::DeviceRef;
use crate::error::Result;
use crate::format::{Confidence, FormatDescriptor, Opener, ProbeInput};
use crate::io::{BlockCache, ReadAt, read_vec};
use header::{CsoHeader, DAX_HEADER_LEN, Variant};
use index::{BlockCounts, BlockIndex};
use reader::CsoBlocks;
use serde_json::json;
use std::sync::Arc;

/// Bytes of decoded blocks kept for small random reads.
const CACHE_BYTES: u64 = 4 << 20;

/// CSO v1 (and v2 on reading).
pub static DESCRIPTOR: FormatDescriptor = FormatDescriptor {
    name: "cso",
    description: "compressed ISO (CSO v1/v2, PSP/PS2)",
    extensions: &["cso", "ciso"],
    probe: probe_cso,
    opener: Opener::Container(open),
    create: Some(&writer::CSO_HOOK),
    check: None,
};

/// CSO v2, named for writing (`-O cso2`); reading goes through [`DESCRIPTOR`].
pub static CSO2_DESCRIPTOR: FormatDescriptor = FormatDescriptor {
    name: "cso2",
    description: "compressed ISO, CSO v2 (deflate and LZ4 blocks)",
    extensions: &[],
    probe: |_| Confidence::NONE,
    opener: Opener::Container(open),
    create: Some(&writer::CSO2_HOOK),
    check: None,
};

/// ZSO.
pub static ZSO_DESCRIPTOR: FormatDescriptor = FormatDescriptor {
    name: "zso",
    description: "LZ4-compressed ISO (ZSO, PSP/PS2)",
    extensions: &["zso"],
    probe: probe_zso,
    opener: Opener::Container(open),
    create: Some(&writer::ZSO_HOOK),
    check: None,
};

/// DAX.
pub static DAX_DESCRIPTOR: FormatDescriptor = FormatDescriptor {
    name: "dax",
    description: "DAX compressed ISO (PSP)",
    extensions: &["dax"],
    probe: probe_dax,
    opener: Opener::Container(open),
    create: Some(&writer::DAX_HOOK),
    check: None,
};

fn probe_cso(input: &ProbeInput<'_>) -> Confidence {
    probe(input, &[Variant::Cso1, Variant::Cso2])
}

fn probe_zso(input: &ProbeInput<'_>) -> Confidence {
    probe(input, &[Variant::Zso])
}

fn probe_dax(input: &ProbeInput<'_>) -> Confidence {
    probe(input, &[Variant::Dax])
}

/// How sure the header at the start is one of `variants`: certain when its fields are sound
/// and its index fits in the file (DAX, with a weaker magic: likely).
fn probe(input: &ProbeInput<'_>, variants: &[Variant]) -> Confidence {
    let Some(variant) = CsoHeader::sniff(input.head).filter(|v| variants.contains(v)) else {
        return Confidence::NONE;
    };
    let Ok(h) = CsoHeader::parse(input.head) else {
        return Confidence::WEAK;
    };
    // The index must fit in the file.
    let index_len = if variant == Variant::Dax {
        h.blocks() * 6
    } else {
        (h.blocks() + 1) * 4
    };
    if h.len() + index_len > input.device.size() {
        return Confidence::WEAK;
    }
    if variant == Variant::Dax {
        Confidence::LIKELY
    } else {
        Confidence::CERTAIN
    }
}

fn open(file: DeviceRef, _ctx: &OpenContext) -> Result<Box<dyn Container>> {
    Ok(Box::new(Cso::open(file)?))
}

/// An opened CSO, ZSO or DAX image.
pub struct Cso {
    header: CsoHeader,
    device: DeviceRef,
    counts: BlockCounts,
    file_size: u64,
}

impl Cso {
    /// Opens the image in `file`: reads the header and checks the whole index.
    pub fn open(file: DeviceRef) -> Result<Cso> {
        let len = (DAX_HEADER_LEN as u64).min(file.size());
        let head = read_vec(file.as_ref(), 0, len, len)?;
        let header = CsoHeader::parse(&head)?;
        let fmt = header.variant.format();
        let index = BlockIndex::read(file.as_ref(), &header).map_err(|e| e.with_format(fmt))?;
        let counts = index.counts();
        let file_size = file.size();
        let blocks = CsoBlocks::new(
            file,
            index,
            header.uncompressed_size,
            header.block_size,
            fmt,
        );
        let device: DeviceRef = Arc::new(BlockCache::new(blocks, header.block_size, CACHE_BYTES));
        Ok(Cso {
            header,
            device,
            counts,
            file_size,
        })
    }

    /// The header.
    pub fn header(&self) -> &CsoHeader {
        &self.header
    }
}

impl Container for Cso {
    fn format(&self) -> &'static str {
        self.header.variant.format()
    }

    fn device(&self) -> DeviceRef {
        self.device.clone()
    }

    fn details(&self) -> serde_json::Value {
        let h = &self.header;
        json!({
            "variant": h.variant.name(),
            "version": h.version,
            "virtual_size": h.uncompressed_size,
            "block_size": h.block_size,
            "index_shift": h.index_shift,
            "blocks": h.blocks(),
            "blocks_stored": self.counts.stored,
            "blocks_deflate": self.counts.deflate,
            "blocks_lz4": self.counts.lz4,
            "nc_areas": h.nc_areas,
            "file_size": self.file_size,
        })
    }
}

/// Decodes every block of the image in `file` (fuzzing and tests): the first error found.
pub fn read_all(file: DeviceRef) -> Result<u64> {
    let c = Cso::open(file)?;
    let dev = c.device();
    let mut buf = vec![0u8; 1 << 20];
    let mut off = 0u64;
    while off < dev.size() {
        let n = dev.read_at(off, &mut buf)?;
        if n == 0 {
            break;
        }
        off += n as u64;
    }
    Ok(off)
}
