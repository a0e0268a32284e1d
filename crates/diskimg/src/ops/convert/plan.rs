//! The planner: which units of the output are read, marked zero, or skipped.
//!
//! Only the source's allocation map is consulted here; no data is read. A unit that holds any
//! `Data` of the source is read. Without a backing file every other unit is skipped (it reads
//! as zeros in the new image too). With a backing file, a unit that is wholly zero or
//! unallocated in the source must still read as zeros in the new image: it is skipped where
//! the backing file has no data either, else marked zero (the workers then read the backing
//! file's bytes and store a zero unit only where they are not zeros); a unit only partly
//! covered is read and compared.

use crate::device::{BlockDevice, DeviceRef, ExtentKind};
use crate::error::Result;

/// What happens to a run of units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read from the source (and compare with the backing file, if any).
    Read,
    /// Reads as zeros over a backing file that has data there (zeros stored where that data
    /// is not zeros).
    Zero,
    /// Nothing to write.
    Skip,
}

/// A run of units with one action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// First unit.
    pub first: u64,
    /// Units in the run.
    pub count: u64,
    /// What to do.
    pub action: Action,
}

/// Collects runs in unit order, each unit assigned once: the first assignment wins, so a unit
/// shared by a data extent and a following hole stays `Read`.
pub struct Planner {
    unit: u64,
    next: u64,
    total_units: u64,
    runs: Vec<Run>,
}

impl Planner {
    /// A planner for a device of `size` bytes cut in `unit`-byte units.
    pub fn new(size: u64, unit: u64) -> Self {
        Planner {
            unit,
            next: 0,
            total_units: size.div_ceil(unit),
            runs: Vec::new(),
        }
    }

    fn assign(&mut self, first: u64, end: u64, action: Action) {
        let first = first.max(self.next);
        let end = end.min(self.total_units);
        if first >= end {
            return;
        }
        if first > self.next {
            // Units no extent named (cannot happen with gap-free extents): nothing to write.
            self.push(self.next, first, Action::Skip);
        }
        self.push(first, end, action);
        self.next = end;
    }

    fn push(&mut self, first: u64, end: u64, action: Action) {
        if let Some(last) = self.runs.last_mut() {
            if last.action == action && last.first + last.count == first {
                last.count += end - first;
                return;
            }
        }
        self.runs.push(Run {
            first,
            count: end - first,
            action,
        });
    }

    /// Plans `[offset, offset + len)` (unit-aligned `offset`) from the source's extents and,
    /// if given, the backing file's.
    pub fn plan(
        &mut self,
        source: &DeviceRef,
        backing: Option<&DeviceRef>,
        offset: u64,
        len: u64,
    ) -> Result<()> {
        let u = self.unit;
        for e in source.extents(offset, len)? {
            let (s, t) = (e.offset, e.offset + e.len);
            if e.kind == ExtentKind::Data {
                self.assign(s / u, t.div_ceil(u), Action::Read);
                continue;
            }
            let Some(b) = backing else {
                // Partial units at the edges belong to the neighbouring data extents.
                self.assign(s.div_ceil(u), t / u, Action::Skip);
                continue;
            };
            let (full_s, full_t) = (s.div_ceil(u), t / u);
            if full_s >= full_t {
                self.assign(s / u, t.div_ceil(u), Action::Read);
                continue;
            }
            if s % u != 0 {
                self.assign(s / u, full_s, Action::Read);
            }
            self.backing_runs(b, full_s * u, full_t * u)?;
            if t % u != 0 {
                self.assign(full_t, t.div_ceil(u), Action::Read);
            }
        }
        Ok(())
    }

    /// Units `[s, t)` (aligned) that the source does not hold: zero where the backing file has
    /// data (or may have, in a partial unit), skipped elsewhere.
    fn backing_runs(&mut self, b: &DeviceRef, s: u64, t: u64) -> Result<()> {
        let u = self.unit;
        let covered = t.min(b.size().max(s));
        let mut pos = s;
        if covered > s {
            for e in b.extents(s, covered - s)? {
                let (es, et) = (e.offset.max(pos), e.offset + e.len);
                if e.kind == ExtentKind::Data {
                    self.assign(es / u, et.div_ceil(u), Action::Zero);
                } else {
                    self.assign(es.div_ceil(u), et / u, Action::Skip);
                    // Partial units at the edges hold backing data on their other side and
                    // were (or will be) marked zero by that extent.
                }
                pos = et;
            }
        }
        self.assign(pos.div_ceil(u).min(t / u), t / u, Action::Skip);
        Ok(())
    }

    /// Takes the runs planned so far. Units never assigned (parts of holes) are skipped.
    pub fn take(&mut self) -> Vec<Run> {
        std::mem::take(&mut self.runs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{BlockDevice, Extent};
    use crate::io::ReadAt;
    use std::sync::Arc;

    struct Fake {
        size: u64,
        extents: Vec<Extent>,
    }
    impl ReadAt for Fake {
        fn size(&self) -> u64 {
            self.size
        }
        fn read_at(&self, _: u64, buf: &mut [u8]) -> Result<usize> {
            buf.fill(0);
            Ok(buf.len())
        }
    }
    impl BlockDevice for Fake {
        fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
            let end = offset + len;
            Ok(self
                .extents
                .iter()
                .filter(|e| e.offset < end && e.offset + e.len > offset)
                .map(|e| {
                    let s = e.offset.max(offset);
                    let t = (e.offset + e.len).min(end);
                    Extent {
                        offset: s,
                        len: t - s,
                        kind: e.kind,
                    }
                })
                .collect())
        }
    }
    fn ext(offset: u64, len: u64, kind: ExtentKind) -> Extent {
        Extent { offset, len, kind }
    }

    #[test]
    fn data_units_round_outwards_and_holes_skip() {
        let src: DeviceRef = Arc::new(Fake {
            size: 100,
            extents: vec![
                ext(0, 15, ExtentKind::Data),
                ext(15, 50, ExtentKind::Zero),
                ext(65, 35, ExtentKind::Data),
            ],
        });
        let mut p = Planner::new(100, 10);
        p.plan(&src, None, 0, 100).unwrap();
        let runs = p.take();
        assert_eq!(
            runs,
            vec![
                Run {
                    first: 0,
                    count: 2,
                    action: Action::Read
                },
                Run {
                    first: 2,
                    count: 4,
                    action: Action::Skip
                },
                Run {
                    first: 6,
                    count: 4,
                    action: Action::Read
                },
            ]
        );
    }

    #[test]
    fn over_a_backing_file_holes_become_zero_where_it_has_data() {
        let src: DeviceRef = Arc::new(Fake {
            size: 100,
            extents: vec![ext(0, 100, ExtentKind::Unallocated)],
        });
        let back: DeviceRef = Arc::new(Fake {
            size: 55,
            extents: vec![ext(0, 20, ExtentKind::Zero), ext(20, 35, ExtentKind::Data)],
        });
        let mut p = Planner::new(100, 10);
        p.plan(&src, Some(&back), 0, 100).unwrap();
        assert_eq!(
            p.take(),
            vec![
                Run {
                    first: 0,
                    count: 2,
                    action: Action::Skip
                },
                Run {
                    first: 2,
                    count: 4,
                    action: Action::Zero
                },
                Run {
                    first: 6,
                    count: 4,
                    action: Action::Skip
                },
            ]
        );
    }
}
