//! The VHD writer: fixed, dynamic and differencing disks, in one pass in guest order.
//!
//! ```text
//! fixed         guest bytes at their offsets (holes where the source has none), footer
//! dynamic and   footer copy | dynamic header | BAT | parent locators (differencing) |
//! differencing  blocks as the emission reaches them: sector bitmap, then the block's data
//!               starting on a 4 KiB boundary | footer
//! ```
//!
//! Sizes: the footer's current size is the guest size rounded up to a whole sector; a fixed
//! disk is rounded up to a whole MiB, as Azure requires, and its file is that size plus the
//! 512-byte footer. The creator is `win ` (Hyper-V), which qemu, Hyper-V and Azure all size by
//! the current size (qemu sizes `vpc `/`qemu` images by CHS instead); the CHS geometry is the
//! specification's for the size. At most [`MAX_SIZE`] (2040 GiB), the limit of the format as
//! Hyper-V and qemu apply it.
//!
//! Dynamic disks have 2 MiB blocks (`-o block_size=`); a block is allocated when the first unit
//! of it is written, its bitmap fully set (every reader then reads the whole block), and what
//! was not written in it is a hole of the host file that reads as zeros. Differencing disks set
//! only the bitmap bits of the sectors written here (the rest falls through to the parent); a
//! unit that must read as zeros over the parent's data is written as zeros. The parent is
//! recorded by its footer's unique id, its modification time, its file name, a `W2ru` locator
//! (the path relative to the child, Windows separators) and a `W2ku` locator (the absolute host
//! path).
//!
//! Memory: the BAT (4 bytes per block) and one block's sector bitmap.

use super::footer::{DiskType, FOOTER_LEN, NO_DATA_OFFSET, VhdFooter, chs_for_sectors};
use super::header::{self, ParentLocator, VhdDynamicHeader, platform};
use super::map::BAT_UNUSED;
use super::{MAX_BAT_ENTRIES, read_footer};
use crate::container::bytes::{random_uuid_be, unix_now};
use crate::container::write::{
    BackingRef, CreateHook, CreateRequest, ImageWriter, OptionHelp, WriteTarget,
};
use crate::error::{Error, Result};
use crate::io::{FileSource, WriteAt};
use std::path::Path;
use std::sync::Arc;

/// Format name.
const FORMAT: &str = "vhd";
/// Largest guest size written: 0xFF000000 sectors (2040 GiB).
pub const MAX_SIZE: u64 = 0xFF00_0000 * 512;
/// Default block size of dynamic and differencing disks.
pub const DEFAULT_BLOCK_SIZE: u64 = 2 << 20;
/// Smallest block size accepted.
const MIN_BLOCK_SIZE: u64 = 512 << 10;
/// The writer's unit.
const UNIT: u64 = 64 << 10;
/// Fixed disks are sized in whole MiB.
pub const FIXED_ALIGN: u64 = 1 << 20;
/// Where block data starts.
const DATA_ALIGN: u64 = 4096;
/// Bytes reserved for each parent locator at least, so that `rebase --unsafe` can rewrite it.
const LOCATOR_SPACE: u64 = 4096;
/// Seconds from 1970-01-01 to 2000-01-01, the VHD epoch.
const VHD_EPOCH: u64 = 946_684_800;
/// Offset of the BAT in the files written here.
const TABLE_OFFSET: u64 = 1536;

const OPTIONS: &[OptionHelp] = &[
    OptionHelp {
        key: "subformat",
        help: "dynamic (default) or fixed (size rounded up to a whole MiB, as Azure requires); \
               a backing file makes a differencing disk",
    },
    OptionHelp {
        key: "block_size",
        help: "block size of dynamic disks, 512k to 256M, a power of two (default 2M)",
    },
    OptionHelp {
        key: "backing_file",
        help: "parent VHD of a differencing disk (relative to the image's folder)",
    },
    OptionHelp {
        key: "backing_fmt",
        help: "vhd (the only parent format a VHD can have)",
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

/// The settings of a new VHD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Settings {
    disk_type: DiskType,
    block_size: u64,
}

fn settings(req: &CreateRequest, backing: Option<&BackingRef>) -> Result<Settings> {
    let o = &req.options;
    o.check_known(FORMAT, OPTIONS)?;
    if req.compress {
        return Err(Error::unsupported(FORMAT, "VHD has no compressed blocks"));
    }
    if let Some(f) = backing.and_then(|b| b.format.as_deref()) {
        if !f.eq_ignore_ascii_case("vhd") && !f.eq_ignore_ascii_case("vpc") {
            return Err(bad(format!(
                "the parent of a differencing VHD must be a VHD, not {f}"
            )));
        }
    }
    let disk_type = match (o.get("subformat"), backing.is_some()) {
        (None | Some("dynamic" | "differencing"), true) => DiskType::Differencing,
        (None | Some("dynamic"), false) => DiskType::Dynamic,
        (Some("fixed"), false) => DiskType::Fixed,
        (Some("fixed"), true) => return Err(bad("a fixed VHD cannot have a parent")),
        (Some("differencing"), false) => {
            return Err(bad("a differencing VHD needs a backing file"));
        }
        (Some(v), _) => return Err(bad(format!("subformat '{v}': use dynamic or fixed"))),
    };
    let block_size = o.size("block_size")?.unwrap_or(DEFAULT_BLOCK_SIZE);
    if !block_size.is_power_of_two()
        || !(MIN_BLOCK_SIZE..=u64::from(header::MAX_BLOCK_SIZE)).contains(&block_size)
    {
        return Err(bad(format!(
            "block_size {block_size}: must be a power of two from 512k to 256M"
        )));
    }
    Ok(Settings {
        disk_type,
        block_size,
    })
}

/// The backing file of a request: `-o backing_file=` overrides [`CreateRequest::backing`]
/// (keeping the host path found for it when the names agree).
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

/// The guest size a request gets: whole sectors, whole MiB for fixed disks.
fn disk_size(size: u64, disk_type: DiskType) -> Result<u64> {
    let align = if disk_type == DiskType::Fixed {
        FIXED_ALIGN
    } else {
        512
    };
    let s = size
        .checked_next_multiple_of(align)
        .filter(|&s| s <= MAX_SIZE)
        .ok_or_else(|| {
            bad(format!(
                "a VHD holds at most {MAX_SIZE} bytes (2040 GiB); this disk has {size}: use VHDX"
            ))
        })?;
    if s == 0 {
        return Err(bad("a VHD cannot be empty"));
    }
    Ok(s)
}

fn create(target: WriteTarget, req: &CreateRequest) -> Result<Box<dyn ImageWriter>> {
    let backing = backing_of(req);
    let s = settings(req, backing.as_ref())?;
    let size = disk_size(req.size, s.disk_type)?;
    Ok(Box::new(VhdWriter::new(target.sink, size, s, backing)?))
}

/// A new footer for a disk of `size` bytes.
fn new_footer(size: u64, disk_type: DiskType) -> Result<VhdFooter> {
    let (cylinders, heads, sectors_per_track) = chs_for_sectors(size / 512);
    Ok(VhdFooter {
        features: 2,
        file_format_version: 0x0001_0000,
        data_offset: if disk_type == DiskType::Fixed {
            NO_DATA_OFFSET
        } else {
            512
        },
        time_stamp: vhd_time(unix_now()),
        creator_application: *b"win ",
        creator_version: 0x000A_0000,
        creator_host_os: *b"Wi2k",
        original_size: size,
        current_size: size,
        cylinders,
        heads,
        sectors_per_track,
        disk_type,
        checksum: 0,
        unique_id: random_uuid_be()?,
        saved_state: 0,
    })
}

fn vhd_time(unix: u64) -> u32 {
    u32::try_from(unix.saturating_sub(VHD_EPOCH)).unwrap_or(u32::MAX)
}

/// What a differencing disk records about its parent.
struct ParentRecord {
    unique_id: [u8; 16],
    time_stamp: u32,
    name: String,
    relative: Option<String>,
    absolute: String,
}

/// Reads the parent's identity from its footer and makes the locator paths.
fn parent_record(b: &BackingRef) -> Result<ParentRecord> {
    let path = b.host_path(FORMAT)?;
    let src = FileSource::open(path)?;
    let (footer, _) = read_footer(&src, &mut Vec::new()).map_err(|e| {
        bad(format!(
            "the backing file {} is not a VHD ({}): a differencing VHD needs a VHD parent",
            path.display(),
            e.message()
        ))
    })?;
    let modified = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let absolute = std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .to_string_lossy()
        .into_owned();
    let relative = (!Path::new(&b.name).is_absolute()).then(|| {
        let w = b.name.replace('/', "\\");
        if w.starts_with("..") || w.starts_with(".\\") {
            w
        } else {
            format!(".\\{w}")
        }
    });
    Ok(ParentRecord {
        unique_id: footer.unique_id,
        time_stamp: vhd_time(modified),
        name: path
            .file_name()
            .map_or_else(|| b.name.clone(), |n| n.to_string_lossy().into_owned()),
        relative,
        absolute,
    })
}

fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// The locators' data: `W2ru` (when relative) and `W2ku`.
fn locator_data(p: &ParentRecord) -> Vec<(u32, Vec<u8>)> {
    let mut v = Vec::new();
    if let Some(r) = &p.relative {
        v.push((platform::W2RU, utf16le(r)));
    }
    v.push((platform::W2KU, utf16le(&p.absolute)));
    v
}

/// Writes one VHD.
pub struct VhdWriter {
    sink: Arc<dyn WriteAt>,
    footer: VhdFooter,
    size: u64,
    sparse: Option<Sparse>,
}

/// The state of a dynamic or differencing disk being written.
struct Sparse {
    header: VhdDynamicHeader,
    block_size: u64,
    bitmap_size: u64,
    bat: Vec<u32>,
    /// Next free byte of the file.
    end: u64,
    /// The block being written: index and file offset of its data.
    current: Option<(u64, u64)>,
    /// Its sector bitmap (differencing disks).
    bitmap: Vec<u8>,
    differencing: bool,
    /// Where each locator's data goes, with the data.
    locators: Vec<(u64, Vec<u8>)>,
}

impl VhdWriter {
    fn new(
        sink: Arc<dyn WriteAt>,
        size: u64,
        s: Settings,
        backing: Option<BackingRef>,
    ) -> Result<Self> {
        let footer = new_footer(size, s.disk_type)?;
        let sparse = match s.disk_type {
            DiskType::Fixed => None,
            _ => Some(Sparse::new(size, s, backing.as_ref())?),
        };
        Ok(VhdWriter {
            sink,
            footer,
            size,
            sparse,
        })
    }
}

impl Sparse {
    fn new(size: u64, s: Settings, backing: Option<&BackingRef>) -> Result<Sparse> {
        let entries = size.div_ceil(s.block_size);
        if entries > MAX_BAT_ENTRIES {
            return Err(bad(format!(
                "{entries} blocks of {} bytes: use a larger block_size",
                s.block_size
            )));
        }
        let bat_bytes = (entries * 4).next_multiple_of(512);
        let mut header = VhdDynamicHeader {
            data_offset: u64::MAX,
            table_offset: TABLE_OFFSET,
            header_version: 0x0001_0000,
            max_table_entries: u32::try_from(entries).map_err(|_| bad("too many blocks"))?,
            block_size: u32::try_from(s.block_size).map_err(|_| bad("block too large"))?,
            checksum: 0,
            parent_unique_id: [0; 16],
            parent_time_stamp: 0,
            parent_unicode_name: String::new(),
            parent_locators: Vec::new(),
        };
        let mut end = TABLE_OFFSET + bat_bytes;
        let mut locators = Vec::new();
        if let (DiskType::Differencing, Some(b)) = (s.disk_type, backing) {
            let p = parent_record(b)?;
            header.parent_unique_id = p.unique_id;
            header.parent_time_stamp = p.time_stamp;
            header.parent_unicode_name = p.name.clone();
            for (code, data) in locator_data(&p) {
                let space = (data.len() as u64).next_multiple_of(512).max(LOCATOR_SPACE);
                header.parent_locators.push(ParentLocator {
                    platform_code: code,
                    platform_data_space: u32::try_from(space / 512)
                        .map_err(|_| bad("parent path too long"))?,
                    platform_data_length: u32::try_from(data.len())
                        .map_err(|_| bad("parent path too long"))?,
                    platform_data_offset: end,
                });
                locators.push((end, data));
                end += space;
            }
        }
        let bitmap_size = header.bitmap_size();
        Ok(Sparse {
            header,
            block_size: s.block_size,
            bitmap_size,
            bat: vec![BAT_UNUSED; entries as usize],
            end,
            current: None,
            bitmap: vec![0; bitmap_size as usize],
            differencing: s.disk_type == DiskType::Differencing,
            locators,
        })
    }

    /// Writes the bitmap of the block being written (differencing disks; dynamic disks wrote
    /// theirs, all ones, when the block was allocated).
    fn close_block(&mut self, sink: &dyn WriteAt) -> Result<()> {
        if let Some((_, data)) = self.current.take() {
            if self.differencing {
                sink.write_at(data - self.bitmap_size, &self.bitmap)?;
                self.bitmap.fill(0);
            }
        }
        Ok(())
    }

    /// The file offset of block `block`'s data, allocating the block when it is new.
    fn block(&mut self, sink: &dyn WriteAt, block: u64) -> Result<u64> {
        if let Some((b, data)) = self.current {
            if b == block {
                return Ok(data);
            }
            if block < b {
                return Err(bad("units arrived out of order"));
            }
        }
        self.close_block(sink)?;
        let data = (self.end + self.bitmap_size).next_multiple_of(DATA_ALIGN);
        let start = data - self.bitmap_size;
        let sector = u32::try_from(start / 512)
            .ok()
            .filter(|&s| s != BAT_UNUSED)
            .ok_or_else(|| bad("the file grew past what a BAT entry can address"))?;
        let slot = self
            .bat
            .get_mut(block as usize)
            .ok_or_else(|| bad(format!("block {block} is past the end of the disk")))?;
        *slot = sector;
        if !self.differencing {
            sink.write_at(start, &vec![0xFF; self.bitmap_size as usize])?;
        }
        self.end = data + self.block_size;
        self.current = Some((block, data));
        Ok(data)
    }

    /// Stores `data` at guest offset `offset` (inside the disk).
    fn write(&mut self, sink: &dyn WriteAt, mut offset: u64, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            let block = offset / self.block_size;
            let within = offset % self.block_size;
            let n = (data.len() as u64).min(self.block_size - within) as usize;
            let at = self.block(sink, block)?;
            sink.write_at(at + within, &data[..n])?;
            if self.differencing {
                for s in within / 512..(within + n as u64).div_ceil(512) {
                    self.bitmap[(s / 8) as usize] |= 0x80 >> (s % 8);
                }
            }
            offset += n as u64;
            data = &data[n..];
        }
        Ok(())
    }
}

impl ImageWriter for VhdWriter {
    fn unit_size(&self) -> u64 {
        UNIT
    }

    fn write_units(&mut self, first: u64, data: &[u8]) -> Result<()> {
        let offset = first
            .checked_mul(UNIT)
            .filter(|&o| o < self.size)
            .ok_or_else(|| bad(format!("unit {first} is past the end of the disk")))?;
        let len = (data.len() as u64).min(self.size - offset) as usize;
        match &mut self.sparse {
            None => self.sink.write_at(offset, &data[..len]),
            Some(s) => s.write(self.sink.as_ref(), offset, &data[..len]),
        }
    }

    fn write_zero_units(&mut self, first: u64, count: u64) -> Result<()> {
        let Some(s) = self.sparse.as_mut().filter(|s| s.differencing) else {
            return Ok(()); // nothing below: unwritten ranges read as zeros
        };
        let zeros = vec![0u8; UNIT as usize];
        for k in 0..count {
            let offset = (first + k) * UNIT;
            if offset >= self.size {
                return Err(bad(format!(
                    "unit {} is past the end of the disk",
                    first + k
                )));
            }
            let len = UNIT.min(self.size - offset) as usize;
            s.write(self.sink.as_ref(), offset, &zeros[..len])?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        let sink = self.sink.clone();
        let footer = self.footer.to_bytes();
        let Some(mut s) = self.sparse.take() else {
            sink.write_at(self.size, &footer)?;
            return sink.set_size(self.size + FOOTER_LEN as u64);
        };
        s.close_block(sink.as_ref())?;
        let mut bat: Vec<u8> = s.bat.iter().flat_map(|e| e.to_be_bytes()).collect();
        bat.resize(bat.len().next_multiple_of(512), 0xFF);
        sink.write_at(TABLE_OFFSET, &bat)?;
        for (at, data) in &s.locators {
            sink.write_at(*at, data)?;
        }
        sink.write_at(512, &s.header.to_bytes())?;
        sink.write_at(0, &footer)?;
        sink.write_at(s.end, &footer)?;
        sink.set_size(s.end + FOOTER_LEN as u64)
    }
}

/// Points the differencing disk in `sink` at another parent (`rebase --unsafe`): the parent's
/// unique id, time stamp and name and the `W2ru`/`W2ku` locators are rewritten in place, in
/// the space the locators already have. Removing the parent is refused: a differencing disk
/// without one is not a disk (use a safe `rebase`, which rewrites the data).
pub fn set_backing(sink: &dyn WriteAt, backing: Option<&BackingRef>) -> Result<()> {
    let (footer, _) = read_footer(sink, &mut Vec::new())?;
    if footer.disk_type != DiskType::Differencing {
        return Err(Error::unsupported(
            FORMAT,
            "only a differencing VHD has a parent to change",
        ));
    }
    let Some(b) = backing else {
        return Err(Error::unsupported(
            FORMAT,
            "a differencing VHD cannot drop its parent in place: use a safe rebase",
        ));
    };
    let mut h = VhdDynamicHeader::read(sink, footer.data_offset)?;
    let p = parent_record(b)?;
    for (code, data) in locator_data(&p) {
        let Some(l) = h
            .parent_locators
            .iter_mut()
            .find(|l| l.platform_code == code)
        else {
            continue;
        };
        // The space is in sectors by the specification; some writers store bytes.
        let space = u64::from(l.platform_data_space);
        let capacity = if space < 512 { space * 512 } else { space };
        if data.len() as u64 > capacity {
            return Err(Error::unsupported(
                FORMAT,
                format!(
                    "the new parent path needs {} bytes; the {} locator has room for {capacity}",
                    data.len(),
                    l.code_name()
                ),
            ));
        }
        // Zeros over what is left of a longer old path.
        let mut padded = data.clone();
        padded.resize(
            (l.platform_data_length as usize)
                .max(data.len())
                .min(capacity as usize),
            0,
        );
        sink.write_at(l.platform_data_offset, &padded)?;
        l.platform_data_length = u32::try_from(data.len()).map_err(|_| bad("path too long"))?;
    }
    h.parent_unique_id = p.unique_id;
    h.parent_time_stamp = p.time_stamp;
    h.parent_unicode_name = p.name;
    sink.write_at(footer.data_offset, &h.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::Container;
    use crate::container::OpenContext;
    use crate::container::vhd::Vhd;
    use crate::container::write::FormatOptions;
    use crate::device::DeviceRef;
    use crate::io::{MemorySink, MemorySource};
    use crate::ops::convert::{NoProgress, write_image};

    fn pattern(size: usize) -> Vec<u8> {
        let mut d = vec![0u8; size];
        for (i, chunk) in d.chunks_mut(4096).enumerate() {
            if i % 5 == 1 || i % 7 == 3 {
                chunk
                    .iter_mut()
                    .enumerate()
                    .for_each(|(j, b)| *b = (i * 31 + j) as u8);
            }
        }
        d
    }

    fn round_trip(opts: &[&str], size: usize) -> (Vec<u8>, Vec<u8>) {
        let data = pattern(size);
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
        (data, sink.to_vec())
    }

    #[test]
    fn written_disks_read_back() {
        for (opts, size) in [
            (&["subformat=dynamic"][..], 5 << 20),
            (
                &["subformat=dynamic", "block_size=512k"],
                (3 << 20) + 512 * 3,
            ),
            (&["subformat=fixed"], (3 << 20) + 4096),
        ] {
            let (data, file) = round_trip(opts, size);
            let v = Vhd::open(
                Arc::new(MemorySource::new(file.clone())),
                &OpenContext::default(),
            )
            .unwrap();
            let dev = v.device();
            let want = if opts.contains(&"subformat=fixed") {
                size.next_multiple_of(FIXED_ALIGN as usize)
            } else {
                size
            };
            assert_eq!(dev.size(), want as u64, "{opts:?}");
            let mut back = vec![0u8; want];
            dev.read_exact_at(0, &mut back).unwrap();
            assert_eq!(&back[..size], &data[..], "{opts:?}");
            assert!(back[size..].iter().all(|&b| b == 0));
            // The footer ends the file, and its copy starts a dynamic disk.
            let foot = &file[file.len() - 512..];
            assert_eq!(&foot[..8], b"conectix");
            assert_eq!(&foot[28..32], b"win ");
            if opts.contains(&"subformat=fixed") {
                assert_eq!(file.len() as u64, want as u64 + 512);
            } else {
                assert_eq!(&file[..512], foot);
            }
        }
    }

    #[test]
    fn limits_are_refused() {
        let req = |size: u64, opts: &[&str]| CreateRequest {
            size,
            compress: false,
            backing: None,
            options: FormatOptions::parse(opts).unwrap(),
        };
        let sink = || WriteTarget::single(Arc::new(MemorySink::new()));
        assert!(create(sink(), &req(MAX_SIZE, &[])).is_ok());
        assert!(create(sink(), &req(MAX_SIZE + 1, &[])).is_err());
        assert!(create(sink(), &req(1 << 20, &["block_size=3M"])).is_err());
        assert!(create(sink(), &req(1 << 20, &["subformat=differencing"])).is_err());
        assert!(create(sink(), &req(1 << 20, &["cluster_size=64k"])).is_err());
    }
}
