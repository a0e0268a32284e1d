//! VHD (Virtual PC / Virtual Server / Hyper-V "Virtual Hard Disk"), read side.
//!
//! Specification: Microsoft "Virtual Hard Disk Image Format Specification" 1.0 (2006); second
//! opinions: libyal/libvhdi's format notes and qemu's `vpc` driver behaviour.
//!
//! Supported: fixed, dynamic and differencing disks; the footer (and, when it is damaged, the
//! copy at the start of dynamic disks; 511-byte footers of Virtual PC before 2004), footer and
//! header checksums; the block allocation table; sector bitmaps of differencing disks (a clear
//! bit falls through to the parent); parent locators `W2ru`, `W2ku`, `Wi2r`, `Wi2k`, `MacX` and
//! the parent name, resolved relative to the child; the parent's unique id is checked. The guest
//! size is the footer's current size; `details` also gives the CHS geometry and the size qemu
//! would use (qemu sizes `vpc `/`qemu`-made images by CHS). Not supported: the `Mac ` alias
//! locator (opaque), writing (a writer will sit beside these files: `create.rs`).
//!
//! Files: `footer.rs` (footer, checksum, CHS), `header.rs` (dynamic header, locators),
//! `map.rs` (BAT and bitmaps as a block map).

pub mod footer;
pub mod header;
mod map;
pub mod writer;

use crate::container::chain::{self, Candidate, Parent};
use crate::container::mapped::MappedDevice;
use crate::container::{BackingInfo, Container, OpenContext, bytes::uuid_be};
use crate::device::{BlockDevice, DeviceRef, Geometry};
use crate::error::{Error, Result, ResultExt};
use crate::format::{Confidence, FormatDescriptor, Opener, ProbeInput};
use crate::io::{BlockCache, FileSource, ReadAt, read_vec};
use footer::{DiskType, FOOTER_LEN, VhdFooter};
use header::VhdDynamicHeader;
use map::{Layout, Sparse, VhdMap};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Largest block allocation table read, in entries (2 TiB of 512 KiB blocks is 4 Mi entries).
pub const MAX_BAT_ENTRIES: u64 = 1 << 24;
/// Bytes a fixed disk's file may hold beyond its current size, before the footer.
const MAX_FIXED_SLACK: u64 = 1 << 20;
/// Cache for sector bitmaps.
const META_CACHE: u64 = 4 << 20;

/// The registry entry.
pub static DESCRIPTOR: FormatDescriptor = FormatDescriptor {
    create: Some(&writer::HOOK),
    check: None,
    name: "vhd",
    description: "Virtual PC / Hyper-V virtual hard disk (VHD)",
    extensions: &["vhd", "avhd"],
    probe,
    opener: Opener::Container(open),
};

fn probe(input: &ProbeInput<'_>) -> Confidence {
    if input.head.len() >= FOOTER_LEN && VhdFooter::parse(&input.head[..FOOTER_LEN], 0).is_ok() {
        return Confidence::CERTAIN;
    }
    // A footer only at the end (fixed disks): it must describe this file, not a VHD stored as
    // the last file of some other image.
    let size = input.device.size();
    for len in [FOOTER_LEN as u64, FOOTER_LEN as u64 - 1] {
        if size < len {
            continue;
        }
        let mut b = vec![0u8; FOOTER_LEN];
        if input
            .device
            .read_exact_at(size - len, &mut b[..len as usize])
            .is_err()
            || &b[..8] != footer::COOKIE
        {
            continue;
        }
        return match VhdFooter::parse(&b, size - len) {
            Ok(f) if describes(&f, input.device, size - len) => Confidence::CERTAIN,
            Ok(_) => Confidence::NONE,
            Err(_) => Confidence::WEAK,
        };
    }
    Confidence::NONE
}

/// Whether a footer found at `footer_offset` fits the file it ends: a fixed disk's data fills
/// the file up to the footer (within [`MAX_FIXED_SLACK`]); a dynamic disk's header is where the
/// footer says.
fn describes(f: &VhdFooter, device: &dyn BlockDevice, footer_offset: u64) -> bool {
    match f.disk_type {
        DiskType::Fixed => {
            f.current_size <= footer_offset && footer_offset - f.current_size <= MAX_FIXED_SLACK
        }
        _ => {
            let mut cookie = [0u8; 8];
            device.read_exact_at(f.data_offset, &mut cookie).is_ok() && &cookie == header::COOKIE
        }
    }
}

fn open(device: DeviceRef, ctx: &OpenContext) -> Result<Box<dyn Container>> {
    Ok(Box::new(Vhd::open(device, ctx)?))
}

/// An opened VHD.
pub struct Vhd {
    device: Arc<MappedDevice<VhdMap>>,
    footer: VhdFooter,
    footer_offset: u64,
    header: Option<VhdDynamicHeader>,
    file_size: u64,
    parent: Option<(PathBuf, Box<Vhd>)>,
    backing: Option<BackingInfo>,
    warnings: Vec<String>,
}

impl Vhd {
    /// Opens the VHD in `file`; `ctx` says where it came from (to find a parent) and which
    /// images are already open above it in a chain.
    pub fn open(file: DeviceRef, ctx: &OpenContext) -> Result<Vhd> {
        let mut warnings = Vec::new();
        let file_size = file.size();
        let (footer, footer_offset) = read_footer(file.as_ref(), &mut warnings)?;
        let size = footer.current_size;
        let (layout, header) = match footer.disk_type {
            DiskType::Fixed => {
                let data_area = footer_offset;
                if size > data_area {
                    return Err(Error::corrupt(
                        "vhd",
                        "footer",
                        footer_offset,
                        format!(
                            "fixed disk of {size} bytes does not fit before its footer at byte {data_area}"
                        ),
                    ));
                }
                (Layout::Fixed, None)
            }
            DiskType::Dynamic | DiskType::Differencing => {
                let h = VhdDynamicHeader::read(file.as_ref(), footer.data_offset)?;
                let block_size = u64::from(h.block_size);
                let needed = size.div_ceil(block_size);
                if u64::from(h.max_table_entries) < needed {
                    return Err(Error::corrupt(
                        "vhd",
                        "dynamic disk header",
                        footer.data_offset,
                        format!(
                            "{} table entries of {block_size} bytes cannot hold a disk of {size} bytes",
                            h.max_table_entries
                        ),
                    ));
                }
                if needed > MAX_BAT_ENTRIES {
                    return Err(Error::limit(
                        "vhd",
                        "block allocation table",
                        h.table_offset,
                        format!("{needed} entries exceed the limit of {MAX_BAT_ENTRIES}"),
                    ));
                }
                let raw = read_vec(file.as_ref(), h.table_offset, needed * 4, needed * 4).map_err(
                    |e| {
                        e.with_format("vhd")
                            .with_structure("block allocation table")
                            .with_offset(h.table_offset)
                    },
                )?;
                let bat = raw
                    .chunks_exact(4)
                    .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                let sparse = Sparse {
                    block_size,
                    bitmap_size: h.bitmap_size(),
                    bat,
                    differencing: footer.disk_type == DiskType::Differencing,
                    meta: BlockCache::new(file.clone(), 64 * 1024, META_CACHE),
                };
                (Layout::Sparse(sparse), Some(h))
            }
        };
        let parent = match (&header, footer.disk_type) {
            (Some(h), DiskType::Differencing) => Some(open_parent(h, &file, ctx, size)?),
            _ => None,
        };
        let map = VhdMap::new(file, size, layout);
        let device = Arc::new(MappedDevice::new(
            map,
            parent.as_ref().map(|p| p.device.clone()),
            Geometry { sector_size: 512 },
        ));
        let (parent, backing) = match parent {
            Some(p) => (p.found, Some(p.info)),
            None => (None, None),
        };
        if footer.saved_state != 0 {
            warnings.push("the disk is in a saved state (a suspended virtual machine)".into());
        }
        Ok(Vhd {
            device,
            footer,
            footer_offset,
            header,
            file_size,
            parent,
            backing,
            warnings,
        })
    }

    /// Opens the VHD file at `path` as a member of the chain `ctx` describes.
    fn open_path(path: &Path, ctx: &OpenContext) -> Result<Vhd> {
        let src: DeviceRef = Arc::new(FileSource::open(path)?);
        Vhd::open(src, ctx).in_file(path)
    }

    /// The dynamic disk header (dynamic and differencing disks).
    pub fn header(&self) -> Option<&VhdDynamicHeader> {
        self.header.as_ref()
    }

    /// The footer in use.
    pub fn footer(&self) -> &VhdFooter {
        &self.footer
    }
}

/// The footer at the end (512 or 511 bytes), else the copy at the start.
pub(crate) fn read_footer(
    file: &dyn ReadAt,
    warnings: &mut Vec<String>,
) -> Result<(VhdFooter, u64)> {
    let size = file.size();
    let mut first_error = None;
    for len in [FOOTER_LEN as u64, FOOTER_LEN as u64 - 1] {
        if size < len {
            continue;
        }
        let at = size - len;
        let mut b = vec![0u8; FOOTER_LEN];
        file.read_exact_at(at, &mut b[..len as usize])?;
        match VhdFooter::parse(&b, at) {
            Ok(f) => return Ok((f, at)),
            Err(e) if &b[..8] == footer::COOKIE || first_error.is_none() => first_error = Some(e),
            Err(_) => {}
        }
    }
    if size >= FOOTER_LEN as u64 {
        let b = read_vec(file, 0, FOOTER_LEN as u64, FOOTER_LEN as u64)?;
        if let Ok(f) = VhdFooter::parse(&b, 0) {
            if f.disk_type != DiskType::Fixed {
                warnings.push(format!(
                    "the footer at the end is damaged ({}); used the copy at the start",
                    first_error
                        .as_ref()
                        .map_or_else(|| "missing".to_owned(), |e| e.message().to_owned())
                ));
                return Ok((f, size.saturating_sub(FOOTER_LEN as u64)));
            }
        }
    }
    Err(first_error
        .unwrap_or_else(|| Error::corrupt("vhd", "footer", 0, "file is smaller than a footer")))
}

/// The parent locators' paths, relative ones first (they survive moving the pair of files
/// together), then the parent's name.
fn parent_references(h: &VhdDynamicHeader, file: &dyn ReadAt) -> Result<Vec<String>> {
    let mut refs = Vec::new();
    let order = [
        header::platform::W2RU,
        header::platform::WI2R,
        header::platform::MACX,
        header::platform::W2KU,
        header::platform::WI2K,
    ];
    for code in order {
        for l in h.parent_locators.iter().filter(|l| l.platform_code == code) {
            if let Some(p) = l.read_path(file)? {
                refs.push(p);
            }
        }
    }
    refs.push(h.parent_unicode_name.clone());
    Ok(refs)
}

/// Finds, opens and checks the parent of a differencing disk of `size` bytes. A locator that
/// cannot be read is an error (the file is damaged); a parent that cannot be found or used is
/// reported in the result.
fn open_parent(
    h: &VhdDynamicHeader,
    file: &DeviceRef,
    ctx: &OpenContext,
    size: u64,
) -> Result<Parent<Vhd>> {
    let expected = uuid_be(&h.parent_unique_id);
    let what = format!(
        "\"{}\" with unique id {expected}",
        h.parent_unicode_name.trim()
    );
    let refs = parent_references(h, file.as_ref())?;
    let found = chain::find_parent(ctx, "vhd", &refs, &what, |path, sub| {
        let parent = Vhd::open_path(path, sub)?;
        Ok(if parent.footer.unique_id == h.parent_unique_id {
            Candidate::Parent(parent)
        } else {
            Candidate::Other(format!(
                "has unique id {}",
                uuid_be(&parent.footer.unique_id)
            ))
        })
    });
    let recorded = refs.first().cloned().unwrap_or_default();
    Ok(Parent::new(ctx, "vhd", &recorded, size, found))
}

impl Container for Vhd {
    fn format(&self) -> &'static str {
        "vhd"
    }

    fn device(&self) -> DeviceRef {
        self.device.clone()
    }

    fn backing(&self) -> Option<&BackingInfo> {
        self.backing.as_ref()
    }

    fn details(&self) -> Value {
        let f = &self.footer;
        let (blocks, allocated) = self.device.map().allocated();
        let mut d = json!({
            "subformat": f.disk_type.name(),
            "virtual_size": f.current_size,
            "original_size": f.original_size,
            "sector_size": 512,
            "file_size": self.file_size,
            "allocated_size": allocated,
            "uuid": uuid_be(&f.unique_id),
            "creator": {
                "application": f.creator(),
                "version": format!("{}.{}", f.creator_version >> 16, f.creator_version & 0xffff),
                "host_os": String::from_utf8_lossy(&f.creator_host_os).trim_end().to_owned(),
            },
            "time_stamp": 946_684_800u64 + u64::from(f.time_stamp),
            "chs": {
                "cylinders": f.cylinders,
                "heads": f.heads,
                "sectors_per_track": f.sectors_per_track,
                "size": f.chs_size(),
            },
            "footer_offset": self.footer_offset,
        });
        if f.qemu_size() != f.current_size {
            d["qemu_virtual_size"] = json!(f.qemu_size());
            d["size_note"] = json!(format!(
                "made by '{}': qemu sizes it by its CHS geometry ({} bytes); Hyper-V, Azure and diskimg use the current size ({} bytes)",
                f.creator(),
                f.qemu_size(),
                f.current_size
            ));
        }
        if let Some(h) = &self.header {
            d["block_size"] = json!(h.block_size);
            d["bat_entries"] = json!(h.max_table_entries);
            d["allocated_blocks"] = json!(blocks);
        }
        if let (Some(h), DiskType::Differencing) = (&self.header, f.disk_type) {
            d["parent"] = json!({
                "uuid": uuid_be(&h.parent_unique_id),
                "name": h.parent_unicode_name,
                "time_stamp": 946_684_800u64 + u64::from(h.parent_time_stamp),
                "locators": h.parent_locators.iter().map(|l| json!({
                    "platform": l.code_name(),
                    "offset": l.platform_data_offset,
                    "length": l.platform_data_length,
                })).collect::<Vec<_>>(),
            });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::io::MemorySource;

    /// A fixed disk of `n` bytes of pattern plus a footer.
    fn fixed(n: usize) -> Vec<u8> {
        let mut img: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
        let mut f = [0u8; 512];
        f[..8].copy_from_slice(footer::COOKIE);
        f[8..12].copy_from_slice(&2u32.to_be_bytes());
        f[12..16].copy_from_slice(&0x10000u32.to_be_bytes());
        f[16..24].copy_from_slice(&u64::MAX.to_be_bytes());
        f[28..32].copy_from_slice(b"win ");
        f[40..48].copy_from_slice(&(n as u64).to_be_bytes());
        f[48..56].copy_from_slice(&(n as u64).to_be_bytes());
        f[60..64].copy_from_slice(&2u32.to_be_bytes());
        let c = footer::checksum(&f);
        f[64..68].copy_from_slice(&c.to_be_bytes());
        img.extend_from_slice(&f);
        img
    }

    #[test]
    fn fixed_disk_reads_its_data_area() {
        let img = fixed(4096);
        let dev: DeviceRef = Arc::new(MemorySource::new(img.clone()));
        let probe_in = ProbeInput {
            head: &img[..512],
            device: dev.as_ref(),
        };
        assert_eq!(probe(&probe_in), Confidence::CERTAIN);
        let v = Vhd::open(dev, &OpenContext::default()).unwrap();
        let d = v.device();
        assert_eq!(d.size(), 4096);
        let mut b = vec![0u8; 4096];
        d.read_exact_at(0, &mut b).unwrap();
        assert_eq!(&b[..], &img[..4096]);
        assert_eq!(v.details()["subformat"], "fixed");
    }

    #[test]
    fn oversized_fixed_disk_is_corrupt() {
        let mut img = fixed(4096);
        let at = img.len() - 512;
        img[at + 48..at + 56].copy_from_slice(&(1u64 << 40).to_be_bytes());
        let c = footer::checksum(&img[at..]);
        img[at + 64..at + 68].copy_from_slice(&c.to_be_bytes());
        let dev: DeviceRef = Arc::new(MemorySource::new(img));
        let e = Vhd::open(dev, &OpenContext::default()).err().unwrap();
        assert_eq!(e.kind(), ErrorKind::Corrupt);
    }

    #[test]
    fn qemu_chs_size_is_reported_for_virtual_pc_images() {
        let mut img = fixed(64 * 1024);
        let at = img.len() - 512;
        img[at + 28..at + 32].copy_from_slice(b"vpc ");
        img[at + 56..at + 60].copy_from_slice(&[0, 3, 4, 10]); // 3 * 4 * 10 sectors
        let c = footer::checksum(&img[at..]);
        img[at + 64..at + 68].copy_from_slice(&c.to_be_bytes());
        let v = Vhd::open(Arc::new(MemorySource::new(img)), &OpenContext::default()).unwrap();
        let d = v.details();
        assert_eq!(d["virtual_size"], 64 * 1024);
        assert_eq!(d["qemu_virtual_size"], 3 * 4 * 10 * 512);
        assert_eq!(v.device().size(), 64 * 1024);
    }
}
