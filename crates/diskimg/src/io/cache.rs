//! A bounded block cache in front of a slow or structured source.
//!
//! Blocks are fixed-size and aligned; the cache is split in shards, each behind its own mutex,
//! so concurrent readers rarely wait on each other. Reads never happen under a lock. Large
//! aligned reads bypass the cache so that streaming a big file does not flush what parsers need.

use super::{HostSpan, ReadAt, clamp_len};
use crate::device::{BlockDevice, Extent, Geometry};
use crate::error::Result;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const SHARDS: usize = 8;
/// Requests covering at least this many whole blocks skip the cache.
const BYPASS_BLOCKS: u64 = 4;

/// An LRU block cache over `inner`, holding at most about `capacity` bytes.
pub struct BlockCache<R> {
    inner: R,
    block_size: u64,
    per_shard: usize,
    shards: Box<[Mutex<Shard>]>,
}

#[derive(Default)]
struct Shard {
    map: HashMap<u64, Entry>,
    tick: u64,
}

struct Entry {
    data: Arc<[u8]>,
    used: u64,
}

impl<R: ReadAt> BlockCache<R> {
    /// A cache of `block_size`-byte blocks (a power of two) holding about `capacity` bytes.
    pub fn new(inner: R, block_size: u32, capacity: u64) -> Self {
        let block_size = u64::from(block_size.max(512).next_power_of_two());
        let blocks = (capacity / block_size).max(SHARDS as u64);
        let per_shard = usize::try_from(blocks / SHARDS as u64)
            .unwrap_or(usize::MAX)
            .max(1);
        let shards = (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect();
        BlockCache {
            inner,
            block_size,
            per_shard,
            shards,
        }
    }

    /// The source underneath.
    pub fn inner(&self) -> &R {
        &self.inner
    }

    fn block(&self, index: u64) -> Result<Arc<[u8]>> {
        let shard = &self.shards[(index % SHARDS as u64) as usize];
        {
            let mut s = shard.lock().unwrap_or_else(|p| p.into_inner());
            s.tick += 1;
            let tick = s.tick;
            if let Some(e) = s.map.get_mut(&index) {
                e.used = tick;
                return Ok(e.data.clone());
            }
        }
        let start = index * self.block_size;
        let len = clamp_len(start, self.block_size as usize, self.inner.size());
        let mut data = vec![0u8; len];
        self.inner.read_exact_at(start, &mut data)?;
        let data: Arc<[u8]> = data.into();
        let mut s = shard.lock().unwrap_or_else(|p| p.into_inner());
        if s.map.len() >= self.per_shard {
            if let Some(oldest) = s.map.iter().min_by_key(|(_, e)| e.used).map(|(k, _)| *k) {
                s.map.remove(&oldest);
            }
        }
        let used = s.tick;
        s.map.insert(
            index,
            Entry {
                data: data.clone(),
                used,
            },
        );
        Ok(data)
    }
}

impl<R: ReadAt> ReadAt for BlockCache<R> {
    fn size(&self) -> u64 {
        self.inner.size()
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let n = clamp_len(offset, buf.len(), self.size());
        let bs = self.block_size;
        if n as u64 >= BYPASS_BLOCKS * bs && offset % bs == 0 {
            return self.inner.read_at(offset, &mut buf[..n]);
        }
        let mut done = 0usize;
        while done < n {
            let pos = offset + done as u64;
            let block = self.block(pos / bs)?;
            let within = (pos % bs) as usize;
            if within >= block.len() {
                break;
            }
            let take = (block.len() - within).min(n - done);
            buf[done..done + take].copy_from_slice(&block[within..within + take]);
            done += take;
        }
        Ok(done)
    }

    fn host_span(&self, offset: u64, len: u64) -> Option<HostSpan<'_>> {
        self.inner.host_span(offset, len)
    }
}

impl<R: BlockDevice> BlockDevice for BlockCache<R> {
    fn geometry(&self) -> Geometry {
        self.inner.geometry()
    }

    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        self.inner.extents(offset, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::MemorySource;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting {
        inner: MemorySource,
        reads: AtomicUsize,
    }

    impl ReadAt for Counting {
        fn size(&self) -> u64 {
            self.inner.size()
        }
        fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
            self.reads.fetch_add(1, Ordering::Relaxed);
            self.inner.read_at(offset, buf)
        }
    }

    #[test]
    fn caches_repeated_small_reads_and_matches_source() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let src = Counting {
            inner: MemorySource::new(data.clone()),
            reads: AtomicUsize::new(0),
        };
        let cache = BlockCache::new(src, 4096, 64 * 1024);
        for round in 0..3 {
            for off in [0u64, 100, 4000, 4095, 8191, 99_990] {
                let mut buf = [0u8; 50];
                let n = cache.read_at(off, &mut buf).unwrap();
                let end = (off as usize + 50).min(data.len());
                assert_eq!(
                    &buf[..n],
                    &data[off as usize..end],
                    "round {round} off {off}"
                );
            }
        }
        assert!(cache.inner().reads.load(Ordering::Relaxed) <= 8);
        let mut big = vec![0u8; 20_000];
        cache.read_exact_at(40_960, &mut big).unwrap();
        assert_eq!(&big[..], &data[40_960..60_960]);
    }

    #[test]
    fn stays_bounded() {
        let cache = BlockCache::new(MemorySource::new(vec![1u8; 1 << 20]), 4096, 32 * 1024);
        for i in 0..256u64 {
            let mut b = [0u8; 1];
            cache.read_at(i * 4096, &mut b).unwrap();
        }
        let held: usize = cache
            .shards
            .iter()
            .map(|s| s.lock().unwrap().map.len())
            .sum();
        assert!(held <= 8, "{held} blocks held");
    }
}
