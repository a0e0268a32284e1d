//! Converting a disc between image formats: CUE/BIN (one BIN, or one per track), cdrdao
//! TOC/BIN, CloneCD CCD/IMG/SUB, Alcohol MDS/MDF, Nero NRG, and ISO (one data track's user
//! data).
//!
//! Every sector of every track is written, pregaps and postgaps included, in the stored form
//! of the source where the target can hold it (a MODE1/2048 track stays cooked, a raw track
//! stays raw) or as [`DataMode`] asks; cooked data becomes raw sectors with sync, header, EDC
//! and ECC generated. Subchannel is kept where the target holds it (CCD, MDS, NRG, TOC) and
//! generated from the table of contents for CloneCD when the source has none. What a target
//! cannot hold is listed in [`ConvertReport::notes`]: nothing is dropped silently. Outputs
//! are written as [`AtomicFile`]s and all appear together at the end; memory stays bounded
//! (sectors are encoded in batches, in parallel).

use super::disc::{Disc, Source, Stored, Sub, Track, TrackMode};
use super::sector::{RAW, USER};
use super::view::UserDataView;
use super::{ccd, cue, mds, nrg, subchannel, toc};
use crate::error::{Error, ErrorKind, Result};
use crate::io::{AtomicFile, ReadAt};
use rayon::prelude::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Sectors encoded per batch.
const BATCH: usize = 256;

/// A target format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// CUE sheet and BIN files.
    Cue,
    /// cdrdao TOC and a BIN.
    Toc,
    /// CloneCD: `.ccd`, `.img`, `.sub`.
    Ccd,
    /// Alcohol: `.mds`, `.mdf`.
    Mds,
    /// Nero NRG (version 2, disc-at-once).
    Nrg,
    /// The user data of one data track.
    Iso,
}

impl Target {
    /// The target an output file name asks for, by extension.
    pub fn of(path: &Path) -> Option<Target> {
        let ext = path.extension()?.to_string_lossy().to_ascii_lowercase();
        Some(match ext.as_str() {
            "cue" => Target::Cue,
            "toc" => Target::Toc,
            "ccd" => Target::Ccd,
            "mds" => Target::Mds,
            "nrg" => Target::Nrg,
            "iso" => Target::Iso,
            _ => return None,
        })
    }
}

/// How data tracks are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataMode {
    /// Full 2352-byte sectors (`MODE1/2352`, `MODE2/2352`).
    Raw,
    /// 2048-byte user data for mode 1 tracks (`MODE1/2048`); mode 2 tracks stay raw.
    Cooked,
}

impl DataMode {
    /// Parses `MODE1/2048`, `MODE1/2352`, `raw`, `cooked`.
    pub fn parse(s: &str) -> Result<DataMode> {
        match s.to_ascii_uppercase().as_str() {
            "MODE1/2352" | "MODE2/2352" | "RAW" | "2352" => Ok(DataMode::Raw),
            "MODE1/2048" | "COOKED" | "2048" => Ok(DataMode::Cooked),
            _ => Err(Error::invalid_input(format!(
                "mode \"{s}\": use MODE1/2352 (raw) or MODE1/2048 (cooked)"
            ))),
        }
    }
}

/// Conversion options.
#[derive(Debug, Clone, Default)]
pub struct ConvertOptions {
    /// How data tracks are written (default: as the source stores them; raw from an ISO).
    pub mode: Option<DataMode>,
    /// One BIN per track, named `NAME (Track N).bin` (CUE only).
    pub split: bool,
    /// Replace outputs that exist.
    pub replace: bool,
    /// For an ISO target: the data track (default: the disc's default data track).
    pub track: Option<u8>,
}

/// What a conversion wrote and what the target could not hold.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ConvertReport {
    /// Files written.
    pub outputs: Vec<PathBuf>,
    /// What was dropped, regenerated or changed, one sentence each.
    pub notes: Vec<String>,
    /// Bytes written.
    pub bytes: u64,
}

/// How one track is written: which sectors, in what stored form.
#[derive(Debug, Clone, Copy)]
struct Plan {
    number: u8,
    first: i64,
    end: i64,
    stored: Stored,
    sub: bool,
    swap: bool,
}

impl Plan {
    fn count(&self) -> u64 {
        (self.end - self.first).max(0) as u64
    }
    fn stride(&self) -> u64 {
        u64::from(self.stored.size()) + if self.sub { 96 } else { 0 }
    }
    fn bytes(&self) -> u64 {
        self.count() * self.stride()
    }
}

fn list(ns: &[u8]) -> String {
    ns.iter().map(u8::to_string).collect::<Vec<_>>().join(", ")
}

/// Leading and trailing sectors of `t` that are not stored (generated pregap/postgap).
fn unstored_ends(t: &Track) -> (u64, u64) {
    let lead = t
        .runs
        .iter()
        .take_while(|r| r.source == Source::Zero)
        .map(|r| r.count)
        .sum();
    let trail = t
        .runs
        .iter()
        .rev()
        .take_while(|r| r.source == Source::Zero)
        .map(|r| r.count)
        .sum();
    (lead, trail)
}

fn name(t: Target) -> &'static str {
    match t {
        Target::Cue => "CUE/BIN",
        Target::Toc => "TOC/BIN",
        Target::Ccd => "CloneCD",
        Target::Mds => "MDS/MDF",
        Target::Nrg => "NRG",
        Target::Iso => "ISO",
    }
}

/// Whether sectors `[from, to)` of `t` hold nothing: silence, zeros, or empty sectors of the
/// track's mode (what a format generates for a pregap it does not store).
fn blank(disc: &Disc, t: &Track, from: i64, to: i64) -> bool {
    let mut raw = [0u8; RAW];
    let mut empty = [0u8; RAW];
    (from..to).all(|lba| {
        if disc.read_raw(lba, &mut raw).is_err() {
            return false;
        }
        super::sector::encode(&mut empty, lba, t.mode.blank_kind(), &[], None);
        raw == empty
            || raw.iter().all(|&b| b == 0)
            || (super::sector::has_sync(&raw) && raw[16..].iter().all(|&b| b == 0))
    })
}

fn plan(disc: &Disc, target: Target, opts: &ConvertOptions, notes: &mut Vec<String>) -> Vec<Plan> {
    let from_iso = disc.format == super::raw::ISO;
    let mut plans = Vec::new();
    for (i, t) in disc.tracks.iter().enumerate() {
        let (lead, trail) = unstored_ends(t);
        let (mut first, mut end) = (t.first, t.end);
        if matches!(target, Target::Cue | Target::Toc) {
            // Generated gaps stay generated: PREGAP/POSTGAP, ZERO/SILENCE.
            first += lead.min(t.pregap()) as i64;
            end -= trail.min(t.postgap) as i64;
            if end <= first {
                end = first + 1;
            }
        }
        if i == 0 {
            first = if target == Target::Nrg {
                first.min(-150)
            } else {
                first.max(0)
            };
            if t.first < 0 && target != Target::Nrg && !blank(disc, t, t.first, 0) {
                notes.push(format!("track {}: {} pregap sectors before LBA 0 are not kept ({} images start at LBA 0)", t.number, -t.first, name(target)));
            }
        }
        let source = t.stored().unwrap_or(if t.mode == TrackMode::Audio {
            Stored::Raw
        } else {
            Stored::Mode1Data
        });
        let stored = if t.mode == TrackMode::Audio || target == Target::Ccd {
            Stored::Raw
        } else {
            match (opts.mode, t.mode) {
                (Some(DataMode::Raw), _) => Stored::Raw,
                (Some(DataMode::Cooked), TrackMode::Mode1) => Stored::Mode1Data,
                (Some(DataMode::Cooked), _) => Stored::Raw,
                (None, _) if from_iso => Stored::Raw,
                (None, _) => match (target, source) {
                    (Target::Mds, Stored::Form2Data) | (Target::Nrg, Stored::Form2Data) => {
                        Stored::Raw
                    }
                    (Target::Mds, Stored::Mode2Data) => Stored::Raw,
                    _ => source,
                },
            }
        };
        let has_sub = t.has_subchannel();
        let sub = match target {
            Target::Ccd => false, // in the .sub file
            Target::Mds | Target::Nrg | Target::Toc => has_sub && stored == Stored::Raw,
            _ => false,
        };
        plans.push(Plan {
            number: t.number,
            first,
            end,
            stored,
            sub,
            swap: target == Target::Toc && t.mode == TrackMode::Audio,
        });
    }
    let with_sub: Vec<u8> = disc
        .tracks
        .iter()
        .filter(|t| t.has_subchannel())
        .map(|t| t.number)
        .collect();
    if !with_sub.is_empty() && matches!(target, Target::Cue | Target::Iso) {
        notes.push(format!(
            "subchannel of track(s) {} dropped: {} images cannot hold it",
            list(&with_sub),
            name(target)
        ));
    }
    if with_sub.is_empty() && target == Target::Ccd {
        notes.push(
            "subchannel generated from the table of contents (P and Q; the source has none)".into(),
        );
    }
    for p in &plans {
        let t = disc.track(p.number).expect("planned from the disc");
        if t.stored() != Some(p.stored) && t.mode.is_data() && t.stored().is_some() {
            notes.push(format!(
                "track {}: {} sectors written as {} ({})",
                t.number,
                t.mode_name(),
                p.stored.size(),
                if p.stored == Stored::Raw {
                    "sync, header, EDC and ECC generated"
                } else {
                    "sync, header, EDC and ECC not kept"
                }
            ));
        }
    }
    plans
}

/// Converts `disc` to `out`, whose extension names the format.
pub fn convert(
    disc: &Arc<Disc>,
    out: &Path,
    opts: &ConvertOptions,
    progress: &dyn Fn(u64),
) -> Result<ConvertReport> {
    let target = Target::of(out).ok_or_else(|| {
        Error::invalid_input(format!(
            "{}: the output's extension must be .cue, .toc, .ccd, .mds, .nrg or .iso",
            out.display()
        ))
    })?;
    if opts.split && target != Target::Cue {
        return Err(Error::invalid_input("--split applies to .cue outputs"));
    }
    let mut report = ConvertReport::default();
    if target == Target::Iso {
        return to_iso(disc, out, opts, progress, report);
    }
    if target == Target::Toc && disc.sessions.len() > 1 {
        return Err(Error::unsupported(
            "toc",
            "a TOC file describes one session; this disc has several (write .cue, .ccd, .mds or .nrg)",
        ));
    }
    let plans = plan(disc, target, opts, &mut report.notes);
    let stem = out.with_extension("");
    let name_of = |p: &Path| {
        p.file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let mut files: Vec<AtomicFile> = Vec::new();
    match target {
        Target::Cue if opts.split => {
            let wide = disc.tracks.len() >= 10;
            let mut bins = Vec::new();
            for p in &plans {
                let path = PathBuf::from(format!(
                    "{} (Track {}).bin",
                    stem.display(),
                    if wide {
                        format!("{:02}", p.number)
                    } else {
                        p.number.to_string()
                    }
                ));
                let f = AtomicFile::create(&path, opts.replace)?;
                report.bytes += write_track(disc, p, f.file(), progress)?;
                bins.push(cue::BinFile {
                    name: name_of(&path),
                    tracks: vec![(p.number, cue_keyword(disc, p), p.first, p.count())],
                });
                report.outputs.push(path);
                files.push(f);
            }
            finish_text(out, &cue::write(disc, &bins), opts, &mut files, &mut report)?;
        }
        Target::Cue | Target::Toc => {
            let bin = stem.with_extension("bin");
            let f = AtomicFile::create(&bin, opts.replace)?;
            let mut offset = 0u64;
            let mut cue_tracks = Vec::new();
            let mut toc_tracks = Vec::new();
            for p in &plans {
                let n = write_track(disc, p, f.file(), progress)?;
                cue_tracks.push((p.number, cue_keyword(disc, p), p.first, p.count()));
                toc_tracks.push(toc::TocTrack {
                    number: p.number,
                    keyword: toc_keyword(disc, p),
                    subchannel: p.sub,
                    file: name_of(&bin),
                    offset,
                    written_first: p.first,
                    written: p.count(),
                });
                offset += n;
            }
            report.bytes += offset;
            report.outputs.push(bin.clone());
            files.push(f);
            let text = if target == Target::Cue {
                cue::write(
                    disc,
                    &[cue::BinFile {
                        name: name_of(&bin),
                        tracks: cue_tracks,
                    }],
                )
            } else {
                toc::write(disc, &toc_tracks)
            };
            finish_text(out, &text, opts, &mut files, &mut report)?;
        }
        Target::Ccd => {
            let img = stem.with_extension("img");
            let subp = stem.with_extension("sub");
            let fi = AtomicFile::create(&img, opts.replace)?;
            let fs = AtomicFile::create(&subp, opts.replace)?;
            for p in &plans {
                report.bytes += write_track(disc, p, fi.file(), progress)?;
                report.bytes += write_linear_sub(disc, p, fs.file())?;
            }
            report.outputs.extend([img, subp]);
            files.extend([fi, fs]);
            let wf: Vec<(u8, i64)> = plans.iter().map(|p| (p.number, p.first)).collect();
            finish_text(out, &ccd::write(disc, &wf), opts, &mut files, &mut report)?;
        }
        Target::Mds => {
            let mdf = stem.with_extension("mdf");
            let f = AtomicFile::create(&mdf, opts.replace)?;
            let mut offset = 0u64;
            let mut rows = Vec::new();
            for p in &plans {
                let t = disc.track(p.number).expect("planned");
                rows.push(mds::MdfTrack {
                    number: p.number,
                    sector_size: p.stride() as u16,
                    subchannel: p.sub,
                    start_offset: offset + (t.start - p.first).max(0) as u64 * p.stride(),
                });
                offset += write_track(disc, p, f.file(), progress)?;
            }
            report.bytes += offset;
            report.outputs.push(mdf);
            files.push(f);
            let mut dropped = Vec::new();
            if disc.catalog.is_some() {
                dropped.push("catalog");
            }
            if disc.tracks.iter().any(|t| t.isrc.is_some()) {
                dropped.push("ISRC");
            }
            if !disc.cd_text.is_empty() || disc.tracks.iter().any(|t| !t.cd_text.is_empty()) {
                dropped.push("CD-TEXT");
            }
            if disc.tracks.iter().any(|t| !t.indexes.is_empty()) {
                dropped.push("indexes after 1");
            }
            if !dropped.is_empty() {
                report.notes.push(format!(
                    "{} not written: this MDS writer does not store them",
                    dropped.join(", ")
                ));
            }
            let desc = mds::write(disc, &rows);
            let d = AtomicFile::create(out, opts.replace)?;
            d.file()
                .write_all(&desc)
                .map_err(|e| Error::from(e).with_file(out))?;
            report.outputs.push(out.to_path_buf());
            files.push(d);
        }
        Target::Nrg => {
            let f = AtomicFile::create(out, opts.replace)?;
            let mut offset = 0u64;
            let mut rows = Vec::new();
            for p in &plans {
                let t = disc.track(p.number).expect("planned");
                let start = offset + (t.start - p.first).max(0) as u64 * p.stride();
                let n = write_track(disc, p, f.file(), progress)?;
                let code = nrg::code_of(t.mode, p.stored, p.sub).unwrap_or(0x06);
                rows.push(nrg::NrgTrack {
                    number: p.number,
                    first: p.first,
                    code,
                    sector_size: p.stride() as u16,
                    pregap_offset: offset,
                    start_offset: start,
                    end_offset: offset + n,
                });
                offset += n;
            }
            let footer = nrg::write_footer(disc, &rows, offset);
            f.file()
                .write_all(&footer)
                .map_err(|e| Error::from(e).with_file(out))?;
            report.bytes += offset + footer.len() as u64;
            report.outputs.push(out.to_path_buf());
            files.push(f);
        }
        Target::Iso => unreachable!("handled above"),
    }
    for f in files {
        f.commit()?;
    }
    Ok(report)
}

fn finish_text(
    out: &Path,
    text: &str,
    opts: &ConvertOptions,
    files: &mut Vec<AtomicFile>,
    report: &mut ConvertReport,
) -> Result<()> {
    let f = AtomicFile::create(out, opts.replace)?;
    f.file()
        .write_all(text.as_bytes())
        .map_err(|e| Error::from(e).with_file(out))?;
    report.outputs.push(out.to_path_buf());
    files.push(f);
    Ok(())
}

fn cue_keyword(disc: &Disc, p: &Plan) -> String {
    let t = disc.track(p.number).expect("planned");
    match (t.mode, p.stored) {
        (TrackMode::Audio, _) => "AUDIO".into(),
        (TrackMode::Mode1, Stored::Raw) => "MODE1/2352".into(),
        (_, Stored::Mode1Data) => "MODE1/2048".into(),
        (_, Stored::Raw) => "MODE2/2352".into(),
        (_, Stored::Mode2Data) => "MODE2/2336".into(),
        (_, Stored::Form1Data) => "MODE2/2048".into(),
        (_, Stored::Form2Data) => "MODE2/2324".into(),
    }
}

fn toc_keyword(disc: &Disc, p: &Plan) -> String {
    let t = disc.track(p.number).expect("planned");
    super::toc::keyword_of(t.mode, p.stored).into()
}

/// Writes the sectors of `p` to `out` (appending); returns the bytes written.
fn write_track(disc: &Disc, p: &Plan, out: &std::fs::File, progress: &dyn Fn(u64)) -> Result<u64> {
    let mut w = std::io::BufWriter::with_capacity(1 << 20, out);
    let stride = p.stride() as usize;
    let mut lba = p.first;
    let mut buf = vec![0u8; BATCH * stride];
    while lba < p.end {
        let n = ((p.end - lba) as usize).min(BATCH);
        let chunk = &mut buf[..n * stride];
        // Direct copy when the source stores these sectors exactly as written.
        if let Some(()) = direct(disc, p, lba, n, chunk)? {
        } else {
            let results: Vec<Result<()>> = chunk
                .par_chunks_mut(stride)
                .enumerate()
                .map(|(i, rec)| encode_one(disc, p, lba + i as i64, rec))
                .collect();
            results.into_iter().collect::<Result<Vec<()>>>()?;
        }
        w.write_all(chunk).map_err(Error::from)?;
        progress(chunk.len() as u64);
        lba += n as i64;
    }
    w.flush().map_err(Error::from)?;
    Ok(p.bytes())
}

/// Fills `chunk` straight from the data file when `[lba, lba + n)` lies in one stored run
/// with the same layout, subchannel and byte order.
fn direct(disc: &Disc, p: &Plan, lba: i64, n: usize, chunk: &mut [u8]) -> Result<Option<()>> {
    let Some(t) = disc.track_at(lba) else {
        return Ok(None);
    };
    let Some(run) = t.runs.iter().find(|r| r.lba <= lba && lba < r.end()) else {
        return Ok(None);
    };
    let Source::File {
        file,
        offset,
        stored,
        swap,
    } = run.source
    else {
        return Ok(None);
    };
    let sub_same = match run.sub {
        Sub::Interleaved => p.sub,
        Sub::None => !p.sub,
        _ => false,
    };
    if stored != p.stored
        || !sub_same
        || swap != p.swap
        || lba + n as i64 > run.end()
        || t.number != p.number
    {
        return Ok(None);
    }
    let at = offset + (lba - run.lba) as u64 * run.stride();
    disc.files[file].source.read_exact_at(at, chunk)?;
    Ok(Some(()))
}

fn encode_one(disc: &Disc, p: &Plan, lba: i64, rec: &mut [u8]) -> Result<()> {
    let mut raw = [0u8; RAW];
    disc.read_raw(lba, &mut raw)?;
    let size = p.stored.size() as usize;
    let from = match p.stored {
        Stored::Raw => 0,
        Stored::Mode1Data | Stored::Mode2Data => 16,
        Stored::Form1Data | Stored::Form2Data => 24,
    };
    rec[..size].copy_from_slice(&raw[from..from + size]);
    if p.swap {
        super::disc::swap_samples(&mut rec[..size]);
    }
    if p.sub {
        let mut sub = [0u8; 96];
        disc.read_sub(lba, &mut sub)?;
        rec[size..size + 96].copy_from_slice(&sub);
    }
    Ok(())
}

/// Writes 96 bytes of linear subchannel per sector of `p` (CloneCD `.sub`).
fn write_linear_sub(disc: &Disc, p: &Plan, out: &std::fs::File) -> Result<u64> {
    let mut w = std::io::BufWriter::with_capacity(1 << 20, out);
    let mut raw = [0u8; 96];
    let mut linear = [0u8; 96];
    for lba in p.first..p.end {
        disc.read_sub(lba, &mut raw)?;
        subchannel::interleaved_to_linear(&raw, &mut linear);
        w.write_all(&linear).map_err(Error::from)?;
    }
    w.flush().map_err(Error::from)?;
    Ok(p.count() * 96)
}

/// The ISO of one data track: the user data the file-system readers see, from byte 0 to the
/// track's end (a later session's ISO keeps the earlier sessions it points into).
fn to_iso(
    disc: &Arc<Disc>,
    out: &Path,
    opts: &ConvertOptions,
    progress: &dyn Fn(u64),
    mut report: ConvertReport,
) -> Result<ConvertReport> {
    let number = match opts.track {
        Some(n) => n,
        None => disc.default_data_track().map(|t| t.number).ok_or_else(|| {
            Error::new(ErrorKind::NotRecognized, "the disc has no data track to write as an ISO (audio tracks: use `diskimg extract --tracks`)")
        })?,
    };
    let t = disc
        .track(number)
        .ok_or_else(|| Error::not_found(format!("track {number} does not exist")))?;
    if !t.mode.is_data() {
        return Err(Error::invalid_input(format!(
            "track {number} is an audio track"
        )));
    }
    let view = UserDataView::for_track(disc.clone(), number)?;
    let len = if t.start == 0 || view.size() > t.length() * USER as u64 {
        (t.end.max(0) as u64 * USER as u64).min(view.size())
    } else {
        view.size()
    };
    let audio: Vec<u8> = disc
        .tracks
        .iter()
        .filter(|x| !x.mode.is_data())
        .map(|x| x.number)
        .collect();
    let other: Vec<u8> = disc
        .data_tracks()
        .filter(|x| x.number != number && x.end > len as i64 / USER as i64)
        .map(|x| x.number)
        .collect();
    if !audio.is_empty() {
        report.notes.push(format!("audio track(s) {} dropped: an ISO holds data only (`diskimg extract --tracks` writes them as WAV)", list(&audio)));
    }
    if !other.is_empty() {
        report.notes.push(format!(
            "data track(s) {} not included: an ISO holds one track (--track N picks another)",
            list(&other)
        ));
    }
    if t.mode != TrackMode::Mode1 {
        report.notes.push(format!(
            "track {number} is {}: form 2 sectors keep only their first 2048 bytes",
            t.mode_name()
        ));
    }
    if disc.tracks.iter().any(|x| x.has_subchannel()) {
        report
            .notes
            .push("subchannel dropped: an ISO cannot hold it".into());
    }
    let f = AtomicFile::create(out, opts.replace)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, f.file());
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = 0u64;
    while pos < len {
        let n = ((len - pos) as usize).min(buf.len());
        view.read_exact_at(pos, &mut buf[..n])?;
        w.write_all(&buf[..n])
            .map_err(|e| Error::from(e).with_file(out))?;
        progress(n as u64);
        pos += n as u64;
    }
    w.flush().map_err(|e| Error::from(e).with_file(out))?;
    drop(w);
    f.commit()?;
    report.bytes = len;
    report.outputs.push(out.to_path_buf());
    Ok(report)
}

/// Bytes a conversion of `disc` to `target` writes for its sectors (for progress).
pub fn planned_bytes(disc: &Disc, out: &Path, opts: &ConvertOptions) -> u64 {
    match Target::of(out) {
        Some(Target::Iso) => disc.span().1.max(0) as u64 * USER as u64,
        Some(t) => plan(disc, t, opts, &mut Vec::new())
            .iter()
            .map(Plan::bytes)
            .sum(),
        None => 0,
    }
}
