//! raw: the image is the guest disk, byte for byte.
//!
//! Reading needs nothing: a raw file is already the device ([`crate::io::FileSource`] reports
//! its holes through `SEEK_DATA`/`SEEK_HOLE`). The descriptor exists so that `raw` can be named
//! as an output format (`-O raw`, the `.img` and `.raw` extensions) and as a backing format;
//! its probe never matches, since any bytes are a raw image.
//!
//! The writer ([`RawWriter`]) is sparse: it writes only the runs the pipeline hands it (never
//! holes, zero or unallocated runs of the source, never all-zero 4 KiB units) and sizes the
//! file with `set_len`, so everything not written is a hole that reads as zeros.
//!
//! Not supported: preallocation (`-o preallocation=full`); raw has no other options.

mod writer;

pub use writer::RawWriter;

use super::{Container, OpenContext};
use crate::device::DeviceRef;
use crate::error::Result;
use crate::format::{Confidence, FormatDescriptor, Opener};

/// Format name.
pub const FORMAT: &str = "raw";

/// The raw format: never probed, named explicitly.
pub static DESCRIPTOR: FormatDescriptor = FormatDescriptor {
    name: FORMAT,
    description: "raw disk image (the bytes are the disk)",
    extensions: &["img", "raw"],
    probe: |_| Confidence::NONE,
    opener: Opener::Container(open),
    create: Some(&writer::HOOK),
    check: None,
};

fn open(device: DeviceRef, _ctx: &OpenContext) -> Result<Box<dyn Container>> {
    Ok(Box::new(Raw { device }))
}

/// A raw image opened explicitly as a format.
struct Raw {
    device: DeviceRef,
}

impl Container for Raw {
    fn format(&self) -> &'static str {
        FORMAT
    }

    fn device(&self) -> DeviceRef {
        self.device.clone()
    }

    fn details(&self) -> serde_json::Value {
        serde_json::json!({ "virtual_size": self.device.size() })
    }
}
