//! Structural consistency reports: what `diskimg check` prints.
//!
//! A format that can be checked registers a check function in its
//! [`FormatDescriptor`](crate::format::FormatDescriptor) (`check`). It reads the image's
//! metadata, never its data, and reports three classes of finding, as `qemu-img check` does:
//! corruptions (the image reads wrongly or could lose data if written), leaks (space allocated
//! that nothing uses: harmless but wasteful) and warnings.

use crate::container::OpenContext;
use crate::device::DeviceRef;
use crate::error::Result;
use serde::Serialize;

/// A format's check function: the image file's bytes and where they came from.
pub type CheckFn = fn(DeviceRef, &OpenContext) -> Result<CheckReport>;

/// What a check found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckReport {
    /// Format checked.
    pub format: &'static str,
    /// Corruptions: structures that contradict each other or the file.
    pub corruptions: Vec<String>,
    /// Leaks: allocated space that nothing refers to.
    pub leaks: Vec<String>,
    /// Leaked units (clusters) in total, when the format counts them.
    pub leaked_clusters: u64,
    /// Findings that are neither (dirty flags, unusual but valid layouts).
    pub warnings: Vec<String>,
    /// Format-specific facts (allocated clusters, image end offset, ...).
    pub details: serde_json::Value,
}

/// Most findings of one class listed one by one; the rest are counted.
pub const MAX_LISTED: usize = 100;

impl CheckReport {
    /// No corruption and no leak.
    pub fn is_clean(&self) -> bool {
        self.corruptions.is_empty() && self.leaks.is_empty()
    }

    /// Records a corruption (listing at most [`MAX_LISTED`]).
    pub fn corrupt(&mut self, what: impl FnOnce() -> String) {
        push(&mut self.corruptions, what);
    }

    /// Records a leak (listing at most [`MAX_LISTED`]).
    pub fn leak(&mut self, what: impl FnOnce() -> String) {
        self.leaked_clusters += 1;
        push(&mut self.leaks, what);
    }
}

fn push(list: &mut Vec<String>, what: impl FnOnce() -> String) {
    if list.len() < MAX_LISTED {
        list.push(what());
    } else if list.len() == MAX_LISTED {
        list.push("... (further findings not listed)".to_owned());
    }
}
