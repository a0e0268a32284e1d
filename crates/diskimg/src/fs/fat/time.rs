//! DOS date and time fields, as FAT and exFAT store them.
//!
//! FAT records local time with no zone. We read it as UTC: that is what a volume written on a
//! machine whose clock runs in UTC (Linux's default, and every fixture here) means, and it is
//! what mtools and 7-Zip print. A volume written under another zone reads shifted by that
//! zone's offset; nothing on the volume says which zone it was. exFAT adds a UTC offset
//! (used when its valid bit is set) and a 10 ms increment.

use crate::time::Timestamp;

/// A DOS date (`yyyyyyym mmmddddd`, years from 1980) and time (`hhhhhmmm mmmsssss`, seconds
/// halved), plus `centis` hundredths of a second (0..=199). `None` when the date is unset
/// (zero) or a field is out of range.
pub(crate) fn dos_datetime(date: u16, time: u16, centis: u8) -> Option<Timestamp> {
    if date == 0 {
        return None;
    }
    let year = 1980 + i64::from(date >> 9);
    let month = u32::from((date >> 5) & 0xF);
    let day = u32::from(date & 0x1F);
    let hour = u32::from(time >> 11);
    let minute = u32::from((time >> 5) & 0x3F);
    let second = u32::from(time & 0x1F) * 2;
    if second > 59 || centis > 199 {
        return None;
    }
    let mut t = Timestamp::from_civil(year, month, day, hour, minute, second)?;
    t.secs += i64::from(centis / 100);
    t.nanos = u32::from(centis % 100) * 10_000_000;
    Some(t)
}

/// An exFAT timestamp field (DOS date in the high half, time in the low half), its 10 ms
/// increment and its UTC offset byte (bit 7: valid; bits 0-6: signed quarter hours).
pub(crate) fn exfat_timestamp(stamp: u32, centis: u8, utc_offset: u8) -> Option<Timestamp> {
    let mut t = dos_datetime((stamp >> 16) as u16, stamp as u16, centis)?;
    if utc_offset & 0x80 != 0 {
        // Sign-extend the 7-bit field.
        let quarters = i64::from(((utc_offset << 1) as i8) >> 1);
        t.secs -= quarters * 15 * 60;
    }
    Some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_dos_and_exfat_fields() {
        // 2023-11-14 22:13:20
        let date = ((2023 - 1980) << 9) | (11 << 5) | 14;
        let time = (22 << 11) | (13 << 5) | 10;
        assert_eq!(dos_datetime(date, time, 0).unwrap().secs, 1_700_000_000);
        let t = dos_datetime(date, time, 150).unwrap();
        assert_eq!((t.secs, t.nanos), (1_700_000_001, 500_000_000));
        assert_eq!(dos_datetime(0, 0, 0), None);
        assert_eq!(dos_datetime(date, 0x1F, 0), None, "62 seconds");
        let stamp = (u32::from(date) << 16) | u32::from(time);
        // UTC+1 (four quarters): local 22:13:20 is 21:13:20 UTC.
        assert_eq!(
            exfat_timestamp(stamp, 0, 0x84).unwrap().secs,
            1_700_000_000 - 3600
        );
        // UTC-0:15 (0x7F is -1 quarter).
        assert_eq!(
            exfat_timestamp(stamp, 0, 0xFF).unwrap().secs,
            1_700_000_000 + 900
        );
        assert_eq!(exfat_timestamp(stamp, 0, 0x04).unwrap().secs, 1_700_000_000);
    }
}
