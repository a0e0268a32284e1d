//! Internal snapshots: the snapshot table (qemu `docs/interop/qcow2.txt`, "Snapshots").
//!
//! Snapshots are listed (`info`) and their tables are followed by `check`; the guest device is
//! always the active state. Reading a snapshot's own state is not offered.

use super::FORMAT;
use crate::device::DeviceRef;
use crate::error::{Error, Result};
use crate::io::read_vec;
use serde::Serialize;

/// Most snapshots read (qemu's limit).
pub const MAX_SNAPSHOTS: u32 = 65536;
/// Largest snapshot table read.
pub const MAX_SNAPSHOT_TABLE: u64 = 64 << 20;
/// Largest extra data of one entry (qemu's limit).
const MAX_EXTRA: u32 = 1024;

/// One snapshot table entry.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// Unique ID string.
    pub id: String,
    /// Name.
    pub name: String,
    /// When it was taken (seconds since the Epoch).
    pub date_sec: u32,
    /// Subsecond part, nanoseconds.
    pub date_nsec: u32,
    /// Guest run time when taken, nanoseconds.
    pub vm_clock_nsec: u64,
    /// Size of the saved VM state in bytes.
    pub vm_state_size: u64,
    /// Virtual disk size at the snapshot, when recorded.
    pub disk_size: Option<u64>,
    /// Offset of the snapshot's L1 table.
    pub l1_table_offset: u64,
    /// Entries of that L1 table.
    pub l1_size: u32,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

/// Reads `count` entries of the table at `offset`. Also returns the table's length in bytes.
pub fn read_snapshots(file: &DeviceRef, offset: u64, count: u32) -> Result<(Vec<Snapshot>, u64)> {
    if count == 0 {
        return Ok((Vec::new(), 0));
    }
    if count > MAX_SNAPSHOTS {
        return Err(Error::limit(
            FORMAT,
            "snapshot table",
            offset,
            format!("{count} snapshots exceed the limit of {MAX_SNAPSHOTS}"),
        ));
    }
    let avail = file.size().saturating_sub(offset).min(MAX_SNAPSHOT_TABLE);
    let table = read_vec(file.as_ref(), offset, avail, MAX_SNAPSHOT_TABLE)?;
    let mut out = Vec::with_capacity(count.min(1024) as usize);
    let mut at = 0usize;
    for _ in 0..count {
        let here = offset + at as u64;
        let bad = |msg: &str| Error::corrupt(FORMAT, "snapshot table", here, msg.to_owned());
        if at + 40 > table.len() {
            return Err(bad("entry runs past the end of the file"));
        }
        let e = &table[at..];
        let id_len = be16(e, 12) as usize;
        let name_len = be16(e, 14) as usize;
        let extra = be32(e, 36);
        if extra > MAX_EXTRA {
            return Err(bad("extra data is too large"));
        }
        let extra = extra as usize;
        let len = 40 + extra + id_len + name_len;
        if at + len > table.len() {
            return Err(bad("entry runs past the end of the file"));
        }
        let x = &e[40..40 + extra];
        let vm_state_size = if extra >= 8 {
            be64(x, 0)
        } else {
            u64::from(be32(e, 32))
        };
        let disk_size = (extra >= 16).then(|| be64(x, 8));
        let id = &e[40 + extra..40 + extra + id_len];
        let name = &e[40 + extra + id_len..len];
        out.push(Snapshot {
            id: String::from_utf8_lossy(id).into_owned(),
            name: String::from_utf8_lossy(name).into_owned(),
            date_sec: be32(e, 16),
            date_nsec: be32(e, 20),
            vm_clock_nsec: be64(e, 24),
            vm_state_size,
            disk_size,
            l1_table_offset: be64(e, 0),
            l1_size: be32(e, 8),
        });
        at += len.div_ceil(8) * 8;
    }
    Ok((out, at as u64))
}
