//! L0: positioned byte sources.
//!
//! Everything in the engine reads through [`ReadAt`]: a positioned read on `&self`, with no
//! shared cursor, so FUSE, NBD and parallel conversion can read one source from many threads.
//! Sources here are plain bytes: a host [`FileSource`], an in-memory [`MemorySource`], a window
//! [`Slice`] of another source, and a [`BlockCache`] in front of a slow one. [`ReadAtCursor`]
//! adapts a source to `Read + Seek` for third-party crates that need one; the engine itself
//! never uses a cursor.
//!
//! Outputs are written through [`WriteAt`] (positioned writes on `&self`): [`FileSink`] for a
//! host file, [`MemorySink`] in memory.
//!
//! ```text
//!   ReadAt (size, read_at)            <- every byte source
//!     ├─ BlockDevice (geometry, extents)   <- anything the layers above can open (crate::device)
//!     └─ WriteAt (write_at, set_size, flush) <- every output (FileSink, MemorySink)
//! ```

mod atomic;
mod cache;
pub mod copy;
mod cursor;
mod file;
mod memory;
mod slice;
mod write;

pub use atomic::{AtomicFile, commit_together};
pub use cache::BlockCache;
pub use cursor::ReadAtCursor;
pub use file::FileSource;
pub use memory::MemorySource;
pub use slice::Slice;
pub use write::{FileSink, MemorySink, WriteAt};

use crate::error::{Error, Result};
use std::sync::Arc;

/// A positioned, thread-safe, read-only byte source.
pub trait ReadAt: Send + Sync {
    /// Total length in bytes.
    fn size(&self) -> u64;

    /// Reads up to `buf.len()` bytes at `offset`, returning how many were read. Returns fewer
    /// only at the end of the source, and 0 at or past it.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize>;

    /// Reads exactly `buf.len()` bytes at `offset`, or fails with `OutOfBounds`.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let mut done = 0;
        while done < buf.len() {
            let pos = offset
                .checked_add(done as u64)
                .ok_or_else(|| Error::out_of_bounds(offset, buf.len(), self.size()))?;
            let n = self.read_at(pos, &mut buf[done..])?;
            if n == 0 {
                return Err(Error::out_of_bounds(offset, buf.len(), self.size()));
            }
            done += n;
        }
        Ok(())
    }

    /// Where `[offset, offset + len)` is stored contiguously in a host file, that file and the
    /// offset in it. Lets copies use the kernel (`copy_file_range`) instead of a user buffer.
    fn host_span(&self, offset: u64, len: u64) -> Option<HostSpan<'_>> {
        let _ = (offset, len);
        None
    }
}

/// A contiguous range of a host file.
#[derive(Debug, Clone, Copy)]
pub struct HostSpan<'a> {
    /// The file holding the bytes.
    pub file: &'a std::fs::File,
    /// Offset of the first byte in that file.
    pub offset: u64,
}

impl<T: ReadAt + ?Sized> ReadAt for Arc<T> {
    fn size(&self) -> u64 {
        (**self).size()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        (**self).read_at(offset, buf)
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        (**self).read_exact_at(offset, buf)
    }
    fn host_span(&self, offset: u64, len: u64) -> Option<HostSpan<'_>> {
        (**self).host_span(offset, len)
    }
}

impl<T: ReadAt + ?Sized> ReadAt for &T {
    fn size(&self) -> u64 {
        (**self).size()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        (**self).read_at(offset, buf)
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        (**self).read_exact_at(offset, buf)
    }
    fn host_span(&self, offset: u64, len: u64) -> Option<HostSpan<'_>> {
        (**self).host_span(offset, len)
    }
}

/// Clamps a read of `want` bytes at `offset` to a source of `size` bytes.
pub(crate) fn clamp_len(offset: u64, want: usize, size: u64) -> usize {
    if offset >= size {
        0
    } else {
        want.min(usize::try_from(size - offset).unwrap_or(usize::MAX))
    }
}

/// Whether every byte of `b` is zero.
pub fn is_zero(b: &[u8]) -> bool {
    let mut chunks = b.chunks_exact(64);
    for c in &mut chunks {
        let mut acc = 0u64;
        for w in c.chunks_exact(8) {
            acc |= u64::from_ne_bytes(w.try_into().unwrap_or([1; 8]));
        }
        if acc != 0 {
            return false;
        }
    }
    chunks.remainder().iter().all(|&x| x == 0)
}

/// Reads `len` bytes at `offset` into a new buffer, refusing lengths above `max` so that a
/// length taken from an image never sizes an allocation by itself.
pub fn read_vec(src: &dyn ReadAt, offset: u64, len: u64, max: u64) -> Result<Vec<u8>> {
    if len > max {
        return Err(Error::new(
            crate::ErrorKind::LimitExceeded,
            format!("structure of {len} bytes exceeds the limit of {max} bytes"),
        )
        .with_offset(offset));
    }
    let end = offset.checked_add(len);
    if end.is_none_or(|end| end > src.size()) {
        return Err(Error::out_of_bounds(offset, len as usize, src.size()));
    }
    let mut buf = vec![0u8; len as usize];
    src.read_exact_at(offset, &mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_detection() {
        let mut b = vec![0u8; 4096 + 7];
        assert!(is_zero(&b));
        b[4100] = 1;
        assert!(!is_zero(&b));
        b[4100] = 0;
        b[63] = 1;
        assert!(!is_zero(&b));
        assert!(is_zero(&[]));
    }
}
