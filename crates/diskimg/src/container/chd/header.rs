//! The CHD header (versions 3, 4 and 5), read and checked before anything else is trusted.
//!
//! Layout from MAME `src/lib/util/chd.h` (all fields big-endian): the tag `MComprHD`, the
//! header length and version, then per version the codecs, logical size, map and metadata
//! offsets, hunk and unit sizes and the SHA-1s. Every size here bounds later work, so this
//! module checks them against the file and the `MAX_*` limits before the `chd` crate sees the
//! file: the crate computes with these fields unchecked.

use super::{FORMAT, MAX_HUNK_BYTES, MAX_HUNKS, MAX_LOGICAL_BYTES};
use crate::error::{Error, Result};
use crate::io::ReadAt;

/// The tag every CHD starts with.
pub const MAGIC: &[u8; 8] = b"MComprHD";
/// Header lengths by version.
pub const V3_LEN: usize = 120;
/// Version 4 header length.
pub const V4_LEN: usize = 108;
/// Version 5 header length.
pub const V5_LEN: usize = 124;
/// Size of the version 5 compressed map's own header.
pub const MAP_HEADER_LEN: u64 = 16;
/// Bytes per version 3/4 map entry.
pub const LEGACY_ENTRY_LEN: u64 = 16;
/// Version 3/4 flag: the image has a parent.
const FLAG_HAS_PARENT: u32 = 1;

/// The header fields diskimg uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChdHeader {
    /// 3, 4 or 5.
    pub version: u32,
    /// Codec tags (version 5: up to four, 0 = unused; versions 3/4: the one legacy codec).
    pub compressors: [u32; 4],
    /// Uncompressed size of the data.
    pub logical_bytes: u64,
    /// Where the hunk map starts.
    pub map_offset: u64,
    /// First metadata entry (0: none).
    pub meta_offset: u64,
    /// Bytes per hunk.
    pub hunk_bytes: u32,
    /// Bytes per unit (version 5; 0 for versions 3/4, where it comes from the metadata).
    pub unit_bytes: u32,
    /// Number of hunks.
    pub hunk_count: u32,
    /// SHA-1 of the data and the checksummed metadata (zero when not computed).
    pub sha1: [u8; 20],
    /// SHA-1 of the data alone (versions 4 and 5).
    pub raw_sha1: [u8; 20],
    /// SHA-1 of the parent (zero without a parent).
    pub parent_sha1: [u8; 20],
    /// Whether hunks may come from a parent image.
    pub has_parent: bool,
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be64(b: &[u8], at: usize) -> u64 {
    (u64::from(be32(b, at)) << 32) | u64::from(be32(b, at + 4))
}

fn sha(b: &[u8], at: usize) -> [u8; 20] {
    let mut s = [0u8; 20];
    s.copy_from_slice(&b[at..at + 20]);
    s
}

fn bad(offset: u64, msg: impl Into<String>) -> Error {
    Error::corrupt(FORMAT, "header", offset, msg)
}

/// Whether `head` starts with the CHD tag.
pub fn has_magic(head: &[u8]) -> bool {
    head.starts_with(MAGIC)
}

impl ChdHeader {
    /// Reads and checks the header of `src`.
    pub fn read(src: &dyn ReadAt) -> Result<ChdHeader> {
        let size = src.size();
        let mut b = [0u8; V5_LEN];
        let n = src.read_at(0, &mut b)?;
        if n < 16 || !has_magic(&b) {
            return Err(Error::new(
                crate::ErrorKind::NotRecognized,
                "not a CHD file (no MComprHD tag)",
            )
            .with_format(FORMAT));
        }
        let length = be32(&b, 8) as usize;
        let version = be32(&b, 12);
        let want = match version {
            3 => V3_LEN,
            4 => V4_LEN,
            5 => V5_LEN,
            1 | 2 => {
                return Err(Error::unsupported(
                    FORMAT,
                    format!("CHD version {version} (only versions 3, 4 and 5 are read)"),
                ));
            }
            v => return Err(bad(12, format!("unknown version {v}"))),
        };
        if length != want || n < want {
            return Err(bad(
                8,
                format!(
                    "version {version} header of {length} bytes (expected {want}) in a file of {size} bytes"
                ),
            ));
        }
        let h = match version {
            5 => {
                let hunk_bytes = be32(&b, 56);
                let logical_bytes = be64(&b, 32);
                let mut compressors = [0u32; 4];
                for (i, c) in compressors.iter_mut().enumerate() {
                    *c = be32(&b, 16 + 4 * i);
                }
                let parent_sha1 = sha(&b, 104);
                ChdHeader {
                    version,
                    compressors,
                    logical_bytes,
                    map_offset: be64(&b, 40),
                    meta_offset: be64(&b, 48),
                    hunk_bytes,
                    unit_bytes: be32(&b, 60),
                    hunk_count: 0,
                    sha1: sha(&b, 84),
                    raw_sha1: sha(&b, 64),
                    parent_sha1,
                    has_parent: parent_sha1 != [0; 20],
                }
            }
            _ => {
                let v3 = version == 3;
                let flags = be32(&b, 16);
                ChdHeader {
                    version,
                    compressors: [be32(&b, 20), 0, 0, 0],
                    logical_bytes: be64(&b, 28),
                    map_offset: want as u64,
                    meta_offset: be64(&b, 36),
                    hunk_bytes: be32(&b, if v3 { 76 } else { 44 }),
                    unit_bytes: 0,
                    hunk_count: be32(&b, 24),
                    sha1: sha(&b, if v3 { 80 } else { 48 }),
                    raw_sha1: if v3 { [0; 20] } else { sha(&b, 88) },
                    parent_sha1: sha(&b, if v3 { 100 } else { 68 }),
                    has_parent: flags & FLAG_HAS_PARENT != 0,
                }
            }
        };
        h.check(size)
    }

    fn check(mut self, size: u64) -> Result<ChdHeader> {
        if self.hunk_bytes == 0 || self.hunk_bytes > MAX_HUNK_BYTES {
            return Err(Error::limit(
                FORMAT,
                "header",
                0,
                format!(
                    "hunk size {} (from 1 to {MAX_HUNK_BYTES} bytes)",
                    self.hunk_bytes
                ),
            ));
        }
        if self.logical_bytes > MAX_LOGICAL_BYTES {
            return Err(Error::limit(
                FORMAT,
                "header",
                0,
                format!("logical size {} bytes", self.logical_bytes),
            ));
        }
        let hunks = self.logical_bytes.div_ceil(u64::from(self.hunk_bytes));
        if self.version == 5 {
            if self.unit_bytes == 0 || self.hunk_bytes % self.unit_bytes != 0 {
                return Err(bad(
                    60,
                    format!(
                        "unit size {} does not divide the hunk size {}",
                        self.unit_bytes, self.hunk_bytes
                    ),
                ));
            }
            if self
                .compressors
                .iter()
                .skip_while(|&&c| c != 0)
                .any(|&c| c != 0)
            {
                return Err(bad(16, "a codec follows an unused codec slot"));
            }
        } else if u64::from(self.hunk_count) < hunks || self.hunk_count == 0 {
            return Err(bad(
                24,
                format!(
                    "{} hunks of {} bytes cannot hold {} bytes",
                    self.hunk_count, self.hunk_bytes, self.logical_bytes
                ),
            ));
        }
        let count = if self.version == 5 {
            hunks
        } else {
            u64::from(self.hunk_count)
        };
        if count > MAX_HUNKS {
            return Err(Error::limit(
                FORMAT,
                "hunk map",
                self.map_offset,
                format!("{count} hunks (at most {MAX_HUNKS})"),
            ));
        }
        self.hunk_count = count as u32;
        // The map must lie in the file (a compressed map: its own header, then its length).
        let map_len = match (self.version, self.compressors[0]) {
            (5, 0) => count * 4,
            (5, _) => MAP_HEADER_LEN,
            _ => (count + 1) * LEGACY_ENTRY_LEN,
        };
        if self
            .map_offset
            .checked_add(map_len)
            .is_none_or(|end| end > size)
            || self.map_offset < V4_LEN as u64
        {
            return Err(bad(
                40,
                format!(
                    "hunk map at byte {} ({map_len} bytes) lies outside the file ({size} bytes)",
                    self.map_offset
                ),
            ));
        }
        if self.meta_offset != 0 && (self.meta_offset < V4_LEN as u64 || self.meta_offset >= size) {
            return Err(bad(
                48,
                format!("metadata at byte {} outside the file", self.meta_offset),
            ));
        }
        Ok(self)
    }

    /// Whether hunks are compressed (version 5: a first codec is named; versions 3/4 always
    /// have a map of typed entries).
    pub fn compressed(&self) -> bool {
        self.compressors[0] != 0
    }

    /// The codecs in use, in slot order.
    pub fn codecs(&self) -> impl Iterator<Item = u32> + '_ {
        self.compressors.iter().copied().take_while(|&c| c != 0)
    }
}

/// A codec tag as text (`cdlz`, `zlib`; legacy codecs by number).
pub fn codec_name(tag: u32) -> String {
    match tag {
        0 => "none".into(),
        1 => "zlib (v3/v4)".into(),
        2 => "zlib+ (v3/v4)".into(),
        3 => "avhuff (v3/v4)".into(),
        t => {
            let b = t.to_be_bytes();
            if b.iter().all(|c| c.is_ascii_graphic()) {
                String::from_utf8_lossy(&b).into_owned()
            } else {
                format!("0x{t:08x}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::MemorySource;

    fn v5(logical: u64, hunk: u32, unit: u32, map: u64) -> Vec<u8> {
        let mut b = vec![0u8; 256];
        b[..8].copy_from_slice(MAGIC);
        b[8..12].copy_from_slice(&(V5_LEN as u32).to_be_bytes());
        b[12..16].copy_from_slice(&5u32.to_be_bytes());
        b[16..20].copy_from_slice(b"zlib");
        b[32..40].copy_from_slice(&logical.to_be_bytes());
        b[40..48].copy_from_slice(&map.to_be_bytes());
        b[56..60].copy_from_slice(&hunk.to_be_bytes());
        b[60..64].copy_from_slice(&unit.to_be_bytes());
        b
    }

    #[test]
    fn reads_v5() {
        let h = ChdHeader::read(&MemorySource::new(v5(8192, 4096, 512, 124))).unwrap();
        assert_eq!((h.hunk_count, h.unit_bytes, h.version), (2, 512, 5));
        assert_eq!(codec_name(h.compressors[0]), "zlib");
    }

    #[test]
    fn refuses_hostile_sizes() {
        for (logical, hunk, unit, map) in [
            (u64::MAX, 4096, 512, 124),      // logical size overflows
            (8192, 0, 512, 124),             // no hunk size
            (8192, 4096, 0, 124),            // no unit size
            (8192, 4096, 1000, 124),         // unit does not divide
            (8192, u32::MAX, 512, 124),      // absurd hunk
            (1 << 40, 16, 16, 124),          // too many hunks
            (8192, 4096, 512, 250),          // map header past the end
            (8192, 4096, 512, u64::MAX - 4), // map offset overflows
        ] {
            assert!(
                ChdHeader::read(&MemorySource::new(v5(logical, hunk, unit, map))).is_err(),
                "{logical} {hunk} {unit} {map}"
            );
        }
    }
}
