//! The conversion pipeline: planner, parallel workers, in-order emitter.
//!
//! ```text
//! planner thread      walks the source's extents a window at a time (no data read), cuts the
//!                     units to read into jobs of at most BATCH bytes; waits for a permit first
//! worker threads (N)  read a job's bytes (and the backing file's, when there is one), find
//!                     all-zero units, run the writer's encoder on the others; for units the
//!                     source does not hold over backing data, read only the backing file's
//!                     bytes: units where they are zeros need nothing
//! emitter (caller)    puts finished jobs back in order and hands them to the writer
//! ```
//!
//! At most `N + 2` jobs exist at once (permits return when a job is emitted), and their buffers
//! are reused, so memory stays near `(N + 2) x 4 MiB x 2` whatever the image size.

use super::plan::{Action, Planner, Run};
use crate::container::write::{Encoding, ImageWriter, UnitEncoder};
use crate::device::DeviceRef;
use crate::error::{Error, ErrorKind, Result};
use crate::io::{clamp_len, is_zero};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};

/// Bytes read per job.
const BATCH: u64 = 4 << 20;
/// Guest bytes planned per call to `extents`.
const WINDOW: u64 = 1 << 30;

/// Progress of a conversion, called from several threads.
pub trait ConvertProgress: Sync {
    /// The guest bytes the conversion will go through.
    fn start(&self, _total: u64) {}
    /// `bytes` more guest bytes are done (written, or skipped as holes).
    fn advance(&self, _bytes: u64) {}
}

/// Progress that goes nowhere.
pub struct NoProgress;
impl ConvertProgress for NoProgress {}

/// What the pipeline did.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct PipelineStats {
    /// Guest bytes read from the source.
    pub bytes_read: u64,
    /// Units stored as they were read.
    pub units_plain: u64,
    /// Units stored encoded (compressed).
    pub units_encoded: u64,
    /// Units marked zero over a backing file.
    pub units_zero: u64,
    /// Units read but not written: all zeros, or equal to the backing file.
    pub units_skipped: u64,
}

/// A job: units `first..first + count` to read, or to mark zero.
struct Job {
    seq: u64,
    first: u64,
    count: u64,
    action: Action,
}

/// What a worker made of a read job.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    /// Store as read.
    Plain,
    /// Store `encoded[i]`.
    Encoded,
    /// Zero over a backing file with data.
    Zero,
    /// Nothing to store.
    Skip,
}

struct Done {
    seq: u64,
    job: Job,
    buf: Vec<u8>,
    units: Vec<Unit>,
    encoded: Vec<Vec<u8>>,
}

/// Buffers handed back by the emitter for the next jobs.
struct Pool {
    free: Mutex<Vec<Vec<u8>>>,
}

impl Pool {
    fn get(&self, len: usize) -> Vec<u8> {
        let mut b = self
            .free
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_default();
        b.resize(len, 0);
        b
    }
    fn put(&self, b: Vec<u8>) {
        self.free.lock().unwrap_or_else(|p| p.into_inner()).push(b);
    }
}

/// Copies the guest view of `source` into `writer` and finishes it. With `backing`, the
/// writer's image is an overlay of that device: units equal to it are left unallocated, and
/// units that must read as zeros over its data are marked zero.
pub fn write_image(
    source: &DeviceRef,
    mut writer: Box<dyn ImageWriter>,
    backing: Option<&DeviceRef>,
    threads: usize,
    progress: &dyn ConvertProgress,
) -> Result<PipelineStats> {
    let unit = writer.unit_size();
    if !unit.is_power_of_two() || unit < 512 {
        return Err(Error::invalid_input(format!("writer unit of {unit} bytes")));
    }
    let size = source.size();
    progress.start(size);
    let threads = threads.max(1);
    let in_flight = threads + 2;
    let batch_units = (BATCH / unit).max(1);
    let encoder = writer.encoder();
    let pool = Pool {
        free: Mutex::new(Vec::new()),
    };
    let (permit_tx, permit_rx) = sync_channel::<()>(in_flight);
    for _ in 0..in_flight {
        let _ = permit_tx.send(());
    }
    let (job_tx, job_rx) = sync_channel::<Job>(threads);
    let job_rx = Mutex::new(job_rx);
    let (done_tx, done_rx) = channel::<Result<Done>>();
    let mut stats = PipelineStats::default();
    std::thread::scope(|scope| {
        let plan_done = done_tx.clone();
        scope.spawn(move || {
            if let Err(e) = plan(
                source,
                backing,
                unit,
                batch_units,
                size,
                &permit_rx,
                &job_tx,
                progress,
            ) {
                let _ = plan_done.send(Err(e));
            }
        });
        for _ in 0..threads {
            let done = done_tx.clone();
            let (job_rx, pool, encoder) = (&job_rx, &pool, encoder.clone());
            scope.spawn(move || {
                // After a failure (here or in the emitter) the worker keeps taking jobs without
                // doing them, so that the planner is never left waiting on a full queue.
                let mut stopped = false;
                loop {
                    let job = match job_rx.lock().unwrap_or_else(|p| p.into_inner()).recv() {
                        Ok(j) => j,
                        Err(_) => return,
                    };
                    if stopped {
                        continue;
                    }
                    // A panic in a worker (a bug in an encoder) must end the conversion with
                    // an error, not leave the emitter waiting for the job forever.
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        work(source, backing, unit, size, job, pool, encoder.as_deref())
                    }))
                    .unwrap_or_else(|_| {
                        Err(Error::new(
                            ErrorKind::Io,
                            "a conversion worker failed (panicked)",
                        ))
                    });
                    let failed = r.is_err();
                    if done.send(r).is_err() || failed {
                        stopped = true;
                    }
                }
            });
        }
        drop(done_tx);
        let r = emit(
            &mut *writer,
            &done_rx,
            &permit_tx,
            &pool,
            unit,
            size,
            backing.is_some(),
            progress,
            &mut stats,
        );
        // On error, stop the other threads: dropping the receivers ends their sends.
        drop(done_rx);
        drop(permit_tx);
        r
    })?;
    writer.finish()?;
    Ok(stats)
}

#[allow(clippy::too_many_arguments)]
fn plan(
    source: &DeviceRef,
    backing: Option<&DeviceRef>,
    unit: u64,
    batch_units: u64,
    size: u64,
    permits: &Receiver<()>,
    jobs: &SyncSender<Job>,
    progress: &dyn ConvertProgress,
) -> Result<()> {
    let mut planner = Planner::new(size, unit);
    let window = WINDOW.max(unit * batch_units) / unit * unit;
    let mut seq = 0u64;
    let mut offset = 0u64;
    while offset < size {
        let len = window.min(size - offset);
        planner.plan(source, backing, offset, len)?;
        for Run {
            first,
            count,
            action,
        } in planner.take()
        {
            if action == Action::Skip {
                progress.advance(clamp_len(first * unit, (count * unit) as usize, size) as u64);
                continue;
            }
            let mut k = 0;
            while k < count {
                let n = batch_units.min(count - k);
                if permits.recv().is_err() {
                    return Ok(()); // the emitter stopped
                }
                let job = Job {
                    seq,
                    first: first + k,
                    count: n,
                    action,
                };
                seq += 1;
                if jobs.send(job).is_err() {
                    return Ok(());
                }
                k += n;
            }
        }
        offset += len;
    }
    Ok(())
}

fn work(
    source: &DeviceRef,
    backing: Option<&DeviceRef>,
    unit: u64,
    size: u64,
    job: Job,
    pool: &Pool,
    encoder: Option<&dyn UnitEncoder>,
) -> Result<Done> {
    if job.action == Action::Zero {
        return zero_job(backing, unit, job, pool);
    }
    let u = unit as usize;
    let start = job.first * unit;
    let len = (job.count * unit) as usize;
    let mut buf = pool.get(len);
    let avail = clamp_len(start, len, size);
    source.read_exact_at(start, &mut buf[..avail])?;
    buf[avail..].fill(0);
    let base = match backing {
        Some(b) => {
            let mut v = pool.get(len);
            let n = clamp_len(start, len, b.size());
            b.read_exact_at(start, &mut v[..n])?;
            v[n..].fill(0);
            Some(v)
        }
        None => None,
    };
    let mut units = Vec::with_capacity(job.count as usize);
    let mut encoded = Vec::new();
    for (i, chunk) in buf.chunks_exact(u).enumerate() {
        let zero = is_zero(chunk);
        let state = match &base {
            Some(b) => {
                let theirs = &b[i * u..(i + 1) * u];
                if chunk == theirs {
                    Unit::Skip
                } else if zero {
                    Unit::Zero
                } else {
                    Unit::Plain
                }
            }
            None if zero => Unit::Skip,
            None => Unit::Plain,
        };
        let state = match (state, encoder) {
            (Unit::Plain, Some(enc)) => {
                let mut out = Vec::new();
                match enc.encode(chunk, &mut out)? {
                    Encoding::Encoded => {
                        encoded.push(out);
                        Unit::Encoded
                    }
                    Encoding::Plain => Unit::Plain,
                }
            }
            (s, _) => s,
        };
        units.push(state);
    }
    if let Some(b) = base {
        pool.put(b);
    }
    Ok(Done {
        seq: job.seq,
        job,
        buf,
        units,
        encoded,
    })
}

/// A job of units the source does not hold, over backing data: each unit must read as zeros,
/// which needs storing only where the backing file's bytes are not zeros already (allocated
/// blocks of a VHD or VHDX often hold zeros, their host file's holes).
fn zero_job(backing: Option<&DeviceRef>, unit: u64, job: Job, pool: &Pool) -> Result<Done> {
    let len = (job.count * unit) as usize;
    let mut units = vec![Unit::Zero; job.count as usize];
    let mut buf = pool.get(len);
    if let Some(b) = backing {
        let start = job.first * unit;
        let n = clamp_len(start, len, b.size());
        b.read_exact_at(start, &mut buf[..n])?;
        buf[n..].fill(0);
        for (i, chunk) in buf.chunks_exact(unit as usize).enumerate() {
            if is_zero(chunk) {
                units[i] = Unit::Skip;
            }
        }
    }
    Ok(Done {
        seq: job.seq,
        job,
        buf,
        units,
        encoded: Vec::new(),
    })
}

#[allow(clippy::too_many_arguments)]
fn emit(
    writer: &mut dyn ImageWriter,
    done: &Receiver<Result<Done>>,
    permits: &SyncSender<()>,
    pool: &Pool,
    unit: u64,
    size: u64,
    has_backing: bool,
    progress: &dyn ConvertProgress,
    stats: &mut PipelineStats,
) -> Result<()> {
    let mut waiting: BTreeMap<u64, Done> = BTreeMap::new();
    let mut next = 0u64;
    for r in done {
        let d = r?;
        waiting.insert(d.seq, d);
        while let Some(d) = waiting.remove(&next) {
            next += 1;
            let bytes = clamp_len(d.job.first * unit, (d.job.count * unit) as usize, size) as u64;
            store(writer, &d, unit, has_backing, stats)?;
            if d.job.action == Action::Read {
                stats.bytes_read += bytes;
            }
            progress.advance(bytes);
            pool.put(d.buf);
            let _ = permits.try_send(());
        }
    }
    if !waiting.is_empty() {
        return Err(Error::new(
            ErrorKind::Io,
            "conversion pipeline ended with jobs missing",
        ));
    }
    Ok(())
}

fn store(
    writer: &mut dyn ImageWriter,
    d: &Done,
    unit: u64,
    has_backing: bool,
    stats: &mut PipelineStats,
) -> Result<()> {
    let u = unit as usize;
    let mut enc = d.encoded.iter();
    let mut i = 0usize;
    while i < d.units.len() {
        let kind = d.units[i];
        let mut j = i + 1;
        while j < d.units.len() && d.units[j] == kind && kind != Unit::Encoded {
            j += 1;
        }
        let first = d.job.first + i as u64;
        let n = (j - i) as u64;
        match kind {
            Unit::Plain => {
                writer.write_units(first, &d.buf[i * u..j * u])?;
                stats.units_plain += n;
            }
            Unit::Encoded => {
                let data = enc.next().ok_or_else(|| {
                    Error::new(ErrorKind::Io, "encoded unit missing in the pipeline")
                })?;
                writer.write_encoded(first, data)?;
                stats.units_encoded += 1;
            }
            Unit::Zero if has_backing => {
                writer.write_zero_units(first, n)?;
                stats.units_zero += n;
            }
            Unit::Zero | Unit::Skip => stats.units_skipped += n,
        }
        i = j;
    }
    Ok(())
}
