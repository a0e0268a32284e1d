//! cdrdao TOC files: a text description of a session, read and written.
//!
//! Read (cdrdao(1), "TOC FILES"): the header (`CATALOG`, `CD_DA`/`CD_ROM`/`CD_ROM_XA`/`CD_I`,
//! `CD_TEXT` blocks with `LANGUAGE_MAP` and `LANGUAGE 0` items), `TRACK` with every mode
//! (AUDIO, MODE1, MODE1_RAW, MODE2, MODE2_FORM1, MODE2_FORM2, MODE2_FORM_MIX, MODE2_RAW) and
//! the `RW_RAW` sub-channel mode, `[NO] COPY`, `[NO] PRE_EMPHASIS`, `TWO_/FOUR_CHANNEL_AUDIO`,
//! `ISRC`, `SILENCE`, `ZERO [mode] <len>`, `FILE`/`AUDIOFILE` (start and length in samples,
//! bytes or MSF), `DATAFILE` with `#offset`, `START`, `PREGAP`, `INDEX`. Raw audio files are
//! big-endian as cdrdao expects (chdman writes them so too); files named `.wav` are
//! little-endian with a RIFF header. Comments `//` are skipped.
//! Not supported: `FIFO` sources, packed `RW` sub-channel data, CD-TEXT languages other than
//! block 0 (read past, not kept).

use super::disc::{
    CdText, Disc, Run, Session, SessionKind, Source, Stored, Sub, Track, TrackFlags, TrackMode,
};
use super::files::Resolver;
use super::msf::{format_msf, parse_msf};
use crate::error::{Error, Result};
use std::fmt::Write as _;

/// Format name.
pub const FORMAT: &str = "toc";
/// Largest TOC file read.
pub const MAX_TOC_SIZE: u64 = 1 << 20;
/// Most tokens read.
const MAX_TOKENS: usize = 200_000;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Str(String),
    Open,
    Close,
}

fn tokens(text: &str) -> Result<Vec<(Tok, usize)>> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if out.len() > MAX_TOKENS {
            return Err(Error::limit(
                FORMAT,
                "toc file",
                i as u64,
                format!("more than {MAX_TOKENS} words"),
            ));
        }
        let c = b[i];
        if c.is_ascii_whitespace() || c == b',' {
            i += 1;
        } else if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'{' {
            out.push((Tok::Open, i));
            i += 1;
        } else if c == b'}' {
            out.push((Tok::Close, i));
            i += 1;
        } else if c == b'"' {
            let at = i;
            i += 1;
            let mut s = Vec::new();
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                }
                s.push(b[i]);
                i += 1;
            }
            i += 1;
            s.truncate(4096);
            out.push((Tok::Str(String::from_utf8_lossy(&s).into_owned()), at));
        } else {
            let at = i;
            while i < b.len()
                && !b[i].is_ascii_whitespace()
                && !matches!(b[i], b'{' | b'}' | b'"' | b',')
            {
                i += 1;
            }
            out.push((Tok::Word(text[at..i].to_owned()), at));
        }
    }
    Ok(out)
}

/// Whether `head` looks like a TOC file.
pub fn probe(head: &[u8]) -> bool {
    if head.contains(&0) {
        return false;
    }
    let text = String::from_utf8_lossy(head);
    let mut first = None;
    let mut track = false;
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or("");
        for w in line.split_whitespace() {
            if first.is_none() {
                first = Some(w.to_owned());
            }
            track |= w == "TRACK";
        }
        if track {
            break;
        }
    }
    track
        && matches!(
            first.as_deref(),
            Some("CD_DA" | "CD_ROM" | "CD_ROM_XA" | "CD_I" | "CATALOG" | "CD_TEXT" | "TRACK")
        )
}

struct Parser<'a> {
    toks: Vec<(Tok, usize)>,
    i: usize,
    files: &'a dyn Resolver,
}

/// The track mode keyword of a track of `mode` stored as `stored` (cdrdao's names, which CHD's
/// track metadata uses too); the inverse of [`mode_of`].
pub fn keyword_of(mode: TrackMode, stored: Stored) -> &'static str {
    match (mode, stored) {
        (TrackMode::Audio, _) => "AUDIO",
        (TrackMode::Mode1, Stored::Raw) => "MODE1_RAW",
        (_, Stored::Mode1Data) => "MODE1",
        (_, Stored::Raw) => "MODE2_RAW",
        (TrackMode::Mode2, Stored::Mode2Data) => "MODE2",
        (_, Stored::Mode2Data) => "MODE2_FORM_MIX",
        (_, Stored::Form1Data) => "MODE2_FORM1",
        (_, Stored::Form2Data) => "MODE2_FORM2",
    }
}

/// A track mode keyword's mode and stored layout.
pub fn mode_of(keyword: &str) -> Option<(TrackMode, Stored)> {
    Some(match keyword {
        "AUDIO" => (TrackMode::Audio, Stored::Raw),
        "MODE1" => (TrackMode::Mode1, Stored::Mode1Data),
        "MODE1_RAW" => (TrackMode::Mode1, Stored::Raw),
        "MODE2" => (TrackMode::Mode2, Stored::Mode2Data),
        "MODE2_FORM1" => (TrackMode::Mode2Form1, Stored::Form1Data),
        "MODE2_FORM2" => (TrackMode::Mode2Form2, Stored::Form2Data),
        "MODE2_FORM_MIX" => (TrackMode::Mode2Mixed, Stored::Mode2Data),
        "MODE2_RAW" => (TrackMode::Mode2Mixed, Stored::Raw),
        _ => return None,
    })
}

impl Parser<'_> {
    fn err(&self, msg: impl Into<String>) -> Error {
        let at = self.toks.get(self.i.saturating_sub(1)).map_or(0, |t| t.1);
        Error::corrupt(FORMAT, "toc file", at as u64, msg)
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.0)
    }

    fn word(&self) -> Option<&str> {
        match self.peek() {
            Some(Tok::Word(w)) => Some(w),
            _ => None,
        }
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.i).map(|t| t.0.clone());
        self.i += 1;
        t
    }

    fn string(&mut self) -> Result<String> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(s),
            _ => Err(self.err("a quoted string was expected")),
        }
    }

    /// A length or position: MSF in sectors, or a plain number of `unit`-byte units
    /// (samples for audio, bytes for data) converted to bytes.
    fn amount(&mut self, unit: u64) -> Result<Amount> {
        let Some(Tok::Word(w)) = self.next() else {
            return Err(self.err("a length was expected"));
        };
        if w.contains(':') {
            return parse_msf(&w)
                .map(|f| Amount::Sectors(f as u64))
                .ok_or_else(|| self.err(format!("bad time \"{w}\"")));
        }
        let n: u64 = w
            .parse()
            .map_err(|_| self.err(format!("bad number \"{w}\"")))?;
        n.checked_mul(unit)
            .map(Amount::Bytes)
            .ok_or_else(|| self.err("length overflows"))
    }

    fn is_amount(&self) -> bool {
        self.word()
            .is_some_and(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))
    }

    /// Skips a balanced `{ ... }` block, keeping block-0 CD-TEXT items in `text`.
    fn cd_text(&mut self, text: &mut CdText) -> Result<()> {
        if self.next() != Some(Tok::Open) {
            return Err(self.err("CD_TEXT without '{'"));
        }
        let mut depth = 1;
        let mut language: Option<String> = None;
        let mut lang_depth = 0;
        while depth > 0 {
            match self.next() {
                None => return Err(self.err("CD_TEXT block not closed")),
                Some(Tok::Open) => depth += 1,
                Some(Tok::Close) => {
                    depth -= 1;
                    if depth < lang_depth {
                        language = None;
                    }
                }
                Some(Tok::Word(w)) if w == "LANGUAGE" => {
                    if let Some(Tok::Word(n)) = self.next() {
                        language = Some(n);
                        lang_depth = depth + 1;
                    }
                }
                Some(Tok::Word(w)) => {
                    if language.as_deref() == Some("0") {
                        if let Some(Tok::Str(s)) = self.peek().cloned() {
                            self.i += 1;
                            if let Some(f) = text.field_mut(&w) {
                                *f = Some(s);
                            }
                        }
                    }
                }
                Some(Tok::Str(_)) => {}
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
enum Amount {
    Sectors(u64),
    Bytes(u64),
}

impl Amount {
    /// Sectors, at most `MAX_SECTORS` (a larger amount is no disc's and is clamped, so that
    /// positions stay in range; the track is then refused for its length).
    fn sectors(self, size: u64) -> u64 {
        let n = match self {
            Amount::Sectors(n) => n,
            Amount::Bytes(b) => b.div_ceil(size),
        };
        n.min(super::disc::MAX_SECTORS as u64)
    }
    fn bytes(self, size: u64) -> u64 {
        match self {
            Amount::Sectors(n) => n.saturating_mul(size),
            Amount::Bytes(b) => b,
        }
    }
}

/// Opens a TOC file from its bytes.
pub fn open(bytes: &[u8], files: &dyn Resolver) -> Result<Disc> {
    let text = String::from_utf8_lossy(bytes);
    let mut p = Parser {
        toks: tokens(&text)?,
        i: 0,
        files,
    };
    let mut disc = Disc::new(FORMAT);
    let mut kind = SessionKind::CdRom;
    let mut cursor = 0i64;
    let mut file_index: Vec<(String, usize)> = Vec::new();
    while let Some(tok) = p.next() {
        let Tok::Word(w) = tok else {
            return Err(p.err("unexpected text"));
        };
        match w.as_str() {
            "CD_DA" => kind = SessionKind::CdDa,
            "CD_ROM" => kind = SessionKind::CdRom,
            "CD_ROM_XA" => kind = SessionKind::CdRomXa,
            "CD_I" => kind = SessionKind::CdI,
            "CATALOG" => disc.catalog = Some(p.string()?),
            "CD_TEXT" => {
                let mut t = disc.cd_text.clone();
                p.cd_text(&mut t)?;
                disc.cd_text = t;
            }
            "TRACK" => {
                let track = parse_track(&mut p, &mut disc, &mut file_index, cursor)?;
                cursor = track.end;
                if disc.tracks.len() >= super::disc::MAX_TRACKS {
                    return Err(Error::limit(FORMAT, "toc file", 0, "more than 99 tracks"));
                }
                disc.tracks.push(track);
            }
            other => return Err(p.err(format!("unknown keyword {other}"))),
        }
    }
    disc.sessions.push(Session { number: 1, kind });
    disc.validate()?;
    Ok(disc)
}

fn parse_track(
    p: &mut Parser<'_>,
    disc: &mut Disc,
    file_index: &mut Vec<(String, usize)>,
    first: i64,
) -> Result<Track> {
    let Some(Tok::Word(keyword)) = p.next() else {
        return Err(p.err("TRACK without a mode"));
    };
    let (mode, stored) = mode_of(&keyword)
        .ok_or_else(|| Error::unsupported(FORMAT, format!("track mode {keyword}")))?;
    let mut sub = Sub::None;
    match p.word() {
        Some("RW_RAW") => {
            p.i += 1;
            sub = Sub::Interleaved;
        }
        Some("RW") => return Err(Error::unsupported(FORMAT, "packed RW sub-channel data")),
        _ => {}
    }
    let size = u64::from(stored.size());
    let stride = size + if sub == Sub::Interleaved { 96 } else { 0 };
    let unit = if mode == TrackMode::Audio { 4 } else { 1 };
    let number = u8::try_from(disc.tracks.len() + 1).unwrap_or(u8::MAX);
    let mut flags = TrackFlags::default();
    let mut isrc = None;
    let mut cd_text = CdText::default();
    let mut runs: Vec<Run> = Vec::new();
    let mut at = first;
    let mut start: Option<i64> = None;
    let mut indexes = Vec::new();
    loop {
        let Some(w) = p.word().map(str::to_owned) else {
            if p.peek().is_none() {
                break;
            }
            return Err(p.err("unexpected text in a track"));
        };
        match w.as_str() {
            "TRACK" => break,
            "NO" => {
                p.i += 1;
                match p.next() {
                    Some(Tok::Word(x)) if x == "COPY" => flags.copy_permitted = false,
                    Some(Tok::Word(x)) if x == "PRE_EMPHASIS" => flags.pre_emphasis = false,
                    _ => return Err(p.err("NO must be followed by COPY or PRE_EMPHASIS")),
                }
            }
            "COPY" => {
                p.i += 1;
                flags.copy_permitted = true;
            }
            "PRE_EMPHASIS" => {
                p.i += 1;
                flags.pre_emphasis = true;
            }
            "TWO_CHANNEL_AUDIO" => {
                p.i += 1;
                flags.four_channel = false;
            }
            "FOUR_CHANNEL_AUDIO" => {
                p.i += 1;
                flags.four_channel = true;
            }
            "ISRC" => {
                p.i += 1;
                isrc = Some(p.string()?);
            }
            "CD_TEXT" => {
                p.i += 1;
                p.cd_text(&mut cd_text)?;
            }
            "SILENCE" | "ZERO" | "PREGAP" => {
                p.i += 1;
                if w == "ZERO" {
                    // Optional data mode and sub-channel mode of the zeros.
                    while p
                        .word()
                        .is_some_and(|x| mode_of(x).is_some() || x == "RW" || x == "RW_RAW")
                    {
                        p.i += 1;
                    }
                }
                let n = p.amount(unit)?.sectors(stride);
                if n > 0 {
                    runs.push(Run {
                        lba: at,
                        count: n,
                        source: Source::Zero,
                        sub: Sub::None,
                    });
                    at += n as i64;
                }
                if w == "PREGAP" {
                    start = Some(at);
                }
            }
            "FILE" | "AUDIOFILE" | "DATAFILE" => {
                p.i += 1;
                let name = p.string()?;
                let mut offset = 0u64;
                if let Some(Tok::Word(h)) = p.peek() {
                    if let Some(n) = h.strip_prefix('#') {
                        offset = n.parse().map_err(|_| p.err(format!("bad offset {h}")))?;
                        p.i += 1;
                    }
                }
                let idx = match file_index.iter().find(|(n, _)| *n == name) {
                    Some(&(_, i)) => i,
                    None => {
                        let f = p.files.open(&name)?;
                        disc.files.push(f);
                        file_index.push((name.clone(), disc.files.len() - 1));
                        disc.files.len() - 1
                    }
                };
                let wav = name.to_ascii_lowercase().ends_with(".wav") && mode == TrackMode::Audio;
                let (base, file_len) = if wav {
                    super::audio::wave_data(&disc.files[idx])?
                } else {
                    (0, disc.files[idx].source.size())
                };
                if w != "DATAFILE" {
                    let s = p.amount(unit)?.bytes(stride);
                    offset = offset.saturating_add(s);
                }
                let begin = base.saturating_add(offset);
                // A missing or zero length means "to the end of the file".
                let len = match p.is_amount() {
                    true => p.amount(unit)?.bytes(stride),
                    false => 0,
                };
                let len = if len == 0 {
                    file_len.saturating_sub(offset)
                } else {
                    len
                };
                let n = (len / stride).min(super::disc::MAX_SECTORS as u64);
                if len % stride != 0 {
                    disc.warnings.push(format!("track {number}: {} bytes of \"{name}\" beyond the last whole sector are ignored", len % stride));
                }
                if n > 0 {
                    runs.push(Run {
                        lba: at,
                        count: n,
                        source: Source::File {
                            file: idx,
                            offset: begin,
                            stored,
                            swap: mode == TrackMode::Audio && !wav,
                        },
                        sub,
                    });
                    at += n as i64;
                }
                if runs.len() > super::disc::MAX_RUNS {
                    return Err(Error::limit(
                        FORMAT,
                        "toc file",
                        0,
                        format!(
                            "track {number} has more than {} parts",
                            super::disc::MAX_RUNS
                        ),
                    ));
                }
            }
            "FIFO" => return Err(Error::unsupported(FORMAT, "FIFO sources")),
            "START" => {
                p.i += 1;
                start = Some(if p.is_amount() {
                    first + p.amount(unit)?.sectors(stride) as i64
                } else {
                    at
                });
            }
            "INDEX" => {
                p.i += 1;
                let n = p.amount(unit)?.sectors(stride) as i64;
                indexes.push(n);
            }
            other => return Err(p.err(format!("unknown keyword {other} in track {number}"))),
        }
    }
    let start = start.unwrap_or(first);
    Ok(Track {
        number,
        session: 1,
        mode,
        first,
        start,
        end: at,
        postgap: 0,
        indexes: indexes.into_iter().map(|i| start + i).collect(),
        flags,
        isrc,
        cd_text,
        runs,
    })
}

/// A written TOC track: number, mode keyword, and what the data file holds for it:
/// `(file name, byte offset, first lba written, sectors)`.
#[derive(Debug, Clone)]
pub struct TocTrack {
    /// Track number.
    pub number: u8,
    /// `AUDIO`, `MODE1_RAW`, ...
    pub keyword: String,
    /// `RW_RAW` when subchannel is written.
    pub subchannel: bool,
    /// Data file name.
    pub file: String,
    /// Offset in it.
    pub offset: u64,
    /// First sector written.
    pub written_first: i64,
    /// Sectors written.
    pub written: u64,
}

fn cd_text_block(s: &mut String, t: &CdText, indent: &str, global: bool) {
    if t.is_empty() {
        return;
    }
    let _ = writeln!(s, "{indent}CD_TEXT {{");
    if global {
        let _ = writeln!(
            s,
            "{indent}  LANGUAGE_MAP {{\n{indent}    0 : EN\n{indent}  }}"
        );
    }
    let _ = writeln!(s, "{indent}  LANGUAGE 0 {{");
    for (k, v) in t.fields() {
        if let Some(v) = v {
            let key = if k == "UPC_EAN" && !global { "ISRC" } else { k };
            let _ = writeln!(s, "{indent}    {key} \"{}\"", v.replace('"', "'"));
        }
    }
    let _ = writeln!(s, "{indent}  }}\n{indent}}}");
}

/// The text of a TOC file for `disc` laid out as `tracks` say.
pub fn write(disc: &Disc, tracks: &[TocTrack]) -> String {
    let mut s = String::new();
    let kind = match disc.sessions.first().map(|x| x.kind) {
        Some(SessionKind::CdDa) => "CD_DA",
        Some(SessionKind::CdRomXa) => "CD_ROM_XA",
        Some(SessionKind::CdI) => "CD_I",
        _ => "CD_ROM",
    };
    let _ = writeln!(s, "{kind}");
    if let Some(c) = &disc.catalog {
        let _ = writeln!(s, "CATALOG \"{c}\"");
    }
    cd_text_block(&mut s, &disc.cd_text, "", true);
    for w in tracks {
        let Some(t) = disc.track(w.number) else {
            continue;
        };
        let _ = writeln!(
            s,
            "\n// Track {}\nTRACK {}{}",
            w.number,
            w.keyword,
            if w.subchannel { " RW_RAW" } else { "" }
        );
        let _ = writeln!(s, "{}COPY", if t.flags.copy_permitted { "" } else { "NO " });
        if t.mode == TrackMode::Audio {
            let _ = writeln!(
                s,
                "{}PRE_EMPHASIS",
                if t.flags.pre_emphasis { "" } else { "NO " }
            );
            let _ = writeln!(
                s,
                "{}_CHANNEL_AUDIO",
                if t.flags.four_channel { "FOUR" } else { "TWO" }
            );
        }
        if let Some(i) = &t.isrc {
            let _ = writeln!(s, "ISRC \"{i}\"");
        }
        cd_text_block(&mut s, &t.cd_text, "", false);
        let from = if disc.tracks.first().is_some_and(|f| f.number == t.number) {
            t.first.max(0)
        } else {
            t.first
        };
        let before = (w.written_first - from).max(0);
        if before > 0 {
            let zero = if t.mode == TrackMode::Audio {
                "SILENCE".to_owned()
            } else {
                format!("ZERO {}", w.keyword)
            };
            let _ = writeln!(s, "{zero} {}", format_msf(before));
        }
        let _ = writeln!(
            s,
            "DATAFILE \"{}\" #{} {}",
            w.file,
            w.offset,
            format_msf(w.written as i64)
        );
        let after = t.end - (w.written_first + w.written as i64);
        if after > 0 {
            let zero = if t.mode == TrackMode::Audio {
                "SILENCE".to_owned()
            } else {
                format!("ZERO {}", w.keyword)
            };
            let _ = writeln!(s, "{zero} {}", format_msf(after));
        }
        if t.start > from {
            let _ = writeln!(s, "START {}", format_msf(t.start - from));
        }
        for &i in &t.indexes {
            let _ = writeln!(s, "INDEX {}", format_msf(i - t.start));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optical::files::ZeroFiles;

    #[test]
    fn reads_chdman_style_toc() {
        let toc = b"CD_ROM\n\n// Track 1\nTRACK MODE1\nNO COPY\nDATAFILE \"m.bin\" 00:03:35 // length in bytes: 532480\n\n// Track 2\nTRACK AUDIO\nNO COPY\nNO PRE_EMPHASIS\nTWO_CHANNEL_AUDIO\nZERO AUDIO 00:02:00\nDATAFILE \"m.bin\" #532480 00:04:00\nSTART 00:02:00\nINDEX 00:01:00\n";
        assert!(probe(toc));
        let d = open(toc, &ZeroFiles(532480 + 300 * 2352)).unwrap();
        assert_eq!(d.tracks.len(), 2);
        let t2 = &d.tracks[1];
        assert_eq!((t2.first, t2.start, t2.end), (260, 410, 710));
        assert_eq!(t2.indexes, vec![485]);
        assert_eq!(t2.runs.len(), 2);
        assert!(matches!(
            t2.runs[1].source,
            Source::File {
                swap: true,
                offset: 532480,
                ..
            }
        ));
    }

    #[test]
    fn bad_tocs_are_errors() {
        for bad in [
            &b"TRACK BOGUS\n"[..],
            b"TRACK AUDIO\nFILE \"x\"\n",
            b"CD_TEXT { LANGUAGE 0 { TITLE \"x\" }\nTRACK AUDIO\n",
            b"TRACK AUDIO\nWHAT\n",
        ] {
            assert!(
                open(bad, &ZeroFiles(1 << 20)).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
