//! A window of another source: a partition, a track, a file's extent.

use super::{HostSpan, ReadAt, clamp_len};
use crate::device::{BlockDevice, Extent, Geometry};
use crate::error::{Error, Result};

/// Bytes `[start, start + len)` of `inner`, addressed from 0.
#[derive(Debug, Clone)]
pub struct Slice<R> {
    inner: R,
    start: u64,
    len: u64,
}

impl<R: ReadAt> Slice<R> {
    /// A window of `inner`; fails if it does not lie inside `inner`.
    pub fn new(inner: R, start: u64, len: u64) -> Result<Self> {
        let end = start.checked_add(len);
        if end.is_none_or(|end| end > inner.size()) {
            return Err(Error::new(
                crate::ErrorKind::OutOfBounds,
                format!(
                    "window of {len} bytes at byte {start} lies outside its source of {} bytes",
                    inner.size()
                ),
            )
            .with_offset(start));
        }
        Ok(Slice { inner, start, len })
    }

    /// A window of `inner` cut short at its end: for tables that claim more than the image holds.
    pub fn truncated(inner: R, start: u64, len: u64) -> Self {
        let start = start.min(inner.size());
        let len = len.min(inner.size() - start);
        Slice { inner, start, len }
    }

    /// Where the window starts in `inner`.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// The source underneath.
    pub fn inner(&self) -> &R {
        &self.inner
    }
}

impl<R: ReadAt> ReadAt for Slice<R> {
    fn size(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let n = clamp_len(offset, buf.len(), self.len);
        if n == 0 {
            return Ok(0);
        }
        self.inner.read_at(self.start + offset, &mut buf[..n])
    }

    fn host_span(&self, offset: u64, len: u64) -> Option<HostSpan<'_>> {
        if offset.checked_add(len)? > self.len {
            return None;
        }
        self.inner.host_span(self.start + offset, len)
    }
}

impl<R: BlockDevice> BlockDevice for Slice<R> {
    fn geometry(&self) -> Geometry {
        self.inner.geometry()
    }

    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        let len = len.min(self.len.saturating_sub(offset));
        if len == 0 {
            return Ok(Vec::new());
        }
        let mut out = self.inner.extents(self.start + offset, len)?;
        for e in &mut out {
            e.offset -= self.start;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::MemorySource;

    #[test]
    fn window_reads_and_bounds() {
        let m = MemorySource::new(b"0123456789".to_vec());
        let s = Slice::new(&m, 2, 5).unwrap();
        let mut buf = [0u8; 10];
        assert_eq!(s.read_at(0, &mut buf).unwrap(), 5);
        assert_eq!(&buf[..5], b"23456");
        assert_eq!(s.read_at(4, &mut buf).unwrap(), 1);
        assert!(Slice::new(&m, 8, 5).is_err());
        assert!(Slice::new(&m, u64::MAX, 2).is_err());
        assert_eq!(Slice::truncated(&m, 8, 5).size(), 2);
    }
}
