//! The TCP side: a listener, one thread per client, and a clean shutdown.
//!
//! Several clients are served at once, each on its own thread, all reading (and writing) the
//! same export objects, which take `&self`. [`ShutdownHandle::shutdown`] (from a signal
//! handler thread, say) stops accepting, closes every connection and lets [`NbdServer::run`]
//! return after the client threads have ended and every writable export is flushed.

use super::export::Export;
use super::handshake::negotiate;
use super::transmission::{End, serve};
use crate::error::{Error, ErrorKind, Result};
use std::collections::HashMap;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Most clients served at once; more are turned away.
pub const MAX_CLIENTS: usize = 64;

/// What the server tells its caller.
pub trait ServerEvents: Sync {
    /// A client connected.
    fn connected(&self, _peer: SocketAddr) {}
    /// A client's session ended, and how.
    fn ended(&self, _peer: SocketAddr, _result: &io::Result<End>) {}
    /// A client was turned away (too many).
    fn refused(&self, _peer: SocketAddr) {}
}

impl ServerEvents for () {}

/// An NBD server bound to an address.
pub struct NbdServer {
    listener: TcpListener,
    exports: Vec<Export>,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<HashMap<u64, TcpStream>>>,
}

/// Stops a running server from another thread.
#[derive(Clone)]
pub struct ShutdownHandle {
    stop: Arc<AtomicBool>,
    listener: Arc<TcpListener>,
    conns: Arc<Mutex<HashMap<u64, TcpStream>>>,
}

impl ShutdownHandle {
    /// Stops accepting, ends every session, and makes `run` return.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Release);
        shutdown_listener(&self.listener);
        for c in self
            .conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
        {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }
}

#[cfg(unix)]
fn shutdown_listener(l: &TcpListener) {
    use std::os::fd::AsRawFd;
    // SAFETY: shutdown(2) on a socket we own; wakes a thread blocked in accept (Linux).
    unsafe {
        libc::shutdown(l.as_raw_fd(), libc::SHUT_RDWR);
    }
}

#[cfg(not(unix))]
fn shutdown_listener(_l: &TcpListener) {}

impl NbdServer {
    /// Binds `addr` (`127.0.0.1:10809`) for `exports`.
    pub fn bind(addr: &str, exports: Vec<Export>) -> Result<Self> {
        if exports.is_empty() {
            return Err(Error::invalid_input("no exports"));
        }
        let listener = TcpListener::bind(addr).map_err(|e| {
            Error::new(ErrorKind::Io, format!("cannot listen on {addr}")).with_source(e)
        })?;
        Ok(NbdServer {
            listener,
            exports,
            stop: Arc::new(AtomicBool::new(false)),
            conns: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// The address actually bound (port 0 picks a free port).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener.local_addr().map_err(Error::from)
    }

    /// A handle that stops [`run`](Self::run).
    pub fn shutdown_handle(&self) -> Result<ShutdownHandle> {
        Ok(ShutdownHandle {
            stop: self.stop.clone(),
            listener: Arc::new(self.listener.try_clone().map_err(Error::from)?),
            conns: self.conns.clone(),
        })
    }

    /// Serves until shut down; then flushes every writable export.
    pub fn run(self, events: &dyn ServerEvents) -> Result<()> {
        let next_id = AtomicU64::new(0);
        std::thread::scope(|scope| {
            for stream in self.listener.incoming() {
                if self.stop.load(Ordering::Acquire) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let Ok(peer) = stream.peer_addr() else {
                    continue;
                };
                let id = next_id.fetch_add(1, Ordering::Relaxed);
                {
                    let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
                    if conns.len() >= MAX_CLIENTS {
                        events.refused(peer);
                        continue;
                    }
                    let Ok(clone) = stream.try_clone() else {
                        continue;
                    };
                    conns.insert(id, clone);
                }
                events.connected(peer);
                let (exports, stop, conns) = (&self.exports, &*self.stop, &self.conns);
                scope.spawn(move || {
                    let result = session(stream, exports, stop);
                    conns.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
                    events.ended(peer, &result);
                });
            }
        });
        for e in &self.exports {
            if let Some(w) = &e.writable {
                w.flush()?;
            }
        }
        Ok(())
    }
}

/// One client from handshake to the end.
fn session(stream: TcpStream, exports: &[Export], stop: &AtomicBool) -> io::Result<End> {
    let _ = stream.set_nodelay(true);
    let mut conn = Conn {
        r: BufReader::new(stream.try_clone()?),
        w: BufWriter::new(stream),
    };
    run_session(&mut conn, exports, stop)
}

/// Handshake then transmission on any byte stream (the fuzz target drives this directly).
pub fn run_session<S: Read + Write>(
    s: &mut S,
    exports: &[Export],
    stop: &AtomicBool,
) -> io::Result<End> {
    match negotiate(s, exports) {
        Ok(Some(n)) => serve(s, &exports[n.export], n, stop),
        Ok(None) => Ok(End::Closed),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(End::Closed),
        Err(e) => Err(e),
    }
}

/// A socket read through one buffer and written through another.
struct Conn {
    r: BufReader<TcpStream>,
    w: BufWriter<TcpStream>,
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.r.read(buf)
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.w.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.w.write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{BlockDevice, Extent, ExtentKind};
    use crate::io::ReadAt;
    use crate::nbd::proto::*;
    use crate::overlay::{MemoryDevice, WritableDevice};
    use std::io::{self, Read, Write};

    /// First half data, second half a hole: extents say so.
    struct HalfHole(MemoryDevice);

    impl ReadAt for HalfHole {
        fn size(&self) -> u64 {
            self.0.size()
        }
        fn read_at(&self, offset: u64, buf: &mut [u8]) -> crate::Result<usize> {
            self.0.read_at(offset, buf)
        }
    }

    impl BlockDevice for HalfHole {
        fn extents(&self, offset: u64, len: u64) -> crate::Result<Vec<Extent>> {
            let half = self.size() / 2;
            let end = (offset + len).min(self.size());
            let mut out = Vec::new();
            if offset < half {
                out.push(Extent {
                    offset,
                    len: half.min(end) - offset,
                    kind: ExtentKind::Data,
                });
            }
            if end > half {
                let s = offset.max(half);
                out.push(Extent {
                    offset: s,
                    len: end - s,
                    kind: ExtentKind::Zero,
                });
            }
            Ok(out)
        }
    }

    impl WritableDevice for HalfHole {
        fn write_at(&self, offset: u64, buf: &[u8]) -> crate::Result<()> {
            self.0.write_at(offset, buf)
        }
        fn write_zeroes(&self, offset: u64, len: u64) -> crate::Result<()> {
            self.0.write_zeroes(offset, len)
        }
        fn flush(&self) -> crate::Result<()> {
            Ok(())
        }
    }

    struct Duplex {
        input: io::Cursor<Vec<u8>>,
        output: Vec<u8>,
    }

    impl Read for Duplex {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.input.read(buf)
        }
    }

    impl Write for Duplex {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.output.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn opt(o: u32, data: &[u8]) -> Vec<u8> {
        let mut b = IHAVEOPT.to_be_bytes().to_vec();
        b.extend_from_slice(&o.to_be_bytes());
        b.extend_from_slice(&(data.len() as u32).to_be_bytes());
        b.extend_from_slice(data);
        b
    }

    fn req(kind: u16, flags: u16, cookie: u64, offset: u64, len: u32) -> Vec<u8> {
        let mut b = NBD_REQUEST_MAGIC.to_be_bytes().to_vec();
        b.extend_from_slice(&flags.to_be_bytes());
        b.extend_from_slice(&kind.to_be_bytes());
        b.extend_from_slice(&cookie.to_be_bytes());
        b.extend_from_slice(&offset.to_be_bytes());
        b.extend_from_slice(&len.to_be_bytes());
        b
    }

    /// Structured chunks of the transmission phase: (flags, type, cookie, payload).
    fn chunks(out: &[u8]) -> Vec<(u16, u16, u64, Vec<u8>)> {
        // Hello, then option replies up to the third ACK (STRUCTURED, SET_META, GO).
        let mut at = 18;
        let mut acks = 0;
        while acks < 3 {
            let kind = u32::from_be_bytes(out[at + 12..at + 16].try_into().unwrap());
            let len = u32::from_be_bytes(out[at + 16..at + 20].try_into().unwrap()) as usize;
            acks += usize::from(kind == NBD_REP_ACK);
            at += 20 + len;
        }
        let mut v = Vec::new();
        while at < out.len() {
            let h = &out[at..at + 20];
            assert_eq!(&h[..4], &NBD_STRUCTURED_REPLY_MAGIC.to_be_bytes());
            let len = u32::from_be_bytes(h[16..20].try_into().unwrap()) as usize;
            v.push((
                u16::from_be_bytes([h[4], h[5]]),
                u16::from_be_bytes([h[6], h[7]]),
                u64::from_be_bytes(h[8..16].try_into().unwrap()),
                out[at + 20..at + 20 + len].to_vec(),
            ));
            at += 20 + len;
        }
        v
    }

    #[test]
    fn structured_session_with_holes_block_status_and_writes() {
        let dev = Arc::new(HalfHole(MemoryDevice::new(vec![7u8; 64 * 1024])));
        let exports = vec![Export::writable("disk", dev.clone())];
        let mut input = 3u32.to_be_bytes().to_vec();
        input.extend(opt(NBD_OPT_STRUCTURED_REPLY, &[]));
        let mut meta = 0u32.to_be_bytes().to_vec();
        meta.extend_from_slice(&1u32.to_be_bytes());
        meta.extend_from_slice(&15u32.to_be_bytes());
        meta.extend_from_slice(b"base:allocation");
        input.extend(opt(NBD_OPT_SET_META_CONTEXT, &meta));
        input.extend(opt(NBD_OPT_GO, &[0, 0, 0, 0, 0, 0]));
        input.extend(req(NBD_CMD_READ, 0, 1, 30 * 1024, 4096));
        input.extend(req(NBD_CMD_BLOCK_STATUS, 0, 2, 0, 64 * 1024));
        input.extend(req(
            NBD_CMD_BLOCK_STATUS,
            NBD_CMD_FLAG_REQ_ONE,
            3,
            0,
            64 * 1024,
        ));
        let mut w = req(NBD_CMD_WRITE, NBD_CMD_FLAG_FUA, 4, 100, 3);
        w.extend_from_slice(b"abc");
        input.extend(w);
        input.extend(req(NBD_CMD_READ, 0, 5, 64 * 1024 - 1, 2));
        input.extend(req(NBD_CMD_DISC, 0, 6, 0, 0));
        let mut s = Duplex {
            input: io::Cursor::new(input),
            output: Vec::new(),
        };
        let end = run_session(&mut s, &exports, &AtomicBool::new(false)).unwrap();
        assert_eq!(end, End::Disconnect);
        let c = chunks(&s.output);
        // Read 1: 2 KiB of data then a 2 KiB hole, then DONE.
        let r1: Vec<_> = c.iter().filter(|x| x.2 == 1).collect();
        assert_eq!(r1.len(), 3);
        assert_eq!(r1[0].1, NBD_REPLY_TYPE_OFFSET_DATA);
        assert_eq!(r1[0].3.len(), 8 + 2048);
        assert_eq!(r1[1].1, NBD_REPLY_TYPE_OFFSET_HOLE);
        assert_eq!(&r1[1].3[8..], &2048u32.to_be_bytes());
        assert_eq!(
            (r1[2].0, r1[2].1),
            (NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE)
        );
        // Block status: two descriptors, then one with REQ_ONE.
        let bs = &c.iter().find(|x| x.2 == 2).unwrap().3;
        assert_eq!(bs.len(), 4 + 2 * 8);
        assert_eq!(&bs[4..12], &[0, 0, 0x80, 0, 0, 0, 0, 0]);
        assert_eq!(&bs[12..20], &[0, 0, 0x80, 0, 0, 0, 0, 3]);
        assert_eq!(c.iter().find(|x| x.2 == 3).unwrap().3.len(), 4 + 8);
        // The write landed; a read past the end is an error chunk.
        assert_eq!(c.iter().find(|x| x.2 == 4).unwrap().1, NBD_REPLY_TYPE_NONE);
        let mut b = [0u8; 3];
        dev.read_exact_at(100, &mut b).unwrap();
        assert_eq!(&b, b"abc");
        let e = c.iter().find(|x| x.2 == 5).unwrap();
        assert_eq!(e.1, NBD_REPLY_TYPE_ERROR);
        assert_eq!(&e.3[..4], &NBD_EINVAL.to_be_bytes());
    }
}
