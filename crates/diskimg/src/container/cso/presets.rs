//! Writer presets: block size, index alignment and compression level, from `-o key=value`.
//!
//! The defaults are the safe ones: 2 KiB blocks (the only size real PSP firmware and OPL on a
//! PS2 read), the smallest index shift that addresses the image, and a level that gives files
//! close to maxcso's default in a tenth of its time (`best`: smaller than maxcso's default, in
//! less time).

use super::header::{DAX_FRAME_SIZE, MAX_BLOCK_SIZE, Variant};
use crate::container::write::{CreateRequest, OptionHelp};
use crate::error::{Error, Result};

/// Default block size: one CD/DVD sector.
pub const DEFAULT_BLOCK_SIZE: u32 = 2048;

/// The `-o` keys of the CSO, CSO v2 and ZSO writers.
pub const OPTIONS: &[OptionHelp] = &[
    OptionHelp {
        key: "block_size",
        help: "2048 (default), or a power of two up to 1M. Only 2048 works on a real PSP \
               (ARK/PRO/ME CSO and ZSO drivers) and in OPL on a PS2; PPSSPP (since 2014) and \
               PCSX2 read any power of two; larger blocks compress 2-3% better",
    },
    OptionHelp {
        key: "align",
        help: "index shift N: blocks start at multiples of 2^N bytes (default: the smallest \
               that addresses the image, 0 below 2 GiB; each step wastes padding)",
    },
    OptionHelp {
        key: "level",
        help: "fast, default or best (cso: libdeflate 6 / libdeflate 12 / libdeflate 12, then \
               Zopfli on the blocks where 12 beat 6 by over 1%, smaller wins: smaller than \
               maxcso's default, slower than default; zso: lz4 / lz4hc 12 / lz4hc 12; cso2: \
               deflate as cso, LZ4 kept when no larger); blocks that do not shrink are stored \
               as they are",
    },
];

/// The `-o` keys of the DAX writer (frames are always 8 KiB).
pub const DAX_OPTIONS: &[OptionHelp] = &[OptionHelp {
    key: "level",
    help: "fast, default or best (zlib through libdeflate 6 / 12 / 12); every frame \
           is zlib-compressed, as maxcso writes DAX (read by DAX-capable PSP firmware and PPSSPP)",
}];

/// A compression level preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Quick: libdeflate 6, plain LZ4.
    Fast,
    /// libdeflate 12, LZ4 HC 12.
    Default,
    /// libdeflate 12 then a one-pass Zopfli trial where the parse matters; LZ4 HC 12.
    Best,
}

/// When and how hard a deflate preset tries Zopfli after libdeflate 12 on a block.
///
/// Zopfli costs some 15 times libdeflate 12 on a 2 KiB block and gains only where the choice
/// of matches matters. The gate measures that on the block: libdeflate 6 (a lazy parser) is
/// run too, and Zopfli only when libdeflate 12 (a near-optimal parser) was smaller by more
/// than `1 / gate_divisor` of its size. On the benchmark CD image one block in six passes the
/// `best` gate (1%), and those blocks hold about 80% of what Zopfli gains when it is tried on
/// every block that compresses, for a fifth of the time. (A 0.25% gate gains 0.08% more size
/// for a quarter more time.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZopfliTrial {
    /// Zopfli's optimisation passes.
    pub iterations: u64,
    /// Zopfli runs when `size(level 6) - size(level 12) > size(level 12) / gate_divisor`
    pub gate_divisor: usize,
}

impl ZopfliTrial {
    /// Whether a block whose encodings by libdeflate 12 and 6 have these lengths is tried.
    pub fn worth_it(self, level12: usize, level6: usize) -> bool {
        level6.saturating_sub(level12) > level12 / self.gate_divisor
    }
}

impl Level {
    fn parse(v: &str) -> Result<Level> {
        match v {
            "fast" => Ok(Level::Fast),
            "default" => Ok(Level::Default),
            "best" => Ok(Level::Best),
            other => Err(Error::invalid_input(format!(
                "level: '{other}' is not fast, default or best"
            ))),
        }
    }

    /// The libdeflate level.
    pub fn deflate(self) -> i32 {
        match self {
            Level::Fast => 6,
            Level::Default | Level::Best => 12,
        }
    }

    /// The Zopfli trial after libdeflate (CSO v1 and v2), if any. One pass: more passes
    /// gain about 0.05% more for 1.5 times the trial's time.
    pub fn zopfli(self) -> Option<ZopfliTrial> {
        match self {
            Level::Fast | Level::Default => None,
            Level::Best => Some(ZopfliTrial {
                iterations: 1,
                gate_divisor: 100,
            }),
        }
    }

    /// The LZ4 level (0: the fast coder).
    pub fn lz4(self) -> i32 {
        match self {
            Level::Fast => 0,
            Level::Default | Level::Best => 12,
        }
    }
}

/// What a writer makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterConfig {
    /// Which format.
    pub variant: Variant,
    /// Block size in bytes.
    pub block_size: u32,
    /// Index shift (CSO/ZSO; 0 for DAX).
    pub index_shift: u8,
    /// Compression preset.
    pub level: Level,
}

impl WriterConfig {
    /// The configuration `req` asks for, checked against the format's limits.
    pub fn from_request(variant: Variant, req: &CreateRequest) -> Result<WriterConfig> {
        let name = variant.name();
        let o = &req.options;
        if variant == Variant::Dax {
            o.check_known(name, DAX_OPTIONS)?;
        } else {
            o.check_known(name, OPTIONS)?;
        }
        if req.backing.is_some() {
            return Err(Error::unsupported(
                variant.format(),
                "compressed ISOs have no backing file",
            ));
        }
        let level = o.get("level").map(Level::parse).transpose()?;
        let level = level.unwrap_or(Level::Default);
        let block_size = match o.size("block_size")? {
            None if variant == Variant::Dax => DAX_FRAME_SIZE,
            None => DEFAULT_BLOCK_SIZE,
            Some(b) if b.is_power_of_two() && (2048..=u64::from(MAX_BLOCK_SIZE)).contains(&b) => {
                b as u32
            }
            Some(b) => {
                return Err(Error::invalid_input(format!(
                    "block_size: {b} is not a power of two from 2048 to {MAX_BLOCK_SIZE}"
                )));
            }
        };
        let blocks = req.size.div_ceil(u64::from(block_size));
        if blocks > super::index::MAX_BLOCKS {
            return Err(Error::invalid_input(format!(
                "{} bytes make {blocks} blocks of {block_size}: more than a {name} index holds \
                 ({}); use a larger block_size",
                req.size,
                super::index::MAX_BLOCKS
            )));
        }
        if variant == Variant::Dax {
            if req.size > u64::from(u32::MAX) {
                return Err(Error::unsupported(
                    "dax",
                    "DAX records sizes in 32 bits: images of 4 GiB and more cannot be DAX",
                ));
            }
            return Ok(WriterConfig {
                variant,
                block_size,
                index_shift: 0,
                level,
            });
        }
        let needed = min_shift(req.size, block_size);
        let index_shift = match o.get("align") {
            None => needed,
            Some(v) => {
                let s: u8 =
                    v.parse().ok().filter(|s| *s <= 24).ok_or_else(|| {
                        Error::invalid_input(format!("align: '{v}' is not 0 to 24"))
                    })?;
                if s < needed {
                    return Err(Error::invalid_input(format!(
                        "align: {s} cannot address an image of {} bytes (it needs at least {needed})",
                        req.size
                    )));
                }
                s
            }
        };
        Ok(WriterConfig {
            variant,
            block_size,
            index_shift,
            level,
        })
    }
}

/// Bytes before the first block: the header and the index.
pub fn data_start(variant: Variant, blocks: u64) -> u64 {
    match variant {
        Variant::Dax => 32 + blocks * 6,
        _ => 24 + (blocks + 1) * 4,
    }
}

/// The smallest shift with which every offset of a worst-case image (every block stored
/// whole, each padded to the alignment) fits in 31 bits.
pub fn min_shift(size: u64, block_size: u32) -> u8 {
    let blocks = size.div_ceil(u64::from(block_size));
    for shift in 0u8..=24 {
        let align = 1u64 << shift;
        let worst = data_start(Variant::Cso1, blocks).next_multiple_of(align)
            + blocks * u64::from(block_size).next_multiple_of(align);
        if worst >> shift < 1 << 31 {
            return shift;
        }
    }
    24
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::write::FormatOptions;

    fn req(size: u64, opts: &[&str]) -> CreateRequest {
        CreateRequest {
            size,
            options: FormatOptions::parse(opts).unwrap(),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_and_limits() {
        let c = WriterConfig::from_request(Variant::Cso1, &req(700 << 20, &[])).unwrap();
        assert_eq!(
            (c.block_size, c.index_shift, c.level),
            (2048, 0, Level::Default)
        );
        let c = WriterConfig::from_request(Variant::Cso1, &req(8 << 30, &[])).unwrap();
        assert_eq!(c.index_shift, 3);
        assert!(WriterConfig::from_request(Variant::Cso1, &req(8 << 30, &["align=1"])).is_err());
        let c = WriterConfig::from_request(Variant::Zso, &req(1 << 20, &["align=4,level=fast"]))
            .unwrap();
        assert_eq!((c.index_shift, c.level), (4, Level::Fast));
        assert!(
            WriterConfig::from_request(Variant::Cso1, &req(1 << 20, &["block_size=3000"])).is_err()
        );
        assert!(WriterConfig::from_request(Variant::Cso1, &req(1 << 20, &["level=max"])).is_err());
        assert!(
            WriterConfig::from_request(Variant::Dax, &req(1 << 20, &["block_size=2048"])).is_err()
        );
        assert!(WriterConfig::from_request(Variant::Dax, &req(5 << 30, &[])).is_err());
        let c = WriterConfig::from_request(Variant::Dax, &req(1 << 20, &[])).unwrap();
        assert_eq!(c.block_size, 8192);
    }

    #[test]
    fn zopfli_gate() {
        let b = Level::Best.zopfli().unwrap();
        // 1% of 800 is 8 bytes: a gain of 9 passes, 8 does not.
        assert!(b.worth_it(800, 809));
        assert!(!b.worth_it(800, 808));
        assert!(!b.worth_it(800, 700));
        assert!(b.worth_it(800, usize::MAX));
        assert_eq!(Level::Fast.zopfli(), None);
        assert_eq!(Level::Default.zopfli(), None);
    }

    #[test]
    fn shift_matches_worst_case() {
        assert_eq!(min_shift(1 << 30, 2048), 0);
        assert_eq!(min_shift((2 << 30) - (1 << 20), 2048), 1);
        assert_eq!(min_shift(4 << 30, 2048), 2);
    }
}
