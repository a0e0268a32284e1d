//! The shape of a new FAT volume for its size, chosen as mkfs.fat (dosfstools 4.2) chooses it,
//! so that our images look like the ones Linux users already make and check.
//!
//! - FAT32 from 512 MiB up (unless a type is forced); its cluster size follows Microsoft's table
//!   (fatgen103 p. 20, as mkfs.fat applies it): up to 260 MiB 512 bytes, up to 8 GiB 4 KiB, up to
//!   16 GiB 8 KiB, up to 32 GiB 16 KiB, above 32 KiB.
//! - Below 512 MiB: clusters start at 2 KiB (1 or 2 sectors for 1440 KiB and 2880 KiB floppies)
//!   and double until FAT12 (at most 4084 clusters) or FAT16 (4087 to 65524) can address the
//!   volume; FAT16 is taken when it gives more clusters.
//! - Reserved sectors: 1 (FAT12/16) or 32 (FAT32); two FATs; 512 root entries (224 on
//!   floppies), more when the root folder needs them; 512-byte sectors.
//! - Volumes over 8192 sectors have the reserved area, each FAT and the root directory rounded to
//!   whole clusters, so clusters are aligned; the sector count is rounded down to whole tracks
//!   (mtools refuses a volume that ends in a partial track).
//! - CHS fields: the SD card recommendation below 256 MiB, LBA-assist translation above; floppy
//!   geometry and media bytes for the floppy sizes.
//!
//! FAT32 volumes with fewer than 65525 clusters are refused even when forced (mkfs.fat makes
//! them on request, but every reader that counts clusters, ours included, sees FAT16).

use crate::error::{Error, ErrorKind, Result};
use crate::fs::fat::FatType;

/// Bytes per sector.
pub const SECTOR: u64 = 512;
/// Most clusters of a FAT12 volume.
const MAX_CLUST_12: u64 = 4084;
/// Fewest clusters of a FAT16 volume (Windows counts 4085 and 4086 as FAT12).
const MIN_CLUST_16: u64 = 4087;
/// Most clusters of a FAT16 volume.
const MAX_CLUST_16: u64 = 65524;
/// Fewest clusters of a FAT32 volume.
const MIN_CLUST_32: u64 = 65525;
/// Most clusters of a FAT32 volume (28-bit entries, the top values reserved).
const MAX_CLUST_32: u64 = 268_435_446;
/// Largest cluster, in sectors (64 KiB).
const MAX_SECTORS_PER_CLUSTER: u64 = 128;
/// Number of FATs.
pub const FAT_COUNT: u64 = 2;
/// Most root directory entries of FAT12/16 (a 16-bit field, whole sectors).
pub const MAX_ROOT_ENTRIES: u32 = 65520;

/// The layout of a FAT volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// FAT12, FAT16 or FAT32.
    pub fat_type: FatType,
    /// Sectors of the file system (the image may be longer).
    pub total_sectors: u32,
    /// Sectors per cluster.
    pub sectors_per_cluster: u32,
    /// Sectors before the first FAT (boot sector, FSInfo, backup).
    pub reserved_sectors: u32,
    /// Sectors of one FAT.
    pub fat_sectors: u32,
    /// Entries of the fixed root directory (0 on FAT32).
    pub root_entries: u32,
    /// Clusters of the data area.
    pub clusters: u32,
    /// Media descriptor byte (0xF8 fixed disk, 0xF0 floppy).
    pub media: u8,
    /// CHS sectors per track.
    pub sectors_per_track: u16,
    /// CHS heads.
    pub heads: u16,
}

impl Geometry {
    /// Bytes per cluster.
    pub fn cluster_size(&self) -> u64 {
        u64::from(self.sectors_per_cluster) * SECTOR
    }

    /// Byte offset of FAT `n` (0 or 1).
    pub fn fat_offset(&self, n: u64) -> u64 {
        (u64::from(self.reserved_sectors) + n * u64::from(self.fat_sectors)) * SECTOR
    }

    /// Bytes of one FAT.
    pub fn fat_size(&self) -> u64 {
        u64::from(self.fat_sectors) * SECTOR
    }

    /// Byte offset of the fixed root directory (FAT12/16).
    pub fn root_offset(&self) -> u64 {
        self.fat_offset(FAT_COUNT)
    }

    /// Bytes of the fixed root directory (0 on FAT32).
    pub fn root_size(&self) -> u64 {
        (u64::from(self.root_entries) * 32).div_ceil(SECTOR) * SECTOR
    }

    /// Byte offset of cluster 2.
    pub fn data_offset(&self) -> u64 {
        self.root_offset() + self.root_size()
    }

    /// Byte offset of `cluster`.
    pub fn cluster_offset(&self, cluster: u32) -> u64 {
        self.data_offset() + u64::from(cluster - 2) * self.cluster_size()
    }

    /// Whether this is a floppy format (media byte other than fixed disk).
    pub fn is_floppy(&self) -> bool {
        self.media != 0xF8
    }
}

/// Floppy formats mkfs.fat recognises by size in KiB: (sectors per track, heads, media, sectors
/// per cluster, root entries).
const FLOPPIES: [(u64, u16, u16, u8, u64, u32); 5] = [
    (360, 9, 2, 0xFD, 2, 112),
    (720, 9, 2, 0xF9, 2, 112),
    (1200, 15, 2, 0xF9, 1, 224),
    (1440, 18, 2, 0xF0, 1, 224),
    (2880, 36, 2, 0xF0, 2, 224),
];

fn align(sectors: u64, cluster: u64, aligned: bool) -> u64 {
    if aligned {
        sectors.next_multiple_of(cluster)
    } else {
        sectors
    }
}

/// Cluster counts and FAT lengths that each FAT type would give with one cluster size.
struct Trial {
    clusters: [u64; 3],
    fat_sectors: [u64; 3],
}

fn trial(sectors: u64, reserved: u64, root_sectors: u64, spc: u64, aligned: bool) -> Trial {
    let fatdata32 = sectors.saturating_sub(align(reserved, spc, aligned));
    let fatdata16 = fatdata32.saturating_sub(align(root_sectors, spc, aligned));
    let ss = SECTOR;
    let n = FAT_COUNT;
    // FAT12: 1.5 bytes per entry; the two reserved entries count too.
    let c12 = 2 * (fatdata16 * ss + n * 3) / (2 * spc * ss + n * 3);
    let f12 = align((((c12 + 2) * 3 + 1) >> 1).div_ceil(ss), spc, aligned);
    let mut c12 = fatdata16.saturating_sub(n * f12) / spc;
    if c12 > (f12 * 2 * ss / 3).min(MAX_CLUST_12) {
        c12 = 0;
    }
    let c16 = (fatdata16 * ss + n * 4) / (spc * ss + n * 2);
    let f16 = align(((c16 + 2) * 2).div_ceil(ss), spc, aligned);
    let mut c16 = fatdata16.saturating_sub(n * f16) / spc;
    if c16 > (f16 * ss / 2).min(MAX_CLUST_16) || c16 < MIN_CLUST_16 {
        c16 = 0;
    }
    let c32 = (fatdata32 * ss + n * 8) / (spc * ss + n * 4);
    let f32_ = align(((c32 + 2) * 4).div_ceil(ss), spc, aligned);
    let mut c32 = fatdata32.saturating_sub(n * f32_) / spc;
    if c32 > (f32_ * ss / 4).min(MAX_CLUST_32) || c32 < MIN_CLUST_32 {
        c32 = 0;
    }
    Trial {
        clusters: [c12, c16, c32],
        fat_sectors: [f12, f16, f32_],
    }
}

fn bits(t: FatType) -> usize {
    match t {
        FatType::Fat12 => 0,
        FatType::Fat16 => 1,
        FatType::Fat32 => 2,
    }
}

/// The geometry for a volume of `bytes`, of type `forced` or the type mkfs.fat picks, with a
/// fixed root directory of at least `root_entries` entries (FAT12/16). `floppy` allows the
/// floppy formats for their sizes (a superfloppy image; a partition is a fixed disk).
pub fn choose(
    bytes: u64,
    forced: Option<FatType>,
    root_entries: u32,
    floppy: bool,
) -> Result<Geometry> {
    let device_sectors = bytes / SECTOR;
    if device_sectors > u64::from(u32::MAX) {
        return Err(Error::invalid_input(format!(
            "a FAT volume holds at most {} bytes (2^32 sectors of 512 bytes); {bytes} were asked for",
            u64::from(u32::MAX) * SECTOR
        )));
    }
    let (mut heads, mut spt): (u16, u16) = if device_sectors <= 524_288 {
        let h = match device_sectors {
            0..=32_768 => 2,
            32_769..=65_536 => 4,
            65_537..=262_144 => 8,
            _ => 16,
        };
        (h, if device_sectors <= 4096 { 16 } else { 32 })
    } else {
        let h = match device_sectors {
            s if s <= 16 * 63 * 1024 => 16,
            s if s <= 32 * 63 * 1024 => 32,
            s if s <= 64 * 63 * 1024 => 64,
            s if s <= 128 * 63 * 1024 => 128,
            _ => 255,
        };
        (h, 63)
    };
    let mut media = 0xF8;
    let mut spc: u64 = 4;
    let mut default_root = 512;
    if let Some(&(_, s, h, m, c, r)) = FLOPPIES.iter().find(|f| floppy && f.0 == bytes / 1024) {
        (spt, heads, media, spc, default_root) = (s, h, m, c, r);
    }
    let fat_type = match forced {
        None if bytes >= 512 << 20 => Some(FatType::Fat32),
        f => f,
    };
    if fat_type == Some(FatType::Fat32) {
        spc = match device_sectors {
            s if s > 32 * 1024 * 1024 * 2 => 64,
            s if s > 16 * 1024 * 1024 * 2 => 32,
            s if s > 8 * 1024 * 1024 * 2 => 16,
            s if s > 260 * 1024 * 2 => 8,
            _ => 1,
        };
    }
    let root_entries = if fat_type == Some(FatType::Fat32) {
        0
    } else {
        let want = root_entries.max(default_root).next_multiple_of(16);
        if want > MAX_ROOT_ENTRIES {
            return Err(Error::new(
                ErrorKind::NoSpace,
                format!(
                    "the root folder needs {root_entries} directory entries; FAT12/16 allow {MAX_ROOT_ENTRIES}: use FAT32 or fewer names at the root"
                ),
            ));
        }
        u64::from(want)
    };
    let reserved: u64 = if fat_type == Some(FatType::Fat32) {
        32
    } else {
        1
    };
    let sectors = device_sectors / u64::from(spt) * u64::from(spt);
    let aligned = sectors > 8192;
    let root_sectors = (root_entries * 32).div_ceil(SECTOR);
    let chosen = loop {
        let t = trial(sectors, reserved, root_sectors, spc, aligned);
        let fits = |ft: FatType| t.clusters[bits(ft)] != 0;
        let pick = match fat_type {
            Some(ft) => fits(ft).then_some(ft),
            None if fits(FatType::Fat12) || fits(FatType::Fat16) => Some(
                if t.clusters[bits(FatType::Fat16)] > t.clusters[bits(FatType::Fat12)] {
                    FatType::Fat16
                } else {
                    FatType::Fat12
                },
            ),
            None => None,
        };
        if let Some(ft) = pick {
            break (ft, t.clusters[bits(ft)], t.fat_sectors[bits(ft)]);
        }
        spc <<= 1;
        if spc > MAX_SECTORS_PER_CLUSTER {
            let what = fat_type.map_or("FAT12 or FAT16".to_owned(), |t| t.name().to_uppercase());
            return Err(Error::invalid_input(format!(
                "{what} cannot make a volume of {bytes} bytes: the cluster count would be out of \
                 range (FAT12: at most {MAX_CLUST_12}; FAT16: {MIN_CLUST_16} to {MAX_CLUST_16}; \
                 FAT32: at least {MIN_CLUST_32})"
            )));
        }
    };
    let (fat_type, clusters, fat_sectors) = chosen;
    let reserved = align(reserved, spc, aligned);
    let root_entries = if fat_type == FatType::Fat32 {
        0
    } else if aligned {
        align(root_sectors, spc, true) * (SECTOR / 32)
    } else {
        root_entries
    };
    let to32 = |v: u64| u32::try_from(v).map_err(|_| Error::invalid_input("volume too large"));
    Ok(Geometry {
        fat_type,
        total_sectors: to32(sectors)?,
        sectors_per_cluster: to32(spc)?,
        reserved_sectors: to32(reserved)?,
        fat_sectors: to32(fat_sectors)?,
        root_entries: to32(root_entries.min(u64::from(MAX_ROOT_ENTRIES)))?,
        clusters: to32(clusters)?,
        media,
        sectors_per_track: spt,
        heads,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(bytes: u64, forced: Option<FatType>) -> Geometry {
        choose(bytes, forced, 0, true).unwrap()
    }

    #[test]
    fn floppies_and_small_volumes_are_fat12() {
        let f = g(1440 << 10, None);
        assert_eq!(
            (f.fat_type, f.sectors_per_cluster, f.root_entries, f.media),
            (FatType::Fat12, 1, 224, 0xF0)
        );
        assert_eq!(
            (f.fat_sectors, f.clusters, f.total_sectors),
            (9, 2847, 2880)
        );
        let f = g(2880 << 10, None);
        assert_eq!((f.fat_type, f.sectors_per_cluster), (FatType::Fat12, 2));
        let f = g(4 << 20, None);
        assert_eq!(f.fat_type, FatType::Fat12);
        let f = choose(1440 << 10, None, 0, false).unwrap();
        assert_eq!(
            (f.media, f.sectors_per_cluster),
            (0xF8, 4),
            "no floppy format in a partition"
        );
    }

    #[test]
    fn medium_volumes_are_fat16_and_large_fat32() {
        let f = g(64 << 20, None);
        assert_eq!((f.fat_type, f.sectors_per_cluster), (FatType::Fat16, 4));
        let f = g(300 << 20, None);
        assert_eq!((f.fat_type, f.sectors_per_cluster), (FatType::Fat16, 16));
        let f = g(512 << 20, None);
        assert_eq!((f.fat_type, f.sectors_per_cluster), (FatType::Fat32, 8));
        assert_eq!(f.reserved_sectors, 32);
        let f = g(20 << 30, None);
        assert_eq!((f.fat_type, f.sectors_per_cluster), (FatType::Fat32, 32));
        // Aligned: the data area starts on a cluster boundary.
        assert_eq!(f.data_offset() % f.cluster_size(), 0);
    }

    #[test]
    fn forced_types_are_honoured_or_refused() {
        assert_eq!(
            g(100 << 20, Some(FatType::Fat32)).sectors_per_cluster,
            1,
            "FAT32 below 260 MiB uses 512-byte clusters"
        );
        assert!(choose(16 << 20, Some(FatType::Fat32), 0, true).is_err());
        assert!(choose(1 << 20, Some(FatType::Fat16), 0, true).is_err());
        assert_eq!(g(64 << 20, Some(FatType::Fat12)).fat_type, FatType::Fat12);
        assert!(choose(1 << 30, Some(FatType::Fat12), 0, true).is_err());
        assert!(choose(3 << 40, None, 0, true).is_err());
    }

    #[test]
    fn the_root_grows_for_many_names() {
        assert_eq!(
            choose(64 << 20, None, 3000, true).unwrap().root_entries,
            3008
        );
        assert!(choose(64 << 20, None, 70000, true).is_err());
        assert_eq!(choose(1 << 30, None, 70000, true).unwrap().root_entries, 0);
    }
}
