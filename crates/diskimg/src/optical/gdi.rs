//! Dreamcast GD-ROM track lists (`.gdi`): read only.
//!
//! A text file: the track count, then one line per track: number, start LBA, type (0 audio,
//! 4 data), sector size (2352 or 2048), file name (quoted when it has spaces) and an offset
//! that is always 0. Each track's file holds its sectors from that LBA; audio is
//! little-endian. Tracks from LBA 45000 lie in the high-density area and are shown as a
//! second session, so the game's data track (track 3, at 45000) is the default; its ISO 9660
//! records LBAs from the start of the disc, which the user-data view keeps.

use super::disc::{
    Disc, Run, Session, SessionKind, Source, Stored, Sub, Track, TrackFlags, TrackMode,
};
use super::files::Resolver;
use super::sector::{self, RAW, SectorKind};
use crate::error::{Error, Result};

/// Format name.
pub const FORMAT: &str = "gdi";
/// Largest `.gdi` read.
pub const MAX_GDI_SIZE: u64 = 64 * 1024;
/// Where the high-density area starts.
pub const HIGH_DENSITY: i64 = 45_000;

/// Whether `head` looks like a GDI track list.
pub fn probe(head: &[u8]) -> bool {
    if head.contains(&0) {
        return false;
    }
    let text = String::from_utf8_lossy(head);
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let Some(count) = lines.next().and_then(|l| l.trim().parse::<u32>().ok()) else {
        return false;
    };
    if count == 0 || count > 99 {
        return false;
    }
    lines.next().is_some_and(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        w.len() >= 5
            && w[0] == "1"
            && w[1].parse::<u32>().is_ok()
            && matches!(w[2], "0" | "4")
            && matches!(w[3], "2352" | "2048")
    })
}

/// The fields of a track line; the name may be quoted and hold spaces.
fn fields(line: &str) -> Option<(u8, i64, u8, u32, String)> {
    fn word(rest: &mut &str) -> String {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let (w, r) = rest.split_at(end);
        *rest = r.trim_start();
        w.to_owned()
    }
    let mut rest = line.trim();
    let number = word(&mut rest).parse().ok()?;
    let lba = word(&mut rest).parse().ok()?;
    let kind = word(&mut rest).parse().ok()?;
    let size = word(&mut rest).parse().ok()?;
    let name = if let Some(q) = rest.strip_prefix('"') {
        let end = q.find('"')?;
        q[..end].to_owned()
    } else {
        word(&mut rest)
    };
    Some((number, lba, kind, size, name))
}

/// Opens a GDI track list.
pub fn open(bytes: &[u8], files: &dyn Resolver) -> Result<Disc> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let bad = |msg: String| Error::corrupt(FORMAT, "track list", 0, msg);
    let count: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| bad("no track count".into()))?;
    if count == 0 || count > super::disc::MAX_TRACKS {
        return Err(bad(format!("{count} tracks")));
    }
    let mut disc = Disc::new(FORMAT);
    for line in lines.take(count) {
        let (number, lba, kind, size, name) =
            fields(line).ok_or_else(|| bad(format!("bad track line \"{}\"", line.trim())))?;
        if !(0..super::disc::MAX_SECTORS).contains(&lba) {
            return Err(bad(format!("track {number}: LBA {lba} out of range")));
        }
        let stored = match size {
            2352 => Stored::Raw,
            2048 => Stored::Mode1Data,
            _ => {
                return Err(Error::unsupported(
                    FORMAT,
                    format!("track {number}: {size}-byte sectors"),
                ));
            }
        };
        let f = files.open(&name)?;
        let count = f.source.size() / u64::from(size);
        if count == 0 {
            return Err(Error::new(
                crate::ErrorKind::OutOfBounds,
                format!("{} holds no whole sector", f.path.display()),
            )
            .with_format(FORMAT));
        }
        let mode = match (kind, stored) {
            (0, _) => TrackMode::Audio,
            (_, Stored::Mode1Data) => TrackMode::Mode1,
            _ => {
                let mut raw = [0u8; RAW];
                f.source.read_exact_at(0, &mut raw)?;
                if sector::kind_of(&raw) == SectorKind::Mode1 {
                    TrackMode::Mode1
                } else {
                    TrackMode::Mode2Mixed
                }
            }
        };
        disc.files.push(f);
        let session = if lba >= HIGH_DENSITY { 2 } else { 1 };
        if !disc.sessions.iter().any(|s| s.number == session) {
            disc.sessions.push(Session {
                number: session,
                kind: SessionKind::CdRom,
            });
        }
        disc.tracks.push(Track {
            number,
            session,
            mode,
            first: lba,
            start: lba,
            end: lba + count as i64,
            postgap: 0,
            indexes: Vec::new(),
            flags: TrackFlags::from_control(if kind == 4 { 4 } else { 0 }),
            isrc: None,
            cd_text: Default::default(),
            runs: vec![Run {
                lba,
                count,
                source: Source::File {
                    file: disc.files.len() - 1,
                    offset: 0,
                    stored,
                    swap: false,
                },
                sub: Sub::None,
            }],
        });
    }
    if disc.tracks.len() != count {
        return Err(bad(format!(
            "{count} tracks announced, {} listed",
            disc.tracks.len()
        )));
    }
    super::cue::set_session_kinds(&mut disc);
    disc.validate()?;
    Ok(disc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optical::files::ZeroFiles;

    #[test]
    fn reads_a_track_list() {
        let gdi = b"3\n1 0 4 2352 track01.bin 0\n2 450 0 2352 \"track 02.raw\" 0\n3 45000 4 2048 track03.iso 0\n";
        assert!(probe(gdi));
        let d = open(gdi, &ZeroFiles(100 * 2352)).unwrap();
        assert_eq!(d.tracks.len(), 3);
        assert_eq!(d.tracks[2].start, 45000);
        assert_eq!(d.default_data_track().map(|t| t.number), Some(3));
        assert!(open(b"2\n1 0 4 2352 a 0\n", &ZeroFiles(2352)).is_err());
        assert!(open(b"1\n1 0 4 1234 a 0\n", &ZeroFiles(2352)).is_err());
        assert!(!probe(b"hello\n"));
    }
}
