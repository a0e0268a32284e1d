//! Opening an image file as the device a guest sees, and backing files.
//!
//! [`open_image`] probes a host file against the container formats (or opens the format it is
//! told) and returns the outermost container's guest device: what `convert`, `compare`, `map`,
//! `commit` and `rebase` work on. A file that no container recognises is raw: its bytes are
//! the device.
//!
//! [`open_backing`] opens a backing file recorded by name and format (qcow2), by the one chain
//! policy of [`super::chain`] (lookup, [`MAX_BACKING_CHAIN`], loops); differencing VHD, VHDX,
//! VDI and VMDK images find their parents by identity through the same module.

pub use super::chain::MAX_BACKING_CHAIN;
use super::chain::{Lookup, candidates, enter};
use super::password::Password;
use super::{BackingInfo, ChainEntry, Container, OpenContext};
use crate::device::DeviceRef;
use crate::error::{Error, ErrorKind, Result, ResultExt};
use crate::format::{Confidence, FormatDescriptor, HEAD_LEN, Opener, ProbeInput, by_name, formats};
use crate::io::{FileSource, ReadAt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// An image file opened down to its guest device.
pub struct OpenedImage {
    /// The host file.
    pub path: PathBuf,
    /// The format (`raw` when no container matched).
    pub format: &'static str,
    /// The host file's bytes.
    pub file: DeviceRef,
    /// The container, unless raw.
    pub container: Option<Box<dyn Container>>,
    /// The guest device (the file itself for raw).
    pub device: DeviceRef,
}

impl OpenedImage {
    /// The backing file of the image, if it has one.
    pub fn backing(&self) -> Option<&BackingInfo> {
        self.container.as_ref().and_then(|c| c.backing())
    }

    /// The format's descriptor.
    pub fn descriptor(&self) -> Option<&'static FormatDescriptor> {
        by_name(self.format)
    }
}

/// Opens `path` as a guest device: as `format` when given, else as the container format its
/// content matches best, else raw.
pub fn open_image(path: &Path, format: Option<&str>) -> Result<OpenedImage> {
    open_with(path, format, &OpenContext::default())
}

/// [`open_image`] for an image that may be encrypted: `password` unlocks it.
pub fn open_image_with_password(
    path: &Path,
    format: Option<&str>,
    password: Option<Password>,
) -> Result<OpenedImage> {
    let ctx = OpenContext {
        password,
        ..OpenContext::default()
    };
    open_with(path, format, &ctx)
}

fn open_with(path: &Path, format: Option<&str>, parent: &OpenContext) -> Result<OpenedImage> {
    if super::dmg::bundle::is_bundle(path) {
        let bundle = super::dmg::bundle::SparseBundle::open(path).in_file(path)?;
        let device = bundle.device();
        return Ok(OpenedImage {
            path: path.to_path_buf(),
            format: super::dmg::bundle::FORMAT,
            file: device.clone(),
            container: Some(Box::new(bundle)),
            device,
        });
    }
    let src = FileSource::open(path)?;
    let file: DeviceRef = Arc::new(src);
    let mut overlays = parent.overlays.clone();
    if let Ok(c) = path.canonicalize() {
        overlays.push(c);
    }
    let ctx = OpenContext {
        path: Some(path.to_path_buf()),
        depth: parent.depth,
        overlays,
        password: parent.password.clone(),
    };
    let descriptor = match format {
        Some(name) => Some(by_name(name).ok_or_else(|| {
            Error::invalid_input(format!("unknown format '{name}'")).with_file(path)
        })?),
        None => probe_container(&file).in_file(path)?,
    };
    let (format, container) = match descriptor {
        None => ("raw", None),
        Some(d) => match d.opener {
            Opener::Container(open) => {
                let c = open(file.clone(), &ctx).in_file(path)?;
                unwrap_encryption(d.name, c, &ctx).in_file(path)?
            }
            _ => {
                return Err(
                    Error::invalid_input(format!("{} is not a disk image format", d.name))
                        .with_file(path),
                );
            }
        },
    };
    let device = container
        .as_ref()
        .map_or_else(|| file.clone(), |c| c.device());
    Ok(OpenedImage {
        path: path.to_path_buf(),
        format,
        file,
        container,
        device,
    })
}

/// An encrypted image's device is the image inside (a DMG): that image is what a guest sees.
fn unwrap_encryption(
    name: &'static str,
    c: Box<dyn Container>,
    ctx: &OpenContext,
) -> Result<(&'static str, Option<Box<dyn Container>>)> {
    if name != super::dmg::crypt::FORMAT {
        return Ok((name, Some(c)));
    }
    let inner = c.device();
    match probe_container(&inner)? {
        Some(d) => match d.opener {
            Opener::Container(open) => Ok((d.name, Some(open(inner, ctx)?))),
            _ => Ok((name, Some(c))),
        },
        None => Ok((name, Some(c))),
    }
}

/// The container format that matches `device` best, if any.
pub fn probe_container(device: &DeviceRef) -> Result<Option<&'static FormatDescriptor>> {
    let len = HEAD_LEN.min(usize::try_from(device.size()).unwrap_or(HEAD_LEN));
    let mut head = vec![0u8; len];
    device.read_exact_at(0, &mut head)?;
    let input = ProbeInput {
        head: &head,
        device: device.as_ref(),
    };
    let mut best: Option<(Confidence, &'static FormatDescriptor)> = None;
    for d in formats() {
        if !matches!(d.opener, Opener::Container(_)) {
            continue;
        }
        let c = (d.probe)(&input);
        if c.matched() && best.is_none_or(|(b, _)| c > b) {
            best = Some((c, *d));
        }
    }
    Ok(best.map(|(_, d)| d))
}

/// Resolves a backing name recorded in the overlay opened with `ctx`: absolute names as they
/// are, relative names against the overlay's folder ([`Lookup::Exact`]).
pub fn resolve_backing_name(ctx: &OpenContext, name: &str) -> Option<PathBuf> {
    candidates(ctx, name, Lookup::Exact).into_iter().next()
}

/// Opens the backing file `name` (format `format` if recorded) of the overlay opened with
/// `ctx`, by the policy of [`super::chain`]. Never fails: a backing file that cannot be
/// opened is described in [`BackingInfo::error`] and has no device, so that `info` still
/// describes the overlay; reading the overlay where it falls through to the missing backing
/// file is the error.
pub fn open_backing(ctx: &OpenContext, name: &str, format: Option<&str>) -> BackingInfo {
    let mut info = BackingInfo {
        name: name.to_owned(),
        recorded_format: format.map(str::to_owned),
        path: None,
        format: None,
        device: None,
        chain: Vec::new(),
        error: None,
    };
    if let Err(e) = try_open_backing(ctx, name, format, &mut info) {
        info.error = Some(e.to_string());
    }
    info
}

fn try_open_backing(
    ctx: &OpenContext,
    name: &str,
    format: Option<&str>,
    info: &mut BackingInfo,
) -> Result<()> {
    let path = resolve_backing_name(ctx, name).ok_or_else(|| {
        Error::new(
            ErrorKind::NotFound,
            format!("backing file '{name}' cannot be located: the overlay has no host path"),
        )
    })?;
    info.path = Some(path.clone());
    path.canonicalize()
        .map_err(Error::from)
        .in_file(&path)
        .map_err(|e| {
            Error::new(
                e.kind(),
                format!("backing file '{name}' not found: {}", e.message()),
            )
        })?;
    let parent = enter(ctx, &path)?;
    let format = match format {
        Some(f) if by_name(f).is_none() && !f.eq_ignore_ascii_case("raw") => {
            return Err(Error::unsupported(
                "backing file",
                format!("backing format '{f}' is not supported"),
            ));
        }
        f => f,
    };
    let opened = open_with(&path, format, &parent)?;
    info.format = Some(opened.format);
    info.chain.push(ChainEntry {
        path: path.display().to_string(),
        format: opened.format,
        virtual_size: opened.device.size(),
    });
    if let Some(b) = opened.backing() {
        if let Some(e) = &b.error {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("in the chain below {}: {e}", path.display()),
            ));
        }
        info.chain.extend(b.chain.iter().cloned());
    }
    info.device = Some(opened.device);
    Ok(())
}
