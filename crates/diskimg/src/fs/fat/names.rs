//! FAT names: 8.3 short names (OEM code page 850, with the lower-case flags Windows NT and
//! Linux write in byte 12) and VFAT long names (UTF-16 in a run of LFN entries, tied to their
//! short entry by a checksum).

/// Code page 850, bytes 0x80-0xFF: the OEM code page of Western European DOS and Windows, and
/// what mtools writes by default. (Code page 437, the US page and Linux's default, agrees on
/// 0x80-0x9A, the accented letters short names mostly hold; nothing on a volume says which
/// page wrote it.)
const CP850_HIGH: [char; 128] = [
    'Ç', 'ü', 'é', 'â', 'ä', 'à', 'å', 'ç', 'ê', 'ë', 'è', 'ï', 'î', 'ì', 'Ä', 'Å', //
    'É', 'æ', 'Æ', 'ô', 'ö', 'ò', 'û', 'ù', 'ÿ', 'Ö', 'Ü', 'ø', '£', 'Ø', '×', 'ƒ', //
    'á', 'í', 'ó', 'ú', 'ñ', 'Ñ', 'ª', 'º', '¿', '®', '¬', '½', '¼', '¡', '«', '»', //
    '░', '▒', '▓', '│', '┤', 'Á', 'Â', 'À', '©', '╣', '║', '╗', '╝', '¢', '¥', '┐', //
    '└', '┴', '┬', '├', '─', '┼', 'ã', 'Ã', '╚', '╔', '╩', '╦', '╠', '═', '╬', '¤', //
    'ð', 'Ð', 'Ê', 'Ë', 'È', 'ı', 'Í', 'Î', 'Ï', '┘', '┌', '█', '▄', '¦', 'Ì', '▀', //
    'Ó', 'ß', 'Ô', 'Ò', 'õ', 'Õ', 'µ', 'þ', 'Þ', 'Ú', 'Û', 'Ù', 'ý', 'Ý', '¯', '´', //
    '\u{ad}', '±', '‗', '¾', '¶', '§', '÷', '¸', '°', '¨', '·', '¹', '³', '²', '■', '\u{a0}',
];

/// Byte 12 flag: the base name is stored upper case but shown lower case.
const LOWER_BASE: u8 = 0x08;
/// Byte 12 flag: the extension likewise.
const LOWER_EXT: u8 = 0x10;

fn oem(b: u8) -> char {
    if b < 0x80 {
        char::from(b)
    } else {
        CP850_HIGH[usize::from(b - 0x80)]
    }
}

/// The short name of an entry: `NAME.EXT` without padding, with the case flags applied.
pub(crate) fn short_name(raw: &[u8; 11], case_flags: u8) -> String {
    let mut raw = *raw;
    if raw[0] == 0x05 {
        raw[0] = 0xE5; // 0xE5 as a first character is stored as 0x05
    }
    let part = |bytes: &[u8], lower: bool| -> String {
        let end = bytes.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
        bytes[..end]
            .iter()
            .map(|&b| {
                let c = oem(b);
                if lower {
                    c.to_lowercase().next().unwrap_or(c)
                } else {
                    c
                }
            })
            .collect()
    };
    let base = part(&raw[..8], case_flags & LOWER_BASE != 0);
    let ext = part(&raw[8..], case_flags & LOWER_EXT != 0);
    if ext.is_empty() {
        base
    } else {
        format!("{base}.{ext}")
    }
}

/// A volume label from 11 padded OEM bytes; `None` when blank or `NO NAME`.
pub(crate) fn label(raw: &[u8]) -> Option<String> {
    let s: String = raw.iter().map(|&b| oem(b)).collect();
    let s = s.trim_end_matches([' ', '\0']).to_owned();
    (!s.is_empty() && s != "NO NAME").then_some(s)
}

/// The checksum of a short name that each of its LFN entries carries.
pub(crate) fn lfn_checksum(raw: &[u8; 11]) -> u8 {
    raw.iter()
        .fold(0u8, |sum, &b| sum.rotate_right(1).wrapping_add(b))
}

/// Collects the LFN entries in front of a short entry. Entries come last part first, each
/// numbered; a broken sequence is dropped, as Windows drops it, and the short name is used.
#[derive(Default)]
pub(crate) struct LongName {
    units: Vec<u16>,
    /// Sequence number expected next (counting down to 1); 0 when not collecting.
    expect: u8,
    checksum: u8,
    complete: bool,
}

/// Most LFN entries in one name (255 characters, 13 per entry).
const MAX_LFN_ENTRIES: u8 = 20;

impl LongName {
    /// Takes one LFN entry.
    pub fn push(&mut self, e: &[u8]) {
        let ord = e[0];
        let seq = ord & 0x1F;
        if ord & 0x40 != 0 {
            self.units.clear();
            self.complete = false;
            if seq == 0 || seq > MAX_LFN_ENTRIES {
                self.expect = 0;
                return;
            }
            self.units.resize(usize::from(seq) * 13, 0xFFFF);
            self.expect = seq;
            self.checksum = e[13];
        } else if self.expect == 0 || seq != self.expect || e[13] != self.checksum {
            self.reset();
            return;
        }
        let at = usize::from(seq - 1) * 13;
        let chars = e[1..11]
            .chunks_exact(2)
            .chain(e[14..26].chunks_exact(2))
            .chain(e[28..32].chunks_exact(2));
        for (i, c) in chars.enumerate() {
            self.units[at + i] = u16::from_le_bytes([c[0], c[1]]);
        }
        self.expect -= 1;
        self.complete = self.expect == 0;
    }

    /// Forgets a partial sequence (a deleted or foreign entry came between).
    pub fn reset(&mut self) {
        self.units.clear();
        self.expect = 0;
        self.complete = false;
    }

    /// The long name for the short entry `raw`, if a whole sequence with its checksum precedes
    /// it. Resets for the next entry.
    pub fn take(&mut self, raw: &[u8; 11]) -> Option<String> {
        let ok = self.complete && self.checksum == lfn_checksum(raw);
        let units = std::mem::take(&mut self.units);
        self.reset();
        if !ok {
            return None;
        }
        let end = units
            .iter()
            .position(|&u| u == 0 || u == 0xFFFF)
            .unwrap_or(units.len());
        let name = String::from_utf16_lossy(&units[..end]);
        (!name.is_empty()).then_some(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lfn(ord: u8, sum: u8, text: &str) -> [u8; 32] {
        let mut units: Vec<u16> = text.encode_utf16().collect();
        if units.len() < 13 {
            units.push(0);
        }
        units.resize(13, 0xFFFF);
        let mut e = [0u8; 32];
        e[0] = ord;
        e[11] = 0x0F;
        e[13] = sum;
        let slots: Vec<usize> = (1..11)
            .step_by(2)
            .chain((14..26).step_by(2))
            .chain((28..32).step_by(2))
            .collect();
        for (u, at) in units.iter().zip(slots) {
            e[at..at + 2].copy_from_slice(&u.to_le_bytes());
        }
        e
    }

    #[test]
    fn short_names_honour_case_flags_and_code_page() {
        assert_eq!(short_name(b"README  TXT", 0), "README.TXT");
        assert_eq!(short_name(b"LOWER   TXT", 0x18), "lower.txt");
        assert_eq!(short_name(b"MAKEFILE   ", 0x08), "makefile");
        assert_eq!(short_name(b"\x05BC     TXT", 0), "ÕBC.TXT");
        assert_eq!(short_name(b"\x9aN\xd8C\x9dD\x90    ", 0x08), "ünïcødé");
        assert_eq!(short_name(b"\x80       \x81  ", 0), "Ç.ü");
        assert_eq!(label(b"NO NAME    "), None);
        assert_eq!(label(b"FAT32LABEL "), Some("FAT32LABEL".into()));
    }

    #[test]
    fn long_names_need_a_whole_sequence_and_the_checksum() {
        let short = *b"LONGFI~1TXT";
        let sum = lfn_checksum(&short);
        let mut n = LongName::default();
        n.push(&lfn(0x42, sum, "t"));
        n.push(&lfn(0x01, sum, "Long file.txx"));
        assert_eq!(n.take(&short).as_deref(), Some("Long file.txxt"));
        let mut n = LongName::default();
        n.push(&lfn(0x42, sum, "t"));
        n.push(&lfn(0x01, sum.wrapping_add(1), "Long file.txx"));
        assert_eq!(n.take(&short), None, "checksum differs");
        let mut n = LongName::default();
        n.push(&lfn(0x41, sum ^ 1, "x"));
        assert_eq!(n.take(&short), None, "belongs to another short name");
        let mut n = LongName::default();
        n.push(&lfn(0x43, sum, "t"));
        n.push(&lfn(0x01, sum, "Long file.txx"));
        assert_eq!(n.take(&short), None, "entry 2 is missing");
    }
}
