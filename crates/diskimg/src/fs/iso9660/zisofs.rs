//! zisofs (version 1, `pz`) and zisofs2 with zlib (`PZ`): transparently compressed file
//! content marked by a Rock Ridge ZF/Z2 entry. Other zisofs2 algorithms are reported as
//! unsupported by name.

use super::FORMAT;
use super::rock_ridge::ZisofsInfo;
use crate::error::{Error, Result};
use crate::io::ReadAt;

const MAGIC_V1: [u8; 8] = [0x37, 0xE4, 0x53, 0x96, 0xC9, 0xDB, 0xD6, 0x07];
const MAGIC_V2: [u8; 8] = [0xEF, 0x22, 0x55, 0xA1, 0xBC, 0x1B, 0x95, 0xA0];

/// The layout of one compressed file.
#[derive(Debug, Clone, Copy)]
pub struct Zisofs {
    block_size: u64,
    size: u64,
    pointers_at: u64,
    pointer_width: u64,
}

impl Zisofs {
    /// Reads and checks the header of the compressed data in `raw`.
    pub fn open(raw: &dyn ReadAt, info: ZisofsInfo, at: u64) -> Result<Self> {
        let bad = |msg: String| Error::corrupt(FORMAT, "zisofs header", at, msg);
        let mut head = [0u8; 24];
        let n = raw.read_at(0, &mut head)?;
        let (width, header_len) = match info.algorithm {
            [b'p', b'z'] if n >= 16 && head[..8] == MAGIC_V1 => (4u64, u64::from(head[12]) * 4),
            [b'P', b'Z'] if n >= 24 && head[..8] == MAGIC_V2 => (8u64, u64::from(head[9]) * 4),
            [b'p', b'z'] | [b'P', b'Z'] => return Err(bad("missing zisofs magic".into())),
            other => {
                return Err(Error::unsupported(
                    FORMAT,
                    format!(
                        "zisofs2 algorithm '{}' (only zlib is supported)",
                        String::from_utf8_lossy(&other)
                    ),
                )
                .with_offset(at));
            }
        };
        if !(15..=17).contains(&info.log2_block) {
            return Err(bad(format!(
                "block size 2^{} is not 2^15..2^17",
                info.log2_block
            )));
        }
        let block_size = 1u64 << info.log2_block;
        let blocks = info.size.div_ceil(block_size);
        let table_end = blocks
            .checked_add(1)
            .and_then(|b| b.checked_mul(width))
            .and_then(|t| t.checked_add(header_len));
        if table_end.is_none_or(|end| end > raw.size()) {
            return Err(bad(format!(
                "{blocks} block pointers do not fit in {} bytes",
                raw.size()
            )));
        }
        Ok(Zisofs {
            block_size,
            size: info.size,
            pointers_at: header_len,
            pointer_width: width,
        })
    }

    /// Uncompressed size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Block size.
    pub fn block_size(&self) -> u64 {
        self.block_size
    }

    /// Decompresses block `index` into `out` (cleared first), returning its length.
    pub fn read_block(
        &self,
        raw: &dyn ReadAt,
        index: u64,
        out: &mut Vec<u8>,
        at: u64,
    ) -> Result<()> {
        let bad = |msg: String| Error::corrupt(FORMAT, "zisofs block", at, msg);
        let expect = (self.size - index * self.block_size).min(self.block_size) as usize;
        let mut ptrs = [0u8; 16];
        let w = self.pointer_width as usize;
        raw.read_exact_at(
            self.pointers_at + index * self.pointer_width,
            &mut ptrs[..2 * w],
        )?;
        let get = |i: usize| -> u64 {
            let mut v = [0u8; 8];
            v[..w].copy_from_slice(&ptrs[i * w..(i + 1) * w]);
            u64::from_le_bytes(v)
        };
        let (start, end) = (get(0), get(1));
        out.clear();
        if start == end {
            out.resize(expect, 0);
            return Ok(());
        }
        if start > end || end > raw.size() || end - start > self.block_size * 2 + 1024 {
            return Err(bad(format!("block {index} spans bytes {start}..{end}")));
        }
        let mut comp = vec![0u8; (end - start) as usize];
        raw.read_exact_at(start, &mut comp)?;
        out.reserve(expect);
        let mut z = flate2::Decompress::new(true);
        let status = z
            .decompress_vec(&comp, out, flate2::FlushDecompress::Finish)
            .map_err(|e| bad(format!("block {index}: {e}")))?;
        if out.len() != expect || status != flate2::Status::StreamEnd {
            return Err(bad(format!(
                "block {index} inflates to {} bytes, expected {expect}",
                out.len()
            )));
        }
        Ok(())
    }
}
