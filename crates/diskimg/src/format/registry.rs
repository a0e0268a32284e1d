//! The list of known formats.

use super::FormatDescriptor;
use crate::container::{vdi, vhd, vhdx, vmdk};
use crate::fs::{hfsplus, iso9660, ntfs, udf};
use crate::partition::{apm, gpt, mbr};

static FORMATS: &[&FormatDescriptor] = &[
    &vhd::DESCRIPTOR,
    &vdi::DESCRIPTOR,
    &vhdx::DESCRIPTOR,
    &vmdk::DESCRIPTOR,
    &gpt::DESCRIPTOR,
    &mbr::DESCRIPTOR,
    &apm::DESCRIPTOR,
    &iso9660::DESCRIPTOR,
    &ntfs::DESCRIPTOR,
    &hfsplus::DESCRIPTOR,
    &udf::DESCRIPTOR,
];

/// Every registered format, in probing order.
pub fn formats() -> &'static [&'static FormatDescriptor] {
    FORMATS
}
