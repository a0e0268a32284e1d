//! Finding a child CHD's parent: a CHD records only its parent's SHA-1, so the parent is the
//! `.chd` file beside the child whose header carries that SHA-1 (at most [`MAX_DIR_SCAN`]
//! directory entries looked at; chains bounded and loops refused by [`crate::container::chain::enter`]).

use super::FORMAT;
use super::device::{ChdDevice, Parent};
use super::header::ChdHeader;
use crate::container::OpenContext;
use crate::container::chain::enter;
use crate::device::DeviceRef;
use crate::error::{Error, ErrorKind, Result, ResultExt};
use crate::io::FileSource;
use std::path::Path;
use std::sync::Arc;

/// Most directory entries looked at when searching for a parent.
pub const MAX_DIR_SCAN: usize = 4096;

/// Opens the CHD in `file` (opened from `ctx.path`) and its parents.
pub(crate) fn open_with_chain(file: DeviceRef, ctx: &OpenContext) -> Result<Arc<ChdDevice>> {
    let file: Arc<dyn crate::io::ReadAt> = Arc::new(file);
    let find = |h: &ChdHeader| find_parent(h, ctx);
    Ok(Arc::new(ChdDevice::open(file, &find)?))
}

fn find_parent(h: &ChdHeader, ctx: &OpenContext) -> Result<Parent> {
    let want: String = h.parent_sha1.iter().map(|b| format!("{b:02x}")).collect();
    let Some(child) = ctx.path.as_deref() else {
        return Err(Error::unsupported(
            FORMAT,
            format!(
                "child CHD inside another image: its parent (SHA-1 {want}) cannot be looked up"
            ),
        ));
    };
    let dir = child
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let entries = std::fs::read_dir(dir).map_err(Error::from).in_file(dir)?;
    let mut looked = 0usize;
    for e in entries.take(MAX_DIR_SCAN) {
        let Ok(e) = e else { continue };
        let path = e.path();
        let is_chd = path
            .extension()
            .is_some_and(|x| x.eq_ignore_ascii_case("chd"));
        let own = std::fs::canonicalize(&path).ok() == std::fs::canonicalize(child).ok();
        if !is_chd || !path.is_file() || own {
            continue;
        }
        looked += 1;
        let Ok(src) = FileSource::open(&path) else {
            continue;
        };
        let Ok(ph) = ChdHeader::read(&src) else {
            continue;
        };
        if ph.sha1 != h.parent_sha1 {
            continue;
        }
        let sub = enter(ctx, &path)?;
        let device = open_with_chain(Arc::new(src), &sub).in_file(&path)?;
        return Ok(Parent { path, device });
    }
    Err(Error::new(
        ErrorKind::NotFound,
        format!(
            "parent CHD with SHA-1 {want} not found: none of the {looked} other .chd files in {} has that SHA-1",
            dir.display()
        ),
    )
    .with_format(FORMAT))
}
