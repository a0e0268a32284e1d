//! `diskimg check` for qcow2: every reference is counted and compared with the refcounts.
//!
//! As `qemu-img check` does, the check walks every structure that owns host clusters (header,
//! active and snapshot L1 tables, their L2 tables and data clusters, compressed sectors,
//! refcount table and blocks, snapshot table, bitmap directory, tables and data, encryption
//! header) and counts how often each cluster is referenced. A stored refcount below that count
//! is a corruption (a write could free or overwrite shared data); above it, a leak. Also
//! reported: misaligned offsets, structures past the end of the file, and `COPIED` flags of
//! the active tables that disagree with the refcounts.

use super::header::{ext, incompatible};
use super::table::{COMPRESSED, COPIED, Geometry, OFFSET_MASK, ZERO, read_l1, read_l2};
use super::{FORMAT, read_header, refcount, snapshot};
use crate::container::OpenContext;
use crate::container::check::CheckReport;
use crate::device::DeviceRef;
use crate::error::{Error, Result};
use crate::io::read_vec;
use serde_json::json;

/// Most host clusters a check counts (64 MiB of counters).
pub const MAX_CHECK_CLUSTERS: u64 = 32 << 20;
/// Most L2 entries a check visits (all L1 tables together): tables shared by snapshots are
/// walked once per snapshot, so a hostile snapshot list could otherwise repeat work forever.
pub const MAX_CHECK_L2_ENTRIES: u64 = 1 << 28;
/// Largest bitmap directory read.
const MAX_BITMAP_DIRECTORY: u64 = 64 << 20;
/// Most bitmaps read (qemu's limit).
const MAX_BITMAPS: u64 = 65535;

struct Counter {
    refs: Vec<u16>,
    cluster_bits: u32,
    file_size: u64,
}

impl Counter {
    /// Counts one reference to every cluster of `[offset, offset + len)`.
    fn add(&mut self, r: &mut CheckReport, offset: u64, len: u64, what: &str) {
        if len == 0 {
            return;
        }
        let Some(end) = offset.checked_add(len) else {
            r.corrupt(|| format!("{what} at {offset:#x}: offset overflows"));
            return;
        };
        if end > self.refs.len() as u64 * (1u64 << self.cluster_bits) {
            r.corrupt(|| {
                format!(
                    "{what} at {offset:#x} ({len} bytes) lies past the end of the file ({} bytes)",
                    self.file_size
                )
            });
            return;
        }
        for c in (offset >> self.cluster_bits)..=((end - 1) >> self.cluster_bits) {
            let slot = &mut self.refs[c as usize];
            *slot = slot.saturating_add(1);
        }
    }
}

/// Stored refcounts, read block by block.
struct Stored<'a> {
    file: &'a DeviceRef,
    table: Vec<u64>,
    order: u32,
    entries: u64,
    cs: u64,
    cached: Option<(u64, Vec<u8>)>,
}

impl Stored<'_> {
    fn get(&mut self, cluster: u64) -> Result<u64> {
        let b = cluster / self.entries;
        let Some(&off) = self.table.get(b as usize) else {
            return Ok(0);
        };
        if off == 0 {
            return Ok(0);
        }
        if self.cached.as_ref().is_none_or(|(i, _)| *i != b) {
            let block = read_vec(self.file.as_ref(), off, self.cs, self.cs).map_err(|e| {
                Error::corrupt(FORMAT, "refcount block", off, e.message().to_owned())
            })?;
            self.cached = Some((b, block));
        }
        let block = &self
            .cached
            .as_ref()
            .map(|(_, b)| b.as_slice())
            .unwrap_or(&[]);
        Ok(refcount::get(block, cluster % self.entries, self.order))
    }
}

/// Checks the qcow2 image in `file`.
pub fn check(file: DeviceRef, ctx: &OpenContext) -> Result<CheckReport> {
    check_within(file, ctx, MAX_CHECK_L2_ENTRIES)
}

/// Checks the qcow2 image in `file`, visiting at most `budget` L2 entries.
pub fn check_within(file: DeviceRef, _ctx: &OpenContext, mut budget: u64) -> Result<CheckReport> {
    let h = read_header(file.as_ref())?;
    let mut r = CheckReport {
        format: FORMAT,
        ..CheckReport::default()
    };
    let cs = h.cluster_size();
    let file_size = file.size();
    let n = file_size.div_ceil(cs);
    if n > MAX_CHECK_CLUSTERS {
        return Err(Error::limit(
            FORMAT,
            "image",
            0,
            format!("{n} clusters exceed the {MAX_CHECK_CLUSTERS} a check counts"),
        ));
    }
    if h.incompatible_features & incompatible::DIRTY != 0 {
        r.warnings.push(
            "the image is dirty (lazy refcounts): refcounts are out of date until it is repaired"
                .into(),
        );
    }
    if h.incompatible_features & incompatible::CORRUPT != 0 {
        r.warnings.push("the image is marked corrupt".into());
    }
    let mut c = Counter {
        refs: vec![0; n as usize],
        cluster_bits: h.cluster_bits,
        file_size,
    };
    let geo = Geometry::new(&h);
    c.add(&mut r, 0, cs, "header");
    let mut data_clusters = 0u64;
    let mut compressed_clusters = 0u64;
    let mut active_l2 = Vec::new();
    // Active L1 and its tables.
    walk_l1(
        &file,
        &geo,
        h.l1_table_offset,
        u64::from(h.l1_size),
        "active L1 table",
        &mut c,
        &mut r,
        &mut |l2, entry| {
            active_l2.push((l2, entry));
        },
        &mut data_clusters,
        &mut compressed_clusters,
        &mut budget,
    )?;
    // Snapshots.
    match snapshot::read_snapshots(&file, h.snapshots_offset, h.nb_snapshots) {
        Ok((snaps, len)) => {
            c.add(&mut r, h.snapshots_offset, len, "snapshot table");
            for s in snaps {
                let (mut d, mut z) = (0, 0);
                walk_l1(
                    &file,
                    &geo,
                    s.l1_table_offset,
                    u64::from(s.l1_size),
                    "snapshot L1 table",
                    &mut c,
                    &mut r,
                    &mut |_, _| {},
                    &mut d,
                    &mut z,
                    &mut budget,
                )?;
            }
        }
        Err(e) => r.corrupt(|| format!("snapshot table: {e}")),
    }
    // Refcount structures.
    let table = match refcount::read_table(&file, &h) {
        Ok(t) => t,
        Err(e) => {
            r.corrupt(|| e.to_string());
            return Ok(r);
        }
    };
    c.add(
        &mut r,
        h.refcount_table_offset,
        u64::from(h.refcount_table_clusters) * cs,
        "refcount table",
    );
    for (i, &b) in table.iter().enumerate() {
        if b == 0 {
            continue;
        }
        if b & (cs - 1) != 0 {
            r.corrupt(|| format!("refcount block {i} at {b:#x} is not cluster-aligned"));
            continue;
        }
        c.add(&mut r, b, cs, "refcount block");
    }
    bitmaps(&file, &h, &mut c, &mut r);
    if let Some(e) = h.extension(ext::ENCRYPTION).filter(|e| e.len() >= 16) {
        let off = u64::from_be_bytes(e[..8].try_into().unwrap_or([0; 8]));
        let len = u64::from_be_bytes(e[8..16].try_into().unwrap_or([0; 8]));
        c.add(&mut r, off, len, "encryption header");
    }
    // Compare.
    let entries = refcount::block_entries(h.cluster_bits, h.refcount_order);
    let mut stored = Stored {
        file: &file,
        table,
        order: h.refcount_order,
        entries,
        cs,
        cached: None,
    };
    for (i, &want) in c.refs.iter().enumerate() {
        let have = match stored.get(i as u64) {
            Ok(v) => v,
            Err(e) => {
                r.corrupt(|| e.to_string());
                return Ok(r);
            }
        };
        let want = u64::from(want);
        if have < want {
            r.corrupt(|| format!("cluster {i}: refcount {have}, referenced {want} times"));
        } else if have > want {
            r.leak(|| format!("cluster {i}: refcount {have}, referenced {want} times (leaked)"));
        }
    }
    // COPIED flags of the active tables.
    for (l2, l1_entry) in active_l2 {
        let rc = stored.get(l2 >> h.cluster_bits)?;
        if (l1_entry & COPIED != 0) != (rc == 1) {
            r.corrupt(|| format!("L2 table at {l2:#x}: COPIED flag disagrees with refcount {rc}"));
        }
        let Ok(t) = read_l2(&file, l2, cs) else {
            continue;
        };
        let step = if geo.extended { 2 } else { 1 };
        for (k, &e) in t.iter().step_by(step).enumerate() {
            let host = e & OFFSET_MASK;
            if e & COMPRESSED != 0 || host == 0 {
                if e & COMPRESSED != 0 && e & COPIED != 0 {
                    r.corrupt(|| {
                        format!(
                            "L2 table at {l2:#x} entry {k}: compressed cluster with COPIED flag"
                        )
                    });
                }
                continue;
            }
            let rc = stored.get(host >> h.cluster_bits)?;
            if (e & COPIED != 0) != (rc == 1) {
                r.corrupt(|| {
                    format!(
                        "L2 table at {l2:#x} entry {k}: COPIED flag disagrees with refcount {rc}"
                    )
                });
            }
        }
    }
    r.details = json!({
        "clusters": n,
        "data_clusters": data_clusters,
        "compressed_clusters": compressed_clusters,
        "image_end_offset": file_size,
        "refcount_bits": 1u32 << h.refcount_order,
    });
    Ok(r)
}

/// Counts an L1 table, its L2 tables and their data clusters; `seen` gets each L2 table's
/// offset and the L1 entry that points to it.
#[allow(clippy::too_many_arguments)]
fn walk_l1(
    file: &DeviceRef,
    geo: &Geometry,
    l1_offset: u64,
    l1_size: u64,
    what: &'static str,
    c: &mut Counter,
    r: &mut CheckReport,
    seen: &mut dyn FnMut(u64, u64),
    data_clusters: &mut u64,
    compressed_clusters: &mut u64,
    budget: &mut u64,
) -> Result<()> {
    let cs = geo.cluster_size();
    if l1_size == 0 {
        return Ok(());
    }
    if l1_offset & (cs - 1) != 0 {
        r.corrupt(|| format!("{what} at {l1_offset:#x} is not cluster-aligned"));
        return Ok(());
    }
    let l1 = match read_l1(file, l1_offset, l1_size, what) {
        Ok(t) => t,
        Err(e) => {
            r.corrupt(|| e.to_string());
            return Ok(());
        }
    };
    c.add(r, l1_offset, l1_size * 8, what);
    let mut walked = std::collections::HashSet::new();
    for (i, &l1e) in l1.iter().enumerate() {
        let l2 = l1e & OFFSET_MASK;
        if l2 == 0 {
            continue;
        }
        if !walked.insert(l2) {
            c.add(r, l2, cs, "L2 table");
            r.corrupt(|| format!("{what} entry {i}: L2 table {l2:#x} is used twice"));
            continue;
        }
        *budget = budget.checked_sub(geo.l2_entries).ok_or_else(|| {
            Error::limit(
                FORMAT,
                what,
                l1_offset,
                "the L1 tables map more L2 entries than a check visits",
            )
        })?;
        if l2 & (cs - 1) != 0 {
            r.corrupt(|| {
                format!("{what} entry {i}: L2 table offset {l2:#x} is not cluster-aligned")
            });
            continue;
        }
        c.add(r, l2, cs, "L2 table");
        let table = match read_l2(file, l2, cs) {
            Ok(t) => t,
            Err(e) => {
                r.corrupt(|| e.to_string());
                continue;
            }
        };
        seen(l2, l1e);
        let step = if geo.extended { 2 } else { 1 };
        for (k, &e) in table.iter().step_by(step).enumerate() {
            if e & COMPRESSED != 0 {
                let (host, len) = geo.compressed(e);
                c.add(r, host & !511, len + (host & 511), "compressed cluster");
                *compressed_clusters += 1;
                continue;
            }
            let host = e & OFFSET_MASK;
            if host == 0 {
                continue;
            }
            if host & (cs - 1) != 0 {
                r.corrupt(|| {
                    format!("L2 table at {l2:#x} entry {k}: data offset {host:#x} is not cluster-aligned")
                });
                continue;
            }
            if e & ZERO == 0 || geo.extended {
                *data_clusters += 1;
            }
            c.add(r, host, cs, "data cluster");
        }
    }
    Ok(())
}

/// Counts the bitmap directory, bitmap tables and bitmap data clusters.
fn bitmaps(file: &DeviceRef, h: &super::header::Qcow2Header, c: &mut Counter, r: &mut CheckReport) {
    let Some(e) = h.extension(ext::BITMAPS).filter(|e| e.len() >= 24) else {
        return;
    };
    let count = u64::from(u32::from_be_bytes(e[..4].try_into().unwrap_or([0; 4])));
    let dir_size = u64::from_be_bytes(e[8..16].try_into().unwrap_or([0; 8]));
    let dir_off = u64::from_be_bytes(e[16..24].try_into().unwrap_or([0; 8]));
    if count > MAX_BITMAPS {
        r.corrupt(|| format!("{count} bitmaps exceed the limit of {MAX_BITMAPS}"));
        return;
    }
    let dir = match read_vec(file.as_ref(), dir_off, dir_size, MAX_BITMAP_DIRECTORY) {
        Ok(d) => d,
        Err(e) => {
            r.corrupt(|| format!("bitmap directory: {e}"));
            return;
        }
    };
    c.add(r, dir_off, dir_size, "bitmap directory");
    let mut at = 0usize;
    for _ in 0..count {
        if at + 24 > dir.len() {
            r.corrupt(|| "bitmap directory entry runs past its end".into());
            return;
        }
        let d = &dir[at..];
        let table = u64::from_be_bytes(d[..8].try_into().unwrap_or([0; 8]));
        let entries = u64::from(u32::from_be_bytes(d[8..12].try_into().unwrap_or([0; 4])));
        let name = u64::from(u16::from_be_bytes([d[18], d[19]]));
        let extra = u64::from(u32::from_be_bytes(d[20..24].try_into().unwrap_or([0; 4])));
        at += (24 + extra + name).div_ceil(8) as usize * 8;
        c.add(r, table, entries * 8, "bitmap table");
        let Ok(t) = read_vec(
            file.as_ref(),
            table,
            entries * 8,
            super::header::MAX_L1_BYTES,
        ) else {
            continue;
        };
        for w in t.chunks_exact(8) {
            let off = u64::from_be_bytes(w.try_into().unwrap_or([0; 8])) & OFFSET_MASK;
            if off != 0 {
                c.add(r, off, h.cluster_size(), "bitmap data");
            }
        }
    }
}
