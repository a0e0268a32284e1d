//! Volume descriptors (ECMA-119 8): the primary, Joliet and enhanced (ISO 9660:1999)
//! descriptors, the El Torito boot record, and the sessions of a multisession image.

use super::bytes::{ascii_field, digit_date, le16, le32, ucs2_field};
use super::{FORMAT, SECTOR};
use crate::error::{Error, Result};
use crate::io::ReadAt;
use crate::time::Timestamp;

/// The volume descriptor set starts at sector 16 of a session.
pub const FIRST_DESCRIPTOR: u64 = 16;
/// Most descriptors read before the set terminator.
pub const MAX_VOLUME_DESCRIPTORS: u64 = 256;
/// Most sessions followed in a multisession image.
pub const MAX_SESSIONS: usize = 99;

/// Which tree a descriptor describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// The primary volume descriptor (type 1).
    Primary,
    /// A Joliet supplementary descriptor (type 2 with a UCS-2 escape), with its UCS level.
    Joliet(u8),
    /// An ISO 9660:1999 enhanced volume descriptor (type 2, version 2).
    Enhanced,
}

/// A primary, supplementary or enhanced volume descriptor.
#[derive(Debug, Clone)]
pub struct VolumeDescriptor {
    /// Which tree it describes.
    pub flavor: Flavor,
    /// System identifier.
    pub system_id: String,
    /// Volume identifier (the label).
    pub volume_id: String,
    /// Volume set identifier.
    pub volume_set_id: String,
    /// Publisher identifier.
    pub publisher_id: String,
    /// Data preparer identifier.
    pub preparer_id: String,
    /// Application identifier.
    pub application_id: String,
    /// Number of logical blocks in the volume.
    pub volume_space_size: u32,
    /// Logical block size in bytes.
    pub block_size: u32,
    /// The 34-byte root directory record.
    pub root_record: [u8; 34],
    /// Volume creation time.
    pub created: Option<Timestamp>,
    /// Volume modification time.
    pub modified: Option<Timestamp>,
}

/// The descriptors of one session.
#[derive(Debug, Clone)]
pub struct DescriptorSet {
    /// Sector where this session starts (its descriptors are 16 sectors later).
    pub session_start: u64,
    /// The primary descriptor.
    pub primary: VolumeDescriptor,
    /// A Joliet descriptor, if any.
    pub joliet: Option<VolumeDescriptor>,
    /// An ISO 9660:1999 enhanced descriptor, if any.
    pub enhanced: Option<VolumeDescriptor>,
    /// Sector of the El Torito boot catalog, if a boot record names one.
    pub boot_catalog: Option<u32>,
}

/// A session found in the image.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Session {
    /// First sector of the session.
    pub start_lba: u64,
    /// Volume space size its primary descriptor records, in blocks.
    pub volume_space_size: u32,
    /// Its volume identifier.
    pub volume_id: String,
}

/// Whether sector 16 holds an ISO 9660 descriptor.
pub fn has_signature(head: &[u8]) -> bool {
    let at = (FIRST_DESCRIPTOR * SECTOR) as usize;
    head.len() >= at + 6 && &head[at + 1..at + 6] == b"CD001"
}

/// Reads the descriptor set of the session starting at sector `session_start`.
pub fn read_set(dev: &dyn ReadAt, session_start: u64) -> Result<DescriptorSet> {
    let mut primary = None;
    let mut joliet = None;
    let mut enhanced = None;
    let mut boot_catalog = None;
    let mut buf = vec![0u8; SECTOR as usize];
    for i in 0..MAX_VOLUME_DESCRIPTORS {
        let lba = session_start + FIRST_DESCRIPTOR + i;
        let offset = lba * SECTOR;
        dev.read_exact_at(offset, &mut buf).map_err(|e| {
            e.with_format(FORMAT)
                .with_structure("volume descriptor")
                .with_offset(offset)
        })?;
        if &buf[1..6] != b"CD001" {
            if primary.is_some() {
                // Some writers omit the terminator; stop at the first non-descriptor.
                return finish(session_start, primary, joliet, enhanced, boot_catalog);
            }
            return Err(Error::corrupt(
                FORMAT,
                "volume descriptor",
                offset,
                "no CD001 signature",
            ));
        }
        match buf[0] {
            0 if buf[7..30] == *b"EL TORITO SPECIFICATION" => {
                boot_catalog = Some(le32(&buf, 0x47));
            }
            1 if primary.is_none() => primary = Some(parse(&buf, lba, Flavor::Primary)?),
            2 => {
                if buf[6] == 2 {
                    enhanced.get_or_insert(parse(&buf, lba, Flavor::Enhanced)?);
                } else if let Some(level) = joliet_level(&buf[88..120]) {
                    joliet.get_or_insert(parse(&buf, lba, Flavor::Joliet(level))?);
                }
            }
            255 => return finish(session_start, primary, joliet, enhanced, boot_catalog),
            _ => {}
        }
    }
    Err(Error::limit(
        FORMAT,
        "volume descriptor set",
        (session_start + FIRST_DESCRIPTOR) * SECTOR,
        format!("no terminator within {MAX_VOLUME_DESCRIPTORS} descriptors"),
    ))
}

fn finish(
    session_start: u64,
    primary: Option<VolumeDescriptor>,
    joliet: Option<VolumeDescriptor>,
    enhanced: Option<VolumeDescriptor>,
    boot_catalog: Option<u32>,
) -> Result<DescriptorSet> {
    let primary = primary.ok_or_else(|| {
        Error::corrupt(
            FORMAT,
            "volume descriptor set",
            (session_start + FIRST_DESCRIPTOR) * SECTOR,
            "no primary volume descriptor",
        )
    })?;
    Ok(DescriptorSet {
        session_start,
        primary,
        joliet,
        enhanced,
        boot_catalog,
    })
}

/// The Joliet UCS-2 level named by the escape sequences, if any.
fn joliet_level(escapes: &[u8]) -> Option<u8> {
    escapes.windows(3).find_map(|w| match w {
        b"%/@" => Some(1),
        b"%/C" => Some(2),
        b"%/E" => Some(3),
        _ => None,
    })
}

fn parse(b: &[u8], lba: u64, flavor: Flavor) -> Result<VolumeDescriptor> {
    let offset = lba * SECTOR;
    let text = |r: std::ops::Range<usize>| match flavor {
        Flavor::Joliet(_) => ucs2_field(&b[r]),
        _ => ascii_field(&b[r]),
    };
    let block_size = u32::from(le16(b, 128));
    if !matches!(block_size, 512 | 1024 | 2048) {
        return Err(Error::corrupt(
            FORMAT,
            "volume descriptor",
            offset,
            format!("logical block size {block_size} is not 512, 1024 or 2048"),
        ));
    }
    let mut root_record = [0u8; 34];
    root_record.copy_from_slice(&b[156..190]);
    if root_record[0] != 34 || root_record[25] & 2 == 0 {
        return Err(Error::corrupt(
            FORMAT,
            "root directory record",
            offset + 156,
            "the root record is not a 34-byte directory record",
        ));
    }
    Ok(VolumeDescriptor {
        flavor,
        system_id: text(8..40),
        volume_id: text(40..72),
        volume_space_size: le32(b, 80),
        block_size,
        root_record,
        volume_set_id: text(190..318),
        publisher_id: text(318..446),
        preparer_id: text(446..574),
        application_id: text(574..702),
        created: digit_date(&b[813..830]),
        modified: digit_date(&b[830..847]),
    })
}

/// The sessions of the image, oldest first; the last one is the tree to read.
///
/// Images grown by appending keep each session's descriptors 16 sectors after its start, and
/// each new session's volume space covers the old ones. Writers that grow an image file in
/// place (xorriso, growisofs) start the first session at sector 32 and copy the newest
/// session's descriptors to sector 16; there the chain is followed from sector 32.
pub fn sessions(dev: &dyn ReadAt, at_zero: DescriptorSet) -> Vec<(Session, DescriptorSet)> {
    let emulated = EMULATED_TOC_START;
    let first = match read_set(dev, emulated) {
        Ok(set) if has_primary_at(dev, emulated) => set,
        _ => at_zero,
    };
    let mut out = vec![(session_of(&first), first)];
    while out.len() < MAX_SESSIONS {
        let Some(next) = next_session(dev, &out[out.len() - 1].1) else {
            break;
        };
        out.push((session_of(&next), next));
    }
    out
}

/// Where xorriso and growisofs put the first session on overwritable media and in files.
const EMULATED_TOC_START: u64 = 32;

fn has_primary_at(dev: &dyn ReadAt, session_start: u64) -> bool {
    let mut sig = [0u8; 6];
    dev.read_exact_at((session_start + FIRST_DESCRIPTOR) * SECTOR, &mut sig)
        .is_ok()
        && sig[0] == 1
        && &sig[1..6] == b"CD001"
}

fn session_of(set: &DescriptorSet) -> Session {
    Session {
        start_lba: set.session_start,
        volume_space_size: set.primary.volume_space_size,
        volume_id: set.primary.volume_id.clone(),
    }
}

/// Gaps a writer leaves between the end of one session and the start of the next: none, the
/// 32-sector alignment of overwritable media, and the lead-out/lead-in/pregap of a CD-R
/// (6750 + 4500 + 150 sectors, or 6900 for later sessions).
const SESSION_GAPS: [u64; 4] = [0, 150, 11_400, 6_900];

/// The session after `prev`: its volume space size counts either from sector 0 or (xorriso
/// on overwritable media) from the session's own start, so both ends are tried.
fn next_session(dev: &dyn ReadAt, prev: &DescriptorSet) -> Option<DescriptorSet> {
    let sectors = dev.size() / SECTOR;
    let size = u64::from(prev.primary.volume_space_size);
    let ends = [size, prev.session_start + size];
    for end in ends {
        for gap in SESSION_GAPS {
            for start in [end + gap, (end + gap).next_multiple_of(32)] {
                if start <= prev.session_start
                    || start + FIRST_DESCRIPTOR >= sectors
                    || !has_primary_at(dev, start)
                {
                    continue;
                }
                // A session's own tree lies inside the session.
                if let Ok(set) = read_set(dev, start) {
                    let root = u32::from_le_bytes(set.primary.root_record[2..6].try_into().ok()?);
                    if u64::from(root) >= start {
                        return Some(set);
                    }
                }
            }
        }
    }
    None
}
