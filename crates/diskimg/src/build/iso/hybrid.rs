//! Hybrid images: a master boot record (and for UEFI a GUID partition table) in the system area,
//! so the same file boots from a USB stick. The layout follows isohybrid as syslinux and xorriso
//! write it: the MBR code comes from a template (isohdpfx.bin), bytes 432..436 hold the BIOS boot
//! image's sector in 512-byte units, partition 1 covers the whole image (type 0x17, active), and
//! with a UEFI image partition 2 (type 0xEF) and the GPT's EFI system partition cover that image.

use crate::error::{Error, Result};

/// Heads and sectors of the CHS geometry isohybrid uses (1 MiB cylinders).
const HEADS: u64 = 64;
const SECTORS: u64 = 32;
/// Bytes the MBR code template provides.
pub const MBR_CODE: usize = 432;
/// GPT partition entries written.
const GPT_ENTRIES: u64 = 128;
/// 512-byte sectors the backup GPT takes at the end (entries and header).
pub const BACKUP_GPT_SECTORS: u64 = 33;

/// What the hybrid layout needs to know.
#[derive(Debug, Clone)]
pub struct HybridLayout {
    /// The 432 bytes of MBR code.
    pub mbr_code: Vec<u8>,
    /// Size of the whole image in bytes (a multiple of 1 MiB).
    pub image_size: u64,
    /// 2048-byte sector of the BIOS boot image, if any.
    pub bios_lba: Option<u32>,
    /// 2048-byte sector and size of the UEFI boot image, if any.
    pub efi: Option<(u32, u64)>,
    /// Disk signature and the seed of the GUIDs (derived from the image, for reproducibility).
    pub disk_id: u32,
}

/// Default locations of isolinux's hybrid MBR template.
pub const ISOHDPFX_PATHS: &[&str] = &[
    "/usr/lib/ISOLINUX/isohdpfx.bin",
    "/usr/lib/syslinux/mbr/isohdpfx.bin",
    "/usr/share/syslinux/isohdpfx.bin",
    "/usr/lib/syslinux/bios/isohdpfx.bin",
];

/// Reads an MBR code template (the first 432 bytes are used).
pub fn read_template(path: &std::path::Path) -> Result<Vec<u8>> {
    let data = std::fs::read(path).map_err(|e| Error::from(e).with_file(path))?;
    if data.len() < MBR_CODE {
        return Err(Error::invalid_input(format!(
            "an MBR template holds at least {MBR_CODE} bytes of code; this one has {}",
            data.len()
        ))
        .with_file(path));
    }
    Ok(data[..MBR_CODE].to_vec())
}

fn chs(lba: u64) -> [u8; 3] {
    let cyl = lba / (HEADS * SECTORS);
    if cyl > 1023 {
        return [0xFE, 0xFF, 0xFF];
    }
    let head = (lba / SECTORS) % HEADS;
    let sector = lba % SECTORS + 1;
    [
        head as u8,
        (sector as u8) | (((cyl >> 8) as u8) << 6),
        cyl as u8,
    ]
}

fn mbr_entry(active: bool, kind: u8, start: u64, sectors: u64) -> [u8; 16] {
    let mut e = [0u8; 16];
    e[0] = if active { 0x80 } else { 0 };
    e[1..4].copy_from_slice(&chs(start));
    e[4] = kind;
    e[5..8].copy_from_slice(&chs(start + sectors - 1));
    e[8..12].copy_from_slice(&u32::try_from(start).unwrap_or(u32::MAX).to_le_bytes());
    e[12..16].copy_from_slice(&u32::try_from(sectors).unwrap_or(u32::MAX).to_le_bytes());
    e
}

/// Writes the MBR (and the primary GPT) into the first 32 KiB of the image.
pub fn system_area(h: &HybridLayout, area: &mut [u8]) -> Result<()> {
    let total = h.image_size / 512;
    area[..MBR_CODE].copy_from_slice(&h.mbr_code);
    let boot = h
        .bios_lba
        .map_or(0, |l| u32::try_from(u64::from(l) * 4).unwrap_or(0));
    area[432..436].copy_from_slice(&boot.to_le_bytes());
    area[436..440].fill(0);
    area[440..444].copy_from_slice(&h.disk_id.to_le_bytes());
    area[444..446].fill(0);
    area[446..462].copy_from_slice(&mbr_entry(true, 0x17, 0, total));
    if let Some((lba, size)) = h.efi {
        area[462..478].copy_from_slice(&mbr_entry(
            false,
            0xEF,
            u64::from(lba) * 4,
            size.div_ceil(512),
        ));
        let (header, entries) = gpt(h, true)?;
        area[512..1024].copy_from_slice(&header);
        area[1024..1024 + entries.len()].copy_from_slice(&entries);
    }
    area[510] = 0x55;
    area[511] = 0xAA;
    Ok(())
}

/// The backup GPT for the end of the image (entries then header), or `None` without UEFI.
pub fn backup_gpt(h: &HybridLayout) -> Result<Option<Vec<u8>>> {
    if h.efi.is_none() {
        return Ok(None);
    }
    let (header, entries) = gpt(h, false)?;
    let mut out = entries;
    out.extend_from_slice(&header);
    Ok(Some(out))
}

/// A deterministic GUID from the disk id and a role number (version 4 layout bits set).
fn guid(seed: u32, role: u32) -> [u8; 16] {
    let mut g = [0u8; 16];
    let mut x = u64::from(seed) << 32 | u64::from(role);
    for chunk in g.chunks_mut(8) {
        // splitmix64
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    g[7] = (g[7] & 0x0F) | 0x40;
    g[8] = (g[8] & 0x3F) | 0x80;
    g
}

/// The EFI system partition type GUID in its on-disk (mixed-endian) form.
const ESP_TYPE: [u8; 16] = [
    0x28, 0x73, 0x2A, 0xC1, 0x1F, 0xF8, 0xD2, 0x11, 0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E, 0xC9, 0x3B,
];

/// A GPT header (512 bytes) and its entry array for the primary or the backup copy.
fn gpt(h: &HybridLayout, primary: bool) -> Result<([u8; 512], Vec<u8>)> {
    let total = h.image_size / 512;
    let (lba, size) = h
        .efi
        .ok_or_else(|| Error::invalid_input("a GPT needs a UEFI boot image"))?;
    let mut entries = vec![0u8; (GPT_ENTRIES * 128) as usize];
    let first = u64::from(lba) * 4;
    let last = first + size.div_ceil(512) - 1;
    entries[0..16].copy_from_slice(&ESP_TYPE);
    entries[16..32].copy_from_slice(&guid(h.disk_id, 2));
    entries[32..40].copy_from_slice(&first.to_le_bytes());
    entries[40..48].copy_from_slice(&last.to_le_bytes());
    for (i, u) in "EFI boot".encode_utf16().enumerate() {
        entries[56 + 2 * i..58 + 2 * i].copy_from_slice(&u.to_le_bytes());
    }
    let mut hd = [0u8; 512];
    hd[0..8].copy_from_slice(b"EFI PART");
    hd[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
    hd[12..16].copy_from_slice(&92u32.to_le_bytes());
    let (my, alt, entries_lba) = if primary {
        (1, total - 1, 2)
    } else {
        (total - 1, 1, total - BACKUP_GPT_SECTORS)
    };
    hd[24..32].copy_from_slice(&my.to_le_bytes());
    hd[32..40].copy_from_slice(&alt.to_le_bytes());
    hd[40..48].copy_from_slice(&34u64.to_le_bytes());
    hd[48..56].copy_from_slice(&(total - BACKUP_GPT_SECTORS - 1).to_le_bytes());
    hd[56..72].copy_from_slice(&guid(h.disk_id, 1));
    hd[72..80].copy_from_slice(&entries_lba.to_le_bytes());
    hd[80..84].copy_from_slice(&(GPT_ENTRIES as u32).to_le_bytes());
    hd[84..88].copy_from_slice(&128u32.to_le_bytes());
    hd[88..92].copy_from_slice(&crc32fast::hash(&entries).to_le_bytes());
    let crc = crc32fast::hash(&hd[..92]);
    hd[16..20].copy_from_slice(&crc.to_le_bytes());
    Ok((hd, entries))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::MemorySource;
    use crate::partition::{PartitionTable, gpt::Gpt, mbr::Mbr};

    #[test]
    fn our_tables_read_back() {
        let h = HybridLayout {
            mbr_code: vec![0x33; MBR_CODE],
            image_size: 4 << 20,
            bios_lba: Some(37),
            efi: Some((40, 2_949_120)),
            disk_id: 0x1234_5678,
        };
        let mut img = vec![0u8; 4 << 20];
        system_area(&h, &mut img[..32768]).unwrap();
        let backup = backup_gpt(&h).unwrap().unwrap();
        let at = img.len() - backup.len();
        img[at..].copy_from_slice(&backup);
        let dev = MemorySource::new(img);
        let mbr = Mbr::read(&dev, 512).unwrap();
        let p: Vec<(u64, u64)> = mbr
            .partitions()
            .iter()
            .map(|p| (p.start, p.length))
            .collect();
        assert_eq!(p, [(0, 4 << 20), (40 * 2048, 2_949_120)]);
        let gpt = Gpt::read(&dev).unwrap();
        assert!(gpt.warnings().is_empty(), "{:?}", gpt.warnings());
        assert_eq!(gpt.partitions()[0].type_name, Some("EFI system"));
        assert_eq!(gpt.partitions()[0].start, 40 * 2048);
    }
}
