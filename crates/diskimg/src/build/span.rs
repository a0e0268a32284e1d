//! Spanning: packing a tree's files into volumes of a fixed capacity (CD, DVD, Blu-ray or any
//! size), each volume a complete tree of its own. Files go in depth-first name order, so a
//! folder's files stay together; a file larger than a volume is cut into parts named
//! `NAME.partKofN` (or refused). The size of every volume is checked by planning it exactly.

use super::iso::{self, IsoOptions};
use super::tree::{FileTree, Kind, Meta, NodeIndex, ROOT, Source};
use super::udf::{UdfPlan, UdfRevision};
use crate::error::{Error, Result};

/// Disc capacities by name: bytes a writer can put on the medium.
pub const PRESETS: &[(&str, u64)] = &[
    ("cd650", 333_000 * 2048),
    ("cd700", 360_000 * 2048),
    ("dvd5", 2_295_104 * 2048),
    ("dvd9", 4_173_824 * 2048),
    ("bd25", 12_219_392 * 2048),
    ("bd50", 24_438_784 * 2048),
];

/// A capacity: a preset name, or bytes with an optional K/M/G/T suffix (powers of 1024).
pub fn parse_capacity(s: &str) -> Result<u64> {
    if let Some((_, v)) = PRESETS.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)) {
        return Ok(*v);
    }
    let t = s.trim();
    let (num, mult) = match t.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('M') => (&t[..t.len() - 1], 1 << 20),
        Some('G') => (&t[..t.len() - 1], 1 << 30),
        Some('T') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let v: f64 = num.parse().map_err(|_| {
        Error::invalid_input(format!(
            "'{s}' is not a size or a preset ({})",
            PRESETS
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    if v.is_nan() || v <= 0.0 || !v.is_finite() {
        return Err(Error::invalid_input(format!(
            "volume size '{s}' must be positive"
        )));
    }
    Ok((v * mult as f64) as u64)
}

/// A file, or a part of one, on a volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// The file in the source tree.
    pub node: NodeIndex,
    /// Where the part starts in the file.
    pub offset: u64,
    /// Bytes of the part.
    pub len: u64,
    /// Part number and count, for a file cut into parts.
    pub part: Option<(u32, u32)>,
}

/// What every volume is written as: ISO 9660 with its options, and for an ISO 9660/UDF bridge
/// disc the UDF revision.
#[derive(Debug, Clone, Default)]
pub struct VolumeFormat {
    /// The ISO 9660 side (and its Joliet and Rock Ridge).
    pub iso: IsoOptions,
    /// A UDF tree beside it, of this revision.
    pub udf: Option<UdfRevision>,
}

impl VolumeFormat {
    /// The exact size of `tree` written in this format, in bytes.
    pub fn size(&self, tree: &FileTree) -> Result<u64> {
        let mut iso = self.iso.clone();
        if let Some(revision) = self.udf {
            iso.reserve = UdfPlan::new(tree, revision, iso.hybrid_mbr.is_some())?.reserve();
        }
        Ok(u64::from(iso::plan(tree, iso)?.volume_blocks()) * 2048)
    }

    /// Room a file's entries take in the structures (UDF adds a file entry block).
    fn entry_overhead(&self) -> u64 {
        if self.udf.is_some() {
            2 * ENTRY_OVERHEAD
        } else {
            ENTRY_OVERHEAD
        }
    }
}

/// Which pieces go on which volume.
#[derive(Debug, Clone)]
pub struct SpanPlan {
    /// Pieces per volume, in tree order.
    pub volumes: Vec<Vec<Piece>>,
}

/// Room kept on each volume for its structures: a base (the size of an empty volume in the
/// format, plus this margin for path tables and folders) and an amount per entry. The exact
/// check afterwards moves whatever still does not fit.
const BASE_OVERHEAD: u64 = 128 << 10;
const ENTRY_OVERHEAD: u64 = 2048;

fn blocks(len: u64) -> u64 {
    len.div_ceil(2048) * 2048
}

/// Packs the files of `tree` into volumes of at most `capacity` bytes written as `format`,
/// keeping `reserve` bytes free on each (for a catalog added afterwards).
pub fn plan(
    tree: &FileTree,
    capacity: u64,
    split: bool,
    reserve: u64,
    format: &VolumeFormat,
) -> Result<SpanPlan> {
    let entry = format.entry_overhead();
    let base = format.size(&FileTree::new(tree.node(ROOT).meta))? + BASE_OVERHEAD;
    let capacity = capacity
        .checked_sub(blocks(reserve) + if reserve > 0 { entry } else { 0 })
        .ok_or_else(|| {
            Error::invalid_input("a volume is too small for the catalog of what it holds")
        })?;
    let room = capacity
        .checked_sub(base + entry)
        .filter(|&r| r >= 2048)
        .ok_or_else(|| {
            Error::invalid_input(format!(
                "a volume of {capacity} bytes is too small to hold anything"
            ))
        })?;
    let part_size = room / 2048 * 2048;
    let mut volumes: Vec<Vec<Piece>> = vec![Vec::new()];
    let mut used = base;
    for i in tree.depth_first() {
        let Kind::File { size, .. } = tree.node(i).kind else {
            continue;
        };
        let pieces: Vec<Piece> = if blocks(size) + entry <= room {
            vec![Piece {
                node: i,
                offset: 0,
                len: size,
                part: None,
            }]
        } else if !split {
            return Err(Error::invalid_input(format!(
                "{} ({size} bytes) does not fit on one volume (use a larger size, or allow splitting)",
                tree.path(i)
            )));
        } else {
            let n = size.div_ceil(part_size);
            let count = u32::try_from(n).map_err(|_| Error::invalid_input("too many parts"))?;
            (0..n)
                .map(|k| Piece {
                    node: i,
                    offset: k * part_size,
                    len: part_size.min(size - k * part_size),
                    part: Some((k as u32 + 1, count)),
                })
                .collect()
        };
        for p in pieces {
            let need = blocks(p.len) + entry;
            if used + need > capacity && !volumes.last().is_some_and(Vec::is_empty) {
                volumes.push(Vec::new());
                used = base;
            }
            used += need;
            volumes.last_mut().expect("one volume at least").push(p);
        }
    }
    // Exact check: plan each volume; a volume that came out too large passes its last pieces on.
    let mut v = 0;
    while v < volumes.len() {
        loop {
            let vt = volume_tree(tree, &volumes[v], v == 0)?;
            let size = format.size(&vt)?;
            if size <= capacity {
                break;
            }
            let Some(last) = volumes[v].pop() else {
                return Err(Error::invalid_input(format!(
                    "the folders alone need {size} bytes, more than a volume of {capacity}"
                )));
            };
            if volumes[v].is_empty() {
                return Err(Error::invalid_input(format!(
                    "{} does not fit on a volume of {capacity} bytes with its folders",
                    tree.path(last.node)
                )));
            }
            if v + 1 == volumes.len() {
                volumes.push(Vec::new());
            }
            volumes[v + 1].insert(0, last);
        }
        v += 1;
    }
    Ok(SpanPlan { volumes })
}

/// The name a piece has on its volume.
pub fn piece_name(name: &str, p: &Piece) -> String {
    match p.part {
        Some((k, n)) => format!("{name}.part{k}of{n}"),
        None => name.to_owned(),
    }
}

/// The tree of one volume: its pieces with the folders above them (their metadata kept), and on
/// the first volume also every folder, symlink and device, so that no empty folder is lost.
pub fn volume_tree(tree: &FileTree, pieces: &[Piece], first: bool) -> Result<FileTree> {
    let mut out = FileTree::new(tree.node(ROOT).meta);
    let mut map = std::collections::HashMap::from([(ROOT, ROOT)]);
    fn dir_of(
        tree: &FileTree,
        out: &mut FileTree,
        map: &mut std::collections::HashMap<NodeIndex, NodeIndex>,
        node: NodeIndex,
    ) -> Result<NodeIndex> {
        if let Some(&d) = map.get(&node) {
            return Ok(d);
        }
        let n = tree.node(node);
        let parent = dir_of(tree, out, map, n.parent)?;
        let d = out.add(parent, &n.name, Kind::Dir(Vec::new()), n.meta)?;
        map.insert(node, d);
        Ok(d)
    }
    if first {
        for i in tree.depth_first() {
            let n = tree.node(i);
            match &n.kind {
                Kind::Dir(_) if i != ROOT => {
                    dir_of(tree, &mut out, &mut map, i)?;
                }
                Kind::Symlink(_) | Kind::Device(..) | Kind::Fifo => {
                    let parent = dir_of(tree, &mut out, &mut map, n.parent)?;
                    out.add(parent, &n.name, n.kind.clone(), n.meta)?;
                }
                _ => {}
            }
        }
    }
    for p in pieces {
        let n = tree.node(p.node);
        let Kind::File { source, .. } = &n.kind else {
            continue;
        };
        let parent = dir_of(tree, &mut out, &mut map, n.parent)?;
        let source = match (p.part, source) {
            (None, s) => s.clone(),
            (Some(_), Source::Host(path)) => Source::HostRange(path.clone(), p.offset),
            (Some(_), Source::HostRange(path, at)) => {
                Source::HostRange(path.clone(), at + p.offset)
            }
            (Some(_), _) => {
                return Err(Error::unsupported(
                    "span",
                    format!(
                        "{} cannot be cut into parts (only host files can)",
                        tree.path(p.node)
                    ),
                ));
            }
        };
        let meta = if p.part.is_some() {
            unlinked(n.meta)
        } else {
            n.meta
        };
        out.add(
            parent,
            &piece_name(&n.name, p),
            Kind::File {
                source,
                size: p.len,
            },
            meta,
        )?;
    }
    Ok(out)
}

/// A part of a file is not a hard link of anything.
fn unlinked(meta: Meta) -> Meta {
    Meta {
        link_group: None,
        ..meta
    }
}

/// An upper bound of the catalog's length for `tree`.
pub fn catalog_bound(tree: &FileTree, capacity: u64) -> u64 {
    tree.depth_first()
        .into_iter()
        .filter_map(|i| match tree.node(i).kind {
            Kind::File { size, .. } => {
                Some(tree.path(i).len() as u64 + 64 + 24 * size.div_ceil(capacity.max(1)))
            }
            _ => None,
        })
        .sum::<u64>()
        + 256
}

/// The catalog: which file (or part) is on which volume, as tab-separated text.
pub fn catalog(tree: &FileTree, plan: &SpanPlan, names: &[String]) -> String {
    let mut s = format!(
        "# diskimg span catalog: {} volumes\n# volume\tfile\tpath\tbytes\tpart\n",
        plan.volumes.len()
    );
    for (v, pieces) in plan.volumes.iter().enumerate() {
        for p in pieces {
            let path = tree.path(p.node);
            let part = p.part.map(|(k, n)| format!("{k}/{n}")).unwrap_or_default();
            let shown = match p.part {
                Some(_) => piece_name(&path, p),
                None => path,
            };
            s.push_str(&format!(
                "{}\t{}\t{shown}\t{}\t{part}\n",
                v + 1,
                names[v],
                p.len
            ));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    #[test]
    fn capacities() {
        assert_eq!(parse_capacity("bd25").unwrap(), 25_025_314_816);
        assert_eq!(parse_capacity("700M").unwrap(), 700 << 20);
        assert_eq!(parse_capacity("1.5G").unwrap(), 3 << 29);
        assert!(parse_capacity("big").is_err());
        assert!(parse_capacity("0").is_err());
    }

    #[test]
    fn packs_in_order_and_splits_what_does_not_fit() {
        let meta = Meta::synthetic(0o644, Timestamp::from_secs(0));
        let mut t = FileTree::new(meta);
        let d = t.add(ROOT, "d", Kind::Dir(Vec::new()), meta).unwrap();
        for (name, size) in [("a", 600_000u64), ("b", 600_000), ("c", 5_000_000)] {
            let src = Source::Host(format!("/nonexistent/{name}").into());
            t.add(d, name, Kind::File { source: src, size }, meta)
                .unwrap();
        }
        for format in [
            VolumeFormat::default(),
            VolumeFormat {
                udf: Some(UdfRevision::default()),
                ..VolumeFormat::default()
            },
        ] {
            let p = plan(&t, 3 << 20, true, 0, &format).unwrap();
            let total: u64 = p.volumes.iter().flatten().map(|x| x.len).sum();
            assert_eq!(total, 6_200_000);
            assert!(p.volumes.iter().flatten().any(|x| x.part.is_some()));
            for v in &p.volumes {
                assert!(format.size(&volume_tree(&t, v, false).unwrap()).unwrap() <= 3 << 20);
            }
            assert!(plan(&t, 3 << 20, false, 0, &format).is_err());
        }
    }
}
