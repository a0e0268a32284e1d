//! qcow2, QEMU's copy-on-write image format: read, write and check.
//!
//! Specification: qemu `docs/interop/qcow2.txt` (libyal libqcow's format notes as a second
//! reading). The code is split by role:
//!
//! - [`header`]: the header (v2 and v3), header extensions, backing file name.
//! - [`table`]: L1/L2 tables, standard and extended (subcluster) L2 entries, the map from guest
//!   ranges to runs of data, compressed, zero and unallocated clusters.
//! - [`compress`]: zlib (raw deflate) and zstd compressed clusters.
//! - [`device`]: the guest device (`ReadAt` + `extents`), falling through to the backing image.
//! - [`snapshot`]: the internal snapshot table.
//! - [`refcount`] and [`check`]: refcount tables and the structural check (`diskimg check`).
//! - [`writer`]: the streaming writer (`convert`, `create`) and `rebase --unsafe`.
//!
//! Read: versions 2 and 3; cluster sizes 512 B to 2 MiB; zlib and zstd compressed clusters;
//! zero clusters; extended L2 entries (subclusters); backing files and chains (bounded, loops
//! refused, the backing format extension honoured); internal snapshots listed; dirty and lazy
//! refcount images (reading does not need refcounts); any refcount width.
//!
//! Written: version 3 (`compat=1.1`, default) or 2 (`compat=0.10`), any cluster size, zlib or
//! zstd compression, a backing file with its format, lazy refcounts flag, refcount widths of
//! 1 to 64 bits. Each output is laid out in one pass: data clusters, L2 tables and refcount
//! blocks in guest order, then the L1 table, the refcount table and the header.
//!
//! Not supported: encrypted images (AES and LUKS: reported as unsupported); external data
//! files; reading a snapshot's own state; writing extended L2 entries; bitmaps are kept out of
//! new images (and counted by `check` in existing ones).

pub mod check;
pub mod compress;
pub mod device;
pub mod header;
pub mod refcount;
pub mod snapshot;
pub mod table;
pub mod writer;

use crate::container::open::open_backing;
use crate::container::{BackingInfo, Container, OpenContext};
use crate::device::DeviceRef;
use crate::error::{Error, Result};
use crate::format::{Confidence, FormatDescriptor, Opener, ProbeInput};
use crate::io::{ReadAt, read_vec};
use device::{Backing, Qcow2Device};
use header::{MAGIC, Qcow2Header, incompatible};
use serde_json::json;
use snapshot::Snapshot;
use std::sync::Arc;
use table::{Geometry, Mapper, read_l1};

/// Format name.
pub const FORMAT: &str = "qcow2";

/// Most L2 tables read to add up the allocated size for `info`.
const MAX_L2_FOR_INFO: usize = 4096;

/// The qcow2 format.
pub static DESCRIPTOR: FormatDescriptor = FormatDescriptor {
    name: FORMAT,
    description: "QEMU copy-on-write image (qcow2)",
    extensions: &["qcow2", "qcow"],
    probe,
    opener: Opener::Container(open),
    create: Some(&writer::HOOK),
    check: Some(check::check),
};

fn probe(input: &ProbeInput<'_>) -> Confidence {
    let h = input.head;
    if h.len() >= 8 && h[..4] == MAGIC {
        let version = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
        if version == 2 || version == 3 {
            return Confidence::CERTAIN;
        }
        return Confidence::LIKELY;
    }
    Confidence::NONE
}

/// Reads and checks the header of the image in `file`.
pub fn read_header(file: &dyn ReadAt) -> Result<Qcow2Header> {
    let size = file.size();
    let small = read_vec(file, 0, size.min(4096), 4096)?;
    if small.len() < 24 {
        return Err(Error::corrupt(FORMAT, "header", 0, "file is too short"));
    }
    let bits = u32::from_be_bytes([small[20], small[21], small[22], small[23]]);
    let cluster = if (header::MIN_CLUSTER_BITS..=header::MAX_CLUSTER_BITS).contains(&bits) {
        1u64 << bits
    } else {
        4096
    };
    let first = if cluster > small.len() as u64 && size > small.len() as u64 {
        read_vec(file, 0, size.min(cluster), cluster)?
    } else {
        small
    };
    Qcow2Header::parse(&first, size)
}

/// An opened qcow2 image.
pub struct Qcow2 {
    header: Qcow2Header,
    file: DeviceRef,
    device: Arc<Qcow2Device>,
    snapshots: Vec<Snapshot>,
    snapshot_error: Option<String>,
    backing: Option<BackingInfo>,
}

/// Opens a qcow2 image whose bytes are `file`.
pub fn open(file: DeviceRef, ctx: &OpenContext) -> Result<Box<dyn Container>> {
    Ok(Box::new(Qcow2::open(file, ctx)?))
}

impl Qcow2 {
    /// Opens the image in `file`; `ctx` locates its backing file.
    pub fn open(file: DeviceRef, ctx: &OpenContext) -> Result<Self> {
        let h = read_header(file.as_ref())?;
        match h.crypt_method {
            0 => {}
            1 | 2 => {
                return Err(Error::unsupported(
                    FORMAT,
                    format!(
                        "the image is encrypted ({}); encrypted qcow2 is not supported",
                        if h.crypt_method == 1 { "AES" } else { "LUKS" }
                    ),
                ));
            }
            m => {
                return Err(Error::corrupt(
                    FORMAT,
                    "header",
                    32,
                    format!("unknown crypt_method {m}"),
                ));
            }
        }
        if h.incompatible_features & incompatible::EXTERNAL_DATA != 0 {
            return Err(Error::unsupported(
                FORMAT,
                format!(
                    "guest data is in an external data file ({}); not supported",
                    h.data_file().unwrap_or_default()
                ),
            ));
        }
        let geo = Geometry::new(&h);
        let needed = geo.l1_entries_for(h.size);
        if u64::from(h.l1_size) < needed {
            return Err(Error::corrupt(
                FORMAT,
                "header",
                36,
                format!(
                    "L1 table of {} entries cannot map a disk of {} bytes (needs {needed})",
                    h.l1_size, h.size
                ),
            ));
        }
        if h.l1_table_offset & (h.cluster_size() - 1) != 0 {
            return Err(Error::corrupt(
                FORMAT,
                "header",
                40,
                "L1 table offset is not cluster-aligned",
            ));
        }
        let l1 = read_l1(&file, h.l1_table_offset, u64::from(h.l1_size), "L1 table")?;
        let mapper = Mapper::new(file.clone(), geo, l1, h.l1_table_offset);
        let (snapshots, snapshot_error) =
            match snapshot::read_snapshots(&file, h.snapshots_offset, h.nb_snapshots) {
                Ok((s, _)) => (s, None),
                Err(e) => (Vec::new(), Some(e.to_string())),
            };
        let backing = h
            .backing_file
            .as_deref()
            .map(|name| open_backing(ctx, name, h.backing_format().as_deref()));
        let dev_backing = match &backing {
            None => Backing::None,
            Some(BackingInfo {
                device: Some(d), ..
            }) => Backing::Device(d.clone()),
            Some(b) => Backing::Missing(format!(
                "backing file '{}' cannot be read: {}",
                b.name,
                b.error.as_deref().unwrap_or("unknown error")
            )),
        };
        let device = Arc::new(Qcow2Device::new(
            file.clone(),
            mapper,
            h.size,
            h.compression_type,
            dev_backing,
        ));
        Ok(Qcow2 {
            header: h,
            file,
            device,
            snapshots,
            snapshot_error,
            backing,
        })
    }

    /// The header.
    pub fn header(&self) -> &Qcow2Header {
        &self.header
    }

    /// The guest device.
    pub fn qcow2_device(&self) -> &Arc<Qcow2Device> {
        &self.device
    }

    /// Internal snapshots.
    pub fn snapshots(&self) -> &[Snapshot] {
        &self.snapshots
    }

    /// Bytes of guest data stored in this image (compressed clusters count their stored
    /// size). Each distinct L2 table is read once, so the work is bounded by the file's size;
    /// `None` when there are more than [`MAX_L2_FOR_INFO`] tables.
    fn allocated_size(&self) -> Option<u64> {
        let mapper = self.device.mapper();
        let geo = mapper.geometry();
        let tables: std::collections::BTreeSet<u64> = mapper
            .l1()
            .iter()
            .map(|e| e & table::OFFSET_MASK)
            .filter(|&o| o != 0)
            .collect();
        if tables.len() > MAX_L2_FOR_INFO {
            return None;
        }
        let sc = geo.cluster_size() / table::SUBCLUSTERS;
        let mut total = 0u64;
        for t in tables {
            let words = mapper.l2_table(t).ok()?;
            let step = if geo.extended { 2 } else { 1 };
            for (i, &e) in words.iter().enumerate().step_by(step) {
                total += if e & table::COMPRESSED != 0 {
                    geo.compressed(e).1
                } else if e & table::OFFSET_MASK == 0 {
                    0
                } else if geo.extended {
                    u64::from((words[i + 1] as u32).count_ones()) * sc
                } else if e & table::ZERO != 0 {
                    0
                } else {
                    geo.cluster_size()
                };
            }
        }
        Some(total)
    }
}

impl Container for Qcow2 {
    fn format(&self) -> &'static str {
        FORMAT
    }

    fn device(&self) -> DeviceRef {
        self.device.clone()
    }

    fn backing(&self) -> Option<&BackingInfo> {
        self.backing.as_ref()
    }

    fn details(&self) -> serde_json::Value {
        let h = &self.header;
        let features: Vec<&str> = [
            (incompatible::DIRTY, "dirty"),
            (incompatible::CORRUPT, "corrupt"),
            (incompatible::COMPRESSION_TYPE, "compression type"),
            (incompatible::EXTENDED_L2, "extended L2"),
        ]
        .iter()
        .filter(|(bit, _)| h.incompatible_features & bit != 0)
        .map(|(_, n)| *n)
        .collect();
        json!({
            "version": h.version,
            "compat": if h.version >= 3 { "1.1" } else { "0.10" },
            "virtual_size": h.size,
            "cluster_size": h.cluster_size(),
            "file_size": self.file.size(),
            "allocated_size": self.allocated_size(),
            "compression_type": h.compression_type.name(),
            "refcount_bits": 1u32 << h.refcount_order,
            "lazy_refcounts": h.compatible_features & header::COMPAT_LAZY_REFCOUNTS != 0,
            "extended_l2": h.extended_l2(),
            "incompatible_features": features,
            "backing_file": h.backing_file,
            "backing_format": h.backing_format(),
            "backing_chain": self.backing.as_ref().map(|b| b.chain.clone()).unwrap_or_default(),
            "backing_error": self.backing.as_ref().and_then(|b| b.error.clone()),
            "snapshots": self.snapshots,
            "snapshot_error": self.snapshot_error,
            "bitmaps": h.extension(header::ext::BITMAPS).is_some(),
        })
    }
}
