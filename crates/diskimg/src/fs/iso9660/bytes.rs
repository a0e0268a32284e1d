//! ECMA-119 field encodings: both-endian numbers, text fields and dates.

use crate::time::Timestamp;

/// Little-endian u16 at `at` (the first half of a both-endian 7.2.3 field).
pub(super) fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

/// Little-endian u32 at `at` (the first half of a both-endian 7.3.3 field).
pub(super) fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// A-/d-character text: ASCII, padded with spaces (or zeros).
pub(super) fn ascii_field(b: &[u8]) -> String {
    let s: String = b
        .iter()
        .map(|&c| if c.is_ascii() { c as char } else { '?' })
        .collect();
    s.trim_end_matches([' ', '\0']).to_owned()
}

/// UCS-2 big-endian text (Joliet), padded with spaces or zeros. Surrogate pairs are accepted.
pub(super) fn ucs2_field(b: &[u8]) -> String {
    let units = b.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]]));
    let s: String = char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect();
    s.trim_end_matches([' ', '\0']).to_owned()
}

/// Bytes as UTF-8, or as Latin-1 when they are not valid UTF-8 (one char per byte, so two
/// distinct byte names never become the same string).
pub(super) fn bytes_to_name(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_owned(),
        Err(_) => b.iter().map(|&c| c as char).collect(),
    }
}

/// The 7-byte date of a directory record (9.1.5); `None` when all zero or out of range.
pub(super) fn record_date(b: &[u8]) -> Option<Timestamp> {
    if b[..6].iter().all(|&x| x == 0) {
        return None;
    }
    let t = Timestamp::from_civil(
        1900 + i64::from(b[0]),
        u32::from(b[1]),
        u32::from(b[2]),
        u32::from(b[3]),
        u32::from(b[4]),
        u32::from(b[5]),
    )?;
    Some(shift_gmt(t, b[6] as i8))
}

/// The 17-byte digit date of a volume descriptor (8.4.26.1); `None` when unset.
pub(super) fn digit_date(b: &[u8]) -> Option<Timestamp> {
    let digits = &b[..16];
    if !digits.iter().all(u8::is_ascii_digit) || digits.iter().all(|&d| d == b'0') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> u32 {
        digits[r]
            .iter()
            .fold(0, |a, &d| a * 10 + u32::from(d - b'0'))
    };
    let mut t = Timestamp::from_civil(
        i64::from(num(0..4)),
        num(4..6),
        num(6..8),
        num(8..10),
        num(10..12),
        num(12..14),
    )?;
    t.nanos = num(14..16) * 10_000_000;
    Some(shift_gmt(t, b[16] as i8))
}

/// Converts a local time with an offset in 15-minute units to UTC.
fn shift_gmt(t: Timestamp, quarter_hours: i8) -> Timestamp {
    let q = if (-48..=52).contains(&quarter_hours) {
        quarter_hours
    } else {
        0
    };
    Timestamp {
        secs: t.secs - i64::from(q) * 900,
        nanos: t.nanos,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        // 2023-11-14 22:13:20 at GMT+1 (4 quarter hours) is 21:13:20 UTC.
        let t = record_date(&[123, 11, 14, 22, 13, 20, 4]).unwrap();
        assert_eq!(t.to_string(), "2023-11-14T21:13:20Z");
        assert_eq!(record_date(&[0; 7]), None);
        let d = digit_date(b"2023111422132050\0").unwrap();
        assert_eq!(d.to_string(), "2023-11-14T22:13:20.5Z");
        assert_eq!(digit_date(b"0000000000000000\0"), None);
    }

    #[test]
    fn names() {
        assert_eq!(bytes_to_name(b"abc"), "abc");
        assert_eq!(bytes_to_name(&[0x66, 0xe9]), "f\u{e9}");
        assert_eq!(ucs2_field(&[0, b'A', 0x30, 0x42, 0, b' ']), "A\u{3042}");
        assert_eq!(ascii_field(b"CDROM   "), "CDROM");
    }
}
