//! Registry entries of the disc image formats.

use super::disc::Disc;
use super::files::resolver;
use super::disc::DataFile;
use super::{cue, nrg, toc};
use std::path::PathBuf;
use std::sync::Arc;
use crate::container::OpenContext;
use crate::device::DeviceRef;
use crate::error::Result;
use crate::format::{Confidence, FormatDescriptor, Opener, ProbeInput};
use crate::io::read_vec;

/// Reads a whole text descriptor, refusing ones over `max` bytes.
fn text(dev: &DeviceRef, max: u64, format: &'static str) -> Result<Vec<u8>> {
    read_vec(dev.as_ref(), 0, dev.size(), max).map_err(|e| e.with_format(format).with_structure("descriptor"))
}

fn open_cue(dev: DeviceRef, ctx: &OpenContext) -> Result<Disc> {
    cue::open(&text(&dev, cue::MAX_CUE_SIZE, cue::FORMAT)?, resolver(ctx).as_ref())
}

/// CUE sheets.
pub static CUE: FormatDescriptor = FormatDescriptor {
    name: cue::FORMAT,
    description: "CUE sheet (CDRWIN) with BIN/WAVE data files",
    extensions: &["cue"],
    probe: |p: &ProbeInput<'_>| {
        if p.device.size() <= cue::MAX_CUE_SIZE && cue::probe(p.head) {
            Confidence::LIKELY
        } else {
            Confidence::NONE
        }
    },
    opener: Opener::Disc(open_cue),
};

fn open_toc(dev: DeviceRef, ctx: &OpenContext) -> Result<Disc> {
    toc::open(&text(&dev, toc::MAX_TOC_SIZE, toc::FORMAT)?, resolver(ctx).as_ref())
}

/// cdrdao TOC files.
pub static TOC: FormatDescriptor = FormatDescriptor {
    name: toc::FORMAT,
    description: "cdrdao TOC file with BIN/WAVE data files",
    extensions: &["toc"],
    probe: |p: &ProbeInput<'_>| {
        if p.device.size() <= toc::MAX_TOC_SIZE && toc::probe(p.head) {
            Confidence::LIKELY
        } else {
            Confidence::NONE
        }
    },
    opener: Opener::Disc(open_toc),
};

/// The descriptor file itself as a data file (formats whose sectors share its file).
fn own_file(dev: &DeviceRef, ctx: &OpenContext, name: &str) -> DataFile {
    DataFile {
        path: ctx.path.clone().unwrap_or_else(|| PathBuf::from(name)),
        source: Arc::new(dev.clone()),
    }
}

/// Nero images.
pub static NRG: FormatDescriptor = FormatDescriptor {
    name: nrg::FORMAT,
    description: "Nero Burning ROM image (NRG v1 and v2)",
    extensions: &["nrg"],
    probe: |p: &ProbeInput<'_>| match nrg::footer(p.device) {
        Some(_) => Confidence::CERTAIN,
        None => Confidence::NONE,
    },
    opener: Opener::Disc(|dev, ctx| nrg::open(own_file(&dev, ctx, "image.nrg"))),
};
