//! What a server offers: named devices, read-only or writable.

use super::proto::*;
use crate::device::{BlockDevice, DeviceRef};
use crate::overlay::WritableRef;

/// Largest read or write payload accepted (and announced as the maximum block size).
pub const MAX_PAYLOAD: u32 = 32 << 20;

/// One export: a device by name.
pub struct Export {
    /// The name clients ask for (`""` reaches the first export too).
    pub name: String,
    /// A line for `nbdinfo --list`.
    pub description: String,
    /// What is read.
    pub device: DeviceRef,
    /// Where writes go, for a writable export; reads then come from here too.
    pub writable: Option<WritableRef>,
}

impl Export {
    /// A read-only export.
    pub fn read_only(name: impl Into<String>, device: DeviceRef) -> Self {
        Export {
            name: name.into(),
            description: String::new(),
            device,
            writable: None,
        }
    }

    /// A writable export.
    pub fn writable(name: impl Into<String>, device: WritableRef) -> Self {
        let read: DeviceRef = device.clone();
        Export {
            name: name.into(),
            description: String::new(),
            device: read,
            writable: Some(device),
        }
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.device.size()
    }

    /// What the client may send, as transmission flags.
    pub fn transmission_flags(&self) -> u16 {
        let mut f = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_DF;
        // One device object serves every connection and a flush syncs it whole.
        f |= NBD_FLAG_CAN_MULTI_CONN;
        if self.writable.is_some() {
            f |= NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES;
        } else {
            f |= NBD_FLAG_READ_ONLY;
        }
        f
    }

    /// The I/O size that avoids read-modify-write: the sector size, at least 4096.
    pub fn preferred_block_size(&self) -> u32 {
        self.device.geometry().sector_size.max(4096)
    }
}
