//! Fixed-width fields of on-disk structures, and how identifiers are shown.
//!
//! Every reader here first reads a structure whole into a buffer of its known size, then takes
//! fields at constant offsets inside it; a field past the end of the buffer reads as zeros
//! rather than panicking, so a short buffer can only ever give a wrong value that later checks
//! reject.

fn field<const N: usize>(b: &[u8], off: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(s) = b.get(off..off.saturating_add(N)) {
        out.copy_from_slice(s);
    }
    out
}

/// Little-endian `u16` at `off`.
pub(crate) fn le16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes(field(b, off))
}
/// Little-endian `u32` at `off`.
pub(crate) fn le32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(field(b, off))
}
/// Little-endian `u64` at `off`.
pub(crate) fn le64(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(field(b, off))
}
/// Big-endian `u16` at `off`.
pub(crate) fn be16(b: &[u8], off: usize) -> u16 {
    u16::from_be_bytes(field(b, off))
}
/// Big-endian `u32` at `off`.
pub(crate) fn be32(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes(field(b, off))
}
/// Big-endian `u64` at `off`.
pub(crate) fn be64(b: &[u8], off: usize) -> u64 {
    u64::from_be_bytes(field(b, off))
}
/// 16 bytes at `off` (a GUID or UUID).
pub(crate) fn id16(b: &[u8], off: usize) -> [u8; 16] {
    field(b, off)
}

/// A UUID stored in RFC 4122 byte order (VHD), as text.
pub(crate) fn uuid_be(u: &[u8; 16]) -> String {
    let h: Vec<String> = u.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        h[0..4].concat(),
        h[4..6].concat(),
        h[6..8].concat(),
        h[8..10].concat(),
        h[10..16].concat()
    )
}

/// A GUID stored the Microsoft way (first three groups little-endian: VHDX, VDI), as text.
pub(crate) fn guid_le(g: &[u8; 16]) -> String {
    let mut u = *g;
    u[0..4].reverse();
    u[4..6].reverse();
    u[6..8].reverse();
    uuid_be(&u)
}

/// 16 random bytes made a version 4 UUID in RFC 4122 byte order (VHD unique ids).
pub(crate) fn random_uuid_be() -> crate::Result<[u8; 16]> {
    let mut u = [0u8; 16];
    getrandom::fill(&mut u).map_err(|e| {
        crate::Error::new(
            crate::ErrorKind::Io,
            format!("no random numbers for a new identifier: {e}"),
        )
    })?;
    u[6] = (u[6] & 0x0f) | 0x40;
    u[8] = (u[8] & 0x3f) | 0x80;
    Ok(u)
}

/// A random version 4 GUID stored the Microsoft way (VHDX, VDI).
pub(crate) fn random_guid_le() -> crate::Result<[u8; 16]> {
    let mut g = random_uuid_be()?;
    g[0..4].reverse();
    g[4..6].reverse();
    g[6..8].reverse();
    Ok(g)
}

/// Seconds since 1970-01-01 UTC, now.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// UTF-16 text (little- or big-endian) up to the first NUL.
pub(crate) fn utf16(b: &[u8], big_endian: bool) -> String {
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| {
            if big_endian {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from_le_bytes([c[0], c[1]])
            }
        })
        .take_while(|&u| u != 0)
        .collect();
    String::from_utf16_lossy(&units)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_ids() {
        let b = [1u8, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(le32(&b, 0), 0x0403_0201);
        assert_eq!(be16(&b, 6), 0x0708);
        assert_eq!(le64(&b, 4), 0, "a field past the end reads as zero");
        assert_eq!(be64(&b, 100), 0);
        let g = [
            0x66, 0x77, 0xc2, 0x2d, 0x23, 0xf6, 0x00, 0x42, 0x9d, 0x64, 0x11, 0x5e, 0x9b, 0xfd,
            0x4a, 0x08,
        ];
        assert_eq!(guid_le(&g), "2dc27766-f623-4200-9d64-115e9bfd4a08");
        assert_eq!(utf16(&[b'a', 0, b'b', 0, 0, 0, b'c', 0], false), "ab");
    }
}
