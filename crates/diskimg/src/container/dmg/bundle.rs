//! Sparse bundles (`name.sparsebundle/`, hdiutil's `UDSB`): read.
//!
//! A sparse bundle is a folder: `Info.plist` (an XML property list with `band-size`, `size`
//! and `diskimage-bundle-type` = `com.apple.diskimage.sparsebundle`), and `bands/`, holding
//! band `i` of the disk in a file named `i` in lower-case hexadecimal. A missing band file reads
//! as zeros (`unallocated`), a short one as zeros past its end (`zero`); holes inside band files
//! are reported through the host's `SEEK_HOLE`. Band files are opened when first read and kept
//! open, at most [`OPEN_BANDS`] at a time.
//!
//! Not supported: encrypted bundles (a `token` file holding an `encrcdsa` header).

use super::plist;
use crate::container::Container;
use crate::device::{BlockDevice, DeviceRef, Extent, ExtentKind};
use crate::error::{Error, ErrorKind, Result, ResultExt};
use crate::io::{FileSource, ReadAt, clamp_len};
use serde_json::json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Format name.
pub const FORMAT: &str = "sparsebundle";
/// Longest `Info.plist` read.
pub const MAX_INFO_LEN: u64 = 1 << 20;
/// Most bands.
pub const MAX_BANDS: u64 = 1 << 24;
/// Band files kept open.
pub const OPEN_BANDS: usize = 64;

/// Whether `path` is a sparse bundle folder.
pub fn is_bundle(path: &Path) -> bool {
    path.is_dir() && path.join("Info.plist").is_file() && path.join("bands").is_dir()
}

/// The disk inside a sparse bundle.
pub struct BundleDevice {
    dir: PathBuf,
    band_size: u64,
    size: u64,
    open: Mutex<HashMap<u64, Option<Arc<FileSource>>>>,
}

impl BundleDevice {
    /// Band file `i`, if it exists.
    fn band(&self, i: u64) -> Result<Option<Arc<FileSource>>> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = open.get(&i) {
            return Ok(b.clone());
        }
        let path = self.dir.join("bands").join(format!("{i:x}"));
        let b = match FileSource::open(&path) {
            Ok(f) => Some(Arc::new(f)),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        if open.len() >= OPEN_BANDS {
            open.clear();
        }
        open.insert(i, b.clone());
        Ok(b)
    }
}

impl ReadAt for BundleDevice {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let n = clamp_len(offset, buf.len(), self.size);
        let mut done = 0;
        while done < n {
            let pos = offset + done as u64;
            let (band, within) = (pos / self.band_size, pos % self.band_size);
            let take = ((self.band_size - within) as usize).min(n - done);
            let dest = &mut buf[done..done + take];
            match self.band(band)? {
                Some(f) => {
                    let got = clamp_len(within, take, f.size());
                    f.read_exact_at(within, &mut dest[..got])?;
                    dest[got..].fill(0);
                }
                None => dest.fill(0),
            }
            done += take;
        }
        Ok(n)
    }
}

impl BlockDevice for BundleDevice {
    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        let end = offset.saturating_add(len).min(self.size);
        let mut out: Vec<Extent> = Vec::new();
        let mut push = |e: Extent| match out.last_mut() {
            Some(l) if l.kind == e.kind && l.offset + l.len == e.offset => l.len += e.len,
            _ if e.len > 0 => out.push(e),
            _ => {}
        };
        let mut pos = offset;
        while pos < end {
            let (band, within) = (pos / self.band_size, pos % self.band_size);
            let stop = (pos - within + self.band_size).min(end);
            let base = pos - within;
            match self.band(band)? {
                Some(f) => {
                    let file_end = (base + f.size()).min(stop);
                    if file_end > pos {
                        for e in f.extents(within, file_end - pos)? {
                            push(Extent {
                                offset: base + e.offset,
                                len: e.len,
                                kind: e.kind,
                            });
                        }
                    }
                    push(Extent {
                        offset: file_end.max(pos),
                        len: stop - file_end.max(pos),
                        kind: ExtentKind::Zero,
                    });
                }
                None => push(Extent {
                    offset: pos,
                    len: stop - pos,
                    kind: ExtentKind::Unallocated,
                }),
            }
            pos = stop;
        }
        Ok(out)
    }
}

/// An opened sparse bundle.
pub struct SparseBundle {
    device: Arc<BundleDevice>,
}

impl SparseBundle {
    /// Opens the bundle folder `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        let info_path = dir.join("Info.plist");
        let info = FileSource::open(&info_path)?;
        let text = crate::io::read_vec(&info, 0, info.size(), MAX_INFO_LEN).in_file(&info_path)?;
        let doc = plist::parse(&text).in_file(&info_path)?;
        let bad = |msg: &str| {
            Error::corrupt(FORMAT, "Info.plist", 0, msg.to_owned()).with_file(&info_path)
        };
        match doc.get("diskimage-bundle-type").and_then(|v| v.as_str()) {
            Some("com.apple.diskimage.sparsebundle") => {}
            other => {
                return Err(bad(&format!(
                    "diskimage-bundle-type is {other:?}, not com.apple.diskimage.sparsebundle"
                )));
            }
        }
        let band_size = doc
            .get("band-size")
            .and_then(|v| v.as_u64())
            .filter(|b| (512..=1 << 34).contains(b))
            .ok_or_else(|| bad("no usable band-size"))?;
        let size = doc
            .get("size")
            .and_then(|v| v.as_u64())
            .ok_or_else(|| bad("no size"))?;
        if size.div_ceil(band_size) > MAX_BANDS {
            return Err(Error::limit(
                FORMAT,
                "Info.plist",
                0,
                format!("{} bands (limit {MAX_BANDS})", size.div_ceil(band_size)),
            ));
        }
        let token = dir.join("token");
        if std::fs::read(&token).is_ok_and(|t| t.starts_with(super::crypt::MAGIC)) {
            return Err(Error::unsupported(
                FORMAT,
                "encrypted sparse bundles are not supported",
            ));
        }
        Ok(SparseBundle {
            device: Arc::new(BundleDevice {
                dir: dir.to_path_buf(),
                band_size,
                size,
                open: Mutex::new(HashMap::new()),
            }),
        })
    }
}

impl Container for SparseBundle {
    fn format(&self) -> &'static str {
        FORMAT
    }

    fn device(&self) -> DeviceRef {
        self.device.clone()
    }

    fn details(&self) -> serde_json::Value {
        json!({
            "virtual_size": self.device.size,
            "band_size": self.device.band_size,
            "bands": self.device.size.div_ceil(self.device.band_size),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bands_holes_and_short_files() {
        let d = tempfile::tempdir().unwrap();
        let b = d.path().join("x.sparsebundle");
        std::fs::create_dir_all(b.join("bands")).unwrap();
        std::fs::write(
            b.join("Info.plist"),
            "<plist><dict><key>CFBundleInfoDictionaryVersion</key><string>6.0</string>\
             <key>band-size</key><integer>8192</integer><key>diskimage-bundle-type</key>\
             <string>com.apple.diskimage.sparsebundle</string><key>size</key>\
             <integer>40960</integer></dict></plist>",
        )
        .unwrap();
        std::fs::write(b.join("bands/0"), vec![1u8; 8192]).unwrap();
        std::fs::write(b.join("bands/3"), vec![2u8; 100]).unwrap();
        assert!(is_bundle(&b));
        let s = SparseBundle::open(&b).unwrap();
        let dev = s.device();
        let mut all = vec![9u8; 40960];
        dev.read_exact_at(0, &mut all).unwrap();
        assert!(all[..8192].iter().all(|&x| x == 1));
        assert!(all[8192..24576].iter().all(|&x| x == 0));
        assert!(all[24576..24676].iter().all(|&x| x == 2));
        assert!(all[24676..].iter().all(|&x| x == 0));
        let e = dev.extents(0, 40960).unwrap();
        assert_eq!(e[0].kind, ExtentKind::Data);
        assert_eq!(e[1].kind, ExtentKind::Unallocated);
        assert!(e.iter().map(|x| x.len).sum::<u64>() == 40960);
        std::fs::write(b.join("Info.plist"), "<plist><dict></dict></plist>").unwrap();
        assert!(SparseBundle::open(&b).is_err());
    }
}
