//! L4 build: one file-tree model, deterministic layout planners, and image writers.
//!
//! A [`tree::FileTree`] is gathered from host folders (with exclusions, grafts and a symlink
//! policy) or from an existing image; writers lay it out deterministically and stream the image
//! out in one pass, in order, through an [`AtomicFile`](crate::io::AtomicFile).

pub mod fat;
pub mod glob;
pub mod image_tree;
pub mod iso;
pub mod source;
pub mod span;
pub mod tree;
pub mod udf;
