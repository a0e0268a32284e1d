//! Reading the bytes a tree's file stands for, whatever the source: a host file (checked to
//! still have the size that was planned), a range of a host file (a part of a file split over
//! volumes), bytes in memory, or a file inside another image.

use super::tree::Source;
use crate::device::{BlockDevice, Extent};
use crate::error::{Error, ErrorKind, Result};
use crate::fs::{FileSystem, NodeId};
use crate::io::{FileSource, HostSpan, MemorySource, ReadAt, Slice};
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

/// A file's bytes as a device of exactly the planned size.
pub type SourceReader = Box<dyn BlockDevice>;

impl Source {
    /// Opens the bytes of a file planned at `size` bytes. A host file whose size changed since
    /// it was gathered is an error, so an image never holds a half-changed file.
    pub fn reader(&self, size: u64) -> Result<SourceReader> {
        match self {
            Source::Host(path) => {
                let f = FileSource::open(path)?;
                if f.size() != size {
                    return Err(changed(path, size));
                }
                Ok(Box::new(f))
            }
            Source::HostRange(path, offset) => {
                let f = FileSource::open(path)?;
                if offset.checked_add(size).is_none_or(|end| end > f.size()) {
                    return Err(changed(path, offset + size));
                }
                Ok(Box::new(Slice::new(f, *offset, size)?))
            }
            Source::Bytes(b) => {
                let n = usize::try_from(size).unwrap_or(usize::MAX).min(b.len());
                Ok(Box::new(MemorySource::new(b[..n].to_vec())))
            }
            Source::Image { fs, node } => Ok(Box::new(ImageFile {
                fs: fs.clone(),
                node: *node,
                size,
            })),
        }
    }

    /// Reads the whole file, checked to still be `size` bytes long. Host files are read
    /// straight into a buffer of their size, without zeroing it first.
    pub fn read_all(&self, size: u64) -> Result<Vec<u8>> {
        let Source::Host(path) = self else {
            return self.read_head(size, size);
        };
        let file = std::fs::File::open(path)
            .map_err(Error::from)
            .map_err(|e| e.with_file(path))?;
        let want = usize::try_from(size).map_err(|_| changed(path, size))?;
        let mut data = Vec::with_capacity(want);
        file.take(size + 1)
            .read_to_end(&mut data)
            .map_err(Error::from)
            .map_err(|e| e.with_file(path))?;
        if data.len() != want {
            return Err(changed(path, size));
        }
        Ok(data)
    }

    /// Reads the first `len` bytes (all of them for a small file).
    pub fn read_head(&self, size: u64, len: u64) -> Result<Vec<u8>> {
        let r = self.reader(size)?;
        let mut data = vec![0u8; size.min(len) as usize];
        r.read_exact_at(0, &mut data)?;
        Ok(data)
    }
}

fn changed(path: &Path, size: u64) -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        format!("changed while the image was written (expected {size} bytes)"),
    )
    .with_file(path)
}

/// A file inside another image, as a device.
struct ImageFile {
    fs: Arc<dyn FileSystem>,
    node: NodeId,
    size: u64,
}

impl ReadAt for ImageFile {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let n = crate::io::clamp_len(offset, buf.len(), self.size);
        if n == 0 {
            return Ok(0);
        }
        let got = self.fs.read_at(self.node, offset, &mut buf[..n])?;
        if got == 0 {
            return Err(Error::new(
                ErrorKind::Corrupt,
                "a file of the source image ended early",
            ));
        }
        Ok(got)
    }

    fn host_span(&self, offset: u64, len: u64) -> Option<HostSpan<'_>> {
        let extents = self.fs.file_extents(self.node).ok()??;
        let e = extents
            .iter()
            .find(|e| e.file_offset <= offset && offset + len <= e.file_offset + e.len)?;
        let dev = e.device_offset? + (offset - e.file_offset);
        self.fs.device().host_span(dev, len)
    }
}

impl BlockDevice for ImageFile {
    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        let len = len.min(self.size.saturating_sub(offset));
        Ok(if len == 0 {
            Vec::new()
        } else {
            vec![Extent {
                offset,
                len,
                kind: crate::device::ExtentKind::Data,
            }]
        })
    }
}
