//! `compare`: do two images show the guest the same bytes?
//!
//! Both images are opened down to their guest devices (any format, backing chains followed).
//! Ranges that neither holds data for are equal without reading; elsewhere both are read in
//! 4 MiB steps. As with `qemu-img compare`, images of different sizes are the same when the
//! longer one holds only zeros past the end of the shorter (unless `strict`).

use crate::container::open::open_image;
use crate::device::{DeviceRef, ExtentKind};
use crate::error::Result;
use crate::io::ReadAt;
use crate::io::is_zero;
use crate::ops::convert::ConvertProgress;
use serde::Serialize;
use std::path::Path;

const STEP: u64 = 4 << 20;

/// What a comparison found.
#[derive(Debug, Clone, Serialize)]
pub struct CompareReport {
    /// Guest size of the first image.
    pub size_a: u64,
    /// Guest size of the second image.
    pub size_b: u64,
    /// Whether they show the same content.
    pub identical: bool,
    /// First guest byte offset where they differ.
    pub first_difference: Option<u64>,
}

/// Compares the images at `a` and `b` (formats probed unless given).
pub fn compare_files(
    a: &Path,
    b: &Path,
    format_a: Option<&str>,
    format_b: Option<&str>,
    strict: bool,
    progress: &dyn ConvertProgress,
) -> Result<CompareReport> {
    let ia = open_image(a, format_a)?;
    let ib = open_image(b, format_b)?;
    compare(&ia.device, &ib.device, strict, progress)
}

/// Compares two devices.
pub fn compare(
    a: &DeviceRef,
    b: &DeviceRef,
    strict: bool,
    progress: &dyn ConvertProgress,
) -> Result<CompareReport> {
    let (sa, sb) = (a.size(), b.size());
    let common = sa.min(sb);
    progress.start(sa.max(sb));
    let mut report = CompareReport {
        size_a: sa,
        size_b: sb,
        identical: true,
        first_difference: None,
    };
    let mut ba = vec![0u8; STEP as usize];
    let mut bb = vec![0u8; STEP as usize];
    let mut pos = 0u64;
    while pos < common {
        let len = STEP.min(common - pos);
        let quiet = |d: &DeviceRef| -> Result<bool> {
            Ok(d.extents(pos, len)?
                .iter()
                .all(|e| e.kind != ExtentKind::Data))
        };
        if !(quiet(a)? && quiet(b)?) {
            let n = len as usize;
            a.read_exact_at(pos, &mut ba[..n])?;
            b.read_exact_at(pos, &mut bb[..n])?;
            if let Some(i) = ba[..n].iter().zip(&bb[..n]).position(|(x, y)| x != y) {
                report.identical = false;
                report.first_difference = Some(pos + i as u64);
                return Ok(report);
            }
        }
        progress.advance(len);
        pos += len;
    }
    if sa != sb {
        if strict {
            report.identical = false;
            report.first_difference = Some(common);
            return Ok(report);
        }
        let longer = if sa > sb { a } else { b };
        if let Some(off) = first_nonzero(longer, common, longer.size(), &mut ba, progress)? {
            report.identical = false;
            report.first_difference = Some(off);
        }
    }
    Ok(report)
}

/// The first non-zero byte of `d` in `[start, end)`.
fn first_nonzero(
    d: &DeviceRef,
    start: u64,
    end: u64,
    buf: &mut [u8],
    progress: &dyn ConvertProgress,
) -> Result<Option<u64>> {
    let mut pos = start;
    while pos < end {
        let len = (buf.len() as u64).min(end - pos);
        for e in d.extents(pos, len)? {
            if e.kind != ExtentKind::Data {
                continue;
            }
            let mut at = e.offset;
            while at < e.offset + e.len {
                let n = (buf.len() as u64).min(e.offset + e.len - at) as usize;
                d.read_exact_at(at, &mut buf[..n])?;
                if !is_zero(&buf[..n]) {
                    let i = buf[..n].iter().position(|&x| x != 0).unwrap_or(0);
                    return Ok(Some(at + i as u64));
                }
                at += n as u64;
            }
        }
        progress.advance(len);
        pos += len;
    }
    Ok(None)
}
