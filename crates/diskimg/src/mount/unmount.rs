//! Unmounting a FUSE mount (`diskimg umount`), as `fusermount3 -u` does.

use crate::error::{Error, ErrorKind, Result};
use std::path::Path;
use std::process::Command;

/// Unmounts the FUSE file system mounted on `mountpoint`: through `fusermount3 -u` (or
/// `fusermount -u`), which works for the user who mounted it; as root, through umount(2)
/// when neither helper is installed.
pub fn unmount(mountpoint: &Path) -> Result<()> {
    let mut last = None;
    for helper in ["fusermount3", "fusermount"] {
        match Command::new(helper).arg("-u").arg(mountpoint).output() {
            Ok(out) if out.status.success() => return Ok(()),
            Ok(out) => {
                last = Some(String::from_utf8_lossy(&out.stderr).trim().to_owned());
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::from(e).with_file(mountpoint)),
        }
    }
    if last.is_none() {
        return umount_syscall(mountpoint);
    }
    Err(Error::new(
        ErrorKind::InvalidInput,
        last.filter(|m| !m.is_empty())
            .unwrap_or_else(|| "cannot unmount".to_owned()),
    )
    .with_file(mountpoint))
}

#[cfg(target_os = "linux")]
fn umount_syscall(mountpoint: &Path) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(mountpoint.as_os_str().as_bytes())
        .map_err(|_| Error::invalid_input("mount point contains a NUL byte"))?;
    // SAFETY: umount2 with a valid NUL-terminated path.
    let r = unsafe { libc::umount2(c.as_ptr(), 0) };
    if r == 0 {
        Ok(())
    } else {
        Err(Error::from(std::io::Error::last_os_error()).with_file(mountpoint))
    }
}

#[cfg(not(target_os = "linux"))]
fn umount_syscall(mountpoint: &Path) -> Result<()> {
    Err(Error::unsupported("fuse", "no fusermount helper found").with_file(mountpoint))
}
