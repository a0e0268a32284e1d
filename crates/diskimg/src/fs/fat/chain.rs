//! Cluster chains, shared by FAT and exFAT: following a chain into runs of consecutive
//! clusters, with loops and dangling links reported as corruption, and mapping file offsets
//! to device offsets through those runs.
//!
//! A chain that comes back to a cluster it already used is a loop; within one chain it is
//! always found (runs that overlap), and a directory chain is also bounded by its format's
//! largest directory. Two files that share clusters (a cross-link) are each read as their
//! chains say; a directory reached twice is refused by the tree walk (`fs::path`), which knows
//! directories by their first cluster.

use crate::error::{Error, Result};
use crate::fs::FileExtent;
use std::sync::{Arc, Mutex};

/// What a FAT entry says about the cluster after this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Link {
    /// The chain goes on at this cluster.
    Next(u32),
    /// End of chain.
    End,
    /// The entry is free: a chain should never reach it.
    Free,
    /// The cluster is marked bad.
    Bad,
}

/// Consecutive clusters of one chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Run {
    /// Index of the run's first cluster within the file (0-based).
    pub file_cluster: u64,
    /// Its first cluster number on the volume.
    pub first: u32,
    /// Number of clusters.
    pub len: u32,
}

/// Where clusters live: the cluster heap and its shape.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Heap {
    /// Byte offset of cluster 2 on the device.
    pub offset: u64,
    /// Bytes per cluster.
    pub cluster_size: u64,
    /// Number of clusters (valid numbers are 2 ..= count + 1).
    pub count: u32,
}

impl Heap {
    /// Whether `cluster` names a cluster of the heap.
    pub fn valid(&self, cluster: u32) -> bool {
        cluster >= 2 && u64::from(cluster) < u64::from(self.count) + 2
    }

    /// Device offset of a valid cluster.
    pub fn cluster_offset(&self, cluster: u32) -> u64 {
        self.offset + u64::from(cluster - 2) * self.cluster_size
    }
}

/// Follows the chain that starts at `first`. With `need`, stops after that many clusters
/// (a file's size tells how many it has) and fails if the chain is shorter; without it, goes to
/// the end-of-chain mark. More than `max` clusters is an error either way.
pub(crate) fn follow(
    format: &'static str,
    heap: &Heap,
    first: u32,
    need: Option<u64>,
    max: u64,
    mut next: impl FnMut(u32) -> Result<Link>,
) -> Result<Vec<Run>> {
    let mut runs: Vec<Run> = Vec::new();
    let mut cur = first;
    let mut n: u64 = 0;
    if need == Some(0) {
        return Ok(runs);
    }
    if let Some(need) = need.filter(|&n| n > u64::from(heap.count)) {
        return Err(Error::corrupt(
            format,
            "cluster chain",
            heap.offset,
            format!(
                "{need} clusters are needed but the volume has {}",
                heap.count
            ),
        ));
    }
    loop {
        if !heap.valid(cur) {
            return Err(Error::corrupt(
                format,
                "cluster chain",
                heap.offset,
                format!(
                    "cluster {cur} (cluster {n} of a chain starting at {first}) is outside the volume's {} clusters",
                    heap.count
                ),
            ));
        }
        match runs.last_mut() {
            Some(r) if u64::from(r.first) + u64::from(r.len) == u64::from(cur) => r.len += 1,
            _ => runs.push(Run {
                file_cluster: n,
                first: cur,
                len: 1,
            }),
        }
        n += 1;
        if need == Some(n) {
            break;
        }
        if n >= max {
            check_loops(format, heap, &runs, first)?;
            return Err(Error::limit(
                format,
                "cluster chain",
                heap.cluster_offset(first),
                format!("chain starting at cluster {first} is longer than {max} clusters"),
            ));
        }
        match next(cur)? {
            Link::Next(c) => cur = c,
            Link::End => break,
            link @ (Link::Free | Link::Bad) => {
                let what = if link == Link::Bad { "bad" } else { "free" };
                return Err(Error::corrupt(
                    format,
                    "cluster chain",
                    heap.cluster_offset(first),
                    format!(
                        "chain starting at cluster {first} runs into a {what} cluster after {cur}"
                    ),
                ));
            }
        }
    }
    if let Some(need) = need {
        if n < need {
            return Err(Error::corrupt(
                format,
                "cluster chain",
                heap.cluster_offset(first),
                format!("chain starting at cluster {first} ends after {n} of {need} clusters"),
            ));
        }
    }
    check_loops(format, heap, &runs, first)?;
    Ok(runs)
}

/// One contiguous run of `len` clusters from `first` (exFAT files marked NoFatChain).
pub(crate) fn contiguous(
    format: &'static str,
    heap: &Heap,
    first: u32,
    len: u64,
) -> Result<Vec<Run>> {
    if len == 0 {
        return Ok(Vec::new());
    }
    let last = u64::from(first) + len - 1;
    if !heap.valid(first) || last >= u64::from(heap.count) + 2 {
        return Err(Error::corrupt(
            format,
            "contiguous allocation",
            heap.offset,
            format!(
                "clusters {first}..={last} lie outside the volume's {} clusters",
                heap.count
            ),
        ));
    }
    Ok(vec![Run {
        file_cluster: 0,
        first,
        len: u32::try_from(len).unwrap_or(u32::MAX),
    }])
}

fn check_loops(format: &'static str, heap: &Heap, runs: &[Run], first: u32) -> Result<()> {
    let mut sorted: Vec<(u64, u64)> = runs
        .iter()
        .map(|r| (u64::from(r.first), u64::from(r.first) + u64::from(r.len)))
        .collect();
    sorted.sort_unstable();
    for w in sorted.windows(2) {
        if w[1].0 < w[0].1 {
            return Err(Error::corrupt(
                format,
                "cluster chain",
                heap.cluster_offset(first),
                format!(
                    "chain starting at cluster {first} uses cluster {} twice (a loop)",
                    w[1].0
                ),
            ));
        }
    }
    Ok(())
}

/// The device range holding file byte `offset`: its device offset and how many bytes follow
/// contiguously, or `None` past the runs.
pub(crate) fn locate(runs: &[Run], heap: &Heap, offset: u64) -> Option<(u64, u64)> {
    let cs = heap.cluster_size;
    let cluster = offset / cs;
    let i = runs
        .partition_point(|r| r.file_cluster <= cluster)
        .checked_sub(1)?;
    let r = &runs[i];
    let within = cluster - r.file_cluster;
    if within >= u64::from(r.len) {
        return None;
    }
    let dev = heap.cluster_offset(r.first) + within * cs + offset % cs;
    let left = (u64::from(r.len) - within) * cs - offset % cs;
    Some((dev, left))
}

/// The runs as file extents, cut at `size`.
pub(crate) fn extents(runs: &[Run], heap: &Heap, size: u64) -> Vec<FileExtent> {
    let mut out = Vec::with_capacity(runs.len());
    for r in runs {
        let file_offset = r.file_cluster * heap.cluster_size;
        if file_offset >= size {
            break;
        }
        let len = (u64::from(r.len) * heap.cluster_size).min(size - file_offset);
        out.push(FileExtent {
            file_offset,
            len,
            device_offset: Some(heap.cluster_offset(r.first)),
        });
    }
    out
}

/// Recently followed chains, so that many small reads of one file walk its chain once.
pub(crate) struct RunCache {
    entries: Mutex<Vec<(u64, Arc<Vec<Run>>)>>,
}

/// Chains kept.
const RUN_CACHE_ENTRIES: usize = 64;

impl RunCache {
    pub fn new() -> Self {
        RunCache {
            entries: Mutex::new(Vec::new()),
        }
    }

    /// The runs cached under `key`, or those `make` returns (then cached).
    pub fn get(&self, key: u64, make: impl FnOnce() -> Result<Vec<Run>>) -> Result<Arc<Vec<Run>>> {
        {
            let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(i) = e.iter().position(|(k, _)| *k == key) {
                let hit = e.remove(i);
                let runs = hit.1.clone();
                e.push(hit);
                return Ok(runs);
            }
        }
        let runs = Arc::new(make()?);
        let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if e.len() >= RUN_CACHE_ENTRIES {
            e.remove(0);
        }
        e.push((key, runs.clone()));
        Ok(runs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    const HEAP: Heap = Heap {
        offset: 1000,
        cluster_size: 512,
        count: 100,
    };

    fn table(links: &[(u32, Link)]) -> impl FnMut(u32) -> Result<Link> + '_ {
        move |c| {
            Ok(links
                .iter()
                .find(|(k, _)| *k == c)
                .map_or(Link::Free, |(_, l)| *l))
        }
    }

    #[test]
    fn merges_consecutive_clusters_into_runs() {
        let t = [
            (5, Link::Next(6)),
            (6, Link::Next(7)),
            (7, Link::Next(20)),
            (20, Link::End),
        ];
        let runs = follow("fat", &HEAP, 5, None, 1000, table(&t)).unwrap();
        assert_eq!(
            runs,
            vec![
                Run {
                    file_cluster: 0,
                    first: 5,
                    len: 3
                },
                Run {
                    file_cluster: 3,
                    first: 20,
                    len: 1
                }
            ]
        );
        assert_eq!(
            locate(&runs, &HEAP, 3 * 512 + 7),
            Some((1000 + 18 * 512 + 7, 505))
        );
        assert_eq!(locate(&runs, &HEAP, 4 * 512), None);
        let ext = extents(&runs, &HEAP, 3 * 512 + 10);
        assert_eq!(ext[1].len, 10);
    }

    #[test]
    fn loops_bad_links_and_short_chains_are_corrupt() {
        let looped = [(5, Link::Next(6)), (6, Link::Next(5))];
        let e = follow("fat", &HEAP, 5, Some(10), 1000, table(&looped)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
        let e = follow("fat", &HEAP, 5, None, 50, table(&looped)).unwrap_err();
        assert!(e.to_string().contains("loop"), "{e}");
        let outside = [(5, Link::Next(500))];
        let e = follow("fat", &HEAP, 5, None, 1000, table(&outside)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt);
        let short = [(5, Link::End)];
        let e = follow("fat", &HEAP, 5, Some(2), 1000, table(&short)).unwrap_err();
        assert!(e.to_string().contains("ends after 1 of 2"), "{e}");
        let free = [(5, Link::Next(9))];
        assert!(follow("fat", &HEAP, 5, None, 1000, table(&free)).is_err());
        assert!(contiguous("exfat", &HEAP, 99, 5).is_err());
    }
}
