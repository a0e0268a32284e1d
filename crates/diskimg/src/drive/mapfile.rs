//! The map of a drive copy, in GNU ddrescue's mapfile format, so that ddrescue can resume or
//! retry what diskimg could not read.
//!
//! ```text
//! # Mapfile. Created by diskimg
//! # current_pos  current_status  current_pass
//! 0x00000000     +               1
//! #      pos        size  status
//! 0x00000000  0x00100000  +        finished
//! 0x00100000  0x00000200  -        bad sector (filled with zeros in the image)
//! 0x00100200  0x08000000  ?        not read (unused by the file system, --used-only)
//! ```

use std::fmt::Write;

/// The status of a range, as ddrescue spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Read (`+`).
    Finished,
    /// Unreadable after every retry (`-`).
    BadSector,
    /// Not read on purpose (`?`).
    NonTried,
}

impl Status {
    fn char(self) -> char {
        match self {
            Status::Finished => '+',
            Status::BadSector => '-',
            Status::NonTried => '?',
        }
    }
}

/// Ranges of a copy in order; adjacent ranges of one status are merged.
#[derive(Debug, Clone, Default)]
pub struct MapFile {
    ranges: Vec<(u64, u64, Status)>,
}

impl MapFile {
    /// Records `[offset, offset + len)` as `status`.
    pub fn push(&mut self, offset: u64, len: u64, status: Status) {
        if len == 0 {
            return;
        }
        if let Some(last) = self.ranges.last_mut() {
            if last.2 == status && last.0 + last.1 == offset {
                last.1 += len;
                return;
            }
        }
        self.ranges.push((offset, len, status));
    }

    /// The ranges with a given status.
    pub fn with_status(&self, status: Status) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.ranges
            .iter()
            .filter(move |r| r.2 == status)
            .map(|r| (r.0, r.1))
    }

    /// The file's text.
    pub fn render(&self, command: &str) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# Mapfile. Created by diskimg {}",
            env!("CARGO_PKG_VERSION")
        );
        let _ = writeln!(s, "# Command line: {command}");
        let _ = writeln!(s, "# current_pos  current_status  current_pass");
        let end = self.ranges.last().map_or(0, |r| r.0 + r.1);
        let _ = writeln!(s, "{end:#010x}     +               1");
        let _ = writeln!(s, "#      pos        size  status");
        for (o, l, st) in &self.ranges {
            let _ = writeln!(s, "{o:#010x}  {l:#010x}  {}", st.char());
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_and_renders() {
        let mut m = MapFile::default();
        m.push(0, 512, Status::Finished);
        m.push(512, 512, Status::Finished);
        m.push(1024, 512, Status::BadSector);
        m.push(1536, 0, Status::Finished);
        let t = m.render("x");
        assert!(t.contains("0x00000000  0x00000400  +"), "{t}");
        assert!(t.contains("0x00000400  0x00000200  -"), "{t}");
        assert_eq!(m.with_status(Status::BadSector).count(), 1);
    }
}
