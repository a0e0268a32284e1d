//! A guest device assembled from a format's block map: the shared read and allocation engine
//! of the block-mapped containers (VHD, VHDX, VDI, VMDK).
//!
//! A format describes its guest view as a [`BlockMap`]: for any guest offset, what kind of
//! [`Run`] starts there and how long it is. [`MappedDevice`] turns that into positioned reads
//! and into `extents`, falling through to a parent device where this layer has nothing. Reads
//! take `&self`; the map keeps its caches behind interior mutability, so many threads read at
//! once.
//!
//! ```text
//!   guest offset --BlockMap::lookup--> Stored(file, offset) | Flat(file, offset) | Zero
//!                                      | Absent (-> parent, or zeros) | Decoded (map decodes)
//! ```

use crate::device::{BlockDevice, DeviceRef, Extent, ExtentKind, Geometry};
use crate::error::{Error, Result};
use crate::io::{HostSpan, ReadAt, clamp_len};

/// What a run of the guest device is in one layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Run {
    /// Allocated in this layer, stored plainly at `offset` of source `source`.
    Stored {
        /// Index of the host source ([`BlockMap::source`]).
        source: usize,
        /// Byte offset in that source.
        offset: u64,
    },
    /// Stored plainly in a flat file that has no allocation map of its own (fixed VHD, static
    /// VDI, flat VMDK extent): the host file's holes are reported as zeros.
    Flat {
        /// Index of the host source.
        source: usize,
        /// Byte offset in that source.
        offset: u64,
    },
    /// Reads as zeros (a zero block, a zero grain, a ZERO extent).
    Zero,
    /// Not in this layer: falls through to the parent, or reads as zeros without one.
    Absent,
    /// Stored in a form only the map can decode (a compressed grain).
    Decoded,
}

/// A format's guest view: size, runs and the host files they point into.
pub(crate) trait BlockMap: Send + Sync {
    /// Guest size in bytes.
    fn size(&self) -> u64;

    /// The run at `offset` (below `size()`) and its length: at least 1 byte, at most `max_len`
    /// (which is at least 1), never past `size()`.
    fn lookup(&self, offset: u64, max_len: u64) -> Result<(Run, u64)>;

    /// Host source number `index`, as named in [`Run::Stored`] and [`Run::Flat`].
    fn source(&self, index: usize) -> &dyn BlockDevice;

    /// Fills `buf` with the guest bytes at `offset`, for a range that `lookup` called
    /// [`Run::Decoded`].
    fn decode(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let _ = buf;
        Err(Error::new(
            crate::ErrorKind::Corrupt,
            format!("no decoder for the run at guest byte {offset}"),
        ))
    }
}

/// A [`BlockMap`] with an optional parent, as a [`BlockDevice`].
pub(crate) struct MappedDevice<M> {
    map: M,
    parent: Option<DeviceRef>,
    geometry: Geometry,
}

impl<M: BlockMap> MappedDevice<M> {
    /// The guest device of `map`, falling through to `parent` where the map is absent.
    pub(crate) fn new(map: M, parent: Option<DeviceRef>, geometry: Geometry) -> Self {
        MappedDevice {
            map,
            parent,
            geometry,
        }
    }

    /// The block map.
    pub(crate) fn map(&self) -> &M {
        &self.map
    }

    fn read_parent(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let mut filled = 0;
        if let Some(p) = &self.parent {
            let n = clamp_len(offset, buf.len(), p.size());
            if n > 0 {
                p.read_exact_at(offset, &mut buf[..n])?;
            }
            filled = n;
        }
        buf[filled..].fill(0);
        Ok(())
    }

    fn parent_extents(&self, offset: u64, len: u64, out: &mut Vec<Extent>) -> Result<()> {
        let mut covered = 0;
        if let Some(p) = &self.parent {
            let n = len.min(p.size().saturating_sub(offset));
            if n > 0 {
                for e in p.extents(offset, n)? {
                    push(out, e.offset, e.len, e.kind);
                }
            }
            covered = n;
        }
        if covered < len {
            push(
                out,
                offset + covered,
                len - covered,
                ExtentKind::Unallocated,
            );
        }
        Ok(())
    }
}

/// Appends a run, merging it with the previous one when they are of one kind.
fn push(out: &mut Vec<Extent>, offset: u64, len: u64, kind: ExtentKind) {
    if len == 0 {
        return;
    }
    if let Some(last) = out.last_mut() {
        if last.kind == kind && last.offset + last.len == offset {
            last.len += len;
            return;
        }
    }
    out.push(Extent { offset, len, kind });
}

fn stored_source_check(src: &dyn BlockDevice, offset: u64, len: u64) -> Result<()> {
    if offset.checked_add(len).is_none_or(|end| end > src.size()) {
        return Err(Error::new(
            crate::ErrorKind::Corrupt,
            format!(
                "data of {len} bytes at byte {offset} lies outside its file of {} bytes",
                src.size()
            ),
        )
        .with_offset(offset));
    }
    Ok(())
}

impl<M: BlockMap> ReadAt for MappedDevice<M> {
    fn size(&self) -> u64 {
        self.map.size()
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let n = clamp_len(offset, buf.len(), self.size());
        let mut done = 0usize;
        while done < n {
            let pos = offset + done as u64;
            let (run, len) = self.map.lookup(pos, (n - done) as u64)?;
            let len = len.clamp(1, (n - done) as u64) as usize;
            let chunk = &mut buf[done..done + len];
            match run {
                Run::Stored { source, offset } | Run::Flat { source, offset } => {
                    let src = self.map.source(source);
                    stored_source_check(src, offset, len as u64)?;
                    src.read_exact_at(offset, chunk)?;
                }
                Run::Zero => chunk.fill(0),
                Run::Absent => self.read_parent(pos, chunk)?,
                Run::Decoded => self.map.decode(pos, chunk)?,
            }
            done += len;
        }
        Ok(n)
    }

    fn host_span(&self, offset: u64, len: u64) -> Option<HostSpan<'_>> {
        if len == 0 || offset.checked_add(len)? > self.size() {
            return None;
        }
        match self.map.lookup(offset, len).ok()? {
            (Run::Stored { source, offset } | Run::Flat { source, offset }, n) if n >= len => {
                self.map.source(source).host_span(offset, len)
            }
            _ => None,
        }
    }
}

impl<M: BlockMap> BlockDevice for MappedDevice<M> {
    fn geometry(&self) -> Geometry {
        self.geometry
    }

    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        let end = offset.saturating_add(len).min(self.size());
        let mut out = Vec::new();
        let mut pos = offset;
        while pos < end {
            let (run, n) = self.map.lookup(pos, end - pos)?;
            let n = n.clamp(1, end - pos);
            match run {
                Run::Stored { .. } | Run::Decoded => push(&mut out, pos, n, ExtentKind::Data),
                Run::Flat { source, offset } => {
                    let src = self.map.source(source);
                    stored_source_check(src, offset, n)?;
                    for e in src.extents(offset, n)? {
                        let kind = match e.kind {
                            ExtentKind::Data => ExtentKind::Data,
                            ExtentKind::Zero | ExtentKind::Unallocated => ExtentKind::Zero,
                        };
                        push(&mut out, pos + (e.offset - offset), e.len, kind);
                    }
                }
                Run::Zero => push(&mut out, pos, n, ExtentKind::Zero),
                Run::Absent => self.parent_extents(pos, n, &mut out)?,
            }
            pos += n;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::MemorySource;
    use std::sync::Arc;

    /// Four 4-byte blocks: stored, zero, absent, decoded.
    struct Toy {
        file: MemorySource,
    }

    impl BlockMap for Toy {
        fn size(&self) -> u64 {
            16
        }
        fn lookup(&self, offset: u64, max_len: u64) -> Result<(Run, u64)> {
            let run = match offset / 4 {
                0 => Run::Stored {
                    source: 0,
                    offset: 100 + offset,
                },
                1 => Run::Zero,
                2 => Run::Absent,
                _ => Run::Decoded,
            };
            Ok((run, (4 - offset % 4).min(max_len)))
        }
        fn source(&self, _: usize) -> &dyn BlockDevice {
            &self.file
        }
        fn decode(&self, _: u64, buf: &mut [u8]) -> Result<()> {
            buf.fill(b'D');
            Ok(())
        }
    }

    fn toy(parent: Option<DeviceRef>) -> MappedDevice<Toy> {
        let mut file = vec![b'.'; 200];
        file[100..104].copy_from_slice(b"abcd");
        MappedDevice::new(
            Toy {
                file: MemorySource::new(file),
            },
            parent,
            Geometry::default(),
        )
    }

    #[test]
    fn reads_every_kind_of_run() {
        let parent: DeviceRef = Arc::new(MemorySource::new(b"PPPPPPPPPPQQ".to_vec()));
        let d = toy(Some(parent));
        let mut buf = [0u8; 16];
        d.read_exact_at(0, &mut buf).unwrap();
        assert_eq!(&buf, b"abcd\0\0\0\0PPQQDDDD");
        let d = toy(None);
        d.read_exact_at(0, &mut buf).unwrap();
        assert_eq!(&buf, b"abcd\0\0\0\0\0\0\0\0DDDD");
        let mut two = [0u8; 2];
        d.read_exact_at(3, &mut two).unwrap();
        assert_eq!(&two, b"d\0");
    }

    #[test]
    fn extents_fall_through_to_the_parent() {
        let parent: DeviceRef = Arc::new(MemorySource::new(vec![1u8; 10]));
        let d = toy(Some(parent));
        let e = d.extents(0, 16).unwrap();
        let kinds: Vec<_> = e.iter().map(|e| (e.offset, e.len, e.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                (0, 4, ExtentKind::Data),
                (4, 4, ExtentKind::Zero),
                (8, 2, ExtentKind::Data),
                (10, 2, ExtentKind::Unallocated),
                (12, 4, ExtentKind::Data),
            ]
        );
    }
}
