//! Bytes in memory as a source (tests, small decoded structures, fuzzing).

use super::{ReadAt, clamp_len};
use crate::device::BlockDevice;
use crate::error::Result;
use std::sync::Arc;

/// An immutable byte buffer as a source.
#[derive(Debug, Clone)]
pub struct MemorySource {
    data: Arc<[u8]>,
}

impl MemorySource {
    /// Wraps `data`.
    pub fn new(data: impl Into<Arc<[u8]>>) -> Self {
        MemorySource { data: data.into() }
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }
}

impl ReadAt for MemorySource {
    fn size(&self) -> u64 {
        self.data.len() as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let n = clamp_len(offset, buf.len(), self.size());
        if n > 0 {
            let start = offset as usize; // in range: offset < len of an in-memory slice
            buf[..n].copy_from_slice(&self.data[start..start + n]);
        }
        Ok(n)
    }
}

impl BlockDevice for MemorySource {}
