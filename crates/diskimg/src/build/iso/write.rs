//! Writing a planned image in one pass: the structures first, then every file's data at its
//! planned place. A few threads take the files in sector order, each reading a file and
//! writing it where it belongs, so reads and the copies into the page cache run on every core;
//! large host files are copied by the kernel (`copy_file_range`), one at a time. Nothing is
//! written twice.

use super::Plan;
use super::boot::{self, Platform};
use super::encode::VdKind;
use super::layout::BLOCK;
use super::{hybrid, md5};
use crate::build::tree::{Kind, Source};
use crate::device::ExtentKind;
use crate::error::{Error, ErrorKind, Result};
use crate::io::copy::{copy_range, write_all_at};
use std::fs::File;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Threads that read files and write them at their planned places.
const WORKERS: usize = 4;
/// Files at least this large are copied without a buffer.
const LARGE: u64 = 1 << 20;

/// Receives progress while an image is written.
pub trait IsoProgress: Sync {
    /// Bytes of file data written since the last call.
    fn advance(&self, _bytes: u64) {}
}

impl IsoProgress for () {}

/// Largest boot image read whole to patch a boot information table into it.
const MAX_PATCHED: u64 = 64 << 20;

/// Another file system sharing the image (UDF on a bridge disc): it writes its own sectors,
/// those its [`Reserve`](super::Reserve) kept, after the ISO 9660 structures.
pub trait Companion: Sync {
    /// Writes its structures into `out`.
    fn write(&self, plan: &Plan<'_>, out: &File) -> Result<()>;
}

/// Writes `plan` into `out` (an empty file opened for reading and writing).
pub fn write_iso(plan: &Plan<'_>, out: &File, progress: &dyn IsoProgress) -> Result<()> {
    write_iso_with(plan, out, progress, None)
}

/// Writes `plan` into `out`, with the structures of a `companion` file system.
pub fn write_iso_with(
    plan: &Plan<'_>,
    out: &File,
    progress: &dyn IsoProgress,
    companion: Option<&dyn Companion>,
) -> Result<()> {
    let meta = structures(plan)?;
    write_all_at(out, &meta, 0).map_err(Error::from)?;
    if let Some(c) = companion {
        c.write(plan, out)?;
    }
    files(plan, out, progress)?;
    let size = u64::from(plan.volume_blocks) * BLOCK as u64;
    if let Some(h) = hybrid_layout(plan) {
        if let Some(backup) = hybrid::backup_gpt(&h)? {
            write_all_at(out, &backup, size - backup.len() as u64).map_err(Error::from)?;
        }
    }
    out.set_len(size).map_err(Error::from)?;
    if plan.opts.md5 {
        md5::implant(out, plan.descriptors.primary, plan.volume_blocks)?;
    }
    Ok(())
}

/// What a hybrid image's system area holds, if the image is hybrid.
fn hybrid_layout(plan: &Plan<'_>) -> Option<hybrid::HybridLayout> {
    let code = plan.opts.hybrid_mbr.clone()?;
    let image = |platform: Platform| {
        plan.boot.as_ref().and_then(|b| {
            b.images
                .iter()
                .find(|(_, i)| i.platform == platform)
                .map(|(f, _)| &plan.files[*f])
        })
    };
    let id_seed = format!(
        "{}:{}:{}",
        plan.opts.volume_id, plan.volume_blocks, plan.now.secs
    );
    Some(hybrid::HybridLayout {
        mbr_code: code,
        image_size: u64::from(plan.volume_blocks) * BLOCK as u64,
        bios_lba: image(Platform::Bios).map(|f| f.lba),
        efi: image(Platform::Efi).map(|f| (f.lba, f.size)),
        disk_id: crc32fast::hash(id_seed.as_bytes()),
    })
}

/// Sectors 0 up to the first file (or the area reserved before it): system area, descriptors,
/// path tables, directories, continuation areas.
fn structures(plan: &Plan<'_>) -> Result<Vec<u8>> {
    let mut b = vec![0u8; plan.structures_end() as usize * BLOCK];
    if let Some(h) = hybrid_layout(plan) {
        hybrid::system_area(&h, &mut b[..16 * BLOCK])?;
    }
    let put = |b: &mut Vec<u8>, lba: u32, offset: u32, bytes: &[u8]| {
        let at = lba as usize * BLOCK + offset as usize;
        b[at..at + bytes.len()].copy_from_slice(bytes);
    };
    put(
        &mut b,
        plan.descriptors.primary,
        0,
        &plan.volume_descriptor(VdKind::Primary),
    );
    if let (Some(lba), Some(bp)) = (plan.descriptors.boot_record, &plan.boot) {
        put(
            &mut b,
            lba,
            0,
            &boot::boot_record(plan.files[bp.catalog].lba),
        );
    }
    if let Some(lba) = plan.descriptors.joliet {
        put(&mut b, lba, 0, &plan.volume_descriptor(VdKind::Joliet));
    }
    if let Some(lba) = plan.descriptors.enhanced {
        put(&mut b, lba, 0, &plan.volume_descriptor(VdKind::Enhanced));
    }
    put(&mut b, plan.descriptors.terminator, 0, &plan.terminator());
    let trees = std::iter::once((&plan.primary, plan.path_tables.primary))
        .chain(plan.joliet.as_ref().zip(plan.path_tables.joliet));
    for (tree, (l, m, _)) in trees {
        put(&mut b, l, 0, &super::encode::path_table(tree, false));
        put(&mut b, m, 0, &super::encode::path_table(tree, true));
        for d in 0..tree.dirs.len() {
            put(&mut b, tree.dirs[d].lba, 0, &plan.directory(tree, d));
        }
        for (lba, offset, bytes) in plan.areas(tree) {
            put(&mut b, lba, offset, &bytes);
        }
    }
    Ok(b)
}

/// One file's bytes, or nothing when the file is copied in place (large files).
type Ready = Result<Option<Vec<u8>>>;

fn files(plan: &Plan<'_>, out: &File, progress: &dyn IsoProgress) -> Result<()> {
    let list = &plan.files;
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    // Large files are copied one at a time, in order: concurrent kernel copies into distant
    // parts of the output only make the disk seek.
    let large = Mutex::new(());
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..WORKERS)
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    let mut buf = Vec::new();
                    while !failed.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(f) = list.get(i) else {
                            return Ok(());
                        };
                        let offset = u64::from(f.lba) * BLOCK as u64;
                        let written =
                            prepare(plan, i, f.node, f.size).and_then(|ready| match ready {
                                Some(data) => write_all_at(out, &data, offset).map_err(Error::from),
                                None => {
                                    let _one = large.lock().unwrap_or_else(|e| e.into_inner());
                                    copy_large(plan, f.node, f.size, out, offset, &mut buf)
                                }
                            });
                        if written.is_err() {
                            failed.store(true, Ordering::Relaxed);
                            return written;
                        }
                        progress.advance(f.size);
                    }
                    Ok(())
                })
            })
            .collect();
        let mut result = Ok(());
        for w in workers {
            let r = w
                .join()
                .unwrap_or_else(|_| Err(Error::new(ErrorKind::Io, "a writer thread panicked")));
            if result.is_ok() {
                result = r;
            }
        }
        result
    })
}

/// The bytes of planned file `index` when they are built or read whole (boot structures,
/// patched loaders, small files); `None` for a large file, copied in place.
fn prepare(plan: &Plan<'_>, index: usize, node: usize, size: u64) -> Ready {
    let Some(bp) = &plan.boot else {
        return if size < LARGE {
            read_whole(plan, node, size).map(Some)
        } else {
            Ok(None)
        };
    };
    if index == bp.catalog {
        let mut placed = Vec::with_capacity(bp.images.len());
        for (f, image) in &bp.images {
            let file = &plan.files[*f];
            let system_type = if image.emulation == boot::Emulation::HardDisk {
                let mbr = read_head(plan, file.node, file.size, 512)?;
                mbr.get(446 + 4).copied().unwrap_or(0)
            } else {
                0
            };
            placed.push(boot::Placed {
                image,
                lba: file.lba,
                size: file.size,
                system_type,
            });
        }
        return boot::catalog(&placed).map(|c| Some(c.to_vec()));
    }
    if let Some((_, image)) = bp.images.iter().find(|(f, i)| *f == index && i.info_table) {
        if size > MAX_PATCHED {
            return Err(Error::invalid_input(format!(
                "{}: a boot image with a boot information table must be under {MAX_PATCHED} bytes",
                image.path
            )));
        }
        let mut data = read_whole(plan, node, size)?;
        boot::patch_info_table(&mut data, plan.descriptors.primary, plan.files[index].lba)?;
        return Ok(Some(data));
    }
    if size < LARGE {
        read_whole(plan, node, size).map(Some)
    } else {
        Ok(None)
    }
}

/// The first `n` bytes of a file.
fn read_head(plan: &Plan<'_>, node: usize, size: u64, n: u64) -> Result<Vec<u8>> {
    source(plan, node).read_head(size, n)
}

fn source<'a>(plan: &'a Plan<'_>, node: usize) -> &'a Source {
    match &plan.tree.node(node).kind {
        Kind::File { source, .. } => source,
        _ => unreachable!("only regular files are planned"),
    }
}

/// The whole content of a small file.
fn read_whole(plan: &Plan<'_>, node: usize, size: u64) -> Result<Vec<u8>> {
    source(plan, node).read_all(size)
}

/// Copies a large file straight to its place: only the runs that hold data (the image is a
/// new file, so holes stay holes), in the kernel when the bytes lie in a host file.
fn copy_large(
    plan: &Plan<'_>,
    node: usize,
    size: u64,
    out: &File,
    offset: u64,
    buf: &mut Vec<u8>,
) -> Result<()> {
    let src = source(plan, node).reader(size)?;
    for run in src.extents(0, size)? {
        if run.kind != ExtentKind::Data {
            continue;
        }
        match src.host_span(run.offset, run.len) {
            Some(span) => copy_range(
                span.file,
                span.offset,
                out,
                offset + run.offset,
                run.len,
                buf,
            )
            .map_err(Error::from)?,
            None => {
                buf.resize(LARGE as usize, 0);
                let mut done = 0u64;
                while done < run.len {
                    let n = (run.len - done).min(buf.len() as u64) as usize;
                    src.read_exact_at(run.offset + done, &mut buf[..n])?;
                    write_all_at(out, &buf[..n], offset + run.offset + done)
                        .map_err(Error::from)?;
                    done += n as u64;
                }
            }
        }
    }
    Ok(())
}
