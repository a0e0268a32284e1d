//! The list of known formats.

use super::FormatDescriptor;
use crate::container::{chd, cso, dmg, qcow2, raw, vdi, vhd, vhdx, vmdk};
use crate::fs::{apfs, exfat, ext4, fat, hfsplus, iso9660, ntfs, squashfs, udf};
use crate::optical::formats as optical;
use crate::partition::{apm, gpt, mbr};

static FORMATS: &[&FormatDescriptor] = &[
    &optical::CUE,
    &optical::TOC,
    &optical::NRG,
    &optical::CCD,
    &optical::MDS,
    &optical::CDI,
    &optical::GDI,
    &optical::RAW,
    &chd::CD_DESCRIPTOR,
    &qcow2::DESCRIPTOR,
    &vhd::DESCRIPTOR,
    &vdi::DESCRIPTOR,
    &vhdx::DESCRIPTOR,
    &vmdk::DESCRIPTOR,
    &dmg::DESCRIPTOR,
    &dmg::crypt::DESCRIPTOR,
    &dmg::sparse::DESCRIPTOR,
    &cso::DESCRIPTOR,
    &cso::CSO2_DESCRIPTOR,
    &cso::ZSO_DESCRIPTOR,
    &cso::DAX_DESCRIPTOR,
    &chd::DESCRIPTOR,
    &raw::DESCRIPTOR,
    &gpt::DESCRIPTOR,
    &mbr::DESCRIPTOR,
    &apm::DESCRIPTOR,
    &iso9660::DESCRIPTOR,
    &ntfs::DESCRIPTOR,
    &hfsplus::DESCRIPTOR,
    &apfs::DESCRIPTOR,
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
