//! Writing CHD version 5: hunks compressed on every core, written in order.
//!
//! The caller's `fill` produces hunks into a batch buffer on this thread while worker
//! threads compress the previous batch (one [`HunkEncoder`], i.e. one set of codec states,
//! per worker; a hunk already stored is not compressed again); finished batches go to the
//! [`V5Writer`] in hunk order, which lays out the file (header, metadata, hunks with copies
//! found, map, SHA-1s). Memory is two batches of at most [`BATCH_BYTES`] plus their
//! compressed forms, whatever the image size (the copy index and the map grow by a few tens
//! of bytes per hunk, as chdman's). Uncompressed images (no codecs) are written by the
//! `chd` crate's encoder (`chd::write`, pinned), hunk by hunk.

use super::FORMAT;
use super::encode::HunkEncoder;
use super::v5::{HunkKey, Stored, V5Params, V5Writer};
use crate::error::{Error, ErrorKind, Result};
use chd::header::CodecType;
use chd::write::{ChdWriteOptions, ChdWriter};
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes of uncompressed hunks per batch.
pub const BATCH_BYTES: usize = 8 << 20;

/// What to write.
pub struct WriteSpec {
    /// Bytes per hunk.
    pub hunk_bytes: u32,
    /// Bytes per unit.
    pub unit_bytes: u32,
    /// Logical size.
    pub logical_bytes: u64,
    /// Codecs, at most four (empty: uncompressed).
    pub codecs: Vec<CodecType>,
    /// Metadata entries (tag, data), all counted in the overall SHA-1.
    pub metadata: Vec<(u32, Vec<u8>)>,
    /// Compression threads.
    pub threads: usize,
}

fn err(e: chd::Error) -> Error {
    Error::new(ErrorKind::Io, format!("writing the CHD: {e}")).with_format(FORMAT)
}

fn panicked() -> Error {
    Error::new(ErrorKind::Io, "a compression thread panicked").with_format(FORMAT)
}

/// The image's hunks, produced a batch at a time by the caller's `fill`.
struct Batches<'a> {
    fill: &'a (dyn Fn(u64, &mut [u8]) -> Result<()> + Sync),
    hunk: usize,
    hunks: u64,
    per_batch: usize,
}

impl Batches<'_> {
    fn fill_batch(&self, first: u64, buf: &mut Vec<u8>) -> Result<usize> {
        let count = (self.hunks - first).min(self.per_batch as u64) as usize;
        buf.clear();
        buf.resize(count * self.hunk, 0);
        (self.fill)(first, buf)?;
        Ok(count)
    }
}

/// Writes a CHD into `file`: `fill(first, buf)` produces the hunks from `first` on into
/// `buf` (whole hunks; the last one padded with zeros by the caller or left zero); `progress`
/// gets the bytes done.
pub fn write_chd(
    file: File,
    spec: &WriteSpec,
    fill: &(dyn Fn(u64, &mut [u8]) -> Result<()> + Sync),
    progress: &dyn Fn(u64),
) -> Result<()> {
    if spec.codecs.len() > 4 {
        return Err(Error::invalid_input("a CHD names at most four codecs"));
    }
    let hunk = spec.hunk_bytes as usize;
    let batches = Batches {
        fill,
        hunk,
        hunks: spec.logical_bytes.div_ceil(u64::from(spec.hunk_bytes)),
        per_batch: (BATCH_BYTES / hunk.max(1)).max(1),
    };
    if spec.codecs.is_empty() {
        return write_uncompressed(file, spec, &batches, progress);
    }
    let mut codecs = [0u32; 4];
    for (slot, c) in codecs.iter_mut().zip(&spec.codecs) {
        *slot = *c as u32;
    }
    let params = V5Params {
        codecs,
        logical_bytes: spec.logical_bytes,
        hunk_bytes: spec.hunk_bytes,
        unit_bytes: spec.unit_bytes,
    };
    let mut writer = V5Writer::new(SeqWriter::new(file), params, &spec.metadata)?;
    let threads = spec.threads.max(1);
    let mut encoders = (0..threads)
        .map(|_| HunkEncoder::new(&spec.codecs, spec.hunk_bytes))
        .collect::<Result<Vec<_>>>()?;
    let mut current = Vec::new();
    let mut next = Vec::new();
    let mut first = 0u64;
    let mut count = if batches.hunks > 0 {
        batches.fill_batch(0, &mut current)?
    } else {
        0
    };
    while count > 0 {
        let next_first = first + count as u64;
        let taken = AtomicUsize::new(0);
        let batch = &current;
        let stored = writer.stored();
        let (results, next_count) = std::thread::scope(|s| -> Result<_> {
            let workers: Vec<_> = encoders
                .iter_mut()
                .map(|enc| {
                    let taken = &taken;
                    s.spawn(move || {
                        let mut done = Vec::new();
                        loop {
                            let i = taken.fetch_add(1, Ordering::Relaxed);
                            if i >= count {
                                return done;
                            }
                            let data = &batch[i * hunk..(i + 1) * hunk];
                            let key = HunkKey::of(data);
                            let how = if stored.find(&key).is_some() {
                                Stored::Copy
                            } else {
                                match enc.compress(data) {
                                    Some((slot, bytes)) => Stored::Codec(slot, bytes),
                                    None => Stored::Plain,
                                }
                            };
                            done.push((i, key, how));
                        }
                    })
                })
                .collect();
            let next_count = if next_first < batches.hunks {
                batches.fill_batch(next_first, &mut next)
            } else {
                Ok(0)
            };
            let mut all = Vec::with_capacity(count);
            for w in workers {
                all.extend(w.join().map_err(|_| panicked())?);
            }
            Ok((all, next_count?))
        })?;
        let mut results = results;
        results.sort_by_key(|r| r.0);
        for (i, key, how) in results {
            writer.push(&current[i * hunk..(i + 1) * hunk], key, how)?;
        }
        progress((count * hunk) as u64);
        std::mem::swap(&mut current, &mut next);
        first = next_first;
        count = next_count;
    }
    writer.finish()?;
    Ok(())
}

/// An uncompressed image, through the `chd` crate's writer.
fn write_uncompressed(
    file: File,
    spec: &WriteSpec,
    batches: &Batches<'_>,
    progress: &dyn Fn(u64),
) -> Result<()> {
    let options =
        ChdWriteOptions::new(spec.hunk_bytes, spec.unit_bytes).logical_bytes(spec.logical_bytes);
    let mut writer = ChdWriter::new(SeqWriter::new(file), options).map_err(err)?;
    for (tag, data) in &spec.metadata {
        writer
            .add_metadata(*tag, data.as_slice(), true)
            .map_err(err)?;
    }
    let mut buf = Vec::new();
    let mut first = 0u64;
    while first < batches.hunks {
        let count = batches.fill_batch(first, &mut buf)?;
        for h in buf.chunks_exact(batches.hunk) {
            writer.write_hunk(h).map_err(err)?;
        }
        progress((count * batches.hunk) as u64);
        first += count as u64;
    }
    let mut out = writer.finish().map_err(err)?;
    out.flush()?;
    Ok(())
}

/// A file written mostly in sequence: writes are gathered in a buffer, and a seek to where
/// the writer already is costs nothing (the crate seeks before every hunk it appends).
struct SeqWriter {
    file: File,
    buf: Vec<u8>,
    /// File position of `buf[0]`.
    base: u64,
}

const SEQ_BUF: usize = 4 << 20;

impl SeqWriter {
    fn new(file: File) -> Self {
        SeqWriter {
            file,
            buf: Vec::with_capacity(SEQ_BUF),
            base: 0,
        }
    }

    fn pos(&self) -> u64 {
        self.base + self.buf.len() as u64
    }

    fn drain(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            use std::os::unix::fs::FileExt;
            self.file.write_all_at(&self.buf, self.base)?;
            self.base += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(())
    }
}

impl Write for SeqWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + data.len() > SEQ_BUF {
            self.drain()?;
        }
        if data.len() >= SEQ_BUF {
            use std::os::unix::fs::FileExt;
            self.file.write_all_at(data, self.base)?;
            self.base += data.len() as u64;
        } else {
            self.buf.extend_from_slice(data);
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.drain()?;
        self.file.flush()
    }
}

impl Seek for SeqWriter {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => p,
            SeekFrom::Current(d) => self.pos().saturating_add_signed(d),
            SeekFrom::End(d) => {
                self.drain()?;
                self.file.metadata()?.len().saturating_add_signed(d)
            }
        };
        if target != self.pos() {
            self.drain()?;
            self.base = target;
        }
        Ok(target)
    }
}

/// Parses a codec list: `cdlz+cdzl+cdfl` (or with commas, where the option syntax allows),
/// `zstd`, `none`.
pub fn parse_codecs(s: &str) -> Result<Vec<CodecType>> {
    if s.eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    let list: Vec<CodecType> = s
        .split([',', '+'])
        .map(|name| {
            let name = name.trim().to_ascii_lowercase();
            let tag = (name.len() == 4)
                .then(|| u32::from_be_bytes(name.as_bytes().try_into().unwrap_or([0; 4])))
                .and_then(super::codec::num_codec)
                .filter(|c| !c.is_legacy() && *c != CodecType::AVHuffV5);
            tag.ok_or_else(|| {
                Error::invalid_input(format!(
                    "codec \"{name}\": use lzma, zlib, huff, flac, zstd (any layout) or cdlz, cdzl, cdfl, cdzs (CD)"
                ))
            })
        })
        .collect::<Result<_>>()?;
    if list.is_empty() || list.len() > 4 {
        return Err(Error::invalid_input("name one to four codecs, or none"));
    }
    Ok(list)
}
