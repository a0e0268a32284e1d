//! Audio tracks as WAV: reading WAVE data files, and presenting a track as a WAV byte stream
//! (a 44-byte RIFF header, then the track's 16-bit little-endian stereo PCM) for extraction
//! and for FUSE, which serves it with positioned reads without copying the track anywhere.

use super::disc::{DataFile, Disc, TrackMode};
use super::sector::RAW;
use crate::error::{Error, Result};
use crate::io::{ReadAt, clamp_len};
use std::sync::Arc;

/// Bytes of the WAV header written before the samples.
pub const WAV_HEADER: u64 = 44;

/// Where a WAVE file's samples are: offset and length of its `data` chunk.
pub fn wave_data(file: &DataFile) -> Result<(u64, u64)> {
    let src = &file.source;
    let bad = |msg: &str| {
        Error::corrupt(
            "wave",
            "RIFF header",
            0,
            format!("{}: {msg}", file.path.display()),
        )
    };
    let mut head = [0u8; 12];
    src.read_exact_at(0, &mut head)
        .map_err(|_| bad("too short"))?;
    if &head[..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        return Err(bad("not a RIFF WAVE file"));
    }
    let mut at = 12u64;
    for _ in 0..64 {
        let mut ch = [0u8; 8];
        src.read_exact_at(at, &mut ch)
            .map_err(|_| bad("no data chunk"))?;
        let len = u64::from(u32::from_le_bytes([ch[4], ch[5], ch[6], ch[7]]));
        if &ch[..4] == b"fmt " {
            let mut fmt = [0u8; 16];
            src.read_exact_at(at + 8, &mut fmt)
                .map_err(|_| bad("short fmt chunk"))?;
            let tag = u16::from_le_bytes([fmt[0], fmt[1]]);
            let channels = u16::from_le_bytes([fmt[2], fmt[3]]);
            let rate = u32::from_le_bytes([fmt[4], fmt[5], fmt[6], fmt[7]]);
            let bits = u16::from_le_bytes([fmt[14], fmt[15]]);
            if tag != 1 || channels != 2 || rate != 44100 || bits != 16 {
                return Err(Error::unsupported(
                    "wave",
                    format!(
                        "{}: only 16-bit stereo 44.1 kHz PCM can be a CD track",
                        file.path.display()
                    ),
                ));
            }
        } else if &ch[..4] == b"data" {
            let len = len.min(src.size().saturating_sub(at + 8));
            return Ok((at + 8, len));
        }
        at = at + 8 + len + (len & 1);
    }
    Err(bad("no data chunk in the first 64 chunks"))
}

/// The 44-byte header of a 16-bit stereo 44.1 kHz PCM WAV file of `data_len` bytes.
pub fn wav_header(data_len: u64) -> [u8; 44] {
    let data = u32::try_from(data_len).unwrap_or(u32::MAX);
    let mut h = [0u8; 44];
    h[..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&data.saturating_add(36).to_le_bytes());
    h[8..16].copy_from_slice(b"WAVEfmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes()); // PCM
    h[22..24].copy_from_slice(&2u16.to_le_bytes()); // stereo
    h[24..28].copy_from_slice(&44100u32.to_le_bytes());
    h[28..32].copy_from_slice(&(44100u32 * 4).to_le_bytes());
    h[32..34].copy_from_slice(&4u16.to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data.to_le_bytes());
    h
}

/// An audio track as a WAV file: header, then the PCM of index 1 to the end of the track
/// (the pregap belongs to the track before, as CD players play it).
#[derive(Clone)]
pub struct WavStream {
    disc: Arc<Disc>,
    start: i64,
    sectors: u64,
    header: [u8; 44],
}

impl WavStream {
    /// The WAV stream of audio track `number`.
    pub fn new(disc: Arc<Disc>, number: u8) -> Result<Self> {
        let t = disc
            .track(number)
            .ok_or_else(|| Error::not_found(format!("track {number} does not exist")))?;
        if t.mode != TrackMode::Audio {
            return Err(Error::invalid_input(format!(
                "track {number} is a data track, not audio"
            )));
        }
        let (start, sectors) = (t.start, t.length());
        Ok(WavStream {
            header: wav_header(sectors * RAW as u64),
            disc,
            start,
            sectors,
        })
    }

    /// Length of the PCM data in bytes.
    pub fn pcm_len(&self) -> u64 {
        self.sectors * RAW as u64
    }
}

impl ReadAt for WavStream {
    fn size(&self) -> u64 {
        WAV_HEADER + self.pcm_len()
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let n = clamp_len(offset, buf.len(), self.size());
        let mut done = 0;
        let mut sector = [0u8; RAW];
        while done < n {
            let pos = offset + done as u64;
            if pos < WAV_HEADER {
                let k = ((WAV_HEADER - pos) as usize).min(n - done);
                buf[done..done + k].copy_from_slice(&self.header[pos as usize..pos as usize + k]);
                done += k;
                continue;
            }
            let pcm = pos - WAV_HEADER;
            let lba = self.start + (pcm / RAW as u64) as i64;
            let within = (pcm % RAW as u64) as usize;
            self.disc.read_raw(lba, &mut sector)?;
            let k = (RAW - within).min(n - done);
            buf[done..done + k].copy_from_slice(&sector[within..within + k]);
            done += k;
        }
        Ok(n)
    }
}
