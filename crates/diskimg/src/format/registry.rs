//! The list of known formats.

use super::FormatDescriptor;
use crate::fs::{iso9660, udf};
use crate::optical::formats as optical;
use crate::partition::{gpt, mbr};

static FORMATS: &[&FormatDescriptor] = &[
    &optical::CUE,
    &optical::TOC,
    &optical::NRG,
    &optical::CCD,
    &optical::MDS,
    &optical::CDI,
    &optical::GDI,
    &optical::RAW,
    &gpt::DESCRIPTOR,
    &mbr::DESCRIPTOR,
    &iso9660::DESCRIPTOR,
    &udf::DESCRIPTOR,
];

/// Every registered format, in probing order.
pub fn formats() -> &'static [&'static FormatDescriptor] {
    FORMATS
}
