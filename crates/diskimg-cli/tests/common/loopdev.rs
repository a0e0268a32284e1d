//! Loop devices (losetup) for the drive tests: they need root, and skip without it unless
//! DISKIMG_REQUIRE_FIXTURES=1.

use super::{run, strict, tool};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A loop device over a file, detached on drop.
pub struct Loop {
    /// The device (`/dev/loopN`).
    pub dev: PathBuf,
    /// The file behind it.
    pub file: PathBuf,
}

impl Loop {
    /// Attaches `file`, or `None` (with a message) when losetup fails.
    pub fn new(file: &Path) -> Option<Loop> {
        let out = run(Command::new("losetup").args(["--find", "--show"]).arg(file));
        if !out.status.success() {
            let msg = format!(
                "losetup failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            assert!(!strict(), "{msg}");
            eprintln!("skipped: {msg}");
            return None;
        }
        Some(Loop {
            dev: PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()),
            file: file.to_path_buf(),
        })
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.dev).output();
    }
}

/// Whether loop devices can be made here (root, losetup).
pub fn ready() -> bool {
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    if !root {
        let msg = "not root: loop devices cannot be made";
        assert!(!strict(), "{msg}");
        eprintln!("skipped: {msg}");
        return false;
    }
    tool("losetup").is_some()
}
