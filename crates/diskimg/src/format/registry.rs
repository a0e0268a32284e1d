//! The list of known formats.

use super::FormatDescriptor;
use crate::container::{qcow2, raw};
use crate::fs::{iso9660, udf};
use crate::partition::{gpt, mbr};

static FORMATS: &[&FormatDescriptor] = &[
    &qcow2::DESCRIPTOR,
    &raw::DESCRIPTOR,
    &gpt::DESCRIPTOR,
    &mbr::DESCRIPTOR,
    &iso9660::DESCRIPTOR,
    &udf::DESCRIPTOR,
];

/// Every registered format, in probing order.
pub fn formats() -> &'static [&'static FormatDescriptor] {
    FORMATS
}
