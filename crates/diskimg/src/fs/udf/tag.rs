//! The descriptor tag (ECMA-167 3/7.2, 4/7.2) that starts every UDF descriptor: its
//! identifier, checksum, CRC (CRC-ITU-T over the descriptor body) and recorded location.

use super::FORMAT;
use super::fields::{le16, le32};
use crate::error::{Error, Result};

/// Tag identifiers (3/7.2.1 and 4/7.2.1).
pub(crate) mod id {
    pub const PRIMARY_VOLUME: u16 = 1;
    pub const ANCHOR: u16 = 2;
    pub const VOLUME_POINTER: u16 = 3;
    pub const IMPLEMENTATION_USE: u16 = 4;
    pub const PARTITION: u16 = 5;
    pub const LOGICAL_VOLUME: u16 = 6;
    pub const UNALLOCATED_SPACE: u16 = 7;
    pub const TERMINATING: u16 = 8;
    pub const INTEGRITY: u16 = 9;
    pub const FILE_SET: u16 = 256;
    pub const FILE_ID: u16 = 257;
    pub const ALLOC_EXTENT: u16 = 258;
    pub const INDIRECT: u16 = 259;
    pub const FILE_ENTRY: u16 = 261;
    pub const EA_HEADER: u16 = 262;
    pub const EXTENDED_FILE_ENTRY: u16 = 266;
}

/// Length of a tag.
pub(crate) const TAG_LEN: usize = 16;

/// A checked descriptor tag.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tag {
    pub id: u16,
}

/// Sum of the tag bytes except the checksum itself (3/7.2.3).
pub(crate) fn checksum(b: &[u8]) -> u8 {
    b[..TAG_LEN]
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 4)
        .fold(0u8, |a, (_, &x)| a.wrapping_add(x))
}

/// CRC-ITU-T (x^16 + x^12 + x^5 + 1, initial 0, not reflected), as 1/7.2.6 defines it.
pub(crate) fn crc_itu_t(data: &[u8]) -> u16 {
    let mut crc = 0u16;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Whether `b` starts with a tag whose checksum is right (a cheap "is anything here" test).
pub(super) fn looks_tagged(b: &[u8]) -> bool {
    b.len() >= TAG_LEN && b[..TAG_LEN].iter().any(|&x| x != 0) && checksum(b) == b[4]
}

/// Checks the tag at the start of `b`: the checksum, the identifier (one of `ids`), the CRC
/// over the bytes that follow (when its length is not zero) and the recorded location, which
/// must be `location` (`None` skips that check). `offset` is where `b` lies on the device.
pub(super) fn check(
    b: &[u8],
    ids: &[u16],
    location: Option<u32>,
    structure: &'static str,
    offset: u64,
) -> Result<Tag> {
    if b.len() < TAG_LEN {
        return Err(Error::corrupt(FORMAT, structure, offset, "truncated tag"));
    }
    let tag_id = le16(b, 0);
    if checksum(b) != b[4] {
        return Err(Error::corrupt(
            FORMAT,
            structure,
            offset,
            format!(
                "tag checksum is {:#04x}, the bytes sum to {:#04x}",
                b[4],
                checksum(b)
            ),
        ));
    }
    if !ids.contains(&tag_id) {
        return Err(Error::corrupt(
            FORMAT,
            structure,
            offset,
            format!("tag identifier {tag_id}, expected {ids:?}"),
        ));
    }
    let crc_len = usize::from(le16(b, 10));
    if crc_len > 0 {
        let Some(body) = b.get(TAG_LEN..TAG_LEN + crc_len) else {
            return Err(Error::corrupt(
                FORMAT,
                structure,
                offset,
                format!(
                    "descriptor CRC covers {crc_len} bytes, only {} are present",
                    b.len() - TAG_LEN
                ),
            ));
        };
        let (want, got) = (le16(b, 8), crc_itu_t(body));
        if want != got {
            return Err(Error::corrupt(
                FORMAT,
                structure,
                offset,
                format!("descriptor CRC is {want:#06x}, the bytes give {got:#06x}"),
            ));
        }
    }
    let recorded = le32(b, 12);
    if let Some(want) = location {
        if recorded != want {
            return Err(Error::corrupt(
                FORMAT,
                structure,
                offset,
                format!("tag says it is at block {recorded}, it was read from block {want}"),
            ));
        }
    }
    Ok(Tag { id: tag_id })
}

/// The length of the descriptor body its CRC covers, from the tag.
pub(super) fn crc_len(b: &[u8]) -> usize {
    usize::from(le16(b, 10))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Fills in the checksum and CRC of a tag at the start of `b` (test helper).
    pub fn seal(b: &mut [u8], crc_len: usize) {
        b[10..12].copy_from_slice(&(crc_len as u16).to_le_bytes());
        let crc = crc_itu_t(&b[16..16 + crc_len]);
        b[8..10].copy_from_slice(&crc.to_le_bytes());
        b[4] = checksum(b);
    }

    #[test]
    fn crc_matches_the_standard_example() {
        // ECMA-167 1/7.2.6: the CRC of the bytes 70 6A 77 is 0x3299.
        assert_eq!(crc_itu_t(&[0x70, 0x6A, 0x77]), 0x3299);
    }

    #[test]
    fn checks_each_field() {
        let mut b = vec![0u8; 64];
        b[0] = 2;
        b[12] = 7;
        b[20] = 0xAB;
        seal(&mut b, 48);
        assert_eq!(check(&b, &[2], Some(7), "anchor", 0).unwrap().id, 2);
        assert!(check(&b, &[3], Some(7), "anchor", 0).is_err());
        let e = check(&b, &[2], Some(8), "anchor", 14336).unwrap_err();
        assert!(e.to_string().contains("14336"), "{e}");
        let mut bad = b.clone();
        bad[30] ^= 1;
        assert!(
            check(&bad, &[2], Some(7), "anchor", 0)
                .unwrap_err()
                .to_string()
                .contains("CRC")
        );
        bad = b.clone();
        bad[4] ^= 1;
        assert!(
            check(&bad, &[2], Some(7), "anchor", 0)
                .unwrap_err()
                .to_string()
                .contains("checksum")
        );
        bad = b.clone();
        bad[10] = 200;
        seal_checksum_only(&mut bad);
        assert!(check(&bad, &[2], Some(7), "anchor", 0).is_err());
    }

    fn seal_checksum_only(b: &mut [u8]) {
        b[4] = checksum(b);
    }
}
