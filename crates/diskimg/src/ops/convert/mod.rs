//! `convert` and `create`: writing disk images in any format that has a writer.
//!
//! [`convert`] opens the input as a guest device (any container, or raw), picks the output
//! format (`-O`, else the output's extension), makes the format's writer through its
//! [`CreateHook`](crate::container::write::CreateHook) and runs the [`pipeline`]: only the
//! allocated data of the input is read (its `extents`), all-zero units are not written, units
//! are encoded (compressed) on every core and emitted in order, memory stays bounded, and the
//! output appears under its name only when complete ([`AtomicFile`]).
//!
//! [`create_image`] makes a blank image, or an empty overlay of a backing file.

pub mod chd;
pub mod pipeline;
pub mod plan;

pub use pipeline::{ConvertProgress, NoProgress, PipelineStats, write_image};

use crate::container::OpenContext;
use crate::container::dmg::crypt::{EncryptOptions, EncryptingSink};
use crate::container::open::{
    OpenedImage, open_image, open_image_with_password, resolve_backing_name,
};
use crate::container::password::Password;
use crate::container::write::{
    BackingRef, Companions, CreateRequest, FormatOptions, ImageWriter, WriteTarget,
};
use crate::device::DeviceRef;
use crate::error::{Error, ErrorKind, Result, ResultExt};
use crate::format::{FormatDescriptor, by_name, writable_names, writer_for_path};
use crate::io::{AtomicFile, FileSink, WriteAt, commit_together};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// How to convert.
#[derive(Debug, Clone, Default)]
pub struct ConvertOptions {
    /// Output format (`-O`); else taken from the output's extension.
    pub format: Option<String>,
    /// Input format (`-f`); else probed.
    pub input_format: Option<String>,
    /// `-o key=value` items.
    pub options: Vec<String>,
    /// Compress (`-c`).
    pub compress: bool,
    /// Worker threads (default: the number of cores).
    pub threads: Option<usize>,
    /// Replace an output that exists (else that is an error).
    pub replace: bool,
    /// The password of an encrypted input.
    pub password: Option<Password>,
    /// Encrypt the output (DMG only): `encrcdsa` v2 around the image.
    pub encrypt: Option<EncryptOptions>,
}

/// What a conversion did.
#[derive(Debug, Clone, Serialize)]
pub struct ConvertSummary {
    /// Input format.
    pub input_format: &'static str,
    /// Output format.
    pub output_format: &'static str,
    /// Virtual size in bytes.
    pub virtual_size: u64,
    /// Size of the output file.
    pub output_size: u64,
    /// Pipeline counters.
    pub stats: PipelineStats,
}

/// The writable format for `output`: `format` when named, else by extension.
pub fn output_format(output: &Path, format: Option<&str>) -> Result<&'static FormatDescriptor> {
    let d = match format {
        Some(name) => {
            by_name(name).ok_or_else(|| Error::invalid_input(format!("unknown format '{name}'")))?
        }
        None => writer_for_path(output).ok_or_else(|| {
            Error::invalid_input(format!(
                "cannot tell the output format from the name '{}': name one with -O ({})",
                output.display(),
                writable_names().join(", ")
            ))
        })?,
    };
    if d.create.is_none() {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "diskimg cannot write {} images (writable: {})",
                d.name,
                writable_names().join(", ")
            ),
        ));
    }
    Ok(d)
}

/// Worker threads by default: the cores available.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// An output being written: its temporary file and the sink over it, and the companion files
/// of formats made of several (a VMDK descriptor's extents), all committed together.
pub struct Output {
    file: AtomicFile,
    /// The sink writers write to.
    pub sink: Arc<dyn WriteAt>,
    path: PathBuf,
    companions: Arc<OutputCompanions>,
}

/// Companion files of an [`Output`]: each an [`AtomicFile`] beside the main one, replacing a
/// file of that name only when the output may replace. When a new one is made, the earlier
/// ones are given their hidden names and closed (writers finish the files of a set in order),
/// so a set of a thousand extents does not hold a thousand descriptors open.
struct OutputCompanions {
    dir: PathBuf,
    replace: bool,
    files: Mutex<Vec<AtomicFile>>,
}

impl Companions for OutputCompanions {
    fn create(&self, name: &str) -> Result<Arc<dyn WriteAt>> {
        if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
            return Err(Error::invalid_input(format!(
                "companion file name '{name}' is not a plain file name"
            )));
        }
        let path = self.dir.join(name);
        let file = AtomicFile::create(&path, self.replace)?;
        let clone = file
            .file()
            .try_clone()
            .map_err(Error::from)
            .in_file(&path)?;
        let sink: Arc<dyn WriteAt> = Arc::new(FileSink::new(clone, &path)?);
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        for f in files.iter_mut() {
            f.release()?;
        }
        files.push(file);
        Ok(sink)
    }
}

impl Output {
    /// Starts writing `path`; an existing file there is replaced when done if `replace`, else
    /// it is an error now.
    pub fn create(path: &Path, replace: bool) -> Result<Self> {
        let file = AtomicFile::create(path, replace)?;
        let clone = file.file().try_clone().map_err(Error::from).in_file(path)?;
        let sink: Arc<dyn WriteAt> = Arc::new(FileSink::new(clone, path)?);
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        Ok(Output {
            file,
            sink,
            path: path.to_path_buf(),
            companions: Arc::new(OutputCompanions {
                dir,
                replace,
                files: Mutex::new(Vec::new()),
            }),
        })
    }

    /// What a writer writes to: the file, its name, and its companions.
    pub fn target(&self) -> WriteTarget {
        WriteTarget {
            sink: self.sink.clone(),
            name: self
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned()),
            companions: Some(self.companions.clone() as Arc<dyn Companions>),
        }
    }

    /// Renames the finished output into place (companions first, the main file last).
    /// Returns the bytes of every file of the output together.
    pub fn commit(self) -> Result<u64> {
        let mut size = self.sink.size();
        drop(self.sink);
        let mut files = std::mem::take(
            &mut *self
                .companions
                .files
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        for f in &files {
            size += f.written_len()?;
        }
        files.push(self.file);
        commit_together(files)?;
        Ok(size)
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// Converts the image `input` into a new image `output`.
pub fn convert(
    input: &Path,
    output: &Path,
    opts: &ConvertOptions,
    progress: &dyn ConvertProgress,
) -> Result<ConvertSummary> {
    if same_file(input, output) {
        return Err(Error::invalid_input("the output is the input").with_file(output));
    }
    if chd::is_chd_output(output, opts.format.as_deref()) {
        return chd::convert_to_chd(input, output, opts, progress);
    }
    let src = open_image_with_password(input, opts.input_format.as_deref(), opts.password.clone())?;
    let desc = output_format(output, opts.format.as_deref())?;
    let options = FormatOptions::parse(&opts.options)?;
    // An output over a backing file (`-o backing_file=`): only what differs from it is written.
    let backing = match options.get("backing_file") {
        Some(name) => Some(open_named_backing(
            output,
            name,
            options.get("backing_fmt"),
        )?),
        None => None,
    };
    let req = CreateRequest {
        size: src.device.size(),
        compress: opts.compress,
        backing: backing.as_ref().map(|b| {
            BackingRef::new(
                options.get("backing_file").unwrap_or_default(),
                Some(options.get("backing_fmt").unwrap_or(b.format).to_owned()),
                Some(b.path.clone()),
            )
        }),
        options,
    };
    let (stats, output_size) = write_device(
        &src.device,
        output,
        opts.replace,
        desc,
        &req,
        backing.as_ref().map(|b| &b.device),
        opts.encrypt.as_ref(),
        opts.threads.unwrap_or_else(default_threads),
        progress,
    )?;
    Ok(ConvertSummary {
        input_format: src.format,
        output_format: desc.name,
        virtual_size: src.device.size(),
        output_size,
        stats,
    })
}

/// Writes `device` as a new image of format `desc` at `output` (atomically), over `backing`
/// when given, encrypted when asked (DMG). Returns the pipeline's counters and the file's size.
#[allow(clippy::too_many_arguments)]
pub fn write_device(
    device: &DeviceRef,
    output: &Path,
    replace: bool,
    desc: &FormatDescriptor,
    req: &CreateRequest,
    backing: Option<&DeviceRef>,
    encrypt: Option<&EncryptOptions>,
    threads: usize,
    progress: &dyn ConvertProgress,
) -> Result<(PipelineStats, u64)> {
    if encrypt.is_some() && desc.name != crate::container::dmg::FORMAT {
        return Err(Error::unsupported(
            desc.name,
            "only DMG outputs can be encrypted (name a .dmg output, or -O dmg)",
        ));
    }
    let out = Output::create(output, replace)?;
    let encrypting = match encrypt {
        Some(e) => Some(Arc::new(EncryptingSink::new(out.sink.clone(), e)?)),
        None => None,
    };
    let writer = match &encrypting {
        Some(sink) => make_writer_into(desc, WriteTarget::single(sink.clone()), req)?,
        None => make_writer(desc, &out, req)?,
    };
    let stats = write_image(device, writer, backing, threads, progress).in_file(output)?;
    if let Some(sink) = encrypting {
        sink.finish().in_file(output)?;
    }
    let size = out.commit()?;
    Ok((stats, size))
}

/// The writer of format `desc` over `out`.
pub fn make_writer(
    desc: &FormatDescriptor,
    out: &Output,
    req: &CreateRequest,
) -> Result<Box<dyn ImageWriter>> {
    make_writer_into(desc, out.target(), req)
}

/// The writer of format `desc` into `target`.
pub fn make_writer_into(
    desc: &FormatDescriptor,
    target: WriteTarget,
    req: &CreateRequest,
) -> Result<Box<dyn ImageWriter>> {
    let hook = desc.create.ok_or_else(|| {
        Error::new(
            ErrorKind::Unsupported,
            format!("diskimg cannot write {} images", desc.name),
        )
    })?;
    if req.backing.is_some() && !hook.backing {
        return Err(Error::unsupported(
            desc.name,
            "this format has no backing files",
        ));
    }
    (hook.create)(target, req)
}

/// Opens the backing file `name` as an overlay at `overlay` would record it.
fn open_named_backing(overlay: &Path, name: &str, format: Option<&str>) -> Result<OpenedImage> {
    let ctx = OpenContext {
        path: Some(overlay.to_path_buf()),
        ..OpenContext::default()
    };
    let path = resolve_backing_name(&ctx, name)
        .ok_or_else(|| Error::not_found(format!("backing file '{name}'")))?;
    open_image(&path, format).map_err(|e| {
        Error::new(
            e.kind(),
            format!(
                "backing file '{name}' (relative to the new image's folder): {}",
                e.message()
            ),
        )
        .with_file(&path)
    })
}

/// The name an overlay at `overlay` should record for a backing file the user named `given`
/// (relative to the current folder): unchanged if it already resolves from the overlay's
/// folder, else relative to that folder, else absolute.
pub fn backing_name_for(overlay: &Path, given: &Path) -> Result<String> {
    let ctx = OpenContext {
        path: Some(overlay.to_path_buf()),
        ..OpenContext::default()
    };
    let text = given.to_string_lossy().into_owned();
    if resolve_backing_name(&ctx, &text).is_some_and(|p| same_file(&p, given)) {
        return Ok(text);
    }
    let target = given.canonicalize().map_err(Error::from).in_file(given)?;
    let dir = overlay
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
        .canonicalize()
        .map_err(Error::from)
        .in_file(overlay)?;
    Ok(relative(&dir, &target)
        .unwrap_or(target)
        .to_string_lossy()
        .into_owned())
}

/// `target` relative to the folder `dir` (both canonical).
fn relative(dir: &Path, target: &Path) -> Option<PathBuf> {
    let d: Vec<_> = dir.components().collect();
    let t: Vec<_> = target.components().collect();
    let common = d.iter().zip(&t).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return None;
    }
    let mut out = PathBuf::new();
    for _ in common..d.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c);
    }
    Some(out)
}

/// What to create.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// Virtual size; default: the backing file's.
    pub size: Option<u64>,
    /// Format; else by the output's extension.
    pub format: Option<String>,
    /// `-o key=value` items.
    pub options: Vec<String>,
    /// Backing file, as a path from the current folder.
    pub backing: Option<PathBuf>,
    /// Backing file format; else probed.
    pub backing_format: Option<String>,
    /// Replace an image that exists (else that is an error).
    pub replace: bool,
}

/// What `create` made.
#[derive(Debug, Clone, Serialize)]
pub struct CreateSummary {
    /// Format.
    pub format: &'static str,
    /// Virtual size.
    pub virtual_size: u64,
    /// Backing file as recorded.
    pub backing: Option<String>,
    /// Size of the new file.
    pub file_size: u64,
}

/// Creates a blank image, or an empty overlay of a backing file.
pub fn create_image(output: &Path, opts: &CreateOptions) -> Result<CreateSummary> {
    let desc = output_format(output, opts.format.as_deref())?;
    let backing = match &opts.backing {
        Some(path) => {
            let opened = open_image(path, opts.backing_format.as_deref())?;
            Some((
                BackingRef::new(
                    backing_name_for(output, path)?,
                    Some(opened.format.to_owned()),
                    Some(path.clone()),
                ),
                opened.device.size(),
            ))
        }
        None => None,
    };
    let size = opts
        .size
        .or(backing.as_ref().map(|b| b.1))
        .ok_or_else(|| Error::invalid_input("give a size (--size), or a backing file"))?;
    let req = CreateRequest {
        size,
        compress: false,
        backing: backing.as_ref().map(|b| b.0.clone()),
        options: FormatOptions::parse(&opts.options)?,
    };
    let out = Output::create(output, opts.replace)?;
    let writer = make_writer(desc, &out, &req)?;
    writer.finish().in_file(output)?;
    let file_size = out.commit()?;
    Ok(CreateSummary {
        format: desc.name,
        virtual_size: size,
        backing: req.backing.map(|b| b.name),
        file_size,
    })
}

/// Writes an empty image of format `desc` at `path`: `size` guest bytes, over `backing` when
/// given (an empty overlay shows its backing file).
pub fn write_empty(
    path: &Path,
    desc: &FormatDescriptor,
    size: u64,
    options: FormatOptions,
    backing: Option<BackingRef>,
) -> Result<()> {
    let req = CreateRequest {
        size,
        compress: false,
        backing,
        options,
    };
    let out = Output::create(path, true)?;
    let writer = make_writer(desc, &out, &req)?;
    writer.finish().in_file(path)?;
    out.commit()?;
    Ok(())
}

/// Writes `device` as a new image of format `desc` at `path`, an overlay of `backing` (whose
/// guest device is `backing_device`) when given. Used by `commit` and `rebase`.
pub fn rewrite(
    path: &Path,
    desc: &FormatDescriptor,
    device: &DeviceRef,
    options: FormatOptions,
    backing: Option<(BackingRef, DeviceRef)>,
    progress: &dyn ConvertProgress,
) -> Result<PipelineStats> {
    let req = CreateRequest {
        size: device.size(),
        compress: false,
        backing: backing.as_ref().map(|b| b.0.clone()),
        options,
    };
    let out = Output::create(path, true)?;
    let writer = make_writer(desc, &out, &req)?;
    let stats = write_image(
        device,
        writer,
        backing.as_ref().map(|b| &b.1),
        default_threads(),
        progress,
    )
    .in_file(path)?;
    out.commit()?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative(Path::new("/a/b"), Path::new("/a/c/d.img")),
            Some(PathBuf::from("../c/d.img"))
        );
        assert_eq!(
            relative(Path::new("/a"), Path::new("/a/x.img")),
            Some(PathBuf::from("x.img"))
        );
    }
}
