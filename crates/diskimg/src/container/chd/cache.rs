//! A small cache of decompressed hunks, so that reads of neighbouring sectors (a file system
//! walking its structures, 2048-byte reads inside a 19584-byte CD hunk) decompress each hunk
//! once. `io::BlockCache` caches power-of-two blocks of a byte source; CD hunks are 8 frames of
//! 2448 bytes, so the cache here is keyed by hunk number instead. Sharded LRU, no I/O or
//! decompression under a lock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const SHARDS: usize = 8;

#[derive(Default)]
struct Shard {
    map: HashMap<u32, (Arc<[u8]>, u64)>,
    tick: u64,
}

/// Decompressed hunks by number, at most about `capacity` bytes.
pub struct HunkCache {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
}

impl HunkCache {
    /// A cache for hunks of `hunk_bytes` holding about `capacity` bytes.
    pub fn new(hunk_bytes: u32, capacity: u64) -> HunkCache {
        let hunks = (capacity / u64::from(hunk_bytes.max(1))).max(SHARDS as u64);
        HunkCache {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard: usize::try_from(hunks / SHARDS as u64).unwrap_or(1).max(1),
        }
    }

    fn shard(&self, n: u32) -> std::sync::MutexGuard<'_, Shard> {
        self.shards[n as usize % SHARDS]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The hunk, if cached.
    pub fn get(&self, n: u32) -> Option<Arc<[u8]>> {
        let mut s = self.shard(n);
        s.tick += 1;
        let tick = s.tick;
        s.map.get_mut(&n).map(|e| {
            e.1 = tick;
            e.0.clone()
        })
    }

    /// Keeps a hunk, evicting the least recently used of its shard when full.
    pub fn insert(&self, n: u32, data: Arc<[u8]>) {
        let mut s = self.shard(n);
        if s.map.len() >= self.per_shard && !s.map.contains_key(&n) {
            if let Some(old) = s.map.iter().min_by_key(|(_, e)| e.1).map(|(k, _)| *k) {
                s.map.remove(&old);
            }
        }
        let tick = s.tick;
        s.map.insert(n, (data, tick));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_when_full() {
        let c = HunkCache::new(100, 800);
        for n in 0..100u32 {
            c.insert(n, vec![n as u8; 100].into());
        }
        let kept = (0..100u32).filter(|&n| c.get(n).is_some()).count();
        assert!(kept <= SHARDS && kept > 0, "{kept}");
        assert_eq!(c.get(99).unwrap()[0], 99);
    }
}
