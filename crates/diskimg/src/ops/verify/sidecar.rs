//! Checksum files beside an image: `SHA256SUMS`, `image.iso.sha256`, `image.md5`, ...
//!
//! Two line styles are read, as `sha256sum -c` and BSD `sha256 -c` write them:
//!
//! - GNU: `<hex> <space or *><name>` (a `\` before the digest marks an escaped name: `\\` and
//!   `\n` in the name); the algorithm comes from the file's name (`SHA1SUMS`, `.md5`, `b3sum`)
//!   or else from the digest length (32 MD5, 40 SHA-1, 64 SHA-256, 128 SHA-512).
//! - BSD: `SHA256 (<name>) = <hex>` with `MD5`, `SHA1`, `SHA256`, `SHA512`, `BLAKE3`.
//!
//! A file holding only a digest (`image.iso.sha256` containing just the hex) applies to the
//! image it is named after. Lines for other files, comments (`#`) and the armour of a signed
//! file (`-----BEGIN PGP SIGNED MESSAGE-----`) are skipped; signatures are not checked.
//! Every digest the files hold for the image is computed in one read of the image file.

use super::{CheckResult, Status, VerifyOptions};
use crate::error::{Error, Result, ResultExt};
use crate::io::FileSource;
use crate::ops::hash::{Algorithm, HashProgress, hash_device};
use std::path::{Path, PathBuf};

/// Largest checksum file read.
pub const MAX_SUMS_FILE: u64 = 16 << 20;

/// Names of checksum files that list many files, looked for in the image's folder.
const LIST_NAMES: &[&str] = &[
    "SHA256SUMS",
    "SHA512SUMS",
    "SHA1SUMS",
    "MD5SUMS",
    "B3SUMS",
    "CHECKSUM",
    "CHECKSUMS",
    "sha256sum.txt",
    "sha512sum.txt",
    "md5sum.txt",
    "SHA256SUMS.txt",
];

/// Extensions of per-image checksum files (`image.iso.sha256`, `image.sha256`).
const EXTENSIONS: &[&str] = &[
    "sha256",
    "sha512",
    "sha1",
    "md5",
    "b3",
    "blake3",
    "sha256sum",
    "sha512sum",
    "sha1sum",
    "md5sum",
];

/// One digest a checksum file records for a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SumLine {
    /// The file named (`None` for a bare digest).
    pub name: Option<String>,
    /// The algorithm.
    pub algorithm: Algorithm,
    /// Lower-case hex.
    pub hex: String,
    /// Line number, from 1.
    pub line: usize,
}

/// Checksum files beside `image`: per-image files first, then folder-wide lists.
pub fn find(image: &Path) -> Vec<PathBuf> {
    let dir = image
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Some(file_name) = image.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Vec::new();
    };
    let stem = image.file_stem().map(|s| s.to_string_lossy().into_owned());
    let mut out = Vec::new();
    for ext in EXTENSIONS {
        out.push(dir.join(format!("{file_name}.{ext}")));
        if let Some(stem) = &stem {
            out.push(dir.join(format!("{stem}.{ext}")));
        }
    }
    out.extend(LIST_NAMES.iter().map(|n| dir.join(n)));
    out.retain(|p| p.is_file() && p.as_path() != image);
    out.dedup();
    out
}

/// The algorithm a checksum file's name implies.
fn algorithm_from_name(path: &Path) -> Option<Algorithm> {
    let n = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    [
        ("sha512", Algorithm::Sha512),
        ("sha256", Algorithm::Sha256),
        ("sha1", Algorithm::Sha1),
        ("md5", Algorithm::Md5),
        ("b3", Algorithm::Blake3),
        ("blake3", Algorithm::Blake3),
    ]
    .into_iter()
    .find(|(k, _)| n.contains(k))
    .map(|(_, a)| a)
}

fn algorithm_from_len(len: usize) -> Option<Algorithm> {
    match len {
        32 => Some(Algorithm::Md5),
        40 => Some(Algorithm::Sha1),
        64 => Some(Algorithm::Sha256),
        128 => Some(Algorithm::Sha512),
        _ => None,
    }
}

/// Parses the lines of a checksum file; `hint` is the algorithm its name implies.
pub fn parse(text: &str, hint: Option<Algorithm>) -> Vec<SumLine> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("-----") {
            continue;
        }
        if let Some(l) = parse_bsd(trimmed) {
            out.push(SumLine { line: i + 1, ..l });
        } else if let Some(l) = parse_gnu(line, hint) {
            out.push(SumLine { line: i + 1, ..l });
        }
    }
    out
}

fn parse_bsd(line: &str) -> Option<SumLine> {
    let (algo, rest) = line.split_once(" (")?;
    let (name, hex) = rest.rsplit_once(") = ")?;
    let algorithm: Algorithm = algo.parse().ok()?;
    let hex = hex.trim();
    (hex.len() == algorithm.hex_len() && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| {
        SumLine {
            name: Some(name.to_owned()),
            algorithm,
            hex: hex.to_ascii_lowercase(),
            line: 0,
        }
    })
}

fn parse_gnu(line: &str, hint: Option<Algorithm>) -> Option<SumLine> {
    let (escaped, line) = match line.strip_prefix('\\') {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let hex_len = line.bytes().take_while(u8::is_ascii_hexdigit).count();
    let algorithm = hint
        .filter(|a| a.hex_len() == hex_len)
        .or_else(|| algorithm_from_len(hex_len))?;
    let hex = line[..hex_len].to_ascii_lowercase();
    let rest = &line[hex_len..];
    let name = if rest.trim().is_empty() {
        None
    } else {
        let name = rest
            .strip_prefix(" *")
            .or_else(|| rest.strip_prefix("  "))
            .or_else(|| rest.strip_prefix(' '))?;
        Some(if escaped {
            name.replace("\\n", "\n").replace("\\\\", "\\")
        } else {
            name.to_owned()
        })
    };
    Some(SumLine {
        name,
        algorithm,
        hex,
        line: 0,
    })
}

/// Whether a line's name refers to the image (`./name`, `*name`, or a path ending in it).
fn names_image(name: &str, file_name: &str) -> bool {
    let name = name.trim_start_matches('*');
    name == file_name
        || name.strip_prefix("./") == Some(file_name)
        || Path::new(name).file_name().is_some_and(|n| n == file_name)
}

/// Checks the image against every checksum file found beside it or named in `opts`.
pub fn check(
    image: &Path,
    opts: &VerifyOptions,
    progress: &dyn HashProgress,
) -> Result<Vec<CheckResult>> {
    let file_name = image
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut files: Vec<(PathBuf, bool)> = opts.sums.iter().map(|p| (p.clone(), true)).collect();
    if !opts.no_sidecars {
        for p in find(image) {
            if !files.iter().any(|(q, _)| same_file(q, &p)) {
                files.push((p, false));
            }
        }
    }
    // (file, line, record) for every record about the image.
    let mut wanted: Vec<(PathBuf, SumLine)> = Vec::new();
    let mut out = Vec::new();
    for (path, named) in &files {
        let text = match read_text(path) {
            Ok(t) => t,
            Err(e) => {
                out.push(CheckResult::new(
                    "sidecar",
                    path.display().to_string(),
                    Status::Error,
                    e.to_string(),
                ));
                continue;
            }
        };
        let lines = parse(&text, algorithm_from_name(path));
        let single = lines.len() == 1 && lines[0].name.is_none();
        let before = wanted.len();
        for l in lines {
            let about_image = match &l.name {
                Some(n) => names_image(n, &file_name),
                None => single,
            };
            if about_image {
                wanted.push((path.clone(), l));
            }
        }
        if *named && wanted.len() == before {
            out.push(CheckResult::new(
                "sidecar",
                path.display().to_string(),
                Status::Error,
                format!("{} has no checksum for {file_name}", path.display()),
            ));
        }
    }
    if wanted.is_empty() {
        return Ok(out);
    }
    let mut algorithms: Vec<Algorithm> = wanted.iter().map(|(_, l)| l.algorithm).collect();
    algorithms.sort();
    algorithms.dedup();
    let src = FileSource::open(image)?;
    let digests = hash_device(&src, &algorithms, progress)?;
    for (path, l) in wanted {
        let actual = digests
            .iter()
            .find(|d| d.algorithm == l.algorithm)
            .map(|d| d.hex.clone());
        let ok = actual.as_deref() == Some(l.hex.as_str());
        let mut r = CheckResult::new(
            "sidecar",
            format!("{} line {}", path.display(), l.line),
            if ok { Status::Pass } else { Status::Fail },
            if ok {
                format!("{} matches", l.algorithm.name().to_uppercase())
            } else {
                format!(
                    "{} differs from the checksum file",
                    l.algorithm.name().to_uppercase()
                )
            },
        );
        r.algorithm = Some(l.algorithm.name().into());
        r.expected = Some(l.hex);
        r.actual = actual;
        out.push(r);
    }
    Ok(out)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

fn read_text(path: &Path) -> Result<String> {
    let meta = std::fs::metadata(path).map_err(Error::from).in_file(path)?;
    if meta.len() > MAX_SUMS_FILE {
        return Err(Error::new(
            crate::ErrorKind::LimitExceeded,
            format!(
                "checksum file of {} bytes exceeds the limit of {MAX_SUMS_FILE}",
                meta.len()
            ),
        )
        .with_file(path));
    }
    let bytes = std::fs::read(path).map_err(Error::from).in_file(path)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const H64: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn gnu_and_bsd_lines() {
        let text = format!(
            "# comment\n{H64}  disk.iso\n{H64} *other.iso\nSHA256 (disk.iso) = {H64}\nMD5 (x) = 900150983cd24fb0d6963f7d28e17f72\ngarbage\n"
        );
        let l = parse(&text, None);
        assert_eq!(l.len(), 4);
        assert_eq!(l[0].name.as_deref(), Some("disk.iso"));
        assert_eq!(l[0].algorithm, Algorithm::Sha256);
        assert_eq!(l[0].line, 2);
        assert_eq!(l[1].name.as_deref(), Some("other.iso"));
        assert_eq!(l[2].name.as_deref(), Some("disk.iso"));
        assert_eq!(l[3].algorithm, Algorithm::Md5);
    }

    #[test]
    fn bare_digest_and_hint() {
        let l = parse(&format!("{H64}\n"), Some(Algorithm::Blake3));
        assert_eq!(l[0].algorithm, Algorithm::Blake3);
        assert_eq!(l[0].name, None);
        let l = parse(&format!("\\{H64}  a\\\\b\n"), None);
        assert_eq!(l[0].name.as_deref(), Some("a\\b"));
    }

    #[test]
    fn names_match_by_file_name() {
        assert!(names_image("./disk.iso", "disk.iso"));
        assert!(names_image("out/disk.iso", "disk.iso"));
        assert!(!names_image("disk.iso.part", "disk.iso"));
    }
}
