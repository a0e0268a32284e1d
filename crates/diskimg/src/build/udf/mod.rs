//! The UDF side of an ISO 9660/UDF bridge image (ECMA-167 3rd edition, OSTA UDF 1.02, 2.01 and
//! 2.50), sharing the file data of the ISO 9660 tree: every file's extents are the sectors the
//! ISO 9660 writer puts its data in.
//!
//! Written: the volume recognition sequence after the ISO 9660 descriptors (BEA01, NSR02 for
//! 1.02 or NSR03 for 2.x, TEA01); anchors at sector 256 and at the last sector (N-256 on hybrid
//! images, whose last sectors hold the backup GPT); main and reserve volume descriptor sequences
//! (primary, "*UDF LV Info", one read-only partition, logical volume with a type 1 map and for
//! 2.50 a metadata map, unallocated space, terminator); a closed integrity descriptor with the
//! file and directory counts, no free space and the next unique id; the file set descriptor;
//! file entries (1.02) or extended file entries (2.x) with long allocation descriptors of at
//! most 1 GiB less a block, continued in allocation extent descriptors when a file needs more
//! than an entry holds; directories of file identifier descriptors; symbolic links as path
//! components (embedded when short); devices with a device specification attribute, fifos;
//! hard links as one ICB with its link count; permissions, set-id bits, owners and times from
//! the tree (clamped for reproducible images); unique ids. For 2.50 the file set, entries and
//! directories live in the metadata partition: a metadata file and a duplicate mirror, in
//! allocation units of 32 blocks before the file data, the metadata from the physical
//! partition's first block (so readers that ignore partition references still work). Names longer than a
//! UDF identifier (255 bytes) are shortened with a checksum and stay unique.
//!
//! Not written: space bitmaps or tables (the partition is read-only and full), named streams,
//! extended attributes other than device numbers, multi-volume sets, strategy 4096, sparing or
//! virtual partitions, block sizes other than 2048.
//!
//! The layout ([`UdfPlan`]) is made from the tree before the ISO 9660 plan, which keeps the
//! sectors it asks for ([`Reserve`](crate::build::iso::Reserve)); [`UdfWriter`] then writes
//! them as the ISO writer's [`Companion`](crate::build::iso::Companion).

mod encode;
mod entries;
mod layout;
#[cfg(test)]
mod tests;
mod volume;
mod write;

pub use layout::UdfPlan;
pub use write::UdfWriter;

use crate::error::{Error, Result};

/// The UDF revision written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UdfRevision {
    /// UDF 1.02 (the DVD-Video revision): file entries, NSR02.
    #[default]
    V1_02,
    /// UDF 2.01: extended file entries, NSR03.
    V2_01,
    /// UDF 2.50 (Blu-ray): as 2.01, with the metadata partition and its mirror.
    V2_50,
}

impl UdfRevision {
    /// The revision as UDF records it (binary-coded decimal).
    pub fn bcd(self) -> u16 {
        match self {
            UdfRevision::V1_02 => 0x0102,
            UdfRevision::V2_01 => 0x0201,
            UdfRevision::V2_50 => 0x0250,
        }
    }

    /// The recognition descriptor that announces the revision.
    fn nsr(self) -> &'static [u8; 5] {
        match self {
            UdfRevision::V1_02 => b"NSR02",
            _ => b"NSR03",
        }
    }

    /// Descriptor tag version: 2 for ECMA-167 2nd edition (UDF 1.02), 3 for the 3rd.
    fn descriptor_version(self) -> u16 {
        match self {
            UdfRevision::V1_02 => 2,
            _ => 3,
        }
    }

    /// Whether entries are extended file entries.
    fn extended_entries(self) -> bool {
        self != UdfRevision::V1_02
    }

    /// Whether metadata goes into a metadata partition.
    fn metadata_partition(self) -> bool {
        self == UdfRevision::V2_50
    }
}

impl std::str::FromStr for UdfRevision {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "1.02" | "102" => Ok(UdfRevision::V1_02),
            "2.01" | "201" => Ok(UdfRevision::V2_01),
            "2.50" | "250" => Ok(UdfRevision::V2_50),
            _ => Err(Error::invalid_input(format!(
                "UDF revision '{s}': 1.02, 2.01 or 2.50"
            ))),
        }
    }
}

impl std::fmt::Display for UdfRevision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = self.bcd();
        write!(f, "{:x}.{:02x}", r >> 8, r & 0xFF)
    }
}

impl UdfPlan {
    /// The writer of this plan's structures.
    pub fn writer(&self) -> UdfWriter<'_> {
        UdfWriter { plan: self }
    }
}
