//! The disk a UDIF image holds: reads through the chunk map, a bounded cache of decompressed
//! chunks, and parallel decompression of large reads.
//!
//! Every chunk of every blkx table becomes a [`Run`]: a byte range of the disk and where its
//! stored bytes are in the data fork. A read walks the runs it touches: zero and ignore chunks
//! (and gaps between tables) are zeros, raw chunks are copied from the data fork, compressed
//! chunks are decompressed. A compressed chunk the read covers whole is decompressed straight
//! into the caller's buffer; one it covers in part goes through the cache (so small reads of
//! file-system metadata do not decompress the same chunk again). When a read covers several
//! compressed chunks they are decompressed on several threads.

use super::codec;
use super::mish::ChunkKind;
use crate::device::{BlockDevice, DeviceRef, Extent, ExtentKind};
use crate::error::{Error, Result};
use crate::io::{ReadAt, clamp_len};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Bytes of decompressed chunks kept for partial reads.
const CACHE_BYTES: usize = 32 << 20;
/// Reads covering fewer compressed chunks than this decompress on the calling thread.
const PARALLEL_MIN_CHUNKS: usize = 2;

/// A chunk placed on the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// First byte on the disk.
    pub start: u64,
    /// Bytes on the disk.
    pub len: u64,
    /// What the chunk holds.
    pub kind: ChunkKind,
    /// Offset of the stored bytes in the data fork.
    pub src: u64,
    /// Length of the stored bytes.
    pub src_len: u64,
}

/// The disk inside a UDIF image.
pub struct UdifDevice {
    fork: DeviceRef,
    runs: Vec<Run>,
    size: u64,
    cache: Mutex<Cache>,
    threads: usize,
}

#[derive(Default)]
struct Cache {
    map: HashMap<usize, (Arc<[u8]>, u64)>,
    bytes: usize,
    tick: u64,
}

impl Cache {
    fn get(&mut self, i: usize) -> Option<Arc<[u8]>> {
        self.tick += 1;
        let tick = self.tick;
        self.map.get_mut(&i).map(|e| {
            e.1 = tick;
            e.0.clone()
        })
    }

    fn put(&mut self, i: usize, data: Arc<[u8]>) {
        while self.bytes + data.len() > CACHE_BYTES && !self.map.is_empty() {
            if let Some(old) = self.map.iter().min_by_key(|(_, e)| e.1).map(|(k, _)| *k) {
                if let Some((d, _)) = self.map.remove(&old) {
                    self.bytes -= d.len();
                }
            }
        }
        self.bytes += data.len();
        if let Some((d, _)) = self.map.insert(i, (data, self.tick)) {
            self.bytes -= d.len();
        }
    }
}

/// A piece of a read: `len` bytes at `within` of run `run` (or of a gap when `run` is None).
struct Piece {
    run: Option<usize>,
    within: u64,
}

impl UdifDevice {
    /// A device of `size` bytes over the data fork `fork`; `runs` sorted, not overlapping,
    /// inside the disk and the fork (checked by the caller).
    pub fn new(fork: DeviceRef, runs: Vec<Run>, size: u64) -> Self {
        UdifDevice {
            fork,
            runs,
            size,
            cache: Mutex::new(Cache::default()),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }

    /// The chunk map.
    pub fn runs(&self) -> &[Run] {
        &self.runs
    }

    /// The data fork (all segments, in order).
    pub fn fork(&self) -> &DeviceRef {
        &self.fork
    }

    /// Index of the first run ending after `offset`.
    fn first_run(&self, offset: u64) -> usize {
        self.runs.partition_point(|r| r.start + r.len <= offset)
    }

    /// Decompresses run `i` into `out` (its whole length).
    pub fn decode_run(&self, i: usize, out: &mut [u8]) -> Result<()> {
        let r = &self.runs[i];
        match r.kind {
            ChunkKind::Raw => self.fork.read_exact_at(r.src, out),
            k if k.is_compressed() => {
                let mut src = vec![0u8; r.src_len as usize];
                self.fork.read_exact_at(r.src, &mut src)?;
                codec::decompress(k, &src, out, r.src)
            }
            _ => {
                out.fill(0);
                Ok(())
            }
        }
    }

    /// The decompressed bytes of run `i`, through the cache.
    fn cached_run(&self, i: usize) -> Result<Arc<[u8]>> {
        if let Some(d) = self.lock().get(i) {
            return Ok(d);
        }
        let mut out = vec![0u8; self.runs[i].len as usize];
        self.decode_run(i, &mut out)?;
        let data: Arc<[u8]> = out.into();
        self.lock().put(i, data.clone());
        Ok(data)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Fills one piece of a read.
    fn fill(&self, p: &Piece, dest: &mut [u8]) -> Result<()> {
        let Some(i) = p.run else {
            dest.fill(0);
            return Ok(());
        };
        let r = &self.runs[i];
        match r.kind {
            ChunkKind::Raw => self.fork.read_exact_at(r.src + p.within, dest),
            k if k.is_compressed() => {
                if p.within == 0 && dest.len() as u64 == r.len {
                    if let Some(d) = self.lock().get(i) {
                        dest.copy_from_slice(&d);
                        return Ok(());
                    }
                    return self.decode_run(i, dest);
                }
                let d = self.cached_run(i)?;
                let s = p.within as usize;
                dest.copy_from_slice(&d[s..s + dest.len()]);
                Ok(())
            }
            _ => {
                dest.fill(0);
                Ok(())
            }
        }
    }
}

impl ReadAt for UdifDevice {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let n = clamp_len(offset, buf.len(), self.size);
        if n == 0 {
            return Ok(0);
        }
        let end = offset + n as u64;
        // Cut the read into pieces, one per run or gap.
        let mut pieces: Vec<(Piece, &mut [u8])> = Vec::new();
        let mut rest = &mut buf[..n];
        let mut pos = offset;
        let mut i = self.first_run(offset);
        while pos < end {
            let (piece, stop) = match self.runs.get(i) {
                Some(r) if r.start <= pos => {
                    let p = Piece {
                        run: Some(i),
                        within: pos - r.start,
                    };
                    i += 1;
                    (p, (r.start + r.len).min(end))
                }
                Some(r) => (
                    Piece {
                        run: None,
                        within: 0,
                    },
                    r.start.min(end),
                ),
                None => (
                    Piece {
                        run: None,
                        within: 0,
                    },
                    end,
                ),
            };
            let (head, tail) = std::mem::take(&mut rest).split_at_mut((stop - pos) as usize);
            rest = tail;
            pieces.push((piece, head));
            pos = stop;
        }
        let compressed = pieces
            .iter()
            .filter(|(p, _)| p.run.is_some_and(|i| self.runs[i].kind.is_compressed()))
            .count();
        if compressed < PARALLEL_MIN_CHUNKS || self.threads < 2 {
            for (p, dest) in &mut pieces {
                self.fill(p, dest)?;
            }
            return Ok(n);
        }
        // Several compressed chunks: share the pieces out among threads.
        let threads = self.threads.min(compressed);
        let mut groups: Vec<Vec<(Piece, &mut [u8])>> = (0..threads).map(|_| Vec::new()).collect();
        for (k, item) in pieces.into_iter().enumerate() {
            groups[k % threads].push(item);
        }
        let results: Vec<Result<()>> = std::thread::scope(|s| {
            let handles: Vec<_> = groups
                .into_iter()
                .map(|mut g| {
                    s.spawn(move || {
                        for (p, dest) in &mut g {
                            self.fill(p, dest)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(Error::new(
                            crate::ErrorKind::Io,
                            "a decompression thread failed (panicked)",
                        ))
                    })
                })
                .collect()
        });
        for r in results {
            r?;
        }
        Ok(n)
    }
}

impl BlockDevice for UdifDevice {
    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        let end = offset.saturating_add(len).min(self.size);
        let mut out: Vec<Extent> = Vec::new();
        let mut push = |s: u64, e: u64, kind: ExtentKind| {
            if e <= s {
                return;
            }
            if let Some(last) = out.last_mut() {
                if last.kind == kind && last.offset + last.len == s {
                    last.len += e - s;
                    return;
                }
            }
            out.push(Extent {
                offset: s,
                len: e - s,
                kind,
            });
        };
        let mut pos = offset;
        let mut i = self.first_run(offset);
        while pos < end {
            match self.runs.get(i) {
                Some(r) if r.start <= pos => {
                    let stop = (r.start + r.len).min(end);
                    let kind = match r.kind {
                        ChunkKind::Zero => ExtentKind::Zero,
                        ChunkKind::Ignore => ExtentKind::Unallocated,
                        _ => ExtentKind::Data,
                    };
                    push(pos, stop, kind);
                    pos = stop;
                    i += 1;
                }
                Some(r) => {
                    let stop = r.start.min(end);
                    push(pos, stop, ExtentKind::Unallocated);
                    pos = stop;
                }
                None => {
                    push(pos, end, ExtentKind::Unallocated);
                    pos = end;
                }
            }
        }
        Ok(out)
    }
}
