//! CD-TEXT packs (MMC, "CD-TEXT" annex; Red Book lead-in R-W data): 18-byte packs of a pack
//! type, track number, sequence number, character position, 12 text bytes and a CRC-16.
//!
//! Decoded: block 0's TITLE, PERFORMER, SONGWRITER, COMPOSER, ARRANGER, MESSAGE, DISC_ID and
//! UPC/ISRC, in ISO 8859-1; a TAB string repeats the previous one. Encoded: the same items
//! of the disc and its tracks as block 0 (ISO 8859-1, English) with the size-information packs.
//! Not supported: blocks 1-7 (other languages) and double-byte text, which are skipped.

use super::disc::{CdText, Disc};
use super::subchannel::q_crc;

const TYPES: [(u8, &str); 8] = [
    (0x80, "TITLE"),
    (0x81, "PERFORMER"),
    (0x82, "SONGWRITER"),
    (0x83, "COMPOSER"),
    (0x84, "ARRANGER"),
    (0x85, "MESSAGE"),
    (0x86, "DISC_ID"),
    (0x8e, "UPC_EAN"),
];

/// Album text and `(track, text)` of each track from packs (a 4-byte header is skipped).
pub fn decode(data: &[u8]) -> (CdText, Vec<(u8, CdText)>) {
    let data = if data.len() % 18 == 4 {
        &data[4..]
    } else {
        data
    };
    let mut album = CdText::default();
    let mut tracks: Vec<(u8, CdText)> = Vec::new();
    for (ty, key) in TYPES {
        let packs: Vec<&[u8]> = data
            .chunks_exact(18)
            .filter(|p| p[0] == ty && p[3] & 0x70 == 0 && p[3] & 0x80 == 0)
            .collect();
        let Some(first) = packs.first() else { continue };
        let mut text = Vec::new();
        for p in &packs {
            text.extend_from_slice(&p[4..16]);
        }
        let mut prev = String::new();
        for (track, piece) in (first[1] & 0x7f..=u8::MAX).zip(text.split(|&b| b == 0)) {
            if track > 99 {
                break;
            }
            let mut s: String = piece.iter().map(|&b| char::from(b)).collect();
            if s == "\t" {
                s = prev.clone();
            }
            if !s.is_empty() {
                let target = if track == 0 {
                    &mut album
                } else {
                    if !tracks.iter().any(|(n, _)| *n == track) {
                        tracks.push((track, CdText::default()));
                    }
                    &mut tracks
                        .iter_mut()
                        .find(|(n, _)| *n == track)
                        .map(|x| &mut x.1)
                        .expect("just added")
                };
                if let Some(f) = target.field_mut(key) {
                    f.get_or_insert(s.clone());
                }
            }
            prev = s;
        }
    }
    (album, tracks)
}

/// Gives each track of `disc` its decoded text.
pub fn attach(disc: &mut Disc, texts: Vec<(u8, CdText)>) {
    for (n, t) in texts {
        if let Some(track) = disc.tracks.iter_mut().find(|x| x.number == n) {
            track.cd_text = t;
        }
    }
}

/// Block 0 packs for the disc's CD-TEXT, or nothing when it has none.
pub fn encode(disc: &Disc) -> Vec<u8> {
    if disc.cd_text.is_empty() && disc.tracks.iter().all(|t| t.cd_text.is_empty()) {
        return Vec::new();
    }
    let first = disc.tracks.first().map_or(1, |t| t.number);
    let last = disc.tracks.last().map_or(1, |t| t.number);
    let mut packs: Vec<[u8; 18]> = Vec::new();
    let mut counts = [0u8; 16];
    for (ty, key) in TYPES {
        let get = |t: &CdText| {
            t.fields()
                .find(|(k, _)| *k == key)
                .and_then(|(_, v)| v.cloned())
        };
        let mut strings = vec![(0u8, get(&disc.cd_text).unwrap_or_default())];
        if ty != 0x86 {
            for t in &disc.tracks {
                let v = if ty == 0x8e {
                    t.isrc.clone().or_else(|| get(&t.cd_text))
                } else {
                    get(&t.cd_text)
                };
                strings.push((t.number, v.unwrap_or_default()));
            }
        }
        if strings.iter().all(|(_, s)| s.is_empty()) {
            continue;
        }
        // The text stream, and for each byte the track and position within its string.
        let mut stream: Vec<(u8, u8, u8)> = Vec::new();
        for (n, s) in &strings {
            for (i, c) in s
                .chars()
                .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
                .chain([0])
                .enumerate()
            {
                stream.push((c, *n, i.min(15) as u8));
            }
        }
        for chunk in stream.chunks(12) {
            let mut p = [0u8; 18];
            p[0] = ty;
            p[1] = chunk[0].1;
            p[3] = chunk[0].2;
            for (i, &(c, _, _)) in chunk.iter().enumerate() {
                p[4 + i] = c;
            }
            packs.push(p);
            counts[usize::from(ty - 0x80)] += 1;
        }
    }
    counts[15] = 3;
    let mut size_info = [0u8; 36];
    size_info[1] = first;
    size_info[2] = last;
    size_info[4..20].copy_from_slice(&counts);
    let total = packs.len() + 3;
    size_info[20] = u8::try_from(total - 1).unwrap_or(255);
    size_info[28] = 0x09; // English
    for i in 0..3 {
        let mut p = [0u8; 18];
        p[0] = 0x8f;
        p[1] = i as u8;
        p[4..16].copy_from_slice(&size_info[i * 12..i * 12 + 12]);
        packs.push(p);
    }
    let mut out = Vec::with_capacity(packs.len() * 18);
    for (seq, mut p) in packs.into_iter().enumerate() {
        p[2] = u8::try_from(seq).unwrap_or(255);
        let crc = q_crc(&p[..16]);
        p[16..].copy_from_slice(&crc.to_be_bytes());
        out.extend_from_slice(&p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optical::disc::{Disc, TrackMode};

    #[test]
    fn round_trips_block_0() {
        let mut disc = crate::optical::disc::tests_support::one_track(TrackMode::Audio);
        disc.cd_text.title = Some("Join us now we have the software".into());
        disc.cd_text.performer = Some("Richard Stallman".into());
        disc.tracks[0].cd_text.title = Some("Soft".into());
        let packs = encode(&disc);
        assert_eq!(packs.len() % 18, 0);
        for p in packs.chunks_exact(18) {
            assert_eq!(q_crc(&p[..16]).to_be_bytes(), [p[16], p[17]]);
        }
        let (album, tracks) = decode(&packs);
        assert_eq!(album, disc.cd_text);
        assert_eq!(tracks, vec![(1, disc.tracks[0].cd_text.clone())]);
        let _: &Disc = &disc;
    }
}
