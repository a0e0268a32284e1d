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
