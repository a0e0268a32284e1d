//! The VHD footer (the "hard disk footer" of the Virtual Hard Disk Image Format Specification,
//! 2006), its checksum, and CHS geometry.
//!
//! The footer is the last 512 bytes of every VHD (511 bytes in images from before Virtual PC
//! 2004); dynamic and differencing disks keep a copy in their first 512 bytes. All fields are
//! big-endian.

use crate::container::bytes::{be16, be32, be64, id16};
use crate::error::{Error, Result};

/// Size of the footer structure.
pub const FOOTER_LEN: usize = 512;
/// The footer's cookie.
pub const COOKIE: &[u8; 8] = b"conectix";
/// `data_offset` of a fixed disk (no dynamic header).
pub const NO_DATA_OFFSET: u64 = u64::MAX;

/// Disk types of the footer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskType {
    /// All data in place, followed by the footer.
    Fixed,
    /// Blocks allocated on first write, through a block allocation table.
    Dynamic,
    /// Like dynamic, and sectors not written here come from a parent disk.
    Differencing,
}

impl DiskType {
    /// The name `info` shows.
    pub fn name(self) -> &'static str {
        match self {
            DiskType::Fixed => "fixed",
            DiskType::Dynamic => "dynamic",
            DiskType::Differencing => "differencing",
        }
    }

    /// The on-disk value.
    pub fn value(self) -> u32 {
        match self {
            DiskType::Fixed => 2,
            DiskType::Dynamic => 3,
            DiskType::Differencing => 4,
        }
    }
}

/// The hard disk footer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VhdFooter {
    /// Features (bit 0: temporary disk; bit 1: reserved, always set).
    pub features: u32,
    /// File format version, 0x00010000.
    pub file_format_version: u32,
    /// Absolute offset of the dynamic disk header; [`NO_DATA_OFFSET`] for fixed disks.
    pub data_offset: u64,
    /// Seconds since 2000-01-01 00:00:00 UTC.
    pub time_stamp: u32,
    /// Creator application (`vpc `, `vs  `, `win `, `qemu`, `qem2`, `d2v\0`, `tap\0`, ...).
    pub creator_application: [u8; 4],
    /// Creator version (major in the upper 16 bits).
    pub creator_version: u32,
    /// Creator host OS (`Wi2k`, `Mac `).
    pub creator_host_os: [u8; 4],
    /// Size of the disk when it was created, in bytes.
    pub original_size: u64,
    /// Current size of the disk in bytes: the guest size.
    pub current_size: u64,
    /// CHS geometry: cylinders.
    pub cylinders: u16,
    /// CHS geometry: heads.
    pub heads: u8,
    /// CHS geometry: sectors per track.
    pub sectors_per_track: u8,
    /// Fixed, dynamic or differencing.
    pub disk_type: DiskType,
    /// Ones' complement of the byte sum of the footer without this field.
    pub checksum: u32,
    /// Identifies the disk; a differencing child records its parent's.
    pub unique_id: [u8; 16],
    /// Whether the disk is in a saved state.
    pub saved_state: u8,
}

/// The footer checksum of `b`: ones' complement of the sum of every byte but bytes 64-67.
pub fn checksum(b: &[u8]) -> u32 {
    let sum = b
        .iter()
        .enumerate()
        .filter(|(i, _)| !(64..68).contains(i))
        .fold(0u32, |s, (_, &x)| s.wrapping_add(u32::from(x)));
    !sum
}

impl VhdFooter {
    /// Parses a footer read at `offset`, checking cookie, checksum and disk type.
    pub fn parse(b: &[u8], offset: u64) -> Result<VhdFooter> {
        let bad = |msg: String| Error::corrupt("vhd", "footer", offset, msg);
        if b.len() < FOOTER_LEN - 1 || &b[..8] != COOKIE {
            return Err(bad("no \"conectix\" cookie".into()));
        }
        let stored = be32(b, 64);
        let computed = checksum(b);
        if stored != computed {
            return Err(bad(format!(
                "checksum is {stored:#010x}, the bytes sum to {computed:#010x}"
            )));
        }
        let disk_type = match be32(b, 60) {
            2 => DiskType::Fixed,
            3 => DiskType::Dynamic,
            4 => DiskType::Differencing,
            t => {
                return Err(Error::unsupported(
                    "vhd",
                    format!("disk type {t} (only fixed 2, dynamic 3 and differencing 4 exist)"),
                )
                .with_structure("footer")
                .with_offset(offset));
            }
        };
        let mut app = [0u8; 4];
        app.copy_from_slice(&b[28..32]);
        let mut os = [0u8; 4];
        os.copy_from_slice(&b[36..40]);
        Ok(VhdFooter {
            features: be32(b, 8),
            file_format_version: be32(b, 12),
            data_offset: be64(b, 16),
            time_stamp: be32(b, 24),
            creator_application: app,
            creator_version: be32(b, 32),
            creator_host_os: os,
            original_size: be64(b, 40),
            current_size: be64(b, 48),
            cylinders: be16(b, 56),
            heads: b[58],
            sectors_per_track: b[59],
            disk_type,
            checksum: stored,
            unique_id: id16(b, 68),
            saved_state: b.get(84).copied().unwrap_or(0),
        })
    }

    /// The 512 bytes of this footer, its checksum computed (the `checksum` field is ignored).
    pub fn to_bytes(&self) -> [u8; FOOTER_LEN] {
        let mut b = [0u8; FOOTER_LEN];
        b[..8].copy_from_slice(COOKIE);
        b[8..12].copy_from_slice(&self.features.to_be_bytes());
        b[12..16].copy_from_slice(&self.file_format_version.to_be_bytes());
        b[16..24].copy_from_slice(&self.data_offset.to_be_bytes());
        b[24..28].copy_from_slice(&self.time_stamp.to_be_bytes());
        b[28..32].copy_from_slice(&self.creator_application);
        b[32..36].copy_from_slice(&self.creator_version.to_be_bytes());
        b[36..40].copy_from_slice(&self.creator_host_os);
        b[40..48].copy_from_slice(&self.original_size.to_be_bytes());
        b[48..56].copy_from_slice(&self.current_size.to_be_bytes());
        b[56..58].copy_from_slice(&self.cylinders.to_be_bytes());
        b[58] = self.heads;
        b[59] = self.sectors_per_track;
        b[60..64].copy_from_slice(&self.disk_type.value().to_be_bytes());
        b[68..84].copy_from_slice(&self.unique_id);
        b[84] = self.saved_state;
        let c = checksum(&b);
        b[64..68].copy_from_slice(&c.to_be_bytes());
        b
    }

    /// Bytes the CHS geometry addresses.
    pub fn chs_size(&self) -> u64 {
        u64::from(self.cylinders) * u64::from(self.heads) * u64::from(self.sectors_per_track) * 512
    }

    /// Whether the geometry is the largest CHS can say (65535/16/255), which readers that
    /// size disks by CHS treat as "use the current size".
    pub fn chs_is_max(&self) -> bool {
        (self.cylinders, self.heads, self.sectors_per_track) == (65535, 16, 255)
    }

    /// The creator application as text, trailing spaces and NULs removed.
    pub fn creator(&self) -> String {
        String::from_utf8_lossy(&self.creator_application)
            .trim_end_matches([' ', '\0'])
            .to_owned()
    }

    /// The size qemu gives this disk: by CHS for images made by Virtual PC (`vpc `) and old
    /// qemu (`qemu`) unless the geometry is the maximum, else the current size.
    pub fn qemu_size(&self) -> u64 {
        let by_chs = matches!(&self.creator_application, b"vpc " | b"qemu");
        if by_chs && !self.chs_is_max() {
            self.chs_size()
        } else {
            self.current_size
        }
    }
}

/// CHS geometry for a disk of `total_sectors` 512-byte sectors, as the specification's appendix
/// computes it: `(cylinders, heads, sectors per track)`. Writers store it in the footer.
pub fn chs_for_sectors(total_sectors: u64) -> (u16, u8, u8) {
    let total = total_sectors.min(65535 * 16 * 255);
    let (spt, heads, cyl_times_heads) = if total >= 65535 * 16 * 63 {
        (255u64, 16u64, total / 255)
    } else {
        let mut spt = 17u64;
        let mut cth = total / spt;
        let mut heads = cth.div_ceil(1024).max(4);
        if cth >= heads * 1024 || heads > 16 {
            spt = 31;
            heads = 16;
            cth = total / spt;
        }
        if cth >= heads * 1024 {
            spt = 63;
            heads = 16;
            cth = total / spt;
        }
        (spt, heads, cth)
    };
    let cylinders = (cyl_times_heads / heads).min(65535);
    (cylinders as u16, heads as u8, spt as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chs_matches_the_specification_examples() {
        // 64 MiB rounds down to 963/8/17; qemu-img grows the size until the CHS covers it.
        assert_eq!(chs_for_sectors(64 * 2048), (963, 8, 17));
        assert_eq!(chs_for_sectors(964 * 8 * 17), (964, 8, 17));
        // The maximum.
        assert_eq!(chs_for_sectors(u64::MAX), (65535, 16, 255));
        // Small disks use 17 sectors per track and at least 4 heads.
        assert_eq!(chs_for_sectors(2048), (30, 4, 17));
    }

    #[test]
    fn checksum_skips_its_own_field() {
        let mut b = [0u8; 512];
        b[..8].copy_from_slice(COOKIE);
        b[60..64].copy_from_slice(&2u32.to_be_bytes());
        let c = checksum(&b);
        b[64..68].copy_from_slice(&c.to_be_bytes());
        assert_eq!(checksum(&b), c);
        let f = VhdFooter::parse(&b, 0).unwrap();
        assert_eq!(f.disk_type, DiskType::Fixed);
        b[100] = 1;
        assert!(VhdFooter::parse(&b, 0).is_err());
    }
}
