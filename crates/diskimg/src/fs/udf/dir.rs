//! Directories: the stream of file identifier descriptors (ECMA-167 4/14.4) in a directory's
//! data, each checked (tag, CRC, location) and decoded: characteristics (hidden, directory,
//! deleted, parent), the ICB it names and the OSTA CS0 name.

use super::alloc::DataExtent;
use super::fields::{LongAd, cs0, le16};
use super::icb::{Data, FileEntry};
use super::tag::{self, id};
use super::{FORMAT, UdfFs};
use crate::error::{Error, Result};

/// Largest directory read, in bytes.
pub(super) const MAX_DIR_SIZE: u64 = 64 * 1024 * 1024;

/// File characteristics (4/14.4.3).
pub(crate) mod characteristics {
    pub const DIRECTORY: u8 = 2;
    pub const DELETED: u8 = 4;
    pub const PARENT: u8 = 8;
}

/// One file identifier descriptor.
#[derive(Debug, Clone)]
pub(super) struct FileId {
    pub characteristics: u8,
    pub icb: LongAd,
    pub name: String,
}

impl UdfFs {
    /// The file identifiers of directory `dir`, in order, deleted and parent entries included.
    pub(super) fn file_ids(&self, dir: &FileEntry) -> Result<Vec<FileId>> {
        if dir.info_len > MAX_DIR_SIZE {
            return Err(Error::limit(
                FORMAT,
                "directory",
                self.entry_offset(dir),
                format!("directory of {} bytes exceeds {MAX_DIR_SIZE}", dir.info_len),
            ));
        }
        let mut data = vec![0u8; dir.info_len as usize];
        self.read_data(dir, 0, &mut data)?;
        let mut out = Vec::new();
        let mut pos = 0usize;
        while pos + 38 <= data.len() {
            let (location, offset) = self.fid_location(dir, pos as u64)?;
            let b = &data[pos..];
            if b[..16].iter().all(|&x| x == 0) {
                // Slack after the last descriptor.
                break;
            }
            let l_fi = usize::from(b[19]);
            let l_iu = usize::from(le16(b, 36));
            let len = (38 + l_iu + l_fi).next_multiple_of(4);
            if len > b.len() && 38 + l_iu + l_fi > b.len() {
                return Err(Error::corrupt(
                    FORMAT,
                    "file identifier descriptor",
                    offset,
                    format!("descriptor of {len} bytes runs past the directory's end"),
                ));
            }
            let fid = &b[..len.min(b.len())];
            tag::check(
                fid,
                &[id::FILE_ID],
                location,
                "file identifier descriptor",
                offset,
            )?;
            out.push(FileId {
                characteristics: fid[18],
                icb: LongAd::parse(fid, 20),
                name: cs0(&fid[38 + l_iu..38 + l_iu + l_fi]),
            });
            pos += len;
        }
        Ok(out)
    }

    /// The logical block a descriptor at byte `pos` of a directory's data is recorded in
    /// (`None` inside a hole), and its device offset.
    fn fid_location(&self, dir: &FileEntry, pos: u64) -> Result<(Option<u32>, u64)> {
        match &dir.data {
            Data::Inline { offset, .. } => Ok((Some(dir.location.block), offset + pos)),
            Data::Extents(extents) => {
                let i = extents.partition_point(|e| e.file_offset + e.len <= pos);
                let Some(DataExtent {
                    file_offset,
                    at: Some(at),
                    ..
                }) = extents.get(i).copied()
                else {
                    return Ok((None, self.entry_offset(dir)));
                };
                let within = pos - file_offset;
                let block = at.block as u64 + within / self.block_size;
                let (dev, _) = self.locate(at.partition, block, 1, self.entry_offset(dir))?;
                Ok((u32::try_from(block).ok(), dev + within % self.block_size))
            }
        }
    }
}
