//! Operations on optical disc images: opening any image as a disc (an ISO becomes a one-track
//! disc), converting between formats, and writing each track to its own file (audio as WAV,
//! data as ISO).

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

/// Opens `path` as a disc: a disc image, or a plain image of 2048-byte sectors (an ISO) as
/// one mode 1 track.
pub fn open_disc(path: &Path) -> Result<Arc<Disc>> {
    let image = Image::open(path)?;
    if let Some(d) = &image.content().disc {
        return Ok(d.disc.clone());
    }
    if image.root.container.is_some() {
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

/// Writes every track of `disc` (or those in `only`) into `dir`: audio tracks as
/// `Track NN.wav`, data tracks as `Track NN.iso`.
pub fn extract_tracks(
    disc: &Arc<Disc>,
    dir: &Path,
    only: &[u8],
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
        if t.mode == TrackMode::Audio {
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
