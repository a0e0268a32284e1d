//! The version 5 file as the writer lays it out (MAME `chd.h`/`chd.cpp`, as chdman writes
//! it): the 124-byte header, the metadata entries right after it, the hunks one after the
//! other in hunk order (a hunk identical to an earlier one is stored as a copy of it), then
//! the compressed map ([`super::map_encode`]); the header is written again at the end with
//! the map's offset and the two SHA-1s. No parent images are written.

use super::FORMAT;
use super::codec::crc16;
use super::header::{MAGIC, V5_LEN};
use super::map_encode::{RawEntry, encode_map};
use super::metadata::FLAG_CHECKSUM;
use crate::error::{Error, ErrorKind, Result};
use chd::map::CompressionTypeV5 as T;
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::io::{Seek, SeekFrom, Write};
use std::sync::RwLock;

/// What identifies a hunk's data for finding copies: its SHA-1 and CRC-16 (as chdman).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HunkKey {
    sha1: [u8; 20],
    crc: u16,
}

impl HunkKey {
    /// The key of `hunk`.
    pub fn of(hunk: &[u8]) -> HunkKey {
        HunkKey {
            sha1: Sha1::digest(hunk).into(),
            crc: crc16(hunk),
        }
    }
}

/// The hunks stored so far, by key, shared with the compressing threads so they skip hunks
/// that will be copies.
#[derive(Default)]
pub struct StoredHunks(RwLock<HashMap<HunkKey, u32>>);

impl StoredHunks {
    /// The hunk stored with `key`, if any.
    pub fn find(&self, key: &HunkKey) -> Option<u32> {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .copied()
    }

    fn insert(&self, key: HunkKey, hunk: u32) {
        self.0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key)
            .or_insert(hunk);
    }
}

/// How a hunk is to be stored.
pub enum Stored {
    /// Compressed with codec slot `.0` into `.1`.
    Codec(u8, Vec<u8>),
    /// As is.
    Plain,
    /// Found already stored when it was compressed.
    Copy,
}

/// The header fields of a new image.
pub struct V5Params {
    /// Codec tags by slot (0: unused).
    pub codecs: [u32; 4],
    /// Uncompressed size.
    pub logical_bytes: u64,
    /// Bytes per hunk.
    pub hunk_bytes: u32,
    /// Bytes per unit.
    pub unit_bytes: u32,
}

/// A version 5 image being written.
pub struct V5Writer<W: Write + Seek> {
    out: W,
    params: V5Params,
    meta_offset: u64,
    /// Sorted into the overall SHA-1: tag and SHA-1 of each checksummed metadata entry.
    meta_records: Vec<[u8; 24]>,
    entries: Vec<RawEntry>,
    stored: StoredHunks,
    raw_sha1: Sha1,
    eof: u64,
}

fn io_err(e: std::io::Error) -> Error {
    Error::from(e).with_format(FORMAT)
}

impl<W: Write + Seek> V5Writer<W> {
    /// Starts the image: a provisional header, then `metadata` (tag, data), all checksummed.
    pub fn new(mut out: W, params: V5Params, metadata: &[(u32, Vec<u8>)]) -> Result<Self> {
        if params.codecs[0] == 0 {
            return Err(Error::invalid_input(
                "the CHD writer writes compressed images only",
            ));
        }
        if params.unit_bytes == 0
            || params.hunk_bytes == 0
            || params.hunk_bytes % params.unit_bytes != 0
        {
            return Err(Error::invalid_input(
                "hunk size not a multiple of the unit size",
            ));
        }
        out.seek(SeekFrom::Start(0)).map_err(io_err)?;
        let mut w = V5Writer {
            out,
            params,
            meta_offset: 0,
            meta_records: Vec::new(),
            entries: Vec::new(),
            stored: StoredHunks::default(),
            raw_sha1: Sha1::new(),
            eof: V5_LEN as u64,
        };
        let header = w.header(0, [0; 20], [0; 20]);
        w.out.write_all(&header).map_err(io_err)?;
        let mut at = w.eof;
        for (i, (tag, data)) in metadata.iter().enumerate() {
            let len = u32::try_from(data.len())
                .ok()
                .filter(|&l| l < 1 << 24)
                .ok_or_else(|| Error::invalid_input("metadata entry of 16 MiB or more"))?;
            let next = if i + 1 < metadata.len() {
                at + 16 + u64::from(len)
            } else {
                0
            };
            let mut h = [0u8; 16];
            h[..4].copy_from_slice(&tag.to_be_bytes());
            h[4..8].copy_from_slice(&len.to_be_bytes());
            h[4] = FLAG_CHECKSUM;
            h[8..].copy_from_slice(&next.to_be_bytes());
            w.out.write_all(&h).map_err(io_err)?;
            w.out.write_all(data).map_err(io_err)?;
            let mut r = [0u8; 24];
            r[..4].copy_from_slice(&tag.to_be_bytes());
            r[4..].copy_from_slice(&Sha1::digest(data));
            w.meta_records.push(r);
            if i == 0 {
                w.meta_offset = at;
            }
            at += 16 + u64::from(len);
        }
        w.eof = at;
        Ok(w)
    }

    /// The stored hunks, for compressing threads to look up.
    pub fn stored(&self) -> &StoredHunks {
        &self.stored
    }

    /// Hunks written so far.
    pub fn hunks(&self) -> u64 {
        self.entries.len() as u64
    }

    /// Appends the next hunk (`data`, exactly a hunk, with its `key`), stored as `how`.
    pub fn push(&mut self, data: &[u8], key: HunkKey, how: Stored) -> Result<()> {
        let n = u32::try_from(self.entries.len())
            .map_err(|_| Error::invalid_input("too many hunks"))?;
        let hunks = self
            .params
            .logical_bytes
            .div_ceil(u64::from(self.params.hunk_bytes));
        if u64::from(n) >= hunks || data.len() != self.params.hunk_bytes as usize {
            return Err(Error::invalid_input("hunk past the image's size"));
        }
        let done = u64::from(n) * u64::from(self.params.hunk_bytes);
        let logical = (self.params.logical_bytes - done).min(data.len() as u64) as usize;
        self.raw_sha1.update(&data[..logical]);
        let entry = if let Some(other) = self.stored.find(&key) {
            RawEntry {
                kind: T::CompressionSelf as u8,
                len: 0,
                offset: u64::from(other),
                crc: 0,
            }
        } else {
            let (kind, bytes) = match &how {
                Stored::Codec(slot, bytes) => (*slot, bytes.as_slice()),
                Stored::Plain => (T::CompressionNone as u8, data),
                // The copy was found by a compressing thread, so it is in the index.
                Stored::Copy => {
                    return Err(Error::new(
                        ErrorKind::Io,
                        "a hunk was taken for a copy of one not stored",
                    )
                    .with_format(FORMAT));
                }
            };
            self.out.write_all(bytes).map_err(io_err)?;
            let e = RawEntry {
                kind,
                len: bytes.len() as u32,
                offset: self.eof,
                crc: key.crc,
            };
            self.eof += bytes.len() as u64;
            self.stored.insert(key, n);
            e
        };
        self.entries.push(entry);
        Ok(())
    }

    /// Writes the map and the final header; returns the output.
    pub fn finish(mut self) -> Result<W> {
        let hunks = self
            .params
            .logical_bytes
            .div_ceil(u64::from(self.params.hunk_bytes));
        if self.hunks() != hunks {
            return Err(Error::invalid_input(format!(
                "{} of {hunks} hunks written",
                self.hunks()
            )));
        }
        let map = encode_map(&self.entries)?;
        let map_offset = self.eof;
        self.out.write_all(&map).map_err(io_err)?;
        let raw: [u8; 20] = self.raw_sha1.finalize_reset().into();
        self.meta_records.sort();
        let mut overall = Sha1::new();
        overall.update(raw);
        for r in &self.meta_records {
            overall.update(r);
        }
        let overall: [u8; 20] = overall.finalize().into();
        let header = self.header(map_offset, raw, overall);
        self.out.seek(SeekFrom::Start(0)).map_err(io_err)?;
        self.out.write_all(&header).map_err(io_err)?;
        self.out.flush().map_err(io_err)?;
        Ok(self.out)
    }

    fn header(&self, map_offset: u64, raw_sha1: [u8; 20], sha1: [u8; 20]) -> Vec<u8> {
        let p = &self.params;
        let mut h = Vec::with_capacity(V5_LEN);
        h.extend_from_slice(MAGIC);
        h.extend_from_slice(&(V5_LEN as u32).to_be_bytes());
        h.extend_from_slice(&5u32.to_be_bytes());
        for c in p.codecs {
            h.extend_from_slice(&c.to_be_bytes());
        }
        h.extend_from_slice(&p.logical_bytes.to_be_bytes());
        h.extend_from_slice(&map_offset.to_be_bytes());
        h.extend_from_slice(&self.meta_offset.to_be_bytes());
        h.extend_from_slice(&p.hunk_bytes.to_be_bytes());
        h.extend_from_slice(&p.unit_bytes.to_be_bytes());
        h.extend_from_slice(&raw_sha1);
        h.extend_from_slice(&sha1);
        h.extend_from_slice(&[0u8; 20]); // no parent
        h
    }
}

#[cfg(test)]
mod tests {
    use super::super::device::ChdDevice;
    use super::super::encode::HunkEncoder;
    use super::super::metadata::DVD;
    use super::*;
    use crate::io::MemorySource;
    use chd::header::CodecType;
    use std::io::Cursor;
    use std::sync::Arc;

    /// An image with compressible, incompressible, repeated and short last hunks reads back
    /// through the reader (the `chd` crate's map decoder), and its hunk CRCs and SHA-1s check.
    #[test]
    fn written_image_reads_back_and_verifies() {
        let hunk = 4096usize;
        let codecs = [CodecType::LzmaV5, CodecType::ZLibV5, CodecType::HuffV5];
        let mut x = 0x9E37_79B9u32;
        let mut noise = move || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        };
        let mut data = Vec::new();
        for i in 0..40usize {
            let h: Vec<u8> = match i % 5 {
                0 => (0..hunk).map(|j| (j % 13) as u8 ^ i as u8).collect(),
                1 => (0..hunk).map(|_| noise()).collect(),
                2 => vec![0u8; hunk],
                3 => data[..hunk].to_vec(),
                _ => (0..hunk)
                    .map(|j| if j % 3 == 0 { noise() % 4 } else { 0 })
                    .collect(),
            };
            data.extend(h);
        }
        let logical = data.len() as u64 - 1000;
        let mut tags = [0u32; 4];
        for (t, c) in tags.iter_mut().zip(codecs) {
            *t = c as u32;
        }
        let params = V5Params {
            codecs: tags,
            logical_bytes: logical,
            hunk_bytes: hunk as u32,
            unit_bytes: 2048,
        };
        let meta = vec![(DVD, b"\0".to_vec())];
        let mut w = V5Writer::new(Cursor::new(Vec::new()), params, &meta).unwrap();
        let mut enc = HunkEncoder::new(&codecs, hunk as u32).unwrap();
        data[logical as usize..].fill(0);
        for h in data.chunks_exact(hunk) {
            let key = HunkKey::of(h);
            let how = match enc.compress(h) {
                Some((slot, bytes)) => Stored::Codec(slot, bytes),
                None => Stored::Plain,
            };
            w.push(h, key, how).unwrap();
        }
        let file = w.finish().unwrap().into_inner();
        let dev = ChdDevice::open(Arc::new(MemorySource::new(file)), &|_| {
            Err(Error::invalid_input("no parent"))
        })
        .unwrap();
        let mut kinds = std::collections::HashSet::new();
        let mut back = vec![0u8; hunk];
        for (n, h) in data.chunks_exact(hunk).enumerate() {
            dev.read_hunk(n as u32, &mut back).unwrap();
            assert_eq!(back, h, "hunk {n}");
            kinds.insert(std::mem::discriminant(&dev.entry(n as u32).unwrap()));
        }
        // Codec, stored-as-is and copied hunks all occurred.
        assert_eq!(kinds.len(), 3);
        let check = super::super::verify::check_data(&dev, &|_| false).unwrap();
        assert_eq!(check.bad_count, 0);
        assert_eq!(check.raw_sha1, dev.header.raw_sha1);
        assert_eq!(check.overall_sha1, dev.header.sha1);
        assert_eq!(
            check.raw_sha1,
            <[u8; 20]>::from(Sha1::digest(&data[..logical as usize]))
        );
    }
}
