//! Reading attribute values: plain values through the crate, LZNT1-compressed ones by
//! compression unit (own code), the run list as file extents, and directory indexes.
//!
//! A compressed attribute is cut into units of 16 clusters (the compression unit exponent
//! stored in the attribute header; NTFS only writes 4). A unit whose clusters are all allocated
//! is stored plainly; one with no allocated cluster reads as zeros; otherwise its allocated
//! clusters (at the start of the unit) hold LZNT1 data that decompresses to the whole unit.

use super::index::{self, INDX_HEADER, IndexEntry, MAX_INDEX_RECORDS};
use super::{Cursor, FORMAT, NtfsFs, lznt1, ntfs_err};
use crate::error::{Error, Result};
use crate::fs::FileExtent;
use crate::io::ReadAt;
use ::ntfs::attribute_value::NtfsAttributeValue;
use ::ntfs::{
    NtfsAttribute, NtfsAttributeFlags, NtfsAttributeItem, NtfsAttributeType, NtfsReadSeek,
};
use std::io::SeekFrom;

/// Data runs of one attribute read at most.
pub const MAX_RUNS: usize = 1 << 20;
/// Clusters in a compression unit (2^4, the only size NTFS writes).
const UNIT_CLUSTERS: u64 = 16;
/// Largest `$INDEX_ROOT` or `$BITMAP` of a directory read.
const MAX_INDEX_ROOT: u64 = 1 << 20;

/// One run of a non-resident value: a byte length and where it lies (`None`: sparse).
#[derive(Debug, Clone, Copy)]
struct Run {
    len: u64,
    position: Option<u64>,
}

/// Reads a whole small value (at most `max` bytes).
pub fn read_small(
    attr: &NtfsAttribute<'_, '_>,
    c: &mut Cursor<'_>,
    max: u64,
    structure: &'static str,
) -> Result<Vec<u8>> {
    let len = attr.value_length();
    if len > max {
        return Err(Error::limit(
            FORMAT,
            structure,
            attr.position().value().map_or(0, |p| p.get()),
            format!("value of {len} bytes (limit {max})"),
        ));
    }
    let mut value = attr.value(c).map_err(ntfs_err(structure))?;
    let mut buf = vec![0u8; len as usize];
    value.read_exact(c, &mut buf).map_err(ntfs_err(structure))?;
    Ok(buf)
}

/// Reads the value of `item` at `offset` into `buf`; 0 at the end.
pub fn read(
    fs: &NtfsFs,
    item: &NtfsAttributeItem<'_, '_>,
    c: &mut Cursor<'_>,
    offset: u64,
    buf: &mut [u8],
) -> Result<usize> {
    let attr = item.to_attribute().map_err(ntfs_err("$DATA"))?;
    let len = attr.value_length();
    if offset >= len || buf.is_empty() {
        return Ok(0);
    }
    let want = usize::try_from(len - offset).map_or(buf.len(), |n| n.min(buf.len()));
    let buf = &mut buf[..want];
    let flags = attr.flags();
    if flags.contains(NtfsAttributeFlags::ENCRYPTED) {
        return Err(Error::unsupported(
            FORMAT,
            "encrypted (EFS) files cannot be read",
        ));
    }
    if flags.contains(NtfsAttributeFlags::COMPRESSED) && !attr.is_resident() {
        return read_compressed(fs, &attr, c, offset, buf);
    }
    let mut value = attr.value(c).map_err(ntfs_err("$DATA"))?;
    value
        .seek(c, SeekFrom::Start(offset))
        .map_err(ntfs_err("$DATA"))?;
    let mut done = 0;
    while done < buf.len() {
        let n = value.read(c, &mut buf[done..]).map_err(ntfs_err("$DATA"))?;
        if n == 0 {
            break;
        }
        done += n;
    }
    Ok(done)
}

/// The runs of a non-resident value held in one attribute, or `None` for resident values and
/// values split over several records.
fn runs(attr: &NtfsAttribute<'_, '_>, c: &mut Cursor<'_>) -> Result<Option<Vec<Run>>> {
    let value = attr.value(c).map_err(ntfs_err("data runs"))?;
    let NtfsAttributeValue::NonResident(v) = value else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for run in v.data_runs() {
        let run = run.map_err(ntfs_err("data runs"))?;
        if out.len() >= MAX_RUNS {
            return Err(Error::limit(
                FORMAT,
                "data runs",
                attr.position().value().map_or(0, |p| p.get()),
                format!("more than {MAX_RUNS} runs"),
            ));
        }
        out.push(Run {
            len: run.allocated_size(),
            position: run.data_position().value().map(|p| p.get()),
        });
    }
    Ok(Some(out))
}

fn read_compressed(
    fs: &NtfsFs,
    attr: &NtfsAttribute<'_, '_>,
    c: &mut Cursor<'_>,
    offset: u64,
    buf: &mut [u8],
) -> Result<usize> {
    let runs = runs(attr, c)?.ok_or_else(|| {
        Error::unsupported(
            FORMAT,
            "compressed data spread over several MFT records (attribute list)",
        )
    })?;
    let unit_size = u64::from(fs.ntfs.cluster_size()) * UNIT_CLUSTERS;
    let mut done = 0usize;
    while done < buf.len() {
        let pos = offset + done as u64;
        let unit = pos / unit_size;
        let data = read_unit(fs, &runs, unit * unit_size, unit_size)?;
        let at = (pos - unit * unit_size) as usize;
        let n = (data.len() - at).min(buf.len() - done);
        buf[done..done + n].copy_from_slice(&data[at..at + n]);
        done += n;
    }
    Ok(done)
}

/// The decompressed bytes of the compression unit at value offset `start`.
fn read_unit(fs: &NtfsFs, runs: &[Run], start: u64, unit_size: u64) -> Result<Vec<u8>> {
    let end = start + unit_size;
    let mut pieces: Vec<(u64, u64)> = Vec::new(); // (device position, len) of allocated parts
    let mut allocated = 0u64;
    let mut run_start = 0u64;
    for r in runs {
        let run_end = run_start.saturating_add(r.len);
        if run_end > start && run_start < end {
            let from = start.max(run_start);
            let to = end.min(run_end);
            if let Some(p) = r.position {
                pieces.push((p + (from - run_start), to - from));
                allocated += to - from;
            }
        }
        if run_end >= end {
            break;
        }
        run_start = run_end;
    }
    let mut out = vec![0u8; unit_size as usize];
    if allocated == 0 {
        return Ok(out);
    }
    let mut stored = Vec::with_capacity(allocated as usize);
    for (p, len) in pieces {
        let from = stored.len();
        stored.resize(from + len as usize, 0);
        fs.io.read_exact_at(p, &mut stored[from..]).map_err(|e| {
            e.with_format(FORMAT)
                .with_structure("compression unit")
                .with_offset(p)
        })?;
    }
    if allocated == unit_size {
        return Ok(stored);
    }
    lznt1::decompress(&stored, &mut out, start)?;
    Ok(out)
}

/// Where the value of `item` lies on the device, for plain non-resident values in one
/// attribute; `None` otherwise (resident, compressed, encrypted, split over records).
pub fn extents(
    _fs: &NtfsFs,
    item: &NtfsAttributeItem<'_, '_>,
    c: &mut Cursor<'_>,
) -> Result<Option<Vec<FileExtent>>> {
    let attr = item.to_attribute().map_err(ntfs_err("$DATA"))?;
    if attr.is_resident()
        || attr
            .flags()
            .intersects(NtfsAttributeFlags::COMPRESSED | NtfsAttributeFlags::ENCRYPTED)
    {
        return Ok(None);
    }
    let size = attr.value_length();
    let Some(runs) = runs(&attr, c)? else {
        return Ok(None);
    };
    let mut out = Vec::new();
    let mut file_offset = 0u64;
    for r in runs {
        if file_offset >= size {
            break;
        }
        let len = r.len.min(size - file_offset);
        out.push(FileExtent {
            file_offset,
            len,
            device_offset: r.position,
        });
        file_offset += len;
    }
    if file_offset < size {
        out.push(FileExtent {
            file_offset,
            len: size - file_offset,
            device_offset: None,
        });
    }
    Ok(Some(out))
}

/// The `$I30` entries of directory record `number`, sorted by name.
pub fn directory_entries(fs: &NtfsFs, number: u64) -> Result<Vec<IndexEntry>> {
    let mut c = fs.cursor();
    let file = fs.file(&mut c, number)?;
    if !file.is_directory() {
        return Err(Error::invalid_input("not a directory"));
    }
    let mut root: Option<(Vec<u8>, u64)> = None;
    let mut bitmap: Option<Vec<u8>> = None;
    let mut has_allocation = false;
    fs.each_attribute(&file, &mut c, |c, item| {
        let attr = item.to_attribute().map_err(ntfs_err("attribute"))?;
        let Ok(ty) = attr.ty() else { return Ok(true) };
        let is_i30 = attr
            .name()
            .map(|n| n.to_string_lossy() == "$I30")
            .unwrap_or(false);
        if !is_i30 {
            return Ok(true);
        }
        match ty {
            NtfsAttributeType::IndexRoot => {
                let at = attr.position().value().map_or(0, |p| p.get());
                root = Some((read_small(&attr, c, MAX_INDEX_ROOT, "$INDEX_ROOT")?, at));
            }
            NtfsAttributeType::Bitmap => {
                bitmap = Some(read_small(&attr, c, MAX_INDEX_ROOT, "$BITMAP")?);
            }
            NtfsAttributeType::IndexAllocation => has_allocation = true,
            _ => {}
        }
        Ok(true)
    })?;
    let (root, root_at) = root.ok_or_else(|| {
        Error::corrupt(FORMAT, "directory", 0, "directory has no $INDEX_ROOT")
            .with_offset(number * u64::from(fs.ntfs.file_record_size()))
    })?;
    let mut entries = Vec::new();
    // INDEX_ROOT: type, collation rule, index record size, clusters per record, then the
    // INDEX_HEADER at 16.
    index::node_entries(&root, 16, root_at, &mut entries)?;
    if has_allocation {
        let record_size = root
            .get(8..12)
            .map(|b| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .filter(|s| s.is_power_of_two() && (512..=65_536).contains(s))
            .ok_or_else(|| {
                Error::corrupt(
                    FORMAT,
                    "$INDEX_ROOT",
                    root_at,
                    "impossible index record size",
                )
            })?;
        let bitmap = bitmap.unwrap_or_default();
        fs.each_attribute(&file, &mut c, |c, item| {
            let attr = item.to_attribute().map_err(ntfs_err("attribute"))?;
            if attr.ty().ok() != Some(NtfsAttributeType::IndexAllocation)
                || attr.name().map(|n| n.to_string_lossy()).unwrap_or_default() != "$I30"
            {
                return Ok(true);
            }
            scan_allocation(&attr, c, record_size, &bitmap, &mut entries)?;
            Ok(false)
        })?;
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    entries.dedup_by(|a, b| a.name == b.name && a.record == b.record);
    Ok(entries)
}

/// Scans every in-use `INDX` record of an `$INDEX_ALLOCATION` value.
fn scan_allocation(
    attr: &NtfsAttribute<'_, '_>,
    c: &mut Cursor<'_>,
    record_size: u64,
    bitmap: &[u8],
    entries: &mut Vec<IndexEntry>,
) -> Result<()> {
    let records = attr.value_length() / record_size;
    if records > MAX_INDEX_RECORDS {
        return Err(Error::limit(
            FORMAT,
            "$INDEX_ALLOCATION",
            attr.position().value().map_or(0, |p| p.get()),
            format!("{records} index records (limit {MAX_INDEX_RECORDS})"),
        ));
    }
    let mut value = attr.value(c).map_err(ntfs_err("$INDEX_ALLOCATION"))?;
    let mut buf = vec![0u8; record_size as usize];
    for i in 0..records {
        let in_use = bitmap
            .get((i / 8) as usize)
            .is_some_and(|b| b & (1 << (i % 8)) != 0);
        if !in_use {
            continue;
        }
        value
            .seek(c, SeekFrom::Start(i * record_size))
            .map_err(ntfs_err("$INDEX_ALLOCATION"))?;
        let at = value.data_position().value().map_or(0, |p| p.get());
        value
            .read_exact(c, &mut buf)
            .map_err(ntfs_err("$INDEX_ALLOCATION"))?;
        index::check_indx(&mut buf, at)?;
        index::node_entries(&buf, INDX_HEADER, at, entries)?;
    }
    Ok(())
}
