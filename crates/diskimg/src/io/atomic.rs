//! Outputs that appear under their final name only when complete.
//!
//! An [`AtomicFile`] is written nameless (Linux `O_TMPFILE`) or under a hidden temporary name
//! beside the target, and only [`commit`](AtomicFile::commit) gives it the final name (a link or
//! a rename, each atomic). If the work fails or the value is dropped without a commit, nothing
//! remains: a failure never leaves a half-written file under the final name.
//!
//! An image made of several files (a VMDK descriptor and its extents) is committed as a set
//! with [`commit_together`]: every file first gets a hidden name beside its target (a step
//! that can fail without leaving anything behind), then each is renamed into place, the main
//! file last, so the descriptor that names the others appears only when they are all there.
//! If a rename fails half-way, the files of the set already renamed are removed again: a
//! failed set leaves none of its files under their final names.

use crate::error::{Error, ErrorKind, Result, ResultExt};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A file being written, not yet under its final name.
#[derive(Debug)]
pub struct AtomicFile {
    file: Option<File>,
    /// The hidden temporary name, or `None` for a nameless file.
    temp: Option<PathBuf>,
    target: PathBuf,
    replace: bool,
}

impl AtomicFile {
    /// Starts writing `target`. With `replace` false, fails if `target` exists.
    pub fn create(target: impl AsRef<Path>, replace: bool) -> Result<Self> {
        let target = target.as_ref().to_path_buf();
        if !replace && target.symlink_metadata().is_ok() {
            return Err(
                Error::new(ErrorKind::AlreadyExists, "not replaced without --overwrite")
                    .with_file(&target),
            );
        }
        let dir = target_dir(&target);
        if let Some(file) = nameless::create(&dir) {
            return Ok(AtomicFile {
                file: Some(file),
                temp: None,
                target,
                replace,
            });
        }
        let temp = temp_name(&dir);
        let file = OpenOptions::new()
            .write(true)
            .read(true)
            .create_new(true)
            .open(&temp)
            .map_err(Error::from)
            .in_file(&temp)?;
        Ok(AtomicFile {
            file: Some(file),
            temp: Some(temp),
            target,
            replace,
        })
    }

    /// The open file.
    pub fn file(&self) -> &File {
        self.file.as_ref().expect("the file is open until commit")
    }

    /// The final path.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Gives a nameless file a hidden temporary name beside its target (a no-op for a file
    /// that has one), so that only a rename is left to do.
    fn stage(&mut self) -> Result<()> {
        if self.temp.is_some() {
            return Ok(());
        }
        let file = self.file.as_ref().ok_or_else(|| {
            Error::new(ErrorKind::Io, "a released file has a temporary name")
                .with_file(&self.target)
        })?;
        let temp = temp_name(&target_dir(&self.target));
        nameless::link(file, &temp)
            .map_err(Error::from)
            .in_file(&temp)?;
        self.temp = Some(temp);
        Ok(())
    }

    /// Gives the file a hidden name and closes it, so that an output of many files does not
    /// hold a descriptor for each until the end; [`commit_together`] renames it later.
    pub fn release(&mut self) -> Result<()> {
        self.stage()?;
        drop(self.file.take());
        Ok(())
    }

    /// Bytes written so far.
    pub fn written_len(&self) -> Result<u64> {
        let meta = match (&self.file, &self.temp) {
            (Some(f), _) => f.metadata(),
            (None, Some(t)) => std::fs::metadata(t),
            (None, None) => return Ok(0),
        };
        meta.map(|m| m.len())
            .map_err(Error::from)
            .in_file(&self.target)
    }

    /// Renames the staged file into place; returns the final name.
    fn rename_into_place(mut self) -> Result<PathBuf> {
        drop(self.file.take());
        let temp = self
            .temp
            .take()
            .expect("a staged file has a temporary name");
        if !self.replace && self.target.symlink_metadata().is_ok() {
            let _ = std::fs::remove_file(&temp);
            return Err(
                Error::new(ErrorKind::AlreadyExists, "output exists").with_file(&self.target)
            );
        }
        std::fs::rename(&temp, &self.target).map_err(|e| {
            let _ = std::fs::remove_file(&temp);
            Error::from(e).with_file(&self.target)
        })?;
        Ok(std::mem::take(&mut self.target))
    }

    /// Gives the finished file its final name.
    pub fn commit(mut self) -> Result<()> {
        let file = self.file.take().expect("the file is open until commit");
        if self.temp.is_none() {
            match nameless::link(&file, &self.target) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && self.replace => {
                    // Name it beside the target, then rename over the old file.
                    let dir = self
                        .target
                        .parent()
                        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
                    let temp = temp_name(&dir);
                    nameless::link(&file, &temp)
                        .map_err(Error::from)
                        .in_file(&temp)?;
                    self.temp = Some(temp);
                }
                Err(e) => return Err(Error::from(e).with_file(&self.target)),
            }
        }
        drop(file);
        let temp = self.temp.take().expect("a named temporary file");
        std::fs::rename(&temp, &self.target).map_err(|e| {
            let _ = std::fs::remove_file(&temp);
            Error::from(e).with_file(&self.target)
        })
    }
}

/// Commits several files as one output: all are staged under hidden names first (nothing
/// appears if that fails), then renamed into place in the order given, so the last file (the
/// one that names the others) appears last. If a rename fails in that second step, the files
/// of the set renamed before it are removed (the files not yet renamed are dropped, which
/// removes them): nothing of the set stays under a final name. A file the set replaced is
/// gone either way.
pub fn commit_together(files: Vec<AtomicFile>) -> Result<()> {
    let mut files = files;
    for f in &mut files {
        f.stage()?;
    }
    let mut placed: Vec<PathBuf> = Vec::with_capacity(files.len());
    for f in files {
        match f.rename_into_place() {
            Ok(target) => placed.push(target),
            Err(e) => {
                for p in placed {
                    let _ = std::fs::remove_file(p);
                }
                return Err(e);
            }
        }
    }
    Ok(())
}

fn target_dir(target: &Path) -> PathBuf {
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn temp_name(dir: &Path) -> PathBuf {
    static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let pid = *PID.get_or_init(std::process::id);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".diskimg-{pid}-{n}.part"))
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        drop(self.file.take());
        if let Some(temp) = self.temp.take() {
            let _ = std::fs::remove_file(temp);
        }
    }
}

#[cfg(target_os = "linux")]
mod nameless {
    //! `O_TMPFILE` files, named at the end with `linkat` through `/proc/self/fd`.
    use std::ffi::CString;
    use std::fs::File;
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::OpenOptionsExt;
    use std::path::Path;

    /// A nameless file in `dir`, where the system supports them.
    pub(super) fn create(dir: &Path) -> Option<File> {
        static PROC: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        if !*PROC.get_or_init(|| Path::new("/proc/self/fd").is_dir()) {
            return None;
        }
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_TMPFILE)
            .mode(0o666)
            .open(dir)
            .ok()
    }

    /// Gives a nameless file the name `to`; fails with `AlreadyExists` if it is taken.
    pub(super) fn link(file: &File, to: &Path) -> std::io::Result<()> {
        let from = CString::new(format!("/proc/self/fd/{}", file.as_raw_fd()))?;
        let to = CString::new(to.as_os_str().as_bytes())?;
        // SAFETY: both arguments are valid NUL-terminated strings that outlive the call; the
        // descriptor named by `from` is open (we hold `file`).
        let r = unsafe {
            libc::linkat(
                libc::AT_FDCWD,
                from.as_ptr(),
                libc::AT_FDCWD,
                to.as_ptr(),
                libc::AT_SYMLINK_FOLLOW,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod nameless {
    use std::fs::File;
    use std::path::Path;

    pub(super) fn create(_dir: &Path) -> Option<File> {
        None
    }

    pub(super) fn link(_file: &File, _to: &Path) -> std::io::Result<()> {
        Err(std::io::ErrorKind::Unsupported.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn appears_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.img");
        let a = AtomicFile::create(&target, false).unwrap();
        a.file().write_all(b"half").unwrap();
        assert!(!target.exists());
        drop(a);
        assert!(!target.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let b = AtomicFile::create(&target, false).unwrap();
        b.file().write_all(b"whole").unwrap();
        b.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"whole");
        assert!(AtomicFile::create(&target, false).is_err());
        let c = AtomicFile::create(&target, true).unwrap();
        c.file().write_all(b"again").unwrap();
        c.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"again");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_set_appears_together() {
        let dir = tempfile::tempdir().unwrap();
        let names = ["d-s001.vmdk", "d-s002.vmdk", "d.vmdk"];
        let files: Vec<AtomicFile> = names
            .iter()
            .map(|n| {
                let f = AtomicFile::create(dir.path().join(n), true).unwrap();
                f.file().write_all(n.as_bytes()).unwrap();
                f
            })
            .collect();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        commit_together(files).unwrap();
        for n in names {
            assert_eq!(std::fs::read(dir.path().join(n)).unwrap(), n.as_bytes());
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
        // A rename that fails half-way (the second target is a folder): the first file,
        // already renamed, is removed again, and the third never appears.
        let failing = tempfile::tempdir().unwrap();
        std::fs::create_dir(failing.path().join("b")).unwrap();
        std::fs::write(failing.path().join("b/inside"), b"x").unwrap();
        let files: Vec<AtomicFile> = ["a", "b", "c"]
            .iter()
            .map(|n| AtomicFile::create(failing.path().join(n), true).unwrap())
            .collect();
        assert!(commit_together(files).is_err());
        let left: Vec<_> = std::fs::read_dir(failing.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["b"]);
        // Dropped before the commit: nothing at all.
        let other = tempfile::tempdir().unwrap();
        let a = AtomicFile::create(other.path().join("a"), true).unwrap();
        let b = AtomicFile::create(other.path().join("b"), true).unwrap();
        drop((a, b));
        assert_eq!(std::fs::read_dir(other.path()).unwrap().count(), 0);
    }
}
