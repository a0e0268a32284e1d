//! Bytes of the ISO 9660 structures: volume descriptors, path tables, directory extents and
//! continuation areas (ECMA-119 8, 9; SUSP 1.12).

use super::layout::{BLOCK, IsoTree, MAX_EXTENT, Target, record_len};
use super::rrip::{self, Su, both32, record_date};
use super::{IsoLevel, Plan};
use crate::build::tree::ROOT;
use crate::time::Timestamp;

/// Bytes of a path table.
pub fn path_table_size(tree: &IsoTree) -> u32 {
    tree.dirs
        .iter()
        .map(|d| (8 + d.ident.len() + d.ident.len() % 2) as u32)
        .sum()
}

/// A path table, little-endian (L) or big-endian (M).
pub fn path_table(tree: &IsoTree, big_endian: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(path_table_size(tree) as usize);
    for d in &tree.dirs {
        let id = d.ident.as_slice();
        let parent = u16::try_from(d.parent + 1).unwrap_or(u16::MAX);
        out.push(id.len() as u8);
        out.push(0);
        if big_endian {
            out.extend_from_slice(&d.lba.to_be_bytes());
            out.extend_from_slice(&parent.to_be_bytes());
        } else {
            out.extend_from_slice(&d.lba.to_le_bytes());
            out.extend_from_slice(&parent.to_le_bytes());
        }
        out.extend_from_slice(id);
        if id.len() % 2 == 1 {
            out.push(0);
        }
    }
    out
}

/// The bytes of a system use list, with sector numbers filled in.
fn su_bytes(su: &[Su], tree: &IsoTree) -> Vec<u8> {
    let mut out = Vec::new();
    for s in su {
        match s {
            Su::Entry(b) => out.extend_from_slice(b),
            Su::Continue(a) => {
                let area = &tree.areas[*a];
                out.extend(rrip::ce(area.lba, area.offset, area.len() as u32));
            }
            Su::ChildLink(d) => out.extend(rrip::cl(tree.dirs[*d].lba)),
            Su::ParentLink(d) => out.extend(rrip::pl(tree.dirs[*d].lba)),
        }
    }
    out
}

/// One directory record.
fn record(ident: &[u8], lba: u32, size: u32, date: [u8; 7], flags: u8, su: &[u8]) -> Vec<u8> {
    let len = record_len(ident.len(), su.len());
    let mut r = Vec::with_capacity(len);
    r.push(len as u8);
    r.push(0);
    r.extend_from_slice(&both32(lba));
    r.extend_from_slice(&both32(size));
    r.extend_from_slice(&date);
    r.push(flags);
    r.push(0);
    r.push(0);
    r.extend_from_slice(&1u16.to_le_bytes());
    r.extend_from_slice(&1u16.to_be_bytes());
    r.push(ident.len() as u8);
    r.extend_from_slice(ident);
    if ident.len() % 2 == 0 {
        r.push(0);
    }
    r.extend_from_slice(su);
    r.resize(len, 0);
    r
}

impl Plan<'_> {
    fn date_of(&self, node: Option<usize>) -> [u8; 7] {
        let t = node.map_or(self.tree.node(ROOT).meta.mtime, |n| {
            self.tree.node(n).meta.mtime
        });
        record_date(self.clamp(t))
    }

    fn clamp(&self, t: Timestamp) -> Timestamp {
        match self.opts.fixed_time {
            Some(c) if t > c => c,
            _ => t,
        }
    }

    /// The extent of directory `d` of `tree`.
    pub fn directory(&self, tree: &IsoTree, d: usize) -> Vec<u8> {
        let dir = &tree.dirs[d];
        let parent = &tree.dirs[dir.parent];
        let mut out = Vec::with_capacity(dir.size as usize);
        let put = |rec: Vec<u8>, out: &mut Vec<u8>| {
            if out.len() % BLOCK + rec.len() > BLOCK {
                out.resize(out.len().next_multiple_of(BLOCK), 0);
            }
            out.extend_from_slice(&rec);
        };
        let dot_date = self.date_of(dir.node);
        put(
            record(
                &[0],
                dir.lba,
                dir.size,
                dot_date,
                2,
                &su_bytes(&dir.dot_su, tree),
            ),
            &mut out,
        );
        put(
            record(
                &[1],
                parent.lba,
                parent.size,
                self.date_of(parent.node),
                2,
                &su_bytes(&dir.dotdot_su, tree),
            ),
            &mut out,
        );
        for e in &dir.entries {
            let su = su_bytes(&e.su, tree);
            let date = self.date_of(Some(e.node));
            match e.target {
                Target::Dir(c) => {
                    let child = &tree.dirs[c];
                    put(
                        record(&e.ident, child.lba, child.size, date, 2, &su),
                        &mut out,
                    );
                }
                Target::Empty => put(record(&e.ident, 0, 0, date, 0, &su), &mut out),
                Target::File(f) => {
                    let file = &self.files[f];
                    let mut left = file.size;
                    let mut lba = file.lba;
                    loop {
                        let len = left.min(MAX_EXTENT);
                        left -= len;
                        let flags = if left > 0 { 0x80 } else { 0 };
                        put(
                            record(&e.ident, lba, len as u32, date, flags, &su),
                            &mut out,
                        );
                        lba += (len / BLOCK as u64) as u32;
                        if left == 0 {
                            break;
                        }
                    }
                }
            }
        }
        out.resize(dir.size as usize, 0);
        out
    }

    /// The continuation areas of `tree`, each at its sector and offset: (sector, bytes).
    pub fn areas(&self, tree: &IsoTree) -> Vec<(u32, u32, Vec<u8>)> {
        tree.areas
            .iter()
            .map(|a| (a.lba, a.offset, su_bytes(&a.su, tree)))
            .collect()
    }

    /// A primary (type 1), Joliet (type 2) or enhanced (type 2, version 2) volume descriptor.
    pub fn volume_descriptor(&self, kind: VdKind) -> [u8; BLOCK] {
        let mut b = [0u8; BLOCK];
        let (tree, tables) = match kind {
            VdKind::Joliet => (
                self.joliet
                    .as_ref()
                    .expect("a Joliet descriptor only with a Joliet tree"),
                self.path_tables.joliet.expect("Joliet path tables"),
            ),
            _ => (&self.primary, self.path_tables.primary),
        };
        let ucs2 = kind == VdKind::Joliet;
        b[0] = if kind == VdKind::Primary { 1 } else { 2 };
        b[1..6].copy_from_slice(b"CD001");
        b[6] = if kind == VdKind::Enhanced { 2 } else { 1 };
        text(&mut b[8..40], "", ucs2);
        text(&mut b[40..72], &self.opts.volume_id, ucs2);
        b[80..88].copy_from_slice(&both32(self.volume_blocks));
        if ucs2 {
            b[88..91].copy_from_slice(b"%/E");
        }
        b[120..122].copy_from_slice(&1u16.to_le_bytes());
        b[122..124].copy_from_slice(&1u16.to_be_bytes());
        b[124..126].copy_from_slice(&1u16.to_le_bytes());
        b[126..128].copy_from_slice(&1u16.to_be_bytes());
        b[128..130].copy_from_slice(&(BLOCK as u16).to_le_bytes());
        b[130..132].copy_from_slice(&(BLOCK as u16).to_be_bytes());
        let (l, m, size) = tables;
        b[132..140].copy_from_slice(&both32(size));
        b[140..144].copy_from_slice(&l.to_le_bytes());
        b[148..152].copy_from_slice(&m.to_be_bytes());
        let root = &tree.dirs[0];
        let root_rec = record(&[0], root.lba, root.size, self.date_of(Some(ROOT)), 2, &[]);
        b[156..190].copy_from_slice(&root_rec);
        text(&mut b[190..318], "", ucs2);
        text(&mut b[318..446], &self.opts.publisher_id, ucs2);
        text(&mut b[446..574], &self.opts.preparer_id, ucs2);
        text(&mut b[574..702], &self.opts.application_id, ucs2);
        text(&mut b[702..739], "", ucs2);
        text(&mut b[739..776], "", ucs2);
        text(&mut b[776..813], "", ucs2);
        b[813..830].copy_from_slice(&digit_date(Some(self.now)));
        b[830..847].copy_from_slice(&digit_date(Some(self.now)));
        b[847..864].copy_from_slice(&digit_date(None));
        b[864..881].copy_from_slice(&digit_date(None));
        b[881] = if kind == VdKind::Enhanced { 2 } else { 1 };
        // Application use: blank, as isomd5sum expects before implanting its sums.
        b[883..1395].fill(b' ');
        b
    }

    /// The set terminator.
    pub fn terminator(&self) -> [u8; BLOCK] {
        let mut b = [0u8; BLOCK];
        b[0] = 255;
        b[1..6].copy_from_slice(b"CD001");
        b[6] = 1;
        b
    }

    /// Whether an enhanced descriptor is written.
    pub fn has_enhanced(&self) -> bool {
        self.opts.level == IsoLevel::Iso1999
    }
}

/// Which volume descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VdKind {
    /// The primary volume descriptor.
    Primary,
    /// The Joliet supplementary descriptor.
    Joliet,
    /// The ISO 9660:1999 enhanced descriptor.
    Enhanced,
}

/// A text field padded with spaces: ASCII (non-ASCII as `_`), or UCS-2 for Joliet.
fn text(field: &mut [u8], s: &str, ucs2: bool) {
    if ucs2 {
        let units: Vec<u16> = s.encode_utf16().take(field.len() / 2).collect();
        for (i, pair) in field.chunks_exact_mut(2).enumerate() {
            pair.copy_from_slice(&units.get(i).copied().unwrap_or(0x20).to_be_bytes());
        }
    } else {
        let bytes: Vec<u8> = s
            .chars()
            .map(|c| {
                if c.is_ascii() && !c.is_ascii_control() {
                    c as u8
                } else {
                    b'_'
                }
            })
            .collect();
        for (i, x) in field.iter_mut().enumerate() {
            *x = bytes.get(i).copied().unwrap_or(b' ');
        }
    }
}

/// The 17-byte digit date of a volume descriptor (ECMA-119 8.4.26.1), in UTC; unset is zeros.
fn digit_date(t: Option<Timestamp>) -> [u8; 17] {
    let mut b = [b'0'; 17];
    b[16] = 0;
    if let Some(t) = t {
        let (y, mo, d, h, mi, s) = t.to_civil();
        let text = format!(
            "{:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}{:02}",
            y.clamp(1, 9999),
            t.nanos / 10_000_000
        );
        b[..16].copy_from_slice(&text.as_bytes()[..16]);
    }
    b
}
