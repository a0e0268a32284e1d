//! Cluster mapping: L1 and L2 tables, standard and extended L2 entries.
//!
//! qemu `docs/interop/qcow2.txt`, "Cluster mapping" and "Extended L2 Entries". The L1 table is
//! read whole (bounded by [`MAX_L1_BYTES`]); L2 tables are read on demand into a small cache.
//! [`Mapper::pieces`] turns a guest range into runs of one kind each (data at a host offset,
//! compressed, zero, unallocated), the single source of truth for reads and for `extents`.

use super::FORMAT;
use super::header::{MAX_L1_BYTES, Qcow2Header};
use crate::device::DeviceRef;
use crate::error::{Error, Result};
use crate::io::read_vec;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Bits 9-55 of an L1 or standard L2 entry: a cluster-aligned host offset.
pub const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
/// Bit 63: refcount is exactly one.
pub const COPIED: u64 = 1 << 63;
/// Bit 62 of an L2 entry: compressed cluster.
pub const COMPRESSED: u64 = 1 << 62;
/// Bit 0 of a standard L2 entry: reads as zeros (v3, not with extended L2).
pub const ZERO: u64 = 1;
/// Subclusters per cluster with extended L2 entries.
pub const SUBCLUSTERS: u64 = 32;
/// Bytes of L2 tables kept in the cache.
const L2_CACHE_BYTES: u64 = 8 << 20;

/// What a guest range holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceKind {
    /// Stored at `host` (the host offset of the piece's first byte).
    Data {
        /// Host offset of the first byte of the piece.
        host: u64,
    },
    /// Part of a compressed cluster: the whole cluster's compressed bytes.
    Compressed {
        /// Host offset of the compressed bytes.
        host: u64,
        /// Bytes to read for them (whole sectors, as the entry counts them).
        len: u64,
    },
    /// Reads as zeros (zero flag, zero subcluster).
    Zero,
    /// Not allocated here: falls through to the backing file, else zeros.
    Unallocated,
}

/// A guest run of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    /// Guest offset.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// What it holds.
    pub kind: PieceKind,
}

/// A decoded L2 entry (the bitmap is 0 for standard entries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct L2Entry {
    /// The 64-bit descriptor.
    pub entry: u64,
    /// The subcluster bitmap (extended L2 only).
    pub bitmap: u64,
}

/// The shape of the tables of one image.
#[derive(Debug, Clone, Copy)]
pub struct Geometry {
    /// log2 of the cluster size.
    pub cluster_bits: u32,
    /// Entries per L2 table.
    pub l2_entries: u64,
    /// Whether entries are 128 bits.
    pub extended: bool,
    /// Bit where the compressed sector count starts (`62 - (cluster_bits - 8)`).
    pub csize_shift: u32,
}

impl Geometry {
    /// The geometry a header describes.
    pub fn new(h: &Qcow2Header) -> Self {
        let extended = h.extended_l2();
        let entry_bytes = if extended { 16 } else { 8 };
        Geometry {
            cluster_bits: h.cluster_bits,
            l2_entries: h.cluster_size() / entry_bytes,
            extended,
            csize_shift: 62 - (h.cluster_bits - 8),
        }
    }

    /// Cluster size in bytes.
    pub fn cluster_size(&self) -> u64 {
        1 << self.cluster_bits
    }

    /// Guest bytes one L2 table maps.
    pub fn l2_span(&self) -> u64 {
        self.l2_entries << self.cluster_bits
    }

    /// L1 entries needed for `size` guest bytes.
    pub fn l1_entries_for(&self, size: u64) -> u64 {
        size.div_ceil(self.l2_span())
    }

    /// Host offset and sector-rounded length of a compressed entry.
    pub fn compressed(&self, entry: u64) -> (u64, u64) {
        let offset_mask = (1u64 << self.csize_shift) - 1;
        let host = entry & offset_mask;
        let sectors = ((entry & !(COPIED | COMPRESSED)) >> self.csize_shift) + 1;
        (host, sectors * 512 - (host & 511))
    }
}

/// Reads L2 tables through a bounded cache and maps guest ranges.
pub struct Mapper {
    file: DeviceRef,
    geo: Geometry,
    l1: Vec<u64>,
    l1_offset: u64,
    cache: Mutex<L2Cache>,
}

struct L2Cache {
    tables: HashMap<u64, (Arc<[u64]>, u64)>,
    tick: u64,
    capacity: usize,
}

/// Reads an L1 table of `entries` entries at `offset`, checking it lies in the file.
pub fn read_l1(
    file: &DeviceRef,
    offset: u64,
    entries: u64,
    what: &'static str,
) -> Result<Vec<u64>> {
    let bytes = entries
        .checked_mul(8)
        .filter(|b| *b <= MAX_L1_BYTES)
        .ok_or_else(|| {
            Error::limit(
                FORMAT,
                what,
                offset,
                format!("L1 table of {entries} entries exceeds {MAX_L1_BYTES} bytes"),
            )
        })?;
    if entries == 0 {
        return Ok(Vec::new());
    }
    let raw = read_vec(file.as_ref(), offset, bytes, MAX_L1_BYTES).map_err(|e| {
        Error::corrupt(
            FORMAT,
            what,
            offset,
            format!(
                "L1 table of {entries} entries does not lie in the file: {}",
                e.message()
            ),
        )
    })?;
    Ok(raw
        .chunks_exact(8)
        .map(|c| u64::from_be_bytes(c.try_into().unwrap_or([0; 8])))
        .collect())
}

impl Mapper {
    /// A mapper over the L1 table `l1` read from `l1_offset`.
    pub fn new(file: DeviceRef, geo: Geometry, l1: Vec<u64>, l1_offset: u64) -> Self {
        let capacity = usize::try_from(L2_CACHE_BYTES >> geo.cluster_bits)
            .unwrap_or(4)
            .max(4);
        Mapper {
            file,
            geo,
            l1,
            l1_offset,
            cache: Mutex::new(L2Cache {
                tables: HashMap::new(),
                tick: 0,
                capacity,
            }),
        }
    }

    /// The table geometry.
    pub fn geometry(&self) -> Geometry {
        self.geo
    }

    /// The L1 table.
    pub fn l1(&self) -> &[u64] {
        &self.l1
    }

    /// The L2 table at `offset` (raw 64-bit words), through the cache.
    pub fn l2_table(&self, offset: u64) -> Result<Arc<[u64]>> {
        {
            let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            c.tick += 1;
            let tick = c.tick;
            if let Some((t, used)) = c.tables.get_mut(&offset) {
                *used = tick;
                return Ok(t.clone());
            }
        }
        let table = read_l2(&self.file, offset, self.geo.cluster_size())?;
        let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if c.tables.len() >= c.capacity {
            if let Some(old) = c.tables.iter().min_by_key(|(_, v)| v.1).map(|(k, _)| *k) {
                c.tables.remove(&old);
            }
        }
        let tick = c.tick;
        c.tables.insert(offset, (table.clone(), tick));
        Ok(table)
    }

    /// Where the L2 entry of guest cluster `cluster` is stored (for messages).
    fn entry_offset(&self, cluster: u64) -> u64 {
        let l1_index = cluster / self.geo.l2_entries;
        let l2 = self
            .l1
            .get(l1_index as usize)
            .map_or(0, |e| e & OFFSET_MASK);
        let size = if self.geo.extended { 16 } else { 8 };
        l2 + (cluster % self.geo.l2_entries) * size
    }

    /// The runs of `[offset, offset + len)`, in order, merged where adjacent runs continue
    /// each other (contiguous data, consecutive zero or unallocated runs). A range with no L2
    /// table is one unallocated run, however large.
    pub fn pieces(&self, offset: u64, len: u64) -> Result<Vec<Piece>> {
        let mut out: Vec<Piece> = Vec::new();
        let end = offset.saturating_add(len);
        let cs = self.geo.cluster_size();
        let span = self.geo.l2_span();
        let mut pos = offset;
        while pos < end {
            let l1_index = pos / span;
            let span_end = (l1_index + 1).saturating_mul(span).min(end);
            let l2_offset = self
                .l1
                .get(l1_index as usize)
                .map_or(0, |e| e & OFFSET_MASK);
            if l2_offset == 0 {
                push(
                    &mut out,
                    Piece {
                        offset: pos,
                        len: span_end - pos,
                        kind: PieceKind::Unallocated,
                    },
                );
                pos = span_end;
                continue;
            }
            if l2_offset & (cs - 1) != 0 {
                return Err(Error::corrupt(
                    FORMAT,
                    "L1 table",
                    self.l1_offset + l1_index * 8,
                    format!("L2 table offset {l2_offset:#x} is not cluster-aligned"),
                ));
            }
            let table = self.l2_table(l2_offset)?;
            while pos < span_end {
                let cluster = pos >> self.geo.cluster_bits;
                let cluster_start = cluster << self.geo.cluster_bits;
                let cluster_end = (cluster_start + cs).min(span_end);
                let i = (cluster % self.geo.l2_entries) as usize;
                let e = if self.geo.extended {
                    L2Entry {
                        entry: table[2 * i],
                        bitmap: table[2 * i + 1],
                    }
                } else {
                    L2Entry {
                        entry: table[i],
                        bitmap: 0,
                    }
                };
                for (start, stop, kind) in self.decode(cluster, e)? {
                    let s = (cluster_start + start).max(pos);
                    let t = (cluster_start + stop).min(cluster_end);
                    if s >= t {
                        continue;
                    }
                    let kind = match kind {
                        PieceKind::Data { host } => PieceKind::Data {
                            host: host + (s - cluster_start - start),
                        },
                        k => k,
                    };
                    push(
                        &mut out,
                        Piece {
                            offset: s,
                            len: t - s,
                            kind,
                        },
                    );
                }
                pos = cluster_end;
            }
        }
        Ok(out)
    }

    /// The runs of one cluster, relative to its start: (start, end, kind); data kinds give the
    /// host offset of `start`.
    fn decode(&self, cluster: u64, e: L2Entry) -> Result<Vec<(u64, u64, PieceKind)>> {
        let cs = self.geo.cluster_size();
        let at = self.entry_offset(cluster);
        if e.entry & COMPRESSED != 0 {
            let (host, len) = self.geo.compressed(e.entry);
            if host
                .checked_add(len)
                .is_none_or(|end| end > self.file.size() + 512)
            {
                return Err(Error::corrupt(
                    FORMAT,
                    "L2 table",
                    at,
                    format!("compressed cluster at {host:#x} ({len} bytes) lies outside the file"),
                ));
            }
            return Ok(vec![(0, cs, PieceKind::Compressed { host, len })]);
        }
        let host = e.entry & OFFSET_MASK;
        if host != 0 {
            if host & (cs - 1) != 0 {
                return Err(Error::corrupt(
                    FORMAT,
                    "L2 table",
                    at,
                    format!("data cluster offset {host:#x} is not cluster-aligned"),
                ));
            }
            if host >= self.file.size() {
                return Err(Error::corrupt(
                    FORMAT,
                    "L2 table",
                    at,
                    format!(
                        "data cluster at {host:#x} lies past the end of the file ({} bytes)",
                        self.file.size()
                    ),
                ));
            }
        }
        if !self.geo.extended {
            let kind = if e.entry & ZERO != 0 {
                PieceKind::Zero
            } else if host != 0 {
                PieceKind::Data { host }
            } else {
                PieceKind::Unallocated
            };
            return Ok(vec![(0, cs, kind)]);
        }
        let alloc = e.bitmap as u32;
        let zero = (e.bitmap >> 32) as u32;
        if alloc & zero != 0 {
            return Err(Error::corrupt(
                FORMAT,
                "L2 table",
                at,
                "a subcluster is both allocated and zero",
            ));
        }
        if alloc != 0 && host == 0 {
            return Err(Error::corrupt(
                FORMAT,
                "L2 table",
                at,
                "allocated subclusters without a host cluster",
            ));
        }
        let sc = cs / SUBCLUSTERS;
        let mut runs: Vec<(u64, u64, PieceKind)> = Vec::new();
        for i in 0..SUBCLUSTERS {
            let kind = if alloc >> i & 1 != 0 {
                PieceKind::Data {
                    host: host + i * sc,
                }
            } else if zero >> i & 1 != 0 {
                PieceKind::Zero
            } else {
                PieceKind::Unallocated
            };
            match (runs.last_mut(), kind) {
                (Some(last), PieceKind::Data { .. })
                    if matches!(last.2, PieceKind::Data { .. }) =>
                {
                    last.1 += sc
                }
                (Some(last), k) if last.2 == k && !matches!(k, PieceKind::Data { .. }) => {
                    last.1 += sc
                }
                _ => runs.push((i * sc, (i + 1) * sc, kind)),
            }
        }
        Ok(runs)
    }
}

fn push(out: &mut Vec<Piece>, p: Piece) {
    if let Some(last) = out.last_mut() {
        let joins = match (last.kind, p.kind) {
            (PieceKind::Data { host: a }, PieceKind::Data { host: b }) => a + last.len == b,
            (PieceKind::Zero, PieceKind::Zero) => true,
            (PieceKind::Unallocated, PieceKind::Unallocated) => true,
            _ => false,
        };
        if joins && last.offset + last.len == p.offset {
            last.len += p.len;
            return;
        }
    }
    out.push(p);
}

/// Reads the L2 table at `offset` (one cluster) as 64-bit words.
pub fn read_l2(file: &DeviceRef, offset: u64, cluster_size: u64) -> Result<Arc<[u64]>> {
    let raw = read_vec(file.as_ref(), offset, cluster_size, cluster_size).map_err(|e| {
        Error::corrupt(
            FORMAT,
            "L2 table",
            offset,
            format!("L2 table does not lie in the file: {}", e.message()),
        )
    })?;
    Ok(raw
        .chunks_exact(8)
        .map(|c| u64::from_be_bytes(c.try_into().unwrap_or([0; 8])))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_descriptor() {
        let g = Geometry {
            cluster_bits: 16,
            l2_entries: 8192,
            extended: false,
            csize_shift: 54,
        };
        // Offset 0x50200, 3 additional sectors.
        let e = COMPRESSED | (3 << 54) | 0x50200;
        assert_eq!(g.compressed(e), (0x50200, 4 * 512));
        let e = COMPRESSED | 0x50210;
        assert_eq!(g.compressed(e), (0x50210, 512 - 0x10));
    }

    #[test]
    fn merges_runs() {
        let mut v = Vec::new();
        push(
            &mut v,
            Piece {
                offset: 0,
                len: 10,
                kind: PieceKind::Data { host: 100 },
            },
        );
        push(
            &mut v,
            Piece {
                offset: 10,
                len: 5,
                kind: PieceKind::Data { host: 110 },
            },
        );
        push(
            &mut v,
            Piece {
                offset: 15,
                len: 5,
                kind: PieceKind::Data { host: 200 },
            },
        );
        push(
            &mut v,
            Piece {
                offset: 20,
                len: 5,
                kind: PieceKind::Zero,
            },
        );
        push(
            &mut v,
            Piece {
                offset: 25,
                len: 5,
                kind: PieceKind::Zero,
            },
        );
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].len, 15);
        assert_eq!(v[2].len, 10);
    }
}
