//! A writable device in memory (tests and the NBD fuzz target).

use super::{WritableDevice, check_range};
use crate::device::BlockDevice;
use crate::error::Result;
use crate::io::{ReadAt, clamp_len};
use std::sync::RwLock;

/// Bytes in memory that can be read and written.
#[derive(Debug, Default)]
pub struct MemoryDevice {
    data: RwLock<Vec<u8>>,
}

impl MemoryDevice {
    /// A device holding `data`.
    pub fn new(data: Vec<u8>) -> Self {
        MemoryDevice {
            data: RwLock::new(data),
        }
    }

    /// A copy of the bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        self.data.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl ReadAt for MemoryDevice {
    fn size(&self) -> u64 {
        self.data.read().unwrap_or_else(|p| p.into_inner()).len() as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let data = self.data.read().unwrap_or_else(|p| p.into_inner());
        let n = clamp_len(offset, buf.len(), data.len() as u64);
        if n > 0 {
            let at = offset as usize; // below the length of an in-memory buffer
            buf[..n].copy_from_slice(&data[at..at + n]);
        }
        Ok(n)
    }
}

impl BlockDevice for MemoryDevice {}

impl WritableDevice for MemoryDevice {
    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<()> {
        let mut data = self.data.write().unwrap_or_else(|p| p.into_inner());
        check_range(offset, buf.len() as u64, data.len() as u64)?;
        let at = offset as usize; // checked against the in-memory length above
        data[at..at + buf.len()].copy_from_slice(buf);
        Ok(())
    }

    fn write_zeroes(&self, offset: u64, len: u64) -> Result<()> {
        let mut data = self.data.write().unwrap_or_else(|p| p.into_inner());
        check_range(offset, len, data.len() as u64)?;
        let (at, len) = (offset as usize, len as usize);
        data[at..at + len].fill(0);
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        Ok(())
    }
}
