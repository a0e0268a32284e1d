//! The sparse raw writer.

use super::FORMAT;
use crate::container::write::{CreateHook, CreateRequest, ImageWriter, WriteTarget};
use crate::error::{Error, Result};
use crate::io::WriteAt;
use std::sync::Arc;

/// Zero detection granularity: all-zero 4 KiB units stay holes, as with `qemu-img -S 4k`.
const UNIT: u64 = 4096;

pub(super) static HOOK: CreateHook = CreateHook {
    create,
    options: &[],
    backing: false,
    set_backing: None,
};

fn create(target: WriteTarget, req: &CreateRequest) -> Result<Box<dyn ImageWriter>> {
    req.options.check_known(FORMAT, HOOK.options)?;
    if req.backing.is_some() {
        return Err(Error::unsupported(
            FORMAT,
            "raw images have no backing file",
        ));
    }
    if req.compress {
        return Err(Error::unsupported(
            FORMAT,
            "raw images cannot be compressed",
        ));
    }
    Ok(Box::new(RawWriter {
        sink: target.sink,
        size: req.size,
    }))
}

/// Writes the runs it is given at their guest offsets; the rest stays a hole.
pub struct RawWriter {
    sink: Arc<dyn WriteAt>,
    size: u64,
}

impl ImageWriter for RawWriter {
    fn unit_size(&self) -> u64 {
        UNIT
    }

    fn write_units(&mut self, first: u64, data: &[u8]) -> Result<()> {
        let offset = first
            .checked_mul(UNIT)
            .ok_or_else(|| Error::invalid_input("unit index overflows"))?;
        // The last unit is padded to a whole unit; the image ends at its virtual size.
        let len = (data.len() as u64).min(self.size.saturating_sub(offset));
        self.sink.write_at(offset, &data[..len as usize])
    }

    fn write_zero_units(&mut self, _first: u64, _count: u64) -> Result<()> {
        Ok(()) // no backing file: unwritten ranges are holes that read as zeros
    }

    fn finish(self: Box<Self>) -> Result<()> {
        self.sink.set_size(self.size)
    }
}
