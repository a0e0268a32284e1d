//! Where a volume is written: a host file (streamed, holes kept) or memory (small EFI images),
//! and a batch that joins adjacent small writes into large sequential ones.

use crate::device::{BlockDevice, ExtentKind};
use crate::error::{Error, ErrorKind, Result};
use crate::io::FileSource;
use crate::io::copy::{copy_range, read_exact_at, write_all_at};
use std::fs::File;
use std::path::Path;

/// The output of the writer.
pub(crate) trait Sink {
    /// Writes `data` at `offset`.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()>;
    /// Copies the `size` bytes of host file `src` to `offset`.
    fn copy_file(&mut self, src: &File, path: &Path, size: u64, offset: u64) -> Result<()>;
}

/// A host file opened for writing.
pub(crate) struct FileSink<'a> {
    pub file: &'a File,
    buf: Vec<u8>,
}

impl<'a> FileSink<'a> {
    pub fn new(file: &'a File) -> Self {
        FileSink {
            file,
            buf: Vec::new(),
        }
    }
}

/// The error for a host file that no longer has the size it had when the tree was gathered.
pub(crate) fn changed(path: &Path, size: u64) -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        format!("changed while the image was written (expected {size} bytes)"),
    )
    .with_file(path)
}

impl Sink for FileSink<'_> {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        write_all_at(self.file, data, offset).map_err(Error::from)
    }

    fn copy_file(&mut self, src: &File, path: &Path, size: u64, offset: u64) -> Result<()> {
        let f = src.try_clone().map_err(Error::from)?;
        let src = FileSource::from_file(f, path)?;
        // Only the runs that hold data: the image is a new file, so holes stay holes.
        for run in src.extents(0, size)? {
            if run.kind != ExtentKind::Data {
                continue;
            }
            copy_range(
                src.file(),
                run.offset,
                self.file,
                offset + run.offset,
                run.len,
                &mut self.buf,
            )
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    changed(path, size)
                } else {
                    Error::from(e)
                }
            })?;
        }
        Ok(())
    }
}

/// An image in memory, allocated whole.
pub(crate) struct MemorySink {
    pub bytes: Vec<u8>,
}

impl MemorySink {
    fn range(&mut self, offset: u64, len: u64) -> Result<&mut [u8]> {
        let end = offset
            .checked_add(len)
            .filter(|&e| e <= self.bytes.len() as u64)
            .ok_or_else(|| Error::out_of_bounds(offset, len as usize, self.bytes.len() as u64))?;
        Ok(&mut self.bytes[offset as usize..end as usize])
    }
}

impl Sink for MemorySink {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        self.range(offset, data.len() as u64)?.copy_from_slice(data);
        Ok(())
    }

    fn copy_file(&mut self, src: &File, path: &Path, size: u64, offset: u64) -> Result<()> {
        let dst = self.range(offset, size)?;
        read_exact_at(src, dst, 0).map_err(|_| changed(path, size))
    }
}

/// Most bytes a batch holds before it is written.
const BATCH: usize = 8 << 20;

/// Adjacent writes joined into one.
pub(crate) struct Batch {
    start: u64,
    buf: Vec<u8>,
}

impl Batch {
    pub fn new() -> Self {
        Batch {
            start: 0,
            buf: Vec::new(),
        }
    }

    /// Queues `data` at `offset`, followed by zeros up to `padded` bytes.
    pub fn push(
        &mut self,
        sink: &mut dyn Sink,
        offset: u64,
        data: &[u8],
        padded: u64,
    ) -> Result<()> {
        if self.buf.is_empty() || self.start + self.buf.len() as u64 != offset {
            self.flush(sink)?;
            self.start = offset;
        }
        self.buf.extend_from_slice(data);
        let pad = padded.saturating_sub(data.len() as u64) as usize;
        self.buf.resize(self.buf.len() + pad, 0);
        if self.buf.len() >= BATCH {
            self.flush(sink)?;
        }
        Ok(())
    }

    /// Writes what is queued.
    pub fn flush(&mut self, sink: &mut dyn Sink) -> Result<()> {
        if !self.buf.is_empty() {
            sink.write_at(self.start, &self.buf)?;
            self.start += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(())
    }
}
