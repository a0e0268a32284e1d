//! The qcow2 header (version 2 and 3), its extensions and the backing file name.
//!
//! Layout from qemu `docs/interop/qcow2.txt`, "Header" and "Header extensions". All numbers are
//! big-endian. The header, its extensions and the backing file name live in the first cluster.

use super::FORMAT;
use crate::error::{Error, Result};

/// `QFI\xfb`.
pub const MAGIC: [u8; 4] = *b"QFI\xfb";
/// Length of a version 2 header.
pub const V2_HEADER_LEN: u32 = 72;
/// Length of the version 3 header diskimg writes (through `compression_type`, padded).
pub const V3_HEADER_LEN: u32 = 112;
/// Smallest cluster (512 bytes).
pub const MIN_CLUSTER_BITS: u32 = 9;
/// Largest cluster qemu opens (2 MiB); larger are refused.
pub const MAX_CLUSTER_BITS: u32 = 21;
/// Longest backing file name the specification allows.
pub const MAX_BACKING_NAME: u32 = 1023;
/// Largest active L1 table (qemu's limit, 32 MiB).
pub const MAX_L1_BYTES: u64 = 32 << 20;
/// Largest refcount table read (qemu's limit, 8 MiB).
pub const MAX_REFCOUNT_TABLE_BYTES: u64 = 8 << 20;
/// Most header extensions read.
pub const MAX_EXTENSIONS: usize = 64;

/// Incompatible feature bits.
pub mod incompatible {
    /// Refcounts may be inconsistent (lazy refcounts in use, image not closed cleanly).
    pub const DIRTY: u64 = 1 << 0;
    /// The image was found corrupt and must not be written.
    pub const CORRUPT: u64 = 1 << 1;
    /// Guest data lives in an external data file.
    pub const EXTERNAL_DATA: u64 = 1 << 2;
    /// `compression_type` is not zlib.
    pub const COMPRESSION_TYPE: u64 = 1 << 3;
    /// L2 entries are 128 bits with subcluster bitmaps.
    pub const EXTENDED_L2: u64 = 1 << 4;
    /// Every bit diskimg understands.
    pub const KNOWN: u64 = DIRTY | CORRUPT | EXTERNAL_DATA | COMPRESSION_TYPE | EXTENDED_L2;
}

/// Compatible feature bit 0: lazy refcounts.
pub const COMPAT_LAZY_REFCOUNTS: u64 = 1;
/// Autoclear feature bit 0: the bitmaps extension is consistent.
pub const AUTOCLEAR_BITMAPS: u64 = 1;

/// Header extension types.
pub mod ext {
    /// End of the extension area.
    pub const END: u32 = 0;
    /// Backing file format name.
    pub const BACKING_FORMAT: u32 = 0xe279_2aca;
    /// Feature name table.
    pub const FEATURE_NAMES: u32 = 0x6803_f857;
    /// Persistent dirty bitmaps.
    pub const BITMAPS: u32 = 0x2385_2875;
    /// Full disk encryption header pointer.
    pub const ENCRYPTION: u32 = 0x0537_be77;
    /// External data file name.
    pub const DATA_FILE: u32 = 0x4441_5441;
}

/// Compression of compressed clusters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompressionType {
    /// Raw deflate (the default).
    Zlib,
    /// Zstandard.
    Zstd,
}

impl CompressionType {
    /// Name as qemu spells it.
    pub fn name(self) -> &'static str {
        match self {
            CompressionType::Zlib => "zlib",
            CompressionType::Zstd => "zstd",
        }
    }
}

/// The parsed header, with its extensions and backing file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qcow2Header {
    /// 2 or 3.
    pub version: u32,
    /// Where the backing file name is stored, 0 if none.
    pub backing_file_offset: u64,
    /// Length of the backing file name.
    pub backing_file_size: u32,
    /// log2 of the cluster size.
    pub cluster_bits: u32,
    /// Virtual disk size in bytes.
    pub size: u64,
    /// 0 none, 1 AES, 2 LUKS.
    pub crypt_method: u32,
    /// Entries in the active L1 table.
    pub l1_size: u32,
    /// Offset of the active L1 table.
    pub l1_table_offset: u64,
    /// Offset of the refcount table.
    pub refcount_table_offset: u64,
    /// Clusters of the refcount table.
    pub refcount_table_clusters: u32,
    /// Internal snapshots.
    pub nb_snapshots: u32,
    /// Offset of the snapshot table.
    pub snapshots_offset: u64,
    /// Incompatible feature bits (v3).
    pub incompatible_features: u64,
    /// Compatible feature bits (v3).
    pub compatible_features: u64,
    /// Autoclear feature bits (v3).
    pub autoclear_features: u64,
    /// log2 of the refcount width in bits (4 for v2).
    pub refcount_order: u32,
    /// Header length in bytes.
    pub header_length: u32,
    /// Compression of compressed clusters.
    pub compression_type: CompressionType,
    /// Header extensions in file order, the end marker excluded (type, data).
    pub extensions: Vec<(u32, Vec<u8>)>,
    /// The backing file name.
    pub backing_file: Option<String>,
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

fn corrupt(offset: u64, msg: impl Into<String>) -> Error {
    Error::corrupt(FORMAT, "header", offset, msg)
}

impl Qcow2Header {
    /// Parses the header from the first bytes of the image (`first` holds at least the first
    /// cluster, or the whole file if shorter). `file_size` bounds every offset.
    pub fn parse(first: &[u8], file_size: u64) -> Result<Self> {
        if first.len() < V2_HEADER_LEN as usize || first[..4] != MAGIC {
            return Err(corrupt(0, "no qcow2 magic"));
        }
        let version = be32(first, 4);
        if version != 2 && version != 3 {
            return Err(Error::unsupported(
                FORMAT,
                format!("qcow2 version {version} (only 2 and 3 exist)"),
            ));
        }
        let mut h = Qcow2Header {
            version,
            backing_file_offset: be64(first, 8),
            backing_file_size: be32(first, 16),
            cluster_bits: be32(first, 20),
            size: be64(first, 24),
            crypt_method: be32(first, 32),
            l1_size: be32(first, 36),
            l1_table_offset: be64(first, 40),
            refcount_table_offset: be64(first, 48),
            refcount_table_clusters: be32(first, 56),
            nb_snapshots: be32(first, 60),
            snapshots_offset: be64(first, 64),
            incompatible_features: 0,
            compatible_features: 0,
            autoclear_features: 0,
            refcount_order: 4,
            header_length: V2_HEADER_LEN,
            compression_type: CompressionType::Zlib,
            extensions: Vec::new(),
            backing_file: None,
        };
        if !(MIN_CLUSTER_BITS..=MAX_CLUSTER_BITS).contains(&h.cluster_bits) {
            return Err(
                if h.cluster_bits > MAX_CLUSTER_BITS && h.cluster_bits < 64 {
                    Error::unsupported(
                        FORMAT,
                        format!(
                            "clusters of 2^{} bytes (at most 2 MiB are supported)",
                            h.cluster_bits
                        ),
                    )
                } else {
                    corrupt(20, format!("cluster_bits {} is invalid", h.cluster_bits))
                },
            );
        }
        let cluster = 1u64 << h.cluster_bits;
        if version >= 3 {
            if first.len() < 104 {
                return Err(corrupt(72, "version 3 header is truncated"));
            }
            h.incompatible_features = be64(first, 72);
            h.compatible_features = be64(first, 80);
            h.autoclear_features = be64(first, 88);
            h.refcount_order = be32(first, 96);
            h.header_length = be32(first, 100);
            if h.header_length < 104 || h.header_length % 8 != 0 {
                return Err(corrupt(
                    100,
                    format!("header_length {} is invalid", h.header_length),
                ));
            }
            if u64::from(h.header_length) > cluster || h.header_length as usize > first.len() {
                return Err(corrupt(
                    100,
                    format!(
                        "header_length {} is larger than the first cluster",
                        h.header_length
                    ),
                ));
            }
            if h.refcount_order > 6 {
                return Err(corrupt(
                    96,
                    format!("refcount_order {} is above 6", h.refcount_order),
                ));
            }
            if h.header_length > 104 {
                h.compression_type = match first[104] {
                    0 => CompressionType::Zlib,
                    1 => CompressionType::Zstd,
                    t => {
                        return Err(Error::unsupported(FORMAT, format!("compression type {t}")));
                    }
                };
            }
            let has_bit = h.incompatible_features & incompatible::COMPRESSION_TYPE != 0;
            if has_bit != (h.compression_type != CompressionType::Zlib) {
                return Err(corrupt(
                    104,
                    "compression_type and its incompatible feature bit disagree",
                ));
            }
            let unknown = h.incompatible_features & !incompatible::KNOWN;
            if unknown != 0 {
                return Err(Error::unsupported(
                    FORMAT,
                    format!("incompatible features {unknown:#x}"),
                ));
            }
            if h.incompatible_features & incompatible::EXTENDED_L2 != 0 && h.cluster_bits < 14 {
                return Err(corrupt(
                    20,
                    "extended L2 entries need clusters of at least 16 KiB",
                ));
            }
        }
        h.read_extensions(first)?;
        if h.backing_file_offset != 0 {
            if h.backing_file_size > MAX_BACKING_NAME || h.backing_file_size == 0 {
                return Err(corrupt(
                    16,
                    format!("backing file name of {} bytes", h.backing_file_size),
                ));
            }
            let start = h.backing_file_offset;
            let end = start + u64::from(h.backing_file_size);
            if end > cluster || end as usize > first.len() || end > file_size {
                return Err(corrupt(
                    8,
                    "backing file name lies outside the first cluster",
                ));
            }
            let name = &first[start as usize..end as usize];
            h.backing_file = Some(String::from_utf8_lossy(name).into_owned());
        }
        Ok(h)
    }

    fn read_extensions(&mut self, first: &[u8]) -> Result<()> {
        let limit = first.len().min(1usize << self.cluster_bits);
        let mut at = self.header_length as usize;
        while at + 8 <= limit {
            let kind = be32(first, at);
            let len = be32(first, at + 4) as usize;
            if kind == ext::END {
                return Ok(());
            }
            let data_end = at + 8 + len;
            if data_end > limit {
                return Err(Error::corrupt(
                    FORMAT,
                    "header extension",
                    at as u64,
                    format!("extension {kind:#x} of {len} bytes runs past the first cluster"),
                ));
            }
            if self.extensions.len() >= MAX_EXTENSIONS {
                return Err(Error::limit(
                    FORMAT,
                    "header extension",
                    at as u64,
                    format!("more than {MAX_EXTENSIONS} header extensions"),
                ));
            }
            self.extensions
                .push((kind, first[at + 8..data_end].to_vec()));
            at = data_end.div_ceil(8) * 8;
        }
        // No end marker before the end of the cluster: accepted, as qemu does.
        Ok(())
    }

    /// Cluster size in bytes.
    pub fn cluster_size(&self) -> u64 {
        1 << self.cluster_bits
    }

    /// Whether L2 entries are extended (128 bits, subclusters).
    pub fn extended_l2(&self) -> bool {
        self.incompatible_features & incompatible::EXTENDED_L2 != 0
    }

    /// The data of the first extension of `kind`.
    pub fn extension(&self, kind: u32) -> Option<&[u8]> {
        self.extensions
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, d)| d.as_slice())
    }

    /// The backing format recorded in the extension.
    pub fn backing_format(&self) -> Option<String> {
        self.extension(ext::BACKING_FORMAT)
            .map(|d| String::from_utf8_lossy(d).into_owned())
    }

    /// The external data file name, if the image has one.
    pub fn data_file(&self) -> Option<String> {
        self.extension(ext::DATA_FILE)
            .map(|d| String::from_utf8_lossy(d).into_owned())
    }

    /// Names of features from the feature name table: (type, bit, name).
    pub fn feature_names(&self) -> Vec<(u8, u8, String)> {
        self.extension(ext::FEATURE_NAMES)
            .map(|d| {
                d.chunks_exact(48)
                    .map(|e| {
                        let name = &e[2..];
                        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
                        (
                            e[0],
                            e[1],
                            String::from_utf8_lossy(&name[..end]).into_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Serialises the header, its extensions and the backing file name into the bytes of the
    /// first cluster (only as many bytes as are used). Sets `header_length`,
    /// `backing_file_offset` and `backing_file_size` to match. Fails if it does not fit.
    pub fn to_bytes(&mut self) -> Result<Vec<u8>> {
        let mut b = Vec::with_capacity(4096);
        self.header_length = if self.version >= 3 {
            self.header_length.max(V3_HEADER_LEN)
        } else {
            V2_HEADER_LEN
        };
        b.extend_from_slice(&MAGIC);
        b.extend_from_slice(&self.version.to_be_bytes());
        b.extend_from_slice(&[0u8; 12]); // backing offset and size, set below
        b.extend_from_slice(&self.cluster_bits.to_be_bytes());
        b.extend_from_slice(&self.size.to_be_bytes());
        b.extend_from_slice(&self.crypt_method.to_be_bytes());
        b.extend_from_slice(&self.l1_size.to_be_bytes());
        b.extend_from_slice(&self.l1_table_offset.to_be_bytes());
        b.extend_from_slice(&self.refcount_table_offset.to_be_bytes());
        b.extend_from_slice(&self.refcount_table_clusters.to_be_bytes());
        b.extend_from_slice(&self.nb_snapshots.to_be_bytes());
        b.extend_from_slice(&self.snapshots_offset.to_be_bytes());
        if self.version >= 3 {
            b.extend_from_slice(&self.incompatible_features.to_be_bytes());
            b.extend_from_slice(&self.compatible_features.to_be_bytes());
            b.extend_from_slice(&self.autoclear_features.to_be_bytes());
            b.extend_from_slice(&self.refcount_order.to_be_bytes());
            b.extend_from_slice(&self.header_length.to_be_bytes());
            b.push(match self.compression_type {
                CompressionType::Zlib => 0,
                CompressionType::Zstd => 1,
            });
            b.resize(self.header_length as usize, 0);
        }
        for (kind, data) in &self.extensions {
            b.extend_from_slice(&kind.to_be_bytes());
            b.extend_from_slice(&(data.len() as u32).to_be_bytes());
            b.extend_from_slice(data);
            b.resize(b.len().div_ceil(8) * 8, 0);
        }
        b.extend_from_slice(&[0u8; 8]); // end of extensions
        match &self.backing_file {
            Some(name) => {
                if name.is_empty() || name.len() > MAX_BACKING_NAME as usize {
                    return Err(Error::invalid_input(format!(
                        "a backing file name must have 1 to {MAX_BACKING_NAME} bytes"
                    )));
                }
                self.backing_file_offset = b.len() as u64;
                self.backing_file_size = name.len() as u32;
                b.extend_from_slice(name.as_bytes());
            }
            None => {
                self.backing_file_offset = 0;
                self.backing_file_size = 0;
            }
        }
        if b.len() as u64 > self.cluster_size() {
            return Err(Error::invalid_input(format!(
                "the header, its extensions and the backing file name need {} bytes, more than \
                 one cluster ({} bytes)",
                b.len(),
                self.cluster_size()
            )));
        }
        b[8..16].copy_from_slice(&self.backing_file_offset.to_be_bytes());
        b[16..20].copy_from_slice(&self.backing_file_size.to_be_bytes());
        Ok(b)
    }

    /// Replaces (or removes, with `None`) the extension of `kind`.
    pub fn set_extension(&mut self, kind: u32, data: Option<Vec<u8>>) {
        match (self.extensions.iter().position(|(k, _)| *k == kind), data) {
            (Some(i), Some(d)) => self.extensions[i].1 = d,
            (Some(i), None) => {
                self.extensions.remove(i);
            }
            (None, Some(d)) => self.extensions.insert(0, (kind, d)),
            (None, None) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(version: u32) -> Qcow2Header {
        Qcow2Header {
            version,
            backing_file_offset: 0,
            backing_file_size: 0,
            cluster_bits: 16,
            size: 1 << 30,
            crypt_method: 0,
            l1_size: 2,
            l1_table_offset: 3 << 16,
            refcount_table_offset: 1 << 16,
            refcount_table_clusters: 1,
            nb_snapshots: 0,
            snapshots_offset: 0,
            incompatible_features: 0,
            compatible_features: 0,
            autoclear_features: 0,
            refcount_order: 4,
            header_length: 0,
            compression_type: CompressionType::Zlib,
            extensions: vec![(ext::BACKING_FORMAT, b"raw".to_vec())],
            backing_file: Some("base.img".into()),
        }
    }

    #[test]
    fn round_trips_v2_and_v3() {
        for v in [2, 3] {
            let mut h = sample(v);
            let bytes = h.to_bytes().unwrap();
            let mut padded = bytes.clone();
            padded.resize(65536, 0);
            let back = Qcow2Header::parse(&padded, 1 << 20).unwrap();
            assert_eq!(back, h, "version {v}");
            assert_eq!(back.backing_format().as_deref(), Some("raw"));
        }
    }

    #[test]
    fn refuses_bad_headers() {
        let mut h = sample(3);
        let mut b = h.to_bytes().unwrap();
        b.resize(65536, 0);
        let mut bad = b.clone();
        bad[20..24].copy_from_slice(&40u32.to_be_bytes());
        assert!(Qcow2Header::parse(&bad, 1 << 20).is_err());
        let mut bad = b.clone();
        bad[72..80].copy_from_slice(&(1u64 << 40).to_be_bytes());
        let e = Qcow2Header::parse(&bad, 1 << 20).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Unsupported);
        let mut bad = b.clone();
        bad[16..20].copy_from_slice(&60000u32.to_be_bytes());
        assert!(Qcow2Header::parse(&bad, 1 << 20).is_err());
        let mut bad = b;
        bad[100..104].copy_from_slice(&(1u32 << 20).to_be_bytes());
        assert!(Qcow2Header::parse(&bad, 1 << 20).is_err());
    }
}
