//! The writing side of L1: how every container format writes an image.
//!
//! A format that can be written registers a [`CreateHook`] in its
//! [`FormatDescriptor`](crate::format::FormatDescriptor). The hook turns a [`CreateRequest`]
//! (virtual size, compression, backing file, `-o key=value` options) and an output
//! [`WriteAt`] sink into an [`ImageWriter`]. The conversion pipeline
//! ([`crate::ops::convert`]) then drives any writer the same way:
//!
//! ```text
//!  source device ──extents()──> planner ──batches──> workers (N threads)       emitter (1 thread)
//!   (only Data is read)          skips holes,         read, find zero units,    puts batches back in
//!                                zero and             encode each unit with     order and calls the
//!                                unallocated runs     the writer's encoder      writer: write_units /
//!                                                     (compression)             write_encoded /
//!                                                                               write_zero_units, then
//!                                                                               finish()
//! ```
//!
//! # The contract a writer implements
//!
//! - **Fixed allocation units.** [`ImageWriter::unit_size`] is the granularity at which the
//!   writer accepts data: a power of two from 512 bytes, usually the format's cluster or grain
//!   (qcow2 cluster, VMDK grain, VDI block). It need not be the format's block size: a VHDX writer
//!   with 32 MiB blocks may take 1 MiB units and place them inside the block it allocates on the
//!   first unit. Keep units at 2 MiB or below: the pipeline holds a few batches of units per
//!   thread, and its memory bound assumes that.
//! - **In-order emission.** The pipeline calls [`write_units`](ImageWriter::write_units),
//!   [`write_encoded`](ImageWriter::write_encoded) and
//!   [`write_zero_units`](ImageWriter::write_zero_units) with strictly increasing unit indexes,
//!   each unit at most once, all from one thread. Writers may therefore append data in guest
//!   order (streamOptimized VMDK requires it) and write a table as soon as the emission has
//!   passed the range it describes (a qcow2 L2 table), keeping memory bounded.
//! - **Skipped units read as zeros.** Units that are all zero, holes and unallocated ranges of
//!   the source are never passed to the writer; an image in which they were never written must
//!   read as zeros there (an unallocated cluster, a hole in a raw or fixed file).
//! - **Zero units only over a backing file.** When the request names a backing file, a unit that
//!   must read as zeros although the backing file has data there is passed to
//!   `write_zero_units` (qcow2 v3 writes a zero cluster; formats without one write zeros). Without
//!   a backing file the call never happens.
//! - **Encoding runs in parallel.** [`ImageWriter::encoder`] returns an optional
//!   [`UnitEncoder`], shared by the worker threads: a pure function from a unit's bytes to its
//!   stored form (deflate or zstd compression, VMDK grain compression). It may decline a unit
//!   ([`Encoding::Plain`]) when encoding does not pay, and that unit comes back through
//!   `write_units`. Writers without an encoder get every unit through `write_units`, in runs
//!   of consecutive units that can be written with one large write.
//! - **Finish.** [`ImageWriter::finish`] writes what is left (tables, refcounts, footers,
//!   headers with final offsets) and flushes nothing itself; the caller commits the output
//!   (an [`AtomicFile`](crate::io::AtomicFile) renamed into place).
//!
//! A writer never reads its source: it only sees what the pipeline hands it, so the same
//! writer serves `convert`, `create` (no units at all), `commit` and `rebase`. A writer of a
//! differencing image may read its *backing file's* header ([`BackingRef::path`]) to record
//! the parent's identity (VHD unique id, VHDX data write GUID, VDI UUIDs, VMDK content id).
//!
//! # Where a writer writes
//!
//! A [`WriteTarget`] holds the sink of the image file, its final name, and, for formats made
//! of several files (a VMDK descriptor with its extent files), [`Companions`]: more files
//! beside the image that appear only when the whole output is committed
//! ([`commit_together`](crate::io::commit_together): extents first, the descriptor naming
//! them last).

use crate::error::{Error, Result};
use crate::io::{MemorySink, WriteAt};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// What to create: the guest-visible shape of the new image and the user's options.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    /// Virtual (guest-visible) size in bytes.
    pub size: u64,
    /// Compress the data (`convert -c`): the writer's encoder compresses units.
    pub compress: bool,
    /// The backing file to record in the new image, for formats with backing files.
    pub backing: Option<BackingRef>,
    /// Format options (`-o key=value`); each writer takes the keys it knows.
    pub options: FormatOptions,
}

/// A backing file as an overlay records it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BackingRef {
    /// The name stored in the overlay: a path, relative to the overlay's folder or absolute.
    pub name: String,
    /// The backing file's format (`qcow2`, `raw`, ...), when known.
    pub format: Option<String>,
    /// Where the backing file is on this host (as found from the current folder), when known:
    /// differencing formats read the parent's identity from it and record its absolute path.
    pub path: Option<PathBuf>,
}

impl BackingRef {
    /// A backing file recorded as `name`, found at `path`.
    pub fn new(name: impl Into<String>, format: Option<String>, path: Option<PathBuf>) -> Self {
        BackingRef {
            name: name.into(),
            format,
            path,
        }
    }

    /// The host path of the backing file, or an error naming what needs it.
    pub fn host_path(&self, format: &'static str) -> Result<&std::path::Path> {
        self.path.as_deref().ok_or_else(|| {
            Error::invalid_input(format!(
                "the backing file '{}' must be found on this host to record its identity",
                self.name
            ))
            .with_format(format)
        })
    }
}

/// Files written beside the image and committed with it.
pub trait Companions: Send + Sync {
    /// Creates the file `name` (a plain file name) beside the image.
    fn create(&self, name: &str) -> Result<Arc<dyn WriteAt>>;
}

/// Where a writer writes one image.
#[derive(Clone)]
pub struct WriteTarget {
    /// The image file (the descriptor, for formats made of several files).
    pub sink: Arc<dyn WriteAt>,
    /// The image file's final name without its folder (`disk.vmdk`), when known: formats made
    /// of several files name the others after it.
    pub name: Option<String>,
    /// Makes the other files of a format made of several, when the output can hold them.
    pub companions: Option<Arc<dyn Companions>>,
}

impl WriteTarget {
    /// A target that is one sink and nothing else.
    pub fn single(sink: Arc<dyn WriteAt>) -> Self {
        WriteTarget {
            sink,
            name: None,
            companions: None,
        }
    }

    /// The companion file `name`, or an error when the output cannot hold more than one file.
    pub fn companion(&self, format: &'static str, name: &str) -> Result<Arc<dyn WriteAt>> {
        match &self.companions {
            Some(c) => c.create(name),
            None => Err(Error::unsupported(
                format,
                "this output holds one file; the chosen subformat needs several",
            )),
        }
    }
}

impl std::fmt::Debug for WriteTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteTarget")
            .field("name", &self.name)
            .field("companions", &self.companions.is_some())
            .finish()
    }
}

/// Companion files kept in memory (tests, fuzzing).
#[derive(Default)]
pub struct MemoryCompanions {
    files: Mutex<Vec<(String, Arc<MemorySink>)>>,
}

impl MemoryCompanions {
    /// The companion `name`, if one was created.
    pub fn get(&self, name: &str) -> Option<Arc<MemorySink>> {
        self.files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.clone())
    }

    /// Names of the companions created, in order.
    pub fn names(&self) -> Vec<String> {
        self.files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(n, _)| n.clone())
            .collect()
    }
}

impl Companions for MemoryCompanions {
    fn create(&self, name: &str) -> Result<Arc<dyn WriteAt>> {
        let sink = Arc::new(MemorySink::new());
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        if files.iter().any(|(n, _)| n == name) {
            return Err(Error::invalid_input(format!("companion {name} made twice")));
        }
        files.push((name.to_owned(), sink.clone()));
        Ok(sink)
    }
}

/// Makes a writer that writes a new image into a target (empty, positioned writes).
pub type CreateFn = fn(WriteTarget, &CreateRequest) -> Result<Box<dyn ImageWriter>>;

/// Rewrites the backing file recorded in an existing image in place.
pub type SetBackingFn = fn(&dyn WriteAt, Option<&BackingRef>) -> Result<()>;

/// A registered format's ability to create images.
pub struct CreateHook {
    /// Makes a writer that writes a new image into a target (empty, positioned writes).
    pub create: CreateFn,
    /// The `-o` keys the writer takes, with one line of help each.
    pub options: &'static [OptionHelp],
    /// Whether the format can record a backing file.
    pub backing: bool,
    /// Rewrites the backing file recorded in an existing image in place, without touching the
    /// data (`rebase --unsafe`). `None` where the format has no backing files.
    pub set_backing: Option<SetBackingFn>,
}

/// One `-o` key a writer takes.
#[derive(Debug, Clone, Copy)]
pub struct OptionHelp {
    /// The key.
    pub key: &'static str,
    /// What it does and its values.
    pub help: &'static str,
}

/// The writer of one new image, driven by the conversion pipeline.
pub trait ImageWriter: Send {
    /// Size in bytes of the allocation unit the writer takes (a power of two, at least 512).
    fn unit_size(&self) -> u64;

    /// The encoder run on worker threads for every non-zero unit, if the writer encodes.
    fn encoder(&self) -> Option<Arc<dyn UnitEncoder>> {
        None
    }

    /// Stores `data` as units `first, first + 1, ...` as they are (`data.len()` is a multiple of
    /// the unit size; the last unit of the image is padded with zeros).
    fn write_units(&mut self, first: u64, data: &[u8]) -> Result<()>;

    /// Stores unit `index` in the form the encoder produced.
    fn write_encoded(&mut self, index: u64, encoded: &[u8]) -> Result<()> {
        let _ = encoded;
        Err(Error::invalid_input(format!(
            "unit {index}: this writer has no encoder"
        )))
    }

    /// Marks `count` units from `first` as reading zeros over the backing file.
    fn write_zero_units(&mut self, first: u64, count: u64) -> Result<()>;

    /// Writes the remaining metadata. The output is complete when this returns.
    fn finish(self: Box<Self>) -> Result<()>;
}

/// What an encoder did with a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `out` holds the encoded unit: pass it to [`ImageWriter::write_encoded`].
    Encoded,
    /// Encoding does not pay (incompressible data): store the unit as it is.
    Plain,
}

/// Turns a unit into its stored form; runs on many threads at once.
pub trait UnitEncoder: Send + Sync {
    /// Encodes `unit` (exactly one unit of bytes) into `out` (cleared first by the caller).
    fn encode(&self, unit: &[u8], out: &mut Vec<u8>) -> Result<Encoding>;
}

/// `-o key=value` options, taken one by one by the writer that knows them.
#[derive(Debug, Clone, Default)]
pub struct FormatOptions {
    pairs: Vec<(String, String)>,
}

impl FormatOptions {
    /// Parses `key=value` items; an item may hold several pairs separated by commas, as in
    /// `qemu-img -o compat=1.1,cluster_size=65536`.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Self> {
        let mut pairs = Vec::new();
        for item in items {
            for pair in item.as_ref().split(',').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').ok_or_else(|| {
                    Error::invalid_input(format!("option '{pair}' is not key=value"))
                })?;
                pairs.push((k.trim().to_owned(), v.trim().to_owned()));
            }
        }
        Ok(FormatOptions { pairs })
    }

    /// Adds or replaces a pair.
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.pairs.retain(|(k, _)| k != key);
        self.pairs.push((key.to_owned(), value.into()));
    }

    /// The value of `key`, if given (the last one wins).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The keys given that are not in `known`: a writer refuses options it does not take.
    pub fn check_known(&self, format: &str, known: &[OptionHelp]) -> Result<()> {
        if let Some((k, _)) = self
            .pairs
            .iter()
            .find(|(k, _)| !known.iter().any(|o| o.key == k))
        {
            let names: Vec<&str> = known.iter().map(|o| o.key).collect();
            return Err(Error::invalid_input(format!(
                "{format} has no option '{k}' (options: {})",
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            )));
        }
        Ok(())
    }

    /// A size value (`65536`, `64k`, `2M`) of `key`.
    pub fn size(&self, key: &str) -> Result<Option<u64>> {
        self.get(key)
            .map(|v| parse_size(v).map_err(|e| Error::invalid_input(format!("{key}: {e}"))))
            .transpose()
    }

    /// An on/off value of `key`.
    pub fn flag(&self, key: &str) -> Result<Option<bool>> {
        self.get(key)
            .map(|v| match v {
                "on" | "true" | "yes" | "1" => Ok(true),
                "off" | "false" | "no" | "0" => Ok(false),
                other => Err(Error::invalid_input(format!(
                    "{key}: '{other}' is not on or off"
                ))),
            })
            .transpose()
    }
}

/// Parses a size: bytes, or a number with a binary suffix `k`, `M`, `G`, `T`, `P`, `E`
/// (powers of 1024, case-insensitive, an optional trailing `B` or `iB`).
pub fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let t = text.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix("ib"))
        .or_else(|| t.strip_suffix(['B', 'b']).filter(|r| !r.is_empty()))
        .unwrap_or(t);
    let (num, shift) = match t.chars().last() {
        Some(c) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_lowercase() {
                'k' => 10,
                'm' => 20,
                'g' => 30,
                't' => 40,
                'p' => 50,
                'e' => 60,
                _ => return Err(format!("'{text}' has an unknown unit")),
            };
            (&t[..t.len() - 1], shift)
        }
        _ => (t, 0),
    };
    let bad = || format!("'{text}' is not a size");
    if let Some((whole, frac)) = num.split_once('.') {
        let whole: u64 = whole.parse().map_err(|_| bad())?;
        let digits = frac.len().min(6);
        let frac_v: u64 = frac[..digits].parse().map_err(|_| bad())?;
        let scale = 10u64.pow(digits as u32);
        let unit = 1u64 << shift;
        let v = whole
            .checked_mul(unit)
            .and_then(|w| w.checked_add(frac_v.checked_mul(unit)? / scale))
            .ok_or_else(bad)?;
        return Ok(v);
    }
    let n: u64 = num.parse().map_err(|_| bad())?;
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("'{text}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("64k"), Ok(65536));
        assert_eq!(parse_size("20G"), Ok(20 << 30));
        assert_eq!(parse_size("1.5M"), Ok(3 << 19));
        assert_eq!(parse_size("2MiB"), Ok(2 << 20));
        assert!(parse_size("x").is_err());
        assert!(parse_size("20Q").is_err());
        assert!(parse_size("99999999999E").is_err());
    }

    #[test]
    fn options() {
        let o =
            FormatOptions::parse(&["compat=0.10,cluster_size=4k", "lazy_refcounts=on"]).unwrap();
        assert_eq!(o.get("compat"), Some("0.10"));
        assert_eq!(o.size("cluster_size").unwrap(), Some(4096));
        assert_eq!(o.flag("lazy_refcounts").unwrap(), Some(true));
        let known = [OptionHelp {
            key: "compat",
            help: "",
        }];
        assert!(o.check_known("qcow2", &known).is_err());
        assert!(FormatOptions::parse(&["nokey"]).is_err());
    }
}
