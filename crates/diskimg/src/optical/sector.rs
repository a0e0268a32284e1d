//! Raw CD sectors (ECMA-130 chapter 14 and annex A): sync pattern, header, mode 1 and mode 2
//! (formless, form 1, form 2) layouts, the EDC (a CRC-32) and the ECC (P and Q Reed-Solomon
//! product code over GF(2^8)).
//!
//! [`encode`] builds a full 2352-byte sector from user data; [`check`] says whether a raw
//! sector's EDC and ECC hold. Images store sectors unscrambled, so scrambling is not done here.

use super::msf::{bcd, lba_to_msf};

/// Bytes in a raw sector.
pub const RAW: usize = 2352;
/// Bytes of user data in a mode 1 or mode 2 form 1 sector.
pub const USER: usize = 2048;
/// Bytes after the header of a mode 2 sector.
pub const MODE2: usize = 2336;
/// Bytes of user data in a mode 2 form 2 sector.
pub const FORM2: usize = 2324;

/// The 12-byte sync pattern that opens every data sector.
pub const SYNC: [u8; 12] = [
    0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0,
];

/// What a sector holds, as its header and subheader say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectorKind {
    /// Audio: 2352 bytes of PCM, no header.
    Audio,
    /// Mode 0: header and 2336 zero bytes.
    Mode0,
    /// Mode 1: 2048 bytes of user data with EDC and ECC.
    Mode1,
    /// Mode 2 without the CD-ROM XA subheader: 2336 bytes.
    Mode2Formless,
    /// Mode 2 form 1: subheader, 2048 bytes, EDC, ECC.
    Mode2Form1,
    /// Mode 2 form 2: subheader, 2324 bytes, optional EDC.
    Mode2Form2,
}

/// The subheader of a mode 2 form 1 sector with no file, channel or coding information.
pub const FORM1_SUBHEADER: [u8; 8] = [0, 0, 0x08, 0, 0, 0, 0x08, 0];
/// The same for form 2.
pub const FORM2_SUBHEADER: [u8; 8] = [0, 0, 0x20, 0, 0, 0, 0x20, 0];

/// Whether `raw` starts with the sync pattern.
pub fn has_sync(raw: &[u8]) -> bool {
    raw.len() >= 12 && raw[..12] == SYNC
}

/// What a raw sector holds, read from its sync, mode byte and subheader. Without a sync it is
/// audio.
pub fn kind_of(raw: &[u8; RAW]) -> SectorKind {
    if !has_sync(raw) {
        return SectorKind::Audio;
    }
    match raw[15] & 3 {
        0 => SectorKind::Mode0,
        1 => SectorKind::Mode1,
        2 => {
            // The submode is stored twice; a form bit in either copy is taken.
            if raw[16..20] != raw[20..24] {
                SectorKind::Mode2Formless
            } else if raw[18] & 0x20 != 0 {
                SectorKind::Mode2Form2
            } else if raw[18] & 0x08 != 0 || raw[16..24] == [0; 8] {
                SectorKind::Mode2Form1
            } else {
                SectorKind::Mode2Formless
            }
        }
        _ => SectorKind::Mode2Formless,
    }
}

/// Writes sync and header for absolute address `lba` and `mode`.
pub fn write_header(raw: &mut [u8; RAW], lba: i64, mode: u8) {
    raw[..12].copy_from_slice(&SYNC);
    let (m, s, f) = lba_to_msf(lba + 150);
    raw[12] = bcd(m);
    raw[13] = bcd(s);
    raw[14] = bcd(f);
    raw[15] = mode;
}

/// Builds the raw sector at `lba` of `kind` around `data`: 2048 bytes for mode 1 and form 1,
/// 2324 for form 2, 2336 for formless mode 2 and 2352 for audio (copied). `subheader`
/// replaces the default subheader of form 1 and form 2 sectors.
pub fn encode(
    raw: &mut [u8; RAW],
    lba: i64,
    kind: SectorKind,
    data: &[u8],
    subheader: Option<[u8; 8]>,
) {
    match kind {
        SectorKind::Audio => {
            let n = data.len().min(RAW);
            raw[..n].copy_from_slice(&data[..n]);
            raw[n..].fill(0);
        }
        SectorKind::Mode0 => {
            write_header(raw, lba, 0);
            raw[16..].fill(0);
        }
        SectorKind::Mode1 => {
            write_header(raw, lba, 1);
            copy_padded(&mut raw[16..16 + USER], data);
            let edc = edc(&raw[..2064]);
            raw[2064..2068].copy_from_slice(&edc.to_le_bytes());
            raw[2068..2076].fill(0);
            ecc(raw, false);
        }
        SectorKind::Mode2Formless => {
            write_header(raw, lba, 2);
            copy_padded(&mut raw[16..], data);
        }
        SectorKind::Mode2Form1 => {
            write_header(raw, lba, 2);
            raw[16..24].copy_from_slice(&subheader.unwrap_or(FORM1_SUBHEADER));
            copy_padded(&mut raw[24..24 + USER], data);
            let edc = edc(&raw[16..2072]);
            raw[2072..2076].copy_from_slice(&edc.to_le_bytes());
            ecc(raw, true);
        }
        SectorKind::Mode2Form2 => {
            write_header(raw, lba, 2);
            raw[16..24].copy_from_slice(&subheader.unwrap_or(FORM2_SUBHEADER));
            copy_padded(&mut raw[24..24 + FORM2], data);
            let edc = edc(&raw[16..2348]);
            raw[2348..].copy_from_slice(&edc.to_le_bytes());
        }
    }
}

fn copy_padded(dst: &mut [u8], src: &[u8]) {
    let n = src.len().min(dst.len());
    dst[..n].copy_from_slice(&src[..n]);
    dst[n..].fill(0);
}

/// What a sector check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// EDC and ECC (where the form has them) are right.
    Good,
    /// A form 2 sector whose EDC field is zero: the EDC is optional there.
    NoEdc,
    /// The EDC is wrong.
    BadEdc,
    /// The EDC is right but the ECC is not.
    BadEcc,
    /// The header's address is not the sector's position.
    BadAddress,
    /// No error detection in this kind of sector (audio, mode 0, formless mode 2).
    Unchecked,
}

/// Checks the EDC and ECC of the raw sector `raw`, expected at absolute address `lba`.
pub fn check(raw: &[u8; RAW], lba: i64) -> Check {
    let kind = kind_of(raw);
    if matches!(
        kind,
        SectorKind::Audio | SectorKind::Mode0 | SectorKind::Mode2Formless
    ) {
        return Check::Unchecked;
    }
    let (m, s, f) = lba_to_msf(lba + 150);
    let address_ok = raw[12..15] == [bcd(m), bcd(s), bcd(f)];
    let result = match kind {
        SectorKind::Mode1 => {
            if edc(&raw[..2064]).to_le_bytes() != raw[2064..2068] {
                Check::BadEdc
            } else if !ecc_ok(raw, false) {
                Check::BadEcc
            } else {
                Check::Good
            }
        }
        SectorKind::Mode2Form1 => {
            if edc(&raw[16..2072]).to_le_bytes() != raw[2072..2076] {
                Check::BadEdc
            } else if !ecc_ok(raw, true) {
                Check::BadEcc
            } else {
                Check::Good
            }
        }
        SectorKind::Mode2Form2 => {
            if raw[2348..] == [0; 4] {
                Check::NoEdc
            } else if edc(&raw[16..2348]).to_le_bytes() != raw[2348..] {
                Check::BadEdc
            } else {
                Check::Good
            }
        }
        _ => Check::Unchecked,
    };
    if matches!(result, Check::Good | Check::NoEdc) && !address_ok {
        Check::BadAddress
    } else {
        result
    }
}

/// The EDC table: CRC-32 with the ECMA-130 polynomial
/// (x^16 + x^15 + x^2 + 1)(x^16 + x^2 + x + 1), processed least significant bit first.
const EDC_TABLE: [u32; 256] = {
    // 0x8001801B with its bits reversed.
    const REVERSED: u32 = 0xD801_8001;
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut v = i as u32;
        let mut bit = 0;
        while bit < 8 {
            v = if v & 1 != 0 {
                (v >> 1) ^ REVERSED
            } else {
                v >> 1
            };
            bit += 1;
        }
        table[i] = v;
        i += 1;
    }
    table
};

/// The EDC of `data`.
pub fn edc(data: &[u8]) -> u32 {
    data.iter().fold(0u32, |crc, &b| {
        (crc >> 8) ^ EDC_TABLE[((crc ^ u32::from(b)) & 0xff) as usize]
    })
}

/// Multiplication in GF(2^8) with the ECMA-130 field polynomial x^8 + x^4 + x^3 + x^2 + 1.
const fn gf_mul(mut a: u8, mut b: u8) -> u8 {
    let mut p = 0u8;
    while b != 0 {
        if b & 1 != 0 {
            p ^= a;
        }
        let carry = a & 0x80 != 0;
        a <<= 1;
        if carry {
            a ^= 0x1d;
        }
        b >>= 1;
    }
    p
}

/// Multiplication by alpha (x) in the field: a shift and a reduction.
#[inline]
const fn xtime(a: u8) -> u8 {
    (a << 1) ^ if a & 0x80 != 0 { 0x1d } else { 0 }
}

/// 1 / (alpha + 1), alpha = 2: each parity pair solves V0 + V1 + S = 0 and alpha V0 + V1 + A = 0.
const INV_ALPHA_PLUS_1: u8 = {
    let mut x = 1u8;
    while gf_mul(x, 3) != 1 {
        x += 1;
    }
    x
};

/// Geometry of one family of parity vectors over the 2064 (P) or 2236 (Q) bytes that start at
/// byte 12: `vectors` vectors of `len` data bytes; vector `v` starts at byte
/// `(v / 2) * stride + v % 2` and steps by `step`, wrapping at `vectors * len`.
struct Family {
    vectors: usize,
    len: usize,
    stride: usize,
    step: usize,
    parity_at: usize,
}

/// P parity: 86 columns of 24 bytes (43 word columns, MSB and LSB planes), at byte 2076.
const P: Family = Family {
    vectors: 86,
    len: 24,
    stride: 2,
    step: 86,
    parity_at: 2076,
};
/// Q parity: 52 diagonals of 43 bytes (P parity included), at byte 2248.
const Q: Family = Family {
    vectors: 52,
    len: 43,
    stride: 86,
    step: 88,
    parity_at: 2248,
};

/// The two parity bytes of vector `v` of `family` over `area` (the bytes from 12).
fn parity(area: &[u8], family: &Family, v: usize) -> (u8, u8) {
    let size = family.vectors * family.len;
    let mut at = (v / 2) * family.stride + v % 2;
    let mut sum = 0u8; // sum of the data bytes
    let mut horner = 0u8; // sum of d_i * alpha^(len - 1 - i)
    for _ in 0..family.len {
        let d = area[at];
        sum ^= d;
        horner = xtime(horner) ^ d;
        at += family.step;
        if at >= size {
            at -= size;
        }
    }
    // With the data weighted alpha^(n-1-i) for n = len + 2, A = alpha^2 * horner.
    let a = xtime(xtime(horner));
    let v0 = gf_mul(a ^ sum, INV_ALPHA_PLUS_1);
    (v0, v0 ^ sum)
}

/// Computes the P and Q parity of a mode 1 (or, with `zero_header`, mode 2 form 1) sector in
/// place.
fn ecc(raw: &mut [u8; RAW], zero_header: bool) {
    let header = [raw[12], raw[13], raw[14], raw[15]];
    if zero_header {
        raw[12..16].fill(0);
    }
    for family in [&P, &Q] {
        for v in 0..family.vectors {
            let (p0, p1) = parity(&raw[12..], family, v);
            raw[family.parity_at + v] = p0;
            raw[family.parity_at + family.vectors + v] = p1;
        }
    }
    raw[12..16].copy_from_slice(&header);
}

/// Where the P and Q parity start in a mode 1 or mode 2 form 1 sector.
pub const ECC_START: usize = 2076;

/// Whether the P and Q parity of `raw` hold when computed over the sector as it is, header
/// included (how a mode 1 sector's parity is made; MAME's `ecc_verify`).
pub fn ecc_matches(raw: &[u8; RAW]) -> bool {
    ecc_ok(raw, false)
}

fn ecc_ok(raw: &[u8; RAW], zero_header: bool) -> bool {
    let mut copy = *raw;
    ecc(&mut copy, zero_header);
    copy[ECC_START..] == raw[ECC_START..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(kind: SectorKind, lba: i64) -> [u8; RAW] {
        let data: Vec<u8> = (0..RAW).map(|i| (i * 7 + 3) as u8).collect();
        let mut raw = [0u8; RAW];
        encode(&mut raw, lba, kind, &data, None);
        raw
    }

    #[test]
    fn edc_of_known_values() {
        // Check values from crcmod (polynomial 0x18001801B, reflected, no init or final xor).
        assert_eq!(edc(b"123456789"), 0x6EC2_EDC4);
        assert_eq!(edc(&[1]), 0x9091_0101);
    }

    #[test]
    fn encoded_sectors_check_good() {
        for kind in [
            SectorKind::Mode1,
            SectorKind::Mode2Form1,
            SectorKind::Mode2Form2,
        ] {
            let raw = sample(kind, 1234);
            assert_eq!(kind_of(&raw), kind);
            assert_eq!(check(&raw, 1234), Check::Good, "{kind:?}");
            assert_eq!(check(&raw, 1235), Check::BadAddress, "{kind:?}");
        }
    }

    #[test]
    fn damage_is_found() {
        let mut raw = sample(SectorKind::Mode1, 0);
        raw[100] ^= 1;
        assert_eq!(check(&raw, 0), Check::BadEdc);
        let mut raw = sample(SectorKind::Mode1, 0);
        raw[2100] ^= 1;
        assert_eq!(check(&raw, 0), Check::BadEcc);
        let mut raw = sample(SectorKind::Mode2Form1, 0);
        raw[3000 - 700] ^= 0x40;
        assert_eq!(check(&raw, 0), Check::BadEcc);
        let mut raw = sample(SectorKind::Mode2Form2, 0);
        raw[500] ^= 1;
        assert_eq!(check(&raw, 0), Check::BadEdc);
    }

    #[test]
    fn parity_vectors_have_zero_syndromes() {
        let raw = sample(SectorKind::Mode1, 77);
        // Every P vector including its parity sums to zero and has a zero weighted sum.
        for v in 0..86 {
            let (mut s0, mut s1) = (0u8, 0u8);
            let mut bytes: Vec<u8> = (0..24)
                .map(|k| raw[12 + (v / 2) * 2 + v % 2 + 86 * k])
                .collect();
            bytes.push(raw[2076 + v]);
            bytes.push(raw[2076 + 86 + v]);
            for b in bytes {
                s0 ^= b;
                s1 = gf_mul(s1, 2) ^ b;
            }
            assert_eq!((s0, s1), (0, 0), "P vector {v}");
        }
    }
}
