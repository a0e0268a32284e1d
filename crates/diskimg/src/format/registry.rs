//! The list of known formats.

use super::FormatDescriptor;
use crate::fs::{exfat, ext4, fat, iso9660, squashfs, udf};
use crate::partition::{gpt, mbr};

static FORMATS: &[&FormatDescriptor] = &[
    &gpt::DESCRIPTOR,
    &mbr::DESCRIPTOR,
    &iso9660::DESCRIPTOR,
    &udf::DESCRIPTOR,
    &fat::DESCRIPTOR,
    &exfat::DESCRIPTOR,
    &ext4::DESCRIPTOR,
    &squashfs::DESCRIPTOR,
];

/// Every registered format, in probing order.
pub fn formats() -> &'static [&'static FormatDescriptor] {
    FORMATS
}
