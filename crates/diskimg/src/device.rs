//! L1 interface: a block device, the thing every layer opens and every container produces.
//!
//! A [`BlockDevice`] is a [`ReadAt`] that also knows its sector size and which of its ranges
//! hold data, read as zeros, or are not allocated at all ([`BlockDevice::extents`]). Sparse
//! conversion, writing to a drive, NBD block status and `diskimg map` are built on `extents`, so
//! nothing reads gigabytes of zeros to learn that they are zeros.

use crate::error::Result;
use crate::io::ReadAt;
use serde::Serialize;
use std::sync::Arc;

/// A shared, thread-safe device.
pub type DeviceRef = Arc<dyn BlockDevice>;

/// Sector size and other shape facts that travel with a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Geometry {
    /// Logical sector size in bytes (512, 2048 for optical, 4096 for 4Kn disks).
    pub sector_size: u32,
}

impl Default for Geometry {
    fn default() -> Self {
        Geometry { sector_size: 512 }
    }
}

/// What a range of a device holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExtentKind {
    /// Stored bytes (which may still happen to be zero).
    Data,
    /// Known to read as zeros (a hole in a raw file, a zero cluster).
    Zero,
    /// Not allocated in this layer: reads as zeros, or falls through to a backing image.
    Unallocated,
}

/// A run of a device with one [`ExtentKind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Extent {
    /// First byte.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// What the run holds.
    pub kind: ExtentKind,
}

/// A readable device: bytes plus geometry and allocation status.
pub trait BlockDevice: ReadAt {
    /// Sector size and shape.
    fn geometry(&self) -> Geometry {
        Geometry::default()
    }

    /// The runs covering `[offset, offset + len)` (clamped to the device), in order, without
    /// gaps. The default says everything is data.
    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        let len = len.min(self.size().saturating_sub(offset));
        Ok(if len == 0 {
            Vec::new()
        } else {
            vec![Extent {
                offset,
                len,
                kind: ExtentKind::Data,
            }]
        })
    }
}

impl<T: BlockDevice + ?Sized> BlockDevice for Arc<T> {
    fn geometry(&self) -> Geometry {
        (**self).geometry()
    }
    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        (**self).extents(offset, len)
    }
}

impl<T: BlockDevice + ?Sized> BlockDevice for &T {
    fn geometry(&self) -> Geometry {
        (**self).geometry()
    }
    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        (**self).extents(offset, len)
    }
}
