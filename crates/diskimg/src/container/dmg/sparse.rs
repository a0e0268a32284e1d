//! Sparse disk images (`.sparseimage`, hdiutil's `SPARSE`/`UDSP`): read.
//!
//! A 4096-byte header (big-endian; libmodi "Sparse disk image format") then bands of data in
//! the order they were first written:
//!
//! ```text
//!  0 "sprs"  4 version (3)  8 sectors per band  12 unknown (1)  16 sectors of the disk (u32)
//! 20 unknown (44 bytes)    64 band table: u32 per stored band, the band's number on the
//!                             disk plus 1 (0 = unused)
//! ```
//!
//! Stored band `i` lies at `4096 + i * band bytes` in the file. Bands of the disk that no entry
//! names read as zeros (`unallocated` in `extents`); a last band cut short by the end of the
//! file reads as zeros past it. Not supported: band tables longer than the header holds
//! ([`MAX_BANDS`]).

use crate::container::bytes::be32;
use crate::container::{Container, OpenContext};
use crate::device::{BlockDevice, DeviceRef, Extent, ExtentKind};
use crate::error::{Error, Result};
use crate::format::{Confidence, FormatDescriptor, Opener, ProbeInput};
use crate::io::{ReadAt, clamp_len, read_vec};
use serde_json::json;
use std::sync::Arc;

/// Format name.
pub const FORMAT: &str = "sparseimage";
/// Size of the header.
pub const HEADER_LEN: u64 = 4096;
/// Most bands: as many entries as the header holds.
pub const MAX_BANDS: usize = (HEADER_LEN as usize - 64) / 4;
/// Largest band (hdiutil uses 1 MiB).
pub const MAX_BAND_BYTES: u64 = 1 << 30;

/// Sparse images.
pub static DESCRIPTOR: FormatDescriptor = FormatDescriptor {
    name: FORMAT,
    description: "Apple sparse disk image (.sparseimage)",
    extensions: &["sparseimage"],
    probe,
    opener: Opener::Container(open),
    create: None,
    check: None,
};

fn probe(input: &ProbeInput<'_>) -> Confidence {
    if input.head.starts_with(b"sprs") {
        Confidence::CERTAIN
    } else {
        Confidence::NONE
    }
}

fn open(file: DeviceRef, _ctx: &OpenContext) -> Result<Box<dyn Container>> {
    Ok(Box::new(SparseImage::open(file)?))
}

/// The disk inside a sparse image.
pub struct SparseDevice {
    file: DeviceRef,
    band_bytes: u64,
    size: u64,
    /// For each band of the disk, its index in the file.
    bands: Vec<Option<u32>>,
}

impl SparseDevice {
    fn band_at(&self, offset: u64) -> (usize, u64) {
        (
            (offset / self.band_bytes) as usize,
            offset % self.band_bytes,
        )
    }
}

impl ReadAt for SparseDevice {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let n = clamp_len(offset, buf.len(), self.size);
        let mut done = 0;
        while done < n {
            let pos = offset + done as u64;
            let (band, within) = self.band_at(pos);
            let take = ((self.band_bytes - within) as usize).min(n - done);
            let dest = &mut buf[done..done + take];
            match self.bands.get(band).copied().flatten() {
                Some(i) => {
                    let at = HEADER_LEN + u64::from(i) * self.band_bytes + within;
                    let got = self.file.read_at(at, dest)?;
                    // A band cut short by the end of the file: zeros past it.
                    let mut got = got;
                    while got < dest.len() {
                        let more = self.file.read_at(at + got as u64, &mut dest[got..])?;
                        if more == 0 {
                            dest[got..].fill(0);
                            break;
                        }
                        got += more;
                    }
                }
                None => dest.fill(0),
            }
            done += take;
        }
        Ok(n)
    }
}

impl BlockDevice for SparseDevice {
    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        let end = offset.saturating_add(len).min(self.size);
        let mut out: Vec<Extent> = Vec::new();
        let mut pos = offset;
        while pos < end {
            let (band, within) = self.band_at(pos);
            let stop = (pos - within + self.band_bytes).min(end);
            let kind = if self.bands.get(band).copied().flatten().is_some() {
                ExtentKind::Data
            } else {
                ExtentKind::Unallocated
            };
            match out.last_mut() {
                Some(l) if l.kind == kind && l.offset + l.len == pos => l.len += stop - pos,
                _ => out.push(Extent {
                    offset: pos,
                    len: stop - pos,
                    kind,
                }),
            }
            pos = stop;
        }
        Ok(out)
    }
}

/// An opened sparse image.
pub struct SparseImage {
    device: Arc<SparseDevice>,
    stored: usize,
}

impl SparseImage {
    /// Opens the sparse image in `file`.
    pub fn open(file: DeviceRef) -> Result<Self> {
        let h = read_vec(file.as_ref(), 0, HEADER_LEN.min(file.size()), HEADER_LEN)?;
        if h.len() < HEADER_LEN as usize || &h[..4] != b"sprs" {
            return Err(Error::corrupt(FORMAT, "header", 0, "no 'sprs' header"));
        }
        let sectors_per_band = u64::from(be32(&h, 8));
        let band_bytes = sectors_per_band * 512;
        if band_bytes == 0 || band_bytes > MAX_BAND_BYTES {
            return Err(Error::corrupt(
                FORMAT,
                "header",
                8,
                format!("{sectors_per_band} sectors per band"),
            ));
        }
        let size = u64::from(be32(&h, 16)) * 512;
        let disk_bands = size.div_ceil(band_bytes);
        if disk_bands > MAX_BANDS as u64 {
            return Err(Error::unsupported(
                FORMAT,
                format!(
                    "{disk_bands} bands: band tables longer than the header (at most {MAX_BANDS} \
                     bands) are not supported"
                ),
            ));
        }
        let mut bands = vec![None; disk_bands as usize];
        let mut stored = 0;
        for i in 0..MAX_BANDS {
            let v = be32(&h, 64 + i * 4);
            if v == 0 {
                continue;
            }
            let slot = bands.get_mut(v as usize - 1).ok_or_else(|| {
                Error::corrupt(
                    FORMAT,
                    "band table",
                    (64 + i * 4) as u64,
                    format!("band {v} is past the disk's {disk_bands} bands"),
                )
            })?;
            if slot.is_some() {
                return Err(Error::corrupt(
                    FORMAT,
                    "band table",
                    (64 + i * 4) as u64,
                    format!("band {v} is stored twice"),
                ));
            }
            *slot = Some(i as u32);
            stored += 1;
        }
        Ok(SparseImage {
            device: Arc::new(SparseDevice {
                file,
                band_bytes,
                size,
                bands,
            }),
            stored,
        })
    }
}

impl Container for SparseImage {
    fn format(&self) -> &'static str {
        FORMAT
    }

    fn device(&self) -> DeviceRef {
        self.device.clone()
    }

    fn details(&self) -> serde_json::Value {
        json!({
            "virtual_size": self.device.size,
            "band_size": self.device.band_bytes,
            "bands": self.device.bands.len(),
            "stored_bands": self.stored,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::io::MemorySource;

    /// A sparse image of `sectors` sectors, bands of 8 sectors, storing `(disk band, fill)` in
    /// that order, built as the header layout says.
    pub(crate) fn build(sectors: u32, stored: &[(u32, u8)]) -> Vec<u8> {
        let mut f = vec![0u8; HEADER_LEN as usize];
        f[..4].copy_from_slice(b"sprs");
        f[4..8].copy_from_slice(&3u32.to_be_bytes());
        f[8..12].copy_from_slice(&8u32.to_be_bytes());
        f[12..16].copy_from_slice(&1u32.to_be_bytes());
        f[16..20].copy_from_slice(&sectors.to_be_bytes());
        for (i, (band, fill)) in stored.iter().enumerate() {
            f[64 + i * 4..68 + i * 4].copy_from_slice(&(band + 1).to_be_bytes());
            f.extend(std::iter::repeat_n(*fill, 4096));
        }
        f
    }

    #[test]
    fn bands_map_and_holes_read_zero() {
        let img = build(40, &[(3, 0xaa), (0, 0xbb)]);
        let s = SparseImage::open(Arc::new(MemorySource::new(img))).unwrap();
        let d = s.device();
        assert_eq!(d.size(), 40 * 512);
        let mut b = vec![0u8; 40 * 512];
        d.read_exact_at(0, &mut b).unwrap();
        assert!(b[..4096].iter().all(|&x| x == 0xbb));
        assert!(b[4096..12288].iter().all(|&x| x == 0));
        assert!(b[12288..16384].iter().all(|&x| x == 0xaa));
        let e = d.extents(0, d.size()).unwrap();
        assert_eq!(e.len(), 4);
        assert_eq!(e[1].kind, ExtentKind::Unallocated);
    }

    #[test]
    fn hostile_tables_are_errors() {
        let mut img = build(16, &[(0, 1)]);
        img[64..68].copy_from_slice(&99u32.to_be_bytes());
        assert!(SparseImage::open(Arc::new(MemorySource::new(img))).is_err());
        let mut img = build(16, &[(0, 1), (1, 2)]);
        img[68..72].copy_from_slice(&1u32.to_be_bytes());
        assert!(SparseImage::open(Arc::new(MemorySource::new(img))).is_err());
        let mut img = build(16, &[]);
        img[8..12].copy_from_slice(&0u32.to_be_bytes());
        assert!(SparseImage::open(Arc::new(MemorySource::new(img))).is_err());
        let mut img = build(16, &[]);
        img[16..20].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(SparseImage::open(Arc::new(MemorySource::new(img))).is_err());
    }
}
