//! L1b: optical disc images (CD, DVD) as a disc model of sessions and tracks.
//!
//! A disc image is a descriptor (cue sheet, NRG footer, MDS file, ...) and data files whose
//! sectors it places on the disc. Each format parser builds a [`Disc`](disc::Disc): sessions,
//! tracks with their modes, pregaps, indexes, flags, ISRC and CD-TEXT, and for every sector
//! where its bytes are stored ([`disc::Run`]). On the model:
//!
//! - [`view::UserDataView`]: the 2048-byte user data of the disc as a block device, which
//!   the ISO 9660 and UDF readers open unchanged;
//! - raw 2352-byte sectors ([`Disc::read_raw`](disc::Disc::read_raw)), built with sync,
//!   header, EDC and ECC where a format stores only user data ([`sector`]), and 96-byte
//!   subchannel ([`Disc::read_sub`](disc::Disc::read_sub)), generated where none is stored;
//! - conversion between formats ([`convert`]), verification of EDC/ECC ([`verify`]), audio
//!   tracks as WAV ([`audio`]).
//!
//! ```text
//!   game.cue ──cue::open──> Disc { sessions, tracks, runs } ──UserDataView──> ISO 9660
//!                                   │                        └─read_raw/read_sub──> convert, verify
//!                                   └─ data files (game.bin)
//! ```

pub mod audio;
pub mod ccd;
pub mod cdi;
pub mod cdtext;
pub mod convert;
pub mod cue;
pub mod disc;
pub mod files;
pub mod formats;
pub mod gdi;
pub mod mds;
pub mod msf;
pub mod nrg;
pub mod raw;
pub mod sector;
pub mod subchannel;
pub mod toc;
pub mod verify;
pub mod view;

pub use disc::{Disc, Track, TrackMode};
pub use view::UserDataView;
