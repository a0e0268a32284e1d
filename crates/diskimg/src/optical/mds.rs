//! Alcohol 120% images, version 1: a binary `.mds` descriptor and the `.mdf` sector data.
//! Read and written.
//!
//! Structures as libmirage's `image-mds` documents them (cdemu/cdemu), all little-endian: an
//! 88-byte header (`MEDIA DESCRIPTOR`, version 1.x, medium type, session count, offset of the
//! session blocks); 24-byte session blocks (start and end LBA, number, count of TOC blocks,
//! first and last track, offset of the TOC blocks); 80-byte TOC blocks per session (mode,
//! subchannel mode, ADR/CONTROL, point, P-MSF, offset of an 8-byte extra block with the pregap
//! and length, sector size, start LBA, start offset in the data file, file count and footer
//! offset); 16-byte footers naming the data file (`*.mdf` means the descriptor's own name
//! with `.mdf`), 8-bit or UTF-16. Sector sizes 2048, 2336, 2352, and 2448 with 96 bytes of
//! interleaved subchannel. The data file holds each track from index 1; a pregap is read from
//! the data file when its sectors sit between the previous track's end and the track's start
//! (as this writer and Alcohol store them), else generated.
//! Not supported: version 2 (`.mdx`, encrypted), data split over several files, DVD disc
//! structures, BCA and DPM data (ignored).

use super::disc::{
    Disc, Run, Session, SessionKind, Source, Stored, Sub, Track, TrackFlags, TrackMode,
};
use super::files::Resolver;
use super::msf::lba_to_msf;
use crate::error::{Error, Result};

/// Format name.
pub const FORMAT: &str = "mds";
/// Largest descriptor read.
pub const MAX_MDS_SIZE: u64 = 4 << 20;
/// The signature.
pub const SIGNATURE: &[u8; 16] = b"MEDIA DESCRIPTOR";

/// Whether `head` is an Alcohol version 1 descriptor.
pub fn probe(head: &[u8]) -> bool {
    head.len() >= 88 && &head[..16] == SIGNATURE && head[16] == 1
}

fn le16(b: &[u8], at: usize) -> Result<u16> {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or_else(|| short(at))
}

fn le32(b: &[u8], at: usize) -> Result<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| short(at))
}

fn le64(b: &[u8], at: usize) -> Result<u64> {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_le_bytes)
        .ok_or_else(|| short(at))
}

fn short(at: usize) -> Error {
    Error::corrupt(
        FORMAT,
        "descriptor",
        at as u64,
        "structure runs past the end of the file",
    )
}

/// Mode and stored layout of an MDS mode byte and sector size.
fn mode_of(mode: u8, size: u16, sub: bool) -> Option<(TrackMode, Stored)> {
    let main = if sub { size.checked_sub(96)? } else { size };
    let m = match mode & 0x0f {
        0x9 | 0x1 => TrackMode::Audio,
        0xa | 0x2 => TrackMode::Mode1,
        0xc | 0x4 => TrackMode::Mode2Form1,
        0xd | 0x5 => TrackMode::Mode2Form2,
        _ => TrackMode::Mode2Mixed,
    };
    let stored = match (main, m) {
        (2352, _) => Stored::Raw,
        (2048, TrackMode::Mode1) => Stored::Mode1Data,
        (2048, _) => Stored::Form1Data,
        (2336, _) => Stored::Mode2Data,
        (2324, _) => Stored::Form2Data,
        _ => return None,
    };
    Some((m, stored))
}

/// The mode byte for a track.
fn mode_byte(mode: TrackMode) -> u8 {
    match mode {
        TrackMode::Audio => 0xa9,
        TrackMode::Mode1 => 0xaa,
        TrackMode::Mode2Form1 => 0xac,
        TrackMode::Mode2Form2 => 0xad,
        _ => 0xab,
    }
}

/// Opens an Alcohol image from its descriptor's bytes.
pub fn open(b: &[u8], files: &dyn Resolver) -> Result<Disc> {
    if !probe(b) {
        return Err(Error::corrupt(
            FORMAT,
            "header",
            0,
            "no MEDIA DESCRIPTOR version 1 signature",
        ));
    }
    let medium = le16(b, 18)?;
    let dvd = medium >= 0x10;
    let sessions = usize::from(le16(b, 20)?);
    if sessions == 0 || sessions > super::disc::MAX_SESSIONS {
        return Err(Error::corrupt(
            FORMAT,
            "header",
            20,
            format!("{sessions} sessions"),
        ));
    }
    let sess_off = le32(b, 80)? as usize;
    let mut disc = Disc::new(FORMAT);
    let mut data_file = None::<usize>;
    let mut prev_end_offset = None::<u64>;
    for s in 0..sessions {
        let sb = sess_off + s * 24;
        let number = u8::try_from(le16(b, sb + 8)?).map_err(|_| {
            Error::corrupt(
                FORMAT,
                "session block",
                sb as u64,
                "session number out of range",
            )
        })?;
        let blocks = usize::from(*b.get(sb + 10).ok_or_else(|| short(sb + 10))?);
        let blocks_off = le32(b, sb + 20)? as usize;
        let session_end = i64::from(le32(b, sb + 4)? as i32);
        disc.sessions.push(Session {
            number,
            kind: SessionKind::CdRom,
        });
        let mut rows = Vec::new();
        for k in 0..blocks {
            let tb = blocks_off + k * 80;
            // The whole block must be there: its fields are read by index below.
            let block = b.get(tb..tb + 80).ok_or_else(|| short(tb))?;
            rows.push((tb, block[4]));
        }
        let leadout = rows.iter().find(|(_, p)| *p == 0xa2).map(|&(tb, _)| {
            let (m, sec, f) = (b[tb + 9], b[tb + 10], b[tb + 11]);
            (i64::from(m) * 60 + i64::from(sec)) * 75 + i64::from(f) - 150
        });
        let tracks: Vec<usize> = rows
            .iter()
            .filter(|(_, p)| (1..=99).contains(p))
            .map(|&(tb, _)| tb)
            .collect();
        for (i, &tb) in tracks.iter().enumerate() {
            let n = b[tb + 4];
            let sub = b[tb + 1] == 0x08;
            let size = le16(b, tb + 16)?;
            let (mode, stored) = mode_of(b[tb], size, sub).ok_or_else(|| {
                Error::unsupported(
                    FORMAT,
                    format!("track {n}: mode {:#04x} with {size}-byte sectors", b[tb]),
                )
            })?;
            let stride = u64::from(size);
            let start = i64::from(le32(b, tb + 36)?);
            let start_offset = le64(b, tb + 40)?;
            let files_n = le32(b, tb + 48)?;
            let footer = le32(b, tb + 52)? as usize;
            let extra = le32(b, tb + 12)? as usize;
            if files_n != 1 {
                return Err(Error::unsupported(
                    FORMAT,
                    format!("track {n} stored in {files_n} files"),
                ));
            }
            if data_file.is_none() {
                let name_off = le32(b, footer)? as usize;
                let wide = le32(b, footer + 4)? != 0;
                let name = file_name(b, name_off, wide)?;
                let name = match name.strip_prefix("*.") {
                    Some(ext) => files
                        .descriptor()
                        .and_then(|p| {
                            p.with_extension(ext)
                                .file_name()
                                .map(|f| f.to_string_lossy().into_owned())
                        })
                        .unwrap_or(format!("image.{ext}")),
                    None => name,
                };
                disc.files.push(files.open(&name)?);
                data_file = Some(disc.files.len() - 1);
            }
            let file = data_file.unwrap_or(0);
            let (pregap, length) = if dvd || extra == 0 {
                let size = disc.files[file].source.size();
                (0i64, size.saturating_sub(start_offset) / stride)
            } else {
                (i64::from(le32(b, extra)?), u64::from(le32(b, extra + 4)?))
            };
            let length = match (tracks.get(i + 1), leadout) {
                _ if length > 0 => length,
                (None, Some(l)) => (l - start).max(0) as u64,
                _ => length,
            };
            if length == 0 {
                return Err(Error::corrupt(
                    FORMAT,
                    "track block",
                    tb as u64,
                    format!("track {n} has no sectors"),
                ));
            }
            let sub = if sub { Sub::Interleaved } else { Sub::None };
            let mut runs = Vec::new();
            let pregap_bytes = pregap as u64 * stride;
            let stored_pregap = pregap > 0
                && prev_end_offset
                    .is_some_and(|e| start_offset.checked_sub(pregap_bytes) == Some(e));
            if pregap > 0 {
                let source = if stored_pregap {
                    Source::File {
                        file,
                        offset: start_offset - pregap_bytes,
                        stored,
                        swap: false,
                    }
                } else {
                    Source::Zero
                };
                runs.push(Run {
                    lba: start - pregap,
                    count: pregap as u64,
                    source,
                    sub: if stored_pregap { sub } else { Sub::None },
                });
            }
            runs.push(Run {
                lba: start,
                count: length,
                source: Source::File {
                    file,
                    offset: start_offset,
                    stored,
                    swap: false,
                },
                sub,
            });
            prev_end_offset = Some(
                length
                    .checked_mul(stride)
                    .and_then(|n| n.checked_add(start_offset))
                    .ok_or_else(|| {
                        Error::corrupt(
                            FORMAT,
                            "track block",
                            tb as u64,
                            format!("track {n} data runs past any file"),
                        )
                    })?,
            );
            disc.tracks.push(Track {
                number: n,
                session: number,
                mode,
                first: start - pregap,
                start,
                end: start + length as i64,
                postgap: 0,
                indexes: Vec::new(),
                flags: TrackFlags::from_control(b[tb + 2] & 0x0f),
                isrc: None,
                cd_text: Default::default(),
                runs,
            });
        }
        let _ = session_end;
    }
    super::cue::set_session_kinds(&mut disc);
    disc.validate()?;
    Ok(disc)
}

fn file_name(b: &[u8], at: usize, wide: bool) -> Result<String> {
    let rest = b.get(at..).ok_or_else(|| short(at))?;
    let name = if wide {
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|&u| u != 0)
            .take(1024)
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        rest.iter()
            .take_while(|&&c| c != 0)
            .take(1024)
            .map(|&c| char::from(c))
            .collect()
    };
    if name.is_empty() {
        return Err(Error::corrupt(
            FORMAT,
            "footer",
            at as u64,
            "empty data file name",
        ));
    }
    Ok(name)
}

/// A track as written to the `.mdf`: number, sector size, subchannel, byte offset of the
/// first sector written and of index 1.
#[derive(Debug, Clone, Copy)]
pub struct MdfTrack {
    /// Track number.
    pub number: u8,
    /// Bytes per sector, subchannel included.
    pub sector_size: u16,
    /// Whether 96 bytes of subchannel follow each sector.
    pub subchannel: bool,
    /// Offset of index 1 in the data file.
    pub start_offset: u64,
}

fn put16(v: &mut [u8], at: usize, x: u16) {
    v[at..at + 2].copy_from_slice(&x.to_le_bytes());
}

fn put32(v: &mut [u8], at: usize, x: u32) {
    v[at..at + 4].copy_from_slice(&x.to_le_bytes());
}

/// The descriptor of `disc` laid out in the data file as `tracks` say.
pub fn write(disc: &Disc, tracks: &[MdfTrack]) -> Vec<u8> {
    let sessions = disc.sessions.len();
    let blocks_per: Vec<usize> = disc
        .sessions
        .iter()
        .map(|s| 3 + disc.session_tracks(s.number).count())
        .collect();
    let sess_off = 88;
    let blocks_off = sess_off + 24 * sessions;
    let total_blocks: usize = blocks_per.iter().sum();
    let extra_off = blocks_off + 80 * total_blocks;
    let footer_off = extra_off + 8 * disc.tracks.len();
    let name_off = footer_off + 16;
    let mut out = vec![0u8; name_off];
    out[..16].copy_from_slice(SIGNATURE);
    out[16] = 1;
    out[17] = 3;
    put16(&mut out, 20, u16::try_from(sessions).unwrap_or(1));
    put32(&mut out, 80, sess_off as u32);
    let mut block = blocks_off;
    let mut extra = extra_off;
    for (si, s) in disc.sessions.iter().enumerate() {
        let ts: Vec<&Track> = disc.session_tracks(s.number).collect();
        let (Some(&first), Some(&last)) = (ts.first(), ts.last()) else {
            continue;
        };
        let sb = sess_off + si * 24;
        put32(
            &mut out,
            sb,
            (first.first.min(first.start - 150)) as i32 as u32,
        );
        put32(&mut out, sb + 4, last.end as i32 as u32);
        put16(&mut out, sb + 8, u16::from(s.number));
        out[sb + 10] = blocks_per[si] as u8;
        out[sb + 11] = 3;
        put16(&mut out, sb + 12, u16::from(first.number));
        put16(&mut out, sb + 14, u16::from(last.number));
        put32(&mut out, sb + 20, block as u32);
        let kind = if s.kind == SessionKind::CdRomXa {
            0x20
        } else {
            0
        };
        let c = |t: &Track| t.flags.control(t.mode);
        for (point, t, msf) in [
            (0xa0u8, first, (first.number, kind, 0u8)),
            (0xa1, last, (last.number, 0, 0)),
            (0xa2, last, lba_to_msf(last.end + 150)),
        ] {
            out[block + 2] = 0x10 | c(t);
            out[block + 4] = point;
            out[block + 9] = msf.0;
            out[block + 10] = msf.1;
            out[block + 11] = msf.2;
            block += 80;
        }
        for t in ts {
            let Some(w) = tracks.iter().find(|w| w.number == t.number) else {
                continue;
            };
            let (m, sec, f) = lba_to_msf(t.start + 150);
            out[block] = mode_byte(t.mode);
            out[block + 1] = if w.subchannel { 0x08 } else { 0 };
            out[block + 2] = 0x10 | c(t);
            out[block + 4] = t.number;
            out[block + 9] = m;
            out[block + 10] = sec;
            out[block + 11] = f;
            put32(&mut out, block + 12, extra as u32);
            put16(&mut out, block + 16, w.sector_size);
            put32(&mut out, block + 36, t.start as u32);
            out[block + 40..block + 48].copy_from_slice(&w.start_offset.to_le_bytes());
            put32(&mut out, block + 48, 1);
            put32(&mut out, block + 52, footer_off as u32);
            let pregap = t
                .pregap()
                .max(if t.number == first.number { 150 } else { 0 });
            put32(&mut out, extra, pregap as u32);
            put32(&mut out, extra + 4, t.length() as u32);
            extra += 8;
            block += 80;
        }
    }
    put32(&mut out, footer_off, name_off as u32);
    out.extend_from_slice(b"*.mdf\0");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optical::files::ZeroFiles;

    #[test]
    fn written_descriptors_read_back() {
        let disc = crate::optical::disc::tests_support::one_track(TrackMode::Mode1);
        let mds = write(
            &disc,
            &[MdfTrack {
                number: 1,
                sector_size: 2352,
                subchannel: false,
                start_offset: 0,
            }],
        );
        assert!(probe(&mds));
        let back = open(&mds, &ZeroFiles(10 * 2352)).unwrap();
        let t = &back.tracks[0];
        assert_eq!(
            (t.first, t.start, t.end, t.mode),
            (-150, 0, 10, TrackMode::Mode1)
        );
        assert_eq!(t.stored(), Some(Stored::Raw));
    }

    #[test]
    fn truncated_descriptors_are_errors() {
        let disc = crate::optical::disc::tests_support::one_track(TrackMode::Mode1);
        let mds = write(
            &disc,
            &[MdfTrack {
                number: 1,
                sector_size: 2352,
                subchannel: false,
                start_offset: 0,
            }],
        );
        for cut in [88, 120, 200, mds.len() - 6, mds.len() - 10] {
            assert!(
                open(&mds[..cut], &ZeroFiles(10 * 2352)).is_err(),
                "cut at {cut}"
            );
        }
    }
}
