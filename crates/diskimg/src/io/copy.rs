//! Copying byte ranges between host files, in the kernel where it can.

use std::fs::File;
use std::io;

/// Copies `len` bytes from `src` at `src_offset` to `dst` at `dst_offset`. Uses
/// `copy_file_range` on Linux (no user-space buffer, reflinks where the file system offers
/// them) and falls back to positioned reads and writes through `buf`.
pub fn copy_range(
    src: &File,
    src_offset: u64,
    dst: &File,
    dst_offset: u64,
    len: u64,
    buf: &mut Vec<u8>,
) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    let done = kernel_copy(src, src_offset, dst, dst_offset, len)?;
    #[cfg(not(target_os = "linux"))]
    let done = 0u64;
    if done < len {
        buffered_copy(
            src,
            src_offset + done,
            dst,
            dst_offset + done,
            len - done,
            buf,
        )?;
    }
    Ok(())
}

/// Copies as much as `copy_file_range` will; returns how much it copied (0 if unavailable).
#[cfg(target_os = "linux")]
fn kernel_copy(
    src: &File,
    src_offset: u64,
    dst: &File,
    dst_offset: u64,
    len: u64,
) -> io::Result<u64> {
    use std::os::fd::AsRawFd;
    let mut off_in = libc::loff_t::try_from(src_offset).map_err(io::Error::other)?;
    let mut off_out = libc::loff_t::try_from(dst_offset).map_err(io::Error::other)?;
    let mut done = 0u64;
    while done < len {
        let chunk = usize::try_from(len - done)
            .unwrap_or(usize::MAX)
            .min(1 << 30);
        // SAFETY: both descriptors are open files we borrow for the call; the offsets are
        // local variables the kernel updates; no memory of ours is read or written otherwise.
        let r = unsafe {
            libc::copy_file_range(
                src.as_raw_fd(),
                &mut off_in,
                dst.as_raw_fd(),
                &mut off_out,
                chunk,
                0,
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(
                    libc::ENOSYS | libc::EXDEV | libc::EINVAL | libc::EOPNOTSUPP | libc::EPERM,
                ) => Ok(done),
                _ => Err(e),
            };
        }
        if r == 0 {
            return Ok(done); // source ended early; the buffered copy reports it
        }
        done += r as u64;
    }
    Ok(done)
}

fn buffered_copy(
    src: &File,
    mut src_offset: u64,
    dst: &File,
    mut dst_offset: u64,
    mut len: u64,
    buf: &mut Vec<u8>,
) -> io::Result<()> {
    if buf.len() < 1 << 20 {
        buf.resize(1 << 20, 0);
    }
    while len > 0 {
        let n = usize::try_from(len).unwrap_or(usize::MAX).min(buf.len());
        read_exact_at(src, &mut buf[..n], src_offset)?;
        write_all_at(dst, &buf[..n], dst_offset)?;
        src_offset += n as u64;
        dst_offset += n as u64;
        len -= n as u64;
    }
    Ok(())
}

/// Positioned read of exactly `buf.len()` bytes.
pub fn read_exact_at(f: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(f, buf, offset)
    }
    #[cfg(windows)]
    {
        let mut done = 0;
        while done < buf.len() {
            let n = std::os::windows::fs::FileExt::seek_read(
                f,
                &mut buf[done..],
                offset + done as u64,
            )?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            done += n;
        }
        Ok(())
    }
}

/// Positioned write of all of `buf`.
pub fn write_all_at(f: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::write_all_at(f, buf, offset)
    }
    #[cfg(windows)]
    {
        let mut done = 0;
        while done < buf.len() {
            let n =
                std::os::windows::fs::FileExt::seek_write(f, &buf[done..], offset + done as u64)?;
            done += n;
        }
        Ok(())
    }
}
