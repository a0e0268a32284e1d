//! Opening an image through every layer: container or disc -> partition table -> file systems.
//!
//! [`Image::open`] reads a host file, probes it against every registered format, opens what it
//! finds, and probes each resulting device again (a container's guest disk, each data track of
//! a disc image, each partition), down to [`MAX_NESTING`] levels. The result is a tree of [`Layer`]s that `info` describes and
//! from which `ls`, `cat` and `extract` [`select`](Image::select) one file system.

use crate::container::password::Password;
use crate::container::{Container, OpenContext};
use crate::device::DeviceRef;
use crate::error::{Error, ErrorKind, Result, ResultExt};
use crate::format::{Confidence, HEAD_LEN, Opener, ProbeInput, formats};
use crate::fs::iso9660::BootCatalog;
use crate::fs::{FileSystem, FsEntry};
use crate::io::{FileSource, Slice};
use crate::optical::{Disc, UserDataView};
use crate::partition::mbr::{is_extended_type, type_byte};
use crate::partition::{Partition, PartitionTable};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Deepest nesting of containers and partitions explored.
pub const MAX_NESTING: usize = 8;

/// An opened image and everything found inside it.
pub struct Image {
    /// The host file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub file_size: u64,
    /// What its bytes hold.
    pub root: Layer,
}

/// One device and what was found on it.
pub struct Layer {
    /// The device.
    pub device: DeviceRef,
    /// If the bytes are a container: the container and the layer of the device inside it.
    pub container: Option<(Box<dyn Container>, Box<Layer>)>,
    /// If the bytes are an optical disc image: the disc and what each data track holds.
    pub disc: Option<DiscLayer>,
    /// The partition table, if any, and what each partition holds.
    pub partitions: Option<PartitionLayer>,
    /// File-system views found on the whole device, richest first.
    pub file_systems: Vec<FsEntry>,
    /// Boot records (El Torito).
    pub boot: Option<BootCatalog>,
    /// Problems met while exploring this layer that did not stop it.
    pub warnings: Vec<String>,
    /// Formats recognised here that failed to open, with why.
    pub failures: Vec<Error>,
}

/// An optical disc image and the content of its data tracks.
pub struct DiscLayer {
    /// The disc.
    pub disc: Arc<Disc>,
    /// Each data track's number and what its user data holds (read through
    /// [`UserDataView::for_track`]).
    pub tracks: Vec<(u8, Layer)>,
}

impl DiscLayer {
    /// The layer of data track `n`.
    pub fn track(&self, n: u8) -> Result<&Layer> {
        if let Some((_, l)) = self.tracks.iter().find(|(t, _)| *t == n) {
            return Ok(l);
        }
        let data: Vec<String> = self.tracks.iter().map(|(t, _)| t.to_string()).collect();
        let why = match self.disc.track(n) {
            Some(_) => "is an audio track".to_owned(),
            None => "does not exist".to_owned(),
        };
        Err(Error::not_found(format!(
            "track {n} {why} (data tracks: {})",
            if data.is_empty() {
                "none".to_owned()
            } else {
                data.join(", ")
            }
        )))
    }

    /// The data track `ls`/`extract` read by default: the first data track of the last session
    /// holding data.
    pub fn default_track(&self) -> Option<u8> {
        self.disc.default_data_track().map(|t| t.number)
    }
}

/// A partition table and its partitions.
pub struct PartitionLayer {
    /// The table.
    pub table: Box<dyn PartitionTable>,
    /// Each partition with its content (`None` for extended-partition containers).
    pub children: Vec<(Partition, Option<Layer>)>,
}

/// Which file system a command works on.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Partition number (1-based, as fdisk counts).
    pub partition: Option<u32>,
    /// Track of an optical disc image (default: the first data track of the last session
    /// that has data).
    pub track: Option<u8>,
    /// File-system view by type name (`rockridge`, `joliet`, `iso9660`, `udf`, ...).
    pub namespace: Option<String>,
}

impl Image {
    /// Opens the image file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Image> {
        Self::open_with_password(path, None)
    }

    /// Opens the image file at `path`; `password` unlocks an encrypted image.
    pub fn open_with_password(path: impl AsRef<Path>, password: Option<Password>) -> Result<Image> {
        let path = path.as_ref();
        if crate::container::dmg::bundle::is_bundle(path) {
            let bundle = crate::container::dmg::bundle::SparseBundle::open(path).in_file(path)?;
            let device = bundle.device();
            let ctx = OpenContext {
                password,
                ..OpenContext::default()
            };
            return Ok(Image {
                path: path.to_path_buf(),
                file_size: device.size(),
                root: container_layer(device, Box::new(bundle), &ctx),
            });
        }
        let src = FileSource::open(path)?;
        let file_size = crate::io::ReadAt::size(&src);
        let device: DeviceRef = Arc::new(src);
        let ctx = OpenContext {
            path: Some(path.to_path_buf()),
            password,
            ..OpenContext::default()
        };
        let root = explore(device, &ctx, true).in_file(path)?;
        Ok(Image {
            path: path.to_path_buf(),
            file_size,
            root,
        })
    }

    /// Opens bytes that are already a device (tests, fuzzing, nested use).
    pub fn from_device(device: DeviceRef, name: &str) -> Result<Image> {
        let file_size = device.size();
        let root = explore(device, &OpenContext::default(), true)?;
        Ok(Image {
            path: PathBuf::from(name),
            file_size,
            root,
        })
    }

    /// The layer of the innermost device, below every container.
    pub fn content(&self) -> &Layer {
        let mut layer = &self.root;
        while let Some((_, inner)) = &layer.container {
            layer = inner;
        }
        layer
    }

    /// The file system `sel` names: the given partition (or the whole device, else the first
    /// partition with a readable file system), and the given view (else the richest).
    pub fn select(&self, sel: &Selection) -> Result<Arc<dyn FileSystem>> {
        let content = self.content().track_layer(sel.track)?;
        let layer = match sel.partition {
            Some(n) => content.partition(n)?,
            None => content,
        };
        if let Some(fs) = pick(layer, sel.namespace.as_deref())? {
            return Ok(fs);
        }
        if sel.partition.is_none() {
            if let Some(parts) = &layer.partitions {
                for (_, child) in &parts.children {
                    if let Some(child) = child {
                        if let Some(fs) = pick(child, sel.namespace.as_deref())? {
                            return Ok(fs);
                        }
                    }
                }
            }
        }
        Err(no_file_system(layer, sel))
    }
}

impl Layer {
    /// A layer of `device` with nothing found on it yet.
    pub fn empty(device: DeviceRef) -> Layer {
        Layer {
            device,
            container: None,
            disc: None,
            partitions: None,
            file_systems: Vec::new(),
            boot: None,
            warnings: Vec::new(),
            failures: Vec::new(),
        }
    }

    /// For a disc image, the layer of track `track` (else of the default data track); any
    /// other layer is itself, and naming a track for it is an error.
    pub fn track_layer(&self, track: Option<u8>) -> Result<&Layer> {
        match (&self.disc, track) {
            (Some(d), Some(n)) => d.track(n),
            (Some(d), None) => match d.default_track() {
                Some(n) => d.track(n),
                None => Err(Error::new(
                    ErrorKind::NotRecognized,
                    "the disc has no data track (only audio: see `diskimg extract --tracks`)",
                )),
            },
            (None, Some(_)) => Err(Error::invalid_input(
                "--track applies to optical disc images (cue, toc, nrg, mds, ccd, cdi, gdi)",
            )),
            (None, None) => Ok(self),
        }
    }

    /// The layer inside partition `n`.
    pub fn partition(&self, n: u32) -> Result<&Layer> {
        let Some(parts) = &self.partitions else {
            return Err(Error::not_found(format!(
                "partition {n} does not exist: the image has no partition table"
            )));
        };
        let available: Vec<String> = parts
            .children
            .iter()
            .filter(|(_, l)| l.is_some())
            .map(|(p, _)| p.index.to_string())
            .collect();
        parts
            .children
            .iter()
            .find(|(p, _)| p.index == n)
            .and_then(|(_, l)| l.as_ref())
            .ok_or_else(|| {
                Error::not_found(format!(
                    "partition {n} does not exist (partitions: {})",
                    available.join(", ")
                ))
            })
    }
}

/// The entry `namespace` names among `entries`: a type name (the first entry of that type), or
/// `TYPE:LABEL` / `TYPE:N` for one of several entries of one type (the volumes of an APFS
/// container), by label or by 1-based position among that type's entries.
fn find_entry<'a>(entries: &'a [FsEntry], namespace: &str) -> Option<&'a FsEntry> {
    if let Some(e) = entries.iter().find(|e| e.kind == namespace) {
        return Some(e);
    }
    let (kind, which) = namespace.split_once(':')?;
    let mut of_kind = entries.iter().filter(|e| e.kind == kind);
    if let Some(e) = of_kind.clone().find(|e| e.label.as_deref() == Some(which)) {
        return Some(e);
    }
    let n: usize = which.parse().ok()?;
    of_kind.nth(n.checked_sub(1)?)
}

fn pick(layer: &Layer, namespace: Option<&str>) -> Result<Option<Arc<dyn FileSystem>>> {
    match namespace {
        None => Ok(layer.file_systems.iter().find_map(|e| e.fs.clone())),
        Some(ns) => match find_entry(&layer.file_systems, ns) {
            Some(FsEntry { fs: Some(fs), .. }) => Ok(Some(fs.clone())),
            Some(FsEntry { note, .. }) => Err(Error::new(
                ErrorKind::Unsupported,
                note.clone()
                    .unwrap_or_else(|| format!("the {ns} tree cannot be read")),
            )),
            None if layer.file_systems.is_empty() => Ok(None),
            None => Err(Error::not_found(format!(
                "no {ns} tree here (present: {})",
                layer
                    .file_systems
                    .iter()
                    .map(|e| e.kind)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        },
    }
}

fn no_file_system(layer: &Layer, sel: &Selection) -> Error {
    // One recognised format that failed to open: its own error says best what is wrong.
    if let [only] = layer.failures.as_slice() {
        if layer.file_systems.iter().all(|e| e.fs.is_none()) && layer.partitions.is_none() {
            return only.clone();
        }
    }
    let mut why: Vec<String> = layer
        .file_systems
        .iter()
        .filter_map(|e| e.note.as_ref().map(|n| format!("{}: {n}", e.kind)))
        .collect();
    why.extend(layer.failures.iter().map(Error::to_string));
    let what = match sel.partition {
        Some(n) => format!("no readable file system in partition {n}"),
        None => "no readable file system found".to_owned(),
    };
    if why.is_empty() {
        Error::new(ErrorKind::NotRecognized, what)
    } else {
        Error::new(
            ErrorKind::NotRecognized,
            format!("{what} ({})", why.join("; ")),
        )
    }
}

/// Probes `device` and opens what it holds. `tables` is false inside a partition that starts
/// where its parent does, whose first sector is the parent's partition table again.
fn explore(device: DeviceRef, ctx: &OpenContext, tables: bool) -> Result<Layer> {
    if ctx.depth > MAX_NESTING {
        return Err(Error::new(
            ErrorKind::LimitExceeded,
            format!("images nest more than {MAX_NESTING} levels deep"),
        ));
    }
    let mut head = vec![0u8; HEAD_LEN.min(usize::try_from(device.size()).unwrap_or(HEAD_LEN))];
    device.read_exact_at(0, &mut head)?;
    let input = ProbeInput {
        head: &head,
        device: device.as_ref(),
    };
    let mut layer = Layer::empty(device.clone());
    let mut best_container: Option<(Confidence, &'static crate::format::FormatDescriptor)> = None;
    let mut best_disc: Option<(Confidence, &'static crate::format::FormatDescriptor)> = None;
    let mut best_table: Option<(Confidence, &'static crate::format::FormatDescriptor)> = None;
    let mut file_systems = Vec::new();
    for d in formats() {
        let c = (d.probe)(&input);
        if !c.matched() {
            continue;
        }
        let slot = match d.opener {
            Opener::Container(_) => &mut best_container,
            Opener::Disc(_) => &mut best_disc,
            Opener::PartitionTable(_) if tables => &mut best_table,
            Opener::PartitionTable(_) => continue,
            Opener::FileSystem(_) => {
                file_systems.push(*d);
                continue;
            }
        };
        if slot.is_none_or(|(best, _)| c > best) {
            *slot = Some((c, *d));
        }
    }
    // A disc image wins over a container only when its probe is surer.
    if let Some((c, d)) = best_disc {
        if best_container.is_none_or(|(b, _)| c > b) {
            let Opener::Disc(open) = d.opener else {
                unreachable!("best_disc only holds disc formats")
            };
            let disc = Arc::new(open(device, ctx).map_err(|e| e.with_format(d.name))?);
            layer.warnings.extend(disc.warnings.iter().cloned());
            layer.disc = Some(open_tracks(disc, ctx));
            return Ok(layer);
        }
    }
    if let Some((_, d)) = best_container {
        let Opener::Container(open) = d.opener else {
            unreachable!("best_container only holds container formats")
        };
        let container = open(device.clone(), ctx)?;
        return Ok(container_layer(device, container, ctx));
    }
    for d in file_systems {
        let Opener::FileSystem(open) = d.opener else {
            continue;
        };
        match open(&device) {
            Ok(v) => {
                layer.file_systems.extend(v.file_systems);
                layer.boot = layer.boot.take().or(v.boot);
                layer.warnings.extend(v.warnings);
            }
            Err(e) => layer.failures.push(e.with_format(d.name)),
        }
    }
    // Views of one volume from several formats (ISO 9660 and UDF on a bridge disc), richest
    // first; the sort is stable, so each format's own order stands.
    layer.file_systems.sort_by_key(|e| view_rank(e.kind));
    if let Some((_, d)) = best_table {
        let Opener::PartitionTable(open) = d.opener else {
            unreachable!("best_table only holds partition-table formats")
        };
        match open(&device) {
            Ok(table) => layer.partitions = Some(open_partitions(&device, table, ctx)),
            Err(e) => layer.failures.push(e.with_format(d.name)),
        }
    }
    Ok(layer)
}

/// The layer of `device` whose bytes are `container`, with what its guest device holds.
fn container_layer(device: DeviceRef, container: Box<dyn Container>, ctx: &OpenContext) -> Layer {
    let inner_ctx = OpenContext {
        path: None,
        depth: ctx.depth + 1,
        overlays: Vec::new(),
        password: ctx.password.clone(),
    };
    // A guest device that cannot be read (a missing backing file) still leaves the
    // container described.
    let inner = explore(container.device(), &inner_ctx, true).unwrap_or_else(|e| Layer {
        failures: vec![e],
        ..Layer::empty(container.device())
    });
    Layer {
        container: Some((container, Box::new(inner))),
        ..Layer::empty(device)
    }
}

/// Which view of a bridge disc is the default: Rock Ridge (POSIX names, modes, links), then UDF
/// (long names, modes, files over 4 GiB; what Windows and macOS show), then Joliet, then plain
/// ISO 9660. Other file systems never share a device and keep their place.
fn view_rank(kind: &str) -> u8 {
    match kind {
        "rockridge" => 0,
        "udf" => 1,
        "joliet" => 2,
        "iso9660" => 3,
        _ => 0,
    }
}

fn open_partitions(
    device: &DeviceRef,
    table: Box<dyn PartitionTable>,
    ctx: &OpenContext,
) -> PartitionLayer {
    let child_ctx = OpenContext {
        path: None,
        depth: ctx.depth + 1,
        overlays: Vec::new(),
        password: ctx.password.clone(),
    };
    let children = table
        .partitions()
        .iter()
        .map(|p| {
            if table.scheme() == "mbr" && is_extended_type(type_byte(p)) {
                return (p.clone(), None);
            }
            let slice: DeviceRef = Arc::new(Slice::truncated(device.clone(), p.start, p.length));
            let layer = explore(slice.clone(), &child_ctx, p.start != 0).unwrap_or_else(|e| {
                let mut l = Layer::empty(slice);
                l.failures.push(e);
                l
            });
            (p.clone(), Some(layer))
        })
        .collect();
    PartitionLayer { table, children }
}

/// Explores the user data of each data track of `disc`.
fn open_tracks(disc: Arc<Disc>, ctx: &OpenContext) -> DiscLayer {
    let child_ctx = OpenContext {
        path: None,
        depth: ctx.depth + 1,
        overlays: Vec::new(),
        password: ctx.password.clone(),
    };
    let tracks = disc
        .data_tracks()
        .map(|t| {
            let n = t.number;
            let layer = match UserDataView::for_track(disc.clone(), n) {
                Ok(view) => {
                    let dev: DeviceRef = Arc::new(view);
                    explore(dev.clone(), &child_ctx, true).unwrap_or_else(|e| {
                        let mut l = Layer::empty(dev);
                        l.failures.push(e);
                        l
                    })
                }
                Err(e) => {
                    let mut l = Layer::empty(Arc::new(crate::io::MemorySource::new(Vec::new())));
                    l.failures.push(e);
                    l
                }
            };
            (n, layer)
        })
        .collect();
    DiscLayer { disc, tracks }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: &'static str, label: &str) -> FsEntry {
        FsEntry {
            kind,
            label: Some(label.to_owned()),
            fs: None,
            details: serde_json::Value::Null,
            note: None,
        }
    }

    #[test]
    fn namespaces_name_a_type_or_one_volume_of_it() {
        let e = [
            entry("apfs", "Macintosh HD"),
            entry("apfs", "Data"),
            entry("apfs", "1"),
        ];
        let label = |ns| find_entry(&e, ns).and_then(|x| x.label.as_deref());
        assert_eq!(label("apfs"), Some("Macintosh HD"));
        assert_eq!(label("apfs:Data"), Some("Data"));
        assert_eq!(label("apfs:2"), Some("Data"));
        // A label wins over a position.
        assert_eq!(label("apfs:1"), Some("1"));
        assert_eq!(label("apfs:4"), None);
        assert_eq!(label("apfs:0"), None);
        assert_eq!(label("hfsplus:1"), None);
    }
}
