//! The transmission phase (proto.md, "Transmission"): requests in, simple or structured
//! replies out, one request at a time per connection.
//!
//! Commands: `NBD_CMD_READ` (structured reads send holes as `NBD_REPLY_TYPE_OFFSET_HOLE`
//! unless the client set `NBD_CMD_FLAG_DF`), `NBD_CMD_WRITE` (with `FUA`), `NBD_CMD_FLUSH`,
//! `NBD_CMD_TRIM`, `NBD_CMD_WRITE_ZEROES`, `NBD_CMD_BLOCK_STATUS` (`base:allocation` from
//! [`BlockDevice::extents`](crate::device::BlockDevice::extents), `REQ_ONE` honoured) and
//! `NBD_CMD_DISC`. A write's payload is read whole before anything is written, so a client
//! that disconnects in the middle of a request changes nothing. Library errors become NBD
//! errors through [`Error::errno`](crate::Error::errno).

use super::export::{Export, MAX_PAYLOAD};
use super::handshake::Negotiated;
use super::proto::*;
use crate::device::ExtentKind;
use crate::error::Error;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Most block-status descriptors in one reply.
pub const MAX_DESCRIPTORS: usize = 64 * 1024;
/// Largest descriptor length (a multiple of 512 that fits in 32 bits).
const MAX_DESCRIPTOR_LEN: u64 = 0xFFFF_FE00;

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The client sent `NBD_CMD_DISC`.
    Disconnect,
    /// The connection closed (between or in the middle of requests).
    Closed,
    /// The server is shutting down.
    Shutdown,
}

/// Serves requests on `s` until the client leaves or `stop` is set.
pub fn serve<S: Read + Write>(
    s: &mut S,
    export: &Export,
    n: Negotiated,
    stop: &AtomicBool,
) -> io::Result<End> {
    let mut header = [0u8; 28];
    loop {
        if stop.load(Ordering::Acquire) {
            return Ok(End::Shutdown);
        }
        match s.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if is_gone(&e) => {
                return Ok(if stop.load(Ordering::Acquire) {
                    End::Shutdown
                } else {
                    End::Closed
                });
            }
            Err(e) => return Err(e),
        }
        let Some(req) = Request::parse(&header) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request without the request magic",
            ));
        };
        match handle(s, export, n, &req) {
            Ok(Some(end)) => return Ok(end),
            Ok(None) => {}
            Err(e) if is_gone(&e) => return Ok(End::Closed),
            Err(e) => return Err(e),
        }
        s.flush()?;
    }
}

fn is_gone(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::NotConnected
    )
}

/// The NBD errno of a library error.
fn errno(e: &Error) -> u32 {
    wire_errno(e.errno())
}

fn handle<S: Read + Write>(
    s: &mut S,
    export: &Export,
    n: Negotiated,
    req: &Request,
) -> io::Result<Option<End>> {
    let size = export.size();
    let known = NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_DF | NBD_CMD_FLAG_REQ_ONE;
    let in_range = req
        .offset
        .checked_add(u64::from(req.length))
        .is_some_and(|end| end <= size);
    if req.kind == NBD_CMD_WRITE {
        // The payload follows whatever the verdict: read it (or skip it) first.
        if req.length > MAX_PAYLOAD {
            io::copy(
                &mut Read::by_ref(s).take(u64::from(req.length)),
                &mut io::sink(),
            )?;
            return reply_error(s, n, req.cookie, NBD_EOVERFLOW, "write too large").map(|()| None);
        }
        let mut data = vec![0u8; req.length as usize];
        s.read_exact(&mut data)?;
        let result = match &export.writable {
            None => Err(NBD_EPERM),
            Some(_) if req.flags & !known != 0 => Err(NBD_EINVAL),
            Some(_) if !in_range => Err(NBD_ENOSPC),
            Some(w) => w
                .write_at(req.offset, &data)
                .and_then(|()| {
                    if req.flags & NBD_CMD_FLAG_FUA != 0 {
                        w.flush()
                    } else {
                        Ok(())
                    }
                })
                .map_err(|e| errno(&e)),
        };
        return finish(s, n, req.cookie, result).map(|()| None);
    }
    if req.flags & !known != 0 {
        return reply_error(s, n, req.cookie, NBD_EINVAL, "unknown command flags").map(|()| None);
    }
    match req.kind {
        NBD_CMD_READ => {
            if req.length > MAX_PAYLOAD {
                return reply_error(s, n, req.cookie, NBD_EOVERFLOW, "read too large")
                    .map(|()| None);
            }
            if !in_range {
                return reply_error(s, n, req.cookie, NBD_EINVAL, "read past the end")
                    .map(|()| None);
            }
            read(s, export, n, req).map(|()| None)
        }
        NBD_CMD_DISC => {
            if let Some(w) = &export.writable {
                // Nobody is left to hear about a failure; the server's final flush retries.
                let _ = w.flush();
            }
            Ok(Some(End::Disconnect))
        }
        NBD_CMD_FLUSH => {
            let r = match &export.writable {
                Some(w) => w.flush().map_err(|e| errno(&e)),
                None => Ok(()),
            };
            finish(s, n, req.cookie, r).map(|()| None)
        }
        NBD_CMD_TRIM | NBD_CMD_WRITE_ZEROES => {
            let r = match &export.writable {
                None => Err(NBD_EPERM),
                Some(_) if !in_range => Err(NBD_ENOSPC),
                Some(w) => {
                    let len = u64::from(req.length);
                    let done = if req.kind == NBD_CMD_TRIM {
                        w.discard(req.offset, len)
                    } else {
                        w.write_zeroes(req.offset, len)
                    };
                    done.and_then(|()| {
                        if req.flags & NBD_CMD_FLAG_FUA != 0 {
                            w.flush()
                        } else {
                            Ok(())
                        }
                    })
                    .map_err(|e| errno(&e))
                }
            };
            finish(s, n, req.cookie, r).map(|()| None)
        }
        NBD_CMD_BLOCK_STATUS => {
            if !n.base_allocation {
                return reply_error(s, n, req.cookie, NBD_EINVAL, "no metadata context selected")
                    .map(|()| None);
            }
            if !in_range || req.length == 0 {
                return reply_error(s, n, req.cookie, NBD_EINVAL, "range outside the export")
                    .map(|()| None);
            }
            block_status(s, export, req).map(|()| None)
        }
        _ => reply_error(s, n, req.cookie, NBD_EINVAL, "unknown command").map(|()| None),
    }
}

/// Replies success or an error, simple or structured.
fn finish<W: Write>(s: &mut W, n: Negotiated, cookie: u64, r: Result<(), u32>) -> io::Result<()> {
    match r {
        Ok(()) if n.structured => s.write_all(&chunk_header(
            NBD_REPLY_FLAG_DONE,
            NBD_REPLY_TYPE_NONE,
            cookie,
            0,
        )),
        Ok(()) => s.write_all(&simple_reply(0, cookie)),
        Err(e) => reply_error(s, n, cookie, e, ""),
    }
}

fn reply_error<W: Write>(
    s: &mut W,
    n: Negotiated,
    cookie: u64,
    error: u32,
    message: &str,
) -> io::Result<()> {
    if !n.structured {
        return s.write_all(&simple_reply(error, cookie));
    }
    let msg = &message.as_bytes()[..message.len().min(4096)];
    let mut b = chunk_header(
        NBD_REPLY_FLAG_DONE,
        NBD_REPLY_TYPE_ERROR,
        cookie,
        6 + msg.len() as u32,
    )
    .to_vec();
    b.extend_from_slice(&error.to_be_bytes());
    b.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    b.extend_from_slice(msg);
    s.write_all(&b)
}

fn read<W: Write>(s: &mut W, export: &Export, n: Negotiated, req: &Request) -> io::Result<()> {
    let len = req.length as usize;
    if !n.structured {
        // The error must come before any data: read everything first.
        let mut b = vec![0u8; 16 + len];
        return match export.device.read_exact_at(req.offset, &mut b[16..]) {
            Ok(()) => {
                b[..16].copy_from_slice(&simple_reply(0, req.cookie));
                s.write_all(&b)
            }
            Err(e) => s.write_all(&simple_reply(errno(&e), req.cookie)),
        };
    }
    // Structured: data runs as OFFSET_DATA, known zeros as OFFSET_HOLE (unless DF asks for
    // one chunk), then a final NONE chunk that says DONE.
    let runs = if len == 0 {
        Vec::new()
    } else if req.flags & NBD_CMD_FLAG_DF != 0 {
        vec![(req.offset, u64::from(req.length), true)]
    } else {
        match export.device.extents(req.offset, u64::from(req.length)) {
            Ok(ext) => ext
                .into_iter()
                .map(|e| (e.offset, e.len, e.kind == ExtentKind::Data))
                .collect(),
            Err(e) => return reply_error(s, n, req.cookie, errno(&e), &e.to_string()),
        }
    };
    for (offset, len, data) in runs {
        if data {
            let mut b = vec![0u8; 28 + len as usize];
            if let Err(e) = export.device.read_exact_at(offset, &mut b[28..]) {
                return reply_error(s, n, req.cookie, errno(&e), &e.to_string());
            }
            b[..20].copy_from_slice(&chunk_header(
                0,
                NBD_REPLY_TYPE_OFFSET_DATA,
                req.cookie,
                8 + len as u32,
            ));
            b[20..28].copy_from_slice(&offset.to_be_bytes());
            s.write_all(&b)?;
        } else {
            let mut b = chunk_header(0, NBD_REPLY_TYPE_OFFSET_HOLE, req.cookie, 12).to_vec();
            b.extend_from_slice(&offset.to_be_bytes());
            b.extend_from_slice(&(len as u32).to_be_bytes());
            s.write_all(&b)?;
        }
    }
    finish(s, n, req.cookie, Ok(()))
}

fn block_status<W: Write>(s: &mut W, export: &Export, req: &Request) -> io::Result<()> {
    let n = Negotiated {
        export: 0,
        structured: true,
        base_allocation: true,
    };
    let extents = match export.device.extents(req.offset, u64::from(req.length)) {
        Ok(e) => e,
        Err(e) => return reply_error(s, n, req.cookie, errno(&e), &e.to_string()),
    };
    let one = req.flags & NBD_CMD_FLAG_REQ_ONE != 0;
    let mut desc: Vec<u8> = BASE_ALLOCATION_ID.to_be_bytes().to_vec();
    let mut count = 0;
    'outer: for e in extents {
        let flags = match e.kind {
            ExtentKind::Data => 0,
            ExtentKind::Zero | ExtentKind::Unallocated => NBD_STATE_HOLE | NBD_STATE_ZERO,
        };
        let mut left = e.len;
        while left > 0 {
            let piece = left.min(MAX_DESCRIPTOR_LEN);
            desc.extend_from_slice(&(piece as u32).to_be_bytes());
            desc.extend_from_slice(&flags.to_be_bytes());
            count += 1;
            left -= piece;
            if one || count >= MAX_DESCRIPTORS {
                break 'outer;
            }
        }
    }
    if count == 0 {
        return reply_error(s, n, req.cookie, NBD_EIO, "no allocation information");
    }
    let mut b = chunk_header(
        NBD_REPLY_FLAG_DONE,
        NBD_REPLY_TYPE_BLOCK_STATUS,
        req.cookie,
        desc.len() as u32,
    )
    .to_vec();
    b.extend_from_slice(&desc);
    s.write_all(&b)
}
