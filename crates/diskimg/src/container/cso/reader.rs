//! The image inside: a device that decodes blocks on demand.
//!
//! A read is cut at block boundaries. Runs of whole blocks are decoded straight into the
//! caller's buffer, in chunks of about 256 KiB spread over every core (rayon); each chunk's
//! stored bytes are fetched with one read when they lie together. Partial blocks (the edges of
//! an unaligned read, the end of the image) are decoded into a scratch block. Small random
//! reads go through a block cache in front of this device (see `mod.rs`).

use super::codec::{inflate, lz4_decode};
use super::index::{Block, BlockIndex, Codec};
use crate::device::{BlockDevice, DeviceRef, Geometry};
use crate::error::{Error, Result};
use crate::io::{ReadAt, clamp_len};
use rayon::prelude::*;

/// Uncompressed bytes decoded per parallel task.
const CHUNK_BYTES: u64 = 256 << 10;
/// Extra stored bytes read for one block beyond two blocks' worth: a valid encoded block is
/// never longer, so a hostile length costs no more than this.
const ENCODED_SLACK: u64 = 64 << 10;

/// Decodes the blocks of one image.
pub struct CsoBlocks {
    file: DeviceRef,
    index: BlockIndex,
    size: u64,
    block_size: u64,
    format: &'static str,
}

impl CsoBlocks {
    /// A device of `size` bytes over the blocks `index` places in `file`.
    pub fn new(
        file: DeviceRef,
        index: BlockIndex,
        size: u64,
        block_size: u32,
        format: &'static str,
    ) -> Self {
        CsoBlocks {
            file,
            index,
            size,
            block_size: u64::from(block_size),
            format,
        }
    }

    /// The index.
    pub fn index(&self) -> &BlockIndex {
        &self.index
    }

    fn max_encoded(&self) -> u64 {
        self.block_size * 2 + ENCODED_SLACK
    }

    /// Bytes of block `i` that lie inside the image.
    fn needed(&self, i: u64) -> usize {
        clamp_len(i * self.block_size, self.block_size as usize, self.size)
    }

    /// Decodes block `i` from its stored bytes `enc` into `out`, which is either a whole block
    /// or exactly the bytes the block has inside the image.
    fn decode(&self, i: u64, b: &Block, enc: &[u8], out: &mut [u8]) -> Result<()> {
        let needed = self.needed(i);
        let fail = |msg: String| {
            Error::corrupt(self.format, "block", b.offset, format!("block {i}: {msg}"))
        };
        if b.codec == Codec::Stored {
            if enc.len() < needed {
                return Err(fail(format!(
                    "stored block of {} bytes is shorter than its {needed} bytes of data",
                    enc.len()
                )));
            }
            out[..needed].copy_from_slice(&enc[..needed]);
            return Ok(());
        }
        let produced = match b.codec {
            Codec::Deflate => inflate(enc, out, false),
            Codec::Zlib => inflate(enc, out, true),
            _ => lz4_decode(enc, out),
        }
        .map_err(fail)?;
        if produced < needed {
            return Err(fail(format!(
                "decompressed to {produced} bytes, short of the {needed} bytes of the block"
            )));
        }
        Ok(())
    }

    /// Decodes the blocks from `first` into `out`, which starts at block `first` and ends
    /// anywhere up to the end of the image.
    fn read_run(&self, first: u64, out: &mut [u8]) -> Result<()> {
        let bs = self.block_size as usize;
        let count = out.len().div_ceil(bs) as u64;
        let cap = self.max_encoded();
        let blocks: Vec<Block> = (first..first + count)
            .map(|i| self.index.block(i))
            .collect();
        let start = blocks.iter().map(|b| b.offset).min().unwrap_or(0);
        let end = blocks
            .iter()
            .map(|b| b.offset + b.len.min(cap))
            .max()
            .unwrap_or(start);
        // One read for the run when its blocks lie together, else one per block.
        let together = end - start <= count * cap;
        let span = if together {
            let mut v = vec![0u8; (end - start) as usize];
            self.file.read_exact_at(start, &mut v)?;
            Some(v)
        } else {
            None
        };
        let mut scratch = Vec::new();
        let mut own = Vec::new();
        for (k, b) in blocks.iter().enumerate() {
            let i = first + k as u64;
            let enc_len = b.len.min(cap) as usize;
            let enc: &[u8] = match &span {
                Some(v) => {
                    let at = (b.offset - start) as usize;
                    &v[at..at + enc_len]
                }
                None => {
                    own.resize(enc_len, 0);
                    self.file.read_exact_at(b.offset, &mut own)?;
                    &own
                }
            };
            let lo = k * bs;
            let hi = (lo + bs).min(out.len());
            if hi - lo == bs || hi - lo == self.needed(i) && b.codec == Codec::Stored {
                self.decode(i, b, enc, &mut out[lo..hi])?;
            } else {
                scratch.resize(bs, 0);
                self.decode(i, b, enc, &mut scratch)?;
                out[lo..hi].copy_from_slice(&scratch[..hi - lo]);
            }
        }
        Ok(())
    }
}

impl ReadAt for CsoBlocks {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let n = clamp_len(offset, buf.len(), self.size);
        if n == 0 {
            return Ok(0);
        }
        let bs = self.block_size;
        let buf = &mut buf[..n];
        let mut done = 0usize;
        let within = (offset % bs) as usize;
        if within != 0 {
            // The head of an unaligned read: decode its block whole, copy the part wanted.
            let block = offset / bs;
            let mut scratch = vec![0u8; bs as usize];
            let have = self.needed(block);
            self.read_run(block, &mut scratch[..have])?;
            let take = (have - within).min(n);
            buf[..take].copy_from_slice(&scratch[within..within + take]);
            done = take;
        }
        if done < n {
            let first = (offset + done as u64) / bs;
            let rest = &mut buf[done..];
            let chunk = (CHUNK_BYTES.max(bs) / bs * bs) as usize;
            if rest.len() <= chunk {
                self.read_run(first, rest)?;
            } else {
                let per = (chunk as u64) / bs;
                rest.par_chunks_mut(chunk)
                    .enumerate()
                    .try_for_each(|(k, c)| self.read_run(first + k as u64 * per, c))?;
            }
        }
        Ok(n)
    }
}

impl BlockDevice for CsoBlocks {
    fn geometry(&self) -> Geometry {
        Geometry {
            sector_size: if self.size % 2048 == 0 { 2048 } else { 512 },
        }
    }
}
