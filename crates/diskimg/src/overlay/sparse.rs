//! A copy-on-write overlay file: writes to a read-only device land in a sparse host file,
//! block by block, and the device itself is never written.
//!
//! The file is this project's own small format:
//!
//! ```text
//! 0      header (4096 bytes, little-endian)
//!          0  magic "DISKIMG-OVERLAY\0"   16  version (1)   20  block size
//!         24  device size                 32  bitmap offset (4096)
//!         40  bitmap length               48  data offset
//!         56  length of the base's name   58  the base's name (UTF-8, at most 1024 bytes)
//!       4092  CRC-32 of bytes 0..4092
//! 4096   allocation bitmap: bit b (LSB first) set when block b lives in the overlay
//! data   block b at data offset + b * block size; the file is sparse, so only written
//!        blocks take space; a zeroed or discarded block is a hole in a present block
//! ```
//!
//! A block is copied up whole: a partial write to a block not yet in the overlay reads the
//! base's block, merges and writes it (under a per-block lock, so concurrent writers never
//! mix a stale copy with a newer write). The bitmap lives in memory and is written on
//! [`flush`](WritableDevice::flush), after the data is synced, so a crash loses at most
//! writes that were never flushed, as the NBD protocol allows. Reopening the file with the
//! same base continues where it stopped; a file made for a device of another size is refused.

use super::{WritableDevice, check_range};
use crate::device::{BlockDevice, DeviceRef, Extent, ExtentKind};
use crate::error::{Error, ErrorKind, Result, ResultExt};
use crate::io::{ReadAt, clamp_len, copy::write_all_at, read_vec};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Block size of new overlays.
pub const DEFAULT_BLOCK_SIZE: u32 = 64 * 1024;
/// Most blocks an overlay tracks (a 32 MiB bitmap; 16 TiB at the default block size).
pub const MAX_BLOCKS: u64 = 1 << 28;
/// Longest base name recorded.
const MAX_NAME: usize = 1024;
const MAGIC: &[u8; 16] = b"DISKIMG-OVERLAY\0";
const HEADER_LEN: u64 = 4096;
const FORMAT: &str = "diskimg overlay";
/// Locks that serialise copying a block up (block index modulo this).
const STRIPES: usize = 64;

/// A device that reads from an overlay file where blocks were written, else from its base.
pub struct SparseOverlay {
    base: DeviceRef,
    file: File,
    path: PathBuf,
    block_size: u64,
    data_offset: u64,
    bitmap: Vec<AtomicU64>,
    dirty: AtomicBool,
    stripes: Vec<Mutex<()>>,
    flush_lock: Mutex<()>,
}

impl std::fmt::Debug for SparseOverlay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SparseOverlay")
            .field("path", &self.path)
            .field("block_size", &self.block_size)
            .finish_non_exhaustive()
    }
}

impl SparseOverlay {
    /// Opens the overlay at `path` over `base`, creating it when it does not exist or is
    /// empty. `base_name` is recorded for people (`diskimg info` of the overlay may show it).
    pub fn open(base: DeviceRef, path: impl AsRef<Path>, base_name: &str) -> Result<Self> {
        let path = path.as_ref();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(Error::from)
            .in_file(path)?;
        let len = file.metadata().map_err(Error::from).in_file(path)?.len();
        if len == 0 {
            Self::create(base, file, path, base_name)
        } else {
            Self::reopen(base, file, path)
        }
        .in_file(path)
    }

    fn create(base: DeviceRef, file: File, path: &Path, base_name: &str) -> Result<Self> {
        let block_size = u64::from(DEFAULT_BLOCK_SIZE);
        let blocks = block_count(base.size(), block_size)?;
        let bitmap_len = (blocks.div_ceil(64) * 8).next_multiple_of(HEADER_LEN);
        let data_offset = (HEADER_LEN + bitmap_len).next_multiple_of(block_size);
        let mut h = vec![0u8; HEADER_LEN as usize];
        h[..16].copy_from_slice(MAGIC);
        h[16..20].copy_from_slice(&1u32.to_le_bytes());
        h[20..24].copy_from_slice(&DEFAULT_BLOCK_SIZE.to_le_bytes());
        h[24..32].copy_from_slice(&base.size().to_le_bytes());
        h[32..40].copy_from_slice(&HEADER_LEN.to_le_bytes());
        h[40..48].copy_from_slice(&bitmap_len.to_le_bytes());
        h[48..56].copy_from_slice(&data_offset.to_le_bytes());
        let name = truncate_utf8(base_name, MAX_NAME);
        h[56..58].copy_from_slice(&(name.len() as u16).to_le_bytes());
        h[58..58 + name.len()].copy_from_slice(name.as_bytes());
        let crc = crc32fast::hash(&h[..4092]);
        h[4092..].copy_from_slice(&crc.to_le_bytes());
        let total = data_offset
            .checked_add(blocks * block_size)
            .ok_or_else(|| Error::invalid_input("device too large for an overlay"))?;
        file.set_len(total).map_err(Error::from)?;
        write_all_at(&file, &h, 0).map_err(Error::from)?;
        file.sync_all().map_err(Error::from)?;
        Ok(Self::assemble(
            base,
            file,
            path,
            block_size,
            data_offset,
            vec![0; blocks.div_ceil(64) as usize],
        ))
    }

    fn reopen(base: DeviceRef, file: File, path: &Path) -> Result<Self> {
        let src = crate::io::FileSource::from_file(file.try_clone().map_err(Error::from)?, path)?;
        let mut magic = [0u8; 16];
        if src.size() < HEADER_LEN || src.read_exact_at(0, &mut magic).is_err() || &magic != MAGIC {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "exists and is not a diskimg overlay (refusing to overwrite it)",
            ));
        }
        let h = read_vec(&src, 0, HEADER_LEN, HEADER_LEN)
            .map_err(|e| e.with_format(FORMAT).with_structure("header"))?;
        let bad = |msg: String| Error::corrupt(FORMAT, "header", 0, msg);
        let u32_at = |at: usize| u32::from_le_bytes(h[at..at + 4].try_into().expect("4 bytes"));
        let u64_at = |at: usize| u64::from_le_bytes(h[at..at + 8].try_into().expect("8 bytes"));
        if u32_at(4092) != crc32fast::hash(&h[..4092]) {
            return Err(bad("header checksum does not match".into()));
        }
        if u32_at(16) != 1 {
            return Err(Error::unsupported(
                FORMAT,
                format!("overlay version {}", u32_at(16)),
            ));
        }
        let block_size = u64::from(u32_at(20));
        if !block_size.is_power_of_two() || !(4096..=16 << 20).contains(&block_size) {
            return Err(bad(format!("block size {block_size} is invalid")));
        }
        let device_size = u64_at(24);
        if device_size != base.size() {
            return Err(Error::invalid_input(format!(
                "the overlay was made for a device of {device_size} bytes; this one has {}",
                base.size()
            )));
        }
        let blocks = block_count(device_size, block_size)?;
        let (bitmap_offset, bitmap_len, data_offset) = (u64_at(32), u64_at(40), u64_at(48));
        if bitmap_offset != HEADER_LEN
            || bitmap_len < blocks.div_ceil(64) * 8
            || data_offset < bitmap_offset.saturating_add(bitmap_len)
            || data_offset % block_size != 0
        {
            return Err(bad("bitmap or data offset is inconsistent".into()));
        }
        let raw = read_vec(&src, bitmap_offset, blocks.div_ceil(64) * 8, MAX_BLOCKS / 8)
            .map_err(|e| e.with_format(FORMAT).with_structure("bitmap"))?;
        let words = raw
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        Ok(Self::assemble(
            base,
            file,
            path,
            block_size,
            data_offset,
            words,
        ))
    }

    fn assemble(
        base: DeviceRef,
        file: File,
        path: &Path,
        block_size: u64,
        data_offset: u64,
        words: Vec<u64>,
    ) -> Self {
        SparseOverlay {
            base,
            file,
            path: path.to_path_buf(),
            block_size,
            data_offset,
            bitmap: words.into_iter().map(AtomicU64::new).collect(),
            dirty: AtomicBool::new(false),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            flush_lock: Mutex::new(()),
        }
    }

    /// Block size in bytes.
    pub fn block_size(&self) -> u64 {
        self.block_size
    }

    /// Number of blocks held in the overlay.
    pub fn blocks_used(&self) -> u64 {
        self.bitmap
            .iter()
            .map(|w| u64::from(w.load(Ordering::Acquire).count_ones()))
            .sum()
    }

    fn present(&self, block: u64) -> bool {
        let w = self.bitmap[(block / 64) as usize].load(Ordering::Acquire);
        w & (1 << (block % 64)) != 0
    }

    fn mark(&self, block: u64) {
        self.bitmap[(block / 64) as usize].fetch_or(1 << (block % 64), Ordering::AcqRel);
        self.dirty.store(true, Ordering::Release);
    }

    fn block_len(&self, block: u64) -> u64 {
        self.block_size
            .min(self.base.size() - block * self.block_size)
    }

    fn slot(&self, block: u64) -> u64 {
        self.data_offset + block * self.block_size
    }

    fn io(&self, e: std::io::Error, offset: u64) -> Error {
        Error::from(e).with_offset(offset).with_file(&self.path)
    }

    fn read_slot(&self, block: u64, within: u64, buf: &mut [u8]) -> Result<()> {
        let at = self.slot(block) + within;
        let n = read_some(&self.file, buf, at).map_err(|e| self.io(e, at))?;
        buf[n..].fill(0);
        Ok(())
    }

    /// Writes `buf` at `within` of `block`, copying the block up first when it is not in the
    /// overlay yet.
    fn write_block(&self, block: u64, within: u64, buf: &[u8]) -> Result<()> {
        if self.present(block) {
            let at = self.slot(block) + within;
            return write_all_at(&self.file, buf, at).map_err(|e| self.io(e, at));
        }
        let _g = self.stripes[(block % STRIPES as u64) as usize]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if self.present(block) {
            drop(_g);
            return self.write_block(block, within, buf);
        }
        let len = self.block_len(block);
        let at = self.slot(block);
        if within == 0 && buf.len() as u64 == len {
            write_all_at(&self.file, buf, at).map_err(|e| self.io(e, at))?;
        } else {
            let mut whole = vec![0u8; len as usize];
            self.base
                .read_exact_at(block * self.block_size, &mut whole)?;
            whole[within as usize..within as usize + buf.len()].copy_from_slice(buf);
            write_all_at(&self.file, &whole, at).map_err(|e| self.io(e, at))?;
        }
        self.mark(block);
        Ok(())
    }

    /// Calls `f(block, offset within block, range start in the request, length)` for each
    /// block piece of `[offset, offset + len)`.
    fn pieces(
        &self,
        offset: u64,
        len: u64,
        mut f: impl FnMut(u64, u64, u64, u64) -> Result<()>,
    ) -> Result<()> {
        let mut pos = offset;
        let end = offset + len;
        while pos < end {
            let block = pos / self.block_size;
            let within = pos % self.block_size;
            let n = (self.block_size - within).min(end - pos);
            f(block, within, pos - offset, n)?;
            pos += n;
        }
        Ok(())
    }
}

impl ReadAt for SparseOverlay {
    fn size(&self) -> u64 {
        self.base.size()
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let n = clamp_len(offset, buf.len(), self.size());
        let buf = &mut buf[..n];
        // Runs of blocks from the same place are read with one call.
        let mut run: Option<(bool, u64, u64)> = None; // (present, start in buf, len)
        let mut pending = Vec::new();
        self.pieces(offset, n as u64, |block, _, at, len| {
            let p = self.present(block);
            match &mut run {
                Some((rp, _, rl)) if *rp == p && !p => *rl += len,
                _ => {
                    if let Some(r) = run.take() {
                        pending.push(r);
                    }
                    run = Some((p, at, len));
                }
            }
            Ok(())
        })?;
        pending.extend(run);
        for (present, at, len) in pending {
            let dst = &mut buf[at as usize..(at + len) as usize];
            if present {
                let pos = offset + at;
                self.read_slot(pos / self.block_size, pos % self.block_size, dst)?;
            } else {
                self.base.read_exact_at(offset + at, dst)?;
            }
        }
        Ok(n)
    }
}

impl BlockDevice for SparseOverlay {
    fn geometry(&self) -> crate::device::Geometry {
        self.base.geometry()
    }

    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        let end = offset.saturating_add(len).min(self.size());
        let mut out: Vec<Extent> = Vec::new();
        let mut pos = offset;
        while pos < end {
            let block = pos / self.block_size;
            let p = self.present(block);
            // Extend to the end of the run of blocks with the same presence.
            let mut b = block + 1;
            while b * self.block_size < end && self.present(b) == p {
                b += 1;
            }
            let run_end = (b * self.block_size).min(end);
            if p {
                push(&mut out, pos, run_end - pos, ExtentKind::Data);
            } else {
                for e in self.base.extents(pos, run_end - pos)? {
                    push(&mut out, e.offset, e.len, e.kind);
                }
            }
            pos = run_end;
        }
        Ok(out)
    }
}

fn push(out: &mut Vec<Extent>, offset: u64, len: u64, kind: ExtentKind) {
    if let Some(last) = out.last_mut() {
        if last.kind == kind && last.offset + last.len == offset {
            last.len += len;
            return;
        }
    }
    out.push(Extent { offset, len, kind });
}

impl WritableDevice for SparseOverlay {
    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<()> {
        check_range(offset, buf.len() as u64, self.size())?;
        self.pieces(offset, buf.len() as u64, |block, within, at, len| {
            self.write_block(block, within, &buf[at as usize..(at + len) as usize])
        })
    }

    fn write_zeroes(&self, offset: u64, len: u64) -> Result<()> {
        check_range(offset, len, self.size())?;
        self.pieces(offset, len, |block, within, _, n| {
            if within == 0 && n == self.block_len(block) {
                let at = self.slot(block);
                if !punch_hole(&self.file, at, n) {
                    write_zeros(&self.file, at, n).map_err(|e| self.io(e, at))?;
                }
                self.mark(block);
                Ok(())
            } else {
                self.write_block(block, within, &vec![0u8; n as usize])
            }
        })
    }

    fn flush(&self) -> Result<()> {
        let _g = self.flush_lock.lock().unwrap_or_else(|p| p.into_inner());
        self.file.sync_data().map_err(|e| self.io(e, 0))?;
        if self.dirty.swap(false, Ordering::AcqRel) {
            let bytes: Vec<u8> = self
                .bitmap
                .iter()
                .flat_map(|w| w.load(Ordering::Acquire).to_le_bytes())
                .collect();
            write_all_at(&self.file, &bytes, HEADER_LEN).map_err(|e| self.io(e, HEADER_LEN))?;
            self.file.sync_data().map_err(|e| self.io(e, HEADER_LEN))?;
        }
        Ok(())
    }
}

impl Drop for SparseOverlay {
    fn drop(&mut self) {
        // Keep what was written even when the caller forgot the final flush.
        let _ = WritableDevice::flush(self);
    }
}

fn block_count(size: u64, block_size: u64) -> Result<u64> {
    let blocks = size.div_ceil(block_size);
    if blocks > MAX_BLOCKS {
        return Err(Error::limit(
            FORMAT,
            "bitmap",
            0,
            format!("{blocks} blocks exceed the limit of {MAX_BLOCKS}"),
        ));
    }
    Ok(blocks)
}

fn truncate_utf8(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Reads what is there at `offset` (less at the end of the file).
fn read_some(f: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match std::os::unix::fs::FileExt::read_at(f, &mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Deallocates `[offset, offset + len)` of `f` so that it reads as zeros; false where the
/// file system cannot.
pub(crate) fn punch_hole(f: &File, offset: u64, len: u64) -> bool {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let (Ok(off), Ok(l)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len)) else {
            return false;
        };
        // SAFETY: fallocate on a descriptor we own; no memory is passed.
        let r = unsafe {
            libc::fallocate(
                f.as_raw_fd(),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                off,
                l,
            )
        };
        r == 0
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (f, offset, len);
        false
    }
}

/// Writes zeros over `[offset, offset + len)` of `f`.
pub(crate) fn write_zeros(f: &File, offset: u64, len: u64) -> std::io::Result<()> {
    let zeros = vec![0u8; len.min(1 << 20) as usize];
    let mut pos = offset;
    let end = offset + len;
    while pos < end {
        let n = (end - pos).min(zeros.len() as u64) as usize;
        write_all_at(f, &zeros[..n], pos)?;
        pos += n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::MemorySource;
    use std::sync::Arc;

    fn base(len: usize) -> (DeviceRef, Vec<u8>) {
        let data: Vec<u8> = (0..len).map(|i| (i % 253) as u8 + 1).collect();
        (Arc::new(MemorySource::new(data.clone())), data)
    }

    #[test]
    fn writes_land_in_the_overlay_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.ovl");
        let size = 3 * DEFAULT_BLOCK_SIZE as usize + 1000;
        let (dev, mut shadow) = base(size);
        let ov = SparseOverlay::open(dev.clone(), &path, "base.raw").unwrap();
        let writes: [(usize, usize); 4] = [(10, 100), (65530, 20), (131072, 65536), (size - 5, 5)];
        for (i, (at, len)) in writes.into_iter().enumerate() {
            let b = vec![0xA0 + i as u8; len];
            ov.write_at(at as u64, &b).unwrap();
            shadow[at..at + len].copy_from_slice(&b);
        }
        ov.write_zeroes(70000, 100_000).unwrap();
        shadow[70000..170000].fill(0);
        let mut got = vec![0u8; size];
        ov.read_exact_at(0, &mut got).unwrap();
        assert_eq!(got, shadow);
        assert!(ov.write_at(size as u64 - 1, &[1, 2]).is_err());
        let ext = ov.extents(0, size as u64).unwrap();
        assert_eq!(ext.iter().map(|e| e.len).sum::<u64>(), size as u64);
        ov.flush().unwrap();
        drop(ov);
        let again = SparseOverlay::open(dev, &path, "base.raw").unwrap();
        let mut got = vec![0u8; size];
        again.read_exact_at(0, &mut got).unwrap();
        assert_eq!(got, shadow);
    }

    #[test]
    fn refuses_a_foreign_file_and_another_base() {
        let dir = tempfile::tempdir().unwrap();
        let other = dir.path().join("notes.txt");
        std::fs::write(&other, b"not an overlay").unwrap();
        let (dev, _) = base(100_000);
        let e = SparseOverlay::open(dev.clone(), &other, "b").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_eq!(std::fs::read(&other).unwrap(), b"not an overlay");
        let path = dir.path().join("o.ovl");
        drop(SparseOverlay::open(dev, &path, "b").unwrap());
        let (smaller, _) = base(50_000);
        assert!(SparseOverlay::open(smaller, &path, "b").is_err());
    }
}
