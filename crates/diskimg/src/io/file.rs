//! A host file (or block device) as a byte source.

use super::{HostSpan, ReadAt, clamp_len};
use crate::device::{BlockDevice, Extent, ExtentKind};
use crate::error::{Error, Result, ResultExt};
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// A host file opened read-only. Reads are `pread`s; holes are reported by `extents`.
#[derive(Debug)]
pub struct FileSource {
    file: File,
    size: u64,
    path: PathBuf,
}

impl FileSource {
    /// Opens `path` for reading.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = File::open(path).map_err(Error::from).in_file(path)?;
        Self::from_file(file, path)
    }

    /// Wraps an already open file; `path` is used in messages.
    pub fn from_file(file: File, path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let meta = file.metadata().map_err(Error::from).in_file(&path)?;
        if meta.is_dir() {
            return Err(Error::invalid_input("is a directory, not an image").with_file(&path));
        }
        // Block devices report 0 in metadata; their size is where the end is.
        let size = if meta.len() == 0 && !meta.is_file() {
            (&file)
                .seek(SeekFrom::End(0))
                .map_err(Error::from)
                .in_file(&path)?
        } else {
            meta.len()
        };
        Ok(FileSource { file, size, path })
    }

    /// The path this source was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying file.
    pub fn file(&self) -> &File {
        &self.file
    }
}

impl ReadAt for FileSource {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let want = clamp_len(offset, buf.len(), self.size);
        if want == 0 {
            return Ok(0);
        }
        loop {
            match pread(&self.file, &mut buf[..want], offset) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Error::from(e).with_offset(offset).with_file(&self.path));
                }
            }
        }
    }

    fn host_span(&self, offset: u64, len: u64) -> Option<HostSpan<'_>> {
        let end = offset.checked_add(len)?;
        (end <= self.size).then_some(HostSpan {
            file: &self.file,
            offset,
        })
    }
}

impl BlockDevice for FileSource {
    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        let end = offset.saturating_add(len).min(self.size);
        if offset >= end {
            return Ok(Vec::new());
        }
        Ok(holes::extents(&self.file, offset, end).unwrap_or_else(|| {
            vec![Extent {
                offset,
                len: end - offset,
                kind: ExtentKind::Data,
            }]
        }))
    }
}

#[cfg(unix)]
fn pread(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn pread(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
mod holes {
    use crate::device::{Extent, ExtentKind};
    use std::fs::File;
    use std::os::fd::AsRawFd;

    /// Data and hole runs of `[start, end)` from `SEEK_DATA`/`SEEK_HOLE`; `None` when the file
    /// system cannot tell.
    pub(super) fn extents(file: &File, start: u64, end: u64) -> Option<Vec<Extent>> {
        let fd = file.as_raw_fd();
        let mut out = Vec::new();
        let mut pos = start;
        while pos < end {
            let data = seek(fd, pos, libc::SEEK_DATA);
            let data = match data {
                Some(d) => d.min(end),
                None => end, // ENXIO: no data after pos
            };
            if data > pos {
                out.push(Extent {
                    offset: pos,
                    len: data - pos,
                    kind: ExtentKind::Zero,
                });
            }
            if data >= end {
                break;
            }
            let hole = seek(fd, data, libc::SEEK_HOLE)?.min(end);
            if hole <= data {
                return None;
            }
            out.push(Extent {
                offset: data,
                len: hole - data,
                kind: ExtentKind::Data,
            });
            pos = hole;
        }
        Some(out)
    }

    fn seek(fd: i32, pos: u64, whence: i32) -> Option<u64> {
        let pos = libc::off_t::try_from(pos).ok()?;
        // SAFETY: lseek on a valid descriptor we borrow; it touches no memory of ours. The file
        // position it moves is never used by this library, which reads only with pread.
        let r = unsafe { libc::lseek(fd, pos, whence) };
        u64::try_from(r).ok()
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
mod holes {
    use crate::device::Extent;
    use std::fs::File;

    pub(super) fn extents(_file: &File, _start: u64, _end: u64) -> Option<Vec<Extent>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn reads_and_reports_holes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sparse.img");
        let mut f = File::create(&path).unwrap();
        f.write_all(&[7u8; 4096]).unwrap();
        f.set_len(4 * 1024 * 1024).unwrap();
        drop(f);
        let src = FileSource::open(&path).unwrap();
        let mut buf = [0u8; 8];
        src.read_exact_at(4090, &mut buf).unwrap();
        assert_eq!(buf, [7, 7, 7, 7, 7, 7, 0, 0]);
        let ext = src.extents(0, src.size()).unwrap();
        assert_eq!(ext.first().unwrap().kind, ExtentKind::Data);
        let covered: u64 = ext.iter().map(|e| e.len).sum();
        assert_eq!(covered, src.size());
    }

    #[test]
    fn short_read_at_end_and_error_past_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("small");
        std::fs::write(&path, b"abc").unwrap();
        let src = FileSource::open(&path).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(src.read_at(1, &mut buf).unwrap(), 2);
        assert_eq!(src.read_at(3, &mut buf).unwrap(), 0);
        assert!(src.read_exact_at(2, &mut buf[..2]).is_err());
    }
}
