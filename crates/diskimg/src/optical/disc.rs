//! The disc model: sessions, tracks, and where each sector's bytes are stored.
//!
//! Every format parser builds a [`Disc`]; everything else (the user-data views the file-system
//! readers open, `info`, conversion, verification, audio extraction) works on the model alone.
//! Addresses are LBAs (LBA 0 = MSF 00:02:00). A track covers `[first, end)`: its pregap
//! (index 0) from `first` to `start` (index 1), then its data and postgap. Each sector of a
//! track is described by one [`Run`]: stored in a data file in some [`Stored`] layout, with
//! or without subchannel, or not stored at all (pregaps and postgaps that formats generate).

use super::msf::{bcd, lba_to_msf};
use super::sector::{self, RAW, SectorKind, USER};
use super::subchannel;
use crate::error::{Error, ErrorKind, Result};
use crate::io::ReadAt;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;

/// Most tracks on a disc (the CD standard allows 99).
pub const MAX_TRACKS: usize = 99;
/// Most sessions on a disc.
pub const MAX_SESSIONS: usize = 99;
/// Most indexes in one track (the CD standard allows 99).
pub const MAX_INDEXES: usize = 99;
/// Most sectors a disc may address: 2^26 sectors of 2048 bytes is 128 GiB, above every BD.
pub const MAX_SECTORS: i64 = 1 << 26;
/// Most storage runs in one track.
pub const MAX_RUNS: usize = 256;

/// The sector type of a track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TrackMode {
    /// CD-DA audio.
    Audio,
    /// Mode 1 data.
    Mode1,
    /// Mode 2 without a known form (2336 bytes after the header).
    Mode2,
    /// Mode 2 form 1 only.
    Mode2Form1,
    /// Mode 2 form 2 only.
    Mode2Form2,
    /// Mode 2 with form 1 and form 2 sectors (CD-ROM XA, Video CD).
    Mode2Mixed,
}

impl TrackMode {
    /// Whether the track holds data rather than audio.
    pub fn is_data(self) -> bool {
        self != TrackMode::Audio
    }

    /// The family name cue sheets use: `AUDIO`, `MODE1`, `MODE2`.
    pub fn family(self) -> &'static str {
        match self {
            TrackMode::Audio => "AUDIO",
            TrackMode::Mode1 => "MODE1",
            _ => "MODE2",
        }
    }

    /// The kind of an empty sector of this mode, generated where a format stores none.
    pub fn blank_kind(self) -> SectorKind {
        match self {
            TrackMode::Audio => SectorKind::Audio,
            TrackMode::Mode1 => SectorKind::Mode1,
            TrackMode::Mode2Form1 => SectorKind::Mode2Form1,
            TrackMode::Mode2Form2 | TrackMode::Mode2Mixed => SectorKind::Mode2Form2,
            TrackMode::Mode2 => SectorKind::Mode2Formless,
        }
    }
}

/// What a data file holds for each sector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Stored {
    /// The whole 2352-byte sector (audio PCM, or sync + header + data + EDC/ECC).
    Raw,
    /// The 2048 bytes of user data of a mode 1 sector.
    Mode1Data,
    /// The 2336 bytes after the header of a mode 2 sector (subheader included).
    Mode2Data,
    /// The 2048 bytes of user data of a mode 2 form 1 sector.
    Form1Data,
    /// The 2324 bytes of user data of a mode 2 form 2 sector.
    Form2Data,
}

impl Stored {
    /// Bytes stored per sector (without subchannel).
    pub fn size(self) -> u32 {
        match self {
            Stored::Raw => 2352,
            Stored::Mode1Data | Stored::Form1Data => 2048,
            Stored::Mode2Data => 2336,
            Stored::Form2Data => 2324,
        }
    }
}

/// How subchannel data is stored with a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sub {
    /// None stored: it is generated from the table of contents when needed.
    None,
    /// 96 bytes of raw interleaved P-W after each sector's main data in the same record.
    Interleaved,
    /// 16 bytes after each sector's main data: the 12 Q bytes and 4 bytes of padding.
    Q16,
    /// 96 bytes per sector of deinterleaved P-W (12 bytes per channel) in another file
    /// (CloneCD `.sub`), at `offset` for the run's first sector.
    Linear {
        /// Index in [`Disc::files`].
        file: usize,
        /// Offset of the first sector's subchannel.
        offset: u64,
    },
}

/// Where a run of sectors comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Not stored: empty sectors of the track's mode (silence for audio).
    Zero,
    /// Stored in a data file.
    File {
        /// Index in [`Disc::files`].
        file: usize,
        /// Byte offset of the first sector.
        offset: u64,
        /// What each sector record holds.
        stored: Stored,
        /// Audio samples are big-endian in the file (cdrdao raw files, cue `MOTOROLA`).
        swap: bool,
    },
}

/// A run of consecutive sectors stored the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// First sector.
    pub lba: i64,
    /// Number of sectors.
    pub count: u64,
    /// Where their main-channel bytes are.
    pub source: Source,
    /// Where their subchannel bytes are.
    pub sub: Sub,
}

impl Run {
    /// Bytes per sector record in the data file.
    pub fn stride(&self) -> u64 {
        let main = match self.source {
            Source::File { stored, .. } => u64::from(stored.size()),
            Source::Zero => 0,
        };
        main + match self.sub {
            Sub::Interleaved => 96,
            Sub::Q16 => 16,
            _ => 0,
        }
    }

    /// The end sector (exclusive).
    pub fn end(&self) -> i64 {
        self.lba + self.count as i64
    }
}

/// Track control flags (the Q-channel CONTROL field).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TrackFlags {
    /// Digital copy permitted (cue `DCP`).
    pub copy_permitted: bool,
    /// Four-channel audio (cue `4CH`).
    pub four_channel: bool,
    /// Pre-emphasis (cue `PRE`).
    pub pre_emphasis: bool,
    /// Serial copy management system (cue `SCMS`; not part of CONTROL).
    pub scms: bool,
}

impl TrackFlags {
    /// The 4-bit CONTROL field for a track of `mode`.
    pub fn control(&self, mode: TrackMode) -> u8 {
        let mut c = 0;
        if self.pre_emphasis {
            c |= 1;
        }
        if self.copy_permitted {
            c |= 2;
        }
        if mode.is_data() {
            c |= 4;
        }
        if self.four_channel {
            c |= 8;
        }
        c
    }

    /// Flags from a CONTROL field.
    pub fn from_control(c: u8) -> Self {
        TrackFlags {
            pre_emphasis: c & 1 != 0,
            copy_permitted: c & 2 != 0,
            four_channel: c & 8 != 0,
            scms: false,
        }
    }

    /// Whether any flag is set.
    pub fn any(&self) -> bool {
        self.copy_permitted || self.four_channel || self.pre_emphasis || self.scms
    }
}

/// CD-TEXT fields of the disc (album) or of one track, block 0 only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CdText {
    /// Album or track title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Performer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub performer: Option<String>,
    /// Songwriter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub songwriter: Option<String>,
    /// Composer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub composer: Option<String>,
    /// Arranger.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arranger: Option<String>,
    /// Message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Disc identification (album only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disc_id: Option<String>,
    /// UPC/EAN of the album, or ISRC of a track, as CD-TEXT stores it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upc_isrc: Option<String>,
}

impl CdText {
    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        self.fields().all(|(_, v)| v.is_none())
    }

    /// The fields by their cue-sheet keyword.
    pub fn fields(&self) -> impl Iterator<Item = (&'static str, Option<&String>)> {
        [
            ("TITLE", self.title.as_ref()),
            ("PERFORMER", self.performer.as_ref()),
            ("SONGWRITER", self.songwriter.as_ref()),
            ("COMPOSER", self.composer.as_ref()),
            ("ARRANGER", self.arranger.as_ref()),
            ("MESSAGE", self.message.as_ref()),
            ("DISC_ID", self.disc_id.as_ref()),
            ("UPC_EAN", self.upc_isrc.as_ref()),
        ]
        .into_iter()
    }

    /// The field named by cue/TOC keyword `key`.
    pub fn field_mut(&mut self, key: &str) -> Option<&mut Option<String>> {
        Some(match key {
            "TITLE" => &mut self.title,
            "PERFORMER" => &mut self.performer,
            "SONGWRITER" => &mut self.songwriter,
            "COMPOSER" => &mut self.composer,
            "ARRANGER" => &mut self.arranger,
            "MESSAGE" => &mut self.message,
            "DISC_ID" => &mut self.disc_id,
            "UPC_EAN" | "ISRC" => &mut self.upc_isrc,
            _ => return None,
        })
    }
}

/// One track.
#[derive(Debug, Clone)]
pub struct Track {
    /// Track number (1-99).
    pub number: u8,
    /// Session number (from 1).
    pub session: u8,
    /// Sector type.
    pub mode: TrackMode,
    /// First sector, where the pregap (index 0) starts.
    pub first: i64,
    /// Index 1: where the track proper starts.
    pub start: i64,
    /// End (exclusive), postgap included.
    pub end: i64,
    /// Sectors of postgap at the end of the track.
    pub postgap: u64,
    /// Starts of indexes 2, 3, ... (absolute LBAs).
    pub indexes: Vec<i64>,
    /// Control flags.
    pub flags: TrackFlags,
    /// International Standard Recording Code.
    pub isrc: Option<String>,
    /// CD-TEXT of the track.
    pub cd_text: CdText,
    /// Storage of every sector in `[first, end)`, in order.
    pub runs: Vec<Run>,
}

impl Track {
    /// Sectors from index 1 to the end.
    pub fn length(&self) -> u64 {
        (self.end - self.start) as u64
    }

    /// Sectors of pregap.
    pub fn pregap(&self) -> u64 {
        (self.start - self.first) as u64
    }

    /// The layout of the stored sectors (of the first stored run), if any are stored.
    pub fn stored(&self) -> Option<Stored> {
        self.runs.iter().find_map(|r| match r.source {
            Source::File { stored, .. } => Some(stored),
            Source::Zero => None,
        })
    }

    /// The cue-sheet name of the track's mode and stored size: `AUDIO`, `MODE1/2048`,
    /// `MODE2/2352`, ...
    pub fn mode_name(&self) -> String {
        if self.mode == TrackMode::Audio {
            return "AUDIO".to_owned();
        }
        let size = self.stored().map_or(2352, Stored::size);
        format!("{}/{size}", self.mode.family())
    }

    /// Whether any sector has stored subchannel data.
    pub fn has_subchannel(&self) -> bool {
        self.runs.iter().any(|r| !matches!(r.sub, Sub::None))
    }

    /// The index number and index start of `lba` (0 in the pregap).
    pub fn index_at(&self, lba: i64) -> (u8, i64) {
        if lba < self.start {
            return (0, self.first);
        }
        let mut index = (1u8, self.start);
        for (i, &at) in self.indexes.iter().enumerate() {
            if lba >= at {
                index = (u8::try_from(i + 2).unwrap_or(99), at);
            }
        }
        index
    }
}

/// The format of a session, as its lead-in says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SessionKind {
    /// Audio only (`CD_DA`).
    CdDa,
    /// Mode 1 data, possibly with audio (`CD_ROM`).
    CdRom,
    /// Mode 2 data (`CD_ROM_XA`).
    CdRomXa,
    /// CD-i.
    CdI,
}

/// One session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Session number (from 1).
    pub number: u8,
    /// Its format.
    pub kind: SessionKind,
}

/// A data file a disc reads from.
#[derive(Clone)]
pub struct DataFile {
    /// Where it is on the host (or a name, for in-memory sources).
    pub path: PathBuf,
    /// Its bytes.
    pub source: Arc<dyn ReadAt>,
}

impl std::fmt::Debug for DataFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({} bytes)", self.path.display(), self.source.size())
    }
}

/// An optical disc image: sessions, tracks and the data files behind them.
#[derive(Debug, Clone)]
pub struct Disc {
    /// The image format (`cue`, `nrg`, ...).
    pub format: &'static str,
    /// Data files, referenced by index from the runs.
    pub files: Vec<DataFile>,
    /// Sessions, in order.
    pub sessions: Vec<Session>,
    /// Tracks of all sessions, in disc order.
    pub tracks: Vec<Track>,
    /// Media catalogue number (UPC/EAN, 13 digits).
    pub catalog: Option<String>,
    /// Album CD-TEXT.
    pub cd_text: CdText,
    /// Facts about the image that did not stop reading it.
    pub warnings: Vec<String>,
}

/// Whence a subchannel read came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubOrigin {
    /// Stored in the image (P-W).
    Stored,
    /// Only Q stored; P and R-W generated.
    StoredQ,
    /// Generated from the table of contents.
    Generated,
}

impl Disc {
    /// An empty disc of `format`, for parsers to fill.
    pub fn new(format: &'static str) -> Self {
        Disc {
            format,
            files: Vec::new(),
            sessions: Vec::new(),
            tracks: Vec::new(),
            catalog: None,
            cd_text: CdText::default(),
            warnings: Vec::new(),
        }
    }

    /// Checks the model: track numbers, order, no overlaps, runs covering each track exactly,
    /// data files long enough. Parsers call it last, so that a disc that exists is sound.
    pub fn validate(&self) -> Result<()> {
        let fmt = self.format;
        let bad = |msg: String| Err(Error::corrupt(fmt, "track layout", 0, msg));
        if self.tracks.is_empty() {
            return bad("the image has no tracks".into());
        }
        if self.tracks.len() > MAX_TRACKS {
            return Err(Error::limit(
                fmt,
                "track list",
                0,
                format!("{} tracks (at most {MAX_TRACKS})", self.tracks.len()),
            ));
        }
        if self.sessions.is_empty() || self.sessions.len() > MAX_SESSIONS {
            return bad(format!("{} sessions", self.sessions.len()));
        }
        let mut prev_end = i64::MIN;
        let mut prev_number = 0u8;
        for t in &self.tracks {
            let n = t.number;
            if n == 0 || n > 99 || n <= prev_number {
                return bad(format!("track number {n} after {prev_number}"));
            }
            if !self.sessions.iter().any(|s| s.number == t.session) {
                return bad(format!(
                    "track {n} names session {} that does not exist",
                    t.session
                ));
            }
            if !(t.first <= t.start && t.start < t.end) {
                return bad(format!(
                    "track {n}: pregap at {}, index 1 at {}, end at {}: a track needs at least one sector after index 1",
                    t.first, t.start, t.end
                ));
            }
            if t.first < -MAX_SECTORS || t.end > MAX_SECTORS {
                return Err(Error::limit(
                    fmt,
                    "track layout",
                    0,
                    format!("track {n} lies outside the {MAX_SECTORS} sectors a disc may address"),
                ));
            }
            if t.first < prev_end {
                return bad(format!(
                    "track {n} starts at sector {} inside the previous track (which ends at {prev_end})",
                    t.first
                ));
            }
            if t.indexes.len() > MAX_INDEXES
                || t.indexes.windows(2).any(|w| w[0] >= w[1])
                || t.indexes.iter().any(|&i| i <= t.start || i >= t.end)
            {
                return bad(format!(
                    "track {n}: indexes out of order or outside the track"
                ));
            }
            if t.postgap > t.length() {
                return bad(format!("track {n}: postgap longer than the track"));
            }
            if t.runs.is_empty() || t.runs.len() > MAX_RUNS {
                return bad(format!("track {n}: {} storage runs", t.runs.len()));
            }
            let mut at = t.first;
            for r in &t.runs {
                if r.lba != at || r.count == 0 {
                    return bad(format!("track {n}: storage does not cover sector {at}"));
                }
                at = r.end();
                self.check_run_files(t, r)?;
            }
            if at != t.end {
                return bad(format!(
                    "track {n}: storage ends at sector {at}, the track at {}",
                    t.end
                ));
            }
            prev_end = t.end;
            prev_number = n;
        }
        Ok(())
    }

    fn check_run_files(&self, t: &Track, r: &Run) -> Result<()> {
        let need = |file: usize, offset: u64, per: u64| -> Result<()> {
            let Some(f) = self.files.get(file) else {
                return Err(Error::corrupt(
                    self.format,
                    "track layout",
                    0,
                    "a run names a missing data file",
                ));
            };
            let end = r
                .count
                .checked_mul(per)
                .and_then(|n| n.checked_add(offset))
                .ok_or_else(|| {
                    Error::corrupt(self.format, "track layout", 0, "run size overflows")
                })?;
            if end > f.source.size() {
                return Err(Error::new(
                    ErrorKind::OutOfBounds,
                    format!(
                        "{} is too short: track {} needs bytes up to {end}, the file has {} bytes",
                        f.path.display(),
                        t.number,
                        f.source.size()
                    ),
                )
                .with_format(self.format));
            }
            Ok(())
        };
        if let Source::File { file, offset, .. } = r.source {
            need(file, offset, r.stride())?;
        }
        if let Sub::Linear { file, offset } = r.sub {
            need(file, offset, 96)?;
        }
        Ok(())
    }

    /// The first sector of the disc that any track covers, and the end of the last.
    pub fn span(&self) -> (i64, i64) {
        (
            self.tracks.first().map_or(0, |t| t.first),
            self.tracks.last().map_or(0, |t| t.end),
        )
    }

    /// The track holding `lba`.
    pub fn track_at(&self, lba: i64) -> Option<&Track> {
        let i = self.tracks.partition_point(|t| t.end <= lba);
        self.tracks.get(i).filter(|t| t.first <= lba)
    }

    /// The track numbered `n`.
    pub fn track(&self, n: u8) -> Option<&Track> {
        self.tracks.iter().find(|t| t.number == n)
    }

    /// Tracks of session `s`.
    pub fn session_tracks(&self, s: u8) -> impl Iterator<Item = &Track> {
        self.tracks.iter().filter(move |t| t.session == s)
    }

    /// Where the lead-out of session `s` starts (the end of its last track).
    pub fn leadout(&self, s: u8) -> i64 {
        self.session_tracks(s).last().map_or(0, |t| t.end)
    }

    fn run_at(track: &Track, lba: i64) -> &Run {
        let i = track.runs.partition_point(|r| r.end() <= lba);
        &track.runs[i.min(track.runs.len() - 1)]
    }

    /// Reads the raw 2352-byte sector at `lba`: as stored, or built from stored user data with
    /// sync, header, EDC and ECC, or generated (pregaps, gaps between sessions: empty sectors
    /// of the track's mode, silence for audio, zeros outside any track).
    pub fn read_raw(&self, lba: i64, out: &mut [u8; RAW]) -> Result<()> {
        let Some(track) = self.track_at(lba) else {
            out.fill(0);
            return Ok(());
        };
        let run = Self::run_at(track, lba);
        let Source::File {
            file,
            offset,
            stored,
            swap,
        } = run.source
        else {
            sector::encode(out, lba, track.mode.blank_kind(), &[], None);
            return Ok(());
        };
        let at = offset + (lba - run.lba) as u64 * run.stride();
        let src = &self.files[file].source;
        let size = stored.size() as usize;
        match stored {
            Stored::Raw => {
                src.read_exact_at(at, out)?;
                if swap {
                    swap_samples(out);
                }
            }
            Stored::Mode2Data => {
                src.read_exact_at(at, &mut out[16..16 + size])?;
                sector::write_header(out, lba, 2);
            }
            _ => {
                let mut data = [0u8; 2336];
                src.read_exact_at(at, &mut data[..size])?;
                let kind = match stored {
                    Stored::Mode1Data => SectorKind::Mode1,
                    Stored::Form1Data => SectorKind::Mode2Form1,
                    _ => SectorKind::Mode2Form2,
                };
                sector::encode(out, lba, kind, &data[..size], None);
            }
        }
        Ok(())
    }

    /// Reads the 96 bytes of raw interleaved P-W subchannel of `lba`: as stored, or generated
    /// from the table of contents (P set in pregaps, Q mode 1 position data, R-W zero).
    pub fn read_sub(&self, lba: i64, out: &mut [u8; 96]) -> Result<SubOrigin> {
        let Some(track) = self.track_at(lba) else {
            out.fill(0);
            return Ok(SubOrigin::Generated);
        };
        let run = Self::run_at(track, lba);
        let i = (lba - run.lba) as u64;
        match (run.sub, run.source) {
            (
                Sub::Interleaved,
                Source::File {
                    file,
                    offset,
                    stored,
                    ..
                },
            ) => {
                let at = offset + i * run.stride() + u64::from(stored.size());
                self.files[file].source.read_exact_at(at, out)?;
                Ok(SubOrigin::Stored)
            }
            (
                Sub::Q16,
                Source::File {
                    file,
                    offset,
                    stored,
                    ..
                },
            ) => {
                let at = offset + i * run.stride() + u64::from(stored.size());
                let mut q = [0u8; 12];
                self.files[file].source.read_exact_at(at, &mut q)?;
                let mut p = self.generated_p(track, lba);
                subchannel::interleave(&mut p, &q, out);
                Ok(SubOrigin::StoredQ)
            }
            (Sub::Linear { file, offset }, _) => {
                let mut linear = [0u8; 96];
                self.files[file]
                    .source
                    .read_exact_at(offset + i * 96, &mut linear)?;
                subchannel::linear_to_interleaved(&linear, out);
                Ok(SubOrigin::Stored)
            }
            _ => {
                let q = self.generated_q(track, lba);
                let mut p = self.generated_p(track, lba);
                subchannel::interleave(&mut p, &q, out);
                Ok(SubOrigin::Generated)
            }
        }
    }

    fn generated_p(&self, track: &Track, lba: i64) -> [u8; 12] {
        if lba < track.start {
            [0xff; 12]
        } else {
            [0; 12]
        }
    }

    /// The Q channel (mode 1, current position) of `lba` in `track`.
    pub fn generated_q(&self, track: &Track, lba: i64) -> [u8; 12] {
        let (index, _) = track.index_at(lba);
        let relative = if lba < track.start {
            track.start - lba
        } else {
            lba - track.start
        };
        let (rm, rs, rf) = lba_to_msf(relative);
        let (am, as_, af) = lba_to_msf(lba + 150);
        let mut q = [
            (track.flags.control(track.mode) << 4) | 1,
            bcd(track.number),
            bcd(index),
            bcd(rm),
            bcd(rs),
            bcd(rf),
            0,
            bcd(am),
            bcd(as_),
            bcd(af),
            0,
            0,
        ];
        let crc = subchannel::q_crc(&q[..10]);
        q[10..].copy_from_slice(&crc.to_be_bytes());
        q
    }

    /// Reads `count` sectors of 2048-byte user data from `lba` into `out`. Data sectors give
    /// their user data (the first 2048 bytes of a form 2 sector's 2324); audio, empty and
    /// unrecorded sectors read as zeros.
    pub fn read_user(&self, mut lba: i64, count: u64, out: &mut [u8]) -> Result<()> {
        debug_assert_eq!(out.len() as u64, count * USER as u64);
        let mut done = 0usize;
        while done < out.len() {
            let left = ((out.len() - done) / USER) as u64;
            let buf = &mut out[done..];
            let Some(track) = self.track_at(lba) else {
                // A gap: zeros up to the next track.
                let next = self
                    .tracks
                    .iter()
                    .find(|t| t.first > lba)
                    .map_or(i64::MAX, |t| t.first);
                let n = left.min(next.saturating_sub(lba) as u64).max(1);
                buf[..n as usize * USER].fill(0);
                done += n as usize * USER;
                lba += n as i64;
                continue;
            };
            let run = Self::run_at(track, lba);
            let n = left.min((run.end() - lba) as u64);
            let bytes = n as usize * USER;
            self.read_run_user(track, run, lba, n, &mut buf[..bytes])?;
            done += bytes;
            lba += n as i64;
        }
        Ok(())
    }

    fn read_run_user(
        &self,
        track: &Track,
        run: &Run,
        lba: i64,
        n: u64,
        out: &mut [u8],
    ) -> Result<()> {
        let Source::File {
            file,
            offset,
            stored,
            ..
        } = run.source
        else {
            out.fill(0);
            return Ok(());
        };
        if track.mode == TrackMode::Audio {
            out.fill(0);
            return Ok(());
        }
        let src = &self.files[file].source;
        let stride = run.stride();
        let first = offset + (lba - run.lba) as u64 * stride;
        if matches!(stored, Stored::Mode1Data | Stored::Form1Data) && stride == USER as u64 {
            return src.read_exact_at(first, out);
        }
        // Records in batches: read many, keep the user data of each.
        const BATCH: u64 = 32;
        let mut tmp = vec![0u8; (BATCH * stride) as usize];
        let mut i = 0u64;
        while i < n {
            let k = BATCH.min(n - i);
            let rec = &mut tmp[..(k * stride) as usize];
            src.read_exact_at(first + i * stride, rec)?;
            for j in 0..k {
                let r = &rec[(j * stride) as usize..((j + 1) * stride) as usize];
                let at = match stored {
                    Stored::Raw => match r[15] & 3 {
                        1 => Some(16),
                        2 => Some(24),
                        _ => None,
                    },
                    Stored::Mode2Data => Some(8),
                    _ => Some(0),
                };
                let dst = &mut out[((i + j) as usize) * USER..((i + j + 1) as usize) * USER];
                match at {
                    Some(at) if stored != Stored::Raw || sector::has_sync(r) => {
                        dst.copy_from_slice(&r[at..at + USER]);
                    }
                    _ => dst.fill(0),
                }
            }
            i += k;
        }
        Ok(())
    }

    /// The tracks whose sectors hold data.
    pub fn data_tracks(&self) -> impl Iterator<Item = &Track> {
        self.tracks.iter().filter(|t| t.mode.is_data())
    }

    /// The data track `ls`/`extract` use by default: the first data track of the last
    /// session that has one (a multisession disc's newest file system sees the older ones).
    pub fn default_data_track(&self) -> Option<&Track> {
        let session = self.data_tracks().map(|t| t.session).max()?;
        self.data_tracks().find(|t| t.session == session)
    }
}

/// Swaps the bytes of every 16-bit sample (big-endian <-> little-endian).
pub fn swap_samples(buf: &mut [u8]) {
    for pair in buf.chunks_exact_mut(2) {
        pair.swap(0, 1);
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;
    use crate::io::MemorySource;

    /// A one-track disc of `mode` with 10 zero sectors.
    pub(crate) fn one_track(mode: TrackMode) -> Disc {
        let stored = if mode == TrackMode::Audio {
            Stored::Raw
        } else {
            Stored::Mode1Data
        };
        simple(mode, stored, 10, vec![0; 10 * stored.size() as usize])
    }

    pub(crate) fn simple(mode: TrackMode, stored: Stored, sectors: u64, data: Vec<u8>) -> Disc {
        let mut d = Disc::new("test");
        d.files.push(DataFile {
            path: "mem".into(),
            source: Arc::new(MemorySource::new(data)),
        });
        d.sessions.push(Session {
            number: 1,
            kind: SessionKind::CdRom,
        });
        d.tracks.push(Track {
            number: 1,
            session: 1,
            mode,
            first: 0,
            start: 0,
            end: sectors as i64,
            postgap: 0,
            indexes: vec![],
            flags: TrackFlags::default(),
            isrc: None,
            cd_text: CdText::default(),
            runs: vec![Run {
                lba: 0,
                count: sectors,
                source: Source::File {
                    file: 0,
                    offset: 0,
                    stored,
                    swap: false,
                },
                sub: Sub::None,
            }],
        });
        d
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::simple;
    use super::*;

    #[test]
    fn cooked_and_raw_give_the_same_user_data() {
        let user: Vec<u8> = (0..4 * 2048).map(|i| (i % 251) as u8).collect();
        let cooked = simple(TrackMode::Mode1, Stored::Mode1Data, 4, user.clone());
        let mut raw = Vec::new();
        for lba in 0..4 {
            let mut s = [0u8; RAW];
            cooked.read_raw(lba, &mut s).unwrap();
            assert_eq!(sector::check(&s, lba), sector::Check::Good);
            raw.extend_from_slice(&s);
        }
        let raw = simple(TrackMode::Mode1, Stored::Raw, 4, raw);
        let mut out = vec![0u8; 4 * 2048];
        raw.read_user(0, 4, &mut out).unwrap();
        assert_eq!(out, user);
        cooked.read_user(0, 4, &mut out).unwrap();
        assert_eq!(out, user);
        let mut past = vec![1u8; 2 * 2048];
        raw.read_user(3, 2, &mut past).unwrap();
        assert!(past[2048..].iter().all(|&b| b == 0));
    }

    #[test]
    fn validate_refuses_short_files_and_overlaps() {
        let d = simple(TrackMode::Mode1, Stored::Mode1Data, 4, vec![0; 3 * 2048]);
        let e = d.validate().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::OutOfBounds);
        assert!(e.to_string().contains("too short"), "{e}");
        let mut d = simple(TrackMode::Mode1, Stored::Mode1Data, 4, vec![0; 4 * 2048]);
        d.validate().unwrap();
        let mut t2 = d.tracks[0].clone();
        t2.number = 2;
        d.tracks.push(t2);
        assert!(
            d.validate()
                .unwrap_err()
                .to_string()
                .contains("inside the previous track")
        );
    }

    #[test]
    fn generated_q_has_a_good_crc() {
        let d = simple(TrackMode::Audio, Stored::Raw, 10, vec![0; 10 * RAW]);
        let q = d.generated_q(&d.tracks[0], 5);
        assert_eq!(subchannel::q_crc(&q[..10]).to_be_bytes(), [q[10], q[11]]);
        assert_eq!(q[1], 1);
        assert_eq!(&q[7..10], &[0x00, 0x02, 0x05]);
    }
}
