//! Symbolic link targets: a sequence of path components (ECMA-167 4/14.16), turned into a
//! POSIX path as UDF 4.2.2.7 describes.

use super::FORMAT;
use super::fields::cs0;
use crate::error::{Error, Result};

/// Longest symbolic link target read, in bytes of path components.
pub(super) const MAX_LINK_LEN: u64 = 64 * 1024;

/// Decodes the path components in `b` (the link's data, at device offset `offset`).
pub(super) fn target(b: &[u8], offset: u64) -> Result<String> {
    let mut parts: Vec<String> = Vec::new();
    let mut absolute = false;
    let mut at = 0;
    while at < b.len() {
        let Some(head) = b.get(at..at + 4) else {
            return Err(bad(offset, "truncated path component"));
        };
        let (kind, len) = (head[0], usize::from(head[1]));
        let Some(ident) = b.get(at + 4..at + 4 + len) else {
            return Err(bad(offset, "path component runs past the link's data"));
        };
        match kind {
            // 1: a root that the implementation defines when it carries a name (skipped);
            // 1 without a name and 2 are the root directory.
            1 if len > 0 => {}
            1 | 2 => {
                parts.clear();
                absolute = true;
            }
            3 => parts.push("..".into()),
            4 => parts.push(".".into()),
            5 => parts.push(cs0(ident)),
            _ => return Err(bad(offset, &format!("path component of type {kind}"))),
        }
        at += 4 + len;
    }
    let joined = parts.join("/");
    Ok(if absolute {
        format!("/{joined}")
    } else {
        joined
    })
}

fn bad(offset: u64, msg: &str) -> Error {
    Error::corrupt(FORMAT, "symbolic link", offset, msg.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(kind: u8, name: &str) -> Vec<u8> {
        let mut v = vec![kind, 0, 0, 0];
        if !name.is_empty() {
            v[1] = name.len() as u8 + 1;
            v.push(8);
            v.extend_from_slice(name.as_bytes());
        }
        v
    }

    #[test]
    fn paths() {
        let mut b = component(2, "");
        b.extend(component(5, "etc"));
        b.extend(component(5, "passwd"));
        assert_eq!(target(&b, 0).unwrap(), "/etc/passwd");
        let mut r = component(3, "");
        r.extend(component(5, "DATA"));
        assert_eq!(target(&r, 0).unwrap(), "../DATA");
        let mut d = component(4, "");
        d.extend(component(5, "x"));
        assert_eq!(target(&d, 0).unwrap(), "./x");
        assert!(target(&[5, 9, 0, 0, 8], 0).is_err());
        assert!(target(&[9, 0, 0, 0], 0).is_err());
    }
}
