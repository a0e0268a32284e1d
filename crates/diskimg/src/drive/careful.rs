//! A drive as the conversion pipeline sees it when imaging: a [`BlockDevice`] that reads the
//! way a careful person copies a failing disk, and says which of its ranges are worth reading.
//!
//! - **Reads past the page cache.** Reads go through [`ReadBack`]'s `O_DIRECT` descriptor: the
//!   pipeline's buffers are not aligned, so a read lands in an aligned buffer of this device's
//!   own first and is copied out.
//! - **Retries.** A read that fails is done again sector by sector, each sector up to `retries`
//!   times; sectors that never read are zeros in the copy and recorded, never hidden.
//! - **What is not used is unallocated.** [`extents`](BlockDevice::extents) reports the ranges
//!   the file systems leave free (`--used-only`) as `Unallocated`, so any writer leaves them as
//!   holes or unallocated clusters and the pipeline never reads them.
//! - **Stops when told.** Once the stop flag is set every read fails, which ends the pipeline
//!   with an error and the output is never committed.
//!
//! Every range read and every bad sector is logged; [`CarefulDrive::map`] turns the log into a
//! ddrescue mapfile at the end.

use super::mapfile::{MapFile, Status};
use super::target::AlignedBuf;
use crate::device::{BlockDevice, Extent, ExtentKind};
use crate::error::{Error, ErrorKind, Result};
use crate::fs::used::RangeSet;
use crate::io::{ReadAt, clamp_len};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// A byte range `(offset, len)`.
pub(super) type Range = (u64, u64);

/// What was read, and what could not be.
struct Log {
    read: RangeSet,
    bad: RangeSet,
}

/// A drive (or any source) read with retries; see the module documentation.
pub(super) struct CarefulDrive<R> {
    src: R,
    sector: usize,
    retries: u32,
    /// Ranges to report as data, in order and disjoint; the rest is unallocated.
    used: Vec<Range>,
    stop: AtomicBool,
    log: Mutex<Log>,
    /// Aligned buffers for `O_DIRECT` reads, reused.
    bufs: Mutex<Vec<AlignedBuf>>,
}

impl<R: ReadAt> CarefulDrive<R> {
    /// `src` of `sector`-byte sectors, of which only `used` (in order, disjoint) is data.
    pub(super) fn new(src: R, sector: usize, used: Vec<Range>, retries: u32) -> Self {
        CarefulDrive {
            src,
            sector: sector.max(1),
            retries: retries.max(1),
            used,
            stop: AtomicBool::new(false),
            log: Mutex::new(Log {
                read: RangeSet::with_gap(0),
                bad: RangeSet::with_gap(0),
            }),
            bufs: Mutex::new(Vec::new()),
        }
    }

    /// Makes every later read fail as interrupted.
    pub(super) fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// The error of an interrupted copy.
    pub(super) fn interrupted(&self) -> Error {
        Error::new(
            ErrorKind::Io,
            format!(
                "interrupted after {} bytes; no image was written",
                self.bytes_read()
            ),
        )
    }

    /// Bytes read so far (each byte counted once).
    pub(super) fn bytes_read(&self) -> u64 {
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .read
            .total()
    }

    /// Unreadable ranges, in order.
    pub(super) fn bad_ranges(&self) -> Vec<Range> {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.bad.ranges().collect()
    }

    /// The ddrescue map of the copy: read (`+`), unreadable (`-`), not read (`?`).
    pub(super) fn map(&self) -> MapFile {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let mut map = MapFile::default();
        let mut pos = 0u64;
        for (start, len) in log.read.ranges() {
            map.push(pos, start - pos, Status::NonTried);
            let end = start + len;
            let mut at = start;
            for (b, e) in log.bad.spans_in(start, end) {
                map.push(at, b - at, Status::Finished);
                map.push(b, e - b, Status::BadSector);
                at = e;
            }
            map.push(at, end - at, Status::Finished);
            pos = end;
        }
        map.push(pos, self.src.size().saturating_sub(pos), Status::NonTried);
        map
    }

    /// Reads `buf` at `offset` whole, or sector by sector with retries.
    fn careful_read(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        if self.src.read_exact_at(offset, buf).is_ok() {
            return Ok(());
        }
        let mut bad = Vec::new();
        for (i, s) in buf.chunks_mut(self.sector).enumerate() {
            if self.stopped() {
                return Err(self.interrupted());
            }
            let at = offset + (i * self.sector) as u64;
            let ok = (0..self.retries).any(|_| self.src.read_exact_at(at, s).is_ok());
            if !ok {
                s.fill(0);
                bad.push((at, at + s.len() as u64));
            }
        }
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        for (s, e) in bad {
            log.bad.add(s, e - s);
        }
        Ok(())
    }
}

impl<R: ReadAt> ReadAt for CarefulDrive<R> {
    fn size(&self) -> u64 {
        self.src.size()
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        if self.stopped() {
            return Err(self.interrupted());
        }
        let n = clamp_len(offset, buf.len(), self.size());
        if n == 0 {
            return Ok(0);
        }
        let buf = &mut buf[..n];
        if buf.as_ptr().align_offset(super::ALIGN) == 0 {
            self.careful_read(offset, buf)?;
        } else {
            let mut aligned = self
                .bufs
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop()
                .filter(|b| b.as_slice().len() >= n)
                .unwrap_or_else(|| AlignedBuf::new(n));
            let r = self.careful_read(offset, &mut aligned.as_mut_slice()[..n]);
            if r.is_ok() {
                buf.copy_from_slice(&aligned.as_slice()[..n]);
            }
            self.bufs
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(aligned);
            r?;
        }
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .read
            .add(offset, n as u64);
        Ok(n)
    }
}

impl<R: ReadAt> BlockDevice for CarefulDrive<R> {
    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        let end = offset.saturating_add(len).min(self.size());
        let mut out = Vec::new();
        let mut pos = offset;
        let first = self.used.partition_point(|&(s, l)| s + l <= offset);
        for &(s, l) in &self.used[first..] {
            if pos >= end {
                break;
            }
            let (s, e) = (s.max(pos), (s + l).min(end));
            if s >= end {
                break;
            }
            if s > pos {
                out.push(extent(pos, s, ExtentKind::Unallocated));
            }
            out.push(extent(s, e, ExtentKind::Data));
            pos = e;
        }
        if pos < end {
            out.push(extent(pos, end, ExtentKind::Unallocated));
        }
        Ok(out)
    }
}

fn extent(start: u64, end: u64, kind: ExtentKind) -> Extent {
    Extent {
        offset: start,
        len: end - start,
        kind,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::MemorySource;

    /// A source whose sectors 3 and 4 after the first MiB never read, and sector 9 after it
    /// reads on the third try.
    struct Flaky {
        data: MemorySource,
        tries: Mutex<u32>,
    }

    const MIB: u64 = 1 << 20;

    impl ReadAt for Flaky {
        fn size(&self) -> u64 {
            self.data.size()
        }
        fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
            let touches = |s: u64| {
                let (a, b) = (offset / 512, (offset + buf.len() as u64).div_ceil(512));
                (a..b).contains(&(MIB / 512 + s))
            };
            if touches(3) || touches(4) {
                return Err(Error::new(ErrorKind::Io, "medium error"));
            }
            if touches(9) {
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
        let data: Vec<u8> = (0..3 * MIB).map(|i| (i % 255) as u8 + 1).collect();
        let drive = CarefulDrive::new(
            Flaky {
                data: MemorySource::new(data.clone()),
                tries: Mutex::new(0),
            },
            512,
            vec![(0, 3 * MIB)],
            3,
        );
        let mut got = vec![0u8; data.len()];
        // Unaligned buffer and aligned chunks, as the pipeline reads.
        for (i, c) in got.chunks_mut(MIB as usize).enumerate() {
            drive.read_exact_at(i as u64 * MIB, c).unwrap();
        }
        let bad_at = MIB + 3 * 512;
        assert_eq!(drive.bad_ranges(), vec![(bad_at, 1024)]);
        let mut want = data;
        want[bad_at as usize..bad_at as usize + 1024].fill(0);
        assert!(got == want);
        let text = drive.map().render("t");
        assert!(
            text.contains(&format!("{bad_at:#010x}  0x00000400  -")),
            "{text}"
        );
        assert!(text.contains("0x00000000  0x00100600  +"), "{text}");
        assert_eq!(drive.bytes_read(), 3 * MIB);
    }

    #[test]
    fn unused_ranges_are_unallocated_and_unread_ranges_not_tried() {
        let drive = CarefulDrive::new(
            MemorySource::new(vec![5u8; 4 * MIB as usize]),
            512,
            vec![(0, MIB), (3 * MIB, 512)],
            1,
        );
        let e = drive.extents(512, 4 * MIB).unwrap();
        let kinds: Vec<_> = e.iter().map(|e| (e.offset, e.len, e.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                (512, MIB - 512, ExtentKind::Data),
                (MIB, 2 * MIB, ExtentKind::Unallocated),
                (3 * MIB, 512, ExtentKind::Data),
                (3 * MIB + 512, MIB - 512, ExtentKind::Unallocated),
            ]
        );
        let mut b = vec![0u8; 4096];
        drive.read_exact_at(0, &mut b).unwrap();
        let text = drive.map().render("t");
        assert!(text.contains("0x00001000  0x003ff000  ?"), "{text}");
        drive.stop();
        let err = drive.read_exact_at(0, &mut b).unwrap_err();
        assert!(err.to_string().contains("interrupted"), "{err}");
    }
}
