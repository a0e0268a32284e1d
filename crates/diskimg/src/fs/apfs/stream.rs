//! Data streams of an APFS volume: the file extents of a stream (`j_file_extent_key_t`, or the
//! `fext` tree of a sealed volume), read with holes as zeros, and the resource fork as decmpfs
//! reads it.

use super::btree::Step;
use super::object::le64;
use super::records::{FileExtentRec, TYPE_FILE_EXTENT};
use super::{ApfsFs, FORMAT, MAX_EXTENTS};
use crate::error::{Error, Result};
use crate::fs::FileExtent;
use crate::fs::decmpfs;
use std::sync::Arc;

/// Extent lists of recently read files kept.
const EXTENT_CACHE: usize = 8;

/// One extent of a data stream, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct Extent {
    /// Offset in the stream.
    pub logical: u64,
    /// Length in bytes.
    pub len: u64,
    /// Device byte offset, `None` for a hole.
    pub device: Option<u64>,
}

impl ApfsFs {
    /// The extents of data stream `id`, sorted, holes explicit where the records say so.
    pub(super) fn extents(&self, id: u64) -> Result<Arc<Vec<Extent>>> {
        if let Ok(c) = self.extents.lock() {
            if let Some((_, e)) = c.iter().find(|(i, _)| *i == id) {
                return Ok(e.clone());
            }
        }
        let bs = self.store().block_size();
        let mut recs = Vec::new();
        let mut push = |r: FileExtentRec| -> Result<Step> {
            if recs.len() >= MAX_EXTENTS {
                return Err(Error::limit(
                    FORMAT,
                    "file extent",
                    0,
                    format!("data stream {id} has more than {MAX_EXTENTS} extents"),
                ));
            }
            recs.push(r);
            Ok(Step::Next)
        };
        match &self.fext {
            Some(fext) => fext.scan(
                self.store(),
                &|k| le64(k, 0).unwrap_or(0).cmp(&id),
                &mut |k, v| push(FileExtentRec::parse(le64(k, 8).unwrap_or(0), v, 0)?),
            )?,
            None => self.records(id, TYPE_FILE_EXTENT, MAX_EXTENTS, &mut |k, v| {
                push(FileExtentRec::parse(le64(k, 8).unwrap_or(0), v, 0)?)
            })?,
        }
        let mut out = Vec::with_capacity(recs.len());
        let mut pos = 0u64;
        for r in recs {
            if r.logical < pos {
                return Err(Error::corrupt(
                    FORMAT,
                    "file extent",
                    0,
                    format!(
                        "extent at {} overlaps the previous one (data stream {id})",
                        r.logical
                    ),
                ));
            }
            let device = if r.phys == 0 {
                None
            } else {
                let blocks = r.len.div_ceil(bs);
                Some(self.store().offset_of(r.phys, blocks, "file extent")?)
            };
            pos = r
                .logical
                .checked_add(r.len)
                .ok_or_else(|| Error::corrupt(FORMAT, "file extent", 0, "extent ends past 2^64"))?;
            out.push(Extent {
                logical: r.logical,
                len: r.len,
                device,
            });
        }
        let out = Arc::new(out);
        if let Ok(mut c) = self.extents.lock() {
            if c.len() >= EXTENT_CACHE {
                c.remove(0);
            }
            c.push((id, out.clone()));
        }
        Ok(out)
    }

    /// Reads data stream `id` of `size` bytes at `offset`; what no extent covers reads as
    /// zeros.
    pub(super) fn read_stream(
        &self,
        id: u64,
        size: u64,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize> {
        if offset >= size || buf.is_empty() {
            return Ok(0);
        }
        let want = (size - offset).min(buf.len() as u64) as usize;
        let buf = &mut buf[..want];
        buf.fill(0);
        let extents = self.extents(id)?;
        let end = offset + want as u64;
        let first = extents.partition_point(|e| e.logical + e.len <= offset);
        for e in &extents[first..] {
            if e.logical >= end {
                break;
            }
            let Some(dev) = e.device else { continue };
            let from = e.logical.max(offset);
            let to = (e.logical + e.len).min(end);
            let dst = &mut buf[(from - offset) as usize..(to - offset) as usize];
            self.dev.read_exact_at(dev + (from - e.logical), dst)?;
        }
        Ok(want)
    }
}

/// The extents of a data stream of `size` bytes as the trait gives them: in file order, holes
/// (gaps between extents, sparse extents, the tail no extent covers) as `device_offset: None`,
/// cut at `size`.
pub fn file_extents_of(extents: &[Extent], size: u64) -> Vec<FileExtent> {
    let mut out = Vec::new();
    let mut pos = 0u64;
    for e in extents.iter().filter(|e| e.len > 0) {
        if pos >= size {
            break;
        }
        if e.logical > pos {
            let len = (e.logical - pos).min(size - pos);
            out.push(FileExtent {
                file_offset: pos,
                len,
                device_offset: None,
            });
            pos += len;
            if pos >= size {
                break;
            }
        }
        let len = e.len.min(size - pos);
        out.push(FileExtent {
            file_offset: pos,
            len,
            device_offset: e.device,
        });
        pos += len;
    }
    if pos < size {
        out.push(FileExtent {
            file_offset: pos,
            len: size - pos,
            device_offset: None,
        });
    }
    out
}

/// A resource fork in a stream, as decmpfs reads it.
pub struct RsrcFork<'a> {
    /// The volume.
    pub fs: &'a ApfsFs,
    /// The stream's id (`xattr_obj_id`).
    pub id: u64,
    /// The stream's size.
    pub size: u64,
}

impl decmpfs::ResourceFork for RsrcFork<'_> {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_exact(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let n = self.fs.read_stream(self.id, self.size, offset, buf)?;
        if n < buf.len() {
            return Err(Error::corrupt(
                FORMAT,
                "resource fork",
                0,
                "read past the end of the resource fork",
            ));
        }
        Ok(())
    }

    fn device_offset(&self, offset: u64) -> u64 {
        self.fs
            .extents(self.id)
            .ok()
            .and_then(|ex| {
                ex.iter()
                    .find(|e| offset >= e.logical && offset < e.logical + e.len)
                    .and_then(|e| e.device.map(|d| d + offset - e.logical))
            })
            .unwrap_or(0)
    }
}

/// An embedded resource fork.
pub struct InlineFork<'a>(pub &'a [u8]);

impl decmpfs::ResourceFork for InlineFork<'_> {
    fn size(&self) -> u64 {
        self.0.len() as u64
    }

    fn read_exact(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let src = usize::try_from(offset)
            .ok()
            .and_then(|o| self.0.get(o..o.checked_add(buf.len())?))
            .ok_or_else(|| {
                Error::corrupt(
                    FORMAT,
                    "resource fork",
                    0,
                    "read past the end of the resource fork",
                )
            })?;
        buf.copy_from_slice(src);
        Ok(())
    }

    fn device_offset(&self, _offset: u64) -> u64 {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holes_between_in_and_after_extents() {
        let ext = |logical, len, device| Extent {
            logical,
            len,
            device,
        };
        let fe = |file_offset, len, device_offset| FileExtent {
            file_offset,
            len,
            device_offset,
        };
        // 4 KiB at 8 KiB on disk, a gap, a sparse extent, 4 KiB at 40 KiB, a tail no extent
        // covers; the file is 30 KiB long.
        let extents = [
            ext(0, 4096, Some(8192)),
            ext(8192, 4096, None),
            ext(12288, 4096, Some(40960)),
        ];
        assert_eq!(
            file_extents_of(&extents, 30720),
            [
                fe(0, 4096, Some(8192)),
                fe(4096, 4096, None),
                fe(8192, 4096, None),
                fe(12288, 4096, Some(40960)),
                fe(16384, 14336, None),
            ]
        );
        // Cut at the size: a file shorter than its last extent.
        assert_eq!(
            file_extents_of(&extents, 5000),
            [fe(0, 4096, Some(8192)), fe(4096, 904, None)]
        );
        assert_eq!(file_extents_of(&extents, 0), []);
        assert_eq!(file_extents_of(&[], 10), [fe(0, 10, None)]);
    }
}
