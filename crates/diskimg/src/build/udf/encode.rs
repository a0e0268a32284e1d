//! ECMA-167 field encodings for the writer: descriptor tags (sealed with their checksum and
//! CRC), entity identifiers (`regid` with the UDF suffixes of UDF 2.1.5.3), the OSTA CS0
//! character set specification, OSTA compressed Unicode strings and `dstring`s (UDF 2.1.1,
//! 2.1.3), timestamps (1/7.3), and the `extent_ad`, `short_ad` and `long_ad` addresses.

use crate::fs::udf::spec::{TAG_LEN, checksum, crc_itu_t};
use crate::time::Timestamp;

/// Little-endian u16 at `at`.
pub fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

/// Little-endian u32 at `at`.
pub fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// Little-endian u64 at `at`.
pub fn put64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Writes the tag at the start of `d` (3/7.2): identifier, descriptor version, serial number 1,
/// recorded location, and the CRC over the `len - 16` bytes after the tag; then the checksum.
pub fn seal(d: &mut [u8], id: u16, version: u16, location: u32, len: usize) {
    put16(d, 0, id);
    put16(d, 2, version);
    d[5] = 0;
    put16(d, 6, 1);
    let crc_len = len - TAG_LEN;
    put16(d, 8, crc_itu_t(&d[TAG_LEN..len]));
    put16(d, 10, crc_len as u16);
    put32(d, 12, location);
    d[4] = checksum(d);
}

/// An entity identifier (1/7.4): flags 0, the identifier, and an 8-byte suffix.
pub fn regid(field: &mut [u8], ident: &str, suffix: [u8; 8]) {
    field[..32].fill(0);
    let id = ident.as_bytes();
    field[1..1 + id.len()].copy_from_slice(id);
    field[24..32].copy_from_slice(&suffix);
}

/// The suffix of a domain identifier (UDF 2.1.5.3): the UDF revision, no write protection.
pub fn domain_suffix(revision: u16) -> [u8; 8] {
    let mut s = [0u8; 8];
    s[..2].copy_from_slice(&revision.to_le_bytes());
    s
}

/// The suffix of a UDF identifier (UDF 2.1.5.3): the UDF revision and the operating system
/// class and identifier.
pub fn udf_suffix(revision: u16) -> [u8; 8] {
    let mut s = [0u8; 8];
    s[..2].copy_from_slice(&revision.to_le_bytes());
    s[2] = OS_CLASS;
    s[3] = OS_IDENTIFIER;
    s
}

/// The suffix of an implementation identifier (UDF 2.1.5.3): operating system class and id.
pub fn implementation_suffix() -> [u8; 8] {
    [OS_CLASS, OS_IDENTIFIER, 0, 0, 0, 0, 0, 0]
}

/// Operating system class UNIX (UDF 6.3): the permissions, owners and links written are
/// POSIX ones.
const OS_CLASS: u8 = 4;
/// Generic UNIX.
const OS_IDENTIFIER: u8 = 0;

/// The implementation identifier of everything this writer records.
pub const IMPLEMENTATION: &str = "*DISKIMG";

/// The OSTA CS0 character set specification (UDF 2.1.2): type 0, "OSTA Compressed Unicode".
pub fn charspec(field: &mut [u8]) {
    field[..64].fill(0);
    let info = b"OSTA Compressed Unicode";
    field[1..1 + info.len()].copy_from_slice(info);
}

/// `s` in OSTA compressed Unicode (UDF 2.1.1): compression id 8 and one byte per character when
/// every character is below U+0100, else 16 and UTF-16 big-endian; at most `max` bytes, the id
/// included, cut at a character boundary. Empty for an empty string.
pub fn cs0(s: &str, max: usize) -> Vec<u8> {
    if s.is_empty() || max < 2 {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(s.len() + 1);
    if s.chars().all(|c| (c as u32) < 0x100) {
        out.push(8);
        out.extend(s.chars().take(max - 1).map(|c| c as u8));
    } else {
        out.push(16);
        for c in s.chars() {
            let mut units = [0u16; 2];
            let units = c.encode_utf16(&mut units);
            if out.len() + 2 * units.len() > max {
                break;
            }
            for u in units.iter() {
                out.extend_from_slice(&u.to_be_bytes());
            }
        }
    }
    // A compression id alone is no string (UDF 2.1.1: never a length of 1).
    if out.len() == 1 {
        out.clear();
    }
    out
}

/// A `dstring` field (1/7.2.12): the compressed string, zeros, and in the last byte the length
/// used. Strings that do not fit are cut.
pub fn dstring(field: &mut [u8], s: &str) {
    field.fill(0);
    let n = field.len();
    let bytes = cs0(s, n - 1);
    field[..bytes.len()].copy_from_slice(&bytes);
    field[n - 1] = bytes.len() as u8;
}

/// A 12-byte timestamp (1/7.3) in UTC: type 1 (local time) with a zone offset of 0, to the
/// microsecond. Years outside 1-9999 are clamped.
pub fn timestamp(field: &mut [u8], t: Timestamp) {
    let (mut y, mut mo, mut d, mut h, mut mi, mut s) = t.to_civil();
    let mut micros = t.nanos / 1000;
    if y < 1 {
        (y, mo, d, h, mi, s, micros) = (1, 1, 1, 0, 0, 0, 0);
    } else if y > 9999 {
        (y, mo, d, h, mi, s, micros) = (9999, 12, 31, 23, 59, 59, 999_999);
    }
    put16(field, 0, 0x1000);
    put16(field, 2, y as u16);
    field[4] = mo as u8;
    field[5] = d as u8;
    field[6] = h as u8;
    field[7] = mi as u8;
    field[8] = s as u8;
    field[9] = (micros / 10_000) as u8;
    field[10] = (micros / 100 % 100) as u8;
    field[11] = (micros % 100) as u8;
}

/// An `extent_ad` (3/7.1): a length in bytes and a sector.
pub fn extent_ad(field: &mut [u8], len: u32, location: u32) {
    put32(field, 0, len);
    put32(field, 4, location);
}

/// A `long_ad` (4/14.14.2): the extent length with its type in the top two bits, a block and
/// its partition reference, and the UDF unique id in the implementation use (UDF 2.3.10.1),
/// as file identifiers record it.
pub fn long_ad(field: &mut [u8], len: u32, block: u32, partition: u16, unique_id: u32) {
    field[..16].fill(0);
    put32(field, 0, len);
    put32(field, 4, block);
    put16(field, 8, partition);
    put32(field, 12, unique_id);
}

/// A `short_ad` (4/14.14.1): extent length and type, and a block of the ICB's partition.
pub fn short_ad(field: &mut [u8], len: u32, block: u32) {
    put32(field, 0, len);
    put32(field, 4, block);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::udf::spec;

    #[test]
    fn strings_read_back() {
        let mut f = [0u8; 32];
        dstring(&mut f, "FOOTAGE 2019");
        assert_eq!(spec::dstring(&f), "FOOTAGE 2019");
        dstring(&mut f, "Fotos ünd 日本");
        assert_eq!(spec::dstring(&f), "Fotos ünd 日本");
        // Too long: cut at a character (15 UTF-16 units fit in 31 bytes).
        dstring(&mut f, "日本語日本語日本語日本語日本語日本語");
        assert_eq!(spec::dstring(&f).chars().count(), 15);
        dstring(&mut f, "");
        assert_eq!(f, [0u8; 32]);
        // A character outside the BMP is a surrogate pair, never split.
        let name = "a😀b";
        assert_eq!(spec::cs0(&cs0(name, 255)), name);
        assert_eq!(spec::cs0(&cs0(name, 4)), "a");
        assert_eq!(cs0("é", 255), [8, 0xE9]);
        assert!(cs0("日本", 2).is_empty());
    }

    #[test]
    fn timestamps_read_back() {
        let t = Timestamp {
            secs: 1_700_000_000,
            nanos: 123_456_789,
        };
        let mut f = [0u8; 12];
        timestamp(&mut f, t);
        let back = spec::timestamp(&f).unwrap();
        assert_eq!(back.secs, t.secs);
        assert_eq!(back.nanos, 123_456_000);
        timestamp(&mut f, Timestamp::from_secs(-70_000_000_000));
        assert_eq!(
            spec::timestamp(&f).unwrap().to_string(),
            "0001-01-01T00:00:00Z"
        );
    }

    #[test]
    fn sealed_tags_match_an_independent_writer() {
        // The anchor mkudffs 2.3 wrote at sector 256 (`mkudffs --media-type=hd -b 2048
        // -r 0x0201` on 20 MiB): main sequence at 96, reserve at 10080, 16 sectors each.
        let mkudffs: [u8; 32] = [
            0x02, 0x00, 0x03, 0x00, 0x0b, 0x00, 0x01, 0x00, 0xf6, 0x1d, 0xf0, 0x01, 0x00, 0x01,
            0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x60, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00,
            0x60, 0x27, 0x00, 0x00,
        ];
        let mut d = vec![0u8; 512];
        extent_ad(&mut d[16..], 0x8000, 96);
        extent_ad(&mut d[24..], 0x8000, 10080);
        seal(&mut d, 2, 3, 256, 512);
        assert_eq!(d[..32], mkudffs);
        assert!(d[32..].iter().all(|&b| b == 0));
        // Any other byte under the CRC changes CRC and checksum.
        d[40] = 7;
        seal(&mut d, 2, 3, 256, 512);
        assert_ne!(d[8..10], mkudffs[8..10]);
        assert_eq!(d[4], checksum(&d));
        assert_eq!(u16::from_le_bytes([d[8], d[9]]), crc_itu_t(&d[16..512]));
    }
}
