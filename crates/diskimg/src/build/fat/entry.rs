//! Short directory entries and their DOS date and time fields.
//!
//! FAT stores local time without a zone. We write UTC, which is what our reader
//! (`fs::fat::time`), mtools and 7-Zip assume when they read, and what a machine whose clock runs
//! in UTC writes. Times before 1980 are stored as 1980-01-01 00:00:00, times after 2107 as
//! 2107-12-31 23:59:58 (the range of the fields); the write time keeps even seconds, the creation
//! time hundredths.

use crate::time::Timestamp;

/// Attribute: read-only.
pub(crate) const ATTR_READ_ONLY: u8 = 0x01;
/// Attribute: the volume label.
pub(crate) const ATTR_VOLUME_ID: u8 = 0x08;
/// Attribute: a directory.
pub(crate) const ATTR_DIRECTORY: u8 = 0x10;
/// Attribute: changed since the last backup (set on new files, as Windows and mtools do).
pub(crate) const ATTR_ARCHIVE: u8 = 0x20;

/// A DOS date and time: (date, time, hundredths of a second past the even second).
pub(crate) fn dos_datetime(t: Timestamp) -> (u16, u16, u8) {
    let min = Timestamp::from_civil(1980, 1, 1, 0, 0, 0).map_or(315_532_800, |t| t.secs);
    let max = Timestamp::from_civil(2107, 12, 31, 23, 59, 58).map_or(4_354_819_198, |t| t.secs);
    let (secs, nanos) = if t.secs < min {
        (min, 0)
    } else if t.secs > max {
        (max, 0)
    } else {
        (t.secs, t.nanos)
    };
    let (y, mo, d, h, mi, s) = Timestamp::from_secs(secs).to_civil();
    let date = ((y - 1980) as u16) << 9 | (mo as u16) << 5 | d as u16;
    let time = (h as u16) << 11 | (mi as u16) << 5 | (s / 2) as u16;
    let centis = (s % 2) as u8 * 100 + (nanos / 10_000_000) as u8;
    (date, time, centis)
}

/// What a short entry holds besides its name.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EntryFields {
    /// Attribute byte.
    pub attr: u8,
    /// NT case flags.
    pub case: u8,
    /// Modification time (also stored as the creation time and the access date).
    pub mtime: Timestamp,
    /// First cluster (0 for an empty file).
    pub cluster: u32,
    /// Bytes (0 for a directory).
    pub size: u32,
}

/// A 32-byte short entry.
pub(crate) fn short_entry(name: &[u8; 11], f: &EntryFields) -> [u8; 32] {
    let mut e = [0u8; 32];
    e[..11].copy_from_slice(name);
    e[11] = f.attr;
    e[12] = f.case;
    let (date, time, centis) = dos_datetime(f.mtime);
    e[13] = centis;
    e[14..16].copy_from_slice(&time.to_le_bytes());
    e[16..18].copy_from_slice(&date.to_le_bytes());
    e[18..20].copy_from_slice(&date.to_le_bytes());
    e[20..22].copy_from_slice(&((f.cluster >> 16) as u16).to_le_bytes());
    e[22..24].copy_from_slice(&time.to_le_bytes());
    e[24..26].copy_from_slice(&date.to_le_bytes());
    e[26..28].copy_from_slice(&(f.cluster as u16).to_le_bytes());
    e[28..32].copy_from_slice(&f.size.to_le_bytes());
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dos_fields_round_to_even_seconds_and_clamp() {
        // 2023-11-14 22:13:21.5
        let t = Timestamp {
            secs: 1_700_000_001,
            nanos: 500_000_000,
        };
        let (date, time, centis) = dos_datetime(t);
        assert_eq!(date, ((2023 - 1980) << 9) | (11 << 5) | 14);
        assert_eq!(time, (22 << 11) | (13 << 5) | 10);
        assert_eq!(centis, 150);
        assert_eq!(
            dos_datetime(Timestamp::from_secs(0)),
            ((1 << 5) | 1, 0, 0),
            "1970 becomes 1980-01-01"
        );
        let (date, time, _) = dos_datetime(Timestamp::from_secs(i64::MAX / 2));
        assert_eq!((date >> 9, time), (127, (23 << 11) | (59 << 5) | 29));
    }

    #[test]
    fn entry_fields_land_where_the_specification_puts_them() {
        let e = short_entry(
            b"README  TXT",
            &EntryFields {
                attr: ATTR_ARCHIVE | ATTR_READ_ONLY,
                case: 0x18,
                mtime: Timestamp::from_secs(1_700_000_000),
                cluster: 0x0012_3456,
                size: 77,
            },
        );
        assert_eq!(&e[..11], b"README  TXT");
        assert_eq!((e[11], e[12]), (0x21, 0x18));
        assert_eq!(u16::from_le_bytes([e[20], e[21]]), 0x12);
        assert_eq!(u16::from_le_bytes([e[26], e[27]]), 0x3456);
        assert_eq!(u32::from_le_bytes([e[28], e[29], e[30], e[31]]), 77);
    }
}
