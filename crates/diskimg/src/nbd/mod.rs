//! L5: an NBD server (NetworkBlockDevice/nbd `doc/proto.md`): any device the library opens,
//! served to qemu, nbd-client, nbdkit's and libnbd's tools over TCP.
//!
//! ```text
//!   NbdServer (server.rs)      TCP listener, one thread per client, shutdown
//!     └─ run_session           handshake.rs: fixed newstyle, option haggling
//!          └─ serve            transmission.rs: requests and (structured) replies
//!   Export (export.rs)         a name, a device, and where writes go (crate::overlay)
//!   proto.rs                   the protocol's numbers and message layouts
//! ```
//!
//! Supported: fixed newstyle handshake, `NBD_OPT_GO`/`INFO`/`LIST`/`ABORT`/`EXPORT_NAME`/
//! `STRUCTURED_REPLY`/`LIST_META_CONTEXT`/`SET_META_CONTEXT` (`base:allocation`), block-size
//! information (minimum 1, preferred the sector size or 4096, maximum 32 MiB), reads with
//! holes, writes, flush, FUA, trim, write-zeroes, block status, several clients at once.
//! Not supported: TLS (`NBD_OPT_STARTTLS` is refused), extended headers, resize, cache hints,
//! the old-style handshake.

mod export;
pub mod handshake;
pub mod proto;
mod server;
pub mod transmission;

pub use export::{Export, MAX_PAYLOAD};
pub use server::{MAX_CLIENTS, NbdServer, ServerEvents, ShutdownHandle, run_session};
pub use transmission::End;
