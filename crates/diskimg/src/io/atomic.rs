//! Outputs that appear under their final name only when complete.
//!
//! An [`AtomicFile`] writes to a hidden temporary file beside the target and renames it over
//! the target in [`commit`](AtomicFile::commit). If the work fails or the value is dropped
//! without a commit, the temporary file is removed: a failure never leaves a half-written
//! file under the final name.

use crate::error::{Error, ErrorKind, Result, ResultExt};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A file being written under a temporary name.
#[derive(Debug)]
pub struct AtomicFile {
    file: Option<File>,
    temp: PathBuf,
    target: PathBuf,
}

impl AtomicFile {
    /// Starts writing `target`. With `replace` false, fails if `target` exists.
    pub fn create(target: impl AsRef<Path>, replace: bool) -> Result<Self> {
        let target = target.as_ref().to_path_buf();
        if !replace && target.symlink_metadata().is_ok() {
            return Err(Error::new(ErrorKind::AlreadyExists, "output exists").with_file(&target));
        }
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = dir.join(format!(".diskimg-{}-{n}.part", std::process::id()));
        let file = OpenOptions::new()
            .write(true)
            .read(true)
            .create_new(true)
            .open(&temp)
            .map_err(Error::from)
            .in_file(&temp)?;
        Ok(AtomicFile {
            file: Some(file),
            temp,
            target,
        })
    }

    /// The open temporary file.
    pub fn file(&self) -> &File {
        self.file.as_ref().expect("the file is open until commit")
    }

    /// The final path.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Renames the finished file to its final name.
    pub fn commit(mut self) -> Result<()> {
        drop(self.file.take());
        std::fs::rename(&self.temp, &self.target)
            .map_err(Error::from)
            .in_file(&self.target)?;
        self.temp = PathBuf::new();
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.temp.as_os_str().is_empty() {
            drop(self.file.take());
            let _ = std::fs::remove_file(&self.temp);
        }
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
        assert!(AtomicFile::create(&target, true).is_ok());
    }
}
