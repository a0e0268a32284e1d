//! L1: containers, formats whose bytes encode another device (qcow2, VHD, VMDK, DMG, ...).
//!
//! Opening a container yields the device the guest sees; [`crate::image`] then probes that
//! device again, so a partitioned disk inside a VHDX is seen through every layer. A raw image
//! is not a container: its bytes are the device.

pub(crate) mod bytes;
pub mod chain;
pub(crate) mod mapped;
pub mod vdi;
pub mod vhd;
pub mod vhdx;
pub mod vmdk;

use crate::device::DeviceRef;
use std::path::PathBuf;

/// What an opener knows besides the bytes: where they came from (to find backing files,
/// extents and sidecars next to them) and how deep the nesting already is.
#[derive(Debug, Clone, Default)]
pub struct OpenContext {
    /// The host file the bytes come from, when there is one.
    pub path: Option<PathBuf>,
    /// Containers already opened above this one.
    pub depth: usize,
}

/// An opened container.
pub trait Container: Send + Sync {
    /// Format name (`qcow2`, `vhdx`, ...).
    fn format(&self) -> &'static str;

    /// The device the guest sees.
    fn device(&self) -> DeviceRef;

    /// Format-specific facts for `info` (virtual size, cluster size, backing chain, ...).
    fn details(&self) -> serde_json::Value;
}
