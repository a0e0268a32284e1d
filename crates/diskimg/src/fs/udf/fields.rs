//! ECMA-167 field encodings: little-endian numbers, addresses (`lb_addr`, `extent_ad`), entity
//! identifiers (`regid`), timestamps (1/7.3) and OSTA CS0 strings (UDF 2.1.1, 2.1.3).

use crate::time::Timestamp;

/// Little-endian u16 at `at`.
pub(super) fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

/// Little-endian u32 at `at`.
pub(super) fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Little-endian u64 at `at`.
pub(super) fn le64(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

/// `extent_ad` (3/7.1): a length in bytes and a location in sectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ExtentAd {
    pub len: u32,
    pub location: u32,
}

impl ExtentAd {
    pub fn parse(b: &[u8], at: usize) -> Self {
        ExtentAd {
            len: le32(b, at),
            location: le32(b, at + 4),
        }
    }
}

/// `lb_addr` (4/7.1): a logical block number within a partition, by partition reference
/// number (the index of the partition map in the logical volume descriptor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct LbAddr {
    pub block: u32,
    pub partition: u16,
}

impl LbAddr {
    pub fn parse(b: &[u8], at: usize) -> Self {
        LbAddr {
            block: le32(b, at),
            partition: le16(b, at + 4),
        }
    }

    /// The address `n` blocks further in the same partition.
    pub fn plus(self, n: u32) -> Option<Self> {
        Some(LbAddr {
            block: self.block.checked_add(n)?,
            partition: self.partition,
        })
    }
}

/// `long_ad` (4/14.14.2): extent length (with the type in the top two bits) and an `lb_addr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct LongAd {
    pub len: u32,
    pub location: LbAddr,
}

impl LongAd {
    pub fn parse(b: &[u8], at: usize) -> Self {
        LongAd {
            len: le32(b, at),
            location: LbAddr::parse(b, at + 4),
        }
    }

    /// The extent length in bytes, without the type bits.
    pub fn bytes(&self) -> u32 {
        self.len & 0x3FFF_FFFF
    }
}

/// The identifier of a `regid` (1/7.4): 23 bytes after the flags, up to the first NUL.
pub(super) fn regid_ident(b: &[u8]) -> String {
    let id = &b[1..24];
    let end = id.iter().position(|&c| c == 0).unwrap_or(id.len());
    id[..end].iter().map(|&c| c as char).collect()
}

/// The UDF revision in a domain or UDF entity identifier suffix (UDF 2.1.5.3), as `2.01`.
pub(super) fn regid_revision(b: &[u8]) -> u16 {
    le16(b, 24)
}

/// A revision number as UDF writes it: BCD digits, `0x0201` is 2.01.
pub(super) fn revision_string(rev: u16) -> String {
    format!("{:x}.{:02x}", rev >> 8, rev & 0xFF)
}

/// A 12-byte timestamp (1/7.3) in UTC; `None` when unset or out of range.
pub(crate) fn timestamp(b: &[u8]) -> Option<Timestamp> {
    let type_tz = le16(b, 0);
    let year = i16::from_le_bytes([b[2], b[3]]);
    let (month, day, hour, minute, second) = (b[4], b[5], b[6], b[7], b[8]);
    if year == 0 && month == 0 && day == 0 {
        return None;
    }
    let mut t = Timestamp::from_civil(
        i64::from(year),
        u32::from(month),
        u32::from(day),
        u32::from(hour),
        u32::from(minute),
        u32::from(second.min(59)),
    )?;
    let (centi, hundreds_us, us) = (b[9].min(99), b[10].min(99), b[11].min(99));
    t.nanos =
        u32::from(centi) * 10_000_000 + u32::from(hundreds_us) * 100_000 + u32::from(us) * 1000;
    // Type 1 is local time with an offset in minutes (a 12-bit two's complement number);
    // -2047 means the offset is unknown, and the time is then taken as UTC.
    if type_tz >> 12 == 1 {
        let raw = i32::from(type_tz & 0x0FFF);
        let minutes = if raw >= 0x800 { raw - 0x1000 } else { raw };
        if (-1440..=1440).contains(&minutes) {
            t.secs -= i64::from(minutes) * 60;
        }
    }
    Some(t)
}

/// OSTA CS0 "compressed Unicode" (UDF 2.1.1): a compression id (8 or 16; 254 and 255 are
/// the same with the UDF 2.50 meaning "deleted"), then 8-bit code points or UTF-16BE units.
pub(crate) fn cs0(b: &[u8]) -> String {
    let Some((&id, body)) = b.split_first() else {
        return String::new();
    };
    match id {
        16 | 255 => {
            let units = body
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]));
            char::decode_utf16(units)
                .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect()
        }
        8 | 254 => body.iter().map(|&c| c as char).collect(),
        _ => String::new(),
    }
}

/// An OSTA CS0 `dstring` (1/7.2.12): the last byte holds the length used, compression id
/// included.
pub(crate) fn dstring(field: &[u8]) -> String {
    let Some((&used, body)) = field.split_last() else {
        return String::new();
    };
    let used = usize::from(used).min(body.len());
    cs0(&body[..used])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dstrings() {
        let mut f = [0u8; 32];
        f[0] = 8;
        f[1..5].copy_from_slice(b"DISC");
        f[31] = 5;
        assert_eq!(dstring(&f), "DISC");
        let mut g = [0u8; 32];
        g[0] = 16;
        g[1..5].copy_from_slice(&[0, b'A', 0x30, 0x42]);
        g[31] = 5;
        assert_eq!(dstring(&g), "A\u{3042}");
        assert_eq!(dstring(&[0u8; 32]), "");
        assert_eq!(cs0(&[8, 0xE9]), "\u{e9}");
        assert_eq!(cs0(&[3, b'x']), "");
    }

    #[test]
    fn timestamps() {
        // 2023-11-14 23:13:20.5 local time at UTC+60 minutes (type 1, zone 60).
        let mut b = [0u8; 12];
        b[0..2].copy_from_slice(&(0x1000u16 | 60).to_le_bytes());
        b[2..4].copy_from_slice(&2023i16.to_le_bytes());
        b[4..9].copy_from_slice(&[11, 14, 23, 13, 20]);
        b[9] = 50;
        let t = timestamp(&b).unwrap();
        assert_eq!(t.to_string(), "2023-11-14T22:13:20.5Z");
        // UTC-90 minutes: 0x1000 | (-90 & 0xFFF).
        b[0..2].copy_from_slice(&(0x1000u16 | (0x1000 - 90)).to_le_bytes());
        b[9] = 0;
        assert_eq!(timestamp(&b).unwrap().to_string(), "2023-11-15T00:43:20Z");
        // Unknown zone (-2047): taken as UTC.
        b[0..2].copy_from_slice(&(0x1000u16 | 0x801).to_le_bytes());
        assert_eq!(timestamp(&b).unwrap().to_string(), "2023-11-14T23:13:20Z");
        assert_eq!(timestamp(&[0u8; 12]), None);
    }

    #[test]
    fn revisions() {
        assert_eq!(revision_string(0x0250), "2.50");
        assert_eq!(revision_string(0x0102), "1.02");
    }
}
