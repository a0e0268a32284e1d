//! Optical disc integrity records: the EDC and ECC of every raw (2352-byte) data sector,
//! checked per track by [`crate::optical::verify`]. Audio tracks and tracks stored cooked
//! (2048 bytes a sector, no EDC/ECC kept) are reported as skipped, with why.

use super::{CheckResult, IntegrityCheck, Status, VerifyInput, layers};
use crate::error::Result;
use crate::optical::verify::TrackCheck;

/// The disc EDC/ECC check.
pub const CHECK: IntegrityCheck = IntegrityCheck {
    name: "edc-ecc",
    run,
};

/// Bytes of a raw sector, the unit progress is reported in.
const RAW_SECTOR: u64 = 2352;

fn run(input: &VerifyInput<'_>) -> Result<Vec<CheckResult>> {
    let mut out = Vec::new();
    for (_, layer) in layers(input.image) {
        let Some(disc) = &layer.disc else {
            continue;
        };
        let advance = |sectors: u64| input.progress.advance(sectors * RAW_SECTOR);
        for track in crate::optical::verify::verify(&disc.disc, &advance)? {
            out.push(result(&track));
        }
    }
    Ok(out)
}

fn result(t: &TrackCheck) -> CheckResult {
    let (status, message) = if t.mode == "AUDIO" {
        (
            Status::Skipped,
            format!("audio: {} sectors carry no EDC/ECC", t.sectors),
        )
    } else if t.checked == 0 {
        (
            Status::Skipped,
            format!(
                "{}: sectors are stored without EDC/ECC ({} sectors)",
                t.mode, t.sectors
            ),
        )
    } else if t.ok() {
        (
            Status::Pass,
            format!(
                "{}: {} sectors checked, all good{}",
                t.mode,
                t.checked,
                unchecked_note(t)
            ),
        )
    } else {
        (
            Status::Fail,
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
    let mut c = CheckResult::new(CHECK.name, format!("track {}", t.number), status, message);
    c.algorithm = Some("edc-ecc".into());
    c.data = serde_json::to_value(t).ok();
    c
}

/// Sectors of a checked track that carry no error detection of their own.
fn unchecked_note(t: &TrackCheck) -> String {
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
