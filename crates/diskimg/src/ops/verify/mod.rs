//! `diskimg verify`: every integrity record an image carries, checked, in one report.
//!
//! Two kinds of record are checked:
//!
//! - **Records inside the format**, by a registry of [`IntegrityCheck`]s. Each check is a
//!   function that looks through the opened [`Image`] (every layer: the host file, each
//!   container, each partition) for the record it knows and checks it: the implanted ISO MD5
//!   ([`isomd5`]), GPT header and entry-array CRC32s ([`gpt`]), VHDX header and region-table
//!   CRC-32Cs ([`vhdx`]), the EDC/ECC of raw CD sectors ([`disc`]), UDIF CRC-32s ([`dmg`]). A check that finds nothing it knows returns no results.
//! - **Sidecar files**: `SHA256SUMS`, `image.iso.sha256`, `.md5`, ... found beside the image or
//!   named by the caller ([`sidecar`]), in GNU (`hex  name`) or BSD (`SHA256 (name) = hex`)
//!   style. Every digest they hold for the image is computed in one read of the file.
//!
//! Adding a format's records (CHD SHA-1): write a
//! `fn(&VerifyInput) -> Result<Vec<CheckResult>>` in the format's folder (or here), wrap it in
//! an [`IntegrityCheck`] constant and list it in [`CHECKS`]. The function finds its layers
//! itself (a disc layer, a CHD container) and reports one [`CheckResult`] per record, with
//! `offset` where the record lies; long reads report through `input.progress` and stop when
//! it says `cancelled`.

pub mod chd;
pub mod disc;
pub mod dmg;
pub mod gpt;
pub mod isomd5;
pub mod sidecar;
pub mod vhdx;

use crate::error::{ErrorKind, Result};
use crate::image::{Image, Layer};
use crate::ops::hash::HashProgress;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// JSON schema version of [`VerifyReport`].
pub const SCHEMA: u32 = 1;

/// The outcome of one check, or of the whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The record matches the data.
    Pass,
    /// The record and the data disagree: the image is damaged or is not the one described.
    Fail,
    /// The record could not be checked (unreadable, malformed record, missing file).
    Error,
    /// The record exists but holds nothing checkable (an audio track has no EDC/ECC).
    Skipped,
    /// Nothing to check (the whole run: no record was found).
    None,
}

/// One record checked.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// Which check: `iso-md5`, `gpt-crc`, `vhdx-checksum`, `sidecar`.
    pub check: &'static str,
    /// What was checked: `primary header`, `whole image`, `SHA256SUMS line 3`, ...
    pub subject: String,
    /// The outcome.
    pub status: Status,
    /// Digest or checksum algorithm (`md5`, `crc32`, `crc32c`, `sha256`, ...).
    pub algorithm: Option<String>,
    /// The value the record holds.
    pub expected: Option<String>,
    /// The value computed from the data.
    pub actual: Option<String>,
    /// Byte offset of the record or of the first damaged byte range, when known.
    pub offset: Option<u64>,
    /// One line for people.
    pub message: String,
    /// Numbers particular to the check (per-track sector counts of `edc-ecc`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

impl CheckResult {
    /// A result with the given outcome and message; other fields empty.
    pub fn new(
        check: &'static str,
        subject: impl Into<String>,
        status: Status,
        message: impl Into<String>,
    ) -> Self {
        CheckResult {
            check,
            subject: subject.into(),
            status,
            algorithm: None,
            expected: None,
            actual: None,
            offset: None,
            message: message.into(),
            data: None,
        }
    }
}

/// The report of a whole run (`diskimg verify --json`, schema in docs/JSON.md).
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// [`SCHEMA`].
    pub schema: u32,
    /// The image file.
    pub file: String,
    /// `pass` when every record matched, `fail` when one did not, `error` when one could not
    /// be checked, `none` when there was nothing to check (no record, or only skipped ones).
    pub status: Status,
    /// Every record checked.
    pub checks: Vec<CheckResult>,
}

impl VerifyReport {
    fn new(file: &Path, checks: Vec<CheckResult>) -> Self {
        let status = if checks.iter().any(|c| c.status == Status::Fail) {
            Status::Fail
        } else if checks.iter().any(|c| c.status == Status::Error) {
            Status::Error
        } else if checks.iter().all(|c| c.status == Status::Skipped) {
            Status::None
        } else {
            Status::Pass
        };
        VerifyReport {
            schema: SCHEMA,
            file: file.display().to_string(),
            status,
            checks,
        }
    }
}

/// What a check looks at.
pub struct VerifyInput<'a> {
    /// The host file.
    pub path: &'a Path,
    /// The image, opened through every layer.
    pub image: &'a Image,
    /// Progress of long reads and the cancel request.
    pub progress: &'a dyn HashProgress,
}

/// One kind of integrity record a format carries.
pub struct IntegrityCheck {
    /// Name used in reports (`iso-md5`).
    pub name: &'static str,
    /// Finds and checks every record of this kind in the image; empty when there is none.
    pub run: fn(&VerifyInput<'_>) -> Result<Vec<CheckResult>>,
}

/// Every check of records inside formats, run in this order.
pub const CHECKS: &[IntegrityCheck] = &[
    gpt::CHECK,
    vhdx::CHECK,
    chd::CHECK,
    isomd5::CHECK,
    disc::CHECK,
    dmg::CHECK,
];

/// What to verify besides the format's own records.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Checksum files named by the user (`--sums`); each must mention the image.
    pub sums: Vec<PathBuf>,
    /// Do not look for checksum files beside the image.
    pub no_sidecars: bool,
}

/// Checks every integrity record of the image at `path` and every checksum file found beside
/// it or named in `opts`.
pub fn verify(
    path: &Path,
    opts: &VerifyOptions,
    progress: &dyn HashProgress,
) -> Result<VerifyReport> {
    let image = Image::open(path)?;
    let input = VerifyInput {
        path,
        image: &image,
        progress,
    };
    let mut results = Vec::new();
    for check in CHECKS {
        match (check.run)(&input) {
            Ok(r) => results.extend(r),
            Err(e) if e.kind() == ErrorKind::Io && progress.cancelled() => return Err(e),
            Err(e) => results.push(CheckResult::new(
                check.name,
                "image",
                Status::Error,
                e.to_string(),
            )),
        }
    }
    results.extend(sidecar::check(path, opts, progress)?);
    Ok(VerifyReport::new(path, results))
}

/// Every layer of the image with a name for reports: `image`, `vhdx guest`, `partition 2`.
pub fn layers(image: &Image) -> Vec<(String, &Layer)> {
    let mut out = Vec::new();
    collect(&image.root, "image".to_owned(), &mut out);
    out
}

fn collect<'a>(layer: &'a Layer, name: String, out: &mut Vec<(String, &'a Layer)>) {
    out.push((name.clone(), layer));
    if let Some((c, inner)) = &layer.container {
        collect(inner, format!("{} guest", c.format()), out);
    }
    if let Some(parts) = &layer.partitions {
        for (p, child) in &parts.children {
            if let Some(child) = child {
                collect(child, format!("partition {}", p.index), out);
            }
        }
    }
}
