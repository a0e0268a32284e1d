//! Finding a name in a folder of an Apple file system (HFS+, APFS): the spelling asked for,
//! else the same name in another Unicode normalization (macOS stores decomposed or
//! normalization-insensitive names), ignoring case on case-insensitive volumes; and
//! `NAME:rsrc`, a file's resource fork.

use super::{DirEntry, FileType, NodeId};
use crate::error::Result;
use unicode_normalization::UnicodeNormalization;

/// Whether a stored name and a wanted one name the same entry.
pub fn names_match(stored: &str, wanted: &str, case_insensitive: bool) -> bool {
    if stored == wanted {
        return true;
    }
    let a: String = stored.nfd().collect();
    let b: String = wanted.nfd().collect();
    a == b || (case_insensitive && a.to_lowercase() == b.to_lowercase())
}

/// The entry of `entries` named `name`: the exact spelling first, then a matching one.
/// `NAME:rsrc` is the file's node with `rsrc_bit` set, when `has_rsrc` says it has a fork.
pub fn lookup(
    entries: &[DirEntry],
    name: &str,
    case_insensitive: bool,
    rsrc_bit: NodeId,
    has_rsrc: impl Fn(NodeId) -> Result<bool>,
) -> Result<Option<NodeId>> {
    let matching = |wanted: &str| {
        entries.iter().find(|e| e.name == wanted).or_else(|| {
            entries
                .iter()
                .find(|e| names_match(&e.name, wanted, case_insensitive))
        })
    };
    if let Some(e) = matching(name) {
        return Ok(Some(e.node));
    }
    if let Some(e) = name.strip_suffix(":rsrc").and_then(matching) {
        if e.file_type == FileType::File && has_rsrc(e.node)? {
            return Ok(Some(e.node | rsrc_bit));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, node: NodeId, file_type: FileType) -> DirEntry {
        DirEntry {
            name: name.to_owned(),
            node,
            file_type,
        }
    }

    #[test]
    fn exact_then_normalized_then_case_then_fork() {
        let entries = [
            entry("cafe\u{301}", 2, FileType::File),
            entry("Readme", 3, FileType::File),
            entry("Dir", 4, FileType::Directory),
        ];
        let find = |name: &str, ci: bool| lookup(&entries, name, ci, 1 << 60, |n| Ok(n == 3));
        assert_eq!(find("caf\u{e9}", false).unwrap(), Some(2));
        assert_eq!(find("readme", false).unwrap(), None);
        assert_eq!(find("readme", true).unwrap(), Some(3));
        assert_eq!(find("Readme:rsrc", false).unwrap(), Some(3 | 1 << 60));
        assert_eq!(find("caf\u{e9}:rsrc", false).unwrap(), None);
        assert_eq!(find("Dir:rsrc", false).unwrap(), None);
    }
}
