//! Finding the data files a descriptor names (a cue sheet's `FILE`, an MDS's `.mdf`).
//!
//! Names are looked up beside the descriptor. A name with directories keeps them when they
//! stay below the descriptor's folder; an absolute name or one that climbs out with `..`
//! is reduced to its last component. When the exact name is missing, a name differing only in
//! case is accepted (cue sheets written on Windows often say `GAME.BIN` for `game.bin`).

use super::disc::DataFile;
use crate::container::OpenContext;
use crate::error::{Error, ErrorKind, Result};
use crate::io::{FileSource, ReadAt, clamp_len};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// Opens the data files a disc descriptor names.
pub trait Resolver {
    /// The file named `name` in the descriptor.
    fn open(&self, name: &str) -> Result<DataFile>;
    /// The descriptor's own path, if it has one (for `*.mdf` style names).
    fn descriptor(&self) -> Option<&Path> {
        None
    }
}

/// Files beside a descriptor on the host.
pub struct HostFiles {
    descriptor: PathBuf,
}

/// A resolver for a descriptor opened from `ctx`: files beside it, or none when the bytes did
/// not come from a host file.
pub fn resolver(ctx: &OpenContext) -> Box<dyn Resolver> {
    match &ctx.path {
        Some(p) => Box::new(HostFiles {
            descriptor: p.clone(),
        }),
        None => Box::new(NoFiles),
    }
}

impl Resolver for HostFiles {
    fn open(&self, name: &str) -> Result<DataFile> {
        let dir = match self.descriptor.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = name.replace('\\', "/");
        let rel = safe_relative(Path::new(&name));
        let path = dir.join(&rel);
        let found = if path.is_file() {
            Some(path.clone())
        } else {
            case_insensitive(&dir, &rel)
        };
        let Some(found) = found else {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "data file \"{name}\" not found (looked for {})",
                    path.display()
                ),
            )
            .with_file(&self.descriptor));
        };
        let source = FileSource::open(&found)?;
        Ok(DataFile {
            path: found,
            source: Arc::new(source),
        })
    }

    fn descriptor(&self) -> Option<&Path> {
        Some(&self.descriptor)
    }
}

/// `name` if it stays below its base folder, else its file name.
fn safe_relative(name: &Path) -> PathBuf {
    let mut depth = 0i32;
    let mut ok = !name.is_absolute();
    for c in name.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            _ => {
                depth -= 1;
                if depth < 0 || !matches!(c, Component::ParentDir) {
                    ok = false;
                }
            }
        }
    }
    if ok {
        name.to_path_buf()
    } else {
        PathBuf::from(name.file_name().unwrap_or_default())
    }
}

fn case_insensitive(dir: &Path, rel: &Path) -> Option<PathBuf> {
    let want = rel.file_name()?.to_string_lossy().to_lowercase();
    let folder = dir.join(rel.parent().unwrap_or(Path::new("")));
    std::fs::read_dir(folder)
        .ok()?
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().to_lowercase() == want && e.path().is_file())
        .map(|e| e.path())
}

/// No files: the descriptor came from memory.
pub struct NoFiles;

impl Resolver for NoFiles {
    fn open(&self, name: &str) -> Result<DataFile> {
        Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "the image names data file \"{name}\"; open it from a file so that its data files can be found"
            ),
        ))
    }
}

/// Any name opens as `size` zero bytes: for fuzzing descriptor parsers without files.
pub struct ZeroFiles(pub u64);

impl Resolver for ZeroFiles {
    fn open(&self, name: &str) -> Result<DataFile> {
        Ok(DataFile {
            path: PathBuf::from(name),
            source: Arc::new(Zeros(self.0)),
        })
    }
}

/// `n` zero bytes, without storing them.
#[derive(Debug, Clone, Copy)]
pub struct Zeros(pub u64);

impl ReadAt for Zeros {
    fn size(&self) -> u64 {
        self.0
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let n = clamp_len(offset, buf.len(), self.0);
        buf[..n].fill(0);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_below_the_descriptor() {
        assert_eq!(
            safe_relative(Path::new("a/b.bin")),
            PathBuf::from("a/b.bin")
        );
        assert_eq!(safe_relative(Path::new("../b.bin")), PathBuf::from("b.bin"));
        assert_eq!(
            safe_relative(Path::new("/etc/passwd")),
            PathBuf::from("passwd")
        );
        assert_eq!(
            safe_relative(Path::new("a/../b.bin")),
            PathBuf::from("a/../b.bin")
        );
    }

    #[test]
    fn finds_files_ignoring_case() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("game.bin"), b"x").unwrap();
        let r = HostFiles {
            descriptor: dir.path().join("game.cue"),
        };
        assert!(r.open("GAME.BIN").is_ok());
        let e = r.open("other.bin").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(e.to_string().contains("other.bin"), "{e}");
    }
}
