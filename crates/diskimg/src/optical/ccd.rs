//! CloneCD images: a `.ccd` text file (the disc's full TOC), the `.img` of raw 2352-byte
//! sectors and the `.sub` of 96 bytes of deinterleaved P-W subchannel per sector. Read and
//! written.
//!
//! Structure as libmirage's `image-ccd` reads it (cdemu/cdemu): INI sections `[CloneCD]`,
//! `[Disc]` (`TocEntries`, `Sessions`, `DataTracksScrambled`, `CDTextLength`, `CATALOG`),
//! `[CDText]` (`Entries`, `Entry n` = 18 hexadecimal bytes of a pack), `[Session n]`,
//! `[Entry n]` (one TOC entry: `Session`, `Point`, `ADR`, `Control`, `PMin/PSec/PFrame`,
//! `PLBA`, ...) and `[TRACK n]` (`MODE`, `INDEX 0`, `INDEX 1`, `ISRC`). The `.img` holds
//! every sector from the first track's index 0 (or 1) to the end of the last track, sessions
//! one after the other without their lead-out and lead-in. Scrambled data tracks
//! (`DataTracksScrambled=1`) are refused as unsupported.

use super::cdtext;
use super::disc::{
    Disc, Run, Session, SessionKind, Source, Stored, Sub, Track, TrackFlags, TrackMode,
};
use super::files::Resolver;
use super::msf::lba_to_msf;
use super::sector::{self, RAW, SectorKind};
use crate::error::{Error, Result};
use std::fmt::Write as _;

/// Format name.
pub const FORMAT: &str = "ccd";
/// Largest `.ccd` read.
pub const MAX_CCD_SIZE: u64 = 1 << 20;
/// Most TOC entries.
pub const MAX_ENTRIES: usize = 1000;

/// Whether `head` looks like a CloneCD control file.
pub fn probe(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&head[..head.len().min(4096)]);
    text.trim_start_matches('\u{feff}')
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("[clonecd]")
}

/// A section's name and its `key=value` lines.
type Section = (String, Vec<(String, String)>);

/// `[section]` -> `key=value` lines, in order, names and keys lower case.
fn sections(text: &str) -> Result<Vec<Section>> {
    let mut out: Vec<Section> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            if out.len() > MAX_ENTRIES + 200 {
                return Err(Error::limit(FORMAT, "control file", 0, "too many sections"));
            }
            out.push((name.trim().to_ascii_lowercase(), Vec::new()));
        } else if let (Some((k, v)), Some(last)) = (line.split_once('='), out.last_mut()) {
            last.1
                .push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    Ok(out)
}

fn get<'a>(kv: &'a [(String, String)], key: &str) -> Option<&'a str> {
    kv.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// A decimal or `0x` hexadecimal value; values no disc can hold (beyond `MAX_SECTORS` either
/// way) are taken as absent.
fn num(kv: &[(String, String)], key: &str) -> Option<i64> {
    let v = get(kv, key)?;
    let n = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(h) => i64::from_str_radix(h, 16).ok(),
        None => v.parse().ok(),
    }?;
    (n.abs() <= super::disc::MAX_SECTORS).then_some(n)
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    session: u8,
    point: u8,
    control: u8,
    plba: i64,
}

/// Opens a CloneCD image from its control file's bytes.
pub fn open(bytes: &[u8], files: &dyn Resolver) -> Result<Disc> {
    let text = String::from_utf8_lossy(bytes);
    let secs = sections(&text)?;
    let bad = |msg: String| Error::corrupt(FORMAT, "control file", 0, msg);
    let disc_kv = secs
        .iter()
        .find(|(n, _)| n == "disc")
        .map(|(_, kv)| kv.as_slice())
        .unwrap_or(&[]);
    if num(disc_kv, "datatracksscrambled").unwrap_or(0) != 0 {
        return Err(Error::unsupported(
            FORMAT,
            "scrambled data tracks (DataTracksScrambled=1)",
        ));
    }
    let mut entries = Vec::new();
    let mut tracks_kv: Vec<(u8, &[(String, String)])> = Vec::new();
    let mut packs = Vec::new();
    for (name, kv) in &secs {
        if name.starts_with("entry ") {
            if entries.len() >= MAX_ENTRIES {
                return Err(Error::limit(
                    FORMAT,
                    "control file",
                    0,
                    format!("more than {MAX_ENTRIES} TOC entries"),
                ));
            }
            let field = |k: &str| num(kv, k).ok_or_else(|| bad(format!("[{name}] has no {k}")));
            entries.push(Entry {
                session: u8::try_from(field("session")?)
                    .map_err(|_| bad(format!("[{name}] session out of range")))?,
                point: u8::try_from(field("point")?)
                    .map_err(|_| bad(format!("[{name}] point out of range")))?,
                control: (field("control")? & 0xf) as u8,
                plba: field("plba")?,
            });
        } else if let Some(n) = name.strip_prefix("track ") {
            let n: u8 = n
                .trim()
                .parse()
                .map_err(|_| bad(format!("bad section [{name}]")))?;
            tracks_kv.push((n, kv));
        } else if name == "cdtext" {
            for (k, v) in kv {
                if k.starts_with("entry ") {
                    for b in v.split_whitespace() {
                        packs.push(
                            u8::from_str_radix(b, 16)
                                .map_err(|_| bad(format!("bad CD-TEXT byte {b}")))?,
                        );
                    }
                }
            }
        }
    }
    let img_name = files
        .descriptor()
        .map(|p| p.with_extension("img"))
        .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "image.img".into());
    let img = files.open(&img_name)?;
    let sub_name = img_name.trim_end_matches(".img").to_owned() + ".sub";
    let mut disc = Disc::new(FORMAT);
    disc.catalog = get(disc_kv, "catalog")
        .map(str::to_owned)
        .filter(|c| c.len() == 13);
    disc.files.push(img);
    let sub_file = match files.open(&sub_name) {
        Ok(f) => {
            disc.files.push(f);
            Some(1)
        }
        Err(_) => {
            disc.warnings
                .push(format!("no {sub_name}: subchannel will be generated"));
            None
        }
    };
    let mut numbered: Vec<Entry> = entries
        .iter()
        .copied()
        .filter(|e| (1..=99).contains(&e.point))
        .collect();
    numbered.sort_by_key(|e| e.point);
    numbered.dedup_by_key(|e| e.point);
    if numbered.is_empty() {
        return Err(bad("no track entries".into()));
    }
    let mut sessions: Vec<u8> = numbered.iter().map(|e| e.session).collect();
    sessions.dedup();
    for &s in &sessions {
        disc.sessions.push(Session {
            number: s,
            kind: SessionKind::CdRom,
        });
    }
    let index = |n: u8, key: &str| {
        tracks_kv
            .iter()
            .find(|(t, _)| *t == n)
            .and_then(|(_, kv)| num(kv, key))
    };
    let mut offset = 0u64;
    for (i, e) in numbered.iter().enumerate() {
        let n = e.point;
        let start = e.plba;
        let pregap = match (index(n, "index 0"), index(n, "index 1")) {
            (Some(i0), Some(i1)) if i1 >= i0 => i1 - i0,
            _ => 0,
        };
        let first = start - pregap;
        let end = match numbered.get(i + 1).filter(|x| x.session == e.session) {
            Some(next) => {
                next.plba
                    - match (index(next.point, "index 0"), index(next.point, "index 1")) {
                        (Some(i0), Some(i1)) if i1 >= i0 => i1 - i0,
                        _ => 0,
                    }
            }
            None => entries
                .iter()
                .find(|x| x.session == e.session && x.point == 0xa2)
                .map(|x| x.plba)
                .ok_or_else(|| {
                    bad(format!(
                        "session {} has no lead-out entry (point 0xA2)",
                        e.session
                    ))
                })?,
        };
        if end <= first {
            return Err(bad(format!(
                "track {n} ends at {end} before it starts at {first}"
            )));
        }
        let count = (end - first) as u64;
        let mode = match index(n, "mode") {
            Some(0) => TrackMode::Audio,
            Some(1) => TrackMode::Mode1,
            Some(2) => TrackMode::Mode2Mixed,
            _ if e.control & 4 == 0 => TrackMode::Audio,
            _ => {
                let mut raw = [0u8; RAW];
                disc.files[0]
                    .source
                    .read_exact_at(offset + (start - first) as u64 * RAW as u64, &mut raw)
                    .ok();
                match sector::kind_of(&raw) {
                    SectorKind::Mode1 => TrackMode::Mode1,
                    _ => TrackMode::Mode2Mixed,
                }
            }
        };
        let sub = match sub_file {
            Some(f) => Sub::Linear {
                file: f,
                offset: offset / RAW as u64 * 96,
            },
            None => Sub::None,
        };
        let isrc = tracks_kv
            .iter()
            .find(|(t, _)| *t == n)
            .and_then(|(_, kv)| get(kv, "isrc"))
            .map(str::to_owned);
        // Indexes 2 and up, where they lie inside the track and in order.
        let mut indexes: Vec<i64> = Vec::new();
        for k in 2..=99u8 {
            match index(n, &format!("index {k}")) {
                Some(at) if at > indexes.last().copied().unwrap_or(start) && at < end => {
                    indexes.push(at)
                }
                Some(_) => {
                    return Err(bad(format!(
                        "track {n}: index {k} outside the track or out of order"
                    )));
                }
                None => break,
            }
        }
        disc.tracks.push(Track {
            number: n,
            session: e.session,
            mode,
            first,
            start,
            end,
            postgap: 0,
            indexes,
            flags: TrackFlags::from_control(e.control),
            isrc,
            cd_text: Default::default(),
            runs: vec![Run {
                lba: first,
                count,
                source: Source::File {
                    file: 0,
                    offset,
                    stored: Stored::Raw,
                    swap: false,
                },
                sub,
            }],
        });
        offset += count * RAW as u64;
    }
    if !packs.is_empty() {
        let (album, tracks) = cdtext::decode(&packs);
        disc.cd_text = album;
        cdtext::attach(&mut disc, tracks);
    }
    super::cue::set_session_kinds(&mut disc);
    disc.validate()?;
    Ok(disc)
}

/// The control file for `disc` whose sectors `[written_first, end)` of every track are in the
/// `.img` one after the other.
pub fn write(disc: &Disc, written_first: &[(u8, i64)]) -> String {
    let mut s = String::new();
    let mut entries: Vec<String> = Vec::new();
    let entry = |session: u8, point: u8, control: u8, plba: i64, pmsf: Option<(u8, u8, u8)>| {
        let (m, sec, f) = pmsf.unwrap_or_else(|| lba_to_msf(plba + 150));
        format!(
            "Session={session}\nPoint={point:#04x}\nADR=0x01\nControl={control:#04x}\nTrackNo=0\nAMin=0\nASec=0\nAFrame=0\nALBA=-150\nZero=0\nPMin={m}\nPSec={sec}\nPFrame={f}\nPLBA={plba}\n"
        )
    };
    for sess in &disc.sessions {
        let tracks: Vec<&Track> = disc.session_tracks(sess.number).collect();
        let (Some(first), Some(last)) = (tracks.first(), tracks.last()) else {
            continue;
        };
        let kind = match sess.kind {
            SessionKind::CdRomXa => 0x20,
            SessionKind::CdI => 0x10,
            _ => 0,
        };
        let c = |t: &Track| t.flags.control(t.mode);
        entries.push(entry(
            sess.number,
            0xa0,
            c(first),
            i64::from(first.number) * 4500 + kind * 75 - 150,
            Some((first.number, kind as u8, 0)),
        ));
        entries.push(entry(
            sess.number,
            0xa1,
            c(last),
            i64::from(last.number) * 4500 - 150,
            Some((last.number, 0, 0)),
        ));
        entries.push(entry(sess.number, 0xa2, c(last), last.end, None));
        for t in &tracks {
            entries.push(entry(sess.number, t.number, c(t), t.start, None));
        }
    }
    let packs = cdtext::encode(disc);
    let _ = writeln!(
        s,
        "[CloneCD]\nVersion=3\n\n[Disc]\nTocEntries={}\nSessions={}\nDataTracksScrambled=0\nCDTextLength={}",
        entries.len(),
        disc.sessions.len(),
        packs.len()
    );
    if let Some(c) = &disc.catalog {
        let _ = writeln!(s, "CATALOG={c}");
    }
    if !packs.is_empty() {
        let _ = writeln!(s, "\n[CDText]\nEntries={}", packs.len() / 18);
        for (i, p) in packs.chunks(18).enumerate() {
            let hex: Vec<String> = p.iter().map(|b| format!("{b:02x}")).collect();
            let _ = writeln!(s, "Entry {i}={}", hex.join(" "));
        }
    }
    for sess in &disc.sessions {
        let mode = match disc.session_tracks(sess.number).next().map(|t| t.mode) {
            Some(TrackMode::Audio) => 0,
            Some(TrackMode::Mode1) => 1,
            _ => 2,
        };
        let _ = writeln!(
            s,
            "\n[Session {}]\nPreGapMode={mode}\nPreGapSubC={}",
            sess.number,
            u8::from(mode != 0)
        );
    }
    for (i, e) in entries.iter().enumerate() {
        let _ = write!(s, "\n[Entry {i}]\n{e}");
    }
    for t in &disc.tracks {
        let mode = match t.mode {
            TrackMode::Audio => 0,
            TrackMode::Mode1 => 1,
            _ => 2,
        };
        let _ = writeln!(s, "\n[TRACK {}]\nMODE={mode}", t.number);
        if let Some(i) = &t.isrc {
            let _ = writeln!(s, "ISRC={i}");
        }
        let wf = written_first
            .iter()
            .find(|(n, _)| *n == t.number)
            .map_or(t.first, |x| x.1);
        if t.start > wf {
            let _ = writeln!(s, "INDEX 0={wf}");
        }
        let _ = writeln!(s, "INDEX 1={}", t.start);
        for (i, &at) in t.indexes.iter().enumerate() {
            let _ = writeln!(s, "INDEX {}={at}", i + 2);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optical::disc::DataFile;
    use crate::optical::files::Zeros;
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    struct Two(u64);
    impl Resolver for Two {
        fn open(&self, name: &str) -> Result<DataFile> {
            if name.ends_with(".sub") {
                return Ok(DataFile {
                    path: PathBuf::from(name),
                    source: Arc::new(Zeros(self.0 / RAW as u64 * 96)),
                });
            }
            Ok(DataFile {
                path: PathBuf::from(name),
                source: Arc::new(Zeros(self.0)),
            })
        }
        fn descriptor(&self) -> Option<&Path> {
            Some(Path::new("x.ccd"))
        }
    }

    #[test]
    fn written_control_files_read_back() {
        let mut disc = crate::optical::disc::tests_support::one_track(TrackMode::Mode1);
        disc.catalog = Some("0000010271955".into());
        let text = write(&disc, &[]);
        assert!(probe(text.as_bytes()));
        let back = open(text.as_bytes(), &Two(10 * RAW as u64)).unwrap();
        assert_eq!(back.tracks.len(), 1);
        assert_eq!((back.tracks[0].start, back.tracks[0].end), (0, 10));
        assert_eq!(back.tracks[0].mode, TrackMode::Mode1);
        assert_eq!(back.catalog, disc.catalog);
        assert!(back.tracks[0].has_subchannel());
    }

    #[test]
    fn broken_control_files_are_errors() {
        assert!(open(b"[CloneCD]\nVersion=3\n", &Two(RAW as u64)).is_err());
        assert!(
            open(
                b"[CloneCD]\n[Disc]\nDataTracksScrambled=1\n",
                &Two(RAW as u64)
            )
            .is_err()
        );
        let no_leadout = b"[CloneCD]\n[Entry 0]\nSession=1\nPoint=0x01\nControl=0x04\nPLBA=0\n";
        assert!(
            open(no_leadout, &Two(RAW as u64))
                .unwrap_err()
                .to_string()
                .contains("lead-out")
        );
    }
}
