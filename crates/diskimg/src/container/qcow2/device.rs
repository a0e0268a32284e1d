//! The guest view of a qcow2 image: reads and allocation status through the cluster map.
//!
//! Contiguous data clusters are read with one positioned read; compressed clusters are
//! decompressed (the last few are cached, for small reads of the same cluster); zero clusters
//! read as zeros; unallocated clusters fall through to the backing image, or read as zeros
//! without one (and past the backing image's end).

use super::FORMAT;
use super::compress::decompress;
use super::header::CompressionType;
use super::table::{Mapper, PieceKind};
use crate::device::{BlockDevice, DeviceRef, Extent, ExtentKind};
use crate::error::{Error, ErrorKind, Result};
use crate::io::{ReadAt, clamp_len};
use std::sync::{Arc, Mutex};

/// Decompressed clusters kept for reuse.
const DECOMPRESSED_CACHE: usize = 4;

/// The backing image as the device sees it.
pub enum Backing {
    /// No backing file: unallocated clusters read as zeros.
    None,
    /// The backing image's guest device.
    Device(DeviceRef),
    /// A backing file is recorded but could not be opened: why.
    Missing(String),
}

/// A qcow2 image's guest device.
pub struct Qcow2Device {
    file: DeviceRef,
    mapper: Mapper,
    size: u64,
    compression: CompressionType,
    backing: Backing,
    decompressed: Mutex<Vec<(u64, Arc<[u8]>)>>,
}

impl Qcow2Device {
    /// A device of `size` guest bytes mapped by `mapper` over `file`.
    pub fn new(
        file: DeviceRef,
        mapper: Mapper,
        size: u64,
        compression: CompressionType,
        backing: Backing,
    ) -> Self {
        Qcow2Device {
            file,
            mapper,
            size,
            compression,
            backing,
            decompressed: Mutex::new(Vec::new()),
        }
    }

    /// The cluster map.
    pub fn mapper(&self) -> &Mapper {
        &self.mapper
    }

    /// The allocation of this image alone, without looking into the backing file:
    /// unallocated runs stay unallocated.
    pub fn own_extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        let len = len.min(self.size.saturating_sub(offset));
        let mut out: Vec<Extent> = Vec::new();
        for p in self.mapper.pieces(offset, len)? {
            let kind = match p.kind {
                PieceKind::Data { .. } | PieceKind::Compressed { .. } => ExtentKind::Data,
                PieceKind::Zero => ExtentKind::Zero,
                PieceKind::Unallocated => ExtentKind::Unallocated,
            };
            push_extent(&mut out, p.offset, p.len, kind);
        }
        Ok(out)
    }

    fn cluster(&self, host: u64, len: u64) -> Result<Arc<[u8]>> {
        {
            let c = self.decompressed.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((_, data)) = c.iter().find(|(h, _)| *h == host) {
                return Ok(data.clone());
            }
        }
        let avail = self.file.size().saturating_sub(host).min(len);
        let mut input = vec![0u8; avail as usize];
        self.file.read_exact_at(host, &mut input)?;
        let mut out = vec![0u8; self.mapper.geometry().cluster_size() as usize];
        decompress(self.compression, &input, &mut out, host)?;
        let data: Arc<[u8]> = out.into();
        let mut c = self.decompressed.lock().unwrap_or_else(|p| p.into_inner());
        if c.len() >= DECOMPRESSED_CACHE {
            c.remove(0);
        }
        c.push((host, data.clone()));
        Ok(data)
    }

    fn read_backing(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        match &self.backing {
            Backing::None => buf.fill(0),
            Backing::Missing(why) => {
                return Err(Error::new(ErrorKind::NotFound, why.clone())
                    .with_format(FORMAT)
                    .with_structure("backing file")
                    .with_offset(offset));
            }
            Backing::Device(dev) => {
                let n = clamp_len(offset, buf.len(), dev.size());
                if n > 0 {
                    dev.read_exact_at(offset, &mut buf[..n])?;
                }
                buf[n..].fill(0);
            }
        }
        Ok(())
    }
}

impl ReadAt for Qcow2Device {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let n = clamp_len(offset, buf.len(), self.size);
        if n == 0 {
            return Ok(0);
        }
        let cluster_mask = self.mapper.geometry().cluster_size() - 1;
        for p in self.mapper.pieces(offset, n as u64)? {
            let at = (p.offset - offset) as usize;
            let out = &mut buf[at..at + p.len as usize];
            match p.kind {
                PieceKind::Data { host } => {
                    // A last cluster cut short by the end of the file reads as zeros after it.
                    let avail = clamp_len(host, out.len(), self.file.size());
                    self.file.read_exact_at(host, &mut out[..avail])?;
                    out[avail..].fill(0);
                }
                PieceKind::Zero => out.fill(0),
                PieceKind::Unallocated => self.read_backing(p.offset, out)?,
                PieceKind::Compressed { host, len } => {
                    let data = self.cluster(host, len)?;
                    let within = (p.offset & cluster_mask) as usize;
                    out.copy_from_slice(&data[within..within + out.len()]);
                }
            }
        }
        Ok(n)
    }
}

impl BlockDevice for Qcow2Device {
    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        let own = self.own_extents(offset, len)?;
        let dev = match &self.backing {
            Backing::None => return Ok(own),
            Backing::Device(dev) => dev,
            Backing::Missing(why) => {
                // What falls through to a missing backing file is unknown, not zeros.
                return match own.iter().find(|e| e.kind == ExtentKind::Unallocated) {
                    Some(e) => Err(Error::new(ErrorKind::NotFound, why.clone())
                        .with_format(FORMAT)
                        .with_structure("backing file")
                        .with_offset(e.offset)),
                    None => Ok(own),
                };
            }
        };
        let mut out: Vec<Extent> = Vec::new();
        for e in own {
            if e.kind != ExtentKind::Unallocated {
                push_extent(&mut out, e.offset, e.len, e.kind);
                continue;
            }
            let covered = e.len.min(dev.size().saturating_sub(e.offset));
            if covered > 0 {
                for b in dev.extents(e.offset, covered)? {
                    push_extent(&mut out, b.offset, b.len, b.kind);
                }
            }
            if covered < e.len {
                push_extent(
                    &mut out,
                    e.offset + covered,
                    e.len - covered,
                    ExtentKind::Unallocated,
                );
            }
        }
        Ok(out)
    }
}

/// Appends a run, merging it with the previous one of the same kind.
pub fn push_extent(out: &mut Vec<Extent>, offset: u64, len: u64, kind: ExtentKind) {
    if len == 0 {
        return;
    }
    if let Some(last) = out.last_mut() {
        if last.kind == kind && last.offset + last.len == offset {
            last.len += len;
            return;
        }
    }
    out.push(Extent { offset, len, kind });
}
