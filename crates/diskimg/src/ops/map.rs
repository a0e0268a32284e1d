//! `map`: the allocation of an image's guest device, as runs of data, zero and unallocated.
//!
//! The runs come from the device's `extents` (for qcow2, the L2 tables, falling through to the
//! backing chain), a window at a time, merged across windows, so that memory does not grow
//! with the image.

use crate::device::{DeviceRef, Extent};
use crate::error::Result;

/// Guest bytes asked for per call to `extents`.
const WINDOW: u64 = 1 << 30;

/// Calls `each` with every run of `device`, in order, merged.
pub fn map(device: &DeviceRef, mut each: impl FnMut(&Extent) -> Result<()>) -> Result<()> {
    let size = device.size();
    let mut pending: Option<Extent> = None;
    let mut pos = 0u64;
    while pos < size {
        let len = WINDOW.min(size - pos);
        for e in device.extents(pos, len)? {
            match &mut pending {
                Some(p) if p.kind == e.kind && p.offset + p.len == e.offset => p.len += e.len,
                _ => {
                    if let Some(p) = pending.replace(e) {
                        each(&p)?;
                    }
                }
            }
        }
        pos += len;
    }
    if let Some(p) = pending {
        each(&p)?;
    }
    Ok(())
}
