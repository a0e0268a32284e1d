//! The hunk map: where each hunk is and how it is stored.
//!
//! Decoded by the `chd` crate (version 5 maps, raw or Huffman/RLE-compressed with their CRC-16
//! checked; version 3/4 maps of 16-byte entries), after [`check_map_header`] has bounded the
//! fields the crate computes with. Each entry is then normalised to a [`HunkEntry`] and checked
//! against the file: data inside it, lengths at most a hunk, codec slots that exist, references
//! to hunks that exist. A hunk therefore never reads outside the file or decompresses into
//! more than a hunk.

use super::FORMAT;
use super::header::{ChdHeader, MAP_HEADER_LEN};
use crate::error::{Error, Result};
use crate::io::{ReadAt, read_vec};
use chd::map::{CompressionTypeLegacy, CompressionTypeV5, Map, MapEntry};

/// How one hunk is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HunkEntry {
    /// Compressed with codec slot `codec` at `offset`, `len` bytes.
    Codec {
        /// Codec slot (0-3).
        codec: u8,
        /// File offset.
        offset: u64,
        /// Compressed length.
        len: u32,
        /// Check value of the decompressed hunk.
        crc: Crc,
    },
    /// Stored as is at `offset` (a whole hunk).
    Plain {
        /// File offset.
        offset: u64,
        /// Check value.
        crc: Crc,
    },
    /// All zeros (version 5 uncompressed map, offset 0, no parent).
    Zero,
    /// The 8-byte value repeated over the hunk (version 3/4 "mini" hunks).
    Mini(u64),
    /// The same data as hunk `n` of this image.
    SameAs(u32),
    /// From the parent image, starting at unit `unit` (version 5) of the parent's data.
    ParentUnit(u64),
    /// From the parent image: its hunk at the same place (version 5 uncompressed) or hunk `n`
    /// (version 3/4), as a byte offset into the parent's data.
    ParentOffset(u64),
}

/// A hunk's check value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crc {
    /// None stored.
    None,
    /// CRC-16/CCITT (version 5).
    Crc16(u16),
    /// CRC-32 (versions 3/4).
    Crc32(u32),
}

fn bad(offset: u64, msg: impl Into<String>) -> Error {
    Error::corrupt(FORMAT, "hunk map", offset, msg)
}

/// Checks what the crate would compute with unchecked: the version 5 compressed map's header
/// (field widths, length) and the run-length-coded Huffman tree that starts its data (a run
/// longer than the 16 codes left), and the offsets of version 3/4 entries (which the crate
/// adds to their lengths).
pub fn check_map_header(src: &dyn ReadAt, h: &ChdHeader) -> Result<()> {
    if h.version != 5 {
        return check_legacy_offsets(src, h);
    }
    if !h.compressed() {
        return Ok(());
    }
    let m = read_vec(src, h.map_offset, MAP_HEADER_LEN, MAP_HEADER_LEN)?;
    let len = u64::from(u32::from_be_bytes([m[0], m[1], m[2], m[3]]));
    let (length_bits, self_bits, parent_bits) = (m[12], m[13], m[14]);
    if h.map_offset + MAP_HEADER_LEN + len > src.size() {
        return Err(bad(
            h.map_offset,
            format!("compressed map of {len} bytes runs past the end of the file"),
        ));
    }
    if length_bits > 32 || self_bits > 32 || parent_bits > 48 {
        return Err(bad(
            h.map_offset + 12,
            format!("field widths {length_bits}/{self_bits}/{parent_bits} bits (at most 32/32/48)"),
        ));
    }
    let tree = read_vec(src, h.map_offset + MAP_HEADER_LEN, len.min(16), 16)?;
    if !tree_runs_fit(&tree) {
        return Err(bad(
            h.map_offset + MAP_HEADER_LEN,
            "the Huffman tree of the map codes more than 16 symbols",
        ));
    }
    Ok(())
}

/// Whether the run-length-coded code lengths of the map's 16-symbol Huffman tree (4-bit
/// values; 1 escapes: `1 1` is a length of 1, `1 L N` is N + 3 codes of length L) stay within
/// 16 codes. Running out of bits is left to the decoder, which reports it.
fn tree_runs_fit(data: &[u8]) -> bool {
    let mut bit = 0usize;
    let mut next = || -> Option<usize> {
        let byte = *data.get(bit / 8)?;
        let v = if bit % 8 == 0 { byte >> 4 } else { byte & 15 };
        bit += 4;
        Some(usize::from(v))
    };
    let mut node = 0usize;
    while node < 16 {
        let Some(v) = next() else { return true };
        if v != 1 {
            node += 1;
            continue;
        }
        let Some(v) = next() else { return true };
        if v == 1 {
            node += 1;
            continue;
        }
        let Some(rep) = next() else { return true };
        node += rep + 3;
        if node > 16 {
            return false;
        }
    }
    true
}

/// Version 3/4 entries whose data offset is so large that offset + length would overflow.
fn check_legacy_offsets(src: &dyn ReadAt, h: &ChdHeader) -> Result<()> {
    const CHUNK: u64 = 4096 * super::header::LEGACY_ENTRY_LEN;
    let total = u64::from(h.hunk_count) * super::header::LEGACY_ENTRY_LEN;
    let mut at = 0u64;
    while at < total {
        let n = (total - at).min(CHUNK);
        let b = read_vec(src, h.map_offset + at, n, CHUNK)?;
        for (i, e) in b.chunks_exact(16).enumerate() {
            let offset = u64::from_be_bytes([e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7]]);
            if offset > src.size() && matches!(e[15] & 15, 1 | 2) {
                return Err(bad(
                    h.map_offset + at + i as u64 * 16,
                    format!("hunk data at byte {offset}, past the end of the file"),
                ));
            }
        }
        at += n;
    }
    Ok(())
}

/// Decodes the map (the crate's work) and returns it; `file` must be the CHD's bytes.
pub fn read_map(
    src: &dyn ReadAt,
    crate_header: &chd::header::Header,
    h: &ChdHeader,
) -> Result<Map> {
    check_map_header(src, h)?;
    let mut cursor = crate::io::ReadAtCursor::new(src);
    Map::try_read_map(crate_header, &mut cursor)
        .map_err(|e| bad(h.map_offset, format!("cannot decode the hunk map: {e}")))
}

/// The entry of hunk `n`, normalised and checked against the file and the header.
pub fn entry(map: &Map, h: &ChdHeader, n: u32, file_size: u64) -> Result<HunkEntry> {
    let Some(e) = map.get_entry(n as usize) else {
        return Err(bad(h.map_offset, format!("hunk {n} has no map entry")));
    };
    let hunk = u64::from(h.hunk_bytes);
    let inside = |offset: u64, len: u64| -> Result<()> {
        if offset.checked_add(len).is_none_or(|end| end > file_size) {
            return Err(bad(
                h.map_offset,
                format!(
                    "hunk {n}: {len} bytes at byte {offset} lie past the end of the file ({file_size} bytes)"
                ),
            ));
        }
        Ok(())
    };
    let same_as = |target: u64| -> Result<HunkEntry> {
        if target >= u64::from(h.hunk_count) || target == u64::from(n) {
            return Err(bad(
                h.map_offset,
                format!("hunk {n} refers to hunk {target} (of {})", h.hunk_count),
            ));
        }
        Ok(HunkEntry::SameAs(target as u32))
    };
    let parent = |entry: HunkEntry| -> Result<HunkEntry> {
        if !h.has_parent {
            return Err(bad(
                h.map_offset,
                format!("hunk {n} refers to a parent image, but the image has none"),
            ));
        }
        Ok(entry)
    };
    Ok(match e {
        MapEntry::V5Compressed(e) => {
            let ty = e
                .hunk_type()
                .map_err(|_| bad(h.map_offset, format!("hunk {n}: unknown storage type")))?;
            match ty {
                CompressionTypeV5::CompressionType0
                | CompressionTypeV5::CompressionType1
                | CompressionTypeV5::CompressionType2
                | CompressionTypeV5::CompressionType3 => {
                    let codec = ty as u8;
                    if h.compressors[codec as usize] == 0 {
                        return Err(bad(
                            h.map_offset,
                            format!("hunk {n} uses codec slot {codec}, which is empty"),
                        ));
                    }
                    let len = e.block_size();
                    if u64::from(len) > hunk || len == 0 {
                        return Err(bad(
                            h.map_offset,
                            format!("hunk {n}: compressed length {len} (hunks are {hunk} bytes)"),
                        ));
                    }
                    inside(e.block_offset(), u64::from(len))?;
                    HunkEntry::Codec {
                        codec,
                        offset: e.block_offset(),
                        len,
                        crc: Crc::Crc16(e.hunk_crc()),
                    }
                }
                CompressionTypeV5::CompressionNone => {
                    inside(e.block_offset(), hunk)?;
                    HunkEntry::Plain {
                        offset: e.block_offset(),
                        crc: Crc::Crc16(e.hunk_crc()),
                    }
                }
                CompressionTypeV5::CompressionSelf => same_as(e.block_offset())?,
                CompressionTypeV5::CompressionParent => {
                    parent(HunkEntry::ParentUnit(e.block_offset()))?
                }
                _ => return Err(bad(h.map_offset, format!("hunk {n}: unknown storage type"))),
            }
        }
        MapEntry::V5Uncompressed(e) => match e.block_offset() {
            0 if h.has_parent => HunkEntry::ParentOffset(u64::from(n) * hunk),
            0 => HunkEntry::Zero,
            offset => {
                inside(offset, hunk)?;
                HunkEntry::Plain {
                    offset,
                    crc: Crc::None,
                }
            }
        },
        MapEntry::LegacyEntry(e) => {
            let crc = e.hunk_crc().map_or(Crc::None, Crc::Crc32);
            let ty = e
                .hunk_type()
                .map_err(|_| bad(h.map_offset, format!("hunk {n}: unknown storage type")))?;
            match ty {
                CompressionTypeLegacy::Compressed => {
                    let len = e.block_size();
                    if u64::from(len) > hunk || len == 0 {
                        return Err(bad(
                            h.map_offset,
                            format!("hunk {n}: compressed length {len} (hunks are {hunk} bytes)"),
                        ));
                    }
                    inside(e.block_offset(), u64::from(len))?;
                    HunkEntry::Codec {
                        codec: 0,
                        offset: e.block_offset(),
                        len,
                        crc,
                    }
                }
                CompressionTypeLegacy::Uncompressed => {
                    if u64::from(e.block_size()) != hunk {
                        return Err(bad(
                            h.map_offset,
                            format!(
                                "hunk {n}: stored length {} is not the hunk size",
                                e.block_size()
                            ),
                        ));
                    }
                    inside(e.block_offset(), hunk)?;
                    HunkEntry::Plain {
                        offset: e.block_offset(),
                        crc,
                    }
                }
                CompressionTypeLegacy::Mini => HunkEntry::Mini(e.block_offset()),
                CompressionTypeLegacy::SelfHunk => same_as(e.block_offset())?,
                CompressionTypeLegacy::ParentHunk => {
                    let at = e.block_offset().checked_mul(hunk).ok_or_else(|| {
                        bad(h.map_offset, format!("hunk {n}: parent hunk out of range"))
                    })?;
                    parent(HunkEntry::ParentOffset(at))?
                }
                CompressionTypeLegacy::ExternalCompressed => {
                    return Err(Error::unsupported(
                        FORMAT,
                        format!("hunk {n} is stored in an external file"),
                    ));
                }
                CompressionTypeLegacy::Invalid => {
                    return Err(bad(h.map_offset, format!("hunk {n}: invalid storage type")));
                }
            }
        }
    })
}

/// Checks every entry once, at open, so that reads meet only sound entries.
pub fn check_all(map: &Map, h: &ChdHeader, file_size: u64) -> Result<()> {
    if map.len() < h.hunk_count as usize {
        return Err(bad(
            h.map_offset,
            format!("{} map entries for {} hunks", map.len(), h.hunk_count),
        ));
    }
    for n in 0..h.hunk_count {
        entry(map, h, n, file_size)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::tree_runs_fit;

    #[test]
    fn tree_runs() {
        // 16 lengths of 2 written plainly, then a run of 13 + 3 = 16 of length 4.
        assert!(tree_runs_fit(&[0x22; 8]));
        assert!(tree_runs_fit(&[0x14, 0xd0]));
        // A run of 15 + 3 = 18 codes overflows the 16 symbols.
        assert!(!tree_runs_fit(&[0x14, 0xf0]));
        // Two codes, then a run of 15 + 3.
        assert!(!tree_runs_fit(&[0x22, 0x14, 0xf0]));
    }
}
