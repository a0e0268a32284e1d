//! Segmented DMGs (`name.dmg`, `name.002.dmgpart`, `name.003.dmgpart`, ...): the data forks of
//! every segment, concatenated, are the image's data fork.
//!
//! Every segment ends with its own koly trailer giving its number, the count, the shared
//! segment id, and where its data fork sits in the whole (`running data fork offset`). The
//! first segment holds the property list for all of them. [`ConcatSource`] puts the pieces
//! side by side; reads that cross a segment boundary are split.

use crate::device::BlockDevice;
use crate::error::Result;
use crate::io::{ReadAt, clamp_len};
use std::path::{Path, PathBuf};

/// Most segments of one image.
pub const MAX_SEGMENTS: u32 = 999;

/// Sources placed one after another.
pub struct ConcatSource {
    /// (start in the whole, source).
    parts: Vec<(u64, Box<dyn ReadAt>)>,
    size: u64,
}

impl ConcatSource {
    /// Places `parts` one after another, in order.
    pub fn new(parts: Vec<Box<dyn ReadAt>>) -> Self {
        let mut at = 0u64;
        let mut placed = Vec::with_capacity(parts.len());
        for p in parts {
            let len = p.size();
            placed.push((at, p));
            at = at.saturating_add(len);
        }
        ConcatSource {
            parts: placed,
            size: at,
        }
    }
}

impl ReadAt for ConcatSource {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let n = clamp_len(offset, buf.len(), self.size);
        let mut done = 0usize;
        let mut i = self.parts.partition_point(|(s, p)| s + p.size() <= offset);
        while done < n {
            let Some((start, part)) = self.parts.get(i) else {
                break;
            };
            let pos = offset + done as u64;
            let within = pos - start;
            let take = clamp_len(within, n - done, part.size());
            if take == 0 {
                i += 1;
                continue;
            }
            part.read_exact_at(within, &mut buf[done..done + take])?;
            done += take;
            i += 1;
        }
        Ok(done)
    }
}

impl BlockDevice for ConcatSource {}

/// The name of segment `n` (2 and up) of the image whose first segment is `first`:
/// `name.dmg` -> `name.00N.dmgpart`.
pub fn segment_path(first: &Path, n: u32) -> PathBuf {
    let stem = first
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    first.with_file_name(format!("{stem}.{n:03}.dmgpart"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::MemorySource;

    #[test]
    fn reads_across_parts() {
        let c = ConcatSource::new(vec![
            Box::new(MemorySource::new(b"abc".to_vec())),
            Box::new(MemorySource::new(Vec::new())),
            Box::new(MemorySource::new(b"defgh".to_vec())),
        ]);
        assert_eq!(c.size(), 8);
        let mut b = [0u8; 8];
        c.read_exact_at(0, &mut b).unwrap();
        assert_eq!(&b, b"abcdefgh");
        let mut b = [0u8; 4];
        c.read_exact_at(2, &mut b).unwrap();
        assert_eq!(&b, b"cdef");
        assert_eq!(c.read_at(8, &mut b).unwrap(), 0);
        assert_eq!(
            segment_path(Path::new("/x/app.dmg"), 2),
            Path::new("/x/app.002.dmgpart")
        );
    }
}
