//! Sector images without a descriptor: a `.bin`/`.img` of raw 2352-byte sectors (sync
//! pattern first), read as one data track; and a plain 2048-byte image (an ISO) taken as a
//! one-track mode 1 disc, which is how conversion reads an ISO.

use super::disc::{
    DataFile, Disc, Run, Session, SessionKind, Source, Stored, Sub, Track, TrackFlags, TrackMode,
};
use super::sector::{self, RAW, USER};
use crate::error::{Error, Result};

/// Format name of raw sector images.
pub const FORMAT: &str = "rawcd";
/// Format name of a plain user-data image taken as a disc.
pub const ISO: &str = "iso";

/// Whether `head` starts with two raw data sectors and `size` is a whole number of them.
pub fn probe(head: &[u8], size: u64) -> bool {
    size >= 2 * RAW as u64
        && size % RAW as u64 == 0
        && head.len() >= RAW + 16
        && sector::has_sync(head)
        && sector::has_sync(&head[RAW..])
        && matches!(head[15], 1 | 2)
}

fn one_track(
    format: &'static str,
    file: DataFile,
    mode: TrackMode,
    stored: Stored,
) -> Result<Disc> {
    let count = file.source.size() / u64::from(stored.size());
    if count == 0 {
        return Err(Error::corrupt(format, "image", 0, "no whole sector"));
    }
    let mut disc = Disc::new(format);
    disc.files.push(file);
    disc.sessions.push(Session {
        number: 1,
        kind: if mode == TrackMode::Mode1 {
            SessionKind::CdRom
        } else {
            SessionKind::CdRomXa
        },
    });
    disc.tracks.push(Track {
        number: 1,
        session: 1,
        mode,
        first: 0,
        start: 0,
        end: count as i64,
        postgap: 0,
        indexes: Vec::new(),
        flags: TrackFlags::default(),
        isrc: None,
        cd_text: Default::default(),
        runs: vec![Run {
            lba: 0,
            count,
            source: Source::File {
                file: 0,
                offset: 0,
                stored,
                swap: false,
            },
            sub: Sub::None,
        }],
    });
    disc.validate()?;
    Ok(disc)
}

/// A raw sector image as a one-track disc; the mode is the first sector's.
pub fn open(file: DataFile) -> Result<Disc> {
    let mut s = [0u8; RAW];
    file.source.read_exact_at(0, &mut s)?;
    let mode = if s[15] == 1 {
        TrackMode::Mode1
    } else {
        TrackMode::Mode2Mixed
    };
    one_track(FORMAT, file, mode, Stored::Raw)
}

/// A plain 2048-byte-sector image as a one-track mode 1 disc.
pub fn from_user_data(file: DataFile) -> Result<Disc> {
    if file.source.size() % USER as u64 != 0 {
        return Err(Error::invalid_input(format!(
            "{} is {} bytes, not a whole number of 2048-byte sectors",
            file.path.display(),
            file.source.size()
        )));
    }
    one_track(ISO, file, TrackMode::Mode1, Stored::Mode1Data)
}
