//! El Torito boot catalog ("El Torito Bootable CD-ROM Format Specification 1.0"): the
//! validation entry, the initial entry, section headers and section entries.

use super::bytes::{le16, le32};
use super::{FORMAT, SECTOR};
use crate::error::{Error, Result};
use crate::io::ReadAt;
use serde::Serialize;

/// Most catalog entries read (32 bytes each).
pub const MAX_CATALOG_ENTRIES: usize = 2048;

/// The boot catalog of an ISO 9660 volume.
#[derive(Debug, Clone, Serialize)]
pub struct BootCatalog {
    /// Sector of the catalog.
    pub catalog_lba: u32,
    /// Platform named by the validation entry.
    pub platform: &'static str,
    /// Manufacturer/developer string of the validation entry.
    pub id: String,
    /// Boot images, the initial entry first.
    pub entries: Vec<BootEntry>,
}

/// One boot image.
#[derive(Debug, Clone, Serialize)]
pub struct BootEntry {
    /// 1-based number, in catalog order.
    pub index: usize,
    /// Platform of the section holding it (`x86`, `efi`, `powerpc`, `mac`).
    pub platform: &'static str,
    /// Marked bootable (0x88).
    pub bootable: bool,
    /// Emulation: `none`, `floppy-1.2m`, `floppy-1.44m`, `floppy-2.88m` or `hard-disk`.
    pub emulation: &'static str,
    /// Real-mode load segment (0 means the default 0x7C0).
    pub load_segment: u16,
    /// Partition type byte for hard-disk emulation.
    pub system_type: u8,
    /// Virtual 512-byte sectors loaded by the BIOS.
    pub sector_count: u16,
    /// First 2048-byte sector of the image.
    pub load_lba: u32,
    /// Byte offset of the image on the device.
    pub offset: u64,
    /// Size of the whole image in bytes (see `size_from`).
    pub size: u64,
    /// How `size` was found: `file` (a file of the tree starts there), `emulation` (floppy
    /// size, or the partition of an emulated hard disk) or `sector_count`.
    pub size_from: &'static str,
    /// Path of the file in the tree that holds the image, if any.
    pub file: Option<String>,
}

fn platform_name(id: u8) -> &'static str {
    match id {
        0 => "x86",
        1 => "powerpc",
        2 => "mac",
        0xEF => "efi",
        _ => "unknown",
    }
}

fn emulation_name(media: u8) -> &'static str {
    match media & 0x0F {
        0 => "none",
        1 => "floppy-1.2m",
        2 => "floppy-1.44m",
        3 => "floppy-2.88m",
        4 => "hard-disk",
        _ => "unknown",
    }
}

/// Reads the catalog at sector `lba`. Sizes are provisional (see [`BootEntry::size_from`]);
/// the volume opener refines them.
pub fn read_catalog(dev: &dyn ReadAt, lba: u32) -> Result<BootCatalog> {
    let offset = u64::from(lba) * SECTOR;
    let mut sector = vec![0u8; SECTOR as usize];
    dev.read_exact_at(offset, &mut sector).map_err(|e| {
        e.with_format(FORMAT)
            .with_structure("El Torito boot catalog")
            .with_offset(offset)
    })?;
    let v = &sector[..32];
    let sum = v.chunks_exact(2).fold(0u16, |a, w| {
        a.wrapping_add(u16::from_le_bytes([w[0], w[1]]))
    });
    if v[0] != 1 || v[30] != 0x55 || v[31] != 0xAA || sum != 0 {
        return Err(Error::corrupt(
            FORMAT,
            "El Torito validation entry",
            offset,
            "bad header, key bytes or checksum",
        ));
    }
    let platform = platform_name(v[1]);
    let id = super::bytes::ascii_field(&v[4..28]);
    let mut entries = Vec::new();
    let mut slot = 1usize;
    let mut entry_at = |slot: usize| -> Result<Option<[u8; 32]>> {
        if slot >= MAX_CATALOG_ENTRIES {
            return Ok(None);
        }
        let at = slot * 32;
        if at >= sector.len() {
            let mut more = vec![0u8; SECTOR as usize];
            if dev
                .read_exact_at(offset + sector.len() as u64, &mut more)
                .is_err()
            {
                return Ok(None);
            }
            sector.extend_from_slice(&more);
        }
        Ok(Some(sector[at..at + 32].try_into().expect("32 bytes")))
    };
    // The initial/default entry.
    if let Some(e) = entry_at(slot)? {
        if matches!(e[0], 0x88 | 0x00) && e != [0; 32] {
            entries.push(entry(&e, entries.len() + 1, platform));
        }
    }
    slot += 1;
    let mut more_sections = true;
    while more_sections {
        let Some(h) = entry_at(slot)? else { break };
        if !matches!(h[0], 0x90 | 0x91) {
            break;
        }
        more_sections = h[0] == 0x90;
        let section_platform = platform_name(h[1]);
        let count = usize::from(le16(&h, 2));
        slot += 1;
        let mut seen = 0;
        while seen < count {
            let Some(e) = entry_at(slot)? else { break };
            slot += 1;
            match e[0] {
                0x44 => continue, // extension entry: selection criteria we do not need
                0x88 | 0x00 => {
                    entries.push(entry(&e, entries.len() + 1, section_platform));
                    seen += 1;
                }
                _ => break,
            }
        }
    }
    Ok(BootCatalog {
        catalog_lba: lba,
        platform,
        id,
        entries,
    })
}

fn entry(e: &[u8; 32], index: usize, platform: &'static str) -> BootEntry {
    let load_lba = le32(e, 8);
    let sector_count = le16(e, 6);
    let emulation = emulation_name(e[1]);
    let size = match emulation {
        "floppy-1.2m" => 1_228_800,
        "floppy-1.44m" => 1_474_560,
        "floppy-2.88m" => 2_949_120,
        _ => u64::from(sector_count) * 512,
    };
    BootEntry {
        index,
        platform,
        bootable: e[0] == 0x88,
        emulation,
        load_segment: le16(e, 2),
        system_type: e[4],
        sector_count,
        load_lba,
        offset: u64::from(load_lba) * SECTOR,
        size,
        size_from: if emulation.starts_with("floppy") {
            "emulation"
        } else {
            "sector_count"
        },
        file: None,
    }
}

/// The size of an emulated hard disk: the end of the furthest partition of its MBR.
pub fn hard_disk_size(dev: &dyn ReadAt, offset: u64) -> Option<u64> {
    let mut mbr = [0u8; 512];
    dev.read_exact_at(offset, &mut mbr).ok()?;
    if mbr[510..512] != [0x55, 0xAA] {
        return None;
    }
    (0..4)
        .map(|i| {
            let p = &mbr[446 + i * 16..462 + i * 16];
            (u64::from(le32(p, 8)) + u64::from(le32(p, 12))) * 512
        })
        .max()
        .filter(|&s| s > 0)
}
