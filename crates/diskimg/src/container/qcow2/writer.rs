//! The qcow2 writer: one pass, guest order, bounded memory.
//!
//! Layout of a new image (every allocation is appended at the end of the file):
//!
//! ```text
//! cluster 0         header, extensions, backing file name (written last)
//! then, in guest order as the pipeline emits units:
//!   data clusters   uncompressed: cluster-aligned; compressed: packed byte after byte
//!   L2 tables       each written as soon as the emission passes the guest range it maps
//!   refcount blocks each written as soon as allocation passes the host range it counts
//! then at finish:   the L1 table, the last refcount blocks, the refcount table
//! ```
//!
//! Memory: one L2 table, one refcount block, the L1 table (at most 32 MiB, qemu's limit;
//! 8 bytes per L2 table) and the refcount table (8 bytes per refcount block), plus a 4 MiB
//! append buffer. Refcounts are exact: `qemu-img check` finds neither leaks nor errors. A
//! compressed cluster adds one reference to each host cluster its sectors touch, as qemu
//! counts them.

use super::FORMAT;
use super::compress::ClusterCompressor;
use super::header::{
    COMPAT_LAZY_REFCOUNTS, CompressionType, MAX_CLUSTER_BITS, MAX_L1_BYTES, MIN_CLUSTER_BITS,
    Qcow2Header, V3_HEADER_LEN, ext, incompatible,
};
use super::read_header;
use super::refcount;
use super::table::{COMPRESSED, COPIED, ZERO};
use crate::container::write::{
    BackingRef, CreateHook, CreateRequest, ImageWriter, OptionHelp, UnitEncoder, WriteTarget,
};
use crate::error::{Error, ErrorKind, Result};
use crate::io::WriteAt;
use std::sync::Arc;

/// Bytes gathered before one write to the output.
const APPEND_BUFFER: usize = 4 << 20;
/// Default cluster size (64 KiB), as qemu.
pub const DEFAULT_CLUSTER_SIZE: u64 = 64 << 10;
/// Default deflate level.
pub const DEFAULT_ZLIB_LEVEL: i32 = 6;
/// Default zstd level.
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;

const OPTIONS: &[OptionHelp] = &[
    OptionHelp {
        key: "compat",
        help: "1.1 (version 3, default) or 0.10 (version 2, for old readers)",
    },
    OptionHelp {
        key: "cluster_size",
        help: "512 to 2M, a power of two (default 64k)",
    },
    OptionHelp {
        key: "compression_type",
        help: "zlib (default) or zstd (needs compat=1.1), used with -c",
    },
    OptionHelp {
        key: "compression_level",
        help: "deflate 1-9 (default 6) or zstd 1-19 (default 3)",
    },
    OptionHelp {
        key: "backing_file",
        help: "file name recorded as the backing file (relative to the image's folder)",
    },
    OptionHelp {
        key: "backing_fmt",
        help: "format of the backing file (raw, qcow2, ...)",
    },
    OptionHelp {
        key: "lazy_refcounts",
        help: "on/off: set the lazy refcounts flag (compat=1.1 only)",
    },
    OptionHelp {
        key: "refcount_bits",
        help: "1, 2, 4, 8, 16 (default), 32 or 64 (other than 16 needs compat=1.1)",
    },
];

pub(super) static HOOK: CreateHook = CreateHook {
    create,
    options: OPTIONS,
    backing: true,
    set_backing: Some(set_backing),
};

/// The settings of a new image, from a request.
#[derive(Debug, Clone)]
pub struct Qcow2Settings {
    /// 2 or 3.
    pub version: u32,
    /// log2 of the cluster size.
    pub cluster_bits: u32,
    /// Compression of compressed clusters.
    pub compression: CompressionType,
    /// Compression level.
    pub level: i32,
    /// log2 of the refcount width.
    pub refcount_order: u32,
    /// Set the lazy refcounts flag.
    pub lazy_refcounts: bool,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::invalid_input(msg).with_format(FORMAT)
}

impl Qcow2Settings {
    /// Reads the options of `req`, refusing unknown keys and impossible combinations.
    pub fn from_request(req: &CreateRequest) -> Result<Self> {
        let o = &req.options;
        o.check_known(FORMAT, OPTIONS)?;
        let version = match o.get("compat") {
            None | Some("1.1" | "v3" | "3") => 3,
            Some("0.10" | "v2" | "2") => 2,
            Some(v) => return Err(bad(format!("compat '{v}': use 0.10 or 1.1"))),
        };
        let cluster_size = o.size("cluster_size")?.unwrap_or(DEFAULT_CLUSTER_SIZE);
        if !cluster_size.is_power_of_two()
            || !(1u64 << MIN_CLUSTER_BITS..=1u64 << MAX_CLUSTER_BITS).contains(&cluster_size)
        {
            return Err(bad(format!(
                "cluster_size {cluster_size}: must be a power of two from 512 to 2M"
            )));
        }
        let compression = match o.get("compression_type") {
            None | Some("zlib") => CompressionType::Zlib,
            Some("zstd") => CompressionType::Zstd,
            Some(v) => return Err(bad(format!("compression_type '{v}': use zlib or zstd"))),
        };
        if compression == CompressionType::Zstd && version < 3 {
            return Err(bad("compression_type=zstd needs compat=1.1"));
        }
        let level = match o.get("compression_level") {
            None => match compression {
                CompressionType::Zlib => DEFAULT_ZLIB_LEVEL,
                CompressionType::Zstd => DEFAULT_ZSTD_LEVEL,
            },
            Some(v) => v
                .parse::<i32>()
                .ok()
                .filter(|l| (1..=19).contains(l))
                .filter(|l| compression == CompressionType::Zstd || *l <= 9)
                .ok_or_else(|| bad(format!("compression_level '{v}' is out of range")))?,
        };
        let refcount_bits = o.size("refcount_bits")?.unwrap_or(16);
        if !refcount_bits.is_power_of_two() || refcount_bits > 64 {
            return Err(bad(format!(
                "refcount_bits {refcount_bits}: use 1, 2, 4, 8, 16, 32 or 64"
            )));
        }
        if refcount_bits != 16 && version < 3 {
            return Err(bad("refcount_bits other than 16 needs compat=1.1"));
        }
        let lazy_refcounts = o.flag("lazy_refcounts")?.unwrap_or(false);
        if lazy_refcounts && version < 3 {
            return Err(bad("lazy_refcounts needs compat=1.1"));
        }
        Ok(Qcow2Settings {
            version,
            cluster_bits: cluster_size.trailing_zeros(),
            compression,
            level,
            refcount_order: refcount_bits.trailing_zeros(),
            lazy_refcounts,
        })
    }
}

/// The backing file of a request: `-o backing_file=` / `backing_fmt=` override
/// [`CreateRequest::backing`].
fn backing_of(req: &CreateRequest) -> Option<BackingRef> {
    let o = &req.options;
    match o.get("backing_file") {
        Some(name) => Some(BackingRef {
            name: name.to_owned(),
            format: o
                .get("backing_fmt")
                .map(str::to_owned)
                .or_else(|| req.backing.as_ref().and_then(|b| b.format.clone())),
            path: None,
        }),
        None => req.backing.clone().map(|mut b| {
            if let Some(f) = o.get("backing_fmt") {
                b.format = Some(f.to_owned());
            }
            b
        }),
    }
}

fn create(target: WriteTarget, req: &CreateRequest) -> Result<Box<dyn ImageWriter>> {
    let s = Qcow2Settings::from_request(req)?;
    Ok(Box::new(Qcow2Writer::new(
        target.sink,
        req.size,
        &s,
        backing_of(req),
        req.compress,
    )?))
}

/// Writes a new qcow2 image in one pass.
pub struct Qcow2Writer {
    sink: Arc<dyn WriteAt>,
    header: Qcow2Header,
    cluster_bits: u32,
    cs: u64,
    l2_entries: u64,
    l1: Vec<u64>,
    l2: Vec<u64>,
    l2_index: Option<u64>,
    /// Next free byte of the file.
    end: u64,
    /// Bytes `[buf_start, end)` not yet written.
    buf: Vec<u8>,
    buf_start: u64,
    rc_order: u32,
    rc_entries: u64,
    rc_max: u64,
    rc_block: Vec<u8>,
    rc_index: u64,
    rc_table: Vec<u64>,
    rc_pending: Vec<u64>,
    encoder: Option<Arc<ClusterCompressor>>,
    zero_clusters: bool,
}

impl Qcow2Writer {
    /// A writer of an image of `size` guest bytes.
    pub fn new(
        sink: Arc<dyn WriteAt>,
        size: u64,
        s: &Qcow2Settings,
        backing: Option<BackingRef>,
        compress: bool,
    ) -> Result<Self> {
        let cs = 1u64 << s.cluster_bits;
        let l2_entries = cs / 8;
        let l1_entries = size.div_ceil(l2_entries << s.cluster_bits);
        if l1_entries * 8 > MAX_L1_BYTES {
            return Err(bad(format!(
                "a disk of {size} bytes needs an L1 table larger than {MAX_L1_BYTES} bytes with \
                 {cs}-byte clusters: use a larger cluster_size"
            )));
        }
        if compress && s.refcount_order < 4 && cs < (64 << 10) {
            // Many compressed clusters can share a small host cluster.
            return Err(bad(
                "compression needs refcount_bits of at least 16 with small clusters",
            ));
        }
        let mut extensions = Vec::new();
        if let Some(f) = backing.as_ref().and_then(|b| b.format.clone()) {
            extensions.push((ext::BACKING_FORMAT, f.into_bytes()));
        }
        let header = Qcow2Header {
            version: s.version,
            backing_file_offset: 0,
            backing_file_size: 0,
            cluster_bits: s.cluster_bits,
            size,
            crypt_method: 0,
            l1_size: u32::try_from(l1_entries).map_err(|_| bad("L1 table too large"))?,
            l1_table_offset: 0,
            refcount_table_offset: 0,
            refcount_table_clusters: 0,
            nb_snapshots: 0,
            snapshots_offset: 0,
            incompatible_features: if s.compression == CompressionType::Zstd {
                incompatible::COMPRESSION_TYPE
            } else {
                0
            },
            compatible_features: if s.lazy_refcounts {
                COMPAT_LAZY_REFCOUNTS
            } else {
                0
            },
            autoclear_features: 0,
            refcount_order: s.refcount_order,
            header_length: if s.version >= 3 { V3_HEADER_LEN } else { 72 },
            compression_type: s.compression,
            extensions,
            backing_file: backing.map(|b| b.name),
        };
        // Fail now, not at the end, if the header does not fit in the first cluster.
        header.clone().to_bytes()?;
        let rc_entries = refcount::block_entries(s.cluster_bits, s.refcount_order);
        let mut w = Qcow2Writer {
            sink,
            header,
            cluster_bits: s.cluster_bits,
            cs,
            l2_entries,
            l1: vec![0; l1_entries as usize],
            l2: vec![0; l2_entries as usize],
            l2_index: None,
            end: cs,
            buf: Vec::new(),
            buf_start: cs,
            rc_order: s.refcount_order,
            rc_entries,
            rc_max: refcount::max_value(s.refcount_order),
            rc_block: vec![0; cs as usize],
            rc_index: 0,
            rc_table: Vec::new(),
            rc_pending: Vec::new(),
            encoder: compress.then(|| {
                Arc::new(ClusterCompressor {
                    kind: s.compression,
                    level: s.level,
                })
            }),
            zero_clusters: s.version >= 3,
        };
        w.add_ref(0)?;
        Ok(w)
    }

    fn flush_buf(&mut self) -> Result<()> {
        if !self.buf.is_empty() {
            self.sink.write_at(self.buf_start, &self.buf)?;
            self.buf.clear();
        }
        self.buf_start = self.end;
        Ok(())
    }

    fn append(&mut self, bytes: &[u8]) -> Result<u64> {
        let at = self.end;
        self.buf.extend_from_slice(bytes);
        self.end += bytes.len() as u64;
        if self.buf.len() >= APPEND_BUFFER {
            self.flush_buf()?;
        }
        Ok(at)
    }

    /// Moves the end of the file to the next cluster boundary.
    fn align(&mut self) -> Result<()> {
        let aligned = self.end.next_multiple_of(self.cs);
        let pad = (aligned - self.end) as usize;
        if pad > 0 {
            self.buf.resize(self.buf.len() + pad, 0);
            self.end = aligned;
        }
        Ok(())
    }

    /// One more reference to host cluster `cluster`. Clusters arrive in allocation order, so
    /// refcount blocks are finished (and written) as allocation moves past them.
    fn add_ref(&mut self, cluster: u64) -> Result<()> {
        let block = cluster / self.rc_entries;
        if block > self.rc_index {
            while block > self.rc_index {
                self.next_rc_block()?;
            }
        } else if block < self.rc_index {
            return Err(Error::new(
                ErrorKind::Io,
                "qcow2 writer: a cluster was counted after its refcount block was written",
            ));
        }
        let i = cluster % self.rc_entries;
        let v = refcount::get(&self.rc_block, i, self.rc_order) + 1;
        if v > self.rc_max {
            return Err(bad(format!(
                "host cluster {cluster} needs a refcount of {v}: use larger refcount_bits"
            )));
        }
        refcount::set(&mut self.rc_block, i, self.rc_order, v);
        Ok(())
    }

    /// Writes the current refcount block and starts the next one. The block's own cluster lies
    /// past everything allocated so far, so it is counted in a later block (pending until that
    /// block is current).
    fn next_rc_block(&mut self) -> Result<()> {
        let block = std::mem::replace(&mut self.rc_block, vec![0; self.cs as usize]);
        if block.iter().any(|&b| b != 0) {
            self.align()?;
            let at = self.append(&block)?;
            self.set_rc_table(self.rc_index, at);
            self.rc_pending.push(at >> self.cluster_bits);
        }
        self.rc_index += 1;
        let (now, later): (Vec<u64>, Vec<u64>) = std::mem::take(&mut self.rc_pending)
            .into_iter()
            .partition(|c| c / self.rc_entries == self.rc_index);
        self.rc_pending = later;
        for c in now {
            let i = c % self.rc_entries;
            let v = refcount::get(&self.rc_block, i, self.rc_order) + 1;
            refcount::set(&mut self.rc_block, i, self.rc_order, v);
        }
        Ok(())
    }

    fn set_rc_table(&mut self, index: u64, offset: u64) {
        let i = index as usize;
        if self.rc_table.len() <= i {
            self.rc_table.resize(i + 1, 0);
        }
        self.rc_table[i] = offset;
    }

    /// Makes the L2 table of guest cluster `cluster` current, writing the previous one.
    fn l2_for(&mut self, cluster: u64) -> Result<usize> {
        let l1_index = cluster / self.l2_entries;
        if self.l2_index != Some(l1_index) {
            self.flush_l2()?;
            self.l2_index = Some(l1_index);
        }
        Ok((cluster % self.l2_entries) as usize)
    }

    fn flush_l2(&mut self) -> Result<()> {
        let Some(index) = self.l2_index.take() else {
            return Ok(());
        };
        if self.l2.iter().all(|&e| e == 0) {
            return Ok(());
        }
        self.align()?;
        let bytes: Vec<u8> = self.l2.iter().flat_map(|e| e.to_be_bytes()).collect();
        let at = self.append(&bytes)?;
        self.add_ref(at >> self.cluster_bits)?;
        self.l1[index as usize] = at | COPIED;
        self.l2.fill(0);
        Ok(())
    }

    fn check_index(&self, index: u64, count: u64) -> Result<()> {
        let clusters = self.header.size.div_ceil(self.cs);
        if index.checked_add(count).is_none_or(|e| e > clusters) {
            return Err(bad(format!("unit {index} is past the end of the disk")));
        }
        Ok(())
    }

    fn write_compressed(&mut self, index: u64, data: &[u8]) -> Result<()> {
        self.check_index(index, 1)?;
        let slot = self.l2_for(index)?;
        if data.is_empty() || data.len() as u64 >= self.cs {
            return Err(bad("compressed cluster is not smaller than a cluster"));
        }
        let at = self.append(data)?;
        let first_sector = at >> 9;
        let last_sector = (at + data.len() as u64 - 1) >> 9;
        let shift = 62 - (self.cluster_bits - 8);
        if at >= 1u64 << shift {
            return Err(bad(
                "compressed data lies beyond what an L2 entry can address",
            ));
        }
        let first = (first_sector << 9) >> self.cluster_bits;
        let last = ((last_sector << 9) + 511) >> self.cluster_bits;
        for c in first..=last {
            self.add_ref(c)?;
        }
        self.l2[slot] = COMPRESSED | ((last_sector - first_sector) << shift) | at;
        Ok(())
    }
}

impl ImageWriter for Qcow2Writer {
    fn unit_size(&self) -> u64 {
        self.cs
    }

    fn encoder(&self) -> Option<Arc<dyn UnitEncoder>> {
        self.encoder.clone().map(|e| e as Arc<dyn UnitEncoder>)
    }

    fn write_units(&mut self, first: u64, data: &[u8]) -> Result<()> {
        let count = data.len() as u64 / self.cs;
        self.check_index(first, count)?;
        self.align()?;
        // Written directly (no copy into the buffer): flush what precedes it first.
        self.flush_buf()?;
        let at = self.end;
        self.end += count * self.cs;
        self.buf_start = self.end;
        self.sink
            .write_at(at, &data[..(count * self.cs) as usize])?;
        // All references first: writing an L2 table allocates past the run.
        for k in 0..count {
            self.add_ref((at >> self.cluster_bits) + k)?;
        }
        for k in 0..count {
            let slot = self.l2_for(first + k)?;
            self.l2[slot] = (at + k * self.cs) | COPIED;
        }
        Ok(())
    }

    fn write_encoded(&mut self, index: u64, encoded: &[u8]) -> Result<()> {
        self.write_compressed(index, encoded)
    }

    fn write_zero_units(&mut self, first: u64, count: u64) -> Result<()> {
        self.check_index(first, count)?;
        if self.zero_clusters {
            for k in 0..count {
                let slot = self.l2_for(first + k)?;
                self.l2[slot] = ZERO;
            }
            return Ok(());
        }
        // Version 2 has no zero clusters: store zeros.
        let zeros = vec![0u8; self.cs as usize];
        for k in 0..count {
            self.write_units(first + k, &zeros)?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        self.flush_l2()?;
        self.align()?;
        // The L1 table.
        if !self.l1.is_empty() {
            let bytes: Vec<u8> = self.l1.iter().flat_map(|e| e.to_be_bytes()).collect();
            let at = self.append(&bytes)?;
            self.align()?;
            for c in (at >> self.cluster_bits)..(self.end >> self.cluster_bits) {
                self.add_ref(c)?;
            }
            self.header.l1_table_offset = at;
        }
        // The last refcount blocks and the refcount table, laid out together: their own
        // clusters must be counted in them.
        let used = self.end >> self.cluster_bits;
        let (mut blocks, mut table) = (1u64, 1u64);
        loop {
            let total = used + blocks + table;
            let last = (total - 1) / self.rc_entries;
            let b = last + 1 - self.rc_index;
            let t = ((last + 1) * 8).div_ceil(self.cs);
            if b <= blocks && t <= table {
                break;
            }
            blocks = blocks.max(b);
            table = table.max(t);
        }
        let mut bufs = vec![vec![0u8; self.cs as usize]; blocks as usize];
        bufs[0] = std::mem::take(&mut self.rc_block);
        let new_clusters = used..used + blocks + table;
        for c in self.rc_pending.drain(..).chain(new_clusters) {
            let b = (c / self.rc_entries - self.rc_index) as usize;
            let i = c % self.rc_entries;
            let v = refcount::get(&bufs[b], i, self.rc_order) + 1;
            refcount::set(&mut bufs[b], i, self.rc_order, v);
        }
        for (k, block) in bufs.iter().enumerate() {
            let at = self.append(block)?;
            self.set_rc_table(self.rc_index + k as u64, at);
        }
        let mut rt: Vec<u8> = self.rc_table.iter().flat_map(|e| e.to_be_bytes()).collect();
        rt.resize((table * self.cs) as usize, 0);
        let at = self.append(&rt)?;
        self.header.refcount_table_offset = at;
        self.header.refcount_table_clusters =
            u32::try_from(table).map_err(|_| bad("refcount table too large"))?;
        self.flush_buf()?;
        let head = self.header.to_bytes()?;
        self.sink.write_at(0, &head)?;
        self.sink.set_size(self.end)
    }
}

/// Rewrites the backing file name (and format) in the header of the qcow2 image in `sink`,
/// without touching anything else (`rebase --unsafe`). `None` removes the backing file.
pub fn set_backing(sink: &dyn WriteAt, backing: Option<&BackingRef>) -> Result<()> {
    let mut h = read_header(sink)?;
    let old = h.clone().to_bytes()?.len();
    h.backing_file = backing.map(|b| b.name.clone());
    h.set_extension(
        ext::BACKING_FORMAT,
        backing
            .and_then(|b| b.format.clone())
            .map(String::into_bytes),
    );
    let mut bytes = h.to_bytes()?;
    if bytes.len() < old {
        bytes.resize(old, 0);
    }
    sink.write_at(0, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::OpenContext;
    use crate::container::qcow2::Qcow2;
    use crate::container::write::FormatOptions;
    use crate::device::{BlockDevice, DeviceRef};
    use crate::io::{MemorySink, MemorySource, ReadAt};
    use crate::ops::convert::{NoProgress, write_image};

    /// A disk of `size` bytes with random runs of data, zeros and repeated text.
    fn disk(seed: u64, size: usize) -> Vec<u8> {
        let mut x = seed | 1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut d = vec![0u8; size];
        for _ in 0..12 {
            let at = (next() as usize) % size;
            let len = ((next() as usize) % (size / 8)).min(size - at);
            match next() % 3 {
                0 => d[at..at + len].iter_mut().for_each(|b| *b = next() as u8),
                1 => d[at..at + len]
                    .iter_mut()
                    .enumerate()
                    .for_each(|(i, b)| *b = b"qcow2 "[i % 6]),
                _ => d[at..at + len].fill(0),
            }
        }
        d
    }

    /// Random disks through the writer and back through the reader, for several settings:
    /// what is read equals what was written, and written zeros are not stored.
    #[test]
    fn written_images_read_back() {
        let settings = [
            &["compat=1.1"][..],
            &["compat=0.10", "cluster_size=512"],
            &["cluster_size=4k", "refcount_bits=1"],
            &["cluster_size=1k", "refcount_bits=64"],
        ];
        for (seed, opts) in settings.iter().enumerate() {
            for compress in [false, true] {
                let size = 3 * 1024 * 1024 + 512 * seed;
                let data = disk(seed as u64 + 7, size);
                let src: DeviceRef = std::sync::Arc::new(MemorySource::new(data.clone()));
                let req = CreateRequest {
                    size: size as u64,
                    compress: compress && !opts.contains(&"refcount_bits=1"),
                    backing: None,
                    options: FormatOptions::parse(opts).unwrap(),
                };
                let sink = std::sync::Arc::new(MemorySink::new());
                let w = create(WriteTarget::single(sink.clone()), &req).unwrap();
                write_image(&src, w, None, 2, &NoProgress).unwrap();
                let file: DeviceRef = std::sync::Arc::new(MemorySource::new(sink.to_vec()));
                let img = Qcow2::open(file, &OpenContext::default()).unwrap();
                let dev = img.qcow2_device();
                let mut back = vec![0u8; size];
                dev.read_exact_at(0, &mut back).unwrap();
                assert!(
                    back == data,
                    "{opts:?} compress {compress}: content differs"
                );
                for e in dev.extents(0, size as u64).unwrap() {
                    if e.kind != crate::device::ExtentKind::Data {
                        let s = e.offset as usize;
                        assert!(data[s..s + e.len as usize].iter().all(|&b| b == 0));
                    }
                }
            }
        }
    }
}
