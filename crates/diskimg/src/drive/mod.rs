//! L5: drives. Writing an image to a USB stick or disk and proving it arrived, copying a
//! drive into an image, and telling which drives may be written at all (Linux).
//!
//! ```text
//!   sysfs.rs     drives, their mounts, holders and the system disk; the refusal rules
//!   target.rs    O_EXCL/O_DIRECT I/O, BLKZEROOUT, reads past the page cache
//!   write.rs     image -> drive: only data is written, zeros are zeroed, then read back
//!   image.rs     drive -> image of any writable format (the convert pipeline), --used-only
//!   careful.rs   the drive as a block device: retries, zero-filled bad sectors, free = unallocated
//!   mapfile.rs   the ddrescue-format map of a drive copy
//! ```

mod careful;
mod image;
pub mod mapfile;
mod sysfs;
mod target;
mod write;

pub use image::{ImageOptions, ImageReport, image_drive};
pub use sysfs::{Drive, block_numbers, check_target, list_drives};
pub use target::{ALIGN, AlignedBuf, ReadBack, Target};
pub use write::{CHUNK, WriteOptions, WriteProgress, WriteReport, write_image};
