//! Rock Ridge (IEEE P1282, RRIP 1.09 to 1.12): POSIX names, attributes, times, symbolic links,
//! device numbers, deep-directory relocation (CL/PL/RE) and zisofs markers (ZF).

use super::bytes::{digit_date, le32, record_date};
use super::susp::SuspEntry;
use crate::time::Timestamp;

/// Longest name assembled from NM entries.
pub const MAX_NAME_LEN: usize = 4096;
/// Longest symbolic link target assembled from SL entries.
pub const MAX_LINK_LEN: usize = 64 * 1024;

/// The Rock Ridge facts of one record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RockRidge {
    /// Name from NM entries (raw bytes).
    pub name: Option<Vec<u8>>,
    /// NM named `.` or `..`.
    pub name_is_special: bool,
    /// POSIX mode, including the file-type bits (PX).
    pub mode: Option<u32>,
    /// Link count (PX).
    pub nlink: Option<u32>,
    /// Owner (PX).
    pub uid: Option<u32>,
    /// Group (PX).
    pub gid: Option<u32>,
    /// File serial number (PX, RRIP 1.12).
    pub ino: Option<u32>,
    /// Device numbers (PN).
    pub rdev: Option<(u32, u32)>,
    /// Symbolic link target (SL), raw.
    pub symlink: Option<Vec<u8>>,
    /// Creation time (TF).
    pub btime: Option<Timestamp>,
    /// Modification time (TF).
    pub mtime: Option<Timestamp>,
    /// Access time (TF).
    pub atime: Option<Timestamp>,
    /// Attribute change time (TF).
    pub ctime: Option<Timestamp>,
    /// CL: the relocated directory this record stands for.
    pub child_link: Option<u32>,
    /// RE: this directory was relocated and must be hidden where it lies.
    pub relocated: bool,
    /// ZF / Z2: the file data is zisofs-compressed.
    pub zisofs: Option<ZisofsInfo>,
}

/// The ZF (or Z2) entry of a zisofs-compressed file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZisofsInfo {
    /// Algorithm: `pz` for zisofs 1, `PZ`, `XZ`, ... for zisofs2.
    pub algorithm: [u8; 2],
    /// log2 of the block size.
    pub log2_block: u8,
    /// Uncompressed size.
    pub size: u64,
}

impl RockRidge {
    /// Collects the Rock Ridge facts from SUSP entries.
    pub fn from_entries(entries: &[SuspEntry]) -> Self {
        let mut rr = RockRidge::default();
        let mut name: Option<Vec<u8>> = None;
        let mut link = LinkBuilder::default();
        for e in entries {
            let d = e.data.as_slice();
            match &e.sig {
                b"NM" if !d.is_empty() => {
                    if d[0] & 0x06 != 0 {
                        rr.name_is_special = true;
                    } else {
                        let n = name.get_or_insert_with(Vec::new);
                        if n.len() + d.len() <= MAX_NAME_LEN {
                            n.extend_from_slice(&d[1..]);
                        }
                    }
                }
                b"PX" if d.len() >= 32 => {
                    rr.mode = Some(le32(d, 0));
                    rr.nlink = Some(le32(d, 8));
                    rr.uid = Some(le32(d, 16));
                    rr.gid = Some(le32(d, 24));
                    if d.len() >= 40 {
                        rr.ino = Some(le32(d, 32));
                    }
                }
                b"PN" if d.len() >= 16 => {
                    let (high, low) = (le32(d, 0), le32(d, 8));
                    rr.rdev = Some(if high != 0 {
                        (high, low)
                    } else {
                        ((low >> 8) & 0xfff, (low & 0xff) | ((low >> 12) & 0xfff00))
                    });
                }
                b"SL" if !d.is_empty() => link.add(d),
                b"TF" if !d.is_empty() => rr.apply_times(d),
                b"CL" if d.len() >= 8 => rr.child_link = Some(le32(d, 0)),
                b"RE" => rr.relocated = true,
                b"ZF" | b"Z2" if d.len() >= 12 => {
                    rr.zisofs = Some(ZisofsInfo {
                        algorithm: [d[0], d[1]],
                        log2_block: d[3],
                        size: if e.version >= 2 {
                            u64::from_le_bytes(d[4..12].try_into().expect("8 bytes"))
                        } else {
                            u64::from(le32(d, 4))
                        },
                    });
                }
                _ => {}
            }
        }
        rr.name = name;
        rr.symlink = link.finish();
        rr
    }

    fn apply_times(&mut self, d: &[u8]) {
        let flags = d[0];
        let long = flags & 0x80 != 0;
        let width = if long { 17 } else { 7 };
        let mut at = 1usize;
        // Order of the stamps: creation, modify, access, attributes, backup, expiration, effective.
        for bit in 0..7u8 {
            if flags & (1 << bit) == 0 {
                continue;
            }
            let Some(raw) = d.get(at..at + width) else {
                return;
            };
            at += width;
            let t = if long {
                digit_date(raw)
            } else {
                record_date(raw)
            };
            match bit {
                0 => self.btime = t,
                1 => self.mtime = t,
                2 => self.atime = t,
                3 => self.ctime = t,
                _ => {}
            }
        }
    }
}

/// Assembles a link target from SL component records across several SL entries.
#[derive(Default)]
struct LinkBuilder {
    target: Vec<u8>,
    seen: bool,
    need_slash: bool,
}

impl LinkBuilder {
    fn add(&mut self, d: &[u8]) {
        self.seen = true;
        let mut at = 1usize; // d[0] holds the SL flags (continuation into the next SL entry)
        while at + 2 <= d.len() {
            let flags = d[at];
            let len = usize::from(d[at + 1]);
            let Some(content) = d.get(at + 2..at + 2 + len) else {
                return;
            };
            at += 2 + len;
            if self.target.len() > MAX_LINK_LEN {
                return;
            }
            if flags & 0x08 != 0 {
                // ROOT: the path is absolute.
                self.target.clear();
                self.target.push(b'/');
                self.need_slash = false;
                continue;
            }
            if self.need_slash {
                self.target.push(b'/');
            }
            if flags & 0x02 != 0 {
                self.target.push(b'.');
            } else if flags & 0x04 != 0 {
                self.target.extend_from_slice(b"..");
            } else {
                self.target.extend_from_slice(content);
            }
            self.need_slash = flags & 0x01 == 0;
        }
    }

    fn finish(self) -> Option<Vec<u8>> {
        self.seen.then_some(self.target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(sig: &[u8; 2], data: &[u8]) -> SuspEntry {
        SuspEntry {
            sig: *sig,
            version: 1,
            data: data.to_vec(),
        }
    }

    #[test]
    fn symlink_components() {
        // "/usr/../lib" split across two SL entries, "li" + "b" joined by CONTINUE.
        let e1 = entry(b"SL", b"\x01\x08\x00\x00\x03usr\x04\x00");
        let e2 = entry(b"SL", b"\x00\x01\x02li\x00\x01b");
        let rr = RockRidge::from_entries(&[e1, e2]);
        assert_eq!(rr.symlink.unwrap(), b"/usr/../lib");
        let rel = RockRidge::from_entries(&[entry(b"SL", b"\x00\x02\x00\x00\x04file")]);
        assert_eq!(rel.symlink.unwrap(), b"./file");
    }

    #[test]
    fn name_px_tf() {
        let mut px = Vec::new();
        for v in [0o100644u32, 1, 1000, 100, 77] {
            px.extend_from_slice(&v.to_le_bytes());
            px.extend_from_slice(&v.to_be_bytes());
        }
        let tf = [0x02u8, 123, 11, 14, 22, 13, 20, 0];
        let rr = RockRidge::from_entries(&[
            entry(b"NM", b"\x01long na"),
            entry(b"NM", b"\x00me.txt"),
            entry(b"PX", &px),
            entry(b"TF", &tf),
        ]);
        assert_eq!(rr.name.unwrap(), b"long name.txt");
        assert_eq!(rr.mode, Some(0o100644));
        assert_eq!(rr.uid, Some(1000));
        assert_eq!(rr.ino, Some(77));
        assert_eq!(rr.mtime.unwrap().secs, 1_700_000_000);
    }
}
