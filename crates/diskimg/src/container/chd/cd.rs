//! CD-ROM CHDs as optical discs: the `CHT2`/`CHTR` track metadata turned into a
//! [`Disc`] whose sectors are read from the CHD's frames.
//!
//! Layout (MAME `cdrom.h`/`cdrom.cpp`, chdman `createcd`/`extractcd`): every sector is a
//! 2448-byte frame (2352 bytes of main channel, then 96 bytes of subchannel); cooked track
//! types keep their user data at the start of the frame (`MODE1` 2048, `MODE2` 2336,
//! `MODE2_FORM1` 2048, `MODE2_FORM2` 2324, `MODE2_FORM_MIX` 2336; `MODE1_RAW`, `MODE2_RAW`
//! and `AUDIO` 2352), audio samples are big-endian, and each track's frames are padded to a
//! multiple of [`TRACK_PADDING`]. `FRAMES` counts the stored frames; a pregap whose `PGTYPE`
//! starts with `V` is stored (part of `FRAMES`), otherwise `PREGAP` frames are generated, as
//! are `POSTGAP` frames. Subchannel `RW_RAW` is read as interleaved P-W; cooked `RW` is not
//! decoded (a warning says so). Not supported: GD-ROM (`CHGD`) and the old binary table
//! (`CHCD`) layouts.

use super::FORMAT;
use super::device::ChdDevice;
use super::metadata::{self, CD_OLD, CD_TRACK, CD_TRACK2, GD_TRACK};
use crate::error::{Error, Result};
use crate::io::{ReadAt, clamp_len};
use crate::optical::disc::{
    DataFile, Disc, MAX_SECTORS, MAX_TRACKS, Run, Session, SessionKind, Source, Stored, Sub, Track,
    TrackFlags, TrackMode,
};
use std::path::PathBuf;
use std::sync::Arc;

/// Bytes per frame: a 2352-byte sector and 96 bytes of subchannel.
pub const FRAME: usize = 2448;
/// Main-channel bytes per frame.
pub const SECTOR: usize = 2352;
/// Tracks are padded to a multiple of this many frames.
pub const TRACK_PADDING: u64 = 4;

/// One track as the metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdTrackMeta {
    /// Track number.
    pub number: u8,
    /// `TYPE` (`MODE1`, `AUDIO`, ...).
    pub kind: String,
    /// `SUBTYPE` (`NONE`, `RW`, `RW_RAW`).
    pub subtype: String,
    /// Stored frames (a `V` pregap included).
    pub frames: u64,
    /// Pregap frames.
    pub pregap: u64,
    /// `PGTYPE` (`V` first when the pregap is stored).
    pub pgtype: String,
    /// `PGSUB`.
    pub pgsub: String,
    /// Postgap frames (generated).
    pub postgap: u64,
}

/// Whether the metadata says CD (or GD-ROM).
pub fn is_cd(meta: &[metadata::MetadataEntry]) -> bool {
    meta.iter()
        .any(|m| [CD_TRACK2, CD_TRACK, CD_OLD, GD_TRACK].contains(&m.tag))
}

/// The track type's mode and stored layout (cdrdao's track mode keywords).
pub fn track_type(kind: &str) -> Option<(TrackMode, Stored)> {
    crate::optical::toc::mode_of(kind)
}

fn bad(offset: u64, msg: impl Into<String>) -> Error {
    Error::corrupt(FORMAT, "CD track metadata", offset, msg)
}

/// Parses the track metadata, in track order.
pub fn tracks(meta: &[metadata::MetadataEntry]) -> Result<Vec<CdTrackMeta>> {
    if let Some(m) = meta.iter().find(|m| m.tag == GD_TRACK || m.tag == CD_OLD) {
        return Err(Error::unsupported(
            FORMAT,
            format!(
                "{} track metadata (GD-ROM or old binary CD layout)",
                m.tag_name()
            ),
        ));
    }
    let mut out = Vec::new();
    for m in meta
        .iter()
        .filter(|m| m.tag == CD_TRACK2 || m.tag == CD_TRACK)
    {
        let text = m.text();
        let field = |k: &str| {
            metadata::fields(&text)
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.to_owned())
        };
        let num = |k: &str, default: Option<u64>| -> Result<u64> {
            match field(k) {
                Some(v) => v
                    .parse::<u64>()
                    .ok()
                    .filter(|&n| n <= MAX_SECTORS as u64)
                    .ok_or_else(|| bad(m.offset, format!("{k}:{v} in \"{text}\""))),
                None => default.ok_or_else(|| bad(m.offset, format!("no {k} in \"{text}\""))),
            }
        };
        let number = num("TRACK", None)?;
        if number == 0 || number > MAX_TRACKS as u64 {
            return Err(bad(m.offset, format!("track number {number}")));
        }
        out.push(CdTrackMeta {
            number: number as u8,
            kind: field("TYPE").ok_or_else(|| bad(m.offset, "no TYPE"))?,
            subtype: field("SUBTYPE").unwrap_or_else(|| "NONE".into()),
            frames: num("FRAMES", None)?,
            pregap: num("PREGAP", Some(0))?,
            pgtype: field("PGTYPE").unwrap_or_else(|| "MODE1".into()),
            pgsub: field("PGSUB").unwrap_or_else(|| "NONE".into()),
            postgap: num("POSTGAP", Some(0))?,
        });
        if out.len() > MAX_TRACKS {
            return Err(bad(m.offset, format!("more than {MAX_TRACKS} tracks")));
        }
    }
    out.sort_by_key(|t| t.number);
    for (i, t) in out.iter().enumerate() {
        if usize::from(t.number) != i + 1 {
            return Err(bad(
                0,
                format!("track {} where track {} was expected", t.number, i + 1),
            ));
        }
    }
    if out.is_empty() {
        return Err(bad(0, "no CD track metadata"));
    }
    Ok(out)
}

/// A view of the frames' bytes: the first `main` bytes of each frame, then the 96 subchannel
/// bytes when `sub`, record after record; what a [`Run`] reads as its data file.
pub struct FrameView {
    dev: Arc<ChdDevice>,
    main: usize,
    sub: bool,
    frames: u64,
}

impl FrameView {
    fn record(&self) -> usize {
        self.main + if self.sub { 96 } else { 0 }
    }
}

/// Frames read from the CHD at once.
const BATCH_FRAMES: usize = 64;

impl ReadAt for FrameView {
    fn size(&self) -> u64 {
        self.frames * self.record() as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let n = clamp_len(offset, buf.len(), self.size());
        let rec = self.record() as u64;
        let mut done = 0usize;
        let mut tmp = vec![0u8; FRAME * BATCH_FRAMES.min(n / self.record() + 2)];
        while done < n {
            let pos = offset + done as u64;
            let frame = pos / rec;
            let want = (n - done) as u64;
            let frames = ((pos % rec + want).div_ceil(rec) as usize)
                .min(tmp.len() / FRAME)
                .min((self.frames - frame) as usize);
            let raw = &mut tmp[..frames * FRAME];
            self.dev.read_exact_at(frame * FRAME as u64, raw)?;
            for (i, f) in raw.chunks_exact(FRAME).enumerate() {
                let rec_start = (frame + i as u64) * rec;
                let from = pos.max(rec_start) - rec_start;
                let to = (offset + n as u64).min(rec_start + rec) - rec_start;
                let (from, to) = (from as usize, to as usize);
                let main_end = to.min(self.main);
                if from < main_end {
                    buf[done..done + main_end - from].copy_from_slice(&f[from..main_end]);
                    done += main_end - from;
                }
                let sub_from = from.max(self.main);
                if sub_from < to {
                    let (a, b) = (SECTOR + sub_from - self.main, SECTOR + to - self.main);
                    buf[done..done + b - a].copy_from_slice(&f[a..b]);
                    done += b - a;
                }
                if done >= n {
                    break;
                }
            }
        }
        Ok(n)
    }
}

/// The disc in a CD CHD.
pub fn disc(dev: Arc<ChdDevice>, path: Option<PathBuf>) -> Result<Disc> {
    let metas = tracks(&dev.metadata)?;
    let total_frames = dev.header.logical_bytes / FRAME as u64;
    let name = path.unwrap_or_else(|| PathBuf::from("image.chd"));
    let mut disc = Disc::new(FORMAT);
    let mut views: Vec<(usize, bool)> = Vec::new();
    let mut file_for = |disc: &mut Disc, main: usize, sub: bool| -> usize {
        if let Some(i) = views.iter().position(|v| *v == (main, sub)) {
            return i;
        }
        views.push((main, sub));
        disc.files.push(DataFile {
            path: name.clone(),
            source: Arc::new(FrameView {
                dev: dev.clone(),
                main,
                sub,
                frames: total_frames,
            }),
        });
        views.len() - 1
    };
    let (mut lba, mut chd_frame) = (0i64, 0u64);
    let mut has_mode1 = false;
    let mut has_mode2 = false;
    for t in &metas {
        let (mode, stored) = track_type(&t.kind)
            .ok_or_else(|| bad(0, format!("track {}: unknown TYPE {}", t.number, t.kind)))?;
        has_mode1 |= mode == TrackMode::Mode1;
        has_mode2 |= mode.is_data() && mode != TrackMode::Mode1;
        let sub_of = |subtype: &str, disc: &mut Disc| match subtype {
            "RW_RAW" => true,
            "NONE" => false,
            other => {
                disc.warnings.push(format!(
                    "track {}: subchannel type {other} is not decoded (generated instead)",
                    t.number
                ));
                false
            }
        };
        let sub = sub_of(&t.subtype, &mut disc);
        let stored_pregap = t.pgtype.starts_with('V');
        if stored_pregap && t.pregap > t.frames {
            return Err(bad(
                0,
                format!(
                    "track {}: stored pregap of {} frames in {} frames",
                    t.number, t.pregap, t.frames
                ),
            ));
        }
        if chd_frame + t.frames > total_frames {
            return Err(bad(
                0,
                format!(
                    "track {}: frames {}..{} lie past the {total_frames} frames of the image",
                    t.number,
                    chd_frame,
                    chd_frame + t.frames
                ),
            ));
        }
        let first = lba;
        let mut runs = Vec::new();
        let mut stored_run =
            |disc: &mut Disc, lba: i64, count: u64, at: u64, kind: &str, sub: bool| {
                let (m, s) = track_type(kind).unwrap_or((mode, stored));
                // Cooked data is at the frame's start: a view of `size` bytes per frame reads it.
                let file = file_for(disc, s.size() as usize, sub);
                Run {
                    lba,
                    count,
                    source: Source::File {
                        file,
                        offset: at * (s.size() as u64 + if sub { 96 } else { 0 }),
                        stored: s,
                        swap: m == TrackMode::Audio,
                    },
                    sub: if sub { Sub::Interleaved } else { Sub::None },
                }
            };
        let mut at = lba;
        let mut stored_frames = t.frames;
        let mut frame = chd_frame;
        if t.pregap > 0 {
            if stored_pregap {
                let pg_sub = sub_of(&t.pgsub, &mut disc);
                runs.push(stored_run(
                    &mut disc,
                    at,
                    t.pregap,
                    frame,
                    &t.pgtype[1..],
                    pg_sub,
                ));
                stored_frames -= t.pregap;
                frame += t.pregap;
            } else {
                runs.push(Run {
                    lba: at,
                    count: t.pregap,
                    source: Source::Zero,
                    sub: Sub::None,
                });
            }
            at += t.pregap as i64;
        }
        let start = at;
        if stored_frames > 0 {
            runs.push(stored_run(
                &mut disc,
                at,
                stored_frames,
                frame,
                &t.kind,
                sub,
            ));
            at += stored_frames as i64;
        }
        if t.postgap > 0 {
            runs.push(Run {
                lba: at,
                count: t.postgap,
                source: Source::Zero,
                sub: Sub::None,
            });
            at += t.postgap as i64;
        }
        disc.tracks.push(Track {
            number: t.number,
            session: 1,
            mode,
            first,
            start,
            end: at,
            postgap: t.postgap,
            indexes: Vec::new(),
            flags: TrackFlags::default(),
            isrc: None,
            cd_text: Default::default(),
            runs,
        });
        lba = at;
        chd_frame += t.frames.div_ceil(TRACK_PADDING) * TRACK_PADDING;
    }
    disc.sessions.push(Session {
        number: 1,
        kind: if has_mode2 {
            SessionKind::CdRomXa
        } else if has_mode1 {
            SessionKind::CdRom
        } else {
            SessionKind::CdDa
        },
    });
    disc.validate()?;
    Ok(disc)
}
