//! L4: operations that commands are made of, offered as library functions so that the CLI
//! holds no format logic: the `info` report, directory listings, file copies and extraction;
//! image conversion and creation, overlays (commit, rebase), compare, map and check; digests
//! (`hash`) and integrity checks (`verify`).

pub mod check;
pub mod compare;
pub mod convert;
pub mod create;
pub mod exercise;
pub mod extract;
pub mod hash;
pub mod info;
pub mod list;
pub mod map;
pub mod optical;
pub mod overlay;
pub mod remaster;
pub mod verify;
