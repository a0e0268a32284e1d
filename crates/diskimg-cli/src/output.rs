//! Text and JSON rendering of library reports.

use anyhow::Result;
use diskimg::fs::FileType;
use diskimg::ops::info::{DeviceReport, FsReport, InfoReport};
use diskimg::ops::list::ListEntry;
use serde::Serialize;
use serde_json::Value;
use std::fmt::Write as _;
use std::io::Write;

/// Pretty JSON on standard output.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// `1536` -> `1.5 KiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// `drwxr-xr-x` from a type and permission bits; without bits, what a read-only disc shows.
pub fn mode_string(t: FileType, mode: Option<u32>) -> String {
    let mode = mode.unwrap_or(match t {
        FileType::Directory => 0o555,
        FileType::Symlink => 0o777,
        _ => 0o444,
    });
    let mut s = String::with_capacity(10);
    s.push(t.ls_char());
    for (shift, special, ch) in [(6, 0o4000, 's'), (3, 0o2000, 's'), (0, 0o1000, 't')] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        let x = bits & 1 != 0;
        s.push(match (mode & special != 0, x) {
            (true, true) => ch,
            (true, false) => ch.to_ascii_uppercase(),
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    s
}

/// One `ls -l` line.
pub fn long_line(e: &ListEntry, shown: &str, size_width: usize) -> String {
    let m = &e.metadata;
    let time = m.mtime.map_or_else(
        || "                ".to_owned(),
        |t| {
            let (y, mo, d, h, mi, _) = t.to_civil();
            format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}")
        },
    );
    let owner = match (m.uid, m.gid) {
        (Some(u), Some(g)) => format!("{u:>5} {g:>5}"),
        _ => format!("{:>5} {:>5}", "-", "-"),
    };
    let mut line = format!(
        "{} {:>3} {owner} {:>size_width$} {time} {shown}",
        mode_string(m.file_type, m.mode),
        m.nlink.unwrap_or(1),
        m.size,
    );
    if let Some(t) = &e.target {
        let _ = write!(line, " -> {t}");
    }
    line
}

/// The human form of `info`.
pub fn info_text(r: &InfoReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}: {} ({} bytes)",
        r.file,
        human_size(r.file_size),
        r.file_size
    );
    if r.containers.is_empty() {
        let _ = writeln!(s, "format: raw image");
    }
    for c in &r.containers {
        let _ = writeln!(s, "format: {}", c.format);
        details(&mut s, &c.details, "  ");
    }
    device(&mut s, &r.content, "");
    s
}

fn device(s: &mut String, d: &DeviceReport, indent: &str) {
    let _ = writeln!(
        s,
        "{indent}device: {} ({} bytes), {}-byte sectors",
        human_size(d.size),
        d.size,
        d.sector_size
    );
    if let Some(pt) = &d.partition_table {
        let _ = writeln!(s, "{indent}partition table: {}", pt.scheme.to_uppercase());
        details(s, &pt.details, &format!("{indent}  "));
        for w in &pt.warnings {
            let _ = writeln!(s, "{indent}  warning: {w}");
        }
        for p in &pt.partitions {
            let part = &p.partition;
            let _ = writeln!(
                s,
                "{indent}  partition {}: start {} ({}), size {} ({}), type {}{}{}{}",
                part.index,
                part.start,
                human_size(part.start),
                part.length,
                human_size(part.length),
                part.type_id,
                part.type_name
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default(),
                part.name
                    .as_ref()
                    .map(|n| format!(", name \"{n}\""))
                    .unwrap_or_default(),
                if part.bootable { ", bootable" } else { "" },
            );
            if let Some(g) = &part.guid {
                let _ = writeln!(s, "{indent}    guid: {g}");
            }
            if let Some(c) = &p.content {
                let inner = format!("{indent}    ");
                for f in &c.file_systems {
                    fs_line(s, f, &inner);
                }
                for w in &c.warnings {
                    let _ = writeln!(s, "{inner}warning: {w}");
                }
            }
        }
    }
    if !d.file_systems.is_empty() {
        let _ = writeln!(s, "{indent}file systems:");
        for f in &d.file_systems {
            fs_line(s, f, &format!("{indent}  "));
            details(s, &f.details, &format!("{indent}    "));
        }
    }
    if let Some(b) = &d.boot {
        let c = &b.el_torito;
        let _ = writeln!(
            s,
            "{indent}boot: El Torito catalog at sector {}, platform {}{}",
            c.catalog_lba,
            c.platform,
            if c.id.is_empty() {
                String::new()
            } else {
                format!(", id \"{}\"", c.id)
            }
        );
        for e in &c.entries {
            let _ = writeln!(
                s,
                "{indent}  image {}: {} {}, emulation {}, sector {}, {} ({} bytes){}",
                e.index,
                e.platform,
                if e.bootable {
                    "bootable"
                } else {
                    "not bootable"
                },
                e.emulation,
                e.load_lba,
                human_size(e.size),
                e.size,
                e.file
                    .as_ref()
                    .map(|f| format!(", file {f}"))
                    .unwrap_or_default()
            );
        }
    }
    for w in &d.warnings {
        let _ = writeln!(s, "{indent}warning: {w}");
    }
}

fn fs_line(s: &mut String, f: &FsReport, indent: &str) {
    let label = f
        .label
        .as_deref()
        .map(|l| format!(" \"{l}\""))
        .unwrap_or_default();
    let state = match (f.readable, f.default) {
        (true, true) => " (default)".to_owned(),
        (true, false) => String::new(),
        (false, _) => format!(
            " (not readable: {})",
            f.note.as_deref().unwrap_or("unsupported")
        ),
    };
    let _ = writeln!(s, "{indent}{}{label}{state}", f.kind);
}

/// Scalar details as `key: value` lines; arrays as their length.
fn details(s: &mut String, v: &Value, indent: &str) {
    let Some(map) = v.as_object() else { return };
    for (k, v) in map {
        let text = match v {
            Value::String(t) if t.is_empty() => continue,
            Value::String(t) => t.clone(),
            Value::Null => continue,
            Value::Array(a) if a.is_empty() => continue,
            Value::Array(a) => format!("{} entries", a.len()),
            Value::Object(_) => continue,
            other => other.to_string(),
        };
        let _ = writeln!(s, "{indent}{k}: {text}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_modes() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(mode_string(FileType::Directory, Some(0o755)), "drwxr-xr-x");
        assert_eq!(mode_string(FileType::File, Some(0o4755)), "-rwsr-xr-x");
        assert_eq!(mode_string(FileType::File, None), "-r--r--r--");
    }
}
