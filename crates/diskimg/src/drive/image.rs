//! Copying a drive into an image file, as a careful person copies a failing disk.
//!
//! The drive is read in [`CHUNK`]s past the page cache. A chunk that fails is read again
//! sector by sector, each sector up to `retries` times; sectors that never read are filled
//! with zeros in the image and listed in a ddrescue mapfile and the report, never hidden.
//! Chunks of zeros become holes of a sparse output. With `used_only`, ranges the file systems
//! on the drive mark as free (see [`crate::fs::AllocationMap`]) are not read at all and read
//! as zeros in the copy; ranges outside any such file system (partition tables, gaps, file
//! systems without a map) are copied whole.
//!
//! The output is raw, written through an [`AtomicFile`]: it appears under its name only when
//! complete, and an interruption leaves nothing. Container outputs (qcow2, VHDX) come with the
//! container-writer interface: the same loop will feed an `ImageWriter` instead of the file.

use super::mapfile::{MapFile, Status};
use super::target::{AlignedBuf, ReadBack};
use crate::error::{Error, ErrorKind, Result};
use crate::image::{Image, Layer};
use crate::io::{AtomicFile, ReadAt, copy::write_all_at};
use crate::ops::hash::HashProgress;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Size of the pieces read.
pub const CHUNK: usize = 1 << 20;

/// How to copy.
#[derive(Debug, Clone)]
pub struct ImageOptions {
    /// Tries per sector after a chunk fails.
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
}

impl Default for ImageOptions {
    fn default() -> Self {
        ImageOptions {
            retries: 3,
            used_only: false,
            replace: false,
            mapfile: None,
            command: String::new(),
        }
    }
}

/// What a copy did (`diskimg image --json`).
#[derive(Debug, Clone, Serialize)]
pub struct ImageReport {
    /// Bytes of the drive (and of the image).
    pub size: u64,
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
}

/// Copies the drive (or file) at `source` into a raw image at `output`.
pub fn image_drive(
    source: &Path,
    output: &Path,
    opts: &ImageOptions,
    progress: &dyn HashProgress,
) -> Result<ImageReport> {
    refuse_container_output(output)?;
    let rb = ReadBack::open(source)?;
    let size = rb.size();
    let (used, maps_from) = if opts.used_only {
        used_ranges(source, size)?
    } else {
        (vec![(0, size)], Vec::new())
    };
    let out = AtomicFile::create(output, opts.replace)?;
    let mut report = copy(&rb, rb.sector(), out.file(), &used, opts.retries, progress)
        .map_err(|e| e.with_file(source))?;
    report.maps_from = maps_from;
    out.file()
        .sync_all()
        .map_err(|e| Error::from(e).with_file(output))?;
    let map_path = opts.mapfile.clone().or_else(|| {
        (!report.bad_ranges.is_empty()).then(|| {
            let mut p = output.as_os_str().to_owned();
            p.push(".map");
            PathBuf::from(p)
        })
    });
    out.commit()?;
    if let Some(p) = &map_path {
        let map = AtomicFile::create(p, true)?;
        let text = report.map.render(&opts.command);
        write_all_at(map.file(), text.as_bytes(), 0).map_err(|e| Error::from(e).with_file(p))?;
        map.commit()?;
    }
    Ok(ImageReport {
        size,
        read: report.read,
        unused: report.unused,
        maps_from: report.maps_from,
        bad_bytes: report.bad_ranges.iter().map(|r| r.1).sum(),
        bad_ranges: report.bad_ranges,
        mapfile: map_path,
    })
}

/// Outputs are raw until the container writers land: a name that promises a container is
/// refused rather than filled with raw bytes.
fn refuse_container_output(output: &Path) -> Result<()> {
    let ext = output
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if ["qcow2", "qcow", "vhd", "vhdx", "vmdk", "vdi", "dmg", "chd"].contains(&ext.as_str()) {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "images of drives are written raw for now; .{ext} output needs the container writers (name the output .img, then convert it)"
            ),
        )
        .with_file(output));
    }
    Ok(())
}

/// The copy loop's own tally.
struct Copied {
    read: u64,
    unused: u64,
    maps_from: Vec<String>,
    bad_ranges: Vec<(u64, u64)>,
    map: MapFile,
}

/// Copies the `used` ranges of `src` into `out` (sized to the source, holes elsewhere).
fn copy(
    src: &dyn ReadAt,
    sector: usize,
    out: &std::fs::File,
    used: &[(u64, u64)],
    retries: u32,
    progress: &dyn HashProgress,
) -> Result<Copied> {
    let size = src.size();
    out.set_len(size).map_err(Error::from)?;
    let mut c = Copied {
        read: 0,
        unused: 0,
        maps_from: Vec::new(),
        bad_ranges: Vec::new(),
        map: MapFile::default(),
    };
    let mut buf = AlignedBuf::new(CHUNK);
    let mut pos = 0u64;
    for &(start, len) in used {
        if start > pos {
            c.map.push(pos, start - pos, Status::NonTried);
            c.unused += start - pos;
        }
        let end = start + len;
        let mut at = start;
        while at < end {
            if progress.cancelled() {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!("interrupted after {} bytes; no image was written", c.read),
                ));
            }
            let n = (end - at).min(CHUNK as u64) as usize;
            let b = &mut buf.as_mut_slice()[..n];
            if src.read_exact_at(at, b).is_err() {
                salvage(src, sector, at, b, retries, &mut c);
            } else {
                c.map.push(at, n as u64, Status::Finished);
            }
            if !super::write::is_zero(b) {
                write_all_at(out, b, at).map_err(|e| Error::from(e).with_offset(at))?;
            }
            c.read += n as u64;
            progress.advance(n as u64);
            at += n as u64;
        }
        pos = end;
    }
    if pos < size {
        c.map.push(pos, size - pos, Status::NonTried);
        c.unused += size - pos;
    }
    Ok(c)
}

/// Reads a failed chunk sector by sector; unreadable sectors become zeros.
fn salvage(src: &dyn ReadAt, sector: usize, at: u64, b: &mut [u8], retries: u32, c: &mut Copied) {
    for (i, s) in b.chunks_mut(sector).enumerate() {
        let off = at + (i * sector) as u64;
        let ok = (0..retries.max(1)).any(|_| src.read_exact_at(off, s).is_ok());
        if ok {
            c.map.push(off, s.len() as u64, Status::Finished);
        } else {
            s.fill(0);
            c.map.push(off, s.len() as u64, Status::BadSector);
            match c.bad_ranges.last_mut() {
                Some(last) if last.0 + last.1 == off => last.1 += s.len() as u64,
                _ => c.bad_ranges.push((off, s.len() as u64)),
            }
        }
    }
}

/// A byte range `(offset, len)`.
type Range = (u64, u64);

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
    use crate::io::MemorySource;

    /// A source whose sectors 3 and 4 of the second chunk never read, and sector 9 reads
    /// on the second try.
    struct Flaky {
        data: MemorySource,
        tries: std::sync::Mutex<u32>,
    }

    impl ReadAt for Flaky {
        fn size(&self) -> u64 {
            self.data.size()
        }
        fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
            let bad = |s: u64| {
                let (a, b) = (offset / 512, (offset + buf.len() as u64).div_ceil(512));
                (a..b).contains(&s)
            };
            let chunk2 = (CHUNK / 512) as u64;
            if bad(chunk2 + 3) || bad(chunk2 + 4) {
                return Err(Error::new(ErrorKind::Io, "medium error"));
            }
            if bad(chunk2 + 9) {
                let mut t = self.tries.lock().unwrap();
                *t += 1;
                if *t < 3 {
                    return Err(Error::new(ErrorKind::Io, "medium error"));
                }
            }
            self.data.read_at(offset, buf)
        }
    }

    #[test]
    fn bad_sectors_become_zeros_and_are_mapped() {
        let data: Vec<u8> = (0..3 * CHUNK).map(|i| (i % 255) as u8 + 1).collect();
        let src = Flaky {
            data: MemorySource::new(data.clone()),
            tries: std::sync::Mutex::new(0),
        };
        let dir = tempfile::tempdir().unwrap();
        let f = std::fs::File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.path().join("out"))
            .unwrap();
        let c = copy(&src, 512, &f, &[(0, data.len() as u64)], 3, &()).unwrap();
        let bad_at = CHUNK as u64 + 3 * 512;
        assert_eq!(c.bad_ranges, vec![(bad_at, 1024)]);
        let got = std::fs::read(dir.path().join("out")).unwrap();
        let mut want = data.clone();
        want[bad_at as usize..bad_at as usize + 1024].fill(0);
        assert_eq!(got, want);
        assert!(
            c.map
                .render("t")
                .contains(&format!("{bad_at:#010x}  0x00000400  -"))
        );
    }

    #[test]
    fn an_interrupted_copy_leaves_no_output() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("drive.img");
        std::fs::write(&src, vec![3u8; 3 * CHUNK]).unwrap();
        let out = dir.path().join("copy.img");
        let stop = std::sync::atomic::AtomicBool::new(true);
        let e = image_drive(&src, &out, &ImageOptions::default(), &stop).unwrap_err();
        assert!(e.to_string().contains("interrupted"), "{e}");
        assert!(!out.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let e = image_drive(
            &src,
            &dir.path().join("c.qcow2"),
            &ImageOptions::default(),
            &(),
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        image_drive(&src, &out, &ImageOptions::default(), &()).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), vec![3u8; 3 * CHUNK]);
    }

    #[test]
    fn unused_ranges_are_not_read() {
        let data = vec![5u8; 4 * CHUNK];
        let src = MemorySource::new(data);
        let dir = tempfile::tempdir().unwrap();
        let f = std::fs::File::create(dir.path().join("out")).unwrap();
        let used = [(0, CHUNK as u64), (3 * CHUNK as u64, 512)];
        let c = copy(&src, 512, &f, &used, 1, &()).unwrap();
        assert_eq!(c.read, CHUNK as u64 + 512);
        assert_eq!(c.unused, 3 * CHUNK as u64 - 512);
        let got = std::fs::read(dir.path().join("out")).unwrap();
        assert_eq!(got[CHUNK], 0);
        assert_eq!(got[3 * CHUNK], 5);
    }
}
