//! Object headers (`obj_phys_t`) and their Fletcher-64 checksum, the first 32 bytes of every
//! APFS object ("Apple File System Reference", Objects).

use super::FORMAT;
use crate::error::{Error, Result};

/// `OBJECT_TYPE_MASK`.
pub const OBJECT_TYPE_MASK: u32 = 0x0000_FFFF;
/// `OBJECT_TYPE_NX_SUPERBLOCK`.
pub const OBJECT_TYPE_NX_SUPERBLOCK: u32 = 0x01;
/// `OBJECT_TYPE_BTREE` (a root node).
pub const OBJECT_TYPE_BTREE: u32 = 0x02;
/// `OBJECT_TYPE_BTREE_NODE` (a non-root node).
pub const OBJECT_TYPE_BTREE_NODE: u32 = 0x03;
/// `OBJECT_TYPE_SPACEMAN`.
pub const OBJECT_TYPE_SPACEMAN: u32 = 0x05;
/// `OBJECT_TYPE_SPACEMAN_CIB`.
pub const OBJECT_TYPE_SPACEMAN_CIB: u32 = 0x07;
/// `OBJECT_TYPE_SPACEMAN_CAB`.
pub const OBJECT_TYPE_SPACEMAN_CAB: u32 = 0x06;
/// `OBJECT_TYPE_OMAP`.
pub const OBJECT_TYPE_OMAP: u32 = 0x0B;
/// `OBJECT_TYPE_CHECKPOINT_MAP`.
pub const OBJECT_TYPE_CHECKPOINT_MAP: u32 = 0x0C;
/// `OBJECT_TYPE_FS` (a volume superblock).
pub const OBJECT_TYPE_FS: u32 = 0x0D;

/// `obj_phys_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjPhys {
    /// `o_cksum`.
    pub cksum: u64,
    /// `o_oid`.
    pub oid: u64,
    /// `o_xid`.
    pub xid: u64,
    /// `o_type` without its flags.
    pub kind: u32,
    /// `o_subtype`.
    pub subtype: u32,
}

impl ObjPhys {
    /// Parses the header at the start of `block` (at least 32 bytes).
    pub fn parse(block: &[u8]) -> Option<Self> {
        Some(ObjPhys {
            cksum: le64(block, 0)?,
            oid: le64(block, 8)?,
            xid: le64(block, 16)?,
            kind: le32(block, 24)? & OBJECT_TYPE_MASK,
            subtype: le32(block, 28)?,
        })
    }
}

/// The Fletcher-64 checksum APFS stores in `o_cksum`: over the object after its checksum
/// field, as little-endian 32-bit words, sums modulo 2^32 - 1.
pub fn fletcher64(data: &[u8]) -> u64 {
    const M: u64 = 0xFFFF_FFFF;
    let (mut a, mut b) = (0u64, 0u64);
    for w in data.chunks_exact(4) {
        a = (a + u64::from(u32::from_le_bytes([w[0], w[1], w[2], w[3]]))) % M;
        b = (b + a) % M;
    }
    let c1 = M - ((a + b) % M);
    let c2 = M - ((a + c1) % M);
    (c2 << 32) | c1
}

/// Checks the checksum of the object in `block`, read at device byte `offset`, and that its
/// type is `kind` (when given); `what` names it in errors. Fuzzing builds (`cfg(fuzzing)`)
/// accept any checksum, so that mutated inputs reach the parsers behind it.
pub fn verify(block: &[u8], offset: u64, what: &'static str, kind: Option<u32>) -> Result<ObjPhys> {
    let o = ObjPhys::parse(block)
        .ok_or_else(|| Error::corrupt(FORMAT, what, offset, "shorter than an object header"))?;
    let sum = fletcher64(&block[8..]);
    if sum != o.cksum && !cfg!(fuzzing) {
        return Err(Error::corrupt(
            FORMAT,
            what,
            offset,
            format!(
                "bad checksum (stored {:#018x}, computed {sum:#018x})",
                o.cksum
            ),
        ));
    }
    if let Some(k) = kind {
        if o.kind != k {
            return Err(Error::corrupt(
                FORMAT,
                what,
                offset,
                format!("object type {:#x}, {k:#x} expected", o.kind),
            ));
        }
    }
    Ok(o)
}

/// Little-endian `u16` at `at`.
pub fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

/// Little-endian `u32` at `at`.
pub fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Little-endian `u64` at `at`.
pub fn le64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_a_block_verifies_and_detects_a_flip() {
        let mut block = vec![0u8; 4096];
        for (i, b) in block.iter_mut().enumerate().skip(8) {
            *b = (i * 7) as u8;
        }
        block[24..28].copy_from_slice(&OBJECT_TYPE_OMAP.to_le_bytes());
        let sum = fletcher64(&block[8..]);
        block[..8].copy_from_slice(&sum.to_le_bytes());
        assert!(verify(&block, 0, "test", Some(OBJECT_TYPE_OMAP)).is_ok());
        assert!(verify(&block, 0, "test", Some(OBJECT_TYPE_FS)).is_err());
        block[100] ^= 1;
        let e = verify(&block, 4096, "test", None).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Corrupt);
        assert!(e.to_string().contains("checksum"), "{e}");
    }
}
