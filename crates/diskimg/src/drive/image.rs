//! Copying a drive into an image file of any writable format, as a careful person copies a
//! failing disk.
//!
//! The drive becomes a [`CarefulDrive`]: a block device that reads past the page cache, retries
//! a failed read sector by sector (each sector up to `retries` times), fills sectors that never
//! read with zeros and records them. With `used_only`, ranges the file systems on the drive mark
//! as free (see [`crate::fs::AllocationMap`]) are reported as unallocated; ranges outside any
//! such file system (partition tables, gaps, file systems without a map) are data. That device
//! is fed to the conversion pipeline ([`crate::ops::convert`]) with the writer of the output
//! format (`-O`, else the output's extension; raw for a name no writer claims): free ranges are
//! never read and become holes or unallocated clusters, zero units are not written, and units
//! are encoded (compressed) on every core.
//!
//! The output appears under its name only when complete ([`Output`]): an error or an
//! interruption leaves nothing. Unreadable sectors are listed in the report and in a ddrescue
//! mapfile, written after the image.

use super::careful::{CarefulDrive, Range};
use super::target::ReadBack;
use crate::container::write::{CreateRequest, FormatOptions};
use crate::device::DeviceRef;
use crate::error::{Error, ErrorKind, Result, ResultExt};
use crate::format::{FormatDescriptor, Opener, by_name, formats, writer_for_path};
use crate::image::{Image, Layer};
use crate::io::{AtomicFile, ReadAt, copy::write_all_at};
use crate::ops::convert::{
    ConvertProgress, Output, PipelineStats, default_threads, make_writer, output_format,
    write_image,
};
use crate::ops::hash::HashProgress;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How to copy.
#[derive(Debug, Clone)]
pub struct ImageOptions {
    /// Tries per sector after a read fails.
    pub retries: u32,
    /// Copy only what file systems mark as used.
    pub used_only: bool,
    /// Replace an existing output.
    pub replace: bool,
    /// Where to write the map (always written when given; else beside the output as
    /// `OUTPUT.map` when sectors were unreadable).
    pub mapfile: Option<PathBuf>,
    /// The command line, recorded in the map.
    pub command: String,
    /// Output format (`-O`); else from the output's extension, raw when none claims it.
    pub format: Option<String>,
    /// The writer's `-o key=value` items.
    pub options: Vec<String>,
    /// Compress (`-c`), for formats that can.
    pub compress: bool,
    /// Worker threads (default: the number of cores).
    pub threads: Option<usize>,
}

impl Default for ImageOptions {
    fn default() -> Self {
        ImageOptions {
            retries: 3,
            used_only: false,
            replace: false,
            mapfile: None,
            command: String::new(),
            format: None,
            options: Vec::new(),
            compress: false,
            threads: None,
        }
    }
}

/// What a copy did (`diskimg image --json`).
#[derive(Debug, Clone, Serialize)]
pub struct ImageReport {
    /// Bytes of the drive (the image's virtual size).
    pub size: u64,
    /// The format written.
    pub format: &'static str,
    /// Bytes of the image file(s) written.
    pub output_size: u64,
    /// Bytes read from the drive.
    pub read: u64,
    /// Bytes not read because the file systems do not use them.
    pub unused: u64,
    /// File systems whose allocation maps were used.
    pub maps_from: Vec<String>,
    /// Unreadable ranges `(offset, len)`, zero-filled in the image.
    pub bad_ranges: Vec<(u64, u64)>,
    /// Bytes unreadable.
    pub bad_bytes: u64,
    /// The mapfile written, if any.
    pub mapfile: Option<PathBuf>,
    /// What the writing pipeline did.
    pub stats: PipelineStats,
}

/// Copies the drive (or file) at `source` into an image at `output`.
pub fn image_drive(
    source: &Path,
    output: &Path,
    opts: &ImageOptions,
    progress: &dyn HashProgress,
) -> Result<ImageReport> {
    let desc = image_format(output, opts.format.as_deref())?;
    let options = FormatOptions::parse(&opts.options)?;
    if matches!((source.canonicalize(), output.canonicalize()), (Ok(a), Ok(b)) if a == b) {
        return Err(Error::invalid_input("the output is the drive").with_file(output));
    }
    let rb = ReadBack::open(source)?;
    let size = rb.size();
    let sector = rb.sector();
    let (used, maps_from) = if opts.used_only {
        used_ranges(source, size)?
    } else {
        (vec![(0, size)], Vec::new())
    };
    let drive = Arc::new(CarefulDrive::new(rb, sector, used, opts.retries));
    let req = CreateRequest {
        size,
        compress: opts.compress,
        backing: None,
        options,
    };
    let out = Output::create(output, opts.replace)?;
    let writer = make_writer(desc, &out, &req).in_file(output)?;
    let device: DeviceRef = drive.clone();
    let tally = Tally {
        progress,
        drive: &drive,
    };
    let stats = write_image(
        &device,
        writer,
        None,
        opts.threads.unwrap_or_else(default_threads),
        &tally,
    )
    .map_err(|e| match e.context().file {
        Some(_) => e,
        None => e.with_file(output),
    })?;
    if progress.cancelled() {
        drive.stop();
        return Err(drive.interrupted());
    }
    out.sink.flush().in_file(output)?;
    let output_size = out.commit()?;
    let bad_ranges = drive.bad_ranges();
    let map_path = opts.mapfile.clone().or_else(|| {
        (!bad_ranges.is_empty()).then(|| {
            let mut p = output.as_os_str().to_owned();
            p.push(".map");
            PathBuf::from(p)
        })
    });
    if let Some(p) = &map_path {
        let map = AtomicFile::create(p, true)?;
        let text = drive.map().render(&opts.command);
        write_all_at(map.file(), text.as_bytes(), 0).map_err(|e| Error::from(e).with_file(p))?;
        map.commit()?;
    }
    let read = drive.bytes_read();
    Ok(ImageReport {
        size,
        format: desc.name,
        output_size,
        read,
        unused: if opts.used_only { size - read } else { 0 },
        maps_from,
        bad_bytes: bad_ranges.iter().map(|r| r.1).sum(),
        bad_ranges,
        mapfile: map_path,
        stats,
    })
}

/// Extensions of container formats diskimg does not read at all but that a user may type.
const FOREIGN_CONTAINERS: &[&str] = &["qed", "wim"];

/// Whether `ext` names a container format diskimg cannot write: a name that promises one is
/// refused rather than filled with raw bytes.
fn unwritable_container(ext: &str) -> bool {
    FOREIGN_CONTAINERS.contains(&ext)
        || formats().iter().any(|d| {
            matches!(d.opener, Opener::Container(_))
                && d.create.is_none()
                && d.extensions.contains(&ext)
        })
}

/// The format of the image of a drive: `format` when named; else the writable format of the
/// output's extension; else raw (`sdb.bin`, `cd.iso`, no extension), unless the extension
/// names a container that cannot be written.
fn image_format(output: &Path, format: Option<&str>) -> Result<&'static FormatDescriptor> {
    if format.is_some() || writer_for_path(output).is_some() {
        return output_format(output, format);
    }
    let ext = output
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if unwritable_container(&ext) {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "diskimg cannot write .{ext} images; name the output .img (raw) or choose a format with -O"
            ),
        )
        .with_file(output));
    }
    by_name("raw").ok_or_else(|| Error::new(ErrorKind::Unsupported, "no raw writer"))
}

/// The pipeline's progress, passed on; a cancel request stops the drive's reads.
struct Tally<'a, R> {
    progress: &'a dyn HashProgress,
    drive: &'a CarefulDrive<R>,
}

impl<R: ReadAt> Tally<'_, R> {
    fn poll(&self) {
        if self.progress.cancelled() {
            self.drive.stop();
        }
    }
}

impl<R: ReadAt> ConvertProgress for Tally<'_, R> {
    fn start(&self, _total: u64) {
        self.poll();
    }

    fn advance(&self, bytes: u64) {
        self.progress.advance(bytes);
        self.poll();
    }
}

/// A file system's device span `(start, len)` and its used ranges, absolute.
type Span = (u64, u64, Vec<Range>);

/// The ranges to copy for `--used-only`: everything, less what file systems with an
/// allocation map leave free.
fn used_ranges(source: &Path, size: u64) -> Result<(Vec<Range>, Vec<String>)> {
    let image = Image::open(source)?;
    if image.root.container.is_some() {
        return Err(Error::invalid_input(
            "--used-only reads drives and raw images, not containers",
        ));
    }
    // (start, len) of every file system's device, and its used ranges (absolute).
    let mut spans: Vec<Span> = Vec::new();
    let mut names = Vec::new();
    walk(&image.root, 0, &mut spans, &mut names)?;
    spans.sort_by_key(|s| s.0);
    let mut out: Vec<(u64, u64)> = Vec::new();
    let mut pos = 0u64;
    for (start, len, used) in spans {
        if start < pos {
            continue; // Overlapping views of one area: the first map wins.
        }
        push(&mut out, pos, start - pos);
        for (o, l) in used {
            let o = o.clamp(start, start + len);
            let e = (o + l).min(start + len);
            push(&mut out, o, e - o);
        }
        pos = start + len;
    }
    push(&mut out, pos, size.saturating_sub(pos));
    Ok((out, names))
}

fn push(out: &mut Vec<(u64, u64)>, offset: u64, len: u64) {
    if len == 0 {
        return;
    }
    if let Some(last) = out.last_mut() {
        if last.0 + last.1 >= offset {
            let end = (offset + len).max(last.0 + last.1);
            last.1 = end - last.0;
            return;
        }
    }
    out.push((offset, len));
}

fn walk(layer: &Layer, base: u64, spans: &mut Vec<Span>, names: &mut Vec<String>) -> Result<()> {
    for entry in &layer.file_systems {
        let Some(fs) = &entry.fs else { continue };
        if let Some(map) = fs.allocation_map() {
            let used = map
                .allocated_ranges()?
                .into_iter()
                .map(|(o, l)| (base + o, l))
                .collect();
            spans.push((base, layer.device.size(), used));
            names.push(format!("{} at byte {base}", entry.kind));
            return Ok(()); // One map per device: views of one volume share it.
        }
    }
    if let Some(parts) = &layer.partitions {
        for (p, child) in &parts.children {
            if let Some(child) = child {
                if p.start != 0 {
                    walk(child, base + p.start, spans, names)?;
                }
            }
        }
    }
    Ok(())
}

impl ReadAt for ReadBack {
    fn size(&self) -> u64 {
        ReadBack::size(self)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let n = crate::io::clamp_len(offset, buf.len(), ReadBack::size(self));
        ReadBack::read_exact_at(self, offset, &mut buf[..n])?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interrupted_copy_leaves_no_output() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("drive.img");
        std::fs::write(&src, vec![3u8; 3 << 20]).unwrap();
        for name in ["copy.img", "copy.qcow2"] {
            let out = dir.path().join(name);
            let stop = std::sync::atomic::AtomicBool::new(true);
            let e = image_drive(&src, &out, &ImageOptions::default(), &stop).unwrap_err();
            assert!(e.to_string().contains("interrupted"), "{e}");
            assert!(!out.exists());
            assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        }
        let out = dir.path().join("copy.img");
        let r = image_drive(&src, &out, &ImageOptions::default(), &()).unwrap();
        assert_eq!((r.format, r.read, r.unused), ("raw", 3 << 20, 0));
        assert_eq!(std::fs::read(&out).unwrap(), vec![3u8; 3 << 20]);
    }

    #[test]
    fn output_formats() {
        let f = |name: &str, o: Option<&str>| image_format(Path::new(name), o).map(|d| d.name);
        assert_eq!(f("a.qcow2", None).unwrap(), "qcow2");
        assert_eq!(f("a.bin", None).unwrap(), "raw");
        assert_eq!(f("sdb", None).unwrap(), "raw");
        assert_eq!(f("a.bin", Some("vhdx")).unwrap(), "vhdx");
        assert_eq!(f("a.dmg", None).unwrap(), "dmg");
        assert_eq!(f("a.wim", None).unwrap_err().kind(), ErrorKind::Unsupported);
    }
}
