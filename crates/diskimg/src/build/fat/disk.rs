//! A disk with one partition holding the volume: an MBR (UEFI specification 2.10 §5.2.1,
//! the classic layout) or a GPT (§5.3: protective MBR, primary header and entries at LBA 1-33,
//! backup entries and header in the last 33 sectors, CRC32 over both). The partition starts
//! at 1 MiB and runs to the end of the disk (the last usable LBA with GPT).
//!
//! MBR partition types: 0x01 (FAT12), 0x0E (FAT16, LBA), 0x0C (FAT32, LBA), as Windows and
//! fdisk use them. The GPT partition is "Microsoft basic data". Disk signature and GUIDs are
//! derived from the volume serial, so reproducible volumes give reproducible disks.

use crate::error::{Error, Result};
use crate::fs::fat::FatType;

/// Where the partition starts (bytes).
pub const PARTITION_START: u64 = 1 << 20;
const SECTOR: u64 = 512;
/// Entries of the GPT partition array.
const GPT_ENTRIES: u64 = 128;
/// Sectors of the backup GPT (entries and header).
const GPT_BACKUP_SECTORS: u64 = 33;
/// Microsoft basic data partition type, in its on-disk byte order.
const BASIC_DATA: [u8; 16] = [
    0xA2, 0xA0, 0xD0, 0xEB, 0xE5, 0xB9, 0x33, 0x44, 0x87, 0xC0, 0x68, 0xB6, 0xB7, 0x26, 0x99, 0xC7,
];

/// How the volume sits in the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PartitionStyle {
    /// The volume is the whole image (a "superfloppy").
    #[default]
    None,
    /// One MBR partition.
    Mbr,
    /// One GPT partition behind a protective MBR.
    Gpt,
}

/// Bytes the partition gets on a disk of `disk` bytes.
pub(crate) fn partition_len(style: PartitionStyle, disk: u64) -> Result<u64> {
    let sectors = disk / SECTOR;
    let first = PARTITION_START / SECTOR;
    let end = match style {
        PartitionStyle::None => return Ok(disk),
        PartitionStyle::Mbr => {
            if sectors > u64::from(u32::MAX) {
                return Err(Error::invalid_input(
                    "an MBR addresses at most 2 TiB: use GPT for a larger disk",
                ));
            }
            sectors
        }
        PartitionStyle::Gpt => sectors.saturating_sub(GPT_BACKUP_SECTORS + 1),
    };
    if end <= first + 1 {
        return Err(Error::invalid_input(format!(
            "a disk of {disk} bytes has no room for a partition after the first MiB"
        )));
    }
    Ok((end - first) * SECTOR)
}

/// The partition table of a one-partition disk.
#[derive(Debug, Clone)]
pub(crate) struct Disk {
    pub style: PartitionStyle,
    /// Bytes of the disk.
    pub size: u64,
    /// Bytes of the partition (from [`PARTITION_START`]).
    pub len: u64,
    /// FAT type (for the MBR type byte).
    pub fat_type: FatType,
    /// Seed of the disk signature and GUIDs.
    pub id: u32,
    /// GPT partition name.
    pub name: String,
}

fn chs(lba: u64) -> [u8; 3] {
    const HEADS: u64 = 255;
    const SPT: u64 = 63;
    let c = lba / (HEADS * SPT);
    if c > 1023 {
        return [0xFE, 0xFF, 0xFF];
    }
    let h = (lba / SPT) % HEADS;
    let s = lba % SPT + 1;
    [h as u8, s as u8 | ((c >> 8) as u8) << 6, c as u8]
}

fn mbr_entry(kind: u8, start: u64, sectors: u64) -> [u8; 16] {
    let mut e = [0u8; 16];
    e[1..4].copy_from_slice(&chs(start));
    e[4] = kind;
    e[5..8].copy_from_slice(&chs(start + sectors - 1));
    e[8..12].copy_from_slice(&(start as u32).to_le_bytes());
    e[12..16].copy_from_slice(&(sectors.min(u64::from(u32::MAX)) as u32).to_le_bytes());
    e
}

/// A GUID from the seed and a role (random-version bits set).
fn guid(seed: u32, role: u8) -> [u8; 16] {
    let mut g = [0u8; 16];
    for (i, chunk) in g.chunks_mut(4).enumerate() {
        let mut h = crc32fast::Hasher::new();
        h.update(b"diskimg fat guid");
        h.update(&seed.to_le_bytes());
        h.update(&[role, i as u8]);
        chunk.copy_from_slice(&h.finalize().to_le_bytes());
    }
    g[7] = (g[7] & 0x0F) | 0x40;
    g[8] = (g[8] & 0x3F) | 0x80;
    g
}

impl Disk {
    fn sectors(&self) -> u64 {
        self.size / SECTOR
    }

    /// The bytes at the start of the disk: the MBR, and for GPT the primary header and
    /// entries.
    pub fn head(&self) -> Vec<u8> {
        let first = PARTITION_START / SECTOR;
        let part = self.len / SECTOR;
        let mut b = vec![0u8; 512];
        match self.style {
            PartitionStyle::None => {}
            PartitionStyle::Mbr => {
                b[440..444].copy_from_slice(&self.id.to_le_bytes());
                let kind = match self.fat_type {
                    FatType::Fat12 => 0x01,
                    FatType::Fat16 => 0x0E,
                    FatType::Fat32 => 0x0C,
                };
                b[446..462].copy_from_slice(&mbr_entry(kind, first, part));
            }
            PartitionStyle::Gpt => {
                let mut e = mbr_entry(0xEE, 1, self.sectors() - 1);
                e[1..4].copy_from_slice(&[0x00, 0x02, 0x00]);
                b[446..462].copy_from_slice(&e);
                let (header, entries) = self.gpt(true);
                b.extend_from_slice(&header);
                b.extend_from_slice(&entries);
            }
        }
        b[510] = 0x55;
        b[511] = 0xAA;
        b
    }

    /// The backup GPT and where it goes, for a GPT disk.
    pub fn tail(&self) -> Option<(u64, Vec<u8>)> {
        if self.style != PartitionStyle::Gpt {
            return None;
        }
        let (header, mut entries) = self.gpt(false);
        entries.extend_from_slice(&header);
        Some((self.size - GPT_BACKUP_SECTORS * SECTOR, entries))
    }

    /// A GPT header and the entry array, primary or backup.
    fn gpt(&self, primary: bool) -> ([u8; 512], Vec<u8>) {
        let total = self.sectors();
        let first = PARTITION_START / SECTOR;
        let mut entries = vec![0u8; (GPT_ENTRIES * 128) as usize];
        entries[0..16].copy_from_slice(&BASIC_DATA);
        entries[16..32].copy_from_slice(&guid(self.id, 2));
        entries[32..40].copy_from_slice(&first.to_le_bytes());
        entries[40..48].copy_from_slice(&(first + self.len / SECTOR - 1).to_le_bytes());
        for (i, u) in self.name.encode_utf16().take(36).enumerate() {
            entries[56 + 2 * i..58 + 2 * i].copy_from_slice(&u.to_le_bytes());
        }
        let mut h = [0u8; 512];
        h[0..8].copy_from_slice(b"EFI PART");
        h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
        h[12..16].copy_from_slice(&92u32.to_le_bytes());
        let (mine, other, array) = if primary {
            (1, total - 1, 2)
        } else {
            (total - 1, 1, total - GPT_BACKUP_SECTORS)
        };
        h[24..32].copy_from_slice(&mine.to_le_bytes());
        h[32..40].copy_from_slice(&other.to_le_bytes());
        h[40..48].copy_from_slice(&(2 + GPT_ENTRIES * 128 / SECTOR).to_le_bytes());
        h[48..56].copy_from_slice(&(total - GPT_BACKUP_SECTORS - 1).to_le_bytes());
        h[56..72].copy_from_slice(&guid(self.id, 1));
        h[72..80].copy_from_slice(&array.to_le_bytes());
        h[80..84].copy_from_slice(&(GPT_ENTRIES as u32).to_le_bytes());
        h[84..88].copy_from_slice(&128u32.to_le_bytes());
        h[88..92].copy_from_slice(&crc32fast::hash(&entries).to_le_bytes());
        let crc = crc32fast::hash(&h[..92]);
        h[16..20].copy_from_slice(&crc.to_le_bytes());
        (h, entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::MemorySource;
    use crate::partition::{PartitionTable, gpt::Gpt, mbr::Mbr};

    fn image(d: &Disk) -> MemorySource {
        let mut img = vec![0u8; d.size as usize];
        let head = d.head();
        img[..head.len()].copy_from_slice(&head);
        if let Some((at, tail)) = d.tail() {
            img[at as usize..at as usize + tail.len()].copy_from_slice(&tail);
        }
        MemorySource::new(img)
    }

    #[test]
    fn mbr_and_gpt_read_back() {
        let size = 8 << 20;
        for style in [PartitionStyle::Mbr, PartitionStyle::Gpt] {
            let len = partition_len(style, size).unwrap();
            let d = Disk {
                style,
                size,
                len,
                fat_type: FatType::Fat16,
                id: 7,
                name: "DATA".into(),
            };
            let dev = image(&d);
            if style == PartitionStyle::Mbr {
                let m = Mbr::read(&dev, 512).unwrap();
                let p = &m.partitions()[0];
                assert_eq!(
                    (p.start, p.length, p.type_id.as_str()),
                    (1 << 20, 7 << 20, "0x0e")
                );
            } else {
                let g = Gpt::read(&dev).unwrap();
                assert!(g.warnings().is_empty(), "{:?}", g.warnings());
                let p = &g.partitions()[0];
                assert_eq!((p.start, p.length), (1 << 20, len));
                assert_eq!(p.type_name, Some("Microsoft basic data"));
                assert_eq!(p.name.as_deref(), Some("DATA"));
            }
        }
        assert!(partition_len(PartitionStyle::Gpt, 1 << 20).is_err());
        assert!(partition_len(PartitionStyle::Mbr, 3 << 40).is_err());
    }
}
