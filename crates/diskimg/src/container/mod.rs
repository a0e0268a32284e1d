//! L1: containers, formats whose bytes encode another device (qcow2, VHD, VMDK, DMG, ...).
//!
//! Opening a container yields the device the guest sees; [`crate::image`] then probes that
//! device again, so a partitioned disk inside a VHDX is seen through every layer. A raw image
//! is not a container: its bytes are the device (the `raw` descriptor exists so that raw can be
//! named as an output or a backing format).
//!
//! - [`open`]: opening an image file as a guest device, and backing files with bounded,
//!   loop-checked chains ([`open::open_backing`]).
//! - [`write`]: the writing side, the [`write::ImageWriter`] every writable format implements
//!   and the conversion pipeline drives.
//! - [`check`]: structural consistency reports (`diskimg check`).
//! - Formats: [`qcow2`], [`raw`], [`cso`] (CSO, ZSO, DAX compressed ISOs).

pub mod check;
pub mod cso;
pub mod dmg;
pub mod open;
pub mod password;
pub mod qcow2;
pub mod raw;
pub mod write;

pub(crate) mod bytes;
pub mod chain;
pub mod chd;
pub(crate) mod mapped;
pub mod vdi;
pub mod vhd;
pub mod vhdx;
pub mod vmdk;

use crate::device::DeviceRef;
use password::Password;
use serde::Serialize;
use std::path::PathBuf;

/// What an opener knows besides the bytes: where they came from (to find backing files,
/// extents and sidecars next to them) and how deep the nesting already is.
#[derive(Debug, Clone, Default)]
pub struct OpenContext {
    /// The host file the bytes come from, when there is one.
    pub path: Option<PathBuf>,
    /// Containers already opened above this one.
    pub depth: usize,
    /// Host files of the overlays above this image in a backing chain, nearest last
    /// (canonical paths): a backing file found among them is a loop.
    pub overlays: Vec<PathBuf>,
    /// The password of an encrypted image, when the user gave one.
    pub password: Option<Password>,
}

/// An opened container.
pub trait Container: Send + Sync {
    /// Format name (`qcow2`, `vhdx`, ...).
    fn format(&self) -> &'static str;

    /// The device the guest sees.
    fn device(&self) -> DeviceRef;

    /// Format-specific facts for `info` (virtual size, cluster size, backing chain, ...).
    fn details(&self) -> serde_json::Value;

    /// The backing file this image is an overlay of, if it has one.
    fn backing(&self) -> Option<&BackingInfo> {
        None
    }
}

/// The backing file of an overlay, as recorded and as found.
#[derive(Clone, Serialize)]
pub struct BackingInfo {
    /// The name recorded in the overlay.
    pub name: String,
    /// The format recorded in the overlay, if any.
    pub recorded_format: Option<String>,
    /// Where the name resolved to on the host.
    pub path: Option<PathBuf>,
    /// The backing image's format, once opened.
    pub format: Option<&'static str>,
    /// The backing image's guest device; `None` when it could not be opened (see `error`).
    #[serde(skip)]
    pub device: Option<DeviceRef>,
    /// Its own backing chain, nearest first.
    pub chain: Vec<ChainEntry>,
    /// Why it could not be opened.
    pub error: Option<String>,
}

/// One image of a backing chain, for reports.
#[derive(Debug, Clone, Serialize)]
pub struct ChainEntry {
    /// Host path.
    pub path: String,
    /// Format.
    pub format: &'static str,
    /// Virtual size in bytes.
    pub virtual_size: u64,
}

impl std::fmt::Debug for BackingInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackingInfo")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("format", &self.format)
            .field("error", &self.error)
            .finish()
    }
}
