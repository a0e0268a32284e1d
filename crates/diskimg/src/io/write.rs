//! The writing side of L0: positioned writes on `&self`.
//!
//! [`WriteAt`] is to outputs what [`ReadAt`] is to inputs: positioned, on `&self`, so that a
//! writer can be shared with threads and read back what it wrote. [`FileSink`] is a host file
//! opened for writing (usually the temporary file of an [`AtomicFile`](super::AtomicFile)).

use super::{ReadAt, clamp_len, copy};
use crate::error::{Error, Result, ResultExt};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A positioned, thread-safe byte sink that can also be read.
pub trait WriteAt: ReadAt {
    /// Writes all of `buf` at `offset`, growing the sink if needed.
    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<()>;

    /// Sets the length: truncates, or extends with a hole that reads as zeros.
    fn set_size(&self, size: u64) -> Result<()>;

    /// Pushes written data to stable storage.
    fn flush(&self) -> Result<()>;
}

/// A host file as a read-write sink. Its size is tracked here: the largest end written or the
/// size last set.
#[derive(Debug)]
pub struct FileSink {
    file: File,
    size: AtomicU64,
    path: PathBuf,
}

impl FileSink {
    /// Wraps a file open for reading and writing; `path` is used in messages.
    pub fn new(file: File, path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let size = file.metadata().map_err(Error::from).in_file(&path)?.len();
        Ok(FileSink {
            file,
            size: AtomicU64::new(size),
            path,
        })
    }

    /// Opens an existing file for reading and writing in place.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(Error::from)
            .in_file(path)?;
        Self::new(file, path)
    }

    /// The underlying file.
    pub fn file(&self) -> &File {
        &self.file
    }
}

impl ReadAt for FileSink {
    fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let n = clamp_len(offset, buf.len(), self.size());
        if n == 0 {
            return Ok(0);
        }
        copy::read_exact_at(&self.file, &mut buf[..n], offset)
            .map_err(|e| Error::from(e).with_offset(offset).with_file(&self.path))?;
        Ok(n)
    }
}

impl WriteAt for FileSink {
    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<()> {
        let end = offset
            .checked_add(buf.len() as u64)
            .ok_or_else(|| Error::out_of_bounds(offset, buf.len(), u64::MAX))?;
        copy::write_all_at(&self.file, buf, offset)
            .map_err(|e| Error::from(e).with_offset(offset).with_file(&self.path))?;
        self.size.fetch_max(end, Ordering::AcqRel);
        Ok(())
    }

    fn set_size(&self, size: u64) -> Result<()> {
        self.file
            .set_len(size)
            .map_err(Error::from)
            .in_file(&self.path)?;
        self.size.store(size, Ordering::Release);
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(Error::from)
            .in_file(&self.path)
    }
}

impl<T: WriteAt + ?Sized> WriteAt for std::sync::Arc<T> {
    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<()> {
        (**self).write_at(offset, buf)
    }
    fn set_size(&self, size: u64) -> Result<()> {
        (**self).set_size(size)
    }
    fn flush(&self) -> Result<()> {
        (**self).flush()
    }
}

/// A growable in-memory sink (tests, fuzzing).
#[derive(Debug, Default)]
pub struct MemorySink {
    data: std::sync::Mutex<Vec<u8>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of the bytes written so far.
    pub fn to_vec(&self) -> Vec<u8> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ReadAt for MemorySink {
    fn size(&self) -> u64 {
        self.lock().len() as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let data = self.lock();
        let n = clamp_len(offset, buf.len(), data.len() as u64);
        if n > 0 {
            let start = offset as usize; // in range: offset < len of an in-memory buffer
            buf[..n].copy_from_slice(&data[start..start + n]);
        }
        Ok(n)
    }
}

impl WriteAt for MemorySink {
    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<()> {
        let start = usize::try_from(offset)
            .map_err(|_| Error::out_of_bounds(offset, buf.len(), usize::MAX as u64))?;
        let end = start
            .checked_add(buf.len())
            .ok_or_else(|| Error::out_of_bounds(offset, buf.len(), usize::MAX as u64))?;
        let mut data = self.lock();
        if data.len() < end {
            data.resize(end, 0);
        }
        data[start..end].copy_from_slice(buf);
        Ok(())
    }

    fn set_size(&self, size: u64) -> Result<()> {
        let size =
            usize::try_from(size).map_err(|_| Error::out_of_bounds(size, 0, usize::MAX as u64))?;
        self.lock().resize(size, 0);
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_sink_writes_reads_and_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap();
        let sink = FileSink::new(file, &path).unwrap();
        sink.write_at(10, b"abc").unwrap();
        assert_eq!(sink.size(), 13);
        let mut buf = [9u8; 13];
        sink.read_exact_at(0, &mut buf).unwrap();
        assert_eq!(&buf[..], b"\0\0\0\0\0\0\0\0\0\0abc");
        sink.set_size(1 << 20).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 1 << 20);
    }

    #[test]
    fn memory_sink_grows() {
        let m = MemorySink::new();
        m.write_at(4, b"xy").unwrap();
        assert_eq!(m.to_vec(), b"\0\0\0\0xy");
        m.set_size(2).unwrap();
        assert_eq!(m.size(), 2);
    }
}
