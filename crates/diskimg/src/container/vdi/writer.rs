//! The VDI writer: static, dynamic and differencing images (header version 1.1), in one pass
//! in guest order.
//!
//! ```text
//! 0        pre-header (banner, signature, version) and header (0x190 bytes)
//! 512      block map: one u32 per 1 MiB block
//! 1 MiB..  blocks (the data area starts on a MiB boundary, as VirtualBox lays it out)
//! ```
//!
//! The writer's unit is the block (1 MiB, the only size VirtualBox and qemu use), so a block is
//! written whole or not at all: a differencing image has no per-sector bitmap, and a block it
//! stores must hold all of its data. Static images hold every block in guest order (the host
//! file's holes read as zeros); dynamic and differencing images append blocks as the emission
//! reaches them, and blocks never written stay free (zeros, or the parent's data). A block that
//! must read as zeros over the parent's data is marked zero in the map (`0xFFFFFFFE`), which
//! stores nothing. Each image gets a new random UUID and modification UUID; a differencing
//! image records its parent's UUID and modification UUID (VirtualBox keeps the parent's path in
//! the machine's settings, not in the image).
//!
//! Memory: the block map (4 bytes per block, at most 64 MiB for the largest disk accepted).

use super::MAX_BLOCKS;
use super::header::{HEADER_LEN, ImageType, SIGNATURE, VERSION_1_1, VdiHeader};
use super::map::{BLOCK_FREE, BLOCK_ZERO};
use crate::container::bytes::random_guid_le;
use crate::container::write::{
    BackingRef, CreateHook, CreateRequest, ImageWriter, OptionHelp, WriteTarget,
};
use crate::error::{Error, Result};
use crate::io::{FileSource, WriteAt, read_vec};
use std::sync::Arc;

/// Format name.
const FORMAT: &str = "vdi";
/// The block size written.
pub const BLOCK_SIZE: u64 = 1 << 20;
/// Where the block map starts.
const OFFSET_BMAP: u64 = 512;
/// The data area starts on a multiple of this.
const DATA_ALIGN: u64 = 1 << 20;
/// The size of the header written (version 1.1 with the LCHS geometry).
const HEADER_SIZE: u32 = 0x190;
/// The banner VirtualBox writes.
const BANNER: &[u8] = b"<<< Oracle VM VirtualBox Disk Image >>>\n";

const OPTIONS: &[OptionHelp] = &[
    OptionHelp {
        key: "subformat",
        help: "dynamic (default) or static (every block allocated; host holes keep it sparse); \
               a backing file makes a differencing image",
    },
    OptionHelp {
        key: "static",
        help: "on/off: the same as subformat=static (qemu-img's name)",
    },
    OptionHelp {
        key: "backing_file",
        help: "parent VDI of a differencing image (found again by its UUID)",
    },
    OptionHelp {
        key: "backing_fmt",
        help: "vdi (the only parent format a VDI can have)",
    },
];

pub(super) static HOOK: CreateHook = CreateHook {
    create,
    options: OPTIONS,
    backing: true,
    set_backing: Some(set_backing),
};

fn bad(msg: impl Into<String>) -> Error {
    Error::invalid_input(msg).with_format(FORMAT)
}

fn image_type(req: &CreateRequest, backing: Option<&BackingRef>) -> Result<ImageType> {
    let o = &req.options;
    o.check_known(FORMAT, OPTIONS)?;
    if req.compress {
        return Err(Error::unsupported(FORMAT, "VDI has no compressed blocks"));
    }
    if let Some(f) = backing.and_then(|b| b.format.as_deref()) {
        if !f.eq_ignore_ascii_case("vdi") {
            return Err(bad(format!(
                "the parent of a differencing VDI must be a VDI, not {f}"
            )));
        }
    }
    let sub = match (o.get("subformat"), o.flag("static")?) {
        (Some(s), Some(st)) if (s == "static") != st => {
            return Err(bad("subformat and static disagree"));
        }
        (Some(s), _) => s,
        (None, Some(true)) => "static",
        (None, _) => "dynamic",
    };
    Ok(match (sub, backing.is_some()) {
        ("dynamic" | "differencing", true) => ImageType::Differencing,
        ("dynamic", false) => ImageType::Dynamic,
        ("static" | "fixed", false) => ImageType::Static,
        ("static" | "fixed", true) => return Err(bad("a static VDI cannot have a parent")),
        ("differencing", false) => return Err(bad("a differencing VDI needs a backing file")),
        (v, _) => return Err(bad(format!("subformat '{v}': use dynamic or static"))),
    })
}

fn backing_of(req: &CreateRequest) -> Option<BackingRef> {
    match req.options.get("backing_file") {
        Some(name) if req.backing.as_ref().is_none_or(|b| b.name != name) => Some(BackingRef::new(
            name,
            req.options.get("backing_fmt").map(str::to_owned),
            None,
        )),
        _ => req.backing.clone(),
    }
}

/// The parent's header, read from its file.
fn parent_header(b: &BackingRef) -> Result<VdiHeader> {
    let path = b.host_path(FORMAT)?;
    let src = FileSource::open(path)?;
    let head = read_vec(&src, 0, HEADER_LEN as u64, HEADER_LEN as u64)?;
    VdiHeader::parse(&head).map_err(|e| {
        bad(format!(
            "the backing file {} is not a VDI ({}): a differencing VDI needs a VDI parent",
            path.display(),
            e.message()
        ))
    })
}

fn create(target: WriteTarget, req: &CreateRequest) -> Result<Box<dyn ImageWriter>> {
    let backing = backing_of(req);
    let kind = image_type(req, backing.as_ref())?;
    let parent = match (&backing, kind) {
        (Some(b), ImageType::Differencing) => Some(parent_header(b)?),
        _ => None,
    };
    Ok(Box::new(VdiWriter::new(
        target.sink,
        req.size,
        kind,
        parent,
    )?))
}

/// The header of a new image.
fn new_header(size: u64, kind: ImageType, parent: Option<&VdiHeader>) -> Result<VdiHeader> {
    let blocks = size.div_ceil(BLOCK_SIZE);
    if size == 0 || blocks > MAX_BLOCKS {
        return Err(bad(format!(
            "a VDI of {size} bytes: diskimg writes 1 byte to {} bytes",
            MAX_BLOCKS * BLOCK_SIZE
        )));
    }
    let map_bytes = (blocks * 4).next_multiple_of(512);
    let offset_data = (OFFSET_BMAP + map_bytes).next_multiple_of(DATA_ALIGN);
    Ok(VdiHeader {
        version: VERSION_1_1,
        header_size: HEADER_SIZE,
        image_type: kind,
        image_flags: 0,
        description: String::new(),
        offset_bmap: OFFSET_BMAP as u32,
        offset_data: u32::try_from(offset_data).map_err(|_| bad("block map too large"))?,
        legacy_geometry: (0, 0, 0),
        sector_size: 512,
        disk_size: size,
        block_size: BLOCK_SIZE as u32,
        block_extra: 0,
        blocks_in_image: blocks as u32,
        blocks_allocated: 0,
        uuid_image: random_guid_le()?,
        uuid_last_snap: random_guid_le()?,
        uuid_link: parent.map_or([0; 16], |p| p.uuid_image),
        uuid_parent: parent.map_or([0; 16], |p| p.uuid_last_snap),
    })
}

/// The bytes of `h` (pre-header and header, up to the block map).
pub fn header_bytes(h: &VdiHeader) -> Vec<u8> {
    let mut b = vec![0u8; OFFSET_BMAP as usize];
    b[..BANNER.len()].copy_from_slice(BANNER);
    let mut put = |at: usize, v: &[u8]| b[at..at + v.len()].copy_from_slice(v);
    put(0x40, &SIGNATURE.to_le_bytes());
    put(0x44, &h.version.to_le_bytes());
    put(0x48, &h.header_size.to_le_bytes());
    let t: u32 = match h.image_type {
        ImageType::Dynamic => 1,
        ImageType::Static => 2,
        ImageType::Differencing => 4,
    };
    put(0x4C, &t.to_le_bytes());
    put(0x50, &h.image_flags.to_le_bytes());
    let desc = h.description.as_bytes();
    put(0x54, &desc[..desc.len().min(255)]);
    put(0x154, &h.offset_bmap.to_le_bytes());
    put(0x158, &h.offset_data.to_le_bytes());
    put(0x15C, &h.legacy_geometry.0.to_le_bytes());
    put(0x160, &h.legacy_geometry.1.to_le_bytes());
    put(0x164, &h.legacy_geometry.2.to_le_bytes());
    put(0x168, &h.sector_size.to_le_bytes());
    put(0x170, &h.disk_size.to_le_bytes());
    put(0x178, &h.block_size.to_le_bytes());
    put(0x17C, &h.block_extra.to_le_bytes());
    put(0x180, &h.blocks_in_image.to_le_bytes());
    put(0x184, &h.blocks_allocated.to_le_bytes());
    put(0x188, &h.uuid_image);
    put(0x198, &h.uuid_last_snap);
    put(0x1A8, &h.uuid_link);
    put(0x1B8, &h.uuid_parent);
    // LCHS geometry: zero (chosen by the virtual machine), 512-byte sectors.
    put(0x1D4, &512u32.to_le_bytes());
    b
}

/// Writes one VDI.
pub struct VdiWriter {
    sink: Arc<dyn WriteAt>,
    header: VdiHeader,
    bmap: Vec<u32>,
    next: u32,
}

impl VdiWriter {
    fn new(
        sink: Arc<dyn WriteAt>,
        size: u64,
        kind: ImageType,
        parent: Option<VdiHeader>,
    ) -> Result<Self> {
        let size = size.next_multiple_of(512);
        let mut header = new_header(size, kind, parent.as_ref())?;
        let blocks = header.blocks_in_image;
        let bmap = if kind == ImageType::Static {
            header.blocks_allocated = blocks;
            (0..blocks).collect()
        } else {
            vec![BLOCK_FREE; blocks as usize]
        };
        Ok(VdiWriter {
            sink,
            header,
            bmap,
            next: 0,
        })
    }

    fn data_offset(&self, index: u32) -> u64 {
        u64::from(self.header.offset_data) + u64::from(index) * BLOCK_SIZE
    }

    fn check(&self, first: u64, count: u64) -> Result<()> {
        if first
            .checked_add(count)
            .is_none_or(|e| e > self.bmap.len() as u64)
        {
            return Err(bad(format!("unit {first} is past the end of the disk")));
        }
        Ok(())
    }
}

impl ImageWriter for VdiWriter {
    fn unit_size(&self) -> u64 {
        BLOCK_SIZE
    }

    fn write_units(&mut self, first: u64, data: &[u8]) -> Result<()> {
        let count = data.len() as u64 / BLOCK_SIZE;
        self.check(first, count)?;
        if self.header.image_type == ImageType::Static {
            return self.sink.write_at(self.data_offset(first as u32), data);
        }
        // New blocks in a row are consecutive in the file: one write.
        let index = self.next;
        for k in 0..count {
            self.bmap[(first + k) as usize] = self.next;
            self.next += 1;
        }
        self.header.blocks_allocated = self.next;
        self.sink.write_at(self.data_offset(index), data)
    }

    fn write_zero_units(&mut self, first: u64, count: u64) -> Result<()> {
        self.check(first, count)?;
        if self.header.image_type == ImageType::Differencing {
            for k in first..first + count {
                self.bmap[k as usize] = BLOCK_ZERO;
            }
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<()> {
        let map: Vec<u8> = self.bmap.iter().flat_map(|e| e.to_le_bytes()).collect();
        self.sink.write_at(OFFSET_BMAP, &map)?;
        self.sink.write_at(0, &header_bytes(&self.header))?;
        self.sink
            .set_size(self.data_offset(self.header.blocks_allocated))
    }
}

/// Links the differencing VDI in `sink` to another parent (`rebase --unsafe`): the parent's
/// UUID and modification UUID are recorded in place. A VDI records no path, so the new parent
/// must sit in the child's folder to be found. Removing the parent is refused: use a safe
/// `rebase`.
pub fn set_backing(sink: &dyn WriteAt, backing: Option<&BackingRef>) -> Result<()> {
    let head = read_vec(sink, 0, HEADER_LEN as u64, HEADER_LEN as u64)?;
    let mut h = VdiHeader::parse(&head)?;
    if h.image_type != ImageType::Differencing {
        return Err(Error::unsupported(
            FORMAT,
            "only a differencing VDI has a parent to change",
        ));
    }
    let Some(b) = backing else {
        return Err(Error::unsupported(
            FORMAT,
            "a differencing VDI cannot drop its parent in place: use a safe rebase",
        ));
    };
    let p = parent_header(b)?;
    h.uuid_link = p.uuid_image;
    h.uuid_parent = p.uuid_last_snap;
    sink.write_at(0x1A8, &h.uuid_link)?;
    sink.write_at(0x1B8, &h.uuid_parent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::vdi::Vdi;
    use crate::container::write::FormatOptions;
    use crate::container::{Container, OpenContext};
    use crate::device::DeviceRef;
    use crate::io::{MemorySink, MemorySource};
    use crate::ops::convert::{NoProgress, write_image};

    #[test]
    fn written_images_read_back() {
        for (opts, size) in [
            (&[][..], (5 << 20) + 512),
            (&["subformat=static"][..], 3 << 20),
            (&["static=on"][..], (2 << 20) + 4096),
        ] {
            let mut data = vec![0u8; size];
            for (i, c) in data.chunks_mut(1 << 19).enumerate() {
                if i % 3 != 1 {
                    c.iter_mut()
                        .enumerate()
                        .for_each(|(j, b)| *b = (i + j / 7) as u8 | 1);
                }
            }
            let src: DeviceRef = Arc::new(MemorySource::new(data.clone()));
            let req = CreateRequest {
                size: size as u64,
                compress: false,
                backing: None,
                options: FormatOptions::parse(opts).unwrap(),
            };
            let sink = Arc::new(MemorySink::new());
            let w = create(WriteTarget::single(sink.clone()), &req).unwrap();
            write_image(&src, w, None, 2, &NoProgress).unwrap();
            let v = Vdi::open(
                Arc::new(MemorySource::new(sink.to_vec())),
                &OpenContext::default(),
            )
            .unwrap();
            let dev = v.device();
            assert_eq!(dev.size(), size as u64);
            let mut back = vec![0u8; size];
            dev.read_exact_at(0, &mut back).unwrap();
            assert!(back == data, "{opts:?}");
            let want = if opts.is_empty() { "dynamic" } else { "static" };
            assert_eq!(v.details()["subformat"], want);
        }
    }
}
