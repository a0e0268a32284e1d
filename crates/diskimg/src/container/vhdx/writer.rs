//! The VHDX writer: fixed, dynamic and differencing disks, in one pass in guest order.
//!
//! Layout of a new file (every structure on a 1 MiB boundary, as [MS-VHDX] asks):
//!
//! ```text
//! 0         file type identifier (creator "diskimg")
//! 64 KiB    header 1, 128 KiB header 2 (CRC-32C; sequence numbers 1 and 2, the log GUID zero)
//! 192 KiB   region table 1, 256 KiB region table 2: the BAT and metadata regions, required
//! 1 MiB     the log, 1 MiB, empty (a clean file: nothing to replay)
//! 2 MiB     the metadata region, 1 MiB: file parameters, virtual disk size, virtual disk id,
//!           logical and physical sector size, and for differencing disks the parent locator
//! 3 MiB     the BAT region (payload and sector bitmap entries interleaved by the chunk ratio)
//! then      fixed: every payload block, in guest order (the file's holes read as zeros);
//!           dynamic and differencing: payload blocks as the emission reaches them, and for
//!           differencing disks each chunk's sector bitmap block once the emission has left
//!           the chunk; at the end, an empty bitmap block (a hole) for each chunk without one
//! ```
//!
//! Blocks default to 32 MiB (2 MiB for differencing disks), as Hyper-V makes them
//! (`-o block_size=` 1M to 256M); logical sectors are 512 bytes or 4096
//! (`-o logical_sector_size=4096`); the physical sector size is 4096 unless set. A dynamic
//! block is fully present as soon as one unit of it is written; what was not written in it is
//! a hole of the host file (zeros). A differencing block is fully present when every unit of
//! it was emitted, else partially present with the chunk's sector bitmap saying which logical
//! sectors are here; a unit that must read as zeros over the parent is written as zeros. The
//! parent is recorded by its data write GUID (`parent_linkage`) and its path relative to the
//! child (`relative_path`, Windows separators); no absolute Windows path is recorded (there is
//! none on other hosts).
//!
//! Memory: the BAT (8 bytes per block, at most [`MAX_BAT_BYTES`]) and one 1 MiB sector bitmap.

use super::Vhdx;
use super::bat::{bat_entries, state};
use super::header::{
    BAT_REGION, HEADER_OFFSETS, METADATA_REGION, REGION_TABLE_OFFSETS, RegionEntry, VhdxHeader,
    file_identifier_bytes, region_table_bytes,
};
use super::metadata::{
    self, FILE_PARAMETERS, ITEMS_OFFSET, LOGICAL_SECTOR_SIZE, MetadataEntry, PARENT_LOCATOR,
    PHYSICAL_SECTOR_SIZE, VIRTUAL_DISK_ID, VIRTUAL_DISK_SIZE, entry_flags, locator_bytes,
};
use crate::container::OpenContext;
use crate::container::bytes::{guid_le, random_guid_le};
use crate::container::write::{
    BackingRef, CreateHook, CreateRequest, ImageWriter, OptionHelp, WriteTarget,
};
use crate::error::{Error, Result};
use crate::io::{FileSource, WriteAt};
use std::sync::Arc;

/// Format name.
const FORMAT: &str = "vhdx";
const MIB: u64 = 1 << 20;
/// Largest virtual disk ([MS-VHDX]: 64 TB).
pub const MAX_SIZE: u64 = 64 << 40;
/// Largest BAT written (kept in memory while writing).
pub const MAX_BAT_BYTES: u64 = 32 << 20;
/// Default block size of fixed and dynamic disks (Hyper-V's).
pub const DEFAULT_BLOCK_SIZE: u64 = 32 << 20;
/// Default block size of differencing disks (Hyper-V's).
pub const DEFAULT_DIFF_BLOCK_SIZE: u64 = 2 << 20;
/// The writer's unit.
const UNIT: u64 = 64 << 10;
const LOG_OFFSET: u64 = MIB;
const LOG_LENGTH: u64 = MIB;
const METADATA_OFFSET: u64 = 2 * MIB;
const METADATA_LENGTH: u64 = MIB;
const BAT_OFFSET: u64 = 3 * MIB;
/// Bytes of a sector bitmap block.
const SECTOR_BITMAP_BLOCK: u64 = MIB;

const OPTIONS: &[OptionHelp] = &[
    OptionHelp {
        key: "subformat",
        help: "dynamic (default) or fixed; a backing file makes a differencing disk",
    },
    OptionHelp {
        key: "block_size",
        help: "1M to 256M, a power of two (default 32M; 2M for differencing disks)",
    },
    OptionHelp {
        key: "logical_sector_size",
        help: "512 (default) or 4096: the sector size the guest sees",
    },
    OptionHelp {
        key: "physical_sector_size",
        help: "512 or 4096 (default)",
    },
    OptionHelp {
        key: "backing_file",
        help: "parent VHDX of a differencing disk (relative to the image's folder)",
    },
    OptionHelp {
        key: "backing_fmt",
        help: "vhdx (the only parent format a VHDX can have)",
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Fixed,
    Dynamic,
    Differencing,
}

/// The parent of a differencing disk, as the child records it.
struct ParentRecord {
    data_write_guid: [u8; 16],
    logical_sector_size: u32,
    relative: String,
}

fn parent_record(b: &BackingRef) -> Result<ParentRecord> {
    let path = b.host_path(FORMAT)?;
    let src = Arc::new(FileSource::open(path)?);
    let parent = Vhdx::open(src, &OpenContext::default()).map_err(|e| {
        bad(format!(
            "the backing file {} is not a VHDX ({}): a differencing VHDX needs a VHDX parent",
            path.display(),
            e.message()
        ))
    })?;
    Ok(ParentRecord {
        data_write_guid: parent.header().data_write_guid,
        logical_sector_size: parent.metadata().logical_sector_size,
        relative: {
            let w = b.name.replace('/', "\\");
            if w.starts_with("..") || w.starts_with(".\\") {
                w
            } else {
                format!(".\\{w}")
            }
        },
    })
}

/// The shape of a new VHDX.
struct Settings {
    kind: Kind,
    block_size: u64,
    logical_sector_size: u32,
    physical_sector_size: u32,
    parent: Option<ParentRecord>,
}

fn sector_size_option(req: &CreateRequest, key: &str) -> Result<Option<u32>> {
    match req.options.size(key)? {
        None => Ok(None),
        Some(v @ (512 | 4096)) => Ok(Some(v as u32)),
        Some(v) => Err(bad(format!("{key} {v}: use 512 or 4096"))),
    }
}

fn settings(req: &CreateRequest, backing: Option<&BackingRef>) -> Result<Settings> {
    let o = &req.options;
    o.check_known(FORMAT, OPTIONS)?;
    if req.compress {
        return Err(Error::unsupported(FORMAT, "VHDX has no compressed blocks"));
    }
    if let Some(f) = backing.and_then(|b| b.format.as_deref()) {
        if !f.eq_ignore_ascii_case("vhdx") {
            return Err(bad(format!(
                "the parent of a differencing VHDX must be a VHDX, not {f}"
            )));
        }
    }
    let kind = match (o.get("subformat"), backing.is_some()) {
        (None | Some("dynamic" | "differencing"), true) => Kind::Differencing,
        (None | Some("dynamic"), false) => Kind::Dynamic,
        (Some("fixed"), false) => Kind::Fixed,
        (Some("fixed"), true) => return Err(bad("a fixed VHDX cannot have a parent")),
        (Some("differencing"), false) => {
            return Err(bad("a differencing VHDX needs a backing file"));
        }
        (Some(v), _) => return Err(bad(format!("subformat '{v}': use dynamic or fixed"))),
    };
    let block_size = o
        .size("block_size")?
        .unwrap_or(if kind == Kind::Differencing {
            DEFAULT_DIFF_BLOCK_SIZE
        } else {
            DEFAULT_BLOCK_SIZE
        });
    if !block_size.is_power_of_two() || !(MIB..=256 * MIB).contains(&block_size) {
        return Err(bad(format!(
            "block_size {block_size}: must be a power of two from 1M to 256M"
        )));
    }
    let parent = backing.map(parent_record).transpose()?;
    let logical = sector_size_option(req, "logical_sector_size")?;
    let logical_sector_size = match (&parent, logical) {
        (Some(p), Some(l)) if p.logical_sector_size != l => {
            return Err(bad(format!(
                "logical_sector_size {l}: the parent has {}-byte sectors, and a child must \
                 have the same",
                p.logical_sector_size
            )));
        }
        (Some(p), _) => p.logical_sector_size,
        (None, l) => l.unwrap_or(512),
    };
    Ok(Settings {
        kind,
        block_size,
        logical_sector_size,
        physical_sector_size: sector_size_option(req, "physical_sector_size")?.unwrap_or(4096),
        parent,
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

fn create(target: WriteTarget, req: &CreateRequest) -> Result<Box<dyn ImageWriter>> {
    let backing = backing_of(req);
    let s = settings(req, backing.as_ref())?;
    Ok(Box::new(VhdxWriter::new(target.sink, req.size, s)?))
}

/// The bytes of the metadata region's items and table.
fn metadata_region(size: u64, s: &Settings, disk_id: &[u8; 16]) -> Result<Vec<u8>> {
    let mut flags = 0u32;
    if s.kind == Kind::Fixed {
        flags |= 1; // LeaveBlockAllocated
    }
    if s.parent.is_some() {
        flags |= 2; // HasParent
    }
    let mut params = (s.block_size as u32).to_le_bytes().to_vec();
    params.extend_from_slice(&flags.to_le_bytes());
    let vd = entry_flags::IS_VIRTUAL_DISK | entry_flags::IS_REQUIRED;
    let mut items: Vec<([u8; 16], Vec<u8>, u32)> = vec![
        (FILE_PARAMETERS, params, entry_flags::IS_REQUIRED),
        (VIRTUAL_DISK_SIZE, size.to_le_bytes().to_vec(), vd),
        (VIRTUAL_DISK_ID, disk_id.to_vec(), vd),
        (
            LOGICAL_SECTOR_SIZE,
            s.logical_sector_size.to_le_bytes().to_vec(),
            vd,
        ),
        (
            PHYSICAL_SECTOR_SIZE,
            s.physical_sector_size.to_le_bytes().to_vec(),
            vd,
        ),
    ];
    if let Some(p) = &s.parent {
        let linkage = format!("{{{}}}", guid_le(&p.data_write_guid));
        let pairs = [
            ("parent_linkage", linkage.as_str()),
            ("relative_path", p.relative.as_str()),
        ];
        items.push((
            PARENT_LOCATOR,
            locator_bytes(&pairs),
            entry_flags::IS_REQUIRED,
        ));
    }
    let mut region = vec![0u8; METADATA_LENGTH as usize];
    let mut entries = Vec::new();
    let mut at = ITEMS_OFFSET as usize;
    for (id, data, flags) in items {
        if at + data.len() > region.len() {
            return Err(bad(
                "the metadata does not fit its region (a parent path too long)",
            ));
        }
        region[at..at + data.len()].copy_from_slice(&data);
        entries.push(MetadataEntry {
            id,
            offset: at as u32,
            length: data.len() as u32,
            flags,
        });
        // Items on 4 KiB boundaries, as Hyper-V lays them out.
        at = (at + data.len()).next_multiple_of(4096);
    }
    let table = metadata::metadata_table_bytes(&entries);
    region[..table.len()].copy_from_slice(&table);
    Ok(region)
}

/// Writes one VHDX.
pub struct VhdxWriter {
    sink: Arc<dyn WriteAt>,
    kind: Kind,
    size: u64,
    block_size: u64,
    lss: u64,
    chunk_ratio: u64,
    bat: Vec<u64>,
    bat_region: u64,
    /// Next free byte of the file (dynamic and differencing disks).
    end: u64,
    /// The block being written: index, file offset, bytes of it emitted.
    current: Option<(u64, u64, u64)>,
    /// The chunk whose sector bitmap is in `bitmap` (differencing), and whether a partially
    /// present block needs it.
    chunk: Option<(u64, bool)>,
    bitmap: Vec<u8>,
    metadata: Vec<u8>,
    header: VhdxHeader,
}

impl VhdxWriter {
    fn new(sink: Arc<dyn WriteAt>, size: u64, s: Settings) -> Result<Self> {
        let lss = u64::from(s.logical_sector_size);
        let size = size
            .checked_next_multiple_of(lss)
            .filter(|&v| v > 0 && v <= MAX_SIZE)
            .ok_or_else(|| bad(format!("a VHDX holds 1 to {MAX_SIZE} bytes, not {size}")))?;
        let chunk_ratio = ((1u64 << 23) * lss) / s.block_size;
        let entries = bat_entries(size, s.block_size, chunk_ratio, s.parent.is_some());
        if entries * 8 > MAX_BAT_BYTES {
            return Err(bad(format!(
                "{entries} BAT entries for a disk of {size} bytes: use a larger block_size"
            )));
        }
        let bat_region = (entries * 8).next_multiple_of(MIB).max(MIB);
        let data_start = BAT_OFFSET + bat_region;
        let mut bat = vec![0u64; entries as usize];
        let blocks = size.div_ceil(s.block_size);
        let end = if s.kind == Kind::Fixed {
            for b in 0..blocks {
                let at = data_start + b * s.block_size;
                bat[(b + b / chunk_ratio) as usize] = state::FULLY_PRESENT | at;
            }
            data_start + blocks * s.block_size
        } else {
            data_start
        };
        let metadata = metadata_region(size, &s, &random_guid_le()?)?;
        let guid = random_guid_le()?;
        let header = VhdxHeader {
            offset: HEADER_OFFSETS[0],
            sequence_number: 1,
            file_write_guid: guid,
            data_write_guid: random_guid_le()?,
            log_guid: [0; 16],
            log_version: 0,
            version: 1,
            log_length: LOG_LENGTH as u32,
            log_offset: LOG_OFFSET,
        };
        Ok(VhdxWriter {
            sink,
            kind: s.kind,
            size,
            block_size: s.block_size,
            lss,
            chunk_ratio,
            bat,
            bat_region,
            end,
            current: None,
            chunk: None,
            bitmap: Vec::new(),
            metadata,
            header,
        })
    }

    fn bat_index(&self, block: u64) -> usize {
        (block + block / self.chunk_ratio) as usize
    }

    fn block_len(&self, block: u64) -> u64 {
        self.block_size.min(self.size - block * self.block_size)
    }

    /// Sets the current block's final state (differencing: fully or partially present).
    fn close_block(&mut self) {
        if let Some((block, at, emitted)) = self.current.take() {
            let st = if self.kind == Kind::Differencing && emitted < self.block_len(block) {
                if let Some((_, needed)) = &mut self.chunk {
                    *needed = true;
                }
                state::PARTIALLY_PRESENT
            } else {
                state::FULLY_PRESENT
            };
            let i = self.bat_index(block);
            self.bat[i] = st | at;
        }
    }

    /// Writes the sector bitmap of the chunk being left, when a block in it needs one.
    fn close_chunk(&mut self) -> Result<()> {
        if let Some((chunk, needed)) = self.chunk.take() {
            if needed {
                let at = self.end;
                self.sink.write_at(at, &self.bitmap)?;
                self.end += SECTOR_BITMAP_BLOCK;
                let i = (chunk * (self.chunk_ratio + 1) + self.chunk_ratio) as usize;
                self.bat[i] = state::SB_PRESENT | at;
            }
            self.bitmap.clear();
        }
        Ok(())
    }

    /// Gives every chunk without a sector bitmap block an empty one: a block of the file left
    /// as a hole (zeros: no sector here). [MS-VHDX] allows a chunk with none (its blocks then
    /// all fall through), but libvhdi reads such a chunk's bitmap from the start of the file.
    fn place_empty_bitmaps(&mut self) {
        let chunks = self
            .size
            .div_ceil(self.block_size)
            .div_ceil(self.chunk_ratio);
        for chunk in 0..chunks {
            let i = (chunk * (self.chunk_ratio + 1) + self.chunk_ratio) as usize;
            if self.bat[i] == 0 {
                self.bat[i] = state::SB_PRESENT | self.end;
                self.end += SECTOR_BITMAP_BLOCK;
            }
        }
    }

    /// The file offset of block `block`, allocated when new (dynamic and differencing).
    fn block(&mut self, block: u64) -> Result<u64> {
        if let Some((b, at, _)) = self.current {
            if b == block {
                return Ok(at);
            }
            if block < b {
                return Err(bad("units arrived out of order"));
            }
        }
        self.close_block();
        if self.kind == Kind::Differencing {
            let chunk = block / self.chunk_ratio;
            if self.chunk.is_some_and(|(c, _)| c != chunk) {
                self.close_chunk()?;
            }
            if self.chunk.is_none() {
                self.chunk = Some((chunk, false));
                self.bitmap = vec![0u8; SECTOR_BITMAP_BLOCK as usize];
            }
        }
        let at = self.end;
        self.end += self.block_size;
        self.current = Some((block, at, 0));
        Ok(at)
    }

    /// Stores `data` at guest offset `offset` (inside the disk).
    fn write(&mut self, mut offset: u64, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            let block = offset / self.block_size;
            let within = offset % self.block_size;
            let n = (data.len() as u64).min(self.block_size - within) as usize;
            let at = self.block(block)?;
            self.sink.write_at(at + within, &data[..n])?;
            if let Some((_, _, emitted)) = &mut self.current {
                *emitted += n as u64;
            }
            if self.kind == Kind::Differencing {
                let chunk_bytes = self.chunk_ratio * self.block_size;
                let first = (offset % chunk_bytes) / self.lss;
                let last = (offset % chunk_bytes + n as u64).div_ceil(self.lss);
                for s in first..last {
                    self.bitmap[(s / 8) as usize] |= 1 << (s % 8);
                }
            }
            offset += n as u64;
            data = &data[n..];
        }
        Ok(())
    }
}

impl ImageWriter for VhdxWriter {
    fn unit_size(&self) -> u64 {
        UNIT.max(self.lss)
    }

    fn write_units(&mut self, first: u64, data: &[u8]) -> Result<()> {
        let unit = self.unit_size();
        let offset = first
            .checked_mul(unit)
            .filter(|&o| o < self.size)
            .ok_or_else(|| bad(format!("unit {first} is past the end of the disk")))?;
        let len = (data.len() as u64).min(self.size - offset) as usize;
        if self.kind == Kind::Fixed {
            // One write per block: blocks are contiguous in guest order.
            return self
                .sink
                .write_at(BAT_OFFSET + self.bat_region + offset, &data[..len]);
        }
        self.write(offset, &data[..len])
    }

    fn write_zero_units(&mut self, first: u64, count: u64) -> Result<()> {
        if self.kind != Kind::Differencing {
            return Ok(()); // nothing below: unwritten ranges read as zeros
        }
        let unit = self.unit_size();
        let zeros = vec![0u8; unit as usize];
        for k in 0..count {
            let offset = (first + k) * unit;
            if offset >= self.size {
                return Err(bad(format!(
                    "unit {} is past the end of the disk",
                    first + k
                )));
            }
            let len = unit.min(self.size - offset) as usize;
            self.write(offset, &zeros[..len])?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        self.close_block();
        self.close_chunk()?;
        if self.kind == Kind::Differencing {
            self.place_empty_bitmaps();
        }
        let sink = self.sink.clone();
        let bat: Vec<u8> = self.bat.iter().flat_map(|e| e.to_le_bytes()).collect();
        write_nonzero_prefix(sink.as_ref(), BAT_OFFSET, &bat)?;
        write_nonzero_prefix(sink.as_ref(), METADATA_OFFSET, &self.metadata)?;
        let regions = [
            RegionEntry {
                guid: BAT_REGION,
                file_offset: BAT_OFFSET,
                length: u32::try_from(self.bat_region).map_err(|_| bad("BAT too large"))?,
                required: true,
            },
            RegionEntry {
                guid: METADATA_REGION,
                file_offset: METADATA_OFFSET,
                length: METADATA_LENGTH as u32,
                required: true,
            },
        ];
        let table = region_table_bytes(&regions);
        for at in REGION_TABLE_OFFSETS {
            sink.write_at(at, &table)?;
        }
        write_headers(sink.as_ref(), &self.header)?;
        sink.write_at(0, &file_identifier_bytes(CREATOR))?;
        sink.set_size(self.end.max(BAT_OFFSET + self.bat_region))
    }
}

/// Writes `buf` at `at` up to its last non-zero 4 KiB: the rest of a region of the new file
/// stays a hole, which reads as zeros (`finish` sizes the file past every region).
fn write_nonzero_prefix(sink: &dyn WriteAt, at: u64, buf: &[u8]) -> Result<()> {
    let used = buf
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |i| (i + 1).next_multiple_of(4096).min(buf.len()));
    sink.write_at(at, &buf[..used])
}

/// What the file type identifier says made the file.
const CREATOR: &str = concat!("diskimg ", env!("CARGO_PKG_VERSION"));

/// Writes `h` as both headers, the second with the next sequence number.
fn write_headers(sink: &dyn WriteAt, h: &VhdxHeader) -> Result<()> {
    let mut h = h.clone();
    for at in HEADER_OFFSETS {
        sink.write_at(at, &h.to_bytes())?;
        h.sequence_number += 1;
    }
    Ok(())
}

/// Points the differencing VHDX in `sink` at another parent (`rebase --unsafe`): the parent
/// locator item is rewritten in place (where it is, when the region has room after it), and
/// the headers get a new data write GUID (what the disk shows may change) and sequence
/// numbers. Removing the parent is refused: use a safe `rebase`.
pub fn set_backing(sink: &dyn WriteAt, backing: Option<&BackingRef>) -> Result<()> {
    let Some(b) = backing else {
        return Err(Error::unsupported(
            FORMAT,
            "a differencing VHDX cannot drop its parent in place: use a safe rebase",
        ));
    };
    let mut warnings = Vec::new();
    let header = VhdxHeader::current(sink, &mut warnings)?;
    if header.log_guid != [0; 16] {
        return Err(Error::unsupported(
            FORMAT,
            "the file's log may hold changes: open it with Hyper-V or qemu-img check -r all first",
        ));
    }
    let regions = super::header::current_region_table(sink, &mut warnings)?;
    let meta = regions
        .iter()
        .find(|r| r.guid == METADATA_REGION)
        .ok_or_else(|| Error::corrupt(FORMAT, "region table", 0, "no metadata region"))?;
    let mut entries = metadata::read_entries(sink, meta.file_offset)?;
    let p = parent_record(b)?;
    let linkage = format!("{{{}}}", guid_le(&p.data_write_guid));
    let item = locator_bytes(&[
        ("parent_linkage", linkage.as_str()),
        ("relative_path", p.relative.as_str()),
    ]);
    let others: Vec<(u32, u32)> = entries
        .iter()
        .filter(|e| e.id != PARENT_LOCATOR)
        .map(|e| (e.offset, e.length))
        .collect();
    let e = entries
        .iter_mut()
        .find(|e| e.id == PARENT_LOCATOR)
        .ok_or_else(|| Error::unsupported(FORMAT, "only a differencing VHDX has a parent"))?;
    let start = u64::from(e.offset);
    let end = start + item.len() as u64;
    let overlaps = others
        .iter()
        .any(|&(o, l)| u64::from(o) < end && start < u64::from(o) + u64::from(l));
    if end > u64::from(meta.length) || overlaps {
        return Err(Error::unsupported(
            FORMAT,
            "the new parent locator does not fit where the old one is",
        ));
    }
    let mut padded = item.clone();
    padded.resize(item.len().max(e.length as usize), 0);
    sink.write_at(meta.file_offset + start, &padded)?;
    e.length = item.len() as u32;
    sink.write_at(meta.file_offset, &metadata::metadata_table_bytes(&entries))?;
    let mut h = header;
    h.sequence_number += 1;
    h.file_write_guid = random_guid_le()?;
    h.data_write_guid = random_guid_le()?;
    write_headers(sink, &h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::Container;
    use crate::container::write::FormatOptions;
    use crate::device::DeviceRef;
    use crate::io::{MemorySink, MemorySource};
    use crate::ops::convert::{NoProgress, write_image};

    /// Data in 4 KiB pieces, none between 1 MiB and 3 MiB.
    fn pattern(size: usize) -> Vec<u8> {
        let mut d = vec![0u8; size];
        for (i, chunk) in d.chunks_mut(4096).enumerate() {
            if (i % 5 == 1 || i % 11 == 3) && !(256..768).contains(&i) {
                chunk
                    .iter_mut()
                    .enumerate()
                    .for_each(|(j, b)| *b = (i * 7 + j) as u8);
            }
        }
        d
    }

    #[test]
    fn written_disks_read_back() {
        for (opts, size) in [
            (&[][..], 5 << 20),
            (
                &["block_size=1M", "logical_sector_size=4096"],
                (3 << 20) + 8192,
            ),
            (&["subformat=fixed", "block_size=2M"], (5 << 20) + 512),
        ] {
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
            let file = sink.to_vec();
            assert_eq!(file.len() % (1 << 20), 0, "{opts:?}: whole MiB");
            let v = Vhdx::open(Arc::new(MemorySource::new(file)), &OpenContext::default()).unwrap();
            let dev = v.device();
            let lss = v.metadata().logical_sector_size as usize;
            assert_eq!(dev.size() as usize, size.next_multiple_of(lss), "{opts:?}");
            assert_eq!(dev.geometry().sector_size as usize, lss);
            let mut back = vec![0u8; dev.size() as usize];
            dev.read_exact_at(0, &mut back).unwrap();
            assert!(back[..size] == data[..], "{opts:?}");
            // The reader calls a disk whose every block is present fixed: the 32 MiB block of
            // the first disk is.
            let sub = v.details()["subformat"].clone();
            let want = if opts.contains(&"block_size=1M") {
                "dynamic"
            } else {
                "fixed"
            };
            assert_eq!(sub, want, "{opts:?}");
        }
    }
}
