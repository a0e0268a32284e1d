//! L4: operations that commands are made of, offered as library functions so that the CLI
//! holds no format logic: the `info` report, directory listings, file copies and extraction, digests (`hash`) and integrity checks (`verify`).

pub mod create;
pub mod exercise;
pub mod extract;
pub mod hash;
pub mod info;
pub mod list;
pub mod verify;
