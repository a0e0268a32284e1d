//! `convert ... out.chd`: writing a CHD from a disc image or a disk image.
//!
//! The layout follows the input (`-o layout=` overrides): an optical disc image (CUE, TOC,
//! NRG, CCD, MDS, a CHD CD...) becomes a CD CHD (chdman `createcd`: 8-frame hunks, codecs
//! cdlz, cdzl and, when the disc has audio, cdfl; `CHT2` metadata); an ISO 9660 image becomes
//! a DVD CHD (2048-byte sectors, 2048-byte hunks, codecs lzma, zlib, huff); anything else a
//! hard-disk CHD (4 KiB hunks, the device's sector size, `GDDD` geometry, lzma, zlib, huff).
//! chdman also tries FLAC on every hunk; it wins only on audio and costs a third of the time,
//! so it is tried only where there is audio (`compression=` names it explicitly). Options:
//! `layout=cd|dvd|hd`, `compression=CODEC[+CODEC...]|none`, `hunk_size=BYTES`. The output is an
//! [`AtomicFile`]; hunks are compressed on every core
//! ([`crate::container::chd::writer`]).

use super::{ConvertOptions, ConvertProgress, ConvertSummary, PipelineStats, default_threads};
use crate::container::chd::layout::{self, Layout};
use crate::container::chd::writer::{WriteSpec, parse_codecs, write_chd};
use crate::container::chd::{self as chdfmt, FORMAT};
use crate::container::open::open_image;
use crate::container::write::{FormatOptions, OptionHelp};
use crate::device::DeviceRef;
use crate::error::{Error, Result, ResultExt};
use crate::image::Image;
use crate::io::AtomicFile;
use crate::optical::Disc;
use chd::header::CodecType;
use std::path::Path;
use std::sync::Arc;

/// The options a CHD output takes.
pub const OPTIONS: &[OptionHelp] = &[
    OptionHelp {
        key: "layout",
        help: "cd, dvd or hd (default: cd for disc images, dvd for ISO 9660 images, else hd)",
    },
    OptionHelp {
        key: "compression",
        help: "up to four codecs joined by + (lzma, zlib, huff, flac, zstd; CD: cdlz, cdzl, cdfl, cdzs), or none",
    },
    OptionHelp {
        key: "hunk_size",
        help: "bytes per hunk (CD: a multiple of 2448, default 19584; DVD 2048; HD 4096)",
    },
];

/// Whether `output` (or `-O format`) asks for a CHD.
pub fn is_chd_output(output: &Path, format: Option<&str>) -> bool {
    match format {
        Some(f) => f.eq_ignore_ascii_case(FORMAT),
        None => output
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case(FORMAT)),
    }
}

/// chdman's CD codecs (cdlz, cdzl, cdfl), without FLAC for a disc with no audio track: FLAC
/// only wins on audio, and trying it on every data hunk costs a third of the time.
fn cd_codecs(disc: &Disc) -> Vec<CodecType> {
    let mut c = vec![CodecType::LzmaCdV5, CodecType::ZLibCdV5];
    if disc
        .tracks
        .iter()
        .any(|t| t.mode == crate::optical::disc::TrackMode::Audio)
    {
        c.push(CodecType::FlacCdV5);
    }
    c
}

/// What the input is.
enum Input {
    Disc(Arc<Disc>),
    Device(DeviceRef, &'static str),
}

fn is_iso9660(dev: &DeviceRef) -> bool {
    let mut b = [0u8; 6];
    dev.read_exact_at(16 * 2048, &mut b).is_ok() && &b[1..6] == b"CD001"
}

/// Converts `input` to the CHD `output`.
pub fn convert_to_chd(
    input: &Path,
    output: &Path,
    opts: &ConvertOptions,
    progress: &dyn ConvertProgress,
) -> Result<ConvertSummary> {
    let options = FormatOptions::parse(&opts.options)?;
    options.check_known(FORMAT, OPTIONS)?;
    let wanted = options.get("layout").map(Layout::parse).transpose()?;
    let codecs = options.get("compression").map(parse_codecs).transpose()?;
    let hunk_size = options
        .size("hunk_size")?
        .map(|h| {
            u32::try_from(h)
                .ok()
                .filter(|&h| h > 0 && h <= chdfmt::MAX_HUNK_BYTES)
                .ok_or_else(|| {
                    Error::invalid_input(format!(
                        "hunk_size {h}: from 1 to {} bytes",
                        chdfmt::MAX_HUNK_BYTES
                    ))
                })
        })
        .transpose()?;
    let (layout, source) = match wanted {
        Some(Layout::Cd) => (
            Layout::Cd,
            Input::Disc(crate::ops::optical::open_disc(input)?),
        ),
        _ => {
            let image = Image::open(input)?;
            match (&image.content().disc, wanted) {
                (Some(d), None) => (Layout::Cd, Input::Disc(d.disc.clone())),
                _ => {
                    drop(image);
                    let opened = open_image(input, opts.input_format.as_deref())?;
                    let dev = opened.device.clone();
                    let layout = wanted.unwrap_or(if is_iso9660(&dev) {
                        Layout::Dvd
                    } else {
                        Layout::HardDisk
                    });
                    (layout, Input::Device(dev, opened.format))
                }
            }
        }
    };
    let threads = opts.threads.unwrap_or_else(default_threads);
    let out = AtomicFile::create(output, opts.replace)?;
    let file = out
        .file()
        .try_clone()
        .map_err(Error::from)
        .in_file(output)?;
    let (input_format, logical) = match source {
        Input::Disc(disc) => {
            let (plans, frames) = layout::plan_cd(&disc)?;
            let frame = chdfmt::cd::FRAME as u32;
            let hunk = hunk_size.unwrap_or(8 * frame);
            if hunk % frame != 0 {
                return Err(Error::invalid_input(format!(
                    "hunk_size {hunk}: a CD CHD's hunks are whole 2448-byte frames"
                )));
            }
            let spec = WriteSpec {
                hunk_bytes: hunk,
                unit_bytes: frame,
                logical_bytes: frames * u64::from(frame),
                codecs: codecs.unwrap_or_else(|| cd_codecs(&disc)),
                metadata: plans
                    .iter()
                    .map(|p| {
                        let mut text = p.meta.clone().into_bytes();
                        text.push(0);
                        (layout::cd_tag(), text)
                    })
                    .collect(),
                threads,
            };
            progress.start(spec.logical_bytes);
            let fill = |first: u64, buf: &mut [u8]| -> Result<()> {
                let per_hunk = u64::from(hunk / frame);
                for (i, f) in buf.chunks_exact_mut(frame as usize).enumerate() {
                    layout::fill_frame(&disc, &plans, first * per_hunk + i as u64, f)?;
                }
                Ok(())
            };
            write_chd(file, &spec, &fill, &|n| progress.advance(n)).in_file(output)?;
            (disc.format, spec.logical_bytes)
        }
        Input::Device(dev, format) => {
            let (unit, hunk, meta) = match layout {
                Layout::Dvd => (2048u32, hunk_size.unwrap_or(2048), layout::dvd_metadata()),
                _ => {
                    let bps = dev.geometry().sector_size.max(512);
                    let sectors = dev.size() / u64::from(bps);
                    (
                        bps,
                        hunk_size.unwrap_or(4096),
                        layout::hd_metadata(sectors, bps),
                    )
                }
            };
            if hunk % unit != 0 || dev.size() % u64::from(unit) != 0 {
                return Err(Error::invalid_input(format!(
                    "a {} CHD holds whole {unit}-byte sectors in whole hunks: the input is {} bytes, the hunk size {hunk}",
                    layout.name(),
                    dev.size()
                )));
            }
            if layout == Layout::Cd {
                return Err(Error::invalid_input("layout=cd needs a disc image"));
            }
            let spec = WriteSpec {
                hunk_bytes: hunk,
                unit_bytes: unit,
                logical_bytes: dev.size(),
                codecs: codecs.unwrap_or_else(|| {
                    vec![CodecType::LzmaV5, CodecType::ZLibV5, CodecType::HuffV5]
                }),
                metadata: vec![meta],
                threads,
            };
            progress.start(spec.logical_bytes);
            let size = dev.size();
            let fill = |first: u64, buf: &mut [u8]| -> Result<()> {
                let at = first * u64::from(hunk);
                let n = (buf.len() as u64).min(size.saturating_sub(at)) as usize;
                dev.read_exact_at(at, &mut buf[..n])
            };
            write_chd(file, &spec, &fill, &|n| progress.advance(n)).in_file(output)?;
            (format, size)
        }
    };
    out.commit()?;
    let output_size = std::fs::metadata(output)
        .map_err(Error::from)
        .in_file(output)?
        .len();
    Ok(ConvertSummary {
        input_format,
        output_format: FORMAT,
        virtual_size: logical,
        output_size,
        stats: PipelineStats {
            bytes_read: logical,
            ..PipelineStats::default()
        },
    })
}
