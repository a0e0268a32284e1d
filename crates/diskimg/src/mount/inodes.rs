//! The bounded table between FUSE inode numbers and `(view, NodeId)` pairs.
//!
//! File systems name nodes by opaque 64-bit ids (byte offsets, MFT numbers, catalog places)
//! that cannot serve as inode numbers directly: several views share one mount, and ids may be
//! 0 or collide with the root's number. Each node the kernel meets gets a small number here,
//! the same one for as long as the kernel remembers it. The kernel's lookup count decides
//! that: an inode returned by `lookup` stays until `forget` brings its count to zero; one
//! merely listed by `readdir` is "weak" and may be evicted when the table is full. Memory is
//! bounded by [`MAX_INODES`] plus what the kernel itself holds.

use std::collections::{HashMap, VecDeque};

/// Weak entries kept before the oldest are evicted.
pub const MAX_INODES: usize = 1 << 20;

/// A node of one view.
pub type Key = (u32, u64);

struct Entry {
    key: Key,
    lookups: u64,
    pinned: bool,
}

/// Inode numbers for nodes.
pub struct InodeTable {
    by_ino: HashMap<u64, Entry>,
    by_key: HashMap<Key, u64>,
    weak: VecDeque<u64>,
    next: u64,
}

impl InodeTable {
    /// An empty table whose numbers start at `first`.
    pub fn new(first: u64) -> Self {
        InodeTable {
            by_ino: HashMap::new(),
            by_key: HashMap::new(),
            weak: VecDeque::new(),
            next: first,
        }
    }

    /// A number that is never forgotten (the roots of the views).
    pub fn pin(&mut self, ino: u64, key: Key) {
        self.by_ino.insert(
            ino,
            Entry {
                key,
                lookups: 0,
                pinned: true,
            },
        );
        self.by_key.insert(key, ino);
    }

    /// The node behind `ino`, if the table still knows it.
    pub fn get(&self, ino: u64) -> Option<Key> {
        self.by_ino.get(&ino).map(|e| e.key)
    }

    /// The number of `key`, made if needed. `lookup` counts a kernel reference (a `lookup`
    /// or `readdirplus` reply); otherwise the entry is weak until one comes.
    pub fn ino(&mut self, key: Key, lookup: bool) -> u64 {
        if let Some(&ino) = self.by_key.get(&key) {
            if lookup {
                if let Some(e) = self.by_ino.get_mut(&ino) {
                    e.lookups += 1;
                }
            }
            return ino;
        }
        let ino = self.next;
        self.next += 1;
        self.by_ino.insert(
            ino,
            Entry {
                key,
                lookups: u64::from(lookup),
                pinned: false,
            },
        );
        self.by_key.insert(key, ino);
        if !lookup {
            self.weak.push_back(ino);
            self.evict();
        }
        ino
    }

    /// The kernel dropped `n` references to `ino`.
    pub fn forget(&mut self, ino: u64, n: u64) {
        let remove = match self.by_ino.get_mut(&ino) {
            Some(e) if !e.pinned => {
                e.lookups = e.lookups.saturating_sub(n);
                e.lookups == 0
            }
            _ => false,
        };
        if remove {
            if let Some(e) = self.by_ino.remove(&ino) {
                self.by_key.remove(&e.key);
            }
        }
    }

    /// Entries held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_ino.len()
    }

    fn evict(&mut self) {
        while self.weak.len() > MAX_INODES {
            let Some(ino) = self.weak.pop_front() else {
                break;
            };
            if self
                .by_ino
                .get(&ino)
                .is_some_and(|e| e.lookups == 0 && !e.pinned)
            {
                if let Some(e) = self.by_ino.remove(&ino) {
                    self.by_key.remove(&e.key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_stable_while_referenced() {
        let mut t = InodeTable::new(10);
        t.pin(1, (0, 99));
        let a = t.ino((0, 5), true);
        assert_eq!(t.ino((0, 5), false), a);
        assert_eq!(t.get(a), Some((0, 5)));
        let b = t.ino((1, 5), true);
        assert_ne!(a, b);
        t.forget(a, 1);
        assert_eq!(t.get(a), None);
        t.forget(1, 100);
        assert_eq!(t.get(1), Some((0, 99)));
    }

    #[test]
    fn weak_entries_are_bounded() {
        let mut t = InodeTable::new(2);
        let kept = t.ino((0, u64::MAX), true);
        for i in 0..(MAX_INODES as u64 + 10) {
            t.ino((0, i), false);
        }
        assert!(t.len() <= MAX_INODES + 1);
        assert_eq!(t.get(kept), Some((0, u64::MAX)));
    }
}
