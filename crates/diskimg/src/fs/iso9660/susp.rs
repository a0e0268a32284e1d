//! The System Use Sharing Protocol (IEEE P1281, SUSP 1.12): entries in a record's system use
//! area and in continuation areas (CE).

use super::bytes::le32;
use super::{FORMAT, IsoFs};
use crate::error::{Error, Result};

/// Most continuation areas followed for one record.
pub const MAX_CONTINUATIONS: usize = 64;
/// Most system-use bytes gathered for one record, continuation areas included.
pub const MAX_SYSTEM_USE: usize = 256 * 1024;

/// One SUSP entry: a two-letter signature, a version and its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuspEntry {
    /// Signature word, such as `NM` or `PX`.
    pub sig: [u8; 2],
    /// Entry version.
    pub version: u8,
    /// The bytes after the four-byte header.
    pub data: Vec<u8>,
}

/// Parses entries from one area; returns them and the continuation area it points to.
pub(super) fn parse_area(area: &[u8], out: &mut Vec<SuspEntry>) -> Option<(u64, u64, u64)> {
    let mut next = None;
    let mut at = 0usize;
    while at + 4 <= area.len() {
        let sig = [area[at], area[at + 1]];
        let len = usize::from(area[at + 2]);
        if len < 4 || at + len > area.len() {
            break; // padding or a damaged tail: what was parsed stands
        }
        let data = &area[at + 4..at + len];
        match &sig {
            b"ST" => break,
            b"PD" => {}
            b"CE" if data.len() >= 24 => {
                next = Some((
                    u64::from(le32(data, 0)),
                    u64::from(le32(data, 8)),
                    u64::from(le32(data, 16)),
                ));
            }
            _ => out.push(SuspEntry {
                sig,
                version: area[at + 3],
                data: data.to_vec(),
            }),
        }
        at += len;
    }
    next
}

impl IsoFs {
    /// All SUSP entries of a record's system use area, following continuation areas.
    pub(super) fn susp_entries(
        &self,
        system_use: &[u8],
        skip: usize,
        record_offset: u64,
    ) -> Result<Vec<SuspEntry>> {
        let mut out = Vec::new();
        let mut next = parse_area(system_use.get(skip..).unwrap_or_default(), &mut out);
        let mut total = system_use.len();
        let mut hops = 0usize;
        while let Some((block, offset_in_block, len)) = next {
            hops += 1;
            total = total.saturating_add(len as usize);
            if hops > MAX_CONTINUATIONS || total > MAX_SYSTEM_USE {
                return Err(Error::limit(
                    FORMAT,
                    "SUSP continuation area",
                    record_offset,
                    format!(
                        "more than {MAX_CONTINUATIONS} continuation areas or {MAX_SYSTEM_USE} bytes"
                    ),
                ));
            }
            let offset = block
                .checked_mul(self.block_size)
                .and_then(|o| o.checked_add(offset_in_block))
                .ok_or_else(|| {
                    Error::corrupt(FORMAT, "SUSP CE entry", record_offset, "location overflows")
                })?;
            let mut area = vec![0u8; len as usize];
            self.meta_read(offset, &mut area, "SUSP continuation area")?;
            next = parse_area(&area, &mut out);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entries_and_stops_at_padding_and_st() {
        let mut area = Vec::new();
        area.extend_from_slice(b"NM\x08\x01\x00abc");
        area.extend_from_slice(b"PD\x05\x01\x00");
        area.extend_from_slice(b"ST\x04\x01");
        area.extend_from_slice(b"NM\x06\x01\x00z");
        let mut out = Vec::new();
        assert_eq!(parse_area(&area, &mut out), None);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data, b"\x00abc");
    }

    #[test]
    fn bad_lengths_end_the_area() {
        let mut out = Vec::new();
        parse_area(b"NM\x02\x01", &mut out);
        parse_area(b"NM\xff\x01abc", &mut out);
        assert!(out.is_empty());
    }
}
