//! Writable devices for front-ends that accept writes (the NBD server): a copy-on-write
//! overlay over any read-only device, a raw host file written in place, and memory.
//!
//! ```text
//!   BlockDevice (read, extents)
//!     └─ WritableDevice (write_at, write_zeroes, discard, flush)
//!          ├─ SparseOverlay   base device + overlay file: changed blocks only, the base untouched
//!          ├─ RawFile         a raw image file written in place (asked for explicitly)
//!          └─ MemoryDevice    bytes in memory (tests, fuzzing)
//! ```
//!
//! Writes take `&self` like reads, so one device serves many connections. Once the
//! container-writer interface (`io::WriteAt`, `container::write`) lands, a qcow2 file with the
//! image as its backing file becomes one more overlay: an adapter implementing
//! [`WritableDevice`] over a qcow2 writer opened for in-place updates. Nothing else changes.

mod memory;
mod raw;
mod sparse;

pub use memory::MemoryDevice;
pub use raw::RawFile;
pub(crate) use sparse::punch_hole;
pub use sparse::{DEFAULT_BLOCK_SIZE, MAX_BLOCKS, SparseOverlay};

use crate::device::BlockDevice;
use crate::error::Result;
use std::sync::Arc;

/// A device that can also be written: positioned writes on `&self`.
pub trait WritableDevice: BlockDevice {
    /// Writes all of `buf` at `offset`; the range must lie inside the device.
    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<()>;

    /// Makes `[offset, offset + len)` read as zeros, without storing zeros where it can.
    fn write_zeroes(&self, offset: u64, len: u64) -> Result<()>;

    /// The client no longer needs `[offset, offset + len)`. Afterwards the range reads as
    /// zeros here (NBD allows any content; zeros are the least surprising).
    fn discard(&self, offset: u64, len: u64) -> Result<()> {
        self.write_zeroes(offset, len)
    }

    /// Makes every completed write durable.
    fn flush(&self) -> Result<()>;
}

/// A shared writable device.
pub type WritableRef = Arc<dyn WritableDevice>;

/// Checks that `[offset, offset + len)` lies inside a device of `size` bytes.
pub(crate) fn check_range(offset: u64, len: u64, size: u64) -> Result<()> {
    match offset.checked_add(len) {
        Some(end) if end <= size => Ok(()),
        _ => Err(crate::error::Error::new(
            crate::ErrorKind::NoSpace,
            format!("write of {len} bytes at byte {offset} runs past the end ({size} bytes)"),
        )
        .with_offset(offset)),
    }
}
