//! The 2048-byte user data of a disc as a block device, for the file-system readers.
//!
//! ISO 9660 records absolute LBAs, so a file system on a track that does not start at LBA 0
//! (a multisession disc's later session, a GD-ROM's high-density area, a CD-Extra data
//! session) is read through a view of the whole disc where byte `lba * 2048` is sector `lba`.
//! The ISO reader looks for its volume descriptors at sector 16, so for such a track the view
//! shows the track's own descriptor set (from `start + 16`) at sector 16 ("overlay"): the
//! newest session's descriptors, exactly as xorriso leaves them on overwritable media.
//! A data track with no ISO 9660 descriptors is viewed on its own, from its index 1.

use super::disc::Disc;
use super::sector::USER;
use crate::device::{BlockDevice, Extent, ExtentKind, Geometry};
use crate::error::Result;
use crate::io::{HostSpan, ReadAt, clamp_len};
use std::sync::Arc;

/// Most descriptor sectors moved to sector 16.
pub const MAX_OVERLAY: u64 = 64;

/// Sectors `[from, from + count)` of the disc shown at sectors `[16, 16 + count)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Overlay {
    from: i64,
    count: u64,
}

/// User data of a disc from `base` on, `sectors` long.
#[derive(Debug, Clone)]
pub struct UserDataView {
    disc: Arc<Disc>,
    base: i64,
    sectors: u64,
    overlay: Option<Overlay>,
}

impl UserDataView {
    /// The whole disc from LBA 0 to the end of its last track.
    pub fn whole(disc: Arc<Disc>) -> Self {
        let sectors = disc.span().1.max(0) as u64;
        UserDataView {
            disc,
            base: 0,
            sectors,
            overlay: None,
        }
    }

    /// The view a file system on track `number` is read through (see the module doc).
    pub fn for_track(disc: Arc<Disc>, number: u8) -> Result<Self> {
        let Some(t) = disc.track(number).cloned() else {
            return Err(crate::Error::not_found(format!(
                "track {number} does not exist"
            )));
        };
        let whole = Self::whole(disc.clone());
        if t.start == 0 {
            return Ok(whole);
        }
        let count = descriptor_sectors(&disc, t.start + 16)?;
        if count > 0 && t.start > 0 {
            return Ok(UserDataView {
                overlay: Some(Overlay {
                    from: t.start + 16,
                    count,
                }),
                ..whole
            });
        }
        Ok(UserDataView {
            disc,
            base: t.start,
            sectors: t.length(),
            overlay: None,
        })
    }

    /// The disc.
    pub fn disc(&self) -> &Arc<Disc> {
        &self.disc
    }

    fn source_lba(&self, view_lba: i64) -> i64 {
        match self.overlay {
            Some(o) if (16..16 + o.count as i64).contains(&view_lba) => o.from + view_lba - 16,
            _ => self.base + view_lba,
        }
    }
}

/// How many sectors from `at` are ISO 9660 volume descriptors, the terminator included.
fn descriptor_sectors(disc: &Disc, at: i64) -> Result<u64> {
    let mut buf = vec![0u8; USER];
    for i in 0..MAX_OVERLAY {
        disc.read_user(at + i as i64, 1, &mut buf)?;
        if &buf[1..6] != b"CD001" {
            return Ok(if i == 0 { 0 } else { i + 1 });
        }
        if buf[0] == 255 {
            return Ok(i + 1);
        }
    }
    Ok(MAX_OVERLAY)
}

impl ReadAt for UserDataView {
    fn size(&self) -> u64 {
        self.sectors * USER as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let n = clamp_len(offset, buf.len(), self.size());
        let buf = &mut buf[..n];
        let mut done = 0usize;
        let mut tmp = Vec::new();
        while done < n {
            let pos = offset + done as u64;
            let lba = (pos / USER as u64) as i64;
            let within = (pos % USER as u64) as usize;
            // Sectors up to the overlay boundary map linearly.
            let mut run_end =
                (self.sectors as i64).min(lba + ((n - done + within).div_ceil(USER)) as i64);
            if let Some(o) = self.overlay {
                let (a, b) = (16, 16 + o.count as i64);
                if lba < a {
                    run_end = run_end.min(a);
                } else if lba < b {
                    run_end = run_end.min(b);
                }
            }
            let count = (run_end - lba).max(1) as u64;
            let src = self.source_lba(lba);
            if within == 0 && (n - done) >= count as usize * USER {
                let bytes = count as usize * USER;
                self.disc
                    .read_user(src, count, &mut buf[done..done + bytes])?;
                done += bytes;
            } else {
                tmp.resize(count as usize * USER, 0);
                self.disc.read_user(src, count, &mut tmp)?;
                let take = (tmp.len() - within).min(n - done);
                buf[done..done + take].copy_from_slice(&tmp[within..within + take]);
                done += take;
            }
        }
        Ok(n)
    }

    fn host_span(&self, offset: u64, len: u64) -> Option<HostSpan<'_>> {
        let end = offset.checked_add(len)?;
        if len == 0 || end > self.size() {
            return None;
        }
        let first = (offset / USER as u64) as i64;
        let last = ((end - 1) / USER as u64) as i64;
        if self
            .overlay
            .is_some_and(|o| first < 16 + o.count as i64 && last >= 16)
        {
            return None;
        }
        let lba = self.base + first;
        let track = self.disc.track_at(lba)?;
        if !track.mode.is_data() {
            return None;
        }
        let run = track.runs.iter().find(|r| r.lba <= lba && lba < r.end())?;
        if self.base + last >= run.end() || run.stride() != USER as u64 {
            return None;
        }
        let super::disc::Source::File {
            file, offset: at, ..
        } = run.source
        else {
            return None;
        };
        let within = offset % USER as u64;
        let span = self.disc.files[file]
            .source
            .host_span(at + (lba - run.lba) as u64 * USER as u64 + within, len)?;
        Some(span)
    }
}

impl BlockDevice for UserDataView {
    fn geometry(&self) -> Geometry {
        Geometry {
            sector_size: USER as u32,
        }
    }

    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        let end = offset.saturating_add(len).min(self.size());
        let mut out: Vec<Extent> = Vec::new();
        let mut pos = offset;
        while pos < end {
            let lba = (pos / USER as u64) as i64;
            let src = self.source_lba(lba);
            let data = self.disc.track_at(src).is_some_and(|t| t.mode.is_data());
            // Walk to the next track boundary or overlay edge, sector by sector only at edges.
            let mut next = ((lba + 1) as u64 * USER as u64).min(end);
            if self.overlay.is_none() || lba >= 16 + MAX_OVERLAY as i64 {
                let boundary = match self.disc.track_at(src) {
                    Some(t) => t.end,
                    None => self
                        .disc
                        .tracks
                        .iter()
                        .find(|t| t.first > src)
                        .map_or(i64::MAX, |t| t.first),
                };
                let view_end = boundary.saturating_sub(self.base);
                next = (view_end.max(lba + 1) as u64)
                    .saturating_mul(USER as u64)
                    .min(end);
            }
            let kind = if data {
                ExtentKind::Data
            } else {
                ExtentKind::Zero
            };
            match out.last_mut() {
                Some(last) if last.kind == kind && last.offset + last.len == pos => {
                    last.len += next - pos
                }
                _ => out.push(Extent {
                    offset: pos,
                    len: next - pos,
                    kind,
                }),
            }
            pos = next;
        }
        Ok(out)
    }
}
