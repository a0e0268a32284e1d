//! Opening a UDF volume: anchor, volume descriptors (main, else reserve), partition maps,
//! the file set descriptor (ECMA-167 4/14.1) and its root directory, and the logical volume
//! integrity descriptor (3/10.10) for usage and counts.

use super::detect::{self, has_nsr};
use super::fields::{ExtentAd, LongAd, dstring, le32, revision_string};
use super::icb::file_type;
use super::tag::{self, id};
use super::volume::{self, VolumeDescriptors};
use super::{FORMAT, META_CACHE, UdfFs, maps, node_id};
use crate::device::DeviceRef;
use crate::error::{Error, ErrorKind, Result};
use crate::format::{Confidence, FormatDescriptor, Opener};
use crate::fs::{FileSystem, FsEntry, FsVolume, Usage};
use crate::io::BlockCache;
use crate::time::Timestamp;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// Most blocks of the file set descriptor sequence read.
const MAX_FILE_SET_BLOCKS: u64 = 256;
/// Most integrity descriptors followed.
const MAX_INTEGRITY_CHAIN: usize = 64;

/// The registry entry.
pub static DESCRIPTOR: FormatDescriptor = FormatDescriptor {
    create: None,
    check: None,
    name: FORMAT,
    description: "UDF file system (ECMA-167, OSTA UDF 1.02-2.60)",
    extensions: &["udf", "iso", "img"],
    probe: |p| {
        if has_nsr(p.head) {
            Confidence::CERTAIN
        } else {
            Confidence::NONE
        }
    },
    opener: Opener::FileSystem(|dev| open_volume(dev.clone())),
};

/// The file set descriptor's facts.
struct FileSet {
    id: String,
    recorded: Option<Timestamp>,
    root: LongAd,
}

/// What the integrity descriptor says.
#[derive(Default)]
struct Integrity {
    recorded: Option<Timestamp>,
    state: Option<&'static str>,
    free: Vec<u32>,
    sizes: Vec<u32>,
    files: Option<u32>,
    directories: Option<u32>,
    min_read: Option<u16>,
    min_write: Option<u16>,
    max_write: Option<u16>,
}

/// Opens the UDF volume on `dev`.
pub fn open_volume(dev: DeviceRef) -> Result<FsVolume> {
    let anchors = detect::anchors(dev.as_ref());
    let Some(first) = anchors.first() else {
        return Err(Error::corrupt(
            FORMAT,
            "anchor volume descriptor pointer",
            256 * 2048,
            "no valid anchor at sector 256, N-257 or N-1",
        ));
    };
    let mut warnings = Vec::new();
    if first.sector != 256 {
        warnings.push(format!(
            "udf: no valid anchor at sector 256; the one at sector {} is used",
            first.sector
        ));
    }
    let mut last_err = None;
    let mut found = None;
    for a in &anchors {
        match volume::read(dev.as_ref(), a) {
            Ok(v) => {
                found = Some((a, v));
                break;
            }
            Err(e) => last_err = Some(e),
        }
    }
    let Some((anchor, (vds, main_err))) = found else {
        return Err(last_err.expect("an anchor was tried"));
    };
    if let Some(e) = main_err {
        warnings.push(format!(
            "udf: main volume descriptor sequence damaged ({e}); the reserve sequence is used"
        ));
    }
    let bs = u64::from(vds.logical.block_size);
    if bs != anchor.sector_size || !(512..=32768).contains(&bs) || !bs.is_power_of_two() {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "logical block size {bs} with {}-byte sectors",
                anchor.sector_size
            ),
        )
        .with_format(FORMAT));
    }
    let mut local = Vec::new();
    let first_maps = maps::first_pass(dev.as_ref(), bs, &vds, &mut local);
    let mut fs = UdfFs {
        meta: BlockCache::new(dev.clone(), bs as u32, META_CACHE),
        dev,
        block_size: bs,
        maps: first_maps,
        root: 0,
        label: vds.logical.id.clone(),
        usage: None,
        entries: Mutex::new(Vec::new()),
    };
    fs.resolve_maps(&vds, &mut local)?;
    warnings.extend(local.into_iter().map(|w| format!("udf: {w}")));
    let file_set = fs.file_set(vds.logical.file_set)?;
    let root = fs
        .read_entry(file_set.root.location, 0)
        .map_err(|e| e.with_structure("root directory"))?;
    if root.file_type != file_type::DIRECTORY {
        return Err(Error::corrupt(
            FORMAT,
            "root directory",
            fs.entry_offset(&root),
            format!("the root ICB has file type {}", root.file_type),
        ));
    }
    fs.root = node_id(file_set.root.location);
    let integrity = fs.integrity(vds.logical.integrity);
    fs.usage = usage(&vds, &integrity, bs);
    let details = details(&vds, &file_set, &integrity, anchor.sector, bs);
    let fs: Arc<dyn FileSystem> = Arc::new(fs);
    Ok(FsVolume {
        file_systems: vec![FsEntry {
            kind: FORMAT,
            label: fs.label(),
            fs: Some(fs),
            details,
            note: None,
        }],
        boot: None,
        warnings,
    })
}

impl UdfFs {
    /// Reads the file set descriptor sequence at `at` and keeps the prevailing descriptor.
    fn file_set(&self, at: LongAd) -> Result<FileSet> {
        let blocks = u64::from(at.bytes())
            .div_ceil(self.block_size)
            .clamp(1, MAX_FILE_SET_BLOCKS);
        let mut best: Option<((u32, u32), FileSet)> = None;
        for i in 0..blocks {
            let Some(loc) = at.location.plus(i as u32) else {
                break;
            };
            let (b, offset) = match self.read_block(loc, "file set descriptor", 0) {
                Ok(x) => x,
                Err(e) if best.is_none() => return Err(e),
                Err(_) => break,
            };
            if best.is_some() && (b.iter().all(|&x| x == 0) || le32(&b, 0) & 0xFFFF == 8) {
                break;
            }
            let check = tag::check(
                &b,
                &[id::FILE_SET],
                Some(loc.block),
                "file set descriptor",
                offset,
            );
            match check {
                Ok(_) => {}
                Err(e) if best.is_none() => return Err(e),
                Err(_) => break,
            }
            let number = (le32(&b, 40), le32(&b, 44));
            if best.as_ref().is_none_or(|(n, _)| number >= *n) {
                best = Some((
                    number,
                    FileSet {
                        id: dstring(&b[304..336]),
                        recorded: super::fields::timestamp(&b[16..28]),
                        root: LongAd::parse(&b, 400),
                    },
                ));
            }
        }
        best.map(|(_, f)| f).ok_or_else(|| {
            Error::corrupt(FORMAT, "file set descriptor", 0, "no file set descriptor")
        })
    }

    /// Reads the logical volume integrity sequence; problems leave it empty (it only feeds
    /// `info`).
    fn integrity(&self, first: ExtentAd) -> Integrity {
        let bs = self.block_size;
        let mut out = Integrity::default();
        let mut extent = first;
        let mut b = vec![0u8; bs as usize];
        let mut read = 0;
        'extents: while extent.len > 0 {
            let mut next = None;
            for i in 0..u64::from(extent.len).div_ceil(bs) {
                read += 1;
                if read > MAX_INTEGRITY_CHAIN {
                    break 'extents;
                }
                let sector = u64::from(extent.location) + i;
                let offset = sector * bs;
                let valid = self.dev.read_exact_at(offset, &mut b).is_ok()
                    && tag::check(
                        &b,
                        &[id::INTEGRITY, id::TERMINATING],
                        u32::try_from(sector).ok(),
                        "integrity",
                        offset,
                    )
                    .is_ok();
                if !valid || le32(&b, 0) & 0xFFFF == u32::from(id::TERMINATING) {
                    break;
                }
                let n = le32(&b, 72) as usize;
                let l_iu = le32(&b, 76) as usize;
                if n > 64 || 80 + 8 * n + l_iu > b.len() {
                    break;
                }
                let table = |at: usize| (0..n).map(|i| le32(&b, at + 4 * i)).collect::<Vec<_>>();
                out.recorded = super::fields::timestamp(&b[16..28]);
                out.state = match le32(&b, 28) {
                    0 => Some("open"),
                    1 => Some("closed"),
                    _ => None,
                };
                out.free = table(80);
                out.sizes = table(80 + 4 * n);
                let iu = 80 + 8 * n;
                if l_iu >= 46 {
                    out.files = Some(le32(&b, iu + 32));
                    out.directories = Some(le32(&b, iu + 36));
                    out.min_read = Some(super::fields::le16(&b, iu + 40));
                    out.min_write = Some(super::fields::le16(&b, iu + 42));
                    out.max_write = Some(super::fields::le16(&b, iu + 44));
                }
                let n = ExtentAd::parse(&b, 32);
                if n.len > 0 {
                    next = Some(n);
                    break;
                }
            }
            match next {
                Some(n) => extent = n,
                None => break,
            }
        }
        out
    }
}

/// Total from the partition descriptors, free space from the integrity descriptor.
fn usage(vds: &VolumeDescriptors, integrity: &Integrity, bs: u64) -> Option<Usage> {
    let total: u64 = vds
        .partitions
        .iter()
        .map(|p| u64::from(p.length) * bs)
        .sum();
    let free: u64 = integrity
        .free
        .iter()
        .filter(|&&f| f != u32::MAX)
        .map(|&f| u64::from(f) * bs)
        .sum();
    if integrity.free.is_empty() || total == 0 {
        return None;
    }
    Some(Usage {
        total,
        used: total.saturating_sub(free),
    })
}

fn details(
    vds: &VolumeDescriptors,
    file_set: &FileSet,
    integrity: &Integrity,
    anchor: u64,
    bs: u64,
) -> Value {
    let lv = &vds.logical;
    json!({
        "revision": revision_string(lv.revision),
        "min_read_revision": integrity.min_read.map(revision_string),
        "min_write_revision": integrity.min_write.map(revision_string),
        "max_write_revision": integrity.max_write.map(revision_string),
        "domain": lv.domain,
        "block_size": bs,
        "anchor_sector": anchor,
        "volume_descriptor_sequence": vds.sequence,
        "volume_id": vds.volume_id,
        "volume_set_id": vds.volume_set_id,
        "logical_volume_id": lv.id,
        "file_set_id": file_set.id,
        "application_id": vds.application,
        "implementation_id": vds.implementation,
        "recorded": vds.recorded,
        "file_set_recorded": file_set.recorded,
        "integrity_recorded": integrity.recorded,
        "integrity": integrity.state,
        "files": integrity.files,
        "directories": integrity.directories,
        "partition_maps": lv.maps.iter().map(|m| m.name()).collect::<Vec<_>>(),
        "partitions": vds.partitions.iter().map(|p| json!({
            "number": p.number,
            "contents": p.contents,
            "access": match p.access_type {
                1 => "read-only",
                2 => "write-once",
                3 => "rewritable",
                4 => "overwritable",
                _ => "unspecified",
            },
            "start_sector": p.start,
            "blocks": p.length,
        })).collect::<Vec<_>>(),
    })
}
