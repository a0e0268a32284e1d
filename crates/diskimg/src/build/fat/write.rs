//! Writing a planned volume in one pass, in order: the partition table, the reserved sectors
//! (boot sector, FSInfo and their FAT32 backups), both FATs (produced in 1 MiB pieces), the
//! fixed root directory, every directory, then every file's data.

use super::FatPlan;
use super::boot::{self, BACKUP_BOOT_SECTOR, BootFields, FSINFO_SECTOR};
use super::data::{self, Placed};
use super::entry::{ATTR_DIRECTORY, ATTR_VOLUME_ID, EntryFields, short_entry};
use super::geometry::{FAT_COUNT, SECTOR};
use super::layout::{self, Target};
use super::names;
use super::sink::{Batch, Sink};
use super::table::FatTable;
use crate::build::iso::IsoProgress;
use crate::error::{Error, ErrorKind, Result};
use crate::fs::fat::FatType;

/// Bytes of the FAT produced at a time.
const FAT_CHUNK: u64 = 1 << 20;

/// Writes the whole image.
pub(crate) fn write(
    plan: &FatPlan<'_>,
    sink: &mut dyn Sink,
    progress: &dyn IsoProgress,
) -> Result<()> {
    if let Some(d) = &plan.disk {
        sink.write_at(0, &d.head())?;
        if let Some((at, tail)) = d.tail() {
            sink.write_at(at, &tail)?;
        }
    }
    let v = plan.volume_offset;
    let g = &plan.geometry;
    let fat32 = g.fat_type == FatType::Fat32;
    let fields = BootFields {
        hidden_sectors: (v / SECTOR) as u32,
        serial: plan.serial,
        label: plan.label,
        root_cluster: plan.layout.dirs[0].first_cluster,
    };
    let boot = boot::boot_sector(g, &fields);
    sink.write_at(v, &boot)?;
    if fat32 {
        let used = plan.layout.next_free - 2;
        let next = if plan.layout.next_free - 2 < g.clusters {
            plan.layout.next_free
        } else {
            u32::MAX
        };
        let info = boot::fsinfo(g.clusters - used, next);
        for at in [FSINFO_SECTOR, BACKUP_BOOT_SECTOR + FSINFO_SECTOR] {
            sink.write_at(v + u64::from(at) * SECTOR, &info)?;
        }
        sink.write_at(v + u64::from(BACKUP_BOOT_SECTOR) * SECTOR, &boot)?;
    }
    let table = FatTable {
        fat_type: g.fat_type,
        media: g.media,
        chain_ends: &plan.layout.chain_ends,
        next_free: plan.layout.next_free,
    };
    let used = table.used_len().min(g.fat_size());
    if g.fat_type == FatType::Fat12 {
        let bytes = table.bytes(0, used as usize);
        for n in 0..FAT_COUNT {
            sink.write_at(v + g.fat_offset(n), &bytes)?;
        }
    } else {
        let mut at = 0;
        while at < used {
            let len = (used - at).min(FAT_CHUNK);
            let bytes = table.bytes(at, len as usize);
            for n in 0..FAT_COUNT {
                sink.write_at(v + g.fat_offset(n) + at, &bytes)?;
            }
            at += len;
        }
    }
    let mut batch = Batch::new();
    if !fat32 {
        let root = directory(plan, 0, g.root_size())?;
        batch.push(sink, v + g.root_offset(), &root, g.root_size())?;
    }
    let cs = g.cluster_size();
    for (i, d) in plan.layout.dirs.iter().enumerate() {
        if d.first_cluster == 0 {
            continue;
        }
        let span = u64::from(d.clusters) * cs;
        let bytes = directory(plan, i, span)?;
        let at = v + g.cluster_offset(d.first_cluster);
        batch.push(sink, at, &bytes, span)?;
    }
    batch.flush(sink)?;
    let files: Vec<Placed> = plan
        .layout
        .files
        .iter()
        .map(|f| Placed {
            node: f.node,
            size: f.size,
            offset: v + g.cluster_offset(f.first_cluster),
            span: f.size.div_ceil(cs) * cs,
        })
        .collect();
    data::write_files(plan.tree, &files, sink, progress)
}

/// The bytes of directory `index`: `.` and `..` (or the label in the root), then each entry
/// with its long-name entries. `span` is the room planned for it.
fn directory(plan: &FatPlan<'_>, index: usize, span: u64) -> Result<Vec<u8>> {
    let l = &plan.layout;
    let d = &l.dirs[index];
    let tree = plan.tree;
    let mut out = Vec::with_capacity(d.slots as usize * 32);
    let own = layout::mtime(tree, d.node, plan.clamp);
    if index == 0 {
        if let Some(label) = &plan.label {
            out.extend_from_slice(&short_entry(
                label,
                &EntryFields {
                    attr: ATTR_VOLUME_ID,
                    case: 0,
                    mtime: own,
                    cluster: 0,
                    size: 0,
                },
            ));
        }
    } else {
        let parent = &l.dirs[d.parent];
        let dot = |cluster| EntryFields {
            attr: ATTR_DIRECTORY,
            case: 0,
            mtime: own,
            cluster,
            size: 0,
        };
        out.extend_from_slice(&short_entry(b".          ", &dot(d.first_cluster)));
        // `..` of a folder in the root points at cluster 0, also on FAT32.
        let up = if d.parent == 0 {
            0
        } else {
            parent.first_cluster
        };
        out.extend_from_slice(&short_entry(b"..         ", &dot(up)));
    }
    for e in &d.entries {
        if let Some(long) = &e.long {
            for lfn in names::lfn_entries(long, &e.name.short) {
                out.extend_from_slice(&lfn);
            }
        }
        let (cluster, size) = match e.target {
            Target::Dir(i) => (l.dirs[i].first_cluster, 0),
            Target::File(i) => (l.files[i].first_cluster, l.files[i].size as u32),
            Target::Empty => (0, 0),
        };
        out.extend_from_slice(&short_entry(
            &e.name.short,
            &EntryFields {
                attr: layout::attributes(tree, e.node),
                case: e.name.case,
                mtime: layout::mtime(tree, e.node, plan.clamp),
                cluster,
                size,
            },
        ));
    }
    if out.len() as u64 > span {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "internal error: {} takes {} bytes, more than the {span} planned",
                tree.path(d.node),
                out.len()
            ),
        ));
    }
    Ok(out)
}
