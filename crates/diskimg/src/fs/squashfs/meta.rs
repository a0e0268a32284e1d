//! Metadata blocks (the inode, directory, fragment and id tables): 8 KiB units, each behind a
//! two-byte header, read through a small cache of decompressed blocks.

use super::FORMAT;
use super::superblock::Superblock;
use crate::error::{Error, Result};
use crate::io::ReadAt;
use std::sync::{Arc, Mutex};

/// Largest decompressed metadata block.
pub(crate) const METADATA_SIZE: usize = 8192;
/// Decompressed metadata blocks kept.
const CACHE_BLOCKS: usize = 512;

/// A decompressed block and where the next one starts.
#[derive(Clone)]
pub(crate) struct MetaBlock {
    pub data: Arc<Vec<u8>>,
    pub next: u64,
}

/// Reads metadata blocks through a bounded LRU cache.
pub(crate) struct MetaReader {
    cache: Mutex<Vec<(u64, MetaBlock)>>,
}

impl MetaReader {
    pub fn new() -> Self {
        MetaReader {
            cache: Mutex::new(Vec::new()),
        }
    }

    /// The block whose header is at device offset `at`.
    pub fn block(&self, dev: &dyn ReadAt, sb: &Superblock, at: u64) -> Result<MetaBlock> {
        {
            let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(i) = c.iter().position(|(k, _)| *k == at) {
                let hit = c.remove(i);
                let b = hit.1.clone();
                c.push(hit);
                return Ok(b);
            }
        }
        let mut h = [0u8; 2];
        dev.read_exact_at(at, &mut h)
            .map_err(|e| e.with_format(FORMAT).with_structure("metadata block"))?;
        let header = u16::from_le_bytes(h);
        let stored = usize::from(header & 0x7FFF);
        if stored == 0 || stored > METADATA_SIZE || at + 2 + stored as u64 > sb.bytes_used {
            return Err(Error::corrupt(
                FORMAT,
                "metadata block",
                at,
                format!("stored size {stored}"),
            ));
        }
        let mut raw = vec![0u8; stored];
        dev.read_exact_at(at + 2, &mut raw)
            .map_err(|e| e.with_format(FORMAT).with_structure("metadata block"))?;
        let data = if header & 0x8000 != 0 {
            raw
        } else {
            sb.codec.decompress(&raw, METADATA_SIZE, at)?
        };
        let block = MetaBlock {
            data: Arc::new(data),
            next: at + 2 + stored as u64,
        };
        let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if c.len() >= CACHE_BLOCKS {
            c.remove(0);
        }
        c.push((at, block.clone()));
        Ok(block)
    }
}

/// A position in a metadata table: the block's device offset and an offset within its
/// decompressed bytes; reads continue into the following blocks.
pub(crate) struct Cursor<'a> {
    pub dev: &'a dyn ReadAt,
    pub sb: &'a Superblock,
    pub reader: &'a MetaReader,
    pub block: u64,
    pub offset: usize,
    /// Reads may not go past this device offset (the end of the table).
    pub end: u64,
}

impl Cursor<'_> {
    /// Fills `buf` from the table.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<()> {
        let mut done = 0;
        while done < buf.len() {
            if self.block >= self.end {
                return Err(Error::corrupt(
                    FORMAT,
                    "metadata",
                    self.block,
                    "a structure runs past the end of its table",
                ));
            }
            let b = self.reader.block(self.dev, self.sb, self.block)?;
            if self.offset >= b.data.len() {
                self.offset -= b.data.len();
                self.block = b.next;
                continue;
            }
            let n = (b.data.len() - self.offset).min(buf.len() - done);
            buf[done..done + n].copy_from_slice(&b.data[self.offset..self.offset + n]);
            done += n;
            self.offset += n;
        }
        Ok(())
    }

    pub fn u16(&mut self) -> Result<u16> {
        let mut b = [0u8; 2];
        self.read(&mut b)?;
        Ok(u16::from_le_bytes(b))
    }

    pub fn u32(&mut self) -> Result<u32> {
        let mut b = [0u8; 4];
        self.read(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    pub fn u64(&mut self) -> Result<u64> {
        let mut b = [0u8; 8];
        self.read(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
}
