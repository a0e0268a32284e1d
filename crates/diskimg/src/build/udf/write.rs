//! Writing the UDF side of a planned bridge image into the sectors the ISO 9660 planner kept:
//! volume structures after the ISO descriptors, anchors at 256 and at the end, and the UDF
//! area streamed in chunks (and again as the metadata mirror for UDF 2.50). File entries point
//! at the sectors where the ISO 9660 writer puts the file data.

use super::entries::{self, Entry, icb_flags};
use super::layout::{
    BLOCK, Data, HYBRID_ANCHOR_BACK, Icb, LONG_AD, UdfPlan, ad_len, entry_room, path_components,
};
use super::volume::{MetadataFiles, Volume};
use crate::build::iso::{Companion, Plan};
use crate::build::tree::{Kind, NodeIndex, ROOT};
use crate::error::{Error, Result};
use crate::fs::udf::spec::{characteristics, file_type};
use crate::io::copy::write_all_at;
use crate::time::Timestamp;
use std::collections::HashMap;
use std::fs::File;

const B: usize = BLOCK as usize;
/// Bytes of the UDF area gathered before each write.
const CHUNK: usize = 4 << 20;

/// Writes the UDF side of a bridge image (see [`UdfPlan`]).
pub struct UdfWriter<'a> {
    pub(super) plan: &'a UdfPlan,
}

/// Where everything went, once the ISO 9660 planner has placed the reserved areas.
struct Placed {
    /// First sector of the partition.
    start: u32,
    /// Blocks of the partition.
    len: u32,
    /// Partition block of the UDF area (metadata file), and of its mirror.
    area: u32,
    mirror: Option<u32>,
    /// Sector of the closing anchor.
    anchor: u32,
}

impl Companion for UdfWriter<'_> {
    fn write(&self, iso: &Plan<'_>, out: &File) -> Result<()> {
        let udf = self.plan;
        let placed = self.place(iso)?;
        let volume = Volume {
            revision: udf.revision,
            label: &iso.opts.volume_id,
            volume_set: volume_set(iso),
            now: iso.now,
            vrs: iso.reserved.after_terminator,
            partition_start: placed.start,
            partition_len: placed.len,
            // The mirror's entry first: the metadata file's entry, which every reader reads,
            // is the last block before the file data, so a reader that sizes the volume by
            // what it read (7-Zip) meets no unread blocks before the closing anchor, even when
            // no file has data.
            metadata: placed.mirror.map(|m| MetadataFiles {
                file: m + udf.metadata_blocks() + 1,
                mirror: m + udf.metadata_blocks(),
                blocks: udf.metadata_blocks(),
            }),
            files: udf.files,
            directories: udf.directories,
            next_unique_id: udf.next_unique_id,
        };
        let at = |sector: u32| u64::from(sector) * BLOCK;
        write_all_at(out, &volume.structures(), at(volume.vrs)).map_err(Error::from)?;
        for sector in [256, placed.anchor] {
            write_all_at(out, &volume.anchor(sector), at(sector)).map_err(Error::from)?;
        }
        let mut targets = vec![at(placed.start + placed.area)];
        if let (Some(m), Some(files)) = (placed.mirror, volume.metadata) {
            targets.push(at(placed.start + m));
            for (location, extent, kind) in [
                (files.file, placed.area, file_type::METADATA),
                (files.mirror, m, file_type::METADATA_MIRROR),
            ] {
                let e = self.metadata_entry(iso, location, extent, kind);
                write_all_at(out, &e, at(placed.start + location)).map_err(Error::from)?;
            }
        }
        let mut area = Area {
            out,
            targets,
            buf: Vec::with_capacity(CHUNK + 4 * B),
            written: 0,
        };
        self.area(iso, &volume, &placed, &mut area)?;
        area.flush()
    }
}

/// The UDF area on its way out: blocks gathered, then written at each target.
struct Area<'a> {
    out: &'a File,
    targets: Vec<u64>,
    buf: Vec<u8>,
    written: u64,
}

impl Area<'_> {
    fn push(&mut self, block: &[u8]) -> Result<()> {
        self.buf.extend_from_slice(block);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        for t in &self.targets {
            write_all_at(self.out, &self.buf, t + self.written).map_err(Error::from)?;
        }
        self.written += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
}

impl UdfWriter<'_> {
    /// Where the partition, the area, its mirror and the closing anchor are.
    fn place(&self, iso: &Plan<'_>) -> Result<Placed> {
        let udf = self.plan;
        let r = iso.reserved;
        let reserve = iso.opts.reserve;
        if reserve != udf.reserve()
            || r.before_files <= 256
            || udf.hybrid != iso.opts.hybrid_mbr.is_some()
        {
            return Err(internal(
                "the ISO 9660 plan did not keep the sectors UDF asked for",
            ));
        }
        let start = r.before_files;
        let (area, mirror) = if udf.revision.metadata_partition() {
            (0, Some(udf.metadata_blocks()))
        } else {
            (0, None)
        };
        let end = r.after_files - start;
        let back = if udf.hybrid { HYBRID_ANCHOR_BACK } else { 1 };
        let anchor = iso.volume_blocks - back;
        if anchor < start + end {
            return Err(internal(
                "the closing UDF anchor would fall inside the partition",
            ));
        }
        Ok(Placed {
            start,
            len: end,
            area,
            mirror,
            anchor,
        })
    }

    /// The metadata file's or mirror's entry (UDF 2.2.13): an extended file entry in the
    /// physical partition whose one short extent holds the metadata partition.
    fn metadata_entry(&self, iso: &Plan<'_>, location: u32, extent: u32, kind: u8) -> [u8; B] {
        let blocks = self.plan.metadata_blocks();
        let mut ad = [0u8; 8];
        super::encode::short_ad(&mut ad, blocks * BLOCK as u32, extent);
        entries::entry(
            self.plan.revision,
            &Entry {
                location,
                file_type: kind,
                flags: icb_flags::SHORT_AD,
                uid: u32::MAX,
                gid: u32::MAX,
                permissions: 0,
                links: 1,
                info_len: u64::from(blocks) * BLOCK,
                blocks_recorded: u64::from(blocks),
                atime: iso.now,
                mtime: iso.now,
                ctime: iso.now,
                unique_id: 0,
                ea: &[],
                ads: &ad,
            },
        )
    }

    /// Streams the UDF area: file set descriptor, terminator, then every ICB.
    fn area(
        &self,
        iso: &Plan<'_>,
        volume: &Volume<'_>,
        placed: &Placed,
        out: &mut Area<'_>,
    ) -> Result<()> {
        let udf = self.plan;
        let rev = udf.revision;
        let part = volume.metadata_reference();
        let root = udf.icb_of(ROOT).ok_or_else(|| internal("no root ICB"))?;
        out.push(&entries::file_set(
            rev,
            volume.label,
            iso.now,
            (root.block, part),
        ))?;
        out.push(&entries::terminator(rev, 1))?;
        let lba_of: HashMap<NodeIndex, u32> = iso.files.iter().map(|f| (f.node, f.lba)).collect();
        let clamp = |t: Timestamp| match iso.opts.fixed_time {
            Some(c) if t > c => c,
            _ => t,
        };
        for icb in &udf.icbs {
            let tree = iso.tree;
            let node = tree.node(icb.node);
            let meta = node.meta;
            let mut data = Vec::new();
            let mut ea = Vec::new();
            let ad = ad_len(rev, icb.data);
            let (ads, embedded, blocks) = match icb.data {
                Data::None => (Vec::new(), false, 0),
                Data::Inline(_) => {
                    let Kind::Symlink(target) = &node.kind else {
                        return Err(internal("embedded data that is not a link"));
                    };
                    (path_components(target)?, true, 0)
                }
                Data::Area(len) => {
                    data = match &node.kind {
                        Kind::Symlink(target) => path_components(target)?,
                        _ => self.directory(iso, icb, part)?,
                    };
                    if data.len() as u64 != len {
                        return Err(internal("directory or link data changed size"));
                    }
                    let ads = entries::extents(icb.data_block(), len, part, ad);
                    (ads, false, len.div_ceil(BLOCK))
                }
                Data::Shared(size) => {
                    let lba = lba_of
                        .get(&icb.node)
                        .copied()
                        .ok_or_else(|| internal("a file with data has no sectors"))?;
                    let block = lba
                        .checked_sub(placed.start)
                        .ok_or_else(|| internal("a file's data lies before the partition"))?;
                    let ads = entries::extents(block, size, 0, ad);
                    (ads, false, size.div_ceil(BLOCK))
                }
            };
            if let Kind::Device(_, major, minor) = node.kind {
                ea = entries::device_attributes(rev, icb.block, major, minor);
            }
            let (head, aeds, ad_flag) = if embedded {
                (ads, Vec::new(), icb_flags::EMBEDDED)
            } else {
                let room = entry_room(rev, ea.len(), ad);
                let (head, aeds) = entries::spread(rev, &ads, ad, room, icb.aed_block(), part);
                let flag = if ad == LONG_AD {
                    icb_flags::LONG_AD
                } else {
                    icb_flags::SHORT_AD
                };
                (head, aeds, flag)
            };
            if aeds.len() != icb.aeds as usize {
                return Err(internal("allocation extents differ from the plan"));
            }
            let info_len = match icb.data {
                Data::None => 0,
                Data::Inline(len) => u64::from(len),
                Data::Area(len) | Data::Shared(len) => len,
            };
            let entry = entries::entry(
                rev,
                &Entry {
                    location: icb.block,
                    file_type: icb.file_type,
                    flags: ad_flag | entries::mode_flags(meta.mode),
                    uid: meta.uid,
                    gid: meta.gid,
                    permissions: entries::permissions(meta.mode, icb.node == ROOT),
                    links: icb.links,
                    info_len,
                    blocks_recorded: blocks,
                    atime: clamp(meta.atime),
                    mtime: clamp(meta.mtime),
                    ctime: clamp(meta.ctime),
                    unique_id: icb.unique_id,
                    ea: &ea,
                    ads: &head,
                },
            );
            out.push(&entry)?;
            if !data.is_empty() {
                data.resize(data.len().next_multiple_of(B), 0);
                out.push(&data)?;
            }
            for a in &aeds {
                out.push(a)?;
            }
        }
        Ok(())
    }

    /// The file identifiers of a directory: its parent, then each child in tree order.
    fn directory(&self, iso: &Plan<'_>, icb: &Icb, part: u16) -> Result<Vec<u8>> {
        let udf = self.plan;
        let tree = iso.tree;
        let first = icb.data_block();
        let parent_node = tree.node(icb.node).parent;
        let parent = udf
            .icb_of(parent_node)
            .ok_or_else(|| internal("a directory's parent has no ICB"))?;
        let mut out = Vec::new();
        entries::push_identifier(
            &mut out,
            udf.revision,
            first,
            characteristics::DIRECTORY | characteristics::PARENT,
            (parent.block, part, parent.unique_id),
            &[],
        );
        for &c in tree.children(icb.node) {
            let child = udf
                .icb_of(c)
                .ok_or_else(|| internal("a child has no ICB"))?;
            let dir = matches!(tree.node(c).kind, Kind::Dir(_));
            entries::push_identifier(
                &mut out,
                udf.revision,
                first,
                if dir { characteristics::DIRECTORY } else { 0 },
                (child.block, part, child.unique_id),
                &udf.identifier(tree, c),
            );
        }
        Ok(out)
    }
}

/// The volume set identifier (UDF 2.2.2.5): 16 hex digits, the recording time and a hash of
/// the volume (stable for reproducible images), then the label.
fn volume_set(iso: &Plan<'_>) -> String {
    let seed = format!(
        "{}:{}:{}",
        iso.opts.volume_id,
        iso.volume_blocks,
        iso.tree.len()
    );
    format!(
        "{:08x}{:08x}{}",
        iso.now.secs as u32,
        crc32fast::hash(seed.as_bytes()),
        iso.opts.volume_id
    )
}

fn internal(msg: &str) -> Error {
    Error::invalid_input(format!("UDF writer: {msg}"))
}
