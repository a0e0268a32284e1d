//! Extraction: copying a tree out of an image onto the host.
//!
//! One thread walks the tree, creates directories and symlinks and hands files to a pool of
//! writers, so reads of many small files overlap and big files stream at full speed. Every
//! file is written under a temporary name and renamed when complete. Names are checked before
//! they touch the host: `.`/`..`/empty names are skipped and separators or NUL inside a name
//! are replaced, always with a warning, and nothing is ever written through a symlink. Times
//! and permission bits (without setuid, setgid and sticky) are restored, directories last.

use crate::device::{DeviceRef, ExtentKind};
use crate::error::{Error, ErrorKind, Result, ResultExt};
use crate::fs::iso9660::BootCatalog;
use crate::fs::path::{MAX_DEPTH, join, normalize};
use crate::fs::{FileSystem, FileSystemExt, FileType, Metadata, NodeId};
use crate::io::AtomicFile;
use crate::io::copy::{copy_range, write_all_at};
use crate::time::Timestamp;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Mutex, PoisonError};

/// What to do when an output path already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Existing {
    /// Stop with an error (the default).
    #[default]
    Fail,
    /// Replace it.
    Replace,
    /// Leave it and go on.
    Skip,
}

/// How to extract.
#[derive(Debug, Clone)]
pub struct ExtractOptions {
    /// Existing outputs.
    pub existing: Existing,
    /// Writer threads for large files (small files have one writer of their own, so that
    /// file creation in one directory never contends).
    pub threads: usize,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        ExtractOptions {
            existing: Existing::Fail,
            threads: cores.clamp(2, 16),
        }
    }
}

/// Receives progress; every method has a do-nothing default.
pub trait Progress: Sync {
    /// Whether the caller wants [`totals`](Self::totals) (costs a walk of the tree first).
    fn wants_totals(&self) -> bool {
        false
    }
    /// Bytes and files that will be written.
    fn totals(&self, _bytes: u64, _files: u64) {}
    /// Bytes and files finished since the last call.
    fn advance(&self, _bytes: u64, _files: u64) {}
    /// A warning: something was skipped or changed.
    fn warn(&self, _message: &str) {}
    /// An error: one entry could not be extracted.
    fn error(&self, _message: &str) {}
}

/// Progress that goes nowhere.
pub struct NoProgress;
impl Progress for NoProgress {}

/// What an extraction did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ExtractSummary {
    /// Regular files written.
    pub files: u64,
    /// Directories created or reused.
    pub directories: u64,
    /// Symbolic links created.
    pub symlinks: u64,
    /// Hard links created.
    pub hard_links: u64,
    /// Bytes of file data.
    pub bytes: u64,
    /// Entries skipped (existing outputs, device nodes, unsafe names).
    pub skipped: u64,
    /// Entries that failed.
    pub errors: u64,
}

/// Extracts each of `sources` (paths in the image) into `dest`: the root's content goes
/// directly into `dest`, any other path becomes `dest/<its name>`.
pub fn extract(
    fs: &dyn FileSystem,
    sources: &[String],
    dest: &Path,
    opts: &ExtractOptions,
    progress: &dyn Progress,
) -> Result<ExtractSummary> {
    std::fs::create_dir_all(dest)
        .map_err(Error::from)
        .in_file(dest)?;
    if progress.wants_totals() {
        let (bytes, files) = totals(fs, sources);
        progress.totals(bytes, files);
    }
    let shared = Shared {
        summary: Mutex::new(ExtractSummary::default()),
        files: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        abort: AtomicBool::new(false),
        first_error: Mutex::new(None),
    };
    let (small_tx, small_rx) = sync_channel::<Vec<FileJob>>(64);
    let (large_tx, large_rx) = sync_channel::<Vec<FileJob>>(16);
    let (small_rx, large_rx) = (Mutex::new(small_rx), Mutex::new(large_rx));
    let mut planner = Planner {
        fs,
        existing: opts.existing,
        progress,
        shared: &shared,
        dirs: Vec::new(),
        links: Vec::new(),
        inodes: HashMap::new(),
        visited: HashSet::new(),
        batch: Vec::new(),
        batch_bytes: 0,
    };
    let planned = std::thread::scope(|s| {
        s.spawn(|| worker(fs, &small_rx, progress, &shared));
        for _ in 0..opts.threads.max(1) {
            s.spawn(|| worker(fs, &large_rx, progress, &shared));
        }
        let tx = Queues {
            small: small_tx,
            large: large_tx,
        };
        let mut result = Ok(());
        for src in sources {
            result = planner.source(src, dest, &tx);
            if result.is_err() || shared.abort.load(Ordering::Relaxed) {
                break;
            }
        }
        planner.flush(&tx);
        drop(tx);
        result
    });
    planned?;
    planner.finish();
    if let Some(e) = shared
        .first_error
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
    {
        if shared.abort.load(Ordering::Relaxed) {
            return Err(e);
        }
    }
    let mut summary = shared
        .summary
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    summary.files = shared.files.into_inner();
    summary.bytes = shared.bytes.into_inner();
    if summary.errors > 0 {
        return Err(Error::new(
            ErrorKind::Corrupt,
            format!(
                "{} entries could not be extracted (see the messages above)",
                summary.errors
            ),
        ));
    }
    Ok(summary)
}

fn totals(fs: &dyn FileSystem, sources: &[String]) -> (u64, u64) {
    let mut bytes = 0;
    let mut files = 0;
    for src in sources {
        let path = normalize(src);
        let Ok(node) = fs.resolve(&path) else {
            continue;
        };
        for item in fs.walk(node, &path).flatten() {
            if item.metadata.file_type == FileType::File {
                bytes += item.metadata.size;
                files += 1;
            }
        }
    }
    (bytes, files)
}

struct Shared {
    /// Rare events (directories, links, skips, errors).
    summary: Mutex<ExtractSummary>,
    /// Files and bytes written, counted without a lock.
    files: AtomicU64,
    bytes: AtomicU64,
    abort: AtomicBool,
    first_error: Mutex<Option<Error>>,
}

impl Shared {
    fn count(&self, f: impl FnOnce(&mut ExtractSummary)) {
        f(&mut self.summary.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// Records a failed entry; a failure to write the output stops everything.
    fn failed(&self, progress: &dyn Progress, e: Error, fatal: bool) {
        progress.error(&e.to_string());
        self.count(|s| s.errors += 1);
        let mut first = self
            .first_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if fatal {
            self.abort.store(true, Ordering::Relaxed);
            *first = Some(e);
        } else if first.is_none() {
            *first = Some(e);
        }
    }
}

struct FileJob {
    node: NodeId,
    image_path: String,
    target: PathBuf,
    metadata: Metadata,
}

struct Planner<'a> {
    fs: &'a dyn FileSystem,
    existing: Existing,
    progress: &'a dyn Progress,
    shared: &'a Shared,
    dirs: Vec<(PathBuf, Metadata)>,
    links: Vec<(PathBuf, PathBuf)>,
    inodes: HashMap<u64, PathBuf>,
    visited: HashSet<u64>,
    /// Files waiting to be handed to the writers, and their bytes.
    batch: Vec<FileJob>,
    batch_bytes: u64,
}

/// Small files go to their writer in batches of this many files or bytes.
const BATCH_FILES: usize = 64;
const BATCH_BYTES: u64 = 8 << 20;
/// Files of at least this size go to the large-file writers, one at a time.
const LARGE_FILE: u64 = 1 << 20;

/// Where the planner sends work: small files to one writer, large files to several.
struct Queues {
    small: SyncSender<Vec<FileJob>>,
    large: SyncSender<Vec<FileJob>>,
}

impl Planner<'_> {
    /// Hands the pending files to the writers. A closed channel means every writer stopped on
    /// a fatal error, which the caller reports.
    fn flush(&mut self, tx: &Queues) {
        if !self.batch.is_empty() {
            let _ = tx.small.send(std::mem::take(&mut self.batch));
            self.batch_bytes = 0;
        }
    }

    fn source(&mut self, src: &str, dest: &Path, tx: &Queues) -> Result<()> {
        let path = normalize(src);
        let node = self.fs.resolve(&path)?;
        let meta = self
            .fs
            .metadata(node)
            .map_err(|e| e.with_path(path.clone()))?;
        let target = if path == "/" {
            dest.to_path_buf()
        } else {
            let name = path.rsplit('/').next().unwrap_or_default();
            match safe_name(name) {
                Some((n, _)) => dest.join(n),
                None => {
                    return Err(
                        Error::invalid_input("cannot extract an entry with this name")
                            .with_path(path),
                    );
                }
            }
        };
        self.visit(node, meta, &path, target, 0, false, tx)
    }

    /// Extracts one node. `fresh` says the parent directory was just created (so nothing in
    /// it can exist yet).
    #[allow(clippy::too_many_arguments)]
    fn visit(
        &mut self,
        node: NodeId,
        meta: Metadata,
        image_path: &str,
        target: PathBuf,
        depth: usize,
        fresh: bool,
        tx: &Queues,
    ) -> Result<()> {
        match meta.file_type {
            FileType::Directory => self.directory(node, meta, image_path, target, depth, tx),
            FileType::File => {
                if !fresh && !self.make_room(&target)? {
                    return Ok(());
                }
                if meta.nlink.is_some_and(|n| n > 1) {
                    if let Some(first) = self.inodes.get(&meta.ino) {
                        self.links.push((first.clone(), target));
                        return Ok(());
                    }
                    self.inodes.insert(meta.ino, target.clone());
                }
                let job = FileJob {
                    node,
                    image_path: image_path.to_owned(),
                    target,
                    metadata: meta,
                };
                if job.metadata.size >= LARGE_FILE {
                    let _ = tx.large.send(vec![job]);
                    return Ok(());
                }
                self.batch_bytes += job.metadata.size;
                self.batch.push(job);
                if self.batch.len() >= BATCH_FILES || self.batch_bytes >= BATCH_BYTES {
                    self.flush(tx);
                }
                Ok(())
            }
            FileType::Symlink => {
                let link = match self.fs.read_link(node) {
                    Ok(l) => l,
                    Err(e) => {
                        self.shared
                            .failed(self.progress, e.with_path(image_path), false);
                        return Ok(());
                    }
                };
                if !fresh && !self.make_room(&target)? {
                    return Ok(());
                }
                match make_symlink(&link, &target) {
                    Ok(()) => {
                        set_times(&target, &meta, false);
                        self.shared.count(|s| s.symlinks += 1);
                    }
                    Err(e) => self.shared.failed(self.progress, e, true),
                }
                Ok(())
            }
            other => {
                self.progress.warn(&format!(
                    "{image_path}: skipped a {} (device nodes, pipes and sockets are not created)",
                    format!("{other:?}").to_lowercase()
                ));
                self.shared.count(|s| s.skipped += 1);
                Ok(())
            }
        }
    }

    fn directory(
        &mut self,
        node: NodeId,
        meta: Metadata,
        image_path: &str,
        target: PathBuf,
        depth: usize,
        tx: &Queues,
    ) -> Result<()> {
        if !self.visited.insert(meta.ino) {
            self.shared.failed(
                self.progress,
                Error::new(
                    ErrorKind::Corrupt,
                    "directory appears twice in the tree (a loop or a cross-link); skipped",
                )
                .with_path(image_path),
                false,
            );
            return Ok(());
        }
        if depth > MAX_DEPTH {
            return Err(
                Error::new(ErrorKind::LimitExceeded, "directory tree is too deep")
                    .with_path(image_path),
            );
        }
        let fresh = make_dir(&target)?;
        self.shared.count(|s| s.directories += 1);
        let entries = match self.fs.read_dir(node) {
            Ok(e) => e,
            Err(e) => {
                self.shared
                    .failed(self.progress, e.with_path(image_path), false);
                return Ok(());
            }
        };
        self.dirs.push((target.clone(), meta));
        let mut used = HashSet::new();
        for e in entries {
            let child_path = join(image_path, &e.name);
            let Some((mut name, changed)) = safe_name(&e.name) else {
                self.progress
                    .warn(&format!("{child_path}: skipped: the name is unsafe"));
                self.shared.count(|s| s.skipped += 1);
                continue;
            };
            if changed {
                self.progress.warn(&format!("{child_path}: written as '{name}' (the name holds characters the host cannot store)"));
            }
            if !used.insert(name.clone()) {
                let mut n = 2;
                while !used.insert(format!("{name}~{n}")) {
                    n += 1;
                }
                name = format!("{name}~{n}");
                self.progress.warn(&format!(
                    "{child_path}: a second entry of this name, written as '{name}'"
                ));
            }
            let meta = match self.fs.metadata(e.node) {
                Ok(m) => m,
                Err(err) => {
                    self.shared
                        .failed(self.progress, err.with_path(child_path), false);
                    continue;
                }
            };
            self.visit(
                e.node,
                meta,
                &child_path,
                target.join(&name),
                depth + 1,
                fresh,
                tx,
            )?;
            if self.shared.abort.load(Ordering::Relaxed) {
                break;
            }
        }
        Ok(())
    }

    /// Applies the `existing` policy to an output path; false means skip this entry.
    fn make_room(&self, target: &Path) -> Result<bool> {
        let Ok(m) = target.symlink_metadata() else {
            return Ok(true);
        };
        match self.existing {
            Existing::Fail => Err(Error::new(
                ErrorKind::AlreadyExists,
                "output exists (use --overwrite to replace or --skip-existing to keep it)",
            )
            .with_file(target)),
            Existing::Skip => {
                self.shared.count(|s| s.skipped += 1);
                Ok(false)
            }
            Existing::Replace if m.is_dir() => Err(Error::new(
                ErrorKind::AlreadyExists,
                "a directory is in the way of a file",
            )
            .with_file(target)),
            Existing::Replace => {
                std::fs::remove_file(target)
                    .map_err(Error::from)
                    .in_file(target)?;
                Ok(true)
            }
        }
    }

    /// Hard links, then directory modes and times, deepest first.
    fn finish(&mut self) {
        for (first, link) in std::mem::take(&mut self.links) {
            let _ = std::fs::remove_file(&link);
            match std::fs::hard_link(&first, &link) {
                Ok(()) => self.shared.count(|s| s.hard_links += 1),
                Err(e) => self
                    .shared
                    .failed(self.progress, Error::from(e).with_file(&link), false),
            }
        }
        for (dir, meta) in self.dirs.drain(..).rev() {
            set_mode(&dir, &meta);
            set_times(&dir, &meta, true);
        }
    }
}

/// A name as it may be written on the host: `None` for names that must not be written
/// (`.`, `..`, empty), otherwise the name with path separators and NUL replaced, and whether
/// anything was replaced.
pub fn safe_name(name: &str) -> Option<(String, bool)> {
    if name.is_empty() || name == "." || name == ".." {
        return None;
    }
    let bad = |c: char| {
        c == '/' || c == '\0' || (cfg!(windows) && (c.is_control() || "\\:*?\"<>|".contains(c)))
    };
    if !name.contains(bad) {
        return Some((name.to_owned(), false));
    }
    Some((name.replace(bad, "_"), true))
}

/// Creates a directory, or accepts an existing real directory; true if it was created.
fn make_dir(path: &Path) -> Result<bool> {
    match std::fs::create_dir(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match path.symlink_metadata() {
            Ok(m) if m.is_dir() => Ok(false),
            _ => Err(Error::new(
                ErrorKind::AlreadyExists,
                "exists and is not a directory (symlinks in the target are never followed)",
            )
            .with_file(path)),
        },
        Err(e) => Err(Error::from(e).with_file(path)),
    }
}

fn make_symlink(link: &str, target: &Path) -> Result<()> {
    #[cfg(unix)]
    let r = std::os::unix::fs::symlink(link, target);
    #[cfg(windows)]
    let r = std::os::windows::fs::symlink_file(link, target);
    r.map_err(Error::from).in_file(target)
}

fn set_mode(path: &Path, meta: &Metadata) {
    #[cfg(unix)]
    if let Some(mode) = meta.mode {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o777));
    }
    #[cfg(not(unix))]
    let _ = (path, meta);
}

fn file_time(t: Timestamp) -> filetime::FileTime {
    filetime::FileTime::from_unix_time(t.secs, t.nanos)
}

fn set_times(path: &Path, meta: &Metadata, follow: bool) {
    let Some(mtime) = meta.mtime else { return };
    let atime = file_time(meta.atime.unwrap_or(mtime));
    let mtime = file_time(mtime);
    let _ = if follow {
        filetime::set_file_times(path, atime, mtime)
    } else {
        filetime::set_symlink_file_times(path, atime, mtime)
    };
}

fn worker(
    fs: &dyn FileSystem,
    rx: &Mutex<Receiver<Vec<FileJob>>>,
    progress: &dyn Progress,
    shared: &Shared,
) {
    let mut buf = Vec::new();
    loop {
        let batch = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(batch) = batch else { return };
        for job in batch {
            if shared.abort.load(Ordering::Relaxed) {
                break;
            }
            match write_file(fs, &job, &mut buf) {
                Ok(()) => {
                    shared.files.fetch_add(1, Ordering::Relaxed);
                    shared.bytes.fetch_add(job.metadata.size, Ordering::Relaxed);
                    progress.advance(job.metadata.size, 1);
                }
                Err(Failure::Read(e)) => {
                    shared.failed(progress, e.with_path(job.image_path.clone()), false)
                }
                Err(Failure::Write(e)) => shared.failed(progress, e, true),
            }
        }
    }
}

enum Failure {
    /// The image could not be read: this file fails, the others go on.
    Read(Error),
    /// The output could not be written: everything stops.
    Write(Error),
}

fn write_file(
    fs: &dyn FileSystem,
    job: &FileJob,
    buf: &mut Vec<u8>,
) -> std::result::Result<(), Failure> {
    let out = AtomicFile::create(&job.target, true).map_err(Failure::Write)?;
    let file = out.file();
    let w = |e: std::io::Error| Failure::Write(Error::from(e).with_file(&job.target));
    let size = job.metadata.size;
    let direct = fs.file_extents(job.node).map_err(Failure::Read)?;
    let mut written_to = 0u64;
    match direct {
        Some(extents) => {
            for e in extents {
                let Some(dev_off) = e.device_offset else {
                    continue;
                };
                copy_extent(fs.device(), dev_off, file, e.file_offset, e.len, buf)?;
                written_to = e.file_offset + e.len;
            }
        }
        None => {
            if buf.len() < crate::ops::list::COPY_BUFFER {
                buf.resize(crate::ops::list::COPY_BUFFER, 0);
            }
            let mut offset = 0u64;
            while offset < size {
                let n = fs.read_at(job.node, offset, buf).map_err(Failure::Read)?;
                if n == 0 {
                    return Err(Failure::Read(Error::new(
                        ErrorKind::Corrupt,
                        format!("file ends after {offset} of {size} bytes"),
                    )));
                }
                write_all_at(file, &buf[..n], offset).map_err(w)?;
                offset += n as u64;
            }
            written_to = offset;
        }
    }
    // Trailing holes need the length set; a copy that ended on the last byte already made it.
    if written_to != size {
        file.set_len(size).map_err(w)?;
    }
    #[cfg(unix)]
    if let Some(mode) = job.metadata.mode {
        let mode = mode & 0o777;
        if mode != created_mode() {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(mode))
                .map_err(w)?;
        }
    }
    if let Some(mtime) = job.metadata.mtime {
        let atime = job.metadata.atime.unwrap_or(mtime);
        filetime::set_file_handle_times(file, Some(file_time(atime)), Some(file_time(mtime)))
            .map_err(w)?;
    }
    out.commit().map_err(Failure::Write)
}

/// The mode a new file gets: 0o666 less the process's umask, read once from /proc where there
/// is one (elsewhere modes are always set explicitly).
#[cfg(unix)]
fn created_mode() -> u32 {
    static MODE: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *MODE.get_or_init(|| {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Umask:"))
                    .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
            })
            .map_or(u32::MAX, |umask| 0o666 & !umask)
    })
}

/// Extents at least this long are checked for holes on the device, so holes stay holes.
const SPARSE_CHECK: u64 = 1 << 20;

/// Copies one stored extent of a file: in the kernel when the device is a plain host file,
/// skipping runs the device reports as zero.
fn copy_extent(
    dev: &DeviceRef,
    dev_off: u64,
    file: &std::fs::File,
    file_off: u64,
    len: u64,
    buf: &mut Vec<u8>,
) -> std::result::Result<(), Failure> {
    if dev_off.checked_add(len).is_none_or(|end| end > dev.size()) {
        return Err(Failure::Read(Error::out_of_bounds(
            dev_off,
            len as usize,
            dev.size(),
        )));
    }
    let runs = if len >= SPARSE_CHECK {
        dev.extents(dev_off, len).map_err(Failure::Read)?
    } else {
        Vec::new()
    };
    let runs: Vec<(u64, u64)> = if runs.is_empty() {
        vec![(dev_off, len)]
    } else {
        runs.into_iter()
            .filter(|r| r.kind == ExtentKind::Data)
            .map(|r| (r.offset, r.len))
            .collect()
    };
    for (off, n) in runs {
        let out_off = file_off + (off - dev_off);
        match dev.host_span(off, n) {
            Some(span) => copy_range(span.file, span.offset, file, out_off, n, buf)
                .map_err(|e| Failure::Write(Error::from(e)))?,
            None => {
                if buf.len() < crate::ops::list::COPY_BUFFER {
                    buf.resize(crate::ops::list::COPY_BUFFER, 0);
                }
                let mut done = 0u64;
                while done < n {
                    let k = (n - done).min(buf.len() as u64) as usize;
                    dev.read_exact_at(off + done, &mut buf[..k])
                        .map_err(Failure::Read)?;
                    write_all_at(file, &buf[..k], out_off + done)
                        .map_err(|e| Failure::Write(Error::from(e)))?;
                    done += k as u64;
                }
            }
        }
    }
    Ok(())
}

/// Bytes copied per step of [`extract_raw`], so that progress moves.
const RAW_STEP: u64 = 64 << 20;

/// Writes every byte of `device` (a partition, or a whole disk) to the file `dest`: runs the
/// device reports as holes stay holes, and a plain host file is copied by the kernel. The
/// output appears under its name only when complete. Returns the bytes written (0 when
/// `existing` is [`Existing::Skip`] and `dest` exists).
pub fn extract_raw(
    device: &DeviceRef,
    dest: &Path,
    existing: Existing,
    progress: &dyn Progress,
) -> Result<u64> {
    if existing == Existing::Skip && dest.symlink_metadata().is_ok() {
        return Ok(0);
    }
    let size = device.size();
    progress.totals(size, 1);
    let out = AtomicFile::create(dest, existing == Existing::Replace)?;
    let mut buf = Vec::new();
    let mut done = 0u64;
    while done < size {
        let n = (size - done).min(RAW_STEP);
        copy_extent(device, done, out.file(), done, n, &mut buf).map_err(|f| match f {
            Failure::Read(e) => e,
            Failure::Write(e) => e.with_file(dest),
        })?;
        progress.advance(n, 0);
        done += n;
    }
    out.file()
        .set_len(size)
        .map_err(Error::from)
        .in_file(dest)?;
    out.commit()?;
    progress.advance(0, 1);
    Ok(size)
}

/// Writes each El Torito boot image to `dest` as `eltorito-<n>-<platform>-<emulation>.img`.
pub fn extract_boot_images(
    boot: &BootCatalog,
    device: &DeviceRef,
    dest: &Path,
    existing: Existing,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dest)
        .map_err(Error::from)
        .in_file(dest)?;
    let mut out = Vec::new();
    let mut buf = Vec::new();
    for e in &boot.entries {
        let path = dest.join(format!(
            "eltorito-{}-{}-{}.img",
            e.index, e.platform, e.emulation
        ));
        if existing == Existing::Skip && path.exists() {
            continue;
        }
        let len = e.size.min(device.size().saturating_sub(e.offset));
        let file = AtomicFile::create(&path, existing == Existing::Replace)?;
        copy_extent(device, e.offset, file.file(), 0, len, &mut buf).map_err(|f| match f {
            Failure::Read(e) | Failure::Write(e) => e,
        })?;
        file.file()
            .set_len(len)
            .map_err(Error::from)
            .in_file(&path)?;
        file.commit()?;
        out.push(path);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_names() {
        assert_eq!(safe_name(".."), None);
        assert_eq!(safe_name("."), None);
        assert_eq!(safe_name(""), None);
        assert_eq!(safe_name("a/b"), Some(("a_b".into(), true)));
        assert_eq!(safe_name("x\0y"), Some(("x_y".into(), true)));
        assert_eq!(safe_name("ok.txt"), Some(("ok.txt".into(), false)));
    }
}
