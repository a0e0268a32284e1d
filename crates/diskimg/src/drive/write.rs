//! Writing an image's device to a drive, then proving the drive holds it.
//!
//! The device is cut into [`CHUNK`]s of 64 [`BLOCK`]s on an aligned grid. A reader thread asks
//! the device which ranges hold data (`extents`: holes and unallocated ranges are never read),
//! reads those, and marks each block that holds a non-zero byte. The writing thread writes
//! runs of data blocks with `O_DIRECT` and turns runs of zero blocks (across chunks) into one
//! zeroing call (`BLKZEROOUT`), so the drive ends up equal to the image without writing
//! gigabytes of zeros. With `sparse` the zero runs are left as the drive had them (faster;
//! only the data is then guaranteed, as with `bmaptool`).
//!
//! For each chunk a mask of the blocks it set and one BLAKE3 of their expected content are
//! kept (48 bytes per 4 MiB). After an `fsync`, the drive is read back past the page cache
//! (`O_DIRECT`, or cached pages dropped first) and every chunk is checked against that. The
//! image is read once. A mismatch names the byte range; an interruption (Ctrl-C) stops between
//! chunks, syncs what was written and reports the drive as incomplete; neither is ever
//! reported as good.

use super::target::{ALIGN, AlignedBuf, ReadBack, Target};
use crate::device::{BlockDevice, ExtentKind};
use crate::error::{Error, ErrorKind, Result};
use crate::io::is_zero;
use crate::ops::hash::HashProgress;
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::sync_channel;
use std::time::Instant;

/// Granularity of the zero/data decision: a block with one non-zero byte is written whole.
pub const BLOCK: usize = 64 << 10;
/// Size of the pieces read, written and checked (64 blocks, one `u64` mask).
pub const CHUNK: usize = 64 * BLOCK;
/// Chunks read ahead of the writer.
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

/// One chunk as the reader hands it over.
struct Chunk {
    offset: u64,
    len: usize,
    /// The bytes, when any block holds data.
    buf: Option<Arc<AlignedBuf>>,
    /// Bit i: block i holds a non-zero byte.
    data: u64,
}

/// What verification checks of one chunk.
struct Expect {
    offset: u64,
    len: usize,
    /// Blocks to check.
    mask: u64,
    /// BLAKE3 of the checked blocks in order; `None` when they must all be zero.
    digest: Option<[u8; 32]>,
}

fn blocks(len: usize) -> u32 {
    len.div_ceil(BLOCK) as u32
}

fn all_blocks(len: usize) -> u64 {
    match blocks(len) {
        64 => u64::MAX,
        n => (1u64 << n) - 1,
    }
}

fn block_range(offset: u64, len: usize, first: u32, count: u32) -> (u64, usize) {
    let start = first as usize * BLOCK;
    let end = ((first + count) as usize * BLOCK).min(len);
    (offset + start as u64, end - start)
}

/// Runs of equal bits in the low `n` bits of `mask`: `(first, count, set)`.
fn runs(mask: u64, n: u32) -> Vec<(u32, u32, bool)> {
    let mut out: Vec<(u32, u32, bool)> = Vec::new();
    for i in 0..n {
        let set = mask & (1 << i) != 0;
        match out.last_mut() {
            Some(r) if r.2 == set => r.1 += 1,
            _ => out.push((i, 1, set)),
        }
    }
    out
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
    let mut expect: Vec<Expect> = Vec::new();
    let outcome = std::thread::scope(|scope| -> Result<()> {
        let (tx, rx) = sync_channel::<Result<Chunk>>(QUEUE);
        let reader = scope.spawn(move || read_chunks(src, size, progress, |c| tx.send(c).is_ok()));
        let mut pending_zero: Option<(u64, u64)> = None;
        let mut zero = |range: Option<(u64, u64)>, report: &mut WriteReport| -> Result<()> {
            // Adjacent zero runs are merged and zeroed with one call.
            match (range, &mut pending_zero) {
                (Some((o, l)), Some((po, pl))) if *po + *pl == o => {
                    *pl += l;
                    return Ok(());
                }
                _ => {}
            }
            if let Some((o, l)) = std::mem::replace(&mut pending_zero, range) {
                if opts.sparse {
                    report.skipped += l;
                } else {
                    t.zero(o, l)?;
                    report.zeroed += l;
                }
            }
            Ok(())
        };
        for chunk in rx {
            let c = chunk?;
            let n = blocks(c.len);
            for (first, count, data) in runs(c.data, n) {
                let (at, len) = block_range(c.offset, c.len, first, count);
                if data {
                    zero(None, &mut report)?;
                    let buf = c
                        .buf
                        .as_ref()
                        .expect("a chunk with data blocks has its bytes");
                    let from = (at - c.offset) as usize;
                    t.write_at(at, &buf.as_slice()[from..from + len])?;
                    report.written += len as u64;
                } else {
                    zero(Some((at, len as u64)), &mut report)?;
                }
            }
            let mask = if opts.sparse {
                c.data
            } else {
                all_blocks(c.len)
            };
            let digest = c.buf.as_ref().filter(|_| c.data != 0).map(|buf| {
                let mut h = blake3::Hasher::new();
                for (first, count, set) in runs(mask, n) {
                    if set {
                        let (at, len) = block_range(c.offset, c.len, first, count);
                        let from = (at - c.offset) as usize;
                        h.update(&buf.as_slice()[from..from + len]);
                    }
                }
                *h.finalize().as_bytes()
            });
            if mask != 0 {
                expect.push(Expect {
                    offset: c.offset,
                    len: c.len,
                    mask,
                    digest,
                });
            }
        }
        zero(None, &mut report)?;
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
    report.verified = verify(target, &expect, progress)?;
    report.verify_seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// An error during writing, said plainly: the drive holds part of an image.
fn incomplete(e: Error, done: u64, target: &Path) -> Error {
    let what = if e.kind() == ErrorKind::Io && e.message() == "interrupted" {
        "interrupted".to_owned()
    } else {
        let text = e.to_string();
        let prefix = format!("{}: ", target.display());
        text.strip_prefix(&prefix).unwrap_or(&text).to_owned()
    };
    Error::new(
        e.kind(),
        format!(
            "writing stopped after {done} bytes ({what}); the drive holds an incomplete image and must not be used"
        ),
    )
    .with_file(target)
}

/// Reads the device chunk by chunk and hands each to `send` until it refuses.
fn read_chunks(
    src: &dyn BlockDevice,
    size: u64,
    progress: &dyn WriteProgress,
    send: impl Fn(Result<Chunk>) -> bool,
) -> Result<()> {
    let mut offset = 0u64;
    while offset < size {
        if progress.cancelled() {
            send(Err(Error::new(ErrorKind::Io, "interrupted")));
            return Ok(());
        }
        let len = (size - offset).min(CHUNK as u64) as usize;
        let chunk = read_chunk(src, offset, len);
        let failed = chunk.is_err();
        if !send(chunk) || failed {
            return Ok(());
        }
        progress.advance(len as u64);
        offset += len as u64;
    }
    Ok(())
}

fn read_chunk(src: &dyn BlockDevice, offset: u64, len: usize) -> Result<Chunk> {
    let extents = src.extents(offset, len as u64)?;
    if extents.iter().all(|e| e.kind != ExtentKind::Data) {
        return Ok(Chunk {
            offset,
            len,
            buf: None,
            data: 0,
        });
    }
    let mut buf = AlignedBuf::new(len.next_multiple_of(ALIGN));
    let b = buf.as_mut_slice();
    for e in extents.iter().filter(|e| e.kind == ExtentKind::Data) {
        let at = (e.offset - offset) as usize;
        src.read_exact_at(e.offset, &mut b[at..at + e.len as usize])?;
    }
    let mut data = 0u64;
    for (i, block) in b[..len].chunks(BLOCK).enumerate() {
        if !is_zero(block) {
            data |= 1 << i;
        }
    }
    Ok(Chunk {
        offset,
        len,
        buf: (data != 0).then(|| Arc::new(buf)),
        data,
    })
}

/// Reads back every chunk that was written or zeroed; returns the bytes checked.
fn verify(target: &Path, expect: &[Expect], progress: &dyn WriteProgress) -> Result<u64> {
    let rb = ReadBack::open(target)?;
    let mut checked = 0u64;
    let mut buf = AlignedBuf::new(CHUNK);
    for e in expect {
        if progress.cancelled() {
            return Err(Error::new(
                ErrorKind::Io,
                format!(
                    "verification interrupted after {checked} bytes: the drive was written but is NOT verified"
                ),
            )
            .with_file(target));
        }
        let mut h = blake3::Hasher::new();
        let mut zeros = true;
        let mut bytes = 0u64;
        for (first, count, set) in runs(e.mask, blocks(e.len)) {
            if !set {
                continue;
            }
            let (at, len) = block_range(e.offset, e.len, first, count);
            let b = &mut buf.as_mut_slice()[..len];
            rb.read_exact_at(at, b).map_err(|err| {
                Error::new(
                    ErrorKind::Io,
                    format!("verification failed: cannot read back byte {at}: {err}"),
                )
                .with_file(target)
            })?;
            if e.digest.is_some() {
                h.update(b);
            } else {
                zeros &= is_zero(b);
            }
            bytes += len as u64;
        }
        let ok = match e.digest {
            Some(d) => h.finalize().as_bytes() == &d,
            None => zeros,
        };
        if !ok {
            return Err(Error::new(
                ErrorKind::Io,
                format!(
                    "verification FAILED: bytes {}..{} on the drive differ from the image{}; the drive is not a good copy",
                    e.offset,
                    e.offset + e.len as u64,
                    if e.digest.is_none() { " (should be zeros)" } else { "" }
                ),
            )
            .with_file(target));
        }
        checked += bytes;
        progress.advance(bytes);
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
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&target)
                    .unwrap();
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
