//! Names for the writer: long names made valid for FAT, 8.3 short names generated as Windows
//! generates them, the NT case flags, VFAT long-name entries and the volume label.
//!
//! Short names follow the basis-name and numeric-tail algorithm of the Microsoft FAT
//! specification (fatgen103, "Basis-Name Generation Algorithm"): upper case, spaces and leading
//! periods dropped, the primary part from the characters before the last period (periods
//! dropped, as Windows does), the extension from the characters after it; invalid characters
//! become `_`. A name that fits 8.3 exactly, in one case per part, is stored as a short entry
//! alone with the NT lower-case flags (byte 12), as Windows NT and Linux store `readme.txt`;
//! any other name gets long-name entries and a short name with a tail: `NAME~1.EXT` to `~4`,
//! then, as Windows does after four, two characters of the basis and four hex digits of a hash
//! of the long name (`NA1B2C~1.EXT`), then longer numeric tails. Every candidate is checked
//! against the short names already given in the folder, so two never collide.
//!
//! Short names hold ASCII only: a character outside ASCII becomes `_` (Windows would map it
//! through the OEM code page, which nothing on the volume records); the long name keeps it.

use crate::error::{Error, Result};
use std::borrow::Cow;
use std::collections::HashSet;

/// Byte 12 flag: the base name is shown lower case.
pub(crate) const LOWER_BASE: u8 = 0x08;
/// Byte 12 flag: the extension is shown lower case.
pub(crate) const LOWER_EXT: u8 = 0x10;
/// Most UTF-16 units of a long name.
pub const MAX_LONG_NAME: usize = 255;
/// Characters of a long name that FAT does not allow (besides controls).
const LONG_INVALID: &[char] = &['"', '*', '/', ':', '<', '>', '?', '\\', '|'];
/// Characters of a short name besides letters and digits.
const SHORT_SPECIAL: &[u8] = b"!#$%&'()-@^_`{}~";

/// A file's names in its folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FatName {
    /// The 8.3 name, space padded.
    pub short: [u8; 11],
    /// NT case flags for a name stored only as a short name.
    pub case: u8,
    /// Whether long-name entries are written.
    pub long: bool,
}

/// Makes `name` valid as a FAT long name: control characters and `"*/:<>?\|` become `_`, as
/// do trailing periods and spaces (Windows cannot open such names). Returns the name and
/// whether it changed; fails if it is longer than 255 UTF-16 units.
pub(crate) fn valid_long_name(name: &str) -> Result<Cow<'_, str>> {
    if name.encode_utf16().count() > MAX_LONG_NAME {
        return Err(Error::invalid_input(format!(
            "'{name}' is longer than {MAX_LONG_NAME} UTF-16 units, FAT's limit for a name"
        )));
    }
    let keep = name.trim_end_matches(['.', ' ']).len();
    let bad = |c: char| c < ' ' || LONG_INVALID.contains(&c);
    if keep == name.len() && !name.contains(bad) {
        return Ok(Cow::Borrowed(name));
    }
    let mut out: String = name[..keep]
        .chars()
        .map(|c| if bad(c) { '_' } else { c })
        .collect();
    out.extend(std::iter::repeat_n('_', name[keep..].chars().count()));
    Ok(Cow::Owned(out))
}

fn short_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || SHORT_SPECIAL.contains(&b)
}

/// The 8.3 form of a name that fits 8.3 without loss: the raw name, the case flags, and
/// whether a part mixes cases (then a long name keeps the case).
fn split_8_3(name: &str) -> Option<([u8; 11], u8, bool)> {
    let (base, ext) = name.split_once('.').unwrap_or((name, ""));
    if base.is_empty()
        || base.len() > 8
        || ext.len() > 3
        || (name.contains('.') && ext.is_empty())
        || !base.bytes().chain(ext.bytes()).all(short_char)
    {
        return None;
    }
    let case = |part: &str| {
        let lower = part.bytes().any(|b| b.is_ascii_lowercase());
        let upper = part.bytes().any(|b| b.is_ascii_uppercase());
        (lower && !upper, lower && upper)
    };
    let (base_lower, base_mixed) = case(base);
    let (ext_lower, ext_mixed) = case(ext);
    let mut raw = [b' '; 11];
    for (i, b) in base.bytes().enumerate() {
        raw[i] = b.to_ascii_uppercase();
    }
    for (i, b) in ext.bytes().enumerate() {
        raw[8 + i] = b.to_ascii_uppercase();
    }
    let mut flags = 0;
    if base_lower {
        flags |= LOWER_BASE;
    }
    if ext_lower {
        flags |= LOWER_EXT;
    }
    Some((raw, flags, base_mixed || ext_mixed))
}

/// Whether a (valid) long name fits 8.3 in some case, so that it can keep its own short name.
pub(crate) fn fits_8_3(name: &str) -> bool {
    split_8_3(name).is_some()
}

/// The basis name: upper-case primary part (up to 8) and extension (up to 3).
fn basis(name: &str) -> (Vec<u8>, Vec<u8>) {
    let mapped: Vec<u8> = name
        .chars()
        .filter(|&c| c != ' ')
        .map(|c| {
            if c == '.' {
                b'.'
            } else if c.is_ascii() && short_char(c as u8) {
                (c as u8).to_ascii_uppercase()
            } else {
                b'_'
            }
        })
        .collect();
    let start = mapped
        .iter()
        .position(|&b| b != b'.')
        .unwrap_or(mapped.len());
    let mapped = &mapped[start..];
    let (primary, ext) = match mapped.iter().rposition(|&b| b == b'.') {
        Some(dot) => (&mapped[..dot], &mapped[dot + 1..]),
        None => (mapped, &[][..]),
    };
    let mut primary: Vec<u8> = primary
        .iter()
        .copied()
        .filter(|&b| b != b'.')
        .take(8)
        .collect();
    if primary.is_empty() {
        primary.push(b'_');
    }
    (primary, ext.iter().copied().take(3).collect())
}

fn with_tail(primary: &[u8], ext: &[u8], tail: &str) -> [u8; 11] {
    let keep = 8usize.saturating_sub(tail.len()).min(primary.len());
    let mut raw = [b' '; 11];
    raw[..keep].copy_from_slice(&primary[..keep]);
    raw[keep..keep + tail.len()].copy_from_slice(tail.as_bytes());
    raw[8..8 + ext.len()].copy_from_slice(ext);
    raw
}

/// The short names given in one folder.
#[derive(Default)]
pub(crate) struct ShortNames {
    used: HashSet<[u8; 11]>,
}

/// Largest numeric tail (`~999999`).
const MAX_TAIL: u32 = 999_999;

impl ShortNames {
    /// The names for `long` (already valid, see [`valid_long_name`]), unique in the folder.
    pub fn assign(&mut self, long: &str) -> Result<FatName> {
        if let Some((raw, flags, mixed)) = split_8_3(long) {
            if self.used.insert(raw) {
                return Ok(FatName {
                    short: raw,
                    case: if mixed { 0 } else { flags },
                    long: mixed,
                });
            }
        }
        let (primary, ext) = basis(long);
        let tailed = |s: &mut Self, p: &[u8], n: u32| {
            let raw = with_tail(p, &ext, &format!("~{n}"));
            s.used.insert(raw).then_some(raw)
        };
        let mut found = (1..=4).find_map(|n| tailed(self, &primary, n));
        if found.is_none() {
            let units: Vec<u8> = long.encode_utf16().flat_map(u16::to_le_bytes).collect();
            let hash = crc32fast::hash(&units) as u16;
            let mut hashed: Vec<u8> = primary.iter().copied().take(2).collect();
            hashed.extend_from_slice(format!("{hash:04X}").as_bytes());
            found = (1..=9).find_map(|n| tailed(self, &hashed, n));
        }
        if found.is_none() {
            found = (5..=MAX_TAIL).find_map(|n| tailed(self, &primary, n));
        }
        let short = found.ok_or_else(|| {
            Error::invalid_input(format!("no free 8.3 name is left for '{long}'"))
        })?;
        Ok(FatName {
            short,
            case: 0,
            long: true,
        })
    }
}

/// The checksum of a short name that its long-name entries carry.
pub(crate) fn lfn_checksum(raw: &[u8; 11]) -> u8 {
    raw.iter()
        .fold(0u8, |sum, &b| sum.rotate_right(1).wrapping_add(b))
}

/// Number of long-name entries for `long`.
pub(crate) fn lfn_count(long: &str) -> usize {
    long.encode_utf16().count().div_ceil(13)
}

/// The long-name entries for `long`, in the order they are stored (last part first), tied to
/// the short name `short`.
pub(crate) fn lfn_entries(long: &str, short: &[u8; 11]) -> Vec<[u8; 32]> {
    let mut units: Vec<u16> = long.encode_utf16().collect();
    let count = units.len().div_ceil(13);
    if units.len() % 13 != 0 {
        units.push(0);
    }
    units.resize(count * 13, 0xFFFF);
    let sum = lfn_checksum(short);
    (1..=count)
        .rev()
        .map(|seq| {
            let mut e = [0u8; 32];
            e[0] = seq as u8 | if seq == count { 0x40 } else { 0 };
            e[11] = 0x0F;
            e[13] = sum;
            let part = &units[(seq - 1) * 13..seq * 13];
            let slots = (1..11)
                .step_by(2)
                .chain((14..26).step_by(2))
                .chain((28..32).step_by(2));
            for (u, at) in part.iter().zip(slots) {
                e[at..at + 2].copy_from_slice(&u.to_le_bytes());
            }
            e
        })
        .collect()
}

/// A volume label: 11 upper-case bytes. `strict` (a label the user typed) refuses what FAT
/// cannot hold; otherwise (a label taken from a folder name) it is made to fit. `None` for an
/// empty label.
pub(crate) fn volume_label(label: &str, strict: bool) -> Result<Option<[u8; 11]>> {
    const INVALID: &[u8] = b"*?.,;:/\\|+=<>[]\"";
    let mut out = Vec::with_capacity(11);
    for c in label.chars() {
        let ok = c.is_ascii() && c >= ' ' && !INVALID.contains(&(c as u8));
        if !ok && strict {
            return Err(Error::invalid_input(format!(
                "the label '{label}' holds '{c}': FAT labels take ASCII letters, digits, spaces and !#$%&'()-@^_`{{}}~"
            )));
        }
        out.push(if ok {
            (c as u8).to_ascii_uppercase()
        } else {
            b'_'
        });
    }
    if strict && out.len() > 11 {
        return Err(Error::invalid_input(format!(
            "the label '{label}' is longer than 11 characters"
        )));
    }
    if strict && out.first() == Some(&b' ') {
        return Err(Error::invalid_input(
            "a FAT label cannot start with a space",
        ));
    }
    let start = out.iter().position(|&b| b != b' ').unwrap_or(out.len());
    let text = &out[start..out.len().min(start + 11)];
    if text.iter().all(|&b| b == b' ') {
        return Ok(None);
    }
    let mut raw = [b' '; 11];
    raw[..text.len()].copy_from_slice(text);
    Ok(Some(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The short name as a reader shows it (case flags applied).
    fn short(n: &FatName) -> String {
        let part = |b: &[u8], lower: bool| {
            let s = String::from_utf8_lossy(b).trim_end().to_owned();
            if lower { s.to_lowercase() } else { s }
        };
        let base = part(&n.short[..8], n.case & LOWER_BASE != 0);
        let ext = part(&n.short[8..], n.case & LOWER_EXT != 0);
        if ext.is_empty() {
            base
        } else {
            format!("{base}.{ext}")
        }
    }

    /// Joins long-name entries back into the name, checking order and checksums.
    fn read_long(entries: &[[u8; 32]], short: &[u8; 11]) -> String {
        let sum = lfn_checksum(short);
        let mut units = Vec::new();
        for (i, e) in entries.iter().rev().enumerate() {
            assert_eq!(usize::from(e[0] & 0x1F), i + 1);
            assert_eq!(e[0] & 0x40 != 0, i + 1 == entries.len());
            assert_eq!((e[11], e[13]), (0x0F, sum));
            for at in (1..11)
                .step_by(2)
                .chain((14..26).step_by(2))
                .chain((28..32).step_by(2))
            {
                units.push(u16::from_le_bytes([e[at], e[at + 1]]));
            }
        }
        let end = units
            .iter()
            .position(|&u| u == 0 || u == 0xFFFF)
            .unwrap_or(units.len());
        String::from_utf16(&units[..end]).unwrap()
    }

    #[test]
    fn names_that_fit_8_3_need_no_long_entries() {
        let mut s = ShortNames::default();
        let n = s.assign("README.TXT").unwrap();
        assert_eq!((&n.short, n.case, n.long), (b"README  TXT", 0, false));
        let n = s.assign("makefile").unwrap();
        assert_eq!(
            (&n.short, n.case, n.long),
            (b"MAKEFILE   ", LOWER_BASE, false)
        );
        let n = s.assign("notes.TXT").unwrap();
        assert_eq!((n.case, n.long), (LOWER_BASE, false));
        assert_eq!(short(&n), "notes.TXT");
        let n = s.assign("Mixed.txt").unwrap();
        assert_eq!((&n.short, n.case, n.long), (b"MIXED   TXT", 0, true));
    }

    #[test]
    fn long_names_get_windows_tails_that_never_collide() {
        let mut s = ShortNames::default();
        let names: Vec<String> = (0..12)
            .map(|i| format!("Long file name {i}.jpeg"))
            .collect();
        let shorts: Vec<String> = names.iter().map(|n| short(&s.assign(n).unwrap())).collect();
        assert_eq!(
            &shorts[..4],
            [
                "LONGFI~1.JPE",
                "LONGFI~2.JPE",
                "LONGFI~3.JPE",
                "LONGFI~4.JPE"
            ]
        );
        let unique: HashSet<&String> = shorts.iter().collect();
        assert_eq!(unique.len(), shorts.len());
        assert!(
            shorts[4..]
                .iter()
                .all(|n| n.starts_with("LO") && n.contains("~"))
        );
        let mut s = ShortNames::default();
        assert_eq!(short(&s.assign("x.tar.gz").unwrap()), "XTAR~1.GZ");
        assert_eq!(short(&s.assign(".bashrc").unwrap()), "BASHRC~1");
        assert_eq!(short(&s.assign("日本語.txt").unwrap()), "___~1.TXT");
        assert_eq!(short(&s.assign("a+b.c").unwrap()), "A_B~1.C");
        assert_eq!(short(&s.assign("Read Me.txt").unwrap()), "README~1.TXT");
    }

    #[test]
    fn case_variants_get_distinct_short_names() {
        let mut s = ShortNames::default();
        let a = s.assign("README.TXT").unwrap();
        let b = s.assign("readme.txt").unwrap();
        let c = s.assign("ReadMe.txt").unwrap();
        assert_eq!((a.long, b.long, c.long), (false, true, true));
        assert_eq!(short(&b), "README~1.TXT");
        assert_eq!(short(&c), "README~2.TXT");
        // A name that looks like a generated short name takes its own slot first.
        let mut s = ShortNames::default();
        let lit = s.assign("LONGFI~1.TXT").unwrap();
        assert!(!lit.long);
        assert_eq!(
            short(&s.assign("longfilename.txt").unwrap()),
            "LONGFI~2.TXT"
        );
    }

    #[test]
    fn ten_thousand_similar_names_stay_unique() {
        let mut s = ShortNames::default();
        let mut seen = HashSet::new();
        for i in 0..10_000 {
            let n = s
                .assign(&format!("Photo from the trip {i:05}.jpeg"))
                .unwrap();
            assert!(seen.insert(n.short), "{:?}", n.short);
        }
    }

    #[test]
    fn long_entries_read_back_with_the_checksum() {
        let name = "A fairly long name, ünïcødé 日本語 and 🎉.txt";
        let short = *b"AFAIRL~1TXT";
        let entries = lfn_entries(name, &short);
        assert_eq!(entries.len(), lfn_count(name));
        assert_eq!(read_long(&entries, &short), name);
        // 13 units exactly: no terminator, no padding.
        let e = lfn_entries("abcdefghijklm", &short);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0][0], 0x41);
        assert_eq!(&e[0][30..32], &[b'm', 0]);
    }

    #[test]
    fn invalid_long_names_and_labels() {
        assert_eq!(valid_long_name("a:b?.txt").unwrap(), "a_b_.txt");
        assert_eq!(valid_long_name("trailing. ").unwrap(), "trailing__");
        assert!(matches!(
            valid_long_name("fine.txt").unwrap(),
            Cow::Borrowed(_)
        ));
        assert!(valid_long_name(&"x".repeat(256)).is_err());
        assert_eq!(
            volume_label("Boot Disk", true).unwrap(),
            Some(*b"BOOT DISK  ")
        );
        assert!(volume_label("a.b", true).is_err());
        assert!(volume_label("TWELVE CHARS", true).is_err());
        assert_eq!(
            volume_label("My photos 2019", false).unwrap(),
            Some(*b"MY PHOTOS 2")
        );
        assert_eq!(volume_label("", true).unwrap(), None);
        assert_eq!(volume_label("été", false).unwrap(), Some(*b"_T_        "));
    }
}
