//! The list of known formats.

use super::FormatDescriptor;
use crate::container::{vdi, vhd, vhdx, vmdk};
use crate::fs::{iso9660, udf};
use crate::partition::{gpt, mbr};

static FORMATS: &[&FormatDescriptor] = &[
    &vhd::DESCRIPTOR,
    &vdi::DESCRIPTOR,
    &vhdx::DESCRIPTOR,
    &vmdk::DESCRIPTOR,
    &gpt::DESCRIPTOR,
    &mbr::DESCRIPTOR,
    &iso9660::DESCRIPTOR,
    &udf::DESCRIPTOR,
];

/// Every registered format, in probing order.
pub fn formats() -> &'static [&'static FormatDescriptor] {
    FORMATS
}
