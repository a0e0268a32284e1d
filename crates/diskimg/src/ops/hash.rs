//! Several digests of one byte stream in one read (`diskimg hash`, sidecar checks in
//! `verify`, the read-back check of `write`).
//!
//! One reader thread reads the source in [`CHUNK`]-byte pieces and hands each piece, shared,
//! to one thread per algorithm, so SHA-256, MD5, BLAKE3 and CRC-32 of a 4 GiB image cost one
//! pass over the bytes and run on every core. Ranges the device reports as zeros or
//! unallocated are fed from one shared buffer of zeros without being read. Memory is bounded:
//! at most [`QUEUE`] pieces wait per hasher.
//!
//! Supported: SHA-256, SHA-512, SHA-1, MD5, BLAKE3, CRC-32 (IEEE, as `crc32`/`cksfv` print it).

use crate::device::{BlockDevice, ExtentKind};
use crate::error::{Error, ErrorKind, Result};
use serde::Serialize;
use sha2::Digest as _;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::sync_channel;

/// Bytes read at a time.
pub const CHUNK: usize = 4 << 20;
/// Pieces that may wait for one hasher.
const QUEUE: usize = 3;

/// A digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// SHA-256 (FIPS 180-4).
    Sha256,
    /// SHA-512 (FIPS 180-4).
    Sha512,
    /// SHA-1 (FIPS 180-4).
    Sha1,
    /// MD5 (RFC 1321).
    Md5,
    /// BLAKE3.
    Blake3,
    /// CRC-32 (IEEE 802.3 polynomial, as zlib).
    Crc32,
}

impl Algorithm {
    /// Every algorithm, in the order reports list them.
    pub const ALL: [Algorithm; 6] = [
        Algorithm::Sha256,
        Algorithm::Sha512,
        Algorithm::Sha1,
        Algorithm::Md5,
        Algorithm::Blake3,
        Algorithm::Crc32,
    ];

    /// The lower-case name (`sha256`).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
            Algorithm::Sha1 => "sha1",
            Algorithm::Md5 => "md5",
            Algorithm::Blake3 => "blake3",
            Algorithm::Crc32 => "crc32",
        }
    }

    /// Length of the digest in hexadecimal digits.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 | Algorithm::Blake3 => 64,
            Algorithm::Sha512 => 128,
            Algorithm::Sha1 => 40,
            Algorithm::Md5 => 32,
            Algorithm::Crc32 => 8,
        }
    }

    fn hasher(self) -> Box<dyn Hasher> {
        match self {
            Algorithm::Sha256 => Box::new(sha2::Sha256::new()),
            Algorithm::Sha512 => Box::new(sha2::Sha512::new()),
            Algorithm::Sha1 => Box::new(sha1::Sha1::new()),
            Algorithm::Md5 => Box::new(md5::Md5::new()),
            Algorithm::Blake3 => Box::new(blake3::Hasher::new()),
            Algorithm::Crc32 => Box::new(crc32fast::Hasher::new()),
        }
    }
}

impl FromStr for Algorithm {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim().to_ascii_lowercase().replace('-', "");
        Algorithm::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| {
                Error::invalid_input(format!(
                    "unknown hash algorithm '{s}' (known: sha256, sha512, sha1, md5, blake3, crc32)"
                ))
            })
    }
}

/// Parses `sha256,md5` into a list without repeats.
pub fn parse_list(list: &str) -> Result<Vec<Algorithm>> {
    let mut out: Vec<Algorithm> = Vec::new();
    for part in list.split(',').filter(|p| !p.trim().is_empty()) {
        let a: Algorithm = part.parse()?;
        if !out.contains(&a) {
            out.push(a);
        }
    }
    if out.is_empty() {
        return Err(Error::invalid_input("no hash algorithm named"));
    }
    Ok(out)
}

/// One computed digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Digest {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// Lower-case hexadecimal.
    pub hex: String,
}

/// A running digest of one algorithm.
trait Hasher: Send {
    fn update(&mut self, data: &[u8]);
    fn finish(self: Box<Self>) -> Vec<u8>;
}

macro_rules! rust_crypto_hasher {
    ($($t:ty),*) => {$(
        impl Hasher for $t {
            fn update(&mut self, data: &[u8]) {
                sha2::Digest::update(self, data);
            }
            fn finish(self: Box<Self>) -> Vec<u8> {
                sha2::Digest::finalize(*self).to_vec()
            }
        }
    )*};
}
rust_crypto_hasher!(sha2::Sha256, sha2::Sha512, sha1::Sha1, md5::Md5);

impl Hasher for blake3::Hasher {
    fn update(&mut self, data: &[u8]) {
        blake3::Hasher::update(self, data);
    }
    fn finish(self: Box<Self>) -> Vec<u8> {
        self.finalize().as_bytes().to_vec()
    }
}

impl Hasher for crc32fast::Hasher {
    fn update(&mut self, data: &[u8]) {
        crc32fast::Hasher::update(self, data);
    }
    fn finish(self: Box<Self>) -> Vec<u8> {
        self.finalize().to_be_bytes().to_vec()
    }
}

/// Lower-case hexadecimal of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Hashes of one in-memory buffer (small data, tests).
pub fn hash_bytes(data: &[u8], algorithms: &[Algorithm]) -> Vec<Digest> {
    algorithms
        .iter()
        .map(|&a| {
            let mut h = a.hasher();
            h.update(data);
            Digest {
                algorithm: a,
                hex: to_hex(&h.finish()),
            }
        })
        .collect()
}

/// What a long hash run reports.
pub trait HashProgress: Sync {
    /// `bytes` more were hashed.
    fn advance(&self, bytes: u64);
    /// Whether the user asked to stop (Ctrl-C).
    fn cancelled(&self) -> bool {
        false
    }
}

impl HashProgress for () {
    fn advance(&self, _bytes: u64) {}
}

/// A cancel flag as progress: counts nothing, stops when the flag is set.
impl HashProgress for AtomicBool {
    fn advance(&self, _bytes: u64) {}
    fn cancelled(&self) -> bool {
        self.load(Ordering::Relaxed)
    }
}

/// Digests of bytes `[offset, offset + len)` of `src` in every algorithm of `algorithms`, in
/// one read. Holes and unallocated runs are hashed as zeros without being read.
pub fn hash_range(
    src: &dyn BlockDevice,
    offset: u64,
    len: u64,
    algorithms: &[Algorithm],
    progress: &dyn HashProgress,
) -> Result<Vec<Digest>> {
    let end = offset
        .checked_add(len)
        .filter(|&e| e <= src.size())
        .ok_or_else(|| Error::out_of_bounds(offset, 0, src.size()))?;
    let zeros: Arc<[u8]> = Arc::from(vec![0u8; CHUNK]);
    std::thread::scope(|scope| {
        let mut senders = Vec::new();
        let mut workers = Vec::new();
        for &a in algorithms {
            let (tx, rx) = sync_channel::<(Arc<[u8]>, usize)>(QUEUE);
            senders.push(tx);
            workers.push(scope.spawn(move || {
                let mut h = a.hasher();
                while let Ok((buf, n)) = rx.recv() {
                    h.update(&buf[..n]);
                }
                Digest {
                    algorithm: a,
                    hex: to_hex(&h.finish()),
                }
            }));
        }
        let fed = feed(src, offset, end, &zeros, progress, |buf, n| {
            for tx in &senders {
                // A hasher only stops early by panicking, which the join below reports.
                let _ = tx.send((buf.clone(), n));
            }
        });
        drop(senders);
        let digests: Vec<Digest> = workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect();
        fed.map(|()| digests)
    })
}

/// Digests of the whole of `src`.
pub fn hash_device(
    src: &dyn BlockDevice,
    algorithms: &[Algorithm],
    progress: &dyn HashProgress,
) -> Result<Vec<Digest>> {
    hash_range(src, 0, src.size(), algorithms, progress)
}

/// Reads `[offset, end)` in pieces and passes each to `sink`; zero runs come from `zeros`.
fn feed(
    src: &dyn BlockDevice,
    offset: u64,
    end: u64,
    zeros: &Arc<[u8]>,
    progress: &dyn HashProgress,
    mut sink: impl FnMut(&Arc<[u8]>, usize),
) -> Result<()> {
    let mut pos = offset;
    while pos < end {
        let span = (end - pos).min(256 * CHUNK as u64);
        for ext in src.extents(pos, span)? {
            let mut at = ext.offset;
            let ext_end = ext.offset + ext.len;
            while at < ext_end {
                if progress.cancelled() {
                    return Err(Error::new(ErrorKind::Io, "interrupted"));
                }
                let n = usize::try_from(ext_end - at).map_or(CHUNK, |r| r.min(CHUNK));
                if ext.kind == ExtentKind::Data {
                    let mut buf = vec![0u8; n];
                    src.read_exact_at(at, &mut buf)?;
                    sink(&Arc::from(buf), n);
                } else {
                    sink(zeros, n);
                }
                at += n as u64;
                progress.advance(n as u64);
            }
        }
        if span == 0 {
            break;
        }
        pos += span;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::MemorySource;

    #[test]
    fn known_answers() {
        let d = hash_bytes(b"abc", &Algorithm::ALL);
        let get = |a: Algorithm| d.iter().find(|x| x.algorithm == a).unwrap().hex.clone();
        assert_eq!(
            get(Algorithm::Sha256),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(get(Algorithm::Md5), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            get(Algorithm::Sha1),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(get(Algorithm::Crc32), "352441c2");
        assert_eq!(
            get(Algorithm::Blake3),
            "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
        );
    }

    #[test]
    fn one_read_equals_separate_digests() {
        let data: Vec<u8> = (0..(CHUNK * 2 + 12345))
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let src = MemorySource::new(data.clone());
        let all = hash_device(&src, &Algorithm::ALL, &()).unwrap();
        assert_eq!(all, hash_bytes(&data, &Algorithm::ALL));
        let part = hash_range(&src, 100, 5000, &[Algorithm::Md5], &()).unwrap();
        assert_eq!(part, hash_bytes(&data[100..5100], &[Algorithm::Md5]));
    }

    #[test]
    fn lists_parse_and_refuse_unknown_names() {
        assert_eq!(
            parse_list("sha256, MD5,sha256").unwrap(),
            vec![Algorithm::Sha256, Algorithm::Md5]
        );
        assert!(parse_list("sha3").is_err());
        assert!(parse_list("").is_err());
    }

    #[test]
    fn cancel_stops_the_read() {
        let src = MemorySource::new(vec![1u8; CHUNK * 3]);
        let stop = AtomicBool::new(true);
        assert!(hash_device(&src, &[Algorithm::Sha256], &stop).is_err());
    }
}
