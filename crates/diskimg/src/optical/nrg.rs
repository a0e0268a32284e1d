//! Nero Burning ROM images (`.nrg`): sector data followed by a chain of chunks, found from a
//! footer at the end of the file. Read and written.
//!
//! Structures as libmirage's `image-nrg` documents them (cdemu/cdemu): the footer is `NER5`
//! and a 64-bit big-endian chunk offset (version 2) or `NERO` and a 32-bit one (version 1);
//! chunks are a 4-byte id, a 32-bit big-endian length and the body, up to `END!`. Per session
//! a `CUEX` (v2, LBAs) or `CUES` (v1, MSF) table of track/index positions and a `DAOX`/`DAOI`
//! table of per-track byte ranges (pregap, index 1, end), sector size, mode code and ISRC for
//! disc-at-once images; or an `ETN2`/`ETNF` table (offset, size, mode, LBA) for track-at-once
//! images. `SINF` gives each session's track count, `MTYP` the medium, `CDTX` CD-TEXT packs.
//! Mode codes: 0x00 mode 1 (2048), 0x02 mode 2 form 1 (2048), 0x03 mode 2 (2336), 0x05 mode 1
//! raw, 0x06 mode 2 raw, 0x07 audio (2352), and 0x0f, 0x10, 0x11 the raw ones with 96 bytes of
//! interleaved subchannel.
//! Written: version 2, disc-at-once, one `CUEX`/`DAOX`/`SINF` per session, `CDTX` when there
//! is CD-TEXT, `MTYP`, `END!`. The first track's 150-sector pregap is stored, as Nero does.

use super::cdtext;
use super::disc::{
    DataFile, Disc, Run, Session, SessionKind, Source, Stored, Sub, Track, TrackFlags, TrackMode,
};
use super::msf::{bcd, from_bcd, msf_to_frames};
use crate::error::{Error, Result};
use crate::io::{ReadAt, read_vec};
use std::path::PathBuf;
use std::sync::Arc;

/// Format name.
pub const FORMAT: &str = "nrg";
/// Largest chunk area read (Nero's are a few kilobytes).
pub const MAX_CHUNKS_SIZE: u64 = 1 << 20;
/// Most entries in one `CUEX`/`CUES` table (99 tracks of up to 99 indexes, lead-in, lead-out).
pub const MAX_CUE_ENTRIES: usize = 99 * 100 + 2;
/// Most chunks followed.
pub const MAX_CHUNKS: usize = 4096;

/// Where the chunks start and which version, from the footer.
pub fn footer(src: &dyn ReadAt) -> Option<(u64, u8)> {
    let size = src.size();
    if size >= 12 {
        let mut f = [0u8; 12];
        src.read_exact_at(size - 12, &mut f).ok()?;
        if &f[..4] == b"NER5" {
            let off = u64::from_be_bytes(f[4..12].try_into().ok()?);
            return (off < size - 12).then_some((off, 2));
        }
    }
    if size >= 8 {
        let mut f = [0u8; 8];
        src.read_exact_at(size - 8, &mut f).ok()?;
        if &f[..4] == b"NERO" {
            let off = u64::from(u32::from_be_bytes(f[4..8].try_into().ok()?));
            return (off < size - 8).then_some((off, 1));
        }
    }
    None
}

/// Mode, stored layout and subchannel of a Nero mode code.
pub fn mode_of(code: u8) -> Option<(TrackMode, Stored, Sub)> {
    Some(match code {
        0x00 => (TrackMode::Mode1, Stored::Mode1Data, Sub::None),
        0x02 => (TrackMode::Mode2Form1, Stored::Form1Data, Sub::None),
        0x03 => (TrackMode::Mode2Mixed, Stored::Mode2Data, Sub::None),
        0x05 => (TrackMode::Mode1, Stored::Raw, Sub::None),
        0x06 => (TrackMode::Mode2Mixed, Stored::Raw, Sub::None),
        0x07 => (TrackMode::Audio, Stored::Raw, Sub::None),
        0x0f => (TrackMode::Mode1, Stored::Raw, Sub::Interleaved),
        0x10 => (TrackMode::Audio, Stored::Raw, Sub::Interleaved),
        0x11 => (TrackMode::Mode2Mixed, Stored::Raw, Sub::Interleaved),
        _ => return None,
    })
}

/// The Nero mode code of a track stored as `stored` (with `sub`).
pub fn code_of(mode: TrackMode, stored: Stored, sub: bool) -> Option<u8> {
    Some(match (mode, stored, sub) {
        (TrackMode::Audio, Stored::Raw, false) => 0x07,
        (TrackMode::Audio, Stored::Raw, true) => 0x10,
        (TrackMode::Mode1, Stored::Raw, false) => 0x05,
        (TrackMode::Mode1, Stored::Raw, true) => 0x0f,
        (_, Stored::Raw, false) => 0x06,
        (_, Stored::Raw, true) => 0x11,
        (_, Stored::Mode1Data, false) => 0x00,
        (_, Stored::Form1Data, false) => 0x02,
        (_, Stored::Mode2Data, false) => 0x03,
        _ => return None,
    })
}

struct Chunk {
    id: [u8; 4],
    offset: u64,
    body: Vec<u8>,
}

fn chunks(src: &dyn ReadAt, start: u64, end: u64) -> Result<Vec<Chunk>> {
    let area = read_vec(src, start, end - start, MAX_CHUNKS_SIZE)
        .map_err(|e| e.with_format(FORMAT).with_structure("chunk list"))?;
    let mut out = Vec::new();
    let mut p = 0usize;
    while p + 8 <= area.len() {
        if out.len() >= MAX_CHUNKS {
            return Err(Error::limit(
                FORMAT,
                "chunk list",
                start,
                format!("more than {MAX_CHUNKS} chunks"),
            ));
        }
        let id: [u8; 4] = area[p..p + 4].try_into().unwrap_or_default();
        let len = u32::from_be_bytes(area[p + 4..p + 8].try_into().unwrap_or_default()) as usize;
        if !id.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'!') {
            return Err(Error::corrupt(
                FORMAT,
                "chunk",
                start + p as u64,
                format!("chunk id {id:02x?} is not text"),
            ));
        }
        if id == *b"END!" {
            return Ok(out);
        }
        let body = area.get(p + 8..p + 8 + len).ok_or_else(|| {
            Error::corrupt(
                FORMAT,
                "chunk",
                start + p as u64,
                format!(
                    "{} chunk of {len} bytes runs past the footer",
                    String::from_utf8_lossy(&id)
                ),
            )
        })?;
        out.push(Chunk {
            id,
            offset: start + p as u64,
            body: body.to_vec(),
        });
        p += 8 + len;
    }
    Err(Error::corrupt(FORMAT, "chunk list", start, "no END! chunk"))
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap_or_default())
}

fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().unwrap_or_default())
}

fn text(b: &[u8]) -> Option<String> {
    let s: String = b
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| char::from(c))
        .collect();
    (!s.trim().is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric())).then_some(s)
}

/// A `CUEX`/`CUES` entry: control, track (0 lead-in, 0xAA lead-out), index, LBA.
#[derive(Debug, Clone, Copy)]
struct CueEntry {
    control: u8,
    track: u8,
    index: u8,
    lba: i64,
}

fn cue_entries(c: &Chunk, v2: bool) -> Result<Vec<CueEntry>> {
    if c.body.len() % 8 != 0 {
        return Err(Error::corrupt(
            FORMAT,
            "CUEX chunk",
            c.offset,
            "length is not a multiple of 8",
        ));
    }
    c.body
        .chunks_exact(8)
        .map(|e| {
            let track = if e[1] == 0xaa {
                0xaa
            } else {
                from_bcd(e[1]).unwrap_or(e[1])
            };
            let index = from_bcd(e[2]).unwrap_or(e[2]);
            let lba = if v2 {
                i64::from(i32::from_be_bytes(e[4..8].try_into().unwrap_or_default()))
            } else {
                let (m, s, f) = (
                    from_bcd(e[5]).unwrap_or(e[5]),
                    from_bcd(e[6]).unwrap_or(e[6]),
                    from_bcd(e[7]).unwrap_or(e[7]),
                );
                msf_to_frames(m.into(), s.into(), f.into()) - 150
            };
            Ok(CueEntry {
                control: e[0] >> 4,
                track,
                index,
                lba,
            })
        })
        .collect()
}

/// Opens an NRG image from its file.
pub fn open(file: DataFile) -> Result<Disc> {
    let src = file.source.clone();
    let (start, version) = footer(src.as_ref())
        .ok_or_else(|| Error::corrupt(FORMAT, "footer", src.size(), "no NER5 or NERO footer"))?;
    let v2 = version == 2;
    let end = src.size() - if v2 { 12 } else { 8 };
    let list = chunks(src.as_ref(), start, end)?;
    let mut disc = Disc::new(FORMAT);
    disc.files.push(file);
    let (mut cues, mut daos, mut etns) = (Vec::new(), Vec::new(), Vec::new());
    let mut track_texts = Vec::new();
    for c in &list {
        match &c.id {
            b"CUEX" | b"CUES" => cues.push(c),
            b"DAOX" | b"DAOI" => daos.push(c),
            b"ETN2" | b"ETNF" => etns.push(c),
            b"CDTX" => {
                let (album, tracks) = cdtext::decode(&c.body);
                disc.cd_text = album;
                track_texts = tracks;
            }
            _ => {}
        }
    }
    if !cues.is_empty() {
        if cues.len() != daos.len() {
            return Err(Error::corrupt(
                FORMAT,
                "chunk list",
                start,
                format!("{} CUEX chunks but {} DAOX chunks", cues.len(), daos.len()),
            ));
        }
        for (s, (cue, dao)) in cues.iter().zip(&daos).enumerate() {
            load_dao_session(
                &mut disc,
                u8::try_from(s + 1).unwrap_or(u8::MAX),
                cue,
                dao,
                v2,
            )?;
        }
    } else if !etns.is_empty() {
        for (s, etn) in etns.iter().enumerate() {
            load_tao_session(&mut disc, u8::try_from(s + 1).unwrap_or(u8::MAX), etn, v2)?;
        }
    } else {
        return Err(Error::corrupt(
            FORMAT,
            "chunk list",
            start,
            "neither CUEX/DAOX nor ETN2 chunks",
        ));
    }
    cdtext::attach(&mut disc, track_texts);
    super::cue::set_session_kinds(&mut disc);
    disc.validate()?;
    Ok(disc)
}

fn load_dao_session(
    disc: &mut Disc,
    session: u8,
    cue: &Chunk,
    dao: &Chunk,
    v2: bool,
) -> Result<()> {
    let entries = cue_entries(cue, cue.id == *b"CUEX")?;
    let block = if dao.id == *b"DAOX" { 42 } else { 30 };
    let body = &dao.body;
    if body.len() < 22 || (body.len() - 22) % block != 0 {
        return Err(Error::corrupt(
            FORMAT,
            "DAOX chunk",
            dao.offset,
            format!("length {} does not hold whole track blocks", body.len()),
        ));
    }
    if session == 1 {
        disc.catalog = text(&body[4..17]).filter(|c| c.len() == 13);
    }
    disc.sessions.push(Session {
        number: session,
        kind: SessionKind::CdRom,
    });
    let leadout = entries.iter().find(|e| e.track == 0xaa).map(|e| e.lba);
    let numbered: Vec<u8> = {
        let mut v: Vec<u8> = entries
            .iter()
            .filter(|e| (1..=99).contains(&e.track))
            .map(|e| e.track)
            .collect();
        v.dedup();
        v
    };
    let blocks: Vec<&[u8]> = body[22..].chunks_exact(block).collect();
    if blocks.len() != numbered.len() {
        return Err(Error::corrupt(
            FORMAT,
            "DAOX chunk",
            dao.offset,
            format!(
                "{} track blocks for {} tracks in CUEX",
                blocks.len(),
                numbered.len()
            ),
        ));
    }
    for (i, (&n, b)) in numbered.iter().zip(&blocks).enumerate() {
        let of = |idx: u8| entries.iter().find(|e| e.track == n && e.index == idx);
        let start = of(1).ok_or_else(|| {
            Error::corrupt(
                FORMAT,
                "CUEX chunk",
                cue.offset,
                format!("track {n} has no index 1"),
            )
        })?;
        let first = of(0).map_or(start.lba, |e| e.lba);
        let end = match numbered.get(i + 1) {
            Some(&next) => entries.iter().find(|e| e.track == next).map(|e| e.lba),
            None => leadout,
        }
        .ok_or_else(|| {
            Error::corrupt(
                FORMAT,
                "CUEX chunk",
                cue.offset,
                format!("no end for track {n}"),
            )
        })?;
        let code = b[14];
        let (mode, stored, sub) = mode_of(code).ok_or_else(|| {
            Error::unsupported(FORMAT, format!("track {n} mode code {code:#04x}"))
        })?;
        let size = u64::from(u16::from_be_bytes([b[12], b[13]]));
        let stride = u64::from(stored.size()) + if sub == Sub::Interleaved { 96 } else { 0 };
        if size != stride {
            disc.warnings.push(format!(
                "track {n}: sector size {size} for mode code {code:#04x}; {stride} used"
            ));
        }
        let (pregap_off, _start_off, end_off) = if v2 {
            (be64(b, 18), be64(b, 26), be64(b, 34))
        } else {
            (
                u64::from(be32(b, 18)),
                u64::from(be32(b, 22)),
                u64::from(be32(b, 26)),
            )
        };
        let stored_n = end_off.checked_sub(pregap_off).ok_or_else(|| {
            Error::corrupt(
                FORMAT,
                "DAOX chunk",
                dao.offset,
                format!("track {n} ends before it starts"),
            )
        })? / stride;
        let total = end - first;
        if total <= 0 || stored_n as i64 > total {
            return Err(Error::corrupt(
                FORMAT,
                "DAOX chunk",
                dao.offset,
                format!("track {n}: {stored_n} sectors stored for {total} on the disc"),
            ));
        }
        let mut runs = Vec::new();
        let gap = total - stored_n as i64;
        if gap > 0 {
            runs.push(Run {
                lba: first,
                count: gap as u64,
                source: Source::Zero,
                sub: Sub::None,
            });
        }
        if stored_n > 0 {
            runs.push(Run {
                lba: first + gap,
                count: stored_n,
                source: Source::File {
                    file: 0,
                    offset: pregap_off,
                    stored,
                    swap: false,
                },
                sub,
            });
        }
        let indexes = entries
            .iter()
            .filter(|e| e.track == n && e.index >= 2)
            .map(|e| e.lba)
            .collect();
        disc.tracks.push(Track {
            number: n,
            session,
            mode,
            first,
            start: start.lba,
            end,
            postgap: 0,
            indexes,
            flags: TrackFlags::from_control(start.control),
            isrc: text(&b[..12]),
            cd_text: Default::default(),
            runs,
        });
    }
    Ok(())
}

fn load_tao_session(disc: &mut Disc, session: u8, etn: &Chunk, v2: bool) -> Result<()> {
    let size = if v2 { 32 } else { 20 };
    if etn.body.len() % size != 0 {
        return Err(Error::corrupt(
            FORMAT,
            "ETN2 chunk",
            etn.offset,
            "length does not hold whole entries",
        ));
    }
    disc.sessions.push(Session {
        number: session,
        kind: SessionKind::CdRom,
    });
    for e in etn.body.chunks_exact(size) {
        if disc.tracks.len() >= super::disc::MAX_TRACKS {
            return Err(Error::limit(
                FORMAT,
                "ETN2 chunk",
                etn.offset,
                "more than 99 tracks",
            ));
        }
        let (offset, len, code, lba) = if v2 {
            (be64(e, 0), be64(e, 8), e[19], be32(e, 20))
        } else {
            (
                u64::from(be32(e, 0)),
                u64::from(be32(e, 4)),
                e[11],
                be32(e, 12),
            )
        };
        let n = u8::try_from(disc.tracks.len() + 1).unwrap_or(u8::MAX);
        let (mode, stored, sub) = mode_of(code).ok_or_else(|| {
            Error::unsupported(FORMAT, format!("track {n} mode code {code:#04x}"))
        })?;
        let stride = u64::from(stored.size()) + if sub == Sub::Interleaved { 96 } else { 0 };
        let count = len / stride;
        // The LBA recorded counts no pregaps; every track after the first has one of 150
        // sectors on the disc (the ISO 9660 of a Video CD points past them).
        let pregap = if disc.tracks.is_empty() { 0 } else { 150 };
        let lba = i64::from(lba) + 150 * disc.tracks.len() as i64;
        if count == 0 {
            return Err(Error::corrupt(
                FORMAT,
                "ETN2 chunk",
                etn.offset,
                format!("track {n} has no whole sector"),
            ));
        }
        let mut runs = Vec::new();
        if pregap > 0 {
            runs.push(Run {
                lba: lba - pregap,
                count: pregap as u64,
                source: Source::Zero,
                sub: Sub::None,
            });
        }
        runs.push(Run {
            lba,
            count,
            source: Source::File {
                file: 0,
                offset,
                stored,
                swap: false,
            },
            sub,
        });
        disc.tracks.push(Track {
            number: n,
            session,
            mode,
            first: lba - pregap,
            start: lba,
            end: lba + count as i64,
            postgap: 0,
            indexes: Vec::new(),
            flags: TrackFlags::default(),
            isrc: None,
            cd_text: Default::default(),
            runs,
        });
    }
    Ok(())
}

/// What an NRG writer stored for one track: the byte range of its pregap, index 1 and end, its
/// mode code and sector size.
#[derive(Debug, Clone, Copy)]
pub struct NrgTrack {
    /// Track number.
    pub number: u8,
    /// First sector stored (the pregap's first, negative for the first track).
    pub first: i64,
    /// Mode code.
    pub code: u8,
    /// Bytes per sector.
    pub sector_size: u16,
    /// Byte offset of the first stored sector.
    pub pregap_offset: u64,
    /// Byte offset of index 1.
    pub start_offset: u64,
    /// Byte offset after the last sector.
    pub end_offset: u64,
}

fn chunk(out: &mut Vec<u8>, id: &[u8; 4], body: &[u8]) {
    out.extend_from_slice(id);
    out.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(body);
}

/// The chunks and footer of a version 2 disc-at-once image whose data (written from byte 0)
/// is laid out as `tracks` say; `data_end` is where the chunks begin.
pub fn write_footer(disc: &Disc, tracks: &[NrgTrack], data_end: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for s in &disc.sessions {
        let in_session: Vec<(&Track, &NrgTrack)> = tracks
            .iter()
            .filter_map(|w| disc.track(w.number).map(|t| (t, w)))
            .filter(|(t, _)| t.session == s.number)
            .collect();
        let Some(&(first_t, first_w)) = in_session.first() else {
            continue;
        };
        let mut cuex = Vec::new();
        let entry = |v: &mut Vec<u8>, control: u8, track: u8, index: u8, lba: i64| {
            v.extend_from_slice(&[(control << 4) | 1, track, index, 0]);
            v.extend_from_slice(&(lba as i32).to_be_bytes());
        };
        entry(
            &mut cuex,
            first_t.flags.control(first_t.mode),
            0,
            0,
            first_w.first.min(first_t.first),
        );
        for (t, w) in &in_session {
            let c = t.flags.control(t.mode);
            entry(&mut cuex, c, bcd(t.number), 0, w.first.min(t.first));
            entry(&mut cuex, c, bcd(t.number), 1, t.start);
            for (i, &at) in t.indexes.iter().enumerate() {
                entry(
                    &mut cuex,
                    c,
                    bcd(t.number),
                    bcd(u8::try_from(i + 2).unwrap_or(99)),
                    at,
                );
            }
        }
        let last = in_session.last().map(|(t, _)| *t).unwrap_or(first_t);
        entry(&mut cuex, last.flags.control(last.mode), 0xaa, 1, last.end);
        chunk(&mut out, b"CUEX", &cuex);
        let mut daox = vec![0u8; 22];
        let len = 22 + 42 * in_session.len();
        daox[..4].copy_from_slice(&u32::try_from(len).unwrap_or(0).to_be_bytes());
        if let Some(c) = disc.catalog.as_deref().filter(|c| c.len() == 13) {
            daox[4..17].copy_from_slice(c.as_bytes());
        }
        daox[19] = 1;
        daox[20] = first_t.number;
        daox[21] = last.number;
        for (t, w) in &in_session {
            let mut b = [0u8; 42];
            if let Some(isrc) = t.isrc.as_deref().filter(|i| i.len() == 12) {
                b[..12].copy_from_slice(isrc.as_bytes());
            }
            b[12..14].copy_from_slice(&w.sector_size.to_be_bytes());
            b[14] = w.code;
            b[17] = 1;
            b[18..26].copy_from_slice(&w.pregap_offset.to_be_bytes());
            b[26..34].copy_from_slice(&w.start_offset.to_be_bytes());
            b[34..42].copy_from_slice(&w.end_offset.to_be_bytes());
            daox.extend_from_slice(&b);
        }
        chunk(&mut out, b"DAOX", &daox);
        chunk(
            &mut out,
            b"SINF",
            &u32::try_from(in_session.len()).unwrap_or(0).to_be_bytes(),
        );
    }
    let packs = cdtext::encode(disc);
    if !packs.is_empty() {
        chunk(&mut out, b"CDTX", &packs);
    }
    chunk(&mut out, b"MTYP", &1u32.to_be_bytes());
    chunk(&mut out, b"END!", &[]);
    out.extend_from_slice(b"NER5");
    out.extend_from_slice(&data_end.to_be_bytes());
    out
}

/// Opens an NRG image held in memory or elsewhere (fuzzing).
pub fn open_source(src: Arc<dyn ReadAt>) -> Result<Disc> {
    open(DataFile {
        path: PathBuf::from("image.nrg"),
        source: src,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::MemorySource;

    #[test]
    fn footers_are_found_and_checked() {
        let mut img = vec![0u8; 100];
        img.extend_from_slice(b"END!\0\0\0\0NER5");
        img.extend_from_slice(&100u64.to_be_bytes());
        assert_eq!(footer(&MemorySource::new(img.clone())), Some((100, 2)));
        let e = open_source(Arc::new(MemorySource::new(img))).unwrap_err();
        assert!(e.to_string().contains("neither CUEX"), "{e}");
        let mut bad = vec![0u8; 10];
        bad.extend_from_slice(b"NER5");
        bad.extend_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(footer(&MemorySource::new(bad)), None);
    }

    #[test]
    fn absurd_track_at_once_tables_are_refused() {
        // An ETN2 chunk of 200 entries (a 20-sector mode 1 track each) over enough data.
        let mut img = vec![0u8; 200 * 20 * 2048];
        let start = img.len() as u64;
        let mut etn = Vec::new();
        for i in 0..200u64 {
            etn.extend_from_slice(&(i * 20 * 2048).to_be_bytes());
            etn.extend_from_slice(&(20u64 * 2048).to_be_bytes());
            etn.extend_from_slice(&[0, 0, 0, 0]);
            etn.extend_from_slice(&((i * 20) as u32).to_be_bytes());
            etn.extend_from_slice(&[0; 8]);
        }
        chunk(&mut img, b"ETN2", &etn);
        chunk(&mut img, b"END!", &[]);
        img.extend_from_slice(b"NER5");
        img.extend_from_slice(&start.to_be_bytes());
        let e = open_source(Arc::new(MemorySource::new(img))).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::LimitExceeded, "{e}");
    }
}
