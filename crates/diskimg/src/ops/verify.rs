//! `diskimg verify`: integrity checks an image carries, as one report.
//!
//! Each format that has something to check (EDC/ECC of raw CD sectors; later implanted MD5
//! sums, sidecar hash files, CHD and DMG checksums) adds a function to [`VERIFIERS`]: it
//! looks at the opened image and returns its checks, or `None` when the image is not its
//! format. [`verify`] runs all that apply and gathers their [`Check`]s.

use crate::error::Result;
use crate::image::Image;
use serde::Serialize;
use serde_json::{Value, json};

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The data matches its check values.
    Ok,
    /// It does not.
    Failed,
    /// Nothing to check here (a reason is given).
    Skipped,
}

/// One integrity check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked (`track 1 EDC/ECC`).
    pub name: String,
    /// The outcome.
    pub status: Status,
    /// One line for humans.
    pub detail: String,
    /// Format-specific numbers.
    pub data: Value,
}

/// The checks of an image.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// The image file.
    pub file: String,
    /// Every check run.
    pub checks: Vec<Check>,
    /// Whether no check failed.
    pub ok: bool,
}

/// A format's checks: `None` when the image is not its format.
pub type Verifier = fn(&Image, &(dyn Fn(u64) + Sync)) -> Option<Result<Vec<Check>>>;

/// Every format's checks, in order.
pub static VERIFIERS: &[Verifier] = &[optical_checks];

/// Runs every check that applies to `image`; `progress` gets units of work done (sectors).
pub fn verify(image: &Image, progress: &(dyn Fn(u64) + Sync)) -> Result<VerifyReport> {
    let mut checks = Vec::new();
    for v in VERIFIERS {
        if let Some(found) = v(image, progress) {
            checks.extend(found?);
        }
    }
    if checks.is_empty() {
        checks.push(Check {
            name: "integrity data".into(),
            status: Status::Skipped,
            detail: "this image carries no checksums diskimg knows how to verify".into(),
            data: Value::Null,
        });
    }
    let ok = checks.iter().all(|c| c.status != Status::Failed);
    Ok(VerifyReport {
        file: image.path.display().to_string(),
        checks,
        ok,
    })
}

/// EDC/ECC of the raw sectors of each data track of an optical disc image.
fn optical_checks(image: &Image, progress: &(dyn Fn(u64) + Sync)) -> Option<Result<Vec<Check>>> {
    let disc = image.content().disc.as_ref()?.disc.clone();
    Some(crate::optical::verify::verify(&disc, progress).map(|tracks| {
        tracks
            .into_iter()
            .map(|t| {
                let (status, detail) = if t.mode == "AUDIO" {
                    (Status::Skipped, format!("audio: {} sectors carry no EDC/ECC", t.sectors))
                } else if t.checked == 0 {
                    (Status::Skipped, format!("{}: sectors are stored without EDC/ECC ({} sectors)", t.mode, t.sectors))
                } else if t.ok() {
                    (Status::Ok, format!("{}: {} sectors checked, all good{}", t.mode, t.checked, extra(&t)))
                } else {
                    (
                        Status::Failed,
                        format!(
                            "{}: {} of {} sectors bad (EDC {}, ECC {}, address {}), first at LBA {}",
                            t.mode,
                            t.bad_edc + t.bad_ecc + t.bad_address,
                            t.checked,
                            t.bad_edc,
                            t.bad_ecc,
                            t.bad_address,
                            t.bad_sectors.first().copied().unwrap_or_default()
                        ),
                    )
                };
                Check { name: format!("track {} EDC/ECC", t.number), status, detail, data: json!(t) }
            })
            .collect()
    }))
}

fn extra(t: &crate::optical::verify::TrackCheck) -> String {
    let mut parts = Vec::new();
    if t.no_edc > 0 {
        parts.push(format!("{} form 2 without EDC", t.no_edc));
    }
    if t.no_check > 0 {
        parts.push(format!("{} without error detection", t.no_check));
    }
    if t.not_stored > 0 {
        parts.push(format!("{} not stored raw", t.not_stored));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}
