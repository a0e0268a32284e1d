//! L5: images mounted read-only with FUSE (feature `fuse`), and unmounting.

mod unmount;

pub use unmount::unmount;
