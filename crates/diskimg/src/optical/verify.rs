//! EDC/ECC verification of the raw data sectors of a disc, per track.
//!
//! Only sectors stored whole (2352 bytes, or mode 2's 2336 bytes after the header) carry
//! their own EDC and ECC; cooked sectors (2048 bytes) have none stored, so they are counted as
//! not checkable rather than as good. Sectors are checked in parallel, in bounded batches.

use super::disc::{Disc, Source, Stored, TrackMode};
use super::sector::{self, Check, RAW};
use crate::error::Result;
use rayon::prelude::*;
use serde::Serialize;

/// Most bad sector addresses listed per track.
pub const MAX_LISTED: usize = 20;

/// What the check of one track found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TrackCheck {
    /// Track number.
    pub number: u8,
    /// Cue-style mode.
    pub mode: String,
    /// Sectors in the track (pregap included).
    pub sectors: u64,
    /// Sectors whose EDC and ECC were checked.
    pub checked: u64,
    /// Checked and right.
    pub good: u64,
    /// Wrong EDC.
    pub bad_edc: u64,
    /// Right EDC, wrong ECC.
    pub bad_ecc: u64,
    /// Header address not the sector's position.
    pub bad_address: u64,
    /// Form 2 sectors without the optional EDC.
    pub no_edc: u64,
    /// Sectors with no error detection (audio, mode 0, formless mode 2).
    pub no_check: u64,
    /// Sectors not stored whole (cooked or generated): nothing to check.
    pub not_stored: u64,
    /// The first bad sectors (LBAs).
    pub bad_sectors: Vec<i64>,
}

impl TrackCheck {
    /// Whether no checked sector was bad.
    pub fn ok(&self) -> bool {
        self.bad_edc + self.bad_ecc + self.bad_address == 0
    }
}

/// Checks every sector of every data track of `disc`; `progress` gets sectors done.
pub fn verify(disc: &Disc, progress: &(dyn Fn(u64) + Sync)) -> Result<Vec<TrackCheck>> {
    let mut out = Vec::new();
    for t in &disc.tracks {
        let mut c = TrackCheck {
            number: t.number,
            mode: t.mode_name(),
            sectors: (t.end - t.first) as u64,
            ..Default::default()
        };
        if t.mode == TrackMode::Audio {
            c.no_check = c.sectors;
            progress(c.sectors);
            out.push(c);
            continue;
        }
        for run in &t.runs {
            let whole = matches!(
                run.source,
                Source::File {
                    stored: Stored::Raw | Stored::Mode2Data,
                    ..
                }
            );
            if !whole {
                c.not_stored += run.count;
                progress(run.count);
                continue;
            }
            let mut lba = run.lba;
            while lba < run.end() {
                let n = (run.end() - lba).min(512);
                let results: Vec<Result<(i64, Check)>> = (lba..lba + n)
                    .into_par_iter()
                    .map(|l| {
                        let mut raw = [0u8; RAW];
                        disc.read_raw(l, &mut raw)?;
                        Ok((l, sector::check(&raw, l)))
                    })
                    .collect();
                for r in results {
                    let (l, check) = r?;
                    match check {
                        Check::Good => c.good += 1,
                        Check::NoEdc => c.no_edc += 1,
                        Check::Unchecked => c.no_check += 1,
                        bad => {
                            match bad {
                                Check::BadEdc => c.bad_edc += 1,
                                Check::BadEcc => c.bad_ecc += 1,
                                _ => c.bad_address += 1,
                            }
                            if c.bad_sectors.len() < MAX_LISTED {
                                c.bad_sectors.push(l);
                            }
                        }
                    }
                }
                progress(n as u64);
                lba += n;
            }
        }
        c.checked = c.good + c.bad_edc + c.bad_ecc + c.bad_address + c.no_edc;
        out.push(c);
    }
    Ok(out)
}
