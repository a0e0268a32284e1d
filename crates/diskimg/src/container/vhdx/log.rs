//! The VHDX log ([MS-VHDX] 2.3), replayed in memory.
//!
//! The log is a circular buffer of 4 KiB sectors holding entries: a header (`loge`, CRC-32C
//! over the whole entry, the log GUID it belongs to, a sequence number, the tail), descriptors
//! (`desc`: a 4 KiB sector to write, its first 8 and last 4 bytes kept in the descriptor;
//! `zero`: a run to zero), and one `data` sector per data descriptor. When the header's log
//! GUID is not zero, the active sequence (consecutive valid entries with consecutive sequence
//! numbers, the newest whose tail lies inside it) must be applied before the BAT and metadata
//! are read. diskimg never writes its input: [`LogOverlay`] applies the entries over the file
//! in memory.

use crate::container::bytes::{id16, le32, le64};
use crate::device::{BlockDevice, DeviceRef, Extent, ExtentKind};
use crate::error::{Error, Result};
use crate::io::{ReadAt, clamp_len, read_vec};
use std::sync::Arc;

/// Log sector size.
const SECTOR: u64 = 4096;
/// Largest log replayed (the log is held in memory while it is parsed).
pub const MAX_LOG_LEN: u64 = 256 << 20;

/// One change the log makes to the file.
#[derive(Debug, Clone)]
struct Patch {
    offset: u64,
    len: u64,
    /// `None` for zeros.
    data: Option<Arc<[u8]>>,
}

/// What replay found.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    /// Entries applied.
    pub entries: usize,
    /// Sequence number of the newest entry.
    pub head_sequence: u64,
    /// Sectors written and zero runs applied.
    pub descriptors: usize,
}

struct Entry {
    position: u64,
    length: u64,
    tail: u64,
    sequence: u64,
    flushed_file_offset: u64,
    patches: Vec<Patch>,
}

/// Parses the entry at `position` of `log`, or `None` when it is not a valid entry of
/// `log_guid`.
fn parse_entry(log: &[u8], position: u64, log_guid: &[u8; 16]) -> Option<Entry> {
    let len = log.len() as u64;
    let sector = |i: u64| -> &[u8] {
        let at = ((position + i * SECTOR) % len) as usize;
        &log[at..at + SECTOR as usize]
    };
    let h = sector(0);
    if &h[..4] != b"loge" {
        return None;
    }
    let length = u64::from(le32(h, 8));
    let tail = u64::from(le32(h, 12));
    let sequence = le64(h, 16);
    let count = u64::from(le32(h, 24));
    if length == 0 || length % SECTOR != 0 || length > len || sequence == 0 {
        return None;
    }
    if id16(h, 32) != *log_guid || tail % SECTOR != 0 || tail >= len {
        return None;
    }
    let sectors = length / SECTOR;
    let desc_sectors = (count + 2).div_ceil(128);
    if desc_sectors > sectors {
        return None;
    }
    // CRC-32C over the whole entry, checksum field as zero.
    let mut crc = crc32c::crc32c(&h[..4]);
    crc = crc32c::crc32c_append(crc, &[0; 4]);
    crc = crc32c::crc32c_append(crc, &h[8..]);
    for i in 1..sectors {
        crc = crc32c::crc32c_append(crc, sector(i));
    }
    if crc != le32(h, 4) {
        return None;
    }
    let mut patches = Vec::new();
    let mut data_index = desc_sectors;
    for d in 0..count {
        let slot = d + 2; // the header takes the first two 32-byte slots
        let s = sector(slot / 128);
        let o = ((slot % 128) * 32) as usize;
        let desc = &s[o..o + 32];
        if le64(desc, 24) != sequence {
            return None;
        }
        let file_offset = le64(desc, 16);
        if file_offset % SECTOR != 0 {
            return None;
        }
        match &desc[..4] {
            b"zero" => {
                let zero_len = le64(desc, 8);
                if zero_len % SECTOR != 0 {
                    return None;
                }
                patches.push(Patch {
                    offset: file_offset,
                    len: zero_len,
                    data: None,
                });
            }
            b"desc" => {
                if data_index >= sectors {
                    return None;
                }
                let ds = sector(data_index);
                data_index += 1;
                let seq = (u64::from(le32(ds, 4)) << 32) | u64::from(le32(ds, 4092));
                if &ds[..4] != b"data" || seq != sequence {
                    return None;
                }
                let mut page = vec![0u8; SECTOR as usize];
                page[..8].copy_from_slice(&desc[8..16]);
                page[8..4092].copy_from_slice(&ds[8..4092]);
                page[4092..].copy_from_slice(&desc[4..8]);
                patches.push(Patch {
                    offset: file_offset,
                    len: SECTOR,
                    data: Some(page.into()),
                });
            }
            _ => return None,
        }
    }
    Some(Entry {
        position,
        length,
        tail,
        sequence,
        flushed_file_offset: le64(h, 48),
        patches,
    })
}

/// The file as it is after the log's active sequence is applied.
pub struct LogOverlay {
    inner: DeviceRef,
    size: u64,
    /// In log order: later patches win.
    patches: Vec<Patch>,
    /// Sorted, merged ranges that some patch touches.
    touched: Vec<(u64, u64)>,
}

impl LogOverlay {
    /// Finds the active sequence of the log at `offset` (`length` bytes) with `log_guid`, and
    /// returns the overlay and what was replayed (`None` when no valid sequence exists).
    pub fn replay(
        file: DeviceRef,
        offset: u64,
        length: u64,
        log_guid: &[u8; 16],
    ) -> Result<(DeviceRef, Option<Replay>)> {
        if length == 0 || length % SECTOR != 0 || length > MAX_LOG_LEN {
            return Err(Error::corrupt(
                "vhdx",
                "log",
                offset,
                format!("log of {length} bytes (a multiple of 4 KiB up to {MAX_LOG_LEN})"),
            ));
        }
        let log = read_vec(file.as_ref(), offset, length, MAX_LOG_LEN).map_err(|e| {
            e.with_format("vhdx")
                .with_structure("log")
                .with_offset(offset)
        })?;
        let mut best: Option<Vec<Entry>> = None;
        let mut pos = 0u64;
        while pos < length {
            let Some(first) = parse_entry(&log, pos, log_guid) else {
                pos += SECTOR;
                continue;
            };
            let mut seq = vec![first];
            let mut walked = seq[0].length;
            while walked < length {
                let last = &seq[seq.len() - 1];
                let next_pos = (last.position + last.length) % length;
                match parse_entry(&log, next_pos, log_guid) {
                    Some(e) if e.sequence == last.sequence.wrapping_add(1) => {
                        walked += e.length;
                        seq.push(e);
                    }
                    _ => break,
                }
            }
            let advance = walked;
            // The head's tail must point at an entry of this sequence; replay from there.
            let head = &seq[seq.len() - 1];
            if let Some(start) = seq.iter().position(|e| e.position == head.tail) {
                let seq: Vec<Entry> = seq.into_iter().skip(start).collect();
                let newer = best
                    .as_ref()
                    .is_none_or(|b| b[b.len() - 1].sequence < seq[seq.len() - 1].sequence);
                if newer {
                    best = Some(seq);
                }
            }
            pos += advance;
        }
        let Some(seq) = best else {
            return Ok((file, None));
        };
        let head = &seq[seq.len() - 1];
        if head.flushed_file_offset > file.size() {
            return Err(Error::corrupt(
                "vhdx",
                "log",
                offset + head.position,
                format!(
                    "the log says the file held {} bytes, but it has {} (truncated)",
                    head.flushed_file_offset,
                    file.size()
                ),
            ));
        }
        let replay = Replay {
            entries: seq.len(),
            head_sequence: head.sequence,
            descriptors: seq.iter().map(|e| e.patches.len()).sum(),
        };
        let size = seq
            .iter()
            .flat_map(|e| e.patches.iter().map(|p| p.offset.saturating_add(p.len)))
            .chain([file.size()])
            .max()
            .unwrap_or(file.size());
        let patches: Vec<Patch> = seq.into_iter().flat_map(|e| e.patches).collect();
        let mut ranges: Vec<(u64, u64)> = patches
            .iter()
            .map(|p| (p.offset, p.offset.saturating_add(p.len)))
            .collect();
        ranges.sort_unstable();
        let mut touched: Vec<(u64, u64)> = Vec::new();
        for (s, e) in ranges {
            match touched.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => touched.push((s, e)),
            }
        }
        let overlay = LogOverlay {
            inner: file,
            size,
            patches,
            touched,
        };
        Ok((Arc::new(overlay), Some(replay)))
    }

    fn touches(&self, start: u64, end: u64) -> bool {
        let i = self.touched.partition_point(|r| r.1 <= start);
        self.touched.get(i).is_some_and(|r| r.0 < end)
    }
}

impl ReadAt for LogOverlay {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let n = clamp_len(offset, buf.len(), self.size);
        let buf = &mut buf[..n];
        let end = offset + n as u64;
        let from_file = clamp_len(offset, n, self.inner.size());
        if from_file > 0 {
            self.inner.read_exact_at(offset, &mut buf[..from_file])?;
        }
        buf[from_file..].fill(0);
        if self.touches(offset, end) {
            for p in &self.patches {
                let s = p.offset.max(offset);
                let e = (p.offset.saturating_add(p.len)).min(end);
                if s >= e {
                    continue;
                }
                let dst = &mut buf[(s - offset) as usize..(e - offset) as usize];
                match &p.data {
                    Some(d) => {
                        dst.copy_from_slice(&d[(s - p.offset) as usize..(e - p.offset) as usize])
                    }
                    None => dst.fill(0),
                }
            }
        }
        Ok(n)
    }
}

impl BlockDevice for LogOverlay {
    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        let end = offset.saturating_add(len).min(self.size);
        if offset >= end {
            return Ok(Vec::new());
        }
        if self.touches(offset, end) || end > self.inner.size() {
            return Ok(vec![Extent {
                offset,
                len: end - offset,
                kind: ExtentKind::Data,
            }]);
        }
        self.inner.extents(offset, end - offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::MemorySource;

    const GUID: [u8; 16] = [7; 16];

    /// A log entry at `pos` of a `len`-byte log writing `fill` over file sector `target`.
    fn entry(log: &mut [u8], pos: usize, seq: u64, tail: u32, target: u64, fill: u8) {
        let len = log.len();
        let mut e = vec![0u8; 8192];
        e[..4].copy_from_slice(b"loge");
        e[8..12].copy_from_slice(&8192u32.to_le_bytes());
        e[12..16].copy_from_slice(&tail.to_le_bytes());
        e[16..24].copy_from_slice(&seq.to_le_bytes());
        e[24..28].copy_from_slice(&1u32.to_le_bytes());
        e[32..48].copy_from_slice(&GUID);
        let d = &mut e[64..96];
        d[..4].copy_from_slice(b"desc");
        d[4..8].copy_from_slice(&[fill; 4]);
        d[8..16].copy_from_slice(&[fill; 8]);
        d[16..24].copy_from_slice(&target.to_le_bytes());
        d[24..32].copy_from_slice(&seq.to_le_bytes());
        let s = &mut e[4096..];
        s[..4].copy_from_slice(b"data");
        s[4..8].copy_from_slice(&((seq >> 32) as u32).to_le_bytes());
        s[8..4092].fill(fill);
        s[4092..].copy_from_slice(&(seq as u32).to_le_bytes());
        let crc = {
            let mut c = e.clone();
            c[4..8].fill(0);
            crc32c::crc32c(&c)
        };
        e[4..8].copy_from_slice(&crc.to_le_bytes());
        for (i, b) in e.iter().enumerate() {
            log[(pos + i) % len] = *b;
        }
    }

    fn overlay(log: &[u8]) -> (DeviceRef, Option<Replay>) {
        let mut file = vec![0u8; 1 << 20];
        file[..log.len()].copy_from_slice(log);
        LogOverlay::replay(
            Arc::new(MemorySource::new(file)),
            0,
            log.len() as u64,
            &GUID,
        )
        .unwrap()
    }

    #[test]
    fn replays_the_newest_sequence_even_across_the_end() {
        let mut log = vec![0u8; 5 * 4096];
        // An old sequence (seq 3) and a newer one (seq 8, 9) that wraps around the end.
        entry(&mut log, 0, 3, 0, 0x80000, 0xaa);
        entry(&mut log, 2 * 4096, 8, 2 * 4096, 0x81000, 0xbb);
        entry(&mut log, 4 * 4096, 9, 2 * 4096, 0x80000, 0xcc);
        let (dev, r) = overlay(&log);
        let r = r.unwrap();
        assert_eq!((r.entries, r.head_sequence), (2, 9));
        let mut b = [0u8; 4096];
        dev.read_exact_at(0x80000, &mut b).unwrap();
        assert!(b.iter().all(|&x| x == 0xcc));
        dev.read_exact_at(0x81000, &mut b).unwrap();
        assert!(b.iter().all(|&x| x == 0xbb));
    }

    #[test]
    fn damaged_or_foreign_entries_are_ignored() {
        let mut log = vec![0u8; 4 * 4096];
        entry(&mut log, 0, 5, 0, 0x80000, 0xaa);
        log[5000] ^= 1; // breaks the CRC
        assert!(overlay(&log).1.is_none());
        let mut log = vec![0u8; 4 * 4096];
        entry(&mut log, 0, 5, 4096 * 2, 0x80000, 0xaa); // tail outside the sequence
        assert!(overlay(&log).1.is_none());
    }
}
