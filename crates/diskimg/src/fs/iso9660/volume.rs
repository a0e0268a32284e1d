//! Opening an ISO 9660 volume: the newest session's descriptors, one view per tree present
//! (Rock Ridge, Joliet, plain), and the El Torito catalog with the size of each boot image.

use super::descriptor::{self, Flavor, VolumeDescriptor};
use super::eltorito::{self, BootCatalog};
use super::{FORMAT, IsoFs, META_CACHE, Namespace};
use crate::device::DeviceRef;
use crate::error::{Error, Result};
use crate::format::{Confidence, FormatDescriptor, Opener};
use crate::fs::{FileSystem, FileSystemExt, FileType, FsEntry, FsVolume};
use crate::io::BlockCache;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Most tree nodes visited to find which files hold the boot images.
const MAX_BOOT_SCAN: usize = 200_000;

/// The registry entry.
pub static DESCRIPTOR: FormatDescriptor = FormatDescriptor {
    name: FORMAT,
    description: "ISO 9660 file system (Joliet, Rock Ridge, El Torito)",
    extensions: &["iso"],
    probe: |p| {
        if descriptor::has_signature(p.head) {
            Confidence::CERTAIN
        } else {
            Confidence::NONE
        }
    },
    opener: Opener::FileSystem(|dev| open_volume(dev.clone())),
    create: None,
    check: None,
};

impl IsoFs {
    fn new(
        dev: DeviceRef,
        vd: &VolumeDescriptor,
        namespace: Namespace,
        su_skip: usize,
    ) -> Result<Self> {
        let block_size = u64::from(vd.block_size);
        let root_lba = u32::from_le_bytes(vd.root_record[2..6].try_into().expect("4 bytes"));
        let root = u64::from(root_lba) * block_size;
        let fs = IsoFs {
            namespace,
            meta: BlockCache::new(dev.clone(), 64 * 1024, META_CACHE),
            dev,
            block_size,
            root,
            volume_blocks: u64::from(vd.volume_space_size),
            su_skip,
            label: vd.volume_id.clone(),
            hidden_dir: None,
            zcache: Mutex::new(Vec::new()),
        };
        let dot = fs
            .record_at(root)
            .map_err(|e| e.with_structure("root directory"))?;
        if !dot.is_self() || !dot.is_dir() {
            return Err(Error::corrupt(
                FORMAT,
                "root directory",
                root,
                "the root extent does not start with a '.' record",
            ));
        }
        Ok(fs)
    }
}

/// Opens the ISO 9660 volume on `dev`.
pub fn open_volume(dev: DeviceRef) -> Result<FsVolume> {
    let first = descriptor::read_set(dev.as_ref(), 0)?;
    let chain = descriptor::sessions(dev.as_ref(), first);
    let sessions: Vec<_> = chain.iter().map(|(s, _)| s.clone()).collect();
    let set = chain
        .into_iter()
        .last()
        .map(|(_, set)| set)
        .expect("the session chain holds at least the first session");
    let mut warnings = Vec::new();

    let plain_vd = set.enhanced.as_ref().unwrap_or(&set.primary);
    let plain = IsoFs::new(dev.clone(), plain_vd, Namespace::Iso9660, 0)?;
    let rr = rock_ridge_of(&IsoFs::new(
        dev.clone(),
        &set.primary,
        Namespace::Iso9660,
        0,
    )?)
    .unwrap_or_else(|e| {
        warnings.push(format!("Rock Ridge ignored: {e}"));
        None
    });

    let mut file_systems = Vec::new();
    if let Some((skip, extension)) = rr {
        let mut fs = IsoFs::new(dev.clone(), &set.primary, Namespace::RockRidge, skip)?;
        fs.hidden_dir = relocation_dir(&fs);
        let mut details = vd_details(&set.primary, &sessions);
        details["extension"] = json!(extension);
        file_systems.push(entry(fs, details));
    }
    if let Some(j) = &set.joliet {
        match IsoFs::new(dev.clone(), j, Namespace::Joliet, 0) {
            Ok(fs) => file_systems.push(entry(fs, vd_details(j, &sessions))),
            Err(e) => warnings.push(format!("Joliet tree ignored: {e}")),
        }
    }
    file_systems.push(entry(plain, vd_details(plain_vd, &sessions)));

    let boot = match set.boot_catalog {
        Some(lba) => match eltorito::read_catalog(dev.as_ref(), lba) {
            Ok(mut cat) => {
                if let Some(fs) = file_systems.first().and_then(|e| e.fs.as_deref()) {
                    size_boot_images(fs, &mut cat);
                }
                Some(cat)
            }
            Err(e) => {
                warnings.push(format!("El Torito boot catalog ignored: {e}"));
                None
            }
        },
        None => None,
    };
    Ok(FsVolume {
        file_systems,
        boot,
        warnings,
    })
}

fn entry(fs: IsoFs, details: Value) -> FsEntry {
    FsEntry {
        kind: fs.namespace().name(),
        label: fs.label(),
        fs: Some(Arc::new(fs)),
        details,
        note: None,
    }
}

/// Finds the SUSP `SP` entry of the root and whether Rock Ridge entries are present; returns
/// the LEN_SKP and the extension identifier.
fn rock_ridge_of(plain: &IsoFs) -> Result<Option<(usize, String)>> {
    let dot = plain.record_at(plain.root)?;
    let entries = plain.susp_entries(&dot.system_use, 0, dot.offset)?;
    let Some(sp) = entries.iter().find(|e| &e.sig == b"SP") else {
        return Ok(None);
    };
    if sp.data.len() < 3 || sp.data[..2] != [0xBE, 0xEF] {
        return Ok(None);
    }
    let skip = usize::from(sp.data[2]);
    let mut extension = None;
    let mut rrip = false;
    for e in &entries {
        match &e.sig {
            b"ER" if e.data.len() >= 4 => {
                let id_len = usize::from(e.data[0]);
                let id = e.data.get(4..4 + id_len).unwrap_or_default();
                let id = String::from_utf8_lossy(id).into_owned();
                rrip |= id.starts_with("RRIP") || id.contains("1282");
                extension.get_or_insert(id);
            }
            b"PX" | b"NM" | b"TF" | b"SL" | b"RR" => rrip = true,
            _ => {}
        }
    }
    Ok(rrip.then(|| (skip, extension.unwrap_or_else(|| "RRIP".into()))))
}

/// The `rr_moved` directory that holds relocated deep directories, when all it holds are
/// relocated entries: Rock Ridge readers hide it.
fn relocation_dir(fs: &IsoFs) -> Option<u64> {
    let root = fs.list(fs.root).ok()?;
    root.iter()
        .find(|e| {
            e.file_type == FileType::Directory
                && matches!(
                    e.name.to_ascii_lowercase().as_str(),
                    "rr_moved" | ".rr_moved"
                )
                && fs.list(e.node).is_ok_and(|inner| inner.is_empty())
        })
        .map(|e| e.node)
}

fn vd_details(vd: &VolumeDescriptor, sessions: &[descriptor::Session]) -> Value {
    let mut v = json!({
        "descriptor": match vd.flavor {
            Flavor::Primary => "primary",
            Flavor::Joliet(_) => "joliet",
            Flavor::Enhanced => "enhanced (ISO 9660:1999)",
        },
        "system_id": vd.system_id,
        "volume_id": vd.volume_id,
        "volume_set_id": vd.volume_set_id,
        "publisher_id": vd.publisher_id,
        "preparer_id": vd.preparer_id,
        "application_id": vd.application_id,
        "created": vd.created,
        "modified": vd.modified,
        "block_size": vd.block_size,
        "volume_blocks": vd.volume_space_size,
        "sessions": sessions,
    });
    if let Flavor::Joliet(level) = vd.flavor {
        v["ucs_level"] = json!(level);
    }
    v
}

/// Finds the files that hold the boot images (their size is the image size) and the size of
/// emulated hard disks.
fn size_boot_images(fs: &dyn FileSystem, cat: &mut BootCatalog) {
    let wanted: HashMap<u64, usize> = cat
        .entries
        .iter()
        .enumerate()
        .map(|(i, e)| (e.offset, i))
        .collect();
    for e in &mut cat.entries {
        if e.emulation == "hard-disk" {
            if let Some(size) = eltorito::hard_disk_size(fs.device().as_ref(), e.offset) {
                e.size = size;
                e.size_from = "emulation";
            }
        }
    }
    for item in fs.walk(fs.root(), "/").take(MAX_BOOT_SCAN) {
        let Ok(item) = item else { break };
        if item.metadata.file_type != FileType::File {
            continue;
        }
        let Ok(Some(ext)) = fs.file_extents(item.node) else {
            continue;
        };
        let Some(first) = ext.first().and_then(|x| x.device_offset) else {
            continue;
        };
        if let Some(&i) = wanted.get(&first) {
            let e = &mut cat.entries[i];
            if e.file.is_none() {
                e.file = Some(item.path.clone());
                if e.emulation == "none" {
                    e.size = item.metadata.size;
                    e.size_from = "file";
                }
            }
        }
    }
}
