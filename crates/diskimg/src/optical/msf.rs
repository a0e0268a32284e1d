//! Minute/second/frame addresses (75 frames a second) and binary-coded decimal.
//!
//! Disc addresses here are LBAs: LBA 0 is MSF 00:02:00, the first sector after the 150-sector
//! pregap of the first track, so absolute MSF = LBA + 150. Cue sheets and TOC files count
//! positions inside a file in MSF without that offset.

/// Frames (sectors) per second.
pub const FRAMES: i64 = 75;

/// `(minutes, seconds, frames)` of a frame count (negative counts give zero).
pub fn lba_to_msf(frames: i64) -> (u8, u8, u8) {
    let frames = frames.max(0);
    let m = frames / (60 * FRAMES);
    let s = (frames / FRAMES) % 60;
    let f = frames % FRAMES;
    (u8::try_from(m).unwrap_or(u8::MAX), s as u8, f as u8)
}

/// Frame count of `mm:ss:ff`.
pub fn msf_to_frames(m: u32, s: u32, f: u32) -> i64 {
    (i64::from(m) * 60 + i64::from(s)) * FRAMES + i64::from(f)
}

/// `mm:ss:ff` text of a frame count, as cue sheets and TOC files write it.
pub fn format_msf(frames: i64) -> String {
    let frames = frames.max(0);
    format!(
        "{:02}:{:02}:{:02}",
        frames / (60 * FRAMES),
        (frames / FRAMES) % 60,
        frames % FRAMES
    )
}

/// Parses `mm:ss:ff` (each part decimal, seconds < 60, frames < 75).
pub fn parse_msf(text: &str) -> Option<i64> {
    let mut parts = text.split(':');
    let m: u32 = parts.next()?.trim().parse().ok()?;
    let s: u32 = parts.next()?.trim().parse().ok()?;
    let f: u32 = parts.next()?.trim().parse().ok()?;
    if parts.next().is_some() || s >= 60 || f >= 75 || m > 9999 {
        return None;
    }
    Some(msf_to_frames(m, s, f))
}

/// Binary-coded decimal of `v` (0..=99; larger values are clamped).
pub fn bcd(v: u8) -> u8 {
    let v = v.min(99);
    ((v / 10) << 4) | (v % 10)
}

/// The value of a BCD byte, if both digits are decimal.
pub fn from_bcd(b: u8) -> Option<u8> {
    let (hi, lo) = (b >> 4, b & 0xf);
    (hi < 10 && lo < 10).then_some(hi * 10 + lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        assert_eq!(lba_to_msf(150), (0, 2, 0));
        assert_eq!(format_msf(msf_to_frames(74, 59, 74)), "74:59:74");
        assert_eq!(parse_msf("00:02:00"), Some(150));
        assert_eq!(parse_msf("00:60:00"), None);
        assert_eq!(parse_msf("1:2"), None);
        assert_eq!(bcd(42), 0x42);
        assert_eq!(from_bcd(0x42), Some(42));
        assert_eq!(from_bcd(0x4a), None);
    }
}
