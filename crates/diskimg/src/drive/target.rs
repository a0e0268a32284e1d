//! Raw I/O on a drive (or a plain file standing in for one): writes that bypass the page
//! cache where the kernel allows (`O_DIRECT`, aligned buffers), zeroing ranges the cheap way
//! (`BLKZEROOUT` on a drive, punched holes in a file), durable syncs, and reads that come from
//! the medium rather than from cached pages.
//!
//! A drive is opened `O_EXCL` for writing: the kernel then refuses when anything has it
//! mounted or claimed, a last guard behind the checks in `sysfs.rs`.

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Alignment of buffers and of direct I/O offsets and lengths.
pub const ALIGN: usize = 4096;

// Block-device ioctls (linux/fs.h).
const BLKZEROOUT: libc::c_ulong = 0x127F;
const BLKSSZGET: libc::c_ulong = 0x1268;
const BLKFLSBUF: libc::c_ulong = 0x1261;

/// A heap buffer whose start is aligned to [`ALIGN`].
pub struct AlignedBuf {
    raw: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    /// `len` zero bytes, aligned.
    pub fn new(len: usize) -> Self {
        let raw = vec![0u8; len + ALIGN];
        let start = raw.as_ptr().align_offset(ALIGN);
        AlignedBuf { raw, start, len }
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.raw[self.start..self.start + self.len]
    }

    /// The bytes, writable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.raw[self.start..self.start + self.len]
    }
}

/// A drive or file opened for writing.
pub struct Target {
    /// Buffered descriptor; on a drive it holds the exclusive claim.
    file: File,
    /// `O_DIRECT` descriptor, where the kernel accepts one.
    direct: Option<File>,
    path: PathBuf,
    size: u64,
    block_device: bool,
    sector: usize,
}

impl Target {
    /// Opens `path` for writing: a drive exclusively, a file as it is (never created).
    pub fn open(path: &Path) -> Result<Target> {
        let io = |e: std::io::Error| Error::from(e).with_file(path);
        let meta = std::fs::metadata(path).map_err(io)?;
        let block_device = meta.file_type().is_block_device();
        let mut opts = OpenOptions::new();
        opts.read(true).write(true);
        if block_device {
            opts.custom_flags(libc::O_EXCL);
        }
        let file = opts.open(path).map_err(|e| {
            if e.raw_os_error() == Some(libc::EBUSY) {
                Error::invalid_input("refusing to write: the drive is busy (mounted or in use)")
                    .with_file(path)
            } else {
                io(e)
            }
        })?;
        let direct = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(path)
            .ok();
        let size = if block_device {
            use std::io::{Seek, SeekFrom};
            (&file).seek(SeekFrom::End(0)).map_err(io)?
        } else {
            meta.len()
        };
        let sector = if block_device {
            sector_size(&file).unwrap_or(512)
        } else {
            512
        };
        Ok(Target {
            file,
            direct,
            path: path.to_path_buf(),
            size,
            block_device,
            sector,
        })
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether writes bypass the page cache.
    pub fn is_direct(&self) -> bool {
        self.direct.is_some()
    }

    /// The target is a block device (not a file).
    pub fn is_block_device(&self) -> bool {
        self.block_device
    }

    fn err(&self, e: std::io::Error, offset: u64) -> Error {
        Error::from(e).with_offset(offset).with_file(&self.path)
    }

    /// Writes all of `buf` at `offset`: directly when offset and length are aligned to the
    /// sector size and the buffer to [`ALIGN`], else through the page cache.
    pub fn write_at(&self, offset: u64, buf: &[u8]) -> Result<()> {
        let aligned = buf.as_ptr().align_offset(ALIGN) == 0
            && offset % self.sector as u64 == 0
            && buf.len() % self.sector == 0;
        let f = match (&self.direct, aligned) {
            (Some(d), true) => d,
            _ => &self.file,
        };
        f.write_all_at(buf, offset).map_err(|e| self.err(e, offset))
    }

    /// Makes `[offset, offset + len)` read as zeros: `BLKZEROOUT` on a drive (the kernel picks
    /// the device's fastest way that guarantees zeros), a punched hole in a file, else written
    /// zeros.
    pub fn zero(&self, offset: u64, len: u64) -> Result<()> {
        if len == 0 {
            return Ok(());
        }
        let done = if self.block_device {
            offset % self.sector as u64 == 0 && len % self.sector as u64 == 0 && {
                let range: [u64; 2] = [offset, len];
                // SAFETY: BLKZEROOUT reads two u64s from the pointer, which lives on our stack.
                unsafe { libc::ioctl(self.file.as_raw_fd(), BLKZEROOUT, range.as_ptr()) == 0 }
            }
        } else {
            crate::overlay::punch_hole(&self.file, offset, len)
        };
        if done {
            return Ok(());
        }
        let zeros = AlignedBuf::new(len.min(4 << 20) as usize);
        let mut pos = offset;
        while pos < offset + len {
            let n = (offset + len - pos).min(zeros.len as u64) as usize;
            self.write_at(pos, &zeros.as_slice()[..n])?;
            pos += n as u64;
        }
        Ok(())
    }

    /// Makes everything written durable.
    pub fn sync(&self) -> Result<()> {
        if let Some(d) = &self.direct {
            d.sync_data().map_err(|e| self.err(e, 0))?;
        }
        self.file.sync_data().map_err(|e| self.err(e, 0))
    }
}

/// A drive or file opened for reading back what was written, past the page cache.
pub struct ReadBack {
    file: File,
    direct: Option<File>,
    path: PathBuf,
    sector: usize,
}

impl ReadBack {
    /// Opens `path` and drops its cached pages, so reads come from the medium.
    pub fn open(path: &Path) -> Result<ReadBack> {
        let file = File::open(path).map_err(|e| Error::from(e).with_file(path))?;
        let direct = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECT)
            .open(path)
            .ok();
        let block = file
            .metadata()
            .map(|m| m.file_type().is_block_device())
            .unwrap_or(false);
        if block {
            // SAFETY: BLKFLSBUF takes no argument; it flushes and drops the device's buffers.
            unsafe {
                libc::ioctl(file.as_raw_fd(), BLKFLSBUF, 0);
            }
        }
        // SAFETY: posix_fadvise on a descriptor we own; no memory is passed.
        unsafe {
            libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
        }
        let sector = if block {
            sector_size(&file).unwrap_or(512)
        } else {
            512
        };
        Ok(ReadBack {
            file,
            direct,
            path: path.to_path_buf(),
            sector,
        })
    }

    /// Whether reads bypass the page cache.
    pub fn is_direct(&self) -> bool {
        self.direct.is_some()
    }

    /// Logical sector size (512 for files).
    pub fn sector(&self) -> usize {
        self.sector
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        use std::io::{Seek, SeekFrom};
        (&self.file).seek(SeekFrom::End(0)).unwrap_or(0)
    }

    /// Reads exactly `buf.len()` bytes at `offset`.
    pub fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let aligned = buf.as_ptr().align_offset(ALIGN) == 0
            && offset % self.sector as u64 == 0
            && buf.len() % self.sector == 0;
        let f = match (&self.direct, aligned) {
            (Some(d), true) => d,
            _ => &self.file,
        };
        f.read_exact_at(buf, offset)
            .map_err(|e| Error::from(e).with_offset(offset).with_file(&self.path))
    }
}

fn sector_size(f: &File) -> Option<usize> {
    let mut v: libc::c_int = 0;
    // SAFETY: BLKSSZGET writes one int to the pointer, which lives on our stack.
    let r = unsafe { libc::ioctl(f.as_raw_fd(), BLKSSZGET, &mut v as *mut libc::c_int) };
    (r == 0 && v > 0).then_some(v as usize)
}
