//! Operations on optical disc images: opening any image as a disc (an ISO becomes a one-track
//! disc), converting between formats, and writing each track to its own file (audio as WAV or
//! FLAC, data as ISO). FLAC is encoded with the pure-Rust `flacenc` frame by frame, so memory
//! stays bounded; the STREAMINFO block is written last, over its placeholder.

use crate::error::{Error, ErrorKind, Result};
use crate::image::Image;
use crate::io::{AtomicFile, FileSource, ReadAt};
use crate::optical::audio::WavStream;
use crate::optical::convert::{self, ConvertOptions};
use crate::optical::disc::{DataFile, Disc, TrackMode};
use crate::optical::raw;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Bytes of user data in a mode 1 sector.
const USER_SECTOR: u32 = 2048;

/// Opens `path` as a disc: a disc image, or a plain image of 2048-byte sectors (an ISO, also
/// inside a CSO, ZSO or DAX, or the data of a DVD CHD) as one mode 1 track.
pub fn open_disc(path: &Path) -> Result<Arc<Disc>> {
    let image = Image::open(path)?;
    if let Some(d) = &image.content().disc {
        return Ok(d.disc.clone());
    }
    if let Some((c, _)) = &image.root.container {
        // A compressed ISO (CSO, ZSO, DAX) or a DVD CHD: its device of 2048-byte sectors is
        // the user data of a one-track disc.
        let device = c.device();
        let compressed_iso = device.geometry().sector_size == USER_SECTOR
            && matches!(c.format(), "cso" | "zso" | "dax");
        if compressed_iso || c.format() == crate::container::chd::FORMAT {
            return raw::from_user_data(DataFile {
                path: path.to_path_buf(),
                source: device,
            })
            .map(Arc::new)
            .map_err(|e| e.with_file(path));
        }
        return Err(Error::unsupported(
            "disc",
            format!(
                "{}: a container is not an optical disc image",
                path.display()
            ),
        ));
    }
    let src = FileSource::open(path)?;
    raw::from_user_data(DataFile {
        path: path.to_path_buf(),
        source: Arc::new(src),
    })
    .map(Arc::new)
    .map_err(|e| e.with_file(path))
}

/// Whether a file name is that of a disc image format diskimg writes.
pub fn is_disc_output(path: &Path) -> bool {
    convert::Target::of(path).is_some()
}

/// What `extract_tracks` wrote.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct TracksSummary {
    /// Files written, in track order.
    pub files: Vec<PathBuf>,
    /// Notes (what an ISO could not hold, tracks skipped).
    pub notes: Vec<String>,
    /// Bytes written.
    pub bytes: u64,
}

/// How audio tracks are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AudioFormat {
    /// 16-bit stereo PCM WAV.
    #[default]
    Wav,
    /// FLAC (lossless, with the MD5 of the samples).
    Flac,
}

/// Writes every track of `disc` (or those in `only`) into `dir`: audio tracks as
/// `Track NN.wav` (or `.flac`), data tracks as `Track NN.iso`.
pub fn extract_tracks(
    disc: &Arc<Disc>,
    dir: &Path,
    only: &[u8],
    audio: AudioFormat,
    replace: bool,
    progress: &dyn Fn(u64),
) -> Result<TracksSummary> {
    std::fs::create_dir_all(dir).map_err(|e| Error::from(e).with_file(dir))?;
    let mut out = TracksSummary::default();
    for n in only {
        if disc.track(*n).is_none() {
            return Err(Error::not_found(format!("track {n} does not exist")));
        }
    }
    for t in &disc.tracks {
        if !only.is_empty() && !only.contains(&t.number) {
            continue;
        }
        if t.mode == TrackMode::Audio && audio == AudioFormat::Flac {
            let path = dir.join(format!("Track {:02}.flac", t.number));
            out.bytes += write_flac(
                &WavStream::new(disc.clone(), t.number)?,
                &path,
                replace,
                progress,
            )?;
            out.files.push(path);
        } else if t.mode == TrackMode::Audio {
            let path = dir.join(format!("Track {:02}.wav", t.number));
            let wav = WavStream::new(disc.clone(), t.number)?;
            let f = AtomicFile::create(&path, replace)?;
            let mut w = std::io::BufWriter::with_capacity(1 << 20, f.file());
            let mut buf = vec![0u8; 1 << 20];
            let mut pos = 0;
            while pos < wav.size() {
                let n = wav.read_at(pos, &mut buf)?;
                if n == 0 {
                    return Err(Error::new(ErrorKind::Io, "WAV stream ended early"));
                }
                w.write_all(&buf[..n])
                    .map_err(|e| Error::from(e).with_file(&path))?;
                progress(n as u64);
                pos += n as u64;
            }
            w.flush().map_err(|e| Error::from(e).with_file(&path))?;
            drop(w);
            f.commit()?;
            out.bytes += wav.size();
            out.files.push(path);
        } else {
            let path = dir.join(format!("Track {:02}.iso", t.number));
            let opts = ConvertOptions {
                replace,
                track: Some(t.number),
                ..Default::default()
            };
            let r = convert::convert(disc, &path, &opts, progress)?;
            out.notes.extend(
                r.notes
                    .into_iter()
                    .filter(|n| !n.starts_with("audio track") && !n.starts_with("data track")),
            );
            out.bytes += r.bytes;
            out.files.extend(r.outputs);
        }
    }
    Ok(out)
}

fn flac_error(e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Io, format!("FLAC encoder: {e}"))
}

/// Encodes the samples of `wav` as a FLAC file at `path`; returns its size.
pub fn write_flac(
    wav: &WavStream,
    path: &Path,
    replace: bool,
    progress: &dyn Fn(u64),
) -> Result<u64> {
    use flacenc::bitsink::ByteSink;
    use flacenc::component::{BitRepr, StreamInfo};
    use flacenc::error::Verify;
    use flacenc::source::{Context, Fill, FrameBuf};

    let config = flacenc::config::Encoder::default()
        .into_verified()
        .map_err(|(_, e)| flac_error(e))?;
    let block = config.block_size;
    let mut info = StreamInfo::new(44100, 2, 16).map_err(flac_error)?;
    let mut frame_buf = (
        FrameBuf::with_size(2, block).map_err(flac_error)?,
        Context::new(16, 2),
    );
    let f = AtomicFile::create(path, replace)?;
    let file = f.file();
    let header_len = 42u64;
    crate::io::copy::write_all_at(file, &[0u8; 42], 0)
        .map_err(|e| Error::from(e).with_file(path))?;
    let mut at = header_len;
    let mut pcm = vec![0u8; block * 4];
    let mut pos = crate::optical::audio::WAV_HEADER;
    let end = wav.size();
    let mut sink = ByteSink::new();
    while pos < end {
        let n = ((end - pos) as usize).min(pcm.len());
        wav.read_exact_at(pos, &mut pcm[..n])?;
        frame_buf.fill_le_bytes(&pcm[..n], 2).map_err(flac_error)?;
        let number = frame_buf.1.current_frame_number().unwrap_or(0);
        let frame = flacenc::encode_fixed_size_frame(&config, &frame_buf.0, number, &info)
            .map_err(flac_error)?;
        info.update_frame_info(&frame);
        sink.clear();
        frame.write(&mut sink).map_err(flac_error)?;
        crate::io::copy::write_all_at(file, sink.as_slice(), at)
            .map_err(|e| Error::from(e).with_file(path))?;
        at += sink.as_slice().len() as u64;
        progress(n as u64);
        pos += n as u64;
    }
    info.set_md5_digest(&frame_buf.1.md5_digest());
    sink.clear();
    info.write(&mut sink).map_err(flac_error)?;
    let mut header = Vec::with_capacity(42);
    header.extend_from_slice(b"fLaC");
    header.extend_from_slice(&[0x80, 0, 0, 34]); // last metadata block: STREAMINFO, 34 bytes
    header.extend_from_slice(sink.as_slice());
    if header.len() as u64 != header_len {
        return Err(flac_error(format!(
            "STREAMINFO of {} bytes",
            header.len() - 8
        )));
    }
    crate::io::copy::write_all_at(file, &header, 0).map_err(|e| Error::from(e).with_file(path))?;
    f.commit()?;
    Ok(at)
}
