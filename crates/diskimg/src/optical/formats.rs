//! Registry entries of the disc image formats.

use super::disc::DataFile;
use super::disc::Disc;
use super::files::resolver;
use super::{ccd, cdi, cue, gdi, mds, nrg, raw, toc};
use crate::container::OpenContext;
use crate::device::DeviceRef;
use crate::error::Result;
use crate::format::{Confidence, FormatDescriptor, Opener, ProbeInput};
use crate::io::read_vec;
use std::path::PathBuf;
use std::sync::Arc;

/// Reads a whole text descriptor, refusing ones over `max` bytes.
fn text(dev: &DeviceRef, max: u64, format: &'static str) -> Result<Vec<u8>> {
    read_vec(dev.as_ref(), 0, dev.size(), max)
        .map_err(|e| e.with_format(format).with_structure("descriptor"))
}

fn open_cue(dev: DeviceRef, ctx: &OpenContext) -> Result<Disc> {
    cue::open(
        &text(&dev, cue::MAX_CUE_SIZE, cue::FORMAT)?,
        resolver(ctx).as_ref(),
    )
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
    create: None,
    check: None,
};

fn open_toc(dev: DeviceRef, ctx: &OpenContext) -> Result<Disc> {
    toc::open(
        &text(&dev, toc::MAX_TOC_SIZE, toc::FORMAT)?,
        resolver(ctx).as_ref(),
    )
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
    create: None,
    check: None,
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
    create: None,
    check: None,
};

/// CloneCD control files.
pub static CCD: FormatDescriptor = FormatDescriptor {
    name: ccd::FORMAT,
    description: "CloneCD image (.ccd control file, .img sectors, .sub subchannel)",
    extensions: &["ccd"],
    probe: |p: &ProbeInput<'_>| {
        if p.device.size() <= ccd::MAX_CCD_SIZE && ccd::probe(p.head) {
            Confidence::CERTAIN
        } else {
            Confidence::NONE
        }
    },
    opener: Opener::Disc(|dev, ctx| {
        ccd::open(
            &text(&dev, ccd::MAX_CCD_SIZE, ccd::FORMAT)?,
            resolver(ctx).as_ref(),
        )
    }),
    create: None,
    check: None,
};

/// Alcohol 120% descriptors.
pub static MDS: FormatDescriptor = FormatDescriptor {
    name: mds::FORMAT,
    description: "Alcohol 120% image v1 (.mds descriptor, .mdf data)",
    extensions: &["mds"],
    probe: |p: &ProbeInput<'_>| {
        if mds::probe(p.head) {
            Confidence::CERTAIN
        } else {
            Confidence::NONE
        }
    },
    opener: Opener::Disc(|dev, ctx| {
        mds::open(
            &text(&dev, mds::MAX_MDS_SIZE, mds::FORMAT)?,
            resolver(ctx).as_ref(),
        )
    }),
    create: None,
    check: None,
};

/// Raw 2352-byte sector images without a descriptor.
pub static RAW: FormatDescriptor = FormatDescriptor {
    name: raw::FORMAT,
    description: "raw 2352-byte CD sectors without a descriptor (one data track)",
    extensions: &["bin", "img"],
    probe: |p: &ProbeInput<'_>| {
        if raw::probe(p.head, p.device.size()) {
            Confidence::LIKELY
        } else {
            Confidence::NONE
        }
    },
    opener: Opener::Disc(|dev, ctx| raw::open(own_file(&dev, ctx, "image.bin"))),
    create: None,
    check: None,
};

/// DiscJuggler images.
pub static CDI: FormatDescriptor = FormatDescriptor {
    name: cdi::FORMAT,
    description: "DiscJuggler image (CDI v2, v3, v3.5/4; read only)",
    extensions: &["cdi"],
    probe: |p: &ProbeInput<'_>| match cdi::footer(p.device) {
        Some(_) => Confidence(90),
        None => Confidence::NONE,
    },
    opener: Opener::Disc(|dev, ctx| cdi::open(own_file(&dev, ctx, "image.cdi"))),
    create: None,
    check: None,
};

/// Dreamcast GD-ROM track lists.
pub static GDI: FormatDescriptor = FormatDescriptor {
    name: gdi::FORMAT,
    description: "Dreamcast GD-ROM track list (GDI; read only)",
    extensions: &["gdi"],
    probe: |p: &ProbeInput<'_>| {
        if p.device.size() <= gdi::MAX_GDI_SIZE && gdi::probe(p.head) {
            Confidence::LIKELY
        } else {
            Confidence::NONE
        }
    },
    opener: Opener::Disc(|dev, ctx| {
        gdi::open(
            &text(&dev, gdi::MAX_GDI_SIZE, gdi::FORMAT)?,
            resolver(ctx).as_ref(),
        )
    }),
    create: None,
    check: None,
};
