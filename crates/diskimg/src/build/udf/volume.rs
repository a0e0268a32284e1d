//! The volume structures of the UDF side (ECMA-167 part 2 and 3, UDF 2.2): the volume
//! recognition sequence after the ISO 9660 descriptors, the anchors, a volume descriptor
//! sequence (primary, implementation use "*UDF LV Info", partition, logical volume with its
//! partition maps, unallocated space, terminator) written twice as main and reserve, and the
//! logical volume integrity sequence (closed, with counts and the next unique id).

use super::UdfRevision;
use super::encode::{
    IMPLEMENTATION, charspec, domain_suffix, dstring, extent_ad, implementation_suffix, long_ad,
    put16, put32, put64, regid, seal, timestamp, udf_suffix,
};
use super::layout::{BLOCK, LVID_SECTORS, META_UNIT, VDS_SECTORS};
use crate::fs::udf::spec::id;
use crate::time::Timestamp;

const B: usize = BLOCK as usize;
/// The descriptors of a sequence carry these sequence numbers, in this order.
const PVD: u32 = 1;
const IUVD: u32 = 2;
const PD: u32 = 3;
const LVD: u32 = 4;
const USD: u32 = 5;

/// Where the metadata partition's files are (UDF 2.50), in blocks of the physical partition.
#[derive(Debug, Clone, Copy)]
pub struct MetadataFiles {
    /// The metadata file's entry.
    pub file: u32,
    /// The mirror's entry.
    pub mirror: u32,
    /// Blocks of the metadata partition.
    pub blocks: u32,
}

/// What the volume structures record.
#[derive(Debug, Clone)]
pub struct Volume<'a> {
    pub revision: UdfRevision,
    pub label: &'a str,
    pub volume_set: String,
    pub now: Timestamp,
    /// Sector of BEA01; the main and reserve sequences and the integrity sequence follow.
    pub vrs: u32,
    pub partition_start: u32,
    pub partition_len: u32,
    pub metadata: Option<MetadataFiles>,
    /// Counts for the integrity descriptor.
    pub files: u32,
    pub directories: u32,
    pub next_unique_id: u64,
}

impl Volume<'_> {
    /// Sector of the main volume descriptor sequence.
    pub fn main_vds(&self) -> u32 {
        self.vrs + super::layout::VRS_SECTORS
    }

    fn reserve_vds(&self) -> u32 {
        self.main_vds() + VDS_SECTORS
    }

    fn integrity(&self) -> u32 {
        self.reserve_vds() + VDS_SECTORS
    }

    fn version(&self) -> u16 {
        self.revision.descriptor_version()
    }

    /// The partition reference of the file set, entries and directories.
    pub fn metadata_reference(&self) -> u16 {
        u16::from(self.metadata.is_some())
    }

    /// Recognition sequence, both descriptor sequences and the integrity sequence, from `vrs`.
    pub fn structures(&self) -> Vec<u8> {
        let n = super::layout::VRS_SECTORS + 2 * VDS_SECTORS + LVID_SECTORS;
        let mut b = vec![0u8; n as usize * B];
        for (i, ident) in [b"BEA01", self.revision.nsr(), b"TEA01"].iter().enumerate() {
            let d = &mut b[i * B..];
            d[1..6].copy_from_slice(*ident);
            d[6] = 1;
        }
        for start in [self.main_vds(), self.reserve_vds()] {
            let at = (start - self.vrs) as usize * B;
            self.sequence(&mut b[at..at + VDS_SECTORS as usize * B], start);
        }
        let at = (self.integrity() - self.vrs) as usize * B;
        self.integrity_sequence(&mut b[at..at + 2 * B]);
        b
    }

    /// An anchor volume descriptor pointer at `sector` (3/10.2).
    pub fn anchor(&self, sector: u32) -> [u8; B] {
        let mut d = [0u8; B];
        let len = VDS_SECTORS * BLOCK as u32;
        extent_ad(&mut d[16..], len, self.main_vds());
        extent_ad(&mut d[24..], len, self.reserve_vds());
        seal(&mut d, id::ANCHOR, self.version(), sector, 512);
        d
    }

    fn sequence(&self, b: &mut [u8], start: u32) {
        let v = self.version();
        for (i, d) in b.chunks_exact_mut(B).take(6).enumerate() {
            let (tag, len) = match i {
                0 => (id::PRIMARY_VOLUME, self.primary(d)),
                1 => (id::IMPLEMENTATION_USE, self.implementation_use(d)),
                2 => (id::PARTITION, self.partition(d)),
                3 => (id::LOGICAL_VOLUME, self.logical_volume(d)),
                4 => {
                    put32(d, 16, USD);
                    (id::UNALLOCATED_SPACE, 24)
                }
                _ => (id::TERMINATING, 512),
            };
            seal(d, tag, v, start + i as u32, len);
        }
    }

    /// Primary volume descriptor (3/10.1, UDF 2.2.2).
    fn primary(&self, d: &mut [u8]) -> usize {
        put32(d, 16, PVD);
        put32(d, 20, 0);
        dstring(&mut d[24..56], self.label);
        put16(d, 56, 1);
        put16(d, 58, 1);
        put16(d, 60, 2);
        put16(d, 62, 3);
        put32(d, 64, 1);
        put32(d, 68, 1);
        dstring(&mut d[72..200], &self.volume_set);
        charspec(&mut d[200..264]);
        charspec(&mut d[264..328]);
        regid(&mut d[344..376], IMPLEMENTATION, [0; 8]);
        timestamp(&mut d[376..388], self.now);
        regid(&mut d[388..420], IMPLEMENTATION, implementation_suffix());
        512
    }

    /// Implementation use volume descriptor with the "*UDF LV Info" (3/10.4, UDF 2.2.7).
    fn implementation_use(&self, d: &mut [u8]) -> usize {
        put32(d, 16, IUVD);
        regid(
            &mut d[20..52],
            "*UDF LV Info",
            udf_suffix(self.revision.bcd()),
        );
        charspec(&mut d[52..116]);
        dstring(&mut d[116..244], self.label);
        dstring(&mut d[244..280], "");
        dstring(&mut d[280..316], "");
        dstring(&mut d[316..352], "");
        regid(&mut d[352..384], IMPLEMENTATION, implementation_suffix());
        512
    }

    /// Partition descriptor (3/10.5, UDF 2.2.14): read-only, no space tables or bitmaps.
    fn partition(&self, d: &mut [u8]) -> usize {
        put32(d, 16, PD);
        put16(d, 20, 1);
        put16(d, 22, 0);
        let contents = if self.revision.descriptor_version() == 2 {
            "+NSR02"
        } else {
            "+NSR03"
        };
        regid(&mut d[24..56], contents, [0; 8]);
        put32(d, 184, 1);
        put32(d, 188, self.partition_start);
        put32(d, 192, self.partition_len);
        regid(&mut d[196..228], IMPLEMENTATION, implementation_suffix());
        512
    }

    /// Logical volume descriptor (3/10.6, UDF 2.2.4) with its partition maps; returns its
    /// length.
    fn logical_volume(&self, d: &mut [u8]) -> usize {
        put32(d, 16, LVD);
        charspec(&mut d[20..84]);
        dstring(&mut d[84..212], self.label);
        put32(d, 212, BLOCK as u32);
        regid(
            &mut d[216..248],
            "*OSTA UDF Compliant",
            domain_suffix(self.revision.bcd()),
        );
        // The file set descriptor sequence: the descriptor and its terminator.
        long_ad(
            &mut d[248..264],
            2 * BLOCK as u32,
            0,
            self.metadata_reference(),
            0,
        );
        regid(&mut d[272..304], IMPLEMENTATION, implementation_suffix());
        extent_ad(
            &mut d[432..440],
            LVID_SECTORS * BLOCK as u32,
            self.integrity(),
        );
        // Type 1: partition 0 of this volume.
        d[440..446].copy_from_slice(&[1, 6, 1, 0, 0, 0]);
        let mut table = 6;
        if let Some(m) = self.metadata {
            let p = &mut d[446..510];
            p[0] = 2;
            p[1] = 64;
            regid(
                &mut p[4..36],
                "*UDF Metadata Partition",
                udf_suffix(self.revision.bcd()),
            );
            put16(p, 36, 1);
            put16(p, 38, 0);
            put32(p, 40, m.file);
            put32(p, 44, m.mirror);
            put32(p, 48, u32::MAX);
            put32(p, 52, META_UNIT);
            put16(p, 56, META_UNIT as u16);
            // Duplicate Metadata Flag: the mirror is a copy of its own.
            p[58] = 1;
            table += 64;
        }
        put32(d, 264, table as u32);
        put32(d, 268, 1 + u32::from(self.metadata.is_some()));
        440 + table
    }

    /// The integrity sequence (3/10.10, UDF 2.2.6): a closed integrity descriptor and a
    /// terminator.
    fn integrity_sequence(&self, b: &mut [u8]) {
        let v = self.version();
        let d = &mut b[..B];
        timestamp(&mut d[16..28], self.now);
        put32(d, 28, 1);
        put64(d, 40, self.next_unique_id);
        let sizes: Vec<u32> = match self.metadata {
            Some(m) => vec![self.partition_len, m.blocks],
            None => vec![self.partition_len],
        };
        let n = sizes.len();
        put32(d, 72, n as u32);
        put32(d, 76, 46);
        // Free space: none on a read-only partition.
        for (i, size) in sizes.iter().enumerate() {
            put32(d, 80 + 4 * i, 0);
            put32(d, 80 + 4 * n + 4 * i, *size);
        }
        let iu = 80 + 8 * n;
        regid(&mut d[iu..iu + 32], IMPLEMENTATION, implementation_suffix());
        put32(d, iu + 32, self.files);
        put32(d, iu + 36, self.directories);
        let rev = self.revision.bcd();
        put16(d, iu + 40, rev);
        put16(d, iu + 42, rev);
        put16(d, iu + 44, rev);
        seal(d, id::INTEGRITY, v, self.integrity(), iu + 46);
        seal(&mut b[B..], id::TERMINATING, v, self.integrity() + 1, 512);
    }
}
