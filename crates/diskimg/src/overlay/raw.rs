//! A raw image file written in place. Only used when the user asks for it explicitly
//! (`serve nbd --read-write --in-place`): every other writable export goes through an overlay
//! so that the image is never changed.

use super::{WritableDevice, check_range};
use crate::device::{BlockDevice, Extent};
use crate::error::{Error, Result, ResultExt};
use crate::io::{FileSource, HostSpan, ReadAt, copy::write_all_at};
use std::path::Path;

/// A raw host file opened for reading and writing. Its size never changes.
#[derive(Debug)]
pub struct RawFile {
    src: FileSource,
}

impl RawFile {
    /// Opens `path` for reading and writing.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(Error::from)
            .in_file(path)?;
        Ok(RawFile {
            src: FileSource::from_file(file, path)?,
        })
    }

    fn io(&self, e: std::io::Error, offset: u64) -> Error {
        Error::from(e)
            .with_offset(offset)
            .with_file(self.src.path())
    }
}

impl ReadAt for RawFile {
    fn size(&self) -> u64 {
        self.src.size()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        self.src.read_at(offset, buf)
    }
    fn host_span(&self, offset: u64, len: u64) -> Option<HostSpan<'_>> {
        self.src.host_span(offset, len)
    }
}

impl BlockDevice for RawFile {
    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        self.src.extents(offset, len)
    }
}

impl WritableDevice for RawFile {
    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<()> {
        check_range(offset, buf.len() as u64, self.size())?;
        write_all_at(self.src.file(), buf, offset).map_err(|e| self.io(e, offset))
    }

    fn write_zeroes(&self, offset: u64, len: u64) -> Result<()> {
        check_range(offset, len, self.size())?;
        if super::sparse::punch_hole(self.src.file(), offset, len) {
            return Ok(());
        }
        super::sparse::write_zeros(self.src.file(), offset, len).map_err(|e| self.io(e, offset))
    }

    fn flush(&self) -> Result<()> {
        self.src.file().sync_data().map_err(|e| self.io(e, 0))
    }
}
