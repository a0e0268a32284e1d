//! File identifiers for each tree: ISO 9660 d-character names at levels 1-3, ISO 9660:1999
//! names, and Joliet UCS-2 names, made unique within their directory without ever colliding.

use std::collections::HashSet;

/// Which naming rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rules {
    /// ECMA-119 level 1: 8.3 upper-case d-characters.
    Level1,
    /// ECMA-119 levels 2 and 3: 30 d-characters plus the dot.
    Level2,
    /// ISO 9660:1999: up to 207 bytes, any character but `/` and NUL, no version.
    Iso1999,
    /// Joliet: UCS-2, up to this many code units, without `* / : ; ? \`.
    Joliet(usize),
}

/// Identifiers for the entries of one directory, in the order of `names`.
pub fn identifiers(names: &[(&str, bool)], rules: Rules) -> Vec<Vec<u8>> {
    let mut taken: HashSet<Vec<u8>> = HashSet::new();
    names
        .iter()
        .map(|&(name, is_dir)| {
            let (base, ext) = candidate(name, is_dir, rules);
            let mut n = 0u32;
            loop {
                let id = encode(&with_counter(&base, n, rules, &ext), &ext, is_dir, rules);
                if taken.insert(comparable(&id, rules)) {
                    break id;
                }
                n += 1;
            }
        })
        .collect()
}

/// The form two identifiers are compared in for uniqueness (ISO names ignore the version).
fn comparable(id: &[u8], rules: Rules) -> Vec<u8> {
    match rules {
        Rules::Level1 | Rules::Level2 => id.split(|&b| b == b';').next().unwrap_or(id).to_vec(),
        _ => id.to_vec(),
    }
}

/// Name and extension as the rules allow them, before uniqueness.
fn candidate(name: &str, is_dir: bool, rules: Rules) -> (Vec<char>, Vec<char>) {
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 && !is_dir => (&name[..i], &name[i + 1..]),
        _ => (name, ""),
    };
    match rules {
        Rules::Level1 | Rules::Level2 => {
            let d = |s: &str| -> Vec<char> {
                s.chars()
                    .map(|c| {
                        let c = c.to_ascii_uppercase();
                        if c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect()
            };
            let (mut b, mut e) = (d(stem), d(ext));
            let (max_b, max_e) = limits(is_dir, rules, e.len());
            e.truncate(max_e);
            b.truncate(max_b.min(if rules == Rules::Level2 {
                30 - e.len()
            } else {
                max_b
            }));
            if b.is_empty() {
                b.push('_');
            }
            (b, e)
        }
        Rules::Iso1999 => {
            let clean: Vec<char> = name
                .chars()
                .map(|c| if c == '/' || c == '\0' { '_' } else { c })
                .collect();
            (clean, Vec::new())
        }
        Rules::Joliet(max) => {
            let clean = |s: &str| -> Vec<char> {
                s.chars()
                    .map(|c| {
                        if "*/:;?\\".contains(c) || c.is_control() {
                            '_'
                        } else {
                            c
                        }
                    })
                    .collect()
            };
            let (mut b, e) = if is_dir {
                (clean(name), Vec::new())
            } else {
                (clean(stem), clean(ext))
            };
            let ext_units: usize =
                e.iter().map(|c| c.len_utf16()).sum::<usize>() + usize::from(!e.is_empty());
            let room = max.saturating_sub(ext_units).max(1);
            while b.iter().map(|c| c.len_utf16()).sum::<usize>() > room {
                b.pop();
            }
            if b.is_empty() {
                b.push('_');
            }
            (b, e)
        }
    }
}

/// Longest name part and extension for ISO levels 1-2.
fn limits(is_dir: bool, rules: Rules, ext_len: usize) -> (usize, usize) {
    match (rules, is_dir) {
        (Rules::Level1, true) => (8, 0),
        (Rules::Level1, false) => (8, 3),
        (_, true) => (31, 0),
        _ => (30usize.saturating_sub(ext_len.min(29)), 29),
    }
}

/// The base with a uniqueness counter replacing its end (n = 0: unchanged).
fn with_counter(base: &[char], n: u32, rules: Rules, ext: &[char]) -> Vec<char> {
    if n == 0 {
        return base.to_vec();
    }
    let tag: Vec<char> = match rules {
        Rules::Level1 | Rules::Level2 => format!("{n:03}").chars().collect(),
        _ => format!("~{n}").chars().collect(),
    };
    let room = match rules {
        Rules::Level1 => 8,
        Rules::Level2 => 30usize.saturating_sub(ext.len()).max(tag.len()),
        Rules::Iso1999 => 207,
        Rules::Joliet(max) => max.saturating_sub(ext.len() + usize::from(!ext.is_empty())),
    };
    let keep = room.saturating_sub(tag.len()).min(base.len());
    let mut out = base[..keep].to_vec();
    out.extend(tag);
    out
}

fn encode(base: &[char], ext: &[char], is_dir: bool, rules: Rules) -> Vec<u8> {
    let mut s: String = base.iter().collect();
    if !ext.is_empty() {
        s.push('.');
        s.extend(ext);
    }
    match rules {
        Rules::Level1 | Rules::Level2 => {
            if !is_dir {
                if ext.is_empty() {
                    s.push('.');
                }
                s.push_str(";1");
            }
            s.into_bytes()
        }
        Rules::Iso1999 => {
            let mut b = s.into_bytes();
            b.truncate(207);
            while std::str::from_utf8(&b).is_err() {
                b.pop();
            }
            b
        }
        Rules::Joliet(_) => s.encode_utf16().flat_map(u16::to_be_bytes).collect(),
    }
}

/// Orders ISO 9660 identifiers as ECMA-119 9.3 requires: by name, then extension, each padded
/// with spaces, then by version, highest first.
pub fn iso_order(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let split = |id: &[u8]| -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let (nv, ver) = match id.iter().position(|&c| c == b';') {
            Some(i) => (&id[..i], id[i + 1..].to_vec()),
            None => (id, Vec::new()),
        };
        match nv.iter().position(|&c| c == b'.') {
            Some(i) => (nv[..i].to_vec(), nv[i + 1..].to_vec(), ver),
            None => (nv.to_vec(), Vec::new(), ver),
        }
    };
    let padded = |x: &[u8], y: &[u8]| {
        let n = x.len().max(y.len());
        let p = |v: &[u8]| -> Vec<u8> {
            v.iter()
                .copied()
                .chain(std::iter::repeat(b' '))
                .take(n)
                .collect()
        };
        p(x).cmp(&p(y))
    };
    let (an, ae, av) = split(a);
    let (bn, be, bv) = split(b);
    padded(&an, &bn)
        .then_with(|| padded(&ae, &be))
        .then_with(|| bv.cmp(&av))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(names: &[(&str, bool)], r: Rules) -> Vec<String> {
        identifiers(names, r)
            .into_iter()
            .map(|b| match r {
                Rules::Joliet(_) => String::from_utf16(
                    &b.chunks(2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]))
                        .collect::<Vec<_>>(),
                )
                .unwrap(),
                _ => String::from_utf8(b).unwrap(),
            })
            .collect()
    }

    #[test]
    fn level1_names_are_8_3_and_unique() {
        let got = ids(
            &[
                ("readme.txt", false),
                ("README.TXT", false),
                ("a long name.jpeg", false),
                ("Makefile", false),
                ("src", true),
                ("some.dir", true),
            ],
            Rules::Level1,
        );
        assert_eq!(
            got,
            [
                "README.TXT;1",
                "READM001.TXT;1",
                "A_LONG_N.JPE;1",
                "MAKEFILE.;1",
                "SRC",
                "SOME_DIR"
            ]
        );
    }

    #[test]
    fn level2_names_keep_31_characters() {
        let got = ids(
            &[("Long file name with spaces, more than thirty.txt", false)],
            Rules::Level2,
        );
        assert_eq!(got, ["LONG_FILE_NAME_WITH_SPACES_.TXT;1"]);
    }

    #[test]
    fn joliet_names_are_cleaned_and_cut_keeping_the_extension() {
        let long = format!("{}.txt", "x".repeat(100));
        let got = ids(
            &[
                ("a:b?.txt", false),
                (&long, false),
                (&long.replace('x', "X"), false),
            ],
            Rules::Joliet(64),
        );
        assert_eq!(got[0], "a_b_.txt");
        assert_eq!(got[1].encode_utf16().count(), 64);
        assert!(got[1].ends_with(".txt"));
        let twins = ids(
            &[
                (&long, false),
                (&format!("{}y.txt", "x".repeat(100)), false),
            ],
            Rules::Joliet(64),
        );
        assert_ne!(twins[0], twins[1]);
        assert!(twins[1].ends_with("~1.txt"), "{}", twins[1]);
    }

    #[test]
    fn ecma_order() {
        let mut v: Vec<&[u8]> = vec![b"B.TXT;1", b"A.TXT;1", b"A;1", b"AB.C;1", b"A.B;1"];
        v.sort_by(|a, b| iso_order(a, b));
        assert_eq!(
            v,
            [
                b"A;1".as_slice(),
                b"A.B;1",
                b"A.TXT;1",
                b"AB.C;1",
                b"B.TXT;1"
            ]
        );
    }
}
