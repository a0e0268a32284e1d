//! Text and JSON rendering of library reports.

use anyhow::Result;
use diskimg::fs::FileType;
use diskimg::ops::info::{DeviceReport, DiscReport, FsReport, InfoReport};
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
    if let Some(d) = &r.content.disc {
        let _ = writeln!(s, "format: {} (optical disc image)", d.format);
    } else if r.containers.is_empty() {
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
    if let Some(disc) = &d.disc {
        disc_text(s, disc, indent);
        for w in &d.warnings {
            let _ = writeln!(s, "{indent}warning: {w}");
        }
        return;
    }
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

fn cd_text_line(s: &mut String, t: &diskimg::optical::disc::CdText, indent: &str) {
    let parts: Vec<String> = t
        .fields()
        .filter_map(|(k, v)| v.map(|v| format!("{} \"{v}\"", k.to_lowercase())))
        .collect();
    if !parts.is_empty() {
        let _ = writeln!(s, "{indent}CD-TEXT: {}", parts.join(", "));
    }
}

fn disc_text(s: &mut String, d: &DiscReport, indent: &str) {
    let _ = writeln!(
        s,
        "{indent}optical disc: {} image, {} session{}, {} track{}",
        d.format,
        d.sessions.len(),
        if d.sessions.len() == 1 { "" } else { "s" },
        d.tracks.len(),
        if d.tracks.len() == 1 { "" } else { "s" }
    );
    for f in &d.files {
        let _ = writeln!(s, "{indent}  data file: {f}");
    }
    if let Some(c) = &d.catalog {
        let _ = writeln!(s, "{indent}  catalog: {c}");
    }
    cd_text_line(s, &d.cd_text, &format!("{indent}  "));
    for session in &d.sessions {
        let _ = writeln!(
            s,
            "{indent}  session {} ({}): tracks {}-{}, lead-out at {}",
            session.number,
            serde_json::to_value(session.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            session.first_track,
            session.last_track,
            session.leadout
        );
        for t in d.tracks.iter().filter(|t| t.session == session.number) {
            let mut extra = Vec::new();
            if t.pregap > 0 {
                extra.push(if t.pregap_stored == t.pregap {
                    format!("pregap {}", t.pregap)
                } else {
                    format!("pregap {} ({} stored)", t.pregap, t.pregap_stored)
                });
            }
            if t.postgap > 0 {
                extra.push(format!("postgap {}", t.postgap));
            }
            if t.indexes.len() > 2 || (t.indexes.len() == 2 && t.pregap == 0) {
                let idx: Vec<String> = t
                    .indexes
                    .iter()
                    .map(|i| format!("{}@{}", i.number, i.start))
                    .collect();
                extra.push(format!("indexes {}", idx.join(" ")));
            }
            let mut flags = Vec::new();
            if t.flags.copy_permitted {
                flags.push("DCP");
            }
            if t.flags.four_channel {
                flags.push("4CH");
            }
            if t.flags.pre_emphasis {
                flags.push("PRE");
            }
            if t.flags.scms {
                flags.push("SCMS");
            }
            if !flags.is_empty() {
                extra.push(format!("flags {}", flags.join(" ")));
            }
            if let Some(i) = &t.isrc {
                extra.push(format!("ISRC {i}"));
            }
            if t.subchannel {
                extra.push("subchannel".to_owned());
            }
            let _ = writeln!(
                s,
                "{indent}    track {:2}: {:<11} start {:>7}, length {:>7} ({}){}{}{}",
                t.number,
                t.mode,
                t.start,
                t.length,
                human_size(
                    t.length
                        * if t.sector_mode == diskimg::optical::TrackMode::Audio {
                            2352
                        } else {
                            2048
                        }
                ),
                if extra.is_empty() { "" } else { ", " },
                extra.join(", "),
                if d.default_track == Some(t.number) {
                    " (default)"
                } else {
                    ""
                }
            );
            cd_text_line(s, &t.cd_text, &format!("{indent}      "));
            if let Some(c) = &t.content {
                let inner = format!("{indent}      ");
                for f in &c.file_systems {
                    fs_line(s, f, &inner);
                }
                if let Some(pt) = &c.partition_table {
                    let _ = writeln!(s, "{inner}partition table: {}", pt.scheme.to_uppercase());
                }
                for w in &c.warnings {
                    let _ = writeln!(s, "{inner}warning: {w}");
                }
            }
        }
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
