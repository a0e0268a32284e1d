//! The VMDK writer: monolithicSparse (default), monolithicFlat, twoGbMaxExtentSparse,
//! twoGbMaxExtentFlat and streamOptimized (`-o subformat=`), in one pass in guest order.
//!
//! - monolithicSparse: one hosted sparse extent with the descriptor embedded
//!   ([`super::sparse_writer`]).
//! - streamOptimized: one stream-optimized extent, every grain compressed on the pipeline's
//!   worker threads ([`super::stream`]); what `convert -c` writes.
//! - monolithicFlat: a descriptor file and `NAME-flat.vmdk`, the guest bytes as they are
//!   (holes where the source has none).
//! - twoGbMaxExtentSparse / twoGbMaxExtentFlat: a descriptor file and extents of at most
//!   2047 MiB (4192256 sectors, as VMware splits), `NAME-s001.vmdk`... or `NAME-f001.vmdk`...
//!
//! The files of a disk are written as a set: extents are companions of the descriptor file and
//! appear with it only when all are complete (see [`crate::io::commit_together`]). Extents are
//! made in guest order as the emission reaches them, each finished before the next begins;
//! extents the emission never reaches are made empty at the end.
//!
//! The descriptor carries a random content id (`CID`), `createType`, the extent lines and the
//! disk database: `ddb.virtualHWVersion` (`-o hwversion=`, default 4 as qemu), `ddb.adapterType`
//! (`-o adapter_type=`, default ide) and a geometry for it (16 heads for IDE, 255 otherwise, 63
//! sectors). A snapshot (a backing file; sparse subformats only) records `parentCID` (the
//! parent's content id) and `parentFileNameHint` (its path relative to the snapshot); a grain
//! that must read as zeros over the parent's data is written as a zero grain.

use super::Vmdk;
use super::descriptor::{Access, ExtentLine, ExtentType, NO_PARENT_CID, VmdkDescriptor};
use super::sparse::{SPARSE_MAGIC, SparseExtentHeader};
use super::sparse_writer::{GRAIN_BYTES, SparseWriter};
use super::stream::{DEFAULT_LEVEL, StreamWriter};
use crate::container::OpenContext;
use crate::container::write::{
    BackingRef, CreateHook, CreateRequest, ImageWriter, OptionHelp, UnitEncoder, WriteTarget,
};
use crate::error::{Error, Result};
use crate::io::{FileSource, WriteAt, read_vec};
use std::path::Path;
use std::sync::Arc;

/// Format name.
const FORMAT: &str = "vmdk";
/// Sectors per extent of the twoGbMaxExtent subformats (2047 MiB).
pub const SPLIT_SECTORS: u64 = 4_192_256;
/// Largest disk in one sparse or stream-optimized file: grain offsets are 32-bit sectors.
pub const MAX_MONOLITHIC_SPARSE: u64 = 2 << 40;

const OPTIONS: &[OptionHelp] = &[
    OptionHelp {
        key: "subformat",
        help: "monolithicSparse (default), monolithicFlat, twoGbMaxExtentSparse, \
               twoGbMaxExtentFlat or streamOptimized (compressed; -c chooses it)",
    },
    OptionHelp {
        key: "adapter_type",
        help: "ide (default), buslogic, lsilogic or legacyESX: ddb.adapterType and geometry",
    },
    OptionHelp {
        key: "hwversion",
        help: "ddb.virtualHWVersion (default 4)",
    },
    OptionHelp {
        key: "compression_level",
        help: "deflate level 1-9 of streamOptimized grains (default 6)",
    },
    OptionHelp {
        key: "backing_file",
        help: "parent VMDK of a snapshot (sparse subformats; relative to the image's folder)",
    },
    OptionHelp {
        key: "backing_fmt",
        help: "vmdk (the only parent format a VMDK can have)",
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

/// The subformats written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subformat {
    /// One sparse file, descriptor embedded.
    MonolithicSparse,
    /// A descriptor and one flat file.
    MonolithicFlat,
    /// A descriptor and sparse extents of at most 2047 MiB.
    TwoGbSparse,
    /// A descriptor and flat extents of at most 2047 MiB.
    TwoGbFlat,
    /// One stream-optimized (compressed) file.
    StreamOptimized,
}

impl Subformat {
    /// The `createType` value.
    pub fn name(self) -> &'static str {
        match self {
            Subformat::MonolithicSparse => "monolithicSparse",
            Subformat::MonolithicFlat => "monolithicFlat",
            Subformat::TwoGbSparse => "twoGbMaxExtentSparse",
            Subformat::TwoGbFlat => "twoGbMaxExtentFlat",
            Subformat::StreamOptimized => "streamOptimized",
        }
    }

    fn parse(s: &str) -> Option<Subformat> {
        [
            Subformat::MonolithicSparse,
            Subformat::MonolithicFlat,
            Subformat::TwoGbSparse,
            Subformat::TwoGbFlat,
            Subformat::StreamOptimized,
        ]
        .into_iter()
        .find(|f| f.name().eq_ignore_ascii_case(s))
    }

    fn sparse(self) -> bool {
        matches!(self, Subformat::MonolithicSparse | Subformat::TwoGbSparse)
    }
}

/// The settings of a new VMDK.
struct Settings {
    subformat: Subformat,
    adapter: &'static str,
    hwversion: String,
    level: u32,
}

fn settings(req: &CreateRequest, backing: Option<&BackingRef>) -> Result<Settings> {
    let o = &req.options;
    o.check_known(FORMAT, OPTIONS)?;
    let subformat = match o.get("subformat") {
        None if req.compress => Subformat::StreamOptimized,
        None => Subformat::MonolithicSparse,
        Some(s) => Subformat::parse(s).ok_or_else(|| {
            bad(format!(
                "subformat '{s}': use monolithicSparse, monolithicFlat, twoGbMaxExtentSparse, \
                 twoGbMaxExtentFlat or streamOptimized"
            ))
        })?,
    };
    if req.compress && subformat != Subformat::StreamOptimized {
        return Err(bad(format!(
            "{} cannot be compressed: compression needs subformat=streamOptimized",
            subformat.name()
        )));
    }
    if backing.is_some() && !subformat.sparse() {
        return Err(bad(format!(
            "a {} disk cannot be a snapshot: use monolithicSparse or twoGbMaxExtentSparse",
            subformat.name()
        )));
    }
    if let Some(f) = backing.and_then(|b| b.format.as_deref()) {
        if !f.eq_ignore_ascii_case("vmdk") {
            return Err(bad(format!(
                "the parent of a VMDK snapshot must be a VMDK, not {f}"
            )));
        }
    }
    let adapter = match o.get("adapter_type").unwrap_or("ide") {
        "ide" => "ide",
        "buslogic" => "buslogic",
        "lsilogic" => "lsilogic",
        "legacyESX" => "legacyESX",
        v => {
            return Err(bad(format!(
                "adapter_type '{v}': use ide, buslogic, lsilogic or legacyESX"
            )));
        }
    };
    let hwversion = o.get("hwversion").unwrap_or("4").to_owned();
    if !(hwversion.len() <= 4 && hwversion.bytes().all(|b| b.is_ascii_digit())) {
        return Err(bad(format!("hwversion '{hwversion}' is not a number")));
    }
    let level = match o.get("compression_level") {
        None => DEFAULT_LEVEL,
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=9).contains(l))
            .ok_or_else(|| bad(format!("compression_level '{v}': use 1 to 9")))?,
    };
    Ok(Settings {
        subformat,
        adapter,
        hwversion,
        level,
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

/// A random content id (never the values that mean "none").
fn random_cid() -> Result<u32> {
    let id = crate::container::bytes::random_uuid_be()?;
    let cid = u32::from_le_bytes([id[0], id[1], id[2], id[3]]);
    Ok(if cid >= 0xFFFF_FFFE { 0x1234_5678 } else { cid })
}

/// The content id of the VMDK at the backing file's host path.
fn parent_cid(b: &BackingRef) -> Result<u32> {
    let path = b.host_path(FORMAT)?;
    let src = Arc::new(FileSource::open(path)?);
    let ctx = OpenContext {
        path: Some(path.to_path_buf()),
        ..OpenContext::default()
    };
    let parent = Vmdk::open(src, &ctx).map_err(|e| {
        bad(format!(
            "the backing file {} is not a VMDK ({}): a snapshot needs a VMDK parent",
            path.display(),
            e.message()
        ))
    })?;
    Ok(parent.descriptor().cid.unwrap_or(NO_PARENT_CID))
}

/// The geometry VMware gives a disk of `sectors` on `adapter`: (cylinders, heads, sectors).
fn geometry(sectors: u64, adapter: &str) -> (u64, u64, u64) {
    let heads = if adapter == "ide" { 16 } else { 255 };
    let max = if adapter == "ide" { 16383 } else { 65535 };
    ((sectors / (heads * 63)).clamp(1, max), heads, 63)
}

/// One extent of the disk being written.
struct Planned {
    start: u64,
    sectors: u64,
    file: String,
}

enum Open {
    Sparse(SparseWriter),
    Flat(Arc<dyn WriteAt>, u64),
}

/// Writes one VMDK.
pub struct VmdkWriter {
    target: WriteTarget,
    subformat: Subformat,
    size: u64,
    extents: Vec<Planned>,
    descriptor: VmdkDescriptor,
    /// Extents before this one are complete.
    next: usize,
    current: Option<(usize, Open)>,
    stream: Option<StreamWriter>,
}

fn create(target: WriteTarget, req: &CreateRequest) -> Result<Box<dyn ImageWriter>> {
    let backing = backing_of(req);
    let s = settings(req, backing.as_ref())?;
    let size = req.size.next_multiple_of(512);
    if size == 0 || size > super::MAX_DISK_SIZE {
        return Err(bad(format!(
            "a VMDK holds 1 to {} bytes, not {size}",
            super::MAX_DISK_SIZE
        )));
    }
    if matches!(
        s.subformat,
        Subformat::MonolithicSparse | Subformat::StreamOptimized
    ) && size > MAX_MONOLITHIC_SPARSE
    {
        return Err(bad(format!(
            "{} holds at most {MAX_MONOLITHIC_SPARSE} bytes: use twoGbMaxExtentSparse",
            s.subformat.name()
        )));
    }
    let name = target
        .name
        .clone()
        .unwrap_or_else(|| "disk.vmdk".to_owned());
    let stem = Path::new(&name)
        .file_stem()
        .map_or_else(|| "disk".to_owned(), |s| s.to_string_lossy().into_owned());
    let sectors = size / 512;
    let extents: Vec<Planned> = match s.subformat {
        Subformat::MonolithicSparse | Subformat::StreamOptimized => vec![Planned {
            start: 0,
            sectors,
            file: name.clone(),
        }],
        Subformat::MonolithicFlat => vec![Planned {
            start: 0,
            sectors,
            file: format!("{stem}-flat.vmdk"),
        }],
        Subformat::TwoGbSparse | Subformat::TwoGbFlat => {
            let letter = if s.subformat == Subformat::TwoGbSparse {
                's'
            } else {
                'f'
            };
            (0..sectors.div_ceil(SPLIT_SECTORS))
                .map(|i| Planned {
                    start: i * SPLIT_SECTORS,
                    sectors: SPLIT_SECTORS.min(sectors - i * SPLIT_SECTORS),
                    file: format!("{stem}-{letter}{:03}.vmdk", i + 1),
                })
                .collect()
        }
    };
    let kind = if s.subformat.sparse() || s.subformat == Subformat::StreamOptimized {
        ExtentType::Sparse
    } else {
        ExtentType::Flat
    };
    let (cyl, heads, secs) = geometry(sectors, s.adapter);
    let descriptor = VmdkDescriptor {
        version: Some("1".into()),
        encoding: Some("UTF-8".into()),
        cid: Some(random_cid()?),
        parent_cid: Some(match &backing {
            Some(b) => parent_cid(b)?,
            None => NO_PARENT_CID,
        }),
        create_type: Some(s.subformat.name().into()),
        parent_file_name_hint: backing.as_ref().map(|b| b.name.clone()),
        extents: extents
            .iter()
            .map(|e| ExtentLine {
                access: Access::Rw,
                sectors: e.sectors,
                kind,
                file: Some(e.file.clone()),
                offset: 0,
            })
            .collect(),
        ddb: vec![
            ("ddb.virtualHWVersion".into(), s.hwversion.clone()),
            ("ddb.adapterType".into(), s.adapter.into()),
            ("ddb.geometry.cylinders".into(), cyl.to_string()),
            ("ddb.geometry.heads".into(), heads.to_string()),
            ("ddb.geometry.sectors".into(), secs.to_string()),
        ],
        other: Vec::new(),
    };
    let stream = match s.subformat {
        Subformat::StreamOptimized => Some(StreamWriter::new(
            target.sink.clone(),
            sectors,
            descriptor.to_text().into_bytes(),
            s.level,
        )?),
        _ => None,
    };
    Ok(Box::new(VmdkWriter {
        target,
        subformat: s.subformat,
        size,
        extents,
        descriptor,
        next: 0,
        current: None,
        stream,
    }))
}

impl VmdkWriter {
    /// Opens extent `i` (a new file, or the image file itself for monolithicSparse).
    fn open(&self, i: usize) -> Result<Open> {
        let e = &self.extents[i];
        Ok(match self.subformat {
            Subformat::MonolithicSparse => Open::Sparse(SparseWriter::new(
                self.target.sink.clone(),
                e.sectors,
                Some(self.descriptor.to_text().into_bytes()),
            )?),
            Subformat::TwoGbSparse => Open::Sparse(SparseWriter::new(
                self.target.companion(FORMAT, &e.file)?,
                e.sectors,
                None,
            )?),
            _ => Open::Flat(self.target.companion(FORMAT, &e.file)?, e.sectors * 512),
        })
    }

    fn close(open: Open) -> Result<()> {
        match open {
            Open::Sparse(w) => w.finish(),
            Open::Flat(sink, len) => sink.set_size(len),
        }
    }

    /// Makes extent `i` current, completing every extent before it.
    fn extent(&mut self, i: usize) -> Result<&mut Open> {
        if self.current.as_ref().is_none_or(|(c, _)| *c != i) {
            if let Some((_, open)) = self.current.take() {
                Self::close(open)?;
            }
            if i < self.next {
                return Err(bad("units arrived out of order"));
            }
            while self.next < i {
                Self::close(self.open(self.next)?)?;
                self.next += 1;
            }
            let open = self.open(i)?;
            self.next = i + 1;
            self.current = Some((i, open));
        }
        match &mut self.current {
            Some((_, open)) => Ok(open),
            None => Err(bad("no extent open")),
        }
    }

    /// Stores `data` (whole units) at guest offset `offset`; what lies past the end of the
    /// disk (the padding of its last unit) is dropped.
    fn write(&mut self, mut offset: u64, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() && offset < self.size {
            let i = self
                .extents
                .partition_point(|e| (e.start + e.sectors) * 512 <= offset);
            let e = self
                .extents
                .get(i)
                .ok_or_else(|| bad("a unit past the end of the disk"))?;
            let (start, end) = (e.start * 512, (e.start + e.sectors) * 512);
            let n = (data.len() as u64).min(end - offset) as usize;
            let within = offset - start;
            match self.extent(i)? {
                Open::Sparse(w) => {
                    // Grains are whole; the last one of the disk is padded with zeros.
                    let whole = (n as u64).next_multiple_of(GRAIN_BYTES) as usize;
                    w.write_grains(within / GRAIN_BYTES, &data[..whole.min(data.len())])?;
                }
                Open::Flat(sink, _) => sink.write_at(within, &data[..n])?,
            }
            offset += n as u64;
            data = &data[n..];
        }
        Ok(())
    }
}

impl ImageWriter for VmdkWriter {
    fn unit_size(&self) -> u64 {
        GRAIN_BYTES
    }

    fn encoder(&self) -> Option<Arc<dyn UnitEncoder>> {
        self.stream
            .as_ref()
            .map(|s| s.encoder() as Arc<dyn UnitEncoder>)
    }

    fn write_units(&mut self, first: u64, data: &[u8]) -> Result<()> {
        if let Some(s) = &mut self.stream {
            return s.write_plain(first, data);
        }
        let offset = first
            .checked_mul(GRAIN_BYTES)
            .filter(|&o| o < self.size)
            .ok_or_else(|| bad(format!("unit {first} is past the end of the disk")))?;
        self.write(offset, data)
    }

    fn write_encoded(&mut self, index: u64, encoded: &[u8]) -> Result<()> {
        match &mut self.stream {
            Some(s) => s.write_compressed(index, encoded),
            None => Err(bad("this subformat has no encoder")),
        }
    }

    fn write_zero_units(&mut self, first: u64, count: u64) -> Result<()> {
        if self.stream.is_some() || !self.subformat.sparse() {
            return Ok(()); // no parent: unwritten ranges read as zeros
        }
        let zeros = vec![0u8; GRAIN_BYTES as usize];
        for k in first..first + count {
            let offset = k * GRAIN_BYTES;
            if offset >= self.size {
                return Err(bad(format!("unit {k} is past the end of the disk")));
            }
            self.write(offset, &zeros)?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        if let Some(s) = self.stream.take() {
            return s.finish();
        }
        if let Some((_, open)) = self.current.take() {
            Self::close(open)?;
        }
        while self.next < self.extents.len() {
            Self::close(self.open(self.next)?)?;
            self.next += 1;
        }
        if self.subformat != Subformat::MonolithicSparse {
            let text = self.descriptor.to_text();
            self.target.sink.write_at(0, text.as_bytes())?;
            self.target.sink.set_size(text.len() as u64)?;
        }
        Ok(())
    }
}

/// Points the VMDK snapshot in `sink` (a sparse file with its descriptor embedded, or a
/// descriptor file) at another parent (`rebase --unsafe`): `parentFileNameHint` and
/// `parentCID` are rewritten. Removing the parent is refused: use a safe `rebase`.
pub fn set_backing(sink: &dyn WriteAt, backing: Option<&BackingRef>) -> Result<()> {
    let Some(b) = backing else {
        return Err(Error::unsupported(
            FORMAT,
            "a snapshot cannot drop its parent in place: use a safe rebase",
        ));
    };
    let head = read_vec(sink, 0, 512.min(sink.size()), 512)?;
    let embedded =
        head.len() >= 4 && u32::from_le_bytes([head[0], head[1], head[2], head[3]]) == SPARSE_MAGIC;
    let (at, room) = if embedded {
        let h = SparseExtentHeader::parse(&head, 0)?;
        if h.descriptor_offset == 0 || h.descriptor_size == 0 {
            return Err(Error::unsupported(
                FORMAT,
                "the extent has no descriptor to edit",
            ));
        }
        (h.descriptor_offset * 512, h.descriptor_size * 512)
    } else {
        (0, super::descriptor::MAX_DESCRIPTOR_LEN as u64)
    };
    let len = if embedded { room } else { sink.size() };
    let raw = read_vec(sink, at, len, super::descriptor::MAX_DESCRIPTOR_LEN as u64)?;
    let mut d = VmdkDescriptor::parse(&raw)?;
    if !d.has_parent() {
        return Err(Error::unsupported(
            FORMAT,
            "only a snapshot has a parent to change",
        ));
    }
    d.parent_cid = Some(parent_cid(b)?);
    d.parent_file_name_hint = Some(b.name.clone());
    let text = d.to_text().into_bytes();
    if text.len() as u64 > room {
        return Err(Error::unsupported(
            FORMAT,
            format!(
                "the new descriptor needs {} bytes; there is room for {room}",
                text.len()
            ),
        ));
    }
    if embedded {
        let mut padded = text;
        padded.resize(room as usize, 0);
        sink.write_at(at, &padded)
    } else {
        sink.write_at(0, &text)?;
        sink.set_size(text.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::Container;
    use crate::container::write::FormatOptions;
    use crate::device::DeviceRef;
    use crate::io::{MemorySink, MemorySource, ReadAt};
    use crate::ops::convert::{NoProgress, write_image};

    #[test]
    fn monolithic_and_stream_read_back() {
        let size = (5 << 20) + 1024;
        let mut data = vec![0u8; size];
        for (i, c) in data.chunks_mut(4096).enumerate() {
            if i % 3 == 0 || i > 1200 {
                c.iter_mut()
                    .enumerate()
                    .for_each(|(j, b)| *b = (i ^ j) as u8);
            }
        }
        for (opts, compress) in [
            (&["subformat=monolithicSparse"][..], false),
            (&[][..], true),
            (
                &["subformat=streamOptimized", "adapter_type=lsilogic"][..],
                false,
            ),
        ] {
            let src: DeviceRef = Arc::new(MemorySource::new(data.clone()));
            let req = CreateRequest {
                size: size as u64,
                compress,
                backing: None,
                options: FormatOptions::parse(opts).unwrap(),
            };
            let sink = Arc::new(MemorySink::new());
            let w = create(WriteTarget::single(sink.clone()), &req).unwrap();
            write_image(&src, w, None, 2, &NoProgress).unwrap();
            let v = Vmdk::open(
                Arc::new(MemorySource::new(sink.to_vec())),
                &OpenContext::default(),
            )
            .unwrap();
            let dev = v.device();
            assert_eq!(dev.size(), size as u64);
            let mut back = vec![0u8; size];
            dev.read_exact_at(0, &mut back).unwrap();
            assert!(back == data, "{opts:?}");
            let d = v.details();
            let stream = compress || opts.contains(&"subformat=streamOptimized");
            assert_eq!(d["compressed"], stream, "{opts:?}");
            assert_eq!(
                d["subformat"],
                if stream {
                    "streamOptimized"
                } else {
                    "monolithicSparse"
                }
            );
        }
    }

    #[test]
    fn several_files_need_companions() {
        let req = CreateRequest {
            size: 1 << 20,
            compress: false,
            backing: None,
            options: FormatOptions::parse(&["subformat=monolithicFlat"]).unwrap(),
        };
        let sink = Arc::new(MemorySink::new());
        let w = create(WriteTarget::single(sink), &req).unwrap();
        assert!(w.finish().is_err());
        let files = Arc::new(crate::container::write::MemoryCompanions::default());
        let target = WriteTarget {
            sink: Arc::new(MemorySink::new()),
            name: Some("d.vmdk".into()),
            companions: Some(files.clone()),
        };
        let req = CreateRequest {
            size: 5000 << 20,
            options: FormatOptions::parse(&["subformat=twoGbMaxExtentFlat"]).unwrap(),
            ..req
        };
        let text_sink = target.sink.clone();
        create(target, &req).unwrap().finish().unwrap();
        assert_eq!(files.names(), ["d-f001.vmdk", "d-f002.vmdk", "d-f003.vmdk"]);
        assert_eq!(
            files.get("d-f003.vmdk").unwrap().size(),
            (5000 - 2 * 2047) << 20
        );
        let mut text = vec![0u8; text_sink.size() as usize];
        text_sink.read_exact_at(0, &mut text).unwrap();
        let d = VmdkDescriptor::parse(&text).unwrap();
        assert_eq!(d.extents.len(), 3);
        assert_eq!(d.create_type.as_deref(), Some("twoGbMaxExtentFlat"));
    }
}
