//! `create dmg`: a tree as an Apple disk image. The file system (ISO 9660 with Rock Ridge and
//! Joliet, which macOS mounts read-only) is laid out in a temporary file beside the output, then
//! compressed chunk by chunk (and encrypted when asked) into a UDIF image.

use super::CreateReport;
use crate::build::iso::{self, IsoOptions, IsoProgress};
use crate::build::tree::{FileTree, Kind, ROOT};
use crate::container::dmg::crypt::EncryptOptions;
use crate::container::write::{CreateRequest, FormatOptions};
use crate::device::DeviceRef;
use crate::error::{Error, Result};
use crate::io::{AtomicFile, FileSource};
use crate::ops::convert::{NoProgress, default_threads, write_device};
use std::path::Path;
use std::sync::Arc;

/// How to write a DMG of a tree.
#[derive(Debug, Clone, Default)]
pub struct DmgOptions {
    /// The file system inside (an ISO 9660 image with Rock Ridge and Joliet).
    pub iso: IsoOptions,
    /// `-o` options of the DMG writer (`compression=...`).
    pub options: Vec<String>,
    /// Encrypt the image.
    pub encrypt: Option<EncryptOptions>,
    /// Worker threads (default: the cores).
    pub threads: Option<usize>,
}

/// Writes `tree` as a DMG at `output` (atomically): the file system (ISO 9660 with Rock Ridge
/// and Joliet, which macOS mounts) laid out in a temporary file beside the output, then
/// compressed chunk by chunk into the DMG.
pub fn write_dmg_file(
    tree: &FileTree,
    opts: DmgOptions,
    output: &Path,
    replace: bool,
    progress: &dyn IsoProgress,
) -> Result<CreateReport> {
    if !replace && output.exists() {
        return Err(Error::new(
            crate::ErrorKind::AlreadyExists,
            "the output exists (use --overwrite to replace it)",
        )
        .with_file(output));
    }
    let plan = iso::plan(tree, opts.iso)?;
    let dir = output
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    // Never committed: the temporary file goes away when this returns.
    let scratch = AtomicFile::create(dir.join(".diskimg-dmg-contents.iso"), true)?;
    iso::write_iso(&plan, scratch.file(), progress).map_err(|e| e.with_file(output))?;
    let file = scratch
        .file()
        .try_clone()
        .map_err(Error::from)
        .map_err(|e| e.with_file(output))?;
    let device: DeviceRef = Arc::new(FileSource::from_file(file, output)?);
    let desc = &crate::container::dmg::DESCRIPTOR;
    let req = CreateRequest {
        size: device.size(),
        compress: true,
        backing: None,
        options: FormatOptions::parse(&opts.options)?,
    };
    let (_, size) = write_device(
        &device,
        output,
        replace,
        desc,
        &req,
        None,
        opts.encrypt.as_ref(),
        opts.threads.unwrap_or_else(default_threads),
        &NoProgress,
    )?;
    drop(scratch);
    let (mut files, mut directories) = (0, 0);
    for i in 0..tree.len() {
        match tree.node(i).kind {
            Kind::File { .. } => files += 1,
            Kind::Dir(_) if i != ROOT => directories += 1,
            _ => {}
        }
    }
    Ok(CreateReport {
        output: output.to_path_buf(),
        size,
        files,
        directories,
        data: tree.data_size(),
        warnings: Vec::new(),
    })
}
