//! `check`: structural consistency of an image, through its format's check hook.

use crate::container::OpenContext;
use crate::container::check::CheckReport;
use crate::container::open::probe_container;
use crate::device::DeviceRef;
use crate::error::{Error, ErrorKind, Result, ResultExt};
use crate::format::by_name;
use crate::io::FileSource;
use std::path::Path;
use std::sync::Arc;

/// Checks the image at `path` (format probed unless given).
pub fn check_file(path: &Path, format: Option<&str>) -> Result<CheckReport> {
    let file: DeviceRef = Arc::new(FileSource::open(path)?);
    let desc = match format {
        Some(f) => {
            Some(by_name(f).ok_or_else(|| Error::invalid_input(format!("unknown format '{f}'")))?)
        }
        None => probe_container(&file).in_file(path)?,
    };
    let Some(desc) = desc else {
        return Err(Error::new(
            ErrorKind::Unsupported,
            "a raw image has no structure to check",
        )
        .with_file(path));
    };
    let check = desc.check.ok_or_else(|| {
        Error::unsupported(desc.name, "diskimg cannot check this format yet").with_file(path)
    })?;
    let ctx = OpenContext {
        path: Some(path.to_path_buf()),
        ..OpenContext::default()
    };
    check(file, &ctx).in_file(path)
}
