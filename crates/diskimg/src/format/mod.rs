//! The format registry: every format is a [`FormatDescriptor`], data rather than code paths.
//!
//! A descriptor names the format, its usual extensions, a content probe that scores how sure
//! it is ([`Confidence`]), the opener for its layer, and where they exist the hooks that create
//! images ([`CreateHook`]) and check them ([`CheckFn`]). Detection is by content, never by
//! extension alone; [`crate::image`] probes every descriptor at each level of nesting. The
//! extension only chooses the output format of `convert` and `create` when none is named.

mod registry;

pub use registry::formats;

use crate::container::check::CheckFn;
use crate::container::write::CreateHook;
use crate::container::{Container, OpenContext};
use crate::device::{BlockDevice, DeviceRef};
use crate::error::Result;
use crate::fs::FsVolume;
use crate::optical::Disc;
use crate::partition::PartitionTable;

/// Bytes read from the start of a device before probing.
pub const HEAD_LEN: usize = 64 * 1024;

/// How sure a probe is, from 0 (not this format) to 100 (certain).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Confidence(pub u8);

impl Confidence {
    /// Not this format.
    pub const NONE: Confidence = Confidence(0);
    /// A weak sign, such as a magic number that other formats may also carry.
    pub const WEAK: Confidence = Confidence(20);
    /// Probably this format.
    pub const LIKELY: Confidence = Confidence(60);
    /// A checked signature; certainly this format.
    pub const CERTAIN: Confidence = Confidence(100);

    /// Whether the probe matched at all.
    pub fn matched(self) -> bool {
        self.0 > 0
    }
}

/// What a probe sees: the first [`HEAD_LEN`] bytes and the device, for probes that must look
/// further (a footer, a descriptor at 512 KiB).
pub struct ProbeInput<'a> {
    /// The first bytes (fewer if the device is smaller).
    pub head: &'a [u8],
    /// The whole device.
    pub device: &'a dyn BlockDevice,
}

/// How a format opens, by layer.
#[derive(Clone, Copy)]
pub enum Opener {
    /// A container: its bytes encode another device (qcow2, VHD, ...).
    Container(fn(DeviceRef, &OpenContext) -> Result<Box<dyn Container>>),
    /// A partition table.
    PartitionTable(fn(&DeviceRef) -> Result<Box<dyn PartitionTable>>),
    /// A volume holding one or more file-system views.
    FileSystem(fn(&DeviceRef) -> Result<FsVolume>),
    /// An optical disc image: a descriptor (this device) placing data files' sectors on a
    /// disc of sessions and tracks. The context's path finds the data files.
    Disc(fn(DeviceRef, &OpenContext) -> Result<Disc>),
}

/// A registered format.
pub struct FormatDescriptor {
    /// Short name (`iso9660`, `gpt`, `qcow2`).
    pub name: &'static str,
    /// One line for humans.
    pub description: &'static str,
    /// Usual file extensions, lower case, without the dot.
    pub extensions: &'static [&'static str],
    /// Content probe.
    pub probe: fn(&ProbeInput<'_>) -> Confidence,
    /// How to open it.
    pub opener: Opener,
    /// How to create (write) an image of this format, where diskimg can.
    pub create: Option<&'static CreateHook>,
    /// How to check an image's structure (`diskimg check`), where diskimg can.
    pub check: Option<CheckFn>,
}

/// The format named `name` (as `-O` and `backing_fmt` name formats).
pub fn by_name(name: &str) -> Option<&'static FormatDescriptor> {
    formats()
        .iter()
        .copied()
        .find(|d| d.name.eq_ignore_ascii_case(name))
}

/// The writable format whose extensions include the extension of `path`.
pub fn writer_for_path(path: &std::path::Path) -> Option<&'static FormatDescriptor> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    formats()
        .iter()
        .copied()
        .find(|d| d.create.is_some() && d.extensions.contains(&ext.as_str()))
}

/// Names of the formats that can be written.
pub fn writable_names() -> Vec<&'static str> {
    formats()
        .iter()
        .filter(|d| d.create.is_some())
        .map(|d| d.name)
        .collect()
}
