//! From directory records to nodes: grouping multi-extent records, applying the namespace's
//! names and Rock Ridge facts, following relocated directories, and reading file data.

use super::bytes::{bytes_to_name, ucs2_field};
use super::record::{DirRecord, flags};
use super::rock_ridge::RockRidge;
use super::zisofs::Zisofs;
use super::{FORMAT, IsoFs, Namespace, ZISOFS_CACHE_BLOCKS};
use crate::error::{Error, ErrorKind, Result};
use crate::fs::{DirEntry, FileExtent, FileType, Metadata, NodeId};
use crate::io::{ReadAt, clamp_len};
use crate::time::Timestamp;
use std::sync::Arc;

/// Most records (extents) that make up one file.
pub const MAX_EXTENTS: usize = 65_536;

/// One stretch of file data on the device.
#[derive(Debug, Clone, Copy)]
pub struct DataExtent {
    /// Byte offset of the first data byte.
    pub offset: u64,
    /// Bytes of file data.
    pub len: u64,
    /// For interleaved files: bytes per unit and bytes skipped after each unit.
    pub interleave: Option<(u64, u64)>,
}

impl DataExtent {
    /// Device offset of byte `at` of this extent, and how many bytes follow contiguously.
    fn locate(&self, at: u64) -> (u64, u64) {
        match self.interleave {
            None => (self.offset + at, self.len - at),
            Some((unit, gap)) => {
                let (chunk, within) = (at / unit, at % unit);
                (
                    self.offset + chunk * (unit + gap) + within,
                    (unit - within).min(self.len - at),
                )
            }
        }
    }
}

/// A resolved node.
#[derive(Debug, Clone)]
pub struct Node {
    id: NodeId,
    file_type: FileType,
    extents: Vec<DataExtent>,
    size: u64,
    recorded: Option<Timestamp>,
    rr: Option<RockRidge>,
    /// For directories: where the directory's own records live.
    dir_extent: Option<(u64, u64)>,
}

impl Node {
    pub(super) fn metadata(&self) -> Metadata {
        let ino = match (self.dir_extent, &self.rr) {
            (Some((start, _)), _) => start,
            (None, Some(RockRidge { ino: Some(ino), .. })) if *ino != 0 => u64::from(*ino),
            (None, Some(RockRidge { nlink: Some(n), .. })) if *n > 1 && self.size > 0 => {
                self.extents.first().map_or(self.id, |e| e.offset)
            }
            _ => self.id,
        };
        let mut m = Metadata::new(self.file_type, self.size, ino);
        m.mtime = self.recorded;
        if let Some(rr) = &self.rr {
            m.mode = rr.mode.map(|x| x & 0o7777);
            m.uid = rr.uid;
            m.gid = rr.gid;
            m.nlink = rr.nlink;
            m.mtime = rr.mtime.or(self.recorded);
            m.atime = rr.atime;
            m.ctime = rr.ctime;
            m.btime = rr.btime;
            m.rdev = rr.rdev;
        }
        m
    }

    pub(super) fn link_target(&self) -> Result<String> {
        match self.rr.as_ref().and_then(|r| r.symlink.as_ref()) {
            Some(t) => Ok(bytes_to_name(t)),
            None => Err(Error::invalid_input("not a symbolic link")),
        }
    }

    pub(super) fn plain_extents(&self) -> Option<Vec<FileExtent>> {
        if self.file_type != FileType::File || self.zisofs().is_some() {
            return None;
        }
        let mut out = Vec::with_capacity(self.extents.len());
        let mut file_offset = 0;
        for e in &self.extents {
            if e.interleave.is_some() {
                return None;
            }
            out.push(FileExtent {
                file_offset,
                len: e.len,
                device_offset: Some(e.offset),
            });
            file_offset += e.len;
        }
        Some(out)
    }

    fn zisofs(&self) -> Option<super::rock_ridge::ZisofsInfo> {
        self.rr.as_ref().and_then(|r| r.zisofs)
    }

    fn raw_size(&self) -> u64 {
        self.extents.iter().map(|e| e.len).sum()
    }
}

/// The raw (stored) bytes of a file as a source, for zisofs decoding.
struct RawFile<'a> {
    fs: &'a IsoFs,
    node: &'a Node,
    size: u64,
}

impl ReadAt for RawFile<'_> {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        self.fs.read_raw(self.node, offset, buf)
    }
}

/// Strips the `;1` version suffix, and for plain ISO names a trailing dot.
fn strip_version(name: &str, trailing_dot: bool) -> &str {
    let base = match name.rfind(';') {
        Some(i) if name[i + 1..].bytes().all(|b| b.is_ascii_digit()) => &name[..i],
        _ => name,
    };
    if trailing_dot && base.len() > 1 {
        base.strip_suffix('.').unwrap_or(base)
    } else {
        base
    }
}

impl IsoFs {
    /// The Rock Ridge facts of a record, in the Rock Ridge view only.
    fn rock_ridge(&self, rec: &DirRecord) -> Result<Option<RockRidge>> {
        if self.namespace != Namespace::RockRidge {
            return Ok(None);
        }
        let entries = self.susp_entries(&rec.system_use, self.su_skip, rec.offset)?;
        Ok(Some(RockRidge::from_entries(&entries)))
    }

    fn name_of(&self, rec: &DirRecord, rr: Option<&RockRidge>) -> String {
        if let Some(name) = rr.and_then(|r| r.name.as_ref()) {
            return bytes_to_name(name);
        }
        match self.namespace {
            Namespace::Joliet => strip_version(&ucs2_field(&rec.name), false).to_owned(),
            _ => strip_version(&bytes_to_name(&rec.name), true).to_owned(),
        }
    }

    /// Resolves a node by the offset of its (first) record.
    pub(super) fn node(&self, id: NodeId) -> Result<Node> {
        let first = self.record_at(id)?;
        let mut group = vec![first];
        while group
            .last()
            .is_some_and(|r| r.flags & flags::MULTI_EXTENT != 0)
        {
            let prev = group.last().expect("group is not empty");
            let mut next = prev.offset + u64::from(prev.len);
            let mut len = [0u8; 1];
            if next % self.block_size == 0 || {
                self.meta_read(next, &mut len, "directory record")?;
                len[0] == 0
            } {
                next = next.next_multiple_of(self.block_size);
            }
            let rec = self.record_at(next)?;
            if rec.name != group[0].name {
                return Err(Error::corrupt(
                    FORMAT,
                    "directory record",
                    next,
                    "multi-extent file continues with a record of another name",
                ));
            }
            group.push(rec);
            if group.len() > MAX_EXTENTS {
                return Err(Error::limit(
                    FORMAT,
                    "directory record",
                    id,
                    format!("file has more than {MAX_EXTENTS} extents"),
                ));
            }
        }
        let rr = self.rock_ridge(&group[0])?;
        self.build(&group, rr)
    }

    /// Builds a node from its record group and Rock Ridge facts.
    fn build(&self, group: &[DirRecord], rr: Option<RockRidge>) -> Result<Node> {
        let first = &group[0];
        let bs = self.block_size;
        let id = first.offset;
        // A CL record stands for a directory relocated elsewhere; its "." record describes it.
        if let Some(lba) = rr.as_ref().and_then(|r| r.child_link) {
            let start = u64::from(lba) * bs;
            let dot = self.record_at(start)?;
            if !dot.is_self() || !dot.is_dir() {
                return Err(Error::corrupt(
                    FORMAT,
                    "Rock Ridge CL entry",
                    id,
                    format!("child link to sector {lba} does not lead to a directory"),
                ));
            }
            let dot_rr = self.rock_ridge(&dot)?.unwrap_or_default();
            let merged = RockRidge {
                name: rr.and_then(|r| r.name),
                ..dot_rr
            };
            return Ok(Node {
                id,
                file_type: FileType::Directory,
                extents: Vec::new(),
                size: u64::from(dot.data_len),
                recorded: dot.recorded,
                rr: Some(merged),
                dir_extent: Some((start, u64::from(dot.data_len))),
            });
        }
        let mut extents = Vec::with_capacity(group.len());
        for r in group {
            let offset = (u64::from(r.extent_lba) + u64::from(r.ext_attr_len)) * bs;
            let interleave = (r.unit_size != 0)
                .then(|| (u64::from(r.unit_size) * bs, u64::from(r.gap_size) * bs));
            extents.push(DataExtent {
                offset,
                len: u64::from(r.data_len),
                interleave,
            });
        }
        check_overlap(&extents, id)?;
        let raw: u64 = extents.iter().map(|e| e.len).sum();
        if first.is_dir() {
            let start = u64::from(first.extent_lba) * bs;
            return Ok(Node {
                id,
                file_type: FileType::Directory,
                extents: Vec::new(),
                size: raw,
                recorded: first.recorded,
                rr,
                dir_extent: Some((start, u64::from(first.data_len))),
            });
        }
        let symlink = rr.as_ref().and_then(|r| r.symlink.as_ref());
        let file_type = non_dir_type(rr.as_ref());
        let size = match (file_type, &rr) {
            (FileType::Symlink, _) => symlink.map_or(0, |t| t.len() as u64),
            (
                _,
                Some(RockRidge {
                    zisofs: Some(z), ..
                }),
            ) => z.size,
            (FileType::File, _) => raw,
            _ => 0,
        };
        Ok(Node {
            id,
            file_type,
            extents,
            size,
            recorded: first.recorded,
            rr,
            dir_extent: None,
        })
    }

    /// The entries of directory `dir`.
    pub(super) fn list(&self, dir: NodeId) -> Result<Vec<DirEntry>> {
        let node = self.node(dir)?;
        let Some((start, len)) = node.dir_extent else {
            return Err(Error::new(ErrorKind::InvalidInput, "not a directory"));
        };
        let records = self.dir_records(start, len)?;
        let mut out = Vec::new();
        let mut i = 0;
        while i < records.len() {
            let mut j = i + 1;
            while records[j - 1].flags & flags::MULTI_EXTENT != 0 && j < records.len() {
                j += 1;
            }
            let group = &records[i..j];
            i = j;
            let rec = &group[0];
            if rec.is_self() || rec.is_parent() || rec.flags & flags::ASSOCIATED != 0 {
                continue;
            }
            if Some(rec.offset) == self.hidden_dir {
                continue;
            }
            let rr = self.rock_ridge(rec)?;
            if let Some(r) = &rr {
                if r.relocated || r.name_is_special {
                    continue;
                }
            }
            let name = self.name_of(rec, rr.as_ref());
            let file_type = if rr.as_ref().is_some_and(|r| r.child_link.is_some()) || rec.is_dir() {
                FileType::Directory
            } else {
                non_dir_type(rr.as_ref())
            };
            out.push(DirEntry {
                name,
                node: rec.offset,
                file_type,
            });
        }
        Ok(out)
    }

    /// Reads the stored bytes of a file (compressed bytes for zisofs files).
    fn read_raw(&self, node: &Node, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let want = clamp_len(offset, buf.len(), node.raw_size());
        let mut done = 0usize;
        let mut base = 0u64;
        for e in &node.extents {
            let end = base + e.len;
            while done < want && offset + (done as u64) < end {
                let pos = offset + done as u64;
                if pos < base {
                    break;
                }
                let (dev_off, run) = e.locate(pos - base);
                let n = run.min((want - done) as u64) as usize;
                self.dev
                    .read_exact_at(dev_off, &mut buf[done..done + n])
                    .map_err(|err| {
                        err.with_format(FORMAT)
                            .with_structure("file data")
                            .with_offset(dev_off)
                    })?;
                done += n;
            }
            base = end;
            if done == want {
                break;
            }
        }
        Ok(done)
    }

    /// Reads file data, decompressing zisofs files.
    pub(super) fn read_node(&self, node: &Node, offset: u64, buf: &mut [u8]) -> Result<usize> {
        match node.file_type {
            FileType::File => {}
            FileType::Directory => return Err(Error::invalid_input("is a directory")),
            _ => return Ok(0),
        }
        let Some(info) = node.zisofs() else {
            return self.read_raw(node, offset, buf);
        };
        let raw = RawFile {
            fs: self,
            node,
            size: node.raw_size(),
        };
        let first_offset = node.extents.first().map_or(0, |e| e.offset);
        let z = Zisofs::open(&raw, info, first_offset)?;
        let want = clamp_len(offset, buf.len(), z.size());
        let mut done = 0usize;
        while done < want {
            let pos = offset + done as u64;
            let index = pos / z.block_size();
            let block = self.zisofs_block(node.id, &z, &raw, index, first_offset)?;
            let within = (pos % z.block_size()) as usize;
            let n = (block.len() - within).min(want - done);
            buf[done..done + n].copy_from_slice(&block[within..within + n]);
            done += n;
        }
        Ok(done)
    }

    fn zisofs_block(
        &self,
        id: NodeId,
        z: &Zisofs,
        raw: &RawFile<'_>,
        index: u64,
        at: u64,
    ) -> Result<Arc<Vec<u8>>> {
        let cached = {
            let cache = self.zcache.lock().unwrap_or_else(|p| p.into_inner());
            cache
                .iter()
                .find(|(n, i, _)| *n == id && *i == index)
                .map(|(_, _, b)| b.clone())
        };
        if let Some(b) = cached {
            return Ok(b);
        }
        let mut out = Vec::new();
        z.read_block(raw, index, &mut out, at)?;
        let block = Arc::new(out);
        let mut cache = self.zcache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= ZISOFS_CACHE_BLOCKS {
            cache.remove(0);
        }
        cache.push((id, index, block.clone()));
        Ok(block)
    }
}

/// The type of a record that is not a directory: a symlink, a device node from the Rock
/// Ridge mode, or a regular file.
fn non_dir_type(rr: Option<&RockRidge>) -> FileType {
    match (rr.and_then(|r| r.symlink.as_ref()), rr.and_then(|r| r.mode)) {
        (Some(_), _) => FileType::Symlink,
        (None, Some(mode)) => match FileType::from_mode(mode) {
            Some(FileType::Directory) | None => FileType::File,
            Some(t) => t,
        },
        (None, None) => FileType::File,
    }
}

/// Refuses a multi-extent file whose parts overlap each other.
fn check_overlap(extents: &[DataExtent], id: NodeId) -> Result<()> {
    if extents.len() < 2 {
        return Ok(());
    }
    let mut spans: Vec<(u64, u64)> = extents
        .iter()
        .filter(|e| e.len > 0 && e.interleave.is_none())
        .map(|e| (e.offset, e.offset.saturating_add(e.len)))
        .collect();
    spans.sort_unstable();
    for w in spans.windows(2) {
        if w[1].0 < w[0].1 {
            return Err(Error::corrupt(
                FORMAT,
                "directory record",
                id,
                format!(
                    "extents of one file overlap (bytes {}..{} and {}..{})",
                    w[0].0, w[0].1, w[1].0, w[1].1
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_dots() {
        assert_eq!(strip_version("README.TXT;1", true), "README.TXT");
        assert_eq!(strip_version("NOEXT.;1", true), "NOEXT");
        assert_eq!(strip_version("a;b", true), "a;b");
        assert_eq!(strip_version("name.", false), "name.");
    }

    #[test]
    fn interleaved_mapping() {
        let e = DataExtent {
            offset: 1000,
            len: 10,
            interleave: Some((4, 2)),
        };
        assert_eq!(e.locate(0), (1000, 4));
        assert_eq!(e.locate(5), (1007, 3));
        assert_eq!(e.locate(9), (1013, 1));
    }
}
