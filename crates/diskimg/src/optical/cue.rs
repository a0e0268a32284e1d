//! CUE sheets (CDRWIN): the text that describes BIN files, read and written.
//!
//! Read: `FILE` (BINARY, MOTOROLA big-endian audio, WAVE with its RIFF header), every `TRACK`
//! mode (AUDIO, CDG, MODE1/2048, MODE1/2352, MODE2/2048, MODE2/2324, MODE2/2336, MODE2/2352,
//! CDI/2336, CDI/2352), `INDEX` 00-99, `PREGAP`/`POSTGAP` (not stored: generated), `FLAGS`
//! (DCP 4CH PRE SCMS), `ISRC`, `CATALOG`, CD-TEXT fields (TITLE, PERFORMER, SONGWRITER,
//! COMPOSER, ARRANGER, MESSAGE, DISC_ID, UPC_EAN), `REM SESSION nn` (multisession, as redump
//! and ImgBurn write it: sessions after the first start after a lead-out of 6750 sectors (2250
//! after later sessions) and a lead-in of 4500) and `REM LEAD-OUT mm:ss:ff` (the lead-out of
//! the session before). Positions in a file count sectors of each track's own size, so one
//! file can hold tracks of different modes. Unknown commands are kept as warnings.
//! Not supported: MP3/AIFF files, `CDTEXTFILE` (ignored with a warning).
//!
//! Written by [`write`]: the text for a disc whose tracks are laid out in one or more BIN files.

use super::disc::{
    CdText, Disc, Run, Session, SessionKind, Source, Stored, Sub, Track, TrackFlags, TrackMode,
};
use super::files::Resolver;
use super::msf::{format_msf, parse_msf};
use crate::error::{Error, Result};
use std::fmt::Write as _;

/// Format name.
pub const FORMAT: &str = "cue";
/// Largest cue sheet read.
pub const MAX_CUE_SIZE: u64 = 1 << 20;
/// Longest CD-TEXT or file-name string kept.
pub const MAX_STRING: usize = 4096;
/// Most `FILE` commands.
pub const MAX_FILES: usize = 99;

/// A file of a cue sheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CueFile {
    /// The name as written.
    pub name: String,
    /// `BINARY`, `MOTOROLA`, `WAVE`, ...
    pub kind: String,
    /// Its tracks.
    pub tracks: Vec<CueTrack>,
}

/// A track of a cue sheet, positions in frames from the start of its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CueTrack {
    /// Track number.
    pub number: u8,
    /// Mode keyword (`MODE1/2352`).
    pub mode: String,
    /// Session (from `REM SESSION`).
    pub session: u8,
    /// Lead-out length of the session before, from `REM LEAD-OUT`, for a session's first track.
    pub leadout_before: Option<i64>,
    /// Flags.
    pub flags: TrackFlags,
    /// ISRC.
    pub isrc: Option<String>,
    /// CD-TEXT.
    pub cd_text: CdText,
    /// `PREGAP` length (not stored).
    pub pregap: i64,
    /// `POSTGAP` length (not stored).
    pub postgap: i64,
    /// `(index, position)` in file frames.
    pub indexes: Vec<(u8, i64)>,
}

/// A parsed cue sheet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CueSheet {
    /// `CATALOG`.
    pub catalog: Option<String>,
    /// Album CD-TEXT.
    pub cd_text: CdText,
    /// Files in order.
    pub files: Vec<CueFile>,
    /// Lines that were not understood.
    pub warnings: Vec<String>,
}

/// Whether `head` looks like a cue sheet.
pub fn probe(head: &[u8]) -> bool {
    if head.contains(&0) {
        return false;
    }
    let text = String::from_utf8_lossy(head);
    let mut first = true;
    let (mut file, mut track) = (false, false);
    for line in text.lines() {
        let word = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let word = word.trim_start_matches('\u{feff}');
        if word.is_empty() || word == "REM" {
            continue;
        }
        if first
            && !matches!(
                word,
                "FILE"
                    | "CATALOG"
                    | "CDTEXTFILE"
                    | "TITLE"
                    | "PERFORMER"
                    | "SONGWRITER"
                    | "COMPOSER"
                    | "ARRANGER"
                    | "MESSAGE"
                    | "DISC_ID"
                    | "UPC_EAN"
                    | "GENRE"
            )
        {
            return false;
        }
        first = false;
        file |= word == "FILE";
        track |= word == "TRACK";
        if file && track {
            return true;
        }
    }
    false
}

fn decode(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(&[0xef, 0xbb, 0xbf]).unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

/// Splits a line into words; a quoted string is one word without its quotes.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut w = String::new();
        if c == '"' {
            chars.next();
            for c in chars.by_ref() {
                if c == '"' {
                    break;
                }
                w.push(c);
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                w.push(c);
                chars.next();
            }
        }
        w.truncate(MAX_STRING);
        out.push(w);
    }
    out
}

/// Parses cue-sheet text.
pub fn parse(bytes: &[u8]) -> Result<CueSheet> {
    let text = decode(bytes);
    let mut sheet = CueSheet::default();
    let mut session = 1u8;
    let mut leadout_next: Option<i64> = None;
    let mut offset = 0u64;
    for (lineno, line) in text.lines().enumerate() {
        let at = offset;
        offset += line.len() as u64 + 1;
        let w = words(line);
        let Some(cmd) = w.first() else { continue };
        let cmd = cmd.to_ascii_uppercase();
        let arg = |i: usize| w.get(i).map(String::as_str).unwrap_or("");
        let err = |msg: String| {
            Error::corrupt(
                FORMAT,
                "cue sheet",
                at,
                format!("line {}: {msg}", lineno + 1),
            )
        };
        let track = sheet.files.last_mut().and_then(|f| f.tracks.last_mut());
        match cmd.as_str() {
            "REM" => match arg(1).to_ascii_uppercase().as_str() {
                "SESSION" => {
                    let n: u8 = arg(2)
                        .parse()
                        .map_err(|_| err(format!("bad session number \"{}\"", arg(2))))?;
                    if n == 0 || n as usize > super::disc::MAX_SESSIONS || n < session {
                        return Err(err(format!("session {n} after session {session}")));
                    }
                    session = n;
                }
                "LEAD-OUT" => {
                    leadout_next = Some(
                        parse_msf(arg(2)).ok_or_else(|| err(format!("bad time \"{}\"", arg(2))))?,
                    );
                }
                _ => {}
            },
            "CATALOG" => sheet.catalog = Some(arg(1).to_owned()),
            "CDTEXTFILE" => sheet
                .warnings
                .push(format!("line {}: CDTEXTFILE ignored", lineno + 1)),
            "FILE" => {
                if sheet.files.len() >= MAX_FILES {
                    return Err(Error::limit(
                        FORMAT,
                        "cue sheet",
                        at,
                        format!("more than {MAX_FILES} FILE commands"),
                    ));
                }
                if w.len() < 2 {
                    return Err(err("FILE without a name".into()));
                }
                sheet.files.push(CueFile {
                    name: arg(1).to_owned(),
                    kind: arg(2).to_ascii_uppercase(),
                    tracks: Vec::new(),
                });
            }
            "TRACK" => {
                let Some(file) = sheet.files.last_mut() else {
                    return Err(err("TRACK before any FILE".into()));
                };
                let number: u8 = arg(1)
                    .parse()
                    .map_err(|_| err(format!("bad track number \"{}\"", arg(1))))?;
                if number == 0 || number > 99 {
                    return Err(err(format!("track number {number} outside 1-99")));
                }
                file.tracks.push(CueTrack {
                    number,
                    mode: arg(2).to_ascii_uppercase(),
                    session,
                    leadout_before: leadout_next.take(),
                    flags: TrackFlags::default(),
                    isrc: None,
                    cd_text: CdText::default(),
                    pregap: 0,
                    postgap: 0,
                    indexes: Vec::new(),
                });
            }
            "INDEX" => {
                let Some(t) = track else {
                    return Err(err("INDEX outside a track".into()));
                };
                let n: u8 = arg(1)
                    .parse()
                    .map_err(|_| err(format!("bad index number \"{}\"", arg(1))))?;
                let pos =
                    parse_msf(arg(2)).ok_or_else(|| err(format!("bad time \"{}\"", arg(2))))?;
                if n > 99 || t.indexes.last().is_some_and(|&(m, p)| m >= n || p > pos) {
                    return Err(err(format!("index {n} at {} out of order", arg(2))));
                }
                t.indexes.push((n, pos));
            }
            "PREGAP" | "POSTGAP" => {
                let Some(t) = track else {
                    return Err(err(format!("{cmd} outside a track")));
                };
                let len =
                    parse_msf(arg(1)).ok_or_else(|| err(format!("bad time \"{}\"", arg(1))))?;
                if cmd == "PREGAP" {
                    t.pregap = len;
                } else {
                    t.postgap = len;
                }
            }
            "FLAGS" => {
                let Some(t) = track else {
                    return Err(err("FLAGS outside a track".into()));
                };
                for f in &w[1..] {
                    match f.to_ascii_uppercase().as_str() {
                        "DCP" => t.flags.copy_permitted = true,
                        "4CH" => t.flags.four_channel = true,
                        "PRE" => t.flags.pre_emphasis = true,
                        "SCMS" => t.flags.scms = true,
                        other => sheet
                            .warnings
                            .push(format!("line {}: unknown flag {other}", lineno + 1)),
                    }
                }
            }
            "ISRC" => match track {
                Some(t) => t.isrc = Some(arg(1).to_owned()),
                None => return Err(err("ISRC outside a track".into())),
            },
            key => {
                let text = match track {
                    Some(t) => &mut t.cd_text,
                    None => &mut sheet.cd_text,
                };
                match text.field_mut(key) {
                    Some(field) => *field = Some(arg(1).to_owned()),
                    None => sheet
                        .warnings
                        .push(format!("line {}: unknown command {key}", lineno + 1)),
                }
            }
        }
    }
    if sheet.files.iter().all(|f| f.tracks.is_empty()) {
        return Err(Error::corrupt(FORMAT, "cue sheet", 0, "no TRACK commands"));
    }
    Ok(sheet)
}

/// The mode, stored layout and subchannel of a cue `TRACK` mode keyword.
pub fn mode_of(keyword: &str) -> Option<(TrackMode, Stored, Sub)> {
    Some(match keyword {
        "AUDIO" => (TrackMode::Audio, Stored::Raw, Sub::None),
        "CDG" => (TrackMode::Audio, Stored::Raw, Sub::Interleaved),
        "MODE1/2048" => (TrackMode::Mode1, Stored::Mode1Data, Sub::None),
        "MODE1/2352" => (TrackMode::Mode1, Stored::Raw, Sub::None),
        "MODE2/2048" => (TrackMode::Mode2Form1, Stored::Form1Data, Sub::None),
        "MODE2/2324" => (TrackMode::Mode2Form2, Stored::Form2Data, Sub::None),
        "MODE2/2336" | "CDI/2336" => (TrackMode::Mode2Mixed, Stored::Mode2Data, Sub::None),
        "MODE2/2352" | "CDI/2352" => (TrackMode::Mode2Mixed, Stored::Raw, Sub::None),
        _ => return None,
    })
}

/// Lead-out after session `s` (6750 sectors after the first, 2250 after later ones) plus the
/// next session's lead-in (4500).
pub fn session_gap(s: u8, leadout: Option<i64>) -> i64 {
    leadout.unwrap_or(if s == 1 { 6750 } else { 2250 }) + 4500
}

/// Builds the disc a cue sheet describes, opening its files with `files`.
pub fn build(sheet: &CueSheet, files: &dyn Resolver) -> Result<Disc> {
    let mut disc = Disc::new(FORMAT);
    disc.catalog = sheet.catalog.clone();
    disc.cd_text = sheet.cd_text.clone();
    disc.warnings = sheet.warnings.clone();
    let mut cursor = 0i64;
    let mut session = 0u8;
    let mut expected = None::<u8>;
    for cf in &sheet.files {
        if cf.tracks.is_empty() {
            disc.warnings
                .push(format!("FILE \"{}\" has no tracks", cf.name));
            continue;
        }
        let df = files.open(&cf.name)?;
        let (base, len) = match cf.kind.as_str() {
            "WAVE" => super::audio::wave_data(&df)?,
            "BINARY" | "MOTOROLA" | "" => (0, df.source.size()),
            other => {
                return Err(Error::unsupported(
                    FORMAT,
                    format!("FILE type {other} (\"{}\")", cf.name),
                ));
            }
        };
        let swap = cf.kind == "MOTOROLA";
        let file = disc.files.len();
        let path = df.path.clone();
        disc.files.push(df);
        // Byte offset in the file of each track's first stored frame.
        let mut byte = base;
        let mut prev_frame = 0i64;
        let mut prev_stride = None::<u64>;
        for (k, ct) in cf.tracks.iter().enumerate() {
            let Some((mode, stored, sub)) = mode_of(&ct.mode) else {
                return Err(Error::unsupported(
                    FORMAT,
                    format!("track {} mode \"{}\"", ct.number, ct.mode),
                ));
            };
            if expected.is_some_and(|e| ct.number != e) {
                return Err(Error::corrupt(
                    FORMAT,
                    "cue sheet",
                    0,
                    format!(
                        "track {} follows track {}",
                        ct.number,
                        expected.unwrap_or(0).saturating_sub(1)
                    ),
                ));
            }
            expected = Some(ct.number.saturating_add(1));
            let stride = u64::from(stored.size()) + if sub == Sub::Interleaved { 96 } else { 0 };
            let Some(&(_, idx1)) = ct.indexes.iter().find(|(n, _)| *n == 1) else {
                return Err(Error::corrupt(
                    FORMAT,
                    "cue sheet",
                    0,
                    format!("track {} has no INDEX 01", ct.number),
                ));
            };
            let data_first = ct.indexes.first().map_or(idx1, |&(_, p)| p);
            if data_first < prev_frame {
                return Err(Error::corrupt(
                    FORMAT,
                    "cue sheet",
                    0,
                    format!(
                        "track {} starts before the previous track in \"{}\"",
                        ct.number, cf.name
                    ),
                ));
            }
            // Frames skipped since the previous track began count at the previous stride; a
            // first track that does not start at frame 0 skips frames of its own size.
            byte = byte
                .saturating_add((data_first - prev_frame) as u64 * prev_stride.unwrap_or(stride));
            prev_frame = data_first;
            prev_stride = Some(stride);
            let frames = match cf.tracks.get(k + 1) {
                Some(next) => {
                    let Some(&(_, next_first)) = next.indexes.first() else {
                        return Err(Error::corrupt(
                            FORMAT,
                            "cue sheet",
                            0,
                            format!("track {} has no INDEX 01", next.number),
                        ));
                    };
                    if next_first < data_first {
                        return Err(Error::corrupt(
                            FORMAT,
                            "cue sheet",
                            0,
                            format!("track {} starts before track {}", next.number, ct.number),
                        ));
                    }
                    (next_first - data_first) as u64
                }
                None => {
                    let end = base + len;
                    if byte > end {
                        return Err(Error::new(
                            crate::ErrorKind::OutOfBounds,
                            format!("{} is too short: track {} starts at byte {byte}, the file has {end} bytes", path.display(), ct.number),
                        )
                        .with_format(FORMAT));
                    }
                    let rest = end - byte;
                    if rest % stride != 0 {
                        disc.warnings.push(format!(
                            "{}: {} bytes at the end are not a whole {stride}-byte sector and are ignored",
                            path.display(),
                            rest % stride
                        ));
                    }
                    rest / stride
                }
            };
            if frames > super::disc::MAX_SECTORS as u64 {
                return Err(Error::limit(
                    FORMAT,
                    "cue sheet",
                    0,
                    format!("track {} has {frames} sectors", ct.number),
                ));
            }
            // Sessions.
            if ct.session != session {
                if session != 0 {
                    cursor += session_gap(session, ct.leadout_before);
                }
                while session < ct.session {
                    session += 1;
                    let kind = SessionKind::CdRom;
                    disc.sessions.push(Session {
                        number: session,
                        kind,
                    });
                }
            }
            let first = cursor;
            let mut runs = Vec::new();
            let mut pregap = ct.pregap;
            let session_first = disc
                .tracks
                .last()
                .is_none_or(|t: &Track| t.session != ct.session);
            if session_first && ct.session > 1 && ct.pregap == 0 && data_first == idx1 {
                // Every session's first track has a 2-second pregap; not stored here.
                pregap = 150;
            }
            if pregap > 0 {
                runs.push(Run {
                    lba: cursor,
                    count: pregap as u64,
                    source: Source::Zero,
                    sub: Sub::None,
                });
                cursor += pregap;
            }
            let stored_start = cursor;
            if frames > 0 {
                runs.push(Run {
                    lba: cursor,
                    count: frames,
                    source: Source::File {
                        file,
                        offset: byte,
                        stored,
                        swap: swap && mode == TrackMode::Audio,
                    },
                    sub,
                });
                cursor += frames as i64;
            }
            if ct.postgap > 0 {
                runs.push(Run {
                    lba: cursor,
                    count: ct.postgap as u64,
                    source: Source::Zero,
                    sub: Sub::None,
                });
                cursor += ct.postgap;
            }
            let start = stored_start + (idx1 - data_first);
            let indexes = ct
                .indexes
                .iter()
                .filter(|(n, _)| *n >= 2)
                .map(|&(_, p)| stored_start + (p - data_first))
                .collect();
            disc.tracks.push(Track {
                number: ct.number,
                session: ct.session,
                mode,
                first,
                start,
                end: cursor,
                postgap: ct.postgap as u64,
                indexes,
                flags: ct.flags,
                isrc: ct.isrc.clone(),
                cd_text: ct.cd_text.clone(),
                runs,
            });
        }
    }
    set_session_kinds(&mut disc);
    disc.validate()?;
    Ok(disc)
}

/// Sets each session's kind from its tracks: audio only is CD-DA, any mode 2 is CD-ROM XA.
pub fn set_session_kinds(disc: &mut Disc) {
    for s in &mut disc.sessions {
        let modes: Vec<TrackMode> = disc
            .tracks
            .iter()
            .filter(|t| t.session == s.number)
            .map(|t| t.mode)
            .collect();
        s.kind = if modes.iter().all(|m| *m == TrackMode::Audio) {
            SessionKind::CdDa
        } else if modes.iter().any(|m| m.family() == "MODE2") {
            SessionKind::CdRomXa
        } else {
            SessionKind::CdRom
        };
    }
}

/// Opens a cue sheet from its bytes.
pub fn open(text: &[u8], files: &dyn Resolver) -> Result<Disc> {
    build(&parse(text)?, files)
}

/// One BIN file of a written cue sheet and the tracks it holds.
#[derive(Debug, Clone)]
pub struct BinFile {
    /// Name as the cue sheet names it.
    pub name: String,
    /// For each track in it: number, cue mode keyword, and the sectors written, as
    /// `(first lba written, count)`.
    pub tracks: Vec<(u8, String, i64, u64)>,
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "'"))
}

/// The text of a cue sheet for `disc` whose sectors are in `bins`. A track's sectors not
/// written (pregap or postgap before or after what the BIN holds) become `PREGAP`/`POSTGAP`.
pub fn write(disc: &Disc, bins: &[BinFile]) -> String {
    let mut s = String::new();
    if let Some(c) = &disc.catalog {
        let _ = writeln!(s, "CATALOG {c}");
    }
    for (k, v) in disc.cd_text.fields() {
        if let Some(v) = v {
            let _ = writeln!(s, "{k} {}", quote(v));
        }
    }
    let multi = disc.sessions.len() > 1;
    let mut session = 0u8;
    for bin in bins {
        let _ = writeln!(s, "FILE {} BINARY", quote(&bin.name));
        let mut pos = 0i64; // frames into this file
        for &(n, ref keyword, written_first, written) in &bin.tracks {
            let Some(t) = disc.track(n) else { continue };
            if multi && t.session != session {
                // A lead-out other than the standard one is said before the new session.
                if session != 0 {
                    let prev_end = disc.leadout(session);
                    let leadout = t.first - prev_end - 4500;
                    if leadout > 0 && leadout != if session == 1 { 6750 } else { 2250 } {
                        let _ = writeln!(s, "  REM LEAD-OUT {}", format_msf(leadout));
                    }
                }
                session = t.session;
                let _ = writeln!(s, "  REM SESSION {:02}", session);
            }
            let _ = writeln!(s, "  TRACK {n:02} {keyword}");
            for (k, v) in t.cd_text.fields() {
                if let (Some(v), true) = (v, k != "DISC_ID" && k != "UPC_EAN") {
                    let _ = writeln!(s, "    {k} {}", quote(v));
                }
            }
            let mut flags = Vec::new();
            if t.flags.copy_permitted {
                flags.push("DCP");
            }
            if t.flags.four_channel {
                flags.push("4CH");
            }
            if t.flags.pre_emphasis {
                flags.push("PRE");
            }
            if t.flags.scms {
                flags.push("SCMS");
            }
            if !flags.is_empty() {
                let _ = writeln!(s, "    FLAGS {}", flags.join(" "));
            }
            if let Some(isrc) = &t.isrc {
                let _ = writeln!(s, "    ISRC {isrc}");
            }
            // Pregap sectors before what was written are generated on reading.
            let implicit = if t.session > 1
                && disc
                    .session_tracks(t.session)
                    .next()
                    .is_some_and(|f| f.number == n)
            {
                150
            } else {
                0
            };
            // The first track's pregap before LBA 0 is the lead-in's; no sheet says it.
            let from = if disc.tracks.first().is_some_and(|f| f.number == n) {
                t.first.max(0)
            } else {
                t.first
            };
            let unwritten_pregap = (written_first.min(t.start) - from).max(0);
            if unwritten_pregap > 0
                && !(implicit == 150 && unwritten_pregap == 150 && written_first == t.start)
            {
                let _ = writeln!(s, "    PREGAP {}", format_msf(unwritten_pregap));
            }
            if written_first < t.start {
                let _ = writeln!(s, "    INDEX 00 {}", format_msf(pos));
            }
            let _ = writeln!(
                s,
                "    INDEX 01 {}",
                format_msf(pos + (t.start - written_first).max(0))
            );
            for (i, &at) in t.indexes.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "    INDEX {:02} {}",
                    i + 2,
                    format_msf(pos + at - written_first)
                );
            }
            let written_end = written_first + written as i64;
            if written_end < t.end {
                let _ = writeln!(s, "    POSTGAP {}", format_msf(t.end - written_end));
            }
            pos += written as i64;
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optical::files::ZeroFiles;

    #[test]
    fn parses_a_mixed_sheet() {
        let text = b"CATALOG 0000010271955\nTITLE \"Album\"\nFILE \"a.bin\" BINARY\n  TRACK 01 MODE1/2048\n    INDEX 01 00:00:00\n  TRACK 02 AUDIO\n    FLAGS DCP PRE\n    ISRC USXXX0100001\n    TITLE \"Song\"\n    INDEX 00 00:03:35\n    INDEX 01 00:05:35\n    INDEX 02 00:06:00\n";
        assert!(probe(text));
        let sheet = parse(text).unwrap();
        assert_eq!(sheet.files[0].tracks.len(), 2);
        let size = 260 * 2048 + 300 * 2352;
        let disc = build(&sheet, &ZeroFiles(size)).unwrap();
        let t2 = disc.track(2).unwrap();
        assert_eq!((t2.first, t2.start, t2.end), (260, 410, 560));
        assert_eq!(t2.indexes, vec![450]);
        assert_eq!(t2.isrc.as_deref(), Some("USXXX0100001"));
        assert!(t2.flags.copy_permitted && t2.flags.pre_emphasis);
        assert_eq!(disc.tracks[0].mode_name(), "MODE1/2048");
        let Source::File { offset, .. } = t2.runs[0].source else {
            panic!()
        };
        assert_eq!(offset, 260 * 2048);
    }

    #[test]
    fn sessions_and_gaps() {
        let text = b"REM SESSION 01\nFILE \"a.bin\" BINARY\n TRACK 01 AUDIO\n  INDEX 01 00:00:00\nREM SESSION 02\nFILE \"b.bin\" BINARY\n TRACK 02 MODE1/2352\n  PREGAP 00:02:00\n  INDEX 01 00:00:00\n POSTGAP 00:02:00\n";
        let disc = build(&parse(text).unwrap(), &ZeroFiles(100 * 2352)).unwrap();
        assert_eq!(disc.sessions.len(), 2);
        let t2 = disc.track(2).unwrap();
        assert_eq!(t2.first, 100 + 11250);
        assert_eq!(t2.start, 100 + 11400);
        assert_eq!(t2.postgap, 150);
    }

    #[test]
    fn nonstandard_session_gaps_round_trip() {
        let text = b"REM SESSION 01\nFILE \"a.bin\" BINARY\n TRACK 01 AUDIO\n  INDEX 01 00:00:00\nREM LEAD-OUT 00:10:00\nREM SESSION 02\nFILE \"b.bin\" BINARY\n TRACK 02 MODE1/2352\n  INDEX 01 00:00:00\n";
        let disc = build(&parse(text).unwrap(), &ZeroFiles(100 * 2352)).unwrap();
        assert_eq!(disc.track(2).unwrap().start, 100 + 750 + 4500 + 150);
        let bins = [
            BinFile {
                name: "a.bin".into(),
                tracks: vec![(1, "AUDIO".into(), 0, 100)],
            },
            BinFile {
                name: "b.bin".into(),
                tracks: vec![(2, "MODE1/2352".into(), 5500, 100)],
            },
        ];
        let again = build(
            &parse(write(&disc, &bins).as_bytes()).unwrap(),
            &ZeroFiles(100 * 2352),
        )
        .unwrap();
        assert_eq!(again.track(2).unwrap().start, disc.track(2).unwrap().start);
    }

    #[test]
    fn bad_sheets_are_errors() {
        for bad in [
            &b"TRACK 01 AUDIO\n"[..],
            b"FILE \"a\" BINARY\n TRACK 01 AUDIO\n INDEX 01 99:99:99\n",
            b"FILE \"a\" BINARY\n TRACK 00 AUDIO\n",
            b"FILE \"a\" BINARY\n TRACK 01 AUDIO\n INDEX 01 00:01:00\n INDEX 00 00:00:00\n",
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let no_index = parse(b"FILE \"a\" BINARY\n TRACK 01 AUDIO\n").unwrap();
        assert!(build(&no_index, &ZeroFiles(2352)).is_err());
        let short = parse(b"FILE \"a\" BINARY\n TRACK 01 AUDIO\n INDEX 01 00:00:00\n TRACK 02 AUDIO\n INDEX 01 00:01:00\n").unwrap();
        let e = build(&short, &ZeroFiles(10 * 2352)).unwrap_err();
        assert!(e.to_string().contains("too short"), "{e}");
    }
}
