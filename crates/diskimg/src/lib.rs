//! diskimg: disk images of every kind, opened through every layer.
//!
//! ```text
//! L5 front-ends   the diskimg CLI (crate diskimg-cli), FUSE      (mount, nbd, drive,
//!                 mounts, the NBD server, drives; writable      overlay)
//!                 devices for front-ends that take writes
//! L4 ops          info reports, listing, extraction, digests,  (ops)
//!                 integrity checks
//! L3 fs           ISO 9660 + Joliet + Rock Ridge + El Torito,  (fs)
//!                 NTFS, HFS+/HFSX, UDF
//! L2 partition    MBR (+ extended), GPT, Apple partition map   (partition)
//! L1b optical     disc images: CUE/BIN, TOC, NRG, MDS, CCD,    (optical)
//!                 CDI, GDI -> sessions, tracks, sectors
//! L1 container    VHD, VHDX, VDI, VMDK, qcow2 decode to a      (container, device)
//!                 BlockDevice
//! L0 io           positioned reads: file, memory, slice, cache (io)
//! ```
//!
//! Each layer depends only on the layers below it. The bottom trait is
//! [`ReadAt`](io::ReadAt): positioned reads on `&self`, no shared cursor, so every layer can
//! be read from many threads at once. Formats register as data in [`format`]; [`Image::open`]
//! probes a file and every device found inside it.
//!
//! ```no_run
//! use diskimg::{Image, Selection, fs::FileSystemExt};
//! let image = Image::open("photos.iso")?;
//! let fs = image.select(&Selection::default())?;
//! let node = fs.resolve("/Fotos/a.jpg")?;
//! let mut buf = vec![0; 4096];
//! let n = fs.read_at(node, 0, &mut buf)?;
//! # Ok::<(), diskimg::Error>(())
//! ```

#![forbid(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod build;
pub mod container;
pub mod device;
#[cfg(target_os = "linux")]
pub mod drive;
pub mod error;
pub mod format;
pub mod fs;
pub mod image;
pub mod io;
pub mod mount;
pub mod nbd;
pub mod ops;
pub mod optical;
pub mod overlay;
pub mod partition;
pub mod time;

pub use error::{Error, ErrorKind, Result};
pub use image::{Image, Layer, Selection};
