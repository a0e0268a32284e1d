//! L4: operations that commands are made of, offered as library functions so that the CLI
//! holds no format logic: the `info` report, directory listings, file copies and extraction.

pub mod exercise;
pub mod extract;
pub mod info;
pub mod list;
pub mod optical;
pub mod verify;
