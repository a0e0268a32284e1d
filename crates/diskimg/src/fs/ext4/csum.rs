//! CRC32C as ext4's metadata checksums use it: the raw update, without the final inversion.

/// Continues a CRC32C computation from `state` (the kernel's `crc32c(state, data)`).
pub(crate) fn update(state: u32, data: &[u8]) -> u32 {
    !crc32c::crc32c_append(!state, data)
}

#[cfg(test)]
mod tests {
    #[test]
    fn matches_the_standard_crc_when_started_and_inverted() {
        // The standard CRC-32C check value of "123456789".
        assert_eq!(!super::update(!0, b"123456789"), 0xE306_9283);
        let split = super::update(super::update(!0, b"1234"), b"56789");
        assert_eq!(split, super::update(!0, b"123456789"));
    }
}
