//! What a new CHD holds, by layout: the CD layout (a disc's tracks as padded runs of 2448-byte
//! frames, `CHT2` metadata as chdman writes it), the DVD layout (2048-byte units, `DVD `
//! metadata) and the hard-disk layout (`GDDD` geometry as chdman guesses it).

use super::cd::{FRAME, SECTOR, TRACK_PADDING};
use super::metadata::{CD_TRACK2, DVD, HARD_DISK};
use crate::error::{Error, Result};
use crate::optical::disc::{Disc, Source, Stored, Sub, Track, TrackMode};
use crate::optical::sector::RAW;

/// The three layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// CD-ROM: frames of sector + subchannel, track metadata.
    Cd,
    /// DVD: 2048-byte sectors.
    Dvd,
    /// Hard disk: sectors with a CHS geometry.
    HardDisk,
}

impl Layout {
    /// Parses `cd`, `dvd`, `hd`.
    pub fn parse(s: &str) -> Result<Layout> {
        match s.to_ascii_lowercase().as_str() {
            "cd" => Ok(Layout::Cd),
            "dvd" => Ok(Layout::Dvd),
            "hd" | "harddisk" => Ok(Layout::HardDisk),
            _ => Err(Error::invalid_input(format!(
                "layout \"{s}\": use cd, dvd or hd"
            ))),
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Cd => "cd",
            Layout::Dvd => "dvd",
            Layout::HardDisk => "hd",
        }
    }
}

/// One track of a CD being written.
#[derive(Debug, Clone)]
pub struct CdTrackPlan {
    /// Track number.
    pub number: u8,
    /// First LBA stored in the CHD.
    pub from: i64,
    /// Frames stored (a stored pregap included).
    pub frames: u64,
    /// First frame in the CHD.
    pub chd_frame: u64,
    /// Stored form of the track's sectors in the frames.
    pub stored: Stored,
    /// Whether subchannel is stored (`RW_RAW`).
    pub sub: bool,
    /// The `CHT2` text.
    pub meta: String,
}

/// The CHD `TYPE` of a track stored as `stored` (cdrdao's track mode keywords).
pub fn type_name(mode: TrackMode, stored: Stored) -> &'static str {
    crate::optical::toc::keyword_of(mode, stored)
}

/// Sectors at the start of `t` that are not stored, at most its pregap.
fn unstored_lead(t: &Track) -> u64 {
    let lead: u64 = t
        .runs
        .iter()
        .take_while(|r| r.source == Source::Zero)
        .map(|r| r.count)
        .sum();
    lead.min(t.pregap())
}

/// Sectors at the end of `t` that are not stored, at most its postgap.
fn unstored_trail(t: &Track) -> u64 {
    let trail: u64 = t
        .runs
        .iter()
        .rev()
        .take_while(|r| r.source == Source::Zero)
        .map(|r| r.count)
        .sum();
    trail.min(t.postgap)
}

/// Plans the tracks of `disc` as chdman `createcd` lays them out: a pregap kept in the data
/// file is stored (`PGTYPE:V...`), a generated one is only counted (`PREGAP`), as is a
/// generated postgap; each track's frames are padded to a multiple of four. Returns the plan
/// and the total number of frames (padding included).
pub fn plan_cd(disc: &Disc) -> Result<(Vec<CdTrackPlan>, u64)> {
    if disc.sessions.len() > 1 {
        return Err(Error::unsupported(
            super::FORMAT,
            "a CD CHD holds one session; this disc has several",
        ));
    }
    let mut out = Vec::new();
    let mut chd_frame = 0u64;
    for t in &disc.tracks {
        let stored = match t.stored() {
            _ if t.mode == TrackMode::Audio => Stored::Raw,
            Some(s) => s,
            None => Stored::Mode1Data,
        };
        let kind = type_name(t.mode, stored);
        // A pregap only partly stored is stored whole (generated sectors written out).
        let lead = Some(unstored_lead(t))
            .filter(|&l| l == t.pregap())
            .unwrap_or(0);
        let trail = unstored_trail(t);
        let first = t.first.max(0);
        let from = first + lead as i64;
        let end = t.end - trail as i64;
        let frames = u64::try_from(end - from).unwrap_or(0);
        let pregap = u64::try_from(t.start - first).unwrap_or(0);
        let sub = t.has_subchannel();
        let subtype = if sub { "RW_RAW" } else { "NONE" };
        let pg_stored = pregap > lead;
        let (pregap_field, pgtype, pgsub) = if pg_stored {
            (pregap, format!("V{kind}"), subtype)
        } else {
            (lead, "MODE1".to_string(), "NONE")
        };
        let meta = format!(
            "TRACK:{} TYPE:{kind} SUBTYPE:{subtype} FRAMES:{frames} PREGAP:{pregap_field} PGTYPE:{pgtype} PGSUB:{pgsub} POSTGAP:{trail}",
            t.number
        );
        out.push(CdTrackPlan {
            number: t.number,
            from,
            frames,
            chd_frame,
            stored,
            sub,
            meta,
        });
        chd_frame += frames.div_ceil(TRACK_PADDING) * TRACK_PADDING;
    }
    Ok((out, chd_frame))
}

/// The metadata tag of the layout's entries.
pub fn cd_tag() -> u32 {
    CD_TRACK2
}

/// Fills `out` (one frame) with frame `index` of the planned disc.
pub fn fill_frame(disc: &Disc, plans: &[CdTrackPlan], index: u64, out: &mut [u8]) -> Result<()> {
    out.fill(0);
    let i = plans.partition_point(|p| p.chd_frame <= index);
    let Some(p) = i.checked_sub(1).map(|i| &plans[i]) else {
        return Ok(());
    };
    let k = index - p.chd_frame;
    if k >= p.frames {
        return Ok(()); // padding
    }
    let lba = p.from + k as i64;
    let track = disc
        .track(p.number)
        .ok_or_else(|| Error::invalid_input("track vanished"))?;
    let size = p.stored.size() as usize;
    let audio = track.mode == TrackMode::Audio;
    if !direct(disc, track, lba, p.stored, &mut out[..size])? {
        let mut raw = [0u8; RAW];
        disc.read_raw(lba, &mut raw)?;
        let at = match p.stored {
            Stored::Raw => 0,
            Stored::Mode1Data | Stored::Mode2Data => 16,
            Stored::Form1Data | Stored::Form2Data => 24,
        };
        out[..size].copy_from_slice(&raw[at..at + size]);
        if audio {
            // read_raw gives little-endian samples; CHD keeps them big-endian.
            crate::optical::disc::swap_samples(&mut out[..size]);
        }
    }
    if p.sub {
        let mut sub = [0u8; 96];
        disc.read_sub(lba, &mut sub)?;
        out[SECTOR..FRAME].copy_from_slice(&sub);
    }
    Ok(())
}

/// Reads the sector straight from its data file when it is stored in the wanted form (no
/// EDC/ECC built only to be stripped again). Audio ends big-endian.
fn direct(disc: &Disc, t: &Track, lba: i64, want: Stored, out: &mut [u8]) -> Result<bool> {
    let i = t.runs.partition_point(|r| r.end() <= lba);
    let Some(r) = t.runs.get(i) else {
        return Ok(false);
    };
    let Source::File {
        file,
        offset,
        stored,
        swap,
    } = r.source
    else {
        return Ok(false);
    };
    if stored != want || matches!(r.sub, Sub::Q16) {
        return Ok(false);
    }
    let Some(f) = disc.files.get(file) else {
        return Ok(false);
    };
    let at = offset + (lba - r.lba) as u64 * r.stride();
    f.source.read_exact_at(at, out)?;
    if t.mode == TrackMode::Audio && !swap {
        crate::optical::disc::swap_samples(out);
    }
    Ok(true)
}

/// The DVD metadata entry (chdman writes one NUL byte).
pub fn dvd_metadata() -> (u32, Vec<u8>) {
    (DVD, vec![0])
}

/// chdman's geometry for a disk of `sectors` sectors of `bps` bytes: 16 heads of 32 sectors
/// when that divides the disk, else the first exact factorisation, else rounded up.
pub fn hd_metadata(sectors: u64, bps: u32) -> (u32, Vec<u8>) {
    let (mut cyls, mut heads, mut secs) = (sectors.div_ceil(16 * 32), 16u64, 32u64);
    if sectors % (16 * 32) != 0 {
        'search: for s in (1..=63u64).rev() {
            for h in (1..=16u64).rev() {
                if sectors % (s * h) == 0 && sectors / (s * h) <= 65535 {
                    (cyls, heads, secs) = (sectors / (s * h), h, s);
                    break 'search;
                }
            }
        }
    }
    let text = format!("CYLS:{cyls},HEADS:{heads},SECS:{secs},BPS:{bps}\0");
    (HARD_DISK, text.into_bytes())
}
