//! The set of byte ranges an [`AllocationMap`](super::AllocationMap) returns, built from used
//! blocks added in any order (an ext4 flex group keeps the bitmaps and inode tables of later
//! groups in its first group).
//!
//! Ranges closer than the set's gap are merged, so a fragmented volume gives a short list
//! (at most one range per gap of volume) at the price of copying some free blocks.

use std::collections::BTreeMap;

/// The gap allocation maps merge across: free runs shorter than this between used ones are
/// copied as used (a short list on a fragmented volume).
pub const MERGE_GAP: u64 = 1 << 20;

/// Disjoint ranges in order, stored as start -> end; ranges within `gap` bytes are merged.
#[derive(Debug, Default, Clone)]
pub struct RangeSet {
    ranges: BTreeMap<u64, u64>,
    gap: u64,
}

impl RangeSet {
    /// An empty set that merges ranges less than `gap` bytes apart (0: only touching ones).
    pub fn with_gap(gap: u64) -> Self {
        RangeSet {
            ranges: BTreeMap::new(),
            gap,
        }
    }

    /// Adds `len` bytes at `offset`.
    pub fn add(&mut self, offset: u64, len: u64) {
        let (mut s, mut e) = (offset, offset.saturating_add(len));
        if s >= e {
            return;
        }
        // Bitmaps are walked in order: extending the last range is the common case.
        if let Some(mut last) = self.ranges.last_entry() {
            if s >= *last.key() && s <= last.get().saturating_add(self.gap) {
                let end = last.get_mut();
                *end = (*end).max(e);
                return;
            }
        }
        while let Some((&a, &b)) = self.ranges.range(..=e.saturating_add(self.gap)).next_back() {
            if b.saturating_add(self.gap) < s {
                break;
            }
            self.ranges.remove(&a);
            s = s.min(a);
            e = e.max(b);
        }
        self.ranges.insert(s, e);
    }

    /// The ranges `(offset, len)` in order.
    pub fn ranges(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.ranges.iter().map(|(&s, &e)| (s, e - s))
    }

    /// The ranges that start in `[start, end)`, as `(start, end)`.
    pub fn spans_in(&self, start: u64, end: u64) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.ranges.range(start..end).map(|(&s, &e)| (s, e))
    }

    /// Bytes covered.
    pub fn total(&self) -> u64 {
        self.ranges.iter().map(|(s, e)| e - s).sum()
    }

    /// The list, in order.
    pub fn into_vec(self) -> Vec<(u64, u64)> {
        self.ranges.into_iter().map(|(s, e)| (s, e - s)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_in_any_order() {
        let mut r = RangeSet::with_gap(0);
        r.add(10, 10);
        r.add(30, 10);
        r.add(20, 10);
        r.add(5, 1);
        assert_eq!(r.ranges().collect::<Vec<_>>(), vec![(5, 1), (10, 30)]);
        r.add(0, 100);
        assert_eq!(r.total(), 100);
        let mut g = RangeSet::with_gap(8);
        g.add(100, 4);
        g.add(0, 4);
        g.add(110, 1);
        g.add(50, 0);
        assert_eq!(g.into_vec(), vec![(0, 4), (100, 11)]);
    }
}
