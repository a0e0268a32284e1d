//! Writing an image's device to a drive, then proving the drive holds it.
//!
//! The device is cut into [`CHUNK`]-sized pieces on an aligned grid. A reader thread asks the
//! device which pieces hold data (`extents`: holes and unallocated ranges are never read),
//! reads those, and finds the ones that are all zeros anyway; the writing thread writes data
//! pieces with `O_DIRECT` and turns runs of zero pieces into one zeroing call (`BLKZEROOUT`),
//! so the drive ends up equal to the image without writing gigabytes of zeros. With `sparse`
//! the zero runs are left as the drive had them (faster; only the data is guaranteed).
//!
//! Each written piece's BLAKE3 is kept (32 bytes per 4 MiB). After an `fsync`, the drive is
//! read back past the page cache (`O_DIRECT`, or cached pages dropped first) and every piece
//! is checked: data pieces against their digest, zeroed ones for zeros. The image is read
//! once. A mismatch names the byte range; an interruption (Ctrl-C) stops between pieces, syncs
//! what was written and reports the drive as incomplete; neither is ever reported as good.

use super::target::{AlignedBuf, ReadBack, Target};
use crate::device::{BlockDevice, ExtentKind};
use crate::error::{Error, ErrorKind, Result};
use crate::ops::hash::HashProgress;
use serde::Serialize;
use std::path::Path;
use std::sync::mpsc::sync_channel;
use std::time::Instant;

/// Size of the pieces read, written and checked.
pub const CHUNK: usize = 4 << 20;
/// Pieces read ahead of the writer.
const QUEUE: usize = 3;

/// How to write.
pub struct WriteOptions<'a> {
    /// Read the drive back and compare.
    pub verify: bool,
    /// Leave zero ranges of the image untouched on the drive.
    pub sparse: bool,
    /// Called after writing and syncing, before reading back (tests put a fault here).
    pub before_verify: Option<&'a (dyn Fn() -> Result<()> + Sync)>,
}

impl Default for WriteOptions<'_> {
    fn default() -> Self {
        WriteOptions {
            verify: true,
            sparse: false,
            before_verify: None,
        }
    }
}

/// What a long write reports.
pub trait WriteProgress: HashProgress {
    /// A new phase (`writing`, `verifying`) of `total` bytes begins.
    fn phase(&self, _name: &str, _total: u64) {}
}

impl WriteProgress for () {}

/// The outcome of a write that finished (`diskimg write --json`).
#[derive(Debug, Clone, Serialize)]
pub struct WriteReport {
    /// Bytes of the image (its device).
    pub image_size: u64,
    /// Bytes of the drive.
    pub target_size: u64,
    /// Bytes written from the image.
    pub written: u64,
    /// Bytes zeroed without writing data.
    pub zeroed: u64,
    /// Bytes left untouched (`sparse`).
    pub skipped: u64,
    /// Bytes read back and checked.
    pub verified: u64,
    /// Writes bypassed the page cache.
    pub direct_io: bool,
    /// Seconds spent writing (with the final sync).
    pub write_seconds: f64,
    /// Seconds spent reading back.
    pub verify_seconds: f64,
}

/// A piece the reader hands to the writer.
enum Piece {
    Data { offset: u64, buf: AlignedBuf, len: usize },
    Zero { offset: u64, len: u64 },
}

/// Writes `src` to the drive or file at `target` and, unless told not to, verifies it.
pub fn write_image(
    src: &dyn BlockDevice,
    target: &Path,
    opts: &WriteOptions<'_>,
    progress: &dyn WriteProgress,
) -> Result<WriteReport> {
    let t = Target::open(target)?;
    let size = src.size();
    if size > t.size() {
        return Err(Error::new(
            ErrorKind::NoSpace,
            format!(
                "the image needs {size} bytes; the drive has {} (nothing was written)",
                t.size()
            ),
        )
        .with_file(target));
    }
    let mut report = WriteReport {
        image_size: size,
        target_size: t.size(),
        written: 0,
        zeroed: 0,
        skipped: 0,
        verified: 0,
        direct_io: t.is_direct(),
        write_seconds: 0.0,
        verify_seconds: 0.0,
    };
    let started = Instant::now();
    progress.phase("writing", size);
    // (offset, len, digest) of written pieces; zeroed ranges as (offset, len).
    let mut written: Vec<(u64, u32, [u8; 32])> = Vec::new();
    let mut zeroed: Vec<(u64, u64)> = Vec::new();
    let outcome = std::thread::scope(|scope| -> Result<()> {
        let (tx, rx) = sync_channel::<Result<Piece>>(QUEUE);
        let reader = scope.spawn(move || read_pieces(src, size, progress, |p| tx.send(p).is_ok()));
        let mut pending_zero: Option<(u64, u64)> = None;
        let mut flush_zero = |z: &mut Option<(u64, u64)>, report: &mut WriteReport| -> Result<()> {
            if let Some((o, l)) = z.take() {
                if opts.sparse {
                    report.skipped += l;
                } else {
                    t.zero(o, l)?;
                    zeroed.push((o, l));
                    report.zeroed += l;
                }
            }
            Ok(())
        };
        for piece in rx {
            match piece? {
                Piece::Zero { offset, len } => match &mut pending_zero {
                    Some((o, l)) if *o + *l == offset => *l += len,
                    _ => {
                        flush_zero(&mut pending_zero, &mut report)?;
                        pending_zero = Some((offset, len));
                    }
                },
                Piece::Data { offset, buf, len } => {
                    flush_zero(&mut pending_zero, &mut report)?;
                    let data = &buf.as_slice()[..len];
                    t.write_at(offset, data)?;
                    written.push((offset, len as u32, *blake3::hash(data).as_bytes()));
                    report.written += len as u64;
                }
            }
        }
        flush_zero(&mut pending_zero, &mut report)?;
        reader
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    });
    // Whatever happened, what was written is pushed to the medium before reporting.
    let synced = t.sync();
    report.write_seconds = started.elapsed().as_secs_f64();
    if let Err(e) = outcome {
        let done = report.written + report.zeroed;
        return Err(incomplete(e, done, target));
    }
    synced?;
    drop(t);
    if !opts.verify {
        return Ok(report);
    }
    if let Some(hook) = opts.before_verify {
        hook()?;
    }
    let started = Instant::now();
    let total = report.written + report.zeroed;
    progress.phase("verifying", total);
    report.verified = verify(target, &written, &zeroed, progress)?;
    report.verify_seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// An error during writing, said plainly: the drive holds part of an image.
fn incomplete(e: Error, done: u64, target: &Path) -> Error {
    let what = if e.kind() == ErrorKind::Io && e.message() == "interrupted" {
        "interrupted".to_owned()
    } else {
        e.to_string()
    };
    Error::new(
        e.kind(),
        format!(
            "writing stopped after {done} bytes ({what}); the drive holds an incomplete image and must not be used"
        ),
    )
    .with_file(target)
}

/// Reads the device in pieces on the grid and hands them to `send` until it refuses.
fn read_pieces(
    src: &dyn BlockDevice,
    size: u64,
    progress: &dyn WriteProgress,
    send: impl Fn(Result<Piece>) -> bool,
) -> Result<()> {
    let mut offset = 0u64;
    while offset < size {
        if progress.cancelled() {
            send(Err(Error::new(ErrorKind::Io, "interrupted")));
            return Ok(());
        }
        let len = (size - offset).min(CHUNK as u64) as usize;
        let piece = (|| -> Result<Piece> {
            let extents = src.extents(offset, len as u64)?;
            if extents.iter().all(|e| e.kind != ExtentKind::Data) {
                return Ok(Piece::Zero {
                    offset,
                    len: len as u64,
                });
            }
            let mut buf = AlignedBuf::new(len.next_multiple_of(super::target::ALIGN));
            let b = buf.as_mut_slice();
            for e in extents.iter().filter(|e| e.kind == ExtentKind::Data) {
                let at = (e.offset - offset) as usize;
                src.read_exact_at(e.offset, &mut b[at..at + e.len as usize])?;
            }
            if is_zero(&b[..len]) {
                return Ok(Piece::Zero {
                    offset,
                    len: len as u64,
                });
            }
            Ok(Piece::Data { offset, buf, len })
        })();
        let failed = piece.is_err();
        if !send(piece) || failed {
            return Ok(());
        }
        progress.advance(len as u64);
        offset += len as u64;
    }
    Ok(())
}

/// Whether every byte is zero.
pub fn is_zero(b: &[u8]) -> bool {
    let (head, words, tail) = {
        // SAFETY: u64 has no invalid bit patterns; align_to only splits at aligned points.
        unsafe { b.align_to::<u64>() }
    };
    head.iter().all(|&x| x == 0) && words.iter().all(|&w| w == 0) && tail.iter().all(|&x| x == 0)
}

/// Reads back every written and zeroed range; returns the bytes checked.
fn verify(
    target: &Path,
    written: &[(u64, u32, [u8; 32])],
    zeroed: &[(u64, u64)],
    progress: &dyn WriteProgress,
) -> Result<u64> {
    let rb = ReadBack::open(target)?;
    let mut ranges: Vec<(u64, u64, Option<[u8; 32]>)> = written
        .iter()
        .map(|&(o, l, h)| (o, u64::from(l), Some(h)))
        .collect();
    ranges.extend(zeroed.iter().map(|&(o, l)| (o, l, None)));
    ranges.sort_by_key(|r| r.0);
    let mut checked = 0u64;
    let mut buf = AlignedBuf::new(CHUNK);
    for (offset, len, digest) in ranges {
        let mut pos = offset;
        while pos < offset + len {
            if progress.cancelled() {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!(
                        "verification interrupted after {checked} bytes: the drive was written but is NOT verified"
                    ),
                )
                .with_file(target));
            }
            let n = (offset + len - pos).min(CHUNK as u64) as usize;
            let b = &mut buf.as_mut_slice()[..n];
            rb.read_exact_at(pos, b).map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    format!("verification failed: cannot read back byte {pos}: {e}"),
                )
                .with_file(target)
            })?;
            let ok = match digest {
                Some(h) => blake3::hash(b).as_bytes() == &h,
                None => is_zero(b),
            };
            if !ok {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!(
                        "verification FAILED: bytes {pos}..{} on the drive differ from the image{}; the drive is not a good copy",
                        pos + n as u64,
                        if digest.is_none() { " (should be zeros)" } else { "" }
                    ),
                )
                .with_file(target));
            }
            pos += n as u64;
            checked += n as u64;
            progress.advance(n as u64);
        }
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{FileSource, MemorySource};

    fn image(len: usize) -> Vec<u8> {
        let mut d = vec![0u8; len];
        for (i, b) in d.iter_mut().enumerate().take(CHUNK + 5000) {
            *b = (i % 251) as u8 + 1;
        }
        let tail = len - 3000;
        d[tail..].fill(7);
        d
    }

    #[test]
    fn writes_zeroes_and_verifies_a_file_target() {
        let dir = tempfile::tempdir().unwrap();
        let data = image(3 * CHUNK + 4096 + 512);
        let target = dir.path().join("drive.img");
        std::fs::write(&target, vec![0xEEu8; data.len() + 8192]).unwrap();
        let src = MemorySource::new(data.clone());
        let r = write_image(&src, &target, &WriteOptions::default(), &()).unwrap();
        let got = std::fs::read(&target).unwrap();
        assert_eq!(&got[..data.len()], &data[..]);
        assert_eq!(&got[data.len()..], &vec![0xEEu8; 8192][..]);
        assert_eq!(r.written + r.zeroed, data.len() as u64);
        assert_eq!(r.verified, data.len() as u64);
    }

    #[test]
    fn a_change_between_write_and_read_back_fails_verification() {
        let dir = tempfile::tempdir().unwrap();
        let data = image(2 * CHUNK);
        let target = dir.path().join("drive.img");
        std::fs::write(&target, vec![0u8; data.len()]).unwrap();
        let src = MemorySource::new(data);
        for at in [100u64, 2 * CHUNK as u64 - 10, CHUNK as u64 + 100_000] {
            let flip = || {
                let f = std::fs::OpenOptions::new().write(true).open(&target).unwrap();
                std::os::unix::fs::FileExt::write_all_at(&f, &[0x55], at).unwrap();
                Ok(())
            };
            let opts = WriteOptions {
                before_verify: Some(&flip),
                ..WriteOptions::default()
            };
            let e = write_image(&src, &target, &opts, &()).unwrap_err();
            assert!(e.to_string().contains("verification FAILED"), "{e}");
        }
    }

    #[test]
    fn refuses_a_target_too_small_and_stops_when_cancelled() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("small.img");
        std::fs::write(&target, vec![9u8; 1000]).unwrap();
        let src = MemorySource::new(vec![1u8; 2000]);
        let e = write_image(&src, &target, &WriteOptions::default(), &()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NoSpace);
        assert_eq!(std::fs::read(&target).unwrap(), vec![9u8; 1000]);
        let big = dir.path().join("big.img");
        std::fs::write(&big, vec![0u8; 2 * CHUNK]).unwrap();
        let stop = std::sync::atomic::AtomicBool::new(true);
        struct Stop<'a>(&'a std::sync::atomic::AtomicBool);
        impl HashProgress for Stop<'_> {
            fn advance(&self, _: u64) {}
            fn cancelled(&self) -> bool {
                self.0.load(std::sync::atomic::Ordering::Relaxed)
            }
        }
        impl WriteProgress for Stop<'_> {}
        let src = FileSource::open(&target).unwrap();
        let e = write_image(&src, &big, &WriteOptions::default(), &Stop(&stop)).unwrap_err();
        assert!(e.to_string().contains("incomplete"), "{e}");
    }
}
