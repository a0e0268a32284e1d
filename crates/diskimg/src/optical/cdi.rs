//! DiscJuggler images (`.cdi`), versions 2, 3 and 3.5/4: read only.
//!
//! Layout as DeXT's "DiscJuggler v4.0 header" notes and libmirage's `image-cdi` describe it
//! (little-endian): the last 8 bytes are the version (0x80000004 v2, 0x80000005 v3,
//! 0x80000006 v3.5 and v4) and the descriptor's position (v3.5+: its length from the end;
//! earlier: its absolute offset). The descriptor holds the session count, then per session a
//! track count and per track: an optional 8-byte prefix (3.00.780), the 20-byte track start
//! mark, a file name, a 4.x flag and medium type, index lengths (pregap, track), CD-TEXT
//! fields, the track mode (0 audio, 1 mode 1, 2 mode 2), the start LBA of index 1, the total
//! length, the read mode (sector size 2048, 2336, 2352, 2368 = 2352 + 16 bytes of Q, 2448 =
//! 2352 + 96 bytes of interleaved P-W), CONTROL and ISRC; v3+ add 9 bytes (and 78 more in
//! 3.00.780). Each session ends with 12 bytes (13 in v3+). Track data lies in the file from
//! byte 0, pregap included, track after track.
//! Not read: per-track CD-TEXT (its field order is not documented), the disc block after the
//! sessions (volume name, catalog). No tool writes CDI here: the reader is tested on images
//! built from this description in tests.

use super::disc::{
    DataFile, Disc, Run, Session, SessionKind, Source, Stored, Sub, Track, TrackFlags, TrackMode,
};
use crate::error::{Error, Result};
use crate::io::{ReadAt, read_vec};

/// Format name.
pub const FORMAT: &str = "cdi";
/// Version 2.
pub const V2: u32 = 0x8000_0004;
/// Version 3.
pub const V3: u32 = 0x8000_0005;
/// Versions 3.5 and 4.
pub const V35: u32 = 0x8000_0006;
/// Largest descriptor read.
pub const MAX_DESCRIPTOR: u64 = 1 << 20;
/// Most index entries per track.
pub const MAX_INDEXES: usize = 100;
/// Most CD-TEXT blocks per track.
pub const MAX_CDTEXT_BLOCKS: u32 = 64;

/// The mark before every track's fields.
pub const TRACK_MARK: [u8; 20] = [
    0, 0, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,
];

/// Version and descriptor offset from the footer.
pub fn footer(src: &dyn ReadAt) -> Option<(u32, u64)> {
    let size = src.size();
    if size < 8 {
        return None;
    }
    let mut f = [0u8; 8];
    src.read_exact_at(size - 8, &mut f).ok()?;
    let version = u32::from_le_bytes([f[0], f[1], f[2], f[3]]);
    let pos = u64::from(u32::from_le_bytes([f[4], f[5], f[6], f[7]]));
    if pos == 0 || !matches!(version, V2 | V3 | V35) {
        return None;
    }
    let start = if version == V35 {
        size.checked_sub(pos)?
    } else {
        pos
    };
    (start < size - 8).then_some((version, start))
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
    base: u64,
}

impl Cursor<'_> {
    fn err(&self, msg: impl Into<String>) -> Error {
        Error::corrupt(FORMAT, "descriptor", self.base + self.at as u64, msg)
    }
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let s = self
            .b
            .get(self.at..self.at + n)
            .ok_or_else(|| self.err("descriptor ends early"))?;
        self.at += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        let s = self.take(2)?;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn skip(&mut self, n: usize) -> Result<()> {
        self.take(n).map(|_| ())
    }
}

/// Opens a DiscJuggler image.
pub fn open(file: DataFile) -> Result<Disc> {
    let src = file.source.clone();
    let (version, start) = footer(src.as_ref()).ok_or_else(|| {
        Error::corrupt(
            FORMAT,
            "footer",
            src.size(),
            "no DiscJuggler version and descriptor offset",
        )
    })?;
    let bytes = read_vec(src.as_ref(), start, src.size() - start, MAX_DESCRIPTOR)
        .map_err(|e| e.with_format(FORMAT))?;
    let mut c = Cursor {
        b: &bytes,
        at: 0,
        base: start,
    };
    let mut disc = Disc::new(FORMAT);
    disc.files.push(file);
    let sessions = c.u16()?;
    if sessions == 0 || usize::from(sessions) > super::disc::MAX_SESSIONS {
        return Err(c.err(format!("{sessions} sessions")));
    }
    let mut posn = 0u64;
    for s in 1..=sessions {
        let tracks = c.u16()?;
        if disc.tracks.len() + usize::from(tracks) > super::disc::MAX_TRACKS {
            return Err(Error::limit(
                FORMAT,
                "descriptor",
                start,
                "more than 99 tracks",
            ));
        }
        let session = u8::try_from(s).unwrap_or(u8::MAX);
        disc.sessions.push(Session {
            number: session,
            kind: SessionKind::CdRom,
        });
        for _ in 0..tracks {
            let t = read_track(
                &mut c,
                version,
                session,
                u8::try_from(disc.tracks.len() + 1).unwrap_or(u8::MAX),
                &mut posn,
            )?;
            disc.tracks.push(t);
        }
        c.skip(if version == V2 { 12 } else { 13 })?;
    }
    super::cue::set_session_kinds(&mut disc);
    disc.validate()?;
    Ok(disc)
}

fn read_track(
    c: &mut Cursor<'_>,
    version: u32,
    session: u8,
    number: u8,
    posn: &mut u64,
) -> Result<Track> {
    if c.u32()? != 0 {
        c.skip(8)?; // DiscJuggler 3.00.780's extra data
    }
    if c.take(20)? != TRACK_MARK {
        return Err(c.err(format!("track {number}: no track start mark")));
    }
    c.skip(4)?;
    let name_len = usize::from(c.u8()?);
    c.skip(name_len)?;
    c.skip(19)?;
    if c.u32()? == 0x8000_0000 {
        c.skip(8)?; // 4.x: maximum length and medium type follow the flag
    }
    let nidx = usize::from(c.u16()?);
    if !(2..=MAX_INDEXES).contains(&nidx) {
        return Err(c.err(format!("track {number}: {nidx} index entries")));
    }
    let mut idx = Vec::with_capacity(nidx);
    for _ in 0..nidx {
        idx.push(u64::from(c.u32()?));
    }
    let blocks = c.u32()?;
    if blocks > MAX_CDTEXT_BLOCKS {
        return Err(c.err(format!("track {number}: {blocks} CD-TEXT blocks")));
    }
    for _ in 0..blocks {
        for _ in 0..18 {
            let n = usize::from(c.u8()?);
            c.skip(n)?;
        }
    }
    c.skip(2)?;
    let mode = c.u32()?;
    c.skip(4)?;
    c.skip(8)?; // session and track numbers within the image
    let start = i64::from(c.u32()?);
    let total = u64::from(c.u32()?);
    c.skip(16)?;
    let read_mode = c.u32()?;
    let control = c.u32()?;
    c.skip(1)?;
    c.skip(4)?; // total length again
    c.skip(4)?;
    let isrc = c.take(12)?.to_vec();
    let isrc_valid = c.u32()? != 0;
    if version != V2 {
        c.skip(5)?;
        if c.u32()? == 0xffff_ffff {
            c.skip(78)?;
        }
    }
    let (mode, stored, sub) = match (mode, read_mode) {
        (0, 2) => (TrackMode::Audio, Stored::Raw, Sub::None),
        (0, 3) => (TrackMode::Audio, Stored::Raw, Sub::Q16),
        (0, 4) => (TrackMode::Audio, Stored::Raw, Sub::Interleaved),
        (1, 0) => (TrackMode::Mode1, Stored::Mode1Data, Sub::None),
        (1, 2) => (TrackMode::Mode1, Stored::Raw, Sub::None),
        (1, 3) => (TrackMode::Mode1, Stored::Raw, Sub::Q16),
        (1, 4) => (TrackMode::Mode1, Stored::Raw, Sub::Interleaved),
        (2, 0) => (TrackMode::Mode2Form1, Stored::Form1Data, Sub::None),
        (2, 1) => (TrackMode::Mode2Mixed, Stored::Mode2Data, Sub::None),
        (2, 2) => (TrackMode::Mode2Mixed, Stored::Raw, Sub::None),
        (2, 3) => (TrackMode::Mode2Mixed, Stored::Raw, Sub::Q16),
        (2, 4) => (TrackMode::Mode2Mixed, Stored::Raw, Sub::Interleaved),
        _ => {
            return Err(Error::unsupported(
                FORMAT,
                format!("track {number}: mode {mode} with read mode {read_mode}"),
            ));
        }
    };
    let stride = u64::from(stored.size())
        + match sub {
            Sub::Interleaved => 96,
            Sub::Q16 => 16,
            _ => 0,
        };
    let pregap = idx[0];
    if total == 0 || pregap >= total {
        return Err(c.err(format!(
            "track {number}: pregap {pregap} of a {total}-sector track"
        )));
    }
    let mut indexes = Vec::new();
    let mut at = start;
    for len in &idx[1..idx.len() - 1] {
        at += *len as i64;
        indexes.push(at);
    }
    let first = start - pregap as i64;
    let run = Run {
        lba: first,
        count: total,
        source: Source::File {
            file: 0,
            offset: *posn,
            stored,
            swap: false,
        },
        sub,
    };
    *posn = posn.saturating_add(total.saturating_mul(stride));
    let isrc = (isrc_valid && isrc.iter().all(u8::is_ascii_alphanumeric))
        .then(|| String::from_utf8_lossy(&isrc).into_owned());
    Ok(Track {
        number,
        session,
        mode,
        first,
        start,
        end: first + total as i64,
        postgap: 0,
        indexes,
        flags: TrackFlags::from_control((control & 0xf) as u8),
        isrc,
        cd_text: Default::default(),
        runs: vec![run],
    })
}

#[cfg(test)]
pub(crate) mod build {
    //! CDI images built from the layout in the module doc, for tests and fuzz seeds.
    use super::*;

    /// One track: mode (0/1/2), read mode, pregap, length, start LBA.
    pub struct Spec {
        pub mode: u32,
        pub read_mode: u32,
        pub pregap: u32,
        pub length: u32,
        pub start: u32,
    }

    fn size_of(read_mode: u32) -> u32 {
        [2048, 2336, 2352, 2368, 2448][read_mode as usize]
    }

    /// A CDI of `version` with `sessions` of tracks; track data is `fill` bytes.
    pub fn image(version: u32, sessions: &[Vec<Spec>], fill: u8) -> Vec<u8> {
        let mut data = Vec::new();
        let mut d = Vec::new();
        d.extend_from_slice(&(sessions.len() as u16).to_le_bytes());
        for (si, tracks) in sessions.iter().enumerate() {
            d.extend_from_slice(&(tracks.len() as u16).to_le_bytes());
            for (ti, t) in tracks.iter().enumerate() {
                let total = t.pregap + t.length;
                data.extend(std::iter::repeat_n(
                    fill,
                    (total * size_of(t.read_mode)) as usize,
                ));
                d.extend_from_slice(&0u32.to_le_bytes());
                d.extend_from_slice(&TRACK_MARK);
                d.extend_from_slice(&[0; 4]);
                d.push(5);
                d.extend_from_slice(b"a.iso");
                d.extend_from_slice(&[0; 11]);
                d.extend_from_slice(&2u32.to_le_bytes());
                d.extend_from_slice(&[0; 4]);
                if version == V35 {
                    d.extend_from_slice(&0x8000_0000u32.to_le_bytes());
                    d.extend_from_slice(&360_000u32.to_le_bytes());
                    d.extend_from_slice(&0x0098_0000u32.to_le_bytes());
                } else {
                    d.extend_from_slice(&360_000u32.to_le_bytes());
                }
                d.extend_from_slice(&2u16.to_le_bytes());
                d.extend_from_slice(&t.pregap.to_le_bytes());
                d.extend_from_slice(&t.length.to_le_bytes());
                d.extend_from_slice(&[0; 6]);
                d.extend_from_slice(&t.mode.to_le_bytes());
                d.extend_from_slice(&[0; 4]);
                d.extend_from_slice(&(si as u32).to_le_bytes());
                d.extend_from_slice(&(ti as u32).to_le_bytes());
                d.extend_from_slice(&t.start.to_le_bytes());
                d.extend_from_slice(&total.to_le_bytes());
                d.extend_from_slice(&[0; 16]);
                d.extend_from_slice(&t.read_mode.to_le_bytes());
                d.extend_from_slice(&(if t.mode == 0 { 0u32 } else { 4 }).to_le_bytes());
                d.push(0);
                d.extend_from_slice(&total.to_le_bytes());
                d.extend_from_slice(&[0; 4]);
                d.extend_from_slice(b"USXXX2300001");
                d.extend_from_slice(&1u32.to_le_bytes());
                if version != V2 {
                    d.extend_from_slice(&[0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
                    d.extend_from_slice(&[0; 78]);
                }
            }
            d.extend_from_slice(&[0; 12]);
            if version != V2 {
                d.push(0);
            }
        }
        d.extend_from_slice(&[0; 30]); // the disc block, not read
        let start = data.len();
        data.extend_from_slice(&d);
        data.extend_from_slice(&version.to_le_bytes());
        let pos = if version == V35 {
            (d.len() + 8) as u32
        } else {
            start as u32
        };
        data.extend_from_slice(&pos.to_le_bytes());
        data
    }
}

#[cfg(test)]
mod tests {
    use super::build::{Spec, image};
    use super::*;
    use crate::io::MemorySource;
    use std::sync::Arc;

    fn disc(bytes: Vec<u8>) -> Result<Disc> {
        open(DataFile {
            path: "t.cdi".into(),
            source: Arc::new(MemorySource::new(bytes)),
        })
    }

    #[test]
    fn reads_every_version() {
        for v in [V2, V3, V35] {
            let img = image(
                v,
                &[
                    vec![Spec {
                        mode: 0,
                        read_mode: 2,
                        pregap: 150,
                        length: 300,
                        start: 0,
                    }],
                    vec![Spec {
                        mode: 1,
                        read_mode: 0,
                        pregap: 150,
                        length: 100,
                        start: 11700,
                    }],
                ],
                0,
            );
            let d = disc(img).unwrap_or_else(|e| panic!("{v:#x}: {e}"));
            assert_eq!(d.sessions.len(), 2);
            let (t1, t2) = (&d.tracks[0], &d.tracks[1]);
            assert_eq!(
                (t1.first, t1.start, t1.end, t1.mode),
                (-150, 0, 300, TrackMode::Audio)
            );
            assert_eq!(
                (t2.first, t2.start, t2.end, t2.mode),
                (11550, 11700, 11800, TrackMode::Mode1)
            );
            assert_eq!(t2.isrc.as_deref(), Some("USXXX2300001"));
            let Source::File { offset, .. } = t2.runs[0].source else {
                panic!()
            };
            assert_eq!(offset, 450 * 2352);
        }
    }

    #[test]
    fn damaged_images_are_errors() {
        let ok = image(
            V35,
            &[vec![Spec {
                mode: 1,
                read_mode: 2,
                pregap: 150,
                length: 10,
                start: 0,
            }]],
            0,
        );
        assert!(disc(ok.clone()).is_ok());
        // The footer's descriptor length made larger than the file.
        let mut bad = ok.clone();
        let n = bad.len();
        bad[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(disc(bad).is_err());
        // Cut inside the descriptor (the footer moved up with it).
        let mut cut = ok[..ok.len() - 60].to_vec();
        cut.extend_from_slice(&ok[ok.len() - 8..]);
        assert!(disc(cut).is_err());
        // The track start mark damaged.
        let mut mark = ok.clone();
        let at = mark.windows(20).position(|w| w == TRACK_MARK).unwrap();
        mark[at + 2] = 9;
        assert!(disc(mark).unwrap_err().to_string().contains("start mark"));
        // A data file shorter than the tracks.
        let short = image(
            V2,
            &[vec![Spec {
                mode: 1,
                read_mode: 2,
                pregap: 150,
                length: 10,
                start: 0,
            }]],
            0,
        );
        let desc_len = short.len() - 160 * 2352;
        let mut s = short[..10 * 2352].to_vec();
        s.extend_from_slice(&short[short.len() - desc_len..]);
        let n = s.len();
        let start = (n - desc_len) as u32;
        s[n - 4..].copy_from_slice(&start.to_le_bytes());
        assert!(disc(s).is_err());
    }
}
