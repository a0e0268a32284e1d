//! Rock Ridge (RRIP 1.12) entries for a directory record's system use area, and packing them
//! into the record and continuation areas (SUSP 1.12).

use crate::time::Timestamp;

/// Size of a CE entry.
pub const CE_LEN: usize = 28;
/// Longest SUSP entry.
const MAX_ENTRY: usize = 255;

/// One SUSP entry; entries that hold a sector number are filled in once it is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Su {
    /// A complete entry: signature, version, data.
    Entry(Vec<u8>),
    /// A CE entry pointing to continuation area number `.0` of the directory tree.
    Continue(usize),
    /// A CL entry naming the relocated directory `.0` of the directory tree.
    ChildLink(usize),
    /// A PL entry naming the real parent directory `.0` of the directory tree.
    ParentLink(usize),
}

impl Su {
    /// Bytes this entry takes.
    pub fn len(&self) -> usize {
        match self {
            Su::Entry(b) => b.len(),
            Su::Continue(_) => CE_LEN,
            Su::ChildLink(_) | Su::ParentLink(_) => 12,
        }
    }
}

fn entry(sig: &[u8; 2], version: u8, data: &[u8]) -> Vec<u8> {
    let mut e = Vec::with_capacity(4 + data.len());
    e.extend_from_slice(sig);
    e.push((4 + data.len()) as u8);
    e.push(version);
    e.extend_from_slice(data);
    e
}

/// A both-endian 32-bit field (ECMA-119 7.3.3).
pub fn both32(v: u32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&v.to_le_bytes());
    b[4..].copy_from_slice(&v.to_be_bytes());
    b
}

/// SP: the SUSP indicator, first in the root's "." record.
pub fn sp() -> Vec<u8> {
    entry(b"SP", 1, &[0xBE, 0xEF, 0])
}

/// ER: names the Rock Ridge extension (root "." record).
pub fn er() -> Vec<u8> {
    let id = b"RRIP_1991A";
    let des = b"POSIX FILE SYSTEM SEMANTICS";
    let src = b"SEE IEEE P1282";
    let mut d = vec![id.len() as u8, des.len() as u8, src.len() as u8, 1];
    d.extend_from_slice(id);
    d.extend_from_slice(des);
    d.extend_from_slice(src);
    entry(b"ER", 1, &d)
}

/// PX: POSIX mode (with type bits), link count, owner, group and serial number.
pub fn px(mode: u32, nlink: u32, uid: u32, gid: u32, ino: u32) -> Vec<u8> {
    let mut d = Vec::with_capacity(40);
    for v in [mode, nlink, uid, gid, ino] {
        d.extend_from_slice(&both32(v));
    }
    entry(b"PX", 1, &d)
}

/// PN: device numbers.
pub fn pn(major: u32, minor: u32) -> Vec<u8> {
    let mut d = Vec::with_capacity(16);
    d.extend_from_slice(&both32(major));
    d.extend_from_slice(&both32(minor));
    entry(b"PN", 1, &d)
}

/// TF: modification, access and attribute-change times, 7-byte form.
pub fn tf(mtime: Timestamp, atime: Timestamp, ctime: Timestamp) -> Vec<u8> {
    let mut d = vec![0x0E];
    for t in [mtime, atime, ctime] {
        d.extend_from_slice(&record_date(t));
    }
    entry(b"TF", 1, &d)
}

/// CL: this record stands for the directory relocated to sector `lba`.
pub fn cl(lba: u32) -> Vec<u8> {
    entry(b"CL", 1, &both32(lba))
}

/// PL: the ".." of a relocated directory; its real parent is at sector `lba`.
pub fn pl(lba: u32) -> Vec<u8> {
    entry(b"PL", 1, &both32(lba))
}

/// RE: this directory was relocated here.
pub fn re() -> Vec<u8> {
    entry(b"RE", 1, &[])
}

/// CE: the continuation area at `block`, `offset`, `len`.
pub fn ce(block: u32, offset: u32, len: u32) -> Vec<u8> {
    let mut d = Vec::with_capacity(24);
    d.extend_from_slice(&both32(block));
    d.extend_from_slice(&both32(offset));
    d.extend_from_slice(&both32(len));
    entry(b"CE", 1, &d)
}

/// NM entries for a name, split over several entries when long.
pub fn nm(name: &[u8]) -> Vec<Vec<u8>> {
    let room = MAX_ENTRY - 5;
    let chunks: Vec<&[u8]> = name.chunks(room).collect();
    chunks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut d = vec![u8::from(i + 1 < chunks.len())];
            d.extend_from_slice(c);
            entry(b"NM", 1, &d)
        })
        .collect()
}

/// SL entries for a symlink target, components split over entries when long.
pub fn sl(target: &str) -> Vec<Vec<u8>> {
    // Component records: flags, length, content.
    let mut comps: Vec<Vec<u8>> = Vec::new();
    if target.starts_with('/') {
        comps.push(vec![0x08, 0]);
    }
    for part in target.split('/').filter(|p| !p.is_empty()) {
        match part {
            "." => comps.push(vec![0x02, 0]),
            ".." => comps.push(vec![0x04, 0]),
            _ => {
                let bytes = part.as_bytes();
                let pieces: Vec<&[u8]> = bytes.chunks(MAX_ENTRY - 5 - 2).collect();
                for (i, p) in pieces.iter().enumerate() {
                    let mut c = vec![u8::from(i + 1 < pieces.len()), p.len() as u8];
                    c.extend_from_slice(p);
                    comps.push(c);
                }
            }
        }
    }
    let mut out = Vec::new();
    let mut cur: Vec<u8> = Vec::new();
    for c in comps {
        if 5 + cur.len() + c.len() > MAX_ENTRY {
            out.push(std::mem::take(&mut cur));
        }
        cur.extend_from_slice(&c);
    }
    out.push(cur);
    let n = out.len();
    out.into_iter()
        .enumerate()
        .map(|(i, body)| {
            let mut d = vec![u8::from(i + 1 < n)];
            d.extend_from_slice(&body);
            entry(b"SL", 1, &d)
        })
        .collect()
}

/// The 7-byte recording date (ECMA-119 9.1.5), in UTC.
pub fn record_date(t: Timestamp) -> [u8; 7] {
    let (y, mo, d, h, mi, s) = t.to_civil();
    let year = (y - 1900).clamp(0, 255) as u8;
    if y < 1900 {
        return [0, 1, 1, 0, 0, 0, 0];
    }
    if y > 2155 {
        return [255, 12, 31, 23, 59, 59, 0];
    }
    [year, mo as u8, d as u8, h as u8, mi as u8, s as u8, 0]
}

/// Places `entries` into a record with `record_room` bytes of system use and continuation
/// areas of at most `area_room` bytes each. Returns what goes in the record and the areas;
/// `next_area` numbers the first new area.
pub fn pack(
    entries: Vec<Su>,
    record_room: usize,
    area_room: usize,
    next_area: usize,
) -> (Vec<Su>, Vec<Vec<Su>>) {
    let total: usize = entries.iter().map(Su::len).sum();
    if total <= record_room {
        return (entries, Vec::new());
    }
    let mut areas: Vec<Vec<Su>> = vec![Vec::new()];
    let mut room = record_room;
    let mut used = 0usize;
    let mut rest = total;
    for e in entries {
        let n = e.len();
        let last = n == rest;
        if used + n + if last { 0 } else { CE_LEN } > room {
            let area = next_area + areas.len() - 1;
            areas
                .last_mut()
                .expect("at least one area")
                .push(Su::Continue(area));
            areas.push(Vec::new());
            room = area_room;
            used = 0;
        }
        used += n;
        rest -= n;
        areas.last_mut().expect("at least one area").push(e);
    }
    let record = areas.remove(0);
    (record, areas)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::iso9660::testing::parse_rock_ridge;

    fn flat(v: &[Vec<u8>]) -> Vec<u8> {
        v.concat()
    }

    #[test]
    fn our_entries_read_back() {
        let name = "n".repeat(600);
        let mut su = flat(&nm(name.as_bytes()));
        su.extend(px(0o100644, 2, 1000, 100, 7));
        su.extend(tf(
            Timestamp::from_secs(1_700_000_000),
            Timestamp::from_secs(1),
            Timestamp::from_secs(2),
        ));
        su.extend(flat(&sl(&format!("/usr/../{}/x", "c".repeat(300)))));
        let rr = parse_rock_ridge(&su);
        assert_eq!(rr.name.as_deref(), Some(name.as_bytes()));
        assert_eq!(rr.mode, Some(0o100644));
        assert_eq!(rr.ino, Some(7));
        assert_eq!(rr.mtime.unwrap().secs, 1_700_000_000);
        assert_eq!(
            rr.symlink.unwrap(),
            format!("/usr/../{}/x", "c".repeat(300)).as_bytes()
        );
    }

    #[test]
    fn packing_spills_into_areas_with_pointers() {
        let entries: Vec<Su> = [1u8, 2, 3]
            .iter()
            .map(|&b| Su::Entry(vec![b; 100]))
            .collect();
        let (rec, areas) = pack(entries.clone(), 150, 2048, 0);
        assert_eq!(rec, vec![entries[0].clone(), Su::Continue(0)]);
        assert_eq!(areas.len(), 1);
        assert_eq!(areas[0].len(), 2);
        let (rec, areas) = pack(entries, 300, 2048, 0);
        assert_eq!(rec.len(), 3);
        assert!(areas.is_empty());
    }
}
