//! A small, bounded reader and writer of XML property lists (Apple's `PropertyList-1.0` DTD).
//!
//! DMGs keep their blkx tables in an XML plist after the data fork, and sparse bundles describe
//! themselves in `Info.plist`. Only what those need is read: `dict`, `array`, `key`, `string`,
//! `data` (base64), `integer`, `real`, `true`, `false` and `date` elements, the XML declaration,
//! a DOCTYPE, comments, and the five predefined entities plus numeric character references.
//! Parsing is iterative (no recursion), nesting stops at [`MAX_DEPTH`] and the number of
//! values at [`MAX_VALUES`]; the caller bounds the input's length. Binary plists (`bplist00`)
//! are not read: DMGs do not use them.

use crate::error::{Error, Result};

/// Deepest nesting of dicts and arrays.
pub const MAX_DEPTH: usize = 32;
/// Most values in one document.
pub const MAX_VALUES: usize = 4_000_000;

/// A property-list value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `<dict>`: keys and values in document order.
    Dict(Vec<(String, Value)>),
    /// `<array>`.
    Array(Vec<Value>),
    /// `<string>`.
    String(String),
    /// `<data>`: base64-decoded bytes.
    Data(Vec<u8>),
    /// `<integer>`.
    Integer(i128),
    /// `<real>`.
    Real(f64),
    /// `<true/>`, `<false/>`.
    Bool(bool),
    /// `<date>`, as written.
    Date(String),
}

impl Value {
    /// The value of `key` in a dict.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(items) => items.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The items of an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The text of a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The bytes of a data value.
    pub fn as_data(&self) -> Option<&[u8]> {
        match self {
            Value::Data(d) => Some(d),
            _ => None,
        }
    }

    /// An integer, or a string holding a decimal or `0x` hexadecimal number (plists written by
    /// hdiutil store some numbers as strings).
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Integer(i) => u64::try_from(*i).ok(),
            Value::String(s) => {
                let s = s.trim();
                match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                    Some(h) => u64::from_str_radix(h, 16).ok(),
                    None => s.parse().ok(),
                }
            }
            _ => None,
        }
    }
}

fn bad(at: usize, msg: impl Into<String>) -> Error {
    Error::corrupt("plist", "XML property list", at as u64, msg)
}

/// Parses an XML property list; the value inside `<plist>` is returned.
pub fn parse(text: &[u8]) -> Result<Value> {
    Parser { s: text, pos: 0 }.document()
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

/// A container being filled.
enum Open {
    Dict(Vec<(String, Value)>, Option<String>),
    Array(Vec<Value>),
}

/// One markup item.
enum Tag<'a> {
    Start(&'a [u8]),
    End(&'a [u8]),
    Empty(&'a [u8]),
}

impl<'a> Parser<'a> {
    fn document(mut self) -> Result<Value> {
        let mut stack: Vec<Open> = Vec::new();
        let mut in_plist = false;
        let mut result: Option<Value> = None;
        let mut count = 0usize;
        loop {
            self.skip_space();
            if self.pos >= self.s.len() {
                break;
            }
            let at = self.pos;
            let tag = self.tag()?;
            let value = match tag {
                Tag::Start(b"plist") if !in_plist && stack.is_empty() => {
                    in_plist = true;
                    continue;
                }
                Tag::End(b"plist") if in_plist && stack.is_empty() => {
                    in_plist = false;
                    continue;
                }
                Tag::Empty(b"plist") => continue,
                Tag::Start(b"dict") => {
                    if stack.len() >= MAX_DEPTH {
                        return Err(bad(at, format!("nested deeper than {MAX_DEPTH} levels")));
                    }
                    stack.push(Open::Dict(Vec::new(), None));
                    continue;
                }
                Tag::Start(b"array") => {
                    if stack.len() >= MAX_DEPTH {
                        return Err(bad(at, format!("nested deeper than {MAX_DEPTH} levels")));
                    }
                    stack.push(Open::Array(Vec::new()));
                    continue;
                }
                Tag::End(b"dict") => match stack.pop() {
                    Some(Open::Dict(items, None)) => Value::Dict(items),
                    Some(Open::Dict(_, Some(k))) => {
                        return Err(bad(at, format!("key '{k}' has no value")));
                    }
                    _ => return Err(bad(at, "</dict> does not close a dict")),
                },
                Tag::End(b"array") => match stack.pop() {
                    Some(Open::Array(items)) => Value::Array(items),
                    _ => return Err(bad(at, "</array> does not close an array")),
                },
                Tag::Empty(b"dict") => Value::Dict(Vec::new()),
                Tag::Empty(b"array") => Value::Array(Vec::new()),
                Tag::Empty(b"true") => Value::Bool(true),
                Tag::Empty(b"false") => Value::Bool(false),
                Tag::Empty(b"string") => Value::String(String::new()),
                Tag::Empty(b"data") => Value::Data(Vec::new()),
                Tag::Empty(b"key") => {
                    self.set_key(&mut stack, String::new(), at)?;
                    continue;
                }
                Tag::Start(
                    name @ (b"key" | b"string" | b"data" | b"integer" | b"real" | b"date"),
                ) => {
                    let raw = self.text_until(name)?;
                    let text = decode_text(raw, at)?;
                    match name {
                        b"key" => {
                            self.set_key(&mut stack, text, at)?;
                            continue;
                        }
                        b"string" => Value::String(text),
                        b"data" => Value::Data(
                            base64_decode(text.as_bytes())
                                .ok_or_else(|| bad(at, "<data> is not valid base64"))?,
                        ),
                        b"integer" => Value::Integer(parse_int(text.trim()).ok_or_else(|| {
                            bad(at, format!("'{}' is not an integer", text.trim()))
                        })?),
                        b"real" => Value::Real(
                            text.trim()
                                .parse()
                                .map_err(|_| bad(at, "<real> is not a number"))?,
                        ),
                        _ => Value::Date(text),
                    }
                }
                Tag::Start(other) | Tag::Empty(other) | Tag::End(other) => {
                    return Err(bad(
                        at,
                        format!("unexpected <{}>", String::from_utf8_lossy(other)),
                    ));
                }
            };
            count += 1;
            if count > MAX_VALUES {
                return Err(bad(at, format!("more than {MAX_VALUES} values")));
            }
            match stack.last_mut() {
                Some(Open::Array(items)) => items.push(value),
                Some(Open::Dict(items, key)) => match key.take() {
                    Some(k) => items.push((k, value)),
                    None => return Err(bad(at, "a dict value without a <key>")),
                },
                None if result.is_none() => result = Some(value),
                None => return Err(bad(at, "more than one top-level value")),
            }
        }
        if !stack.is_empty() {
            return Err(bad(self.pos, "the document ends inside a dict or array"));
        }
        result.ok_or_else(|| bad(0, "no value in the property list"))
    }

    fn set_key(&self, stack: &mut [Open], k: String, at: usize) -> Result<()> {
        match stack.last_mut() {
            Some(Open::Dict(_, slot @ None)) => {
                *slot = Some(k);
                Ok(())
            }
            _ => Err(bad(at, "<key> outside a dict, or two keys in a row")),
        }
    }

    fn skip_space(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn find(&self, needle: &[u8]) -> Option<usize> {
        self.s[self.pos..]
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|i| self.pos + i)
    }

    /// Reads the next tag, skipping declarations, DOCTYPEs and comments.
    fn tag(&mut self) -> Result<Tag<'a>> {
        loop {
            let at = self.pos;
            if self.s.get(self.pos) != Some(&b'<') {
                return Err(bad(at, "text outside an element"));
            }
            let rest = &self.s[self.pos..];
            let skip_to = if rest.starts_with(b"<?") {
                Some(b"?>".as_slice())
            } else if rest.starts_with(b"<!--") {
                Some(b"-->".as_slice())
            } else if rest.starts_with(b"<!") {
                Some(b">".as_slice())
            } else {
                None
            };
            if let Some(end) = skip_to {
                let e = self
                    .find(end)
                    .ok_or_else(|| bad(at, "unterminated markup"))?;
                self.pos = e + end.len();
                self.skip_space();
                continue;
            }
            let e = self.find(b">").ok_or_else(|| bad(at, "unterminated tag"))?;
            let inner = &self.s[self.pos + 1..e];
            self.pos = e + 1;
            let (inner, kind) = if let Some(n) = inner.strip_prefix(b"/") {
                (n, 2)
            } else if let Some(n) = inner.strip_suffix(b"/") {
                (n, 1)
            } else {
                (inner, 0)
            };
            // The element name, without attributes (`<plist version="1.0">`).
            let name_len = inner
                .iter()
                .position(|c| c.is_ascii_whitespace())
                .unwrap_or(inner.len());
            let name = &inner[..name_len];
            return Ok(match kind {
                0 => Tag::Start(name),
                1 => Tag::Empty(name),
                _ => Tag::End(name),
            });
        }
    }

    /// The raw text up to `</name>`, consuming the end tag.
    fn text_until(&mut self, name: &[u8]) -> Result<&'a [u8]> {
        let at = self.pos;
        let mut end = Vec::with_capacity(name.len() + 3);
        end.extend_from_slice(b"</");
        end.extend_from_slice(name);
        end.push(b'>');
        let e = self
            .find(&end)
            .ok_or_else(|| bad(at, format!("no </{}>", String::from_utf8_lossy(name))))?;
        let text = &self.s[self.pos..e];
        if text.contains(&b'<') {
            return Err(bad(at, "markup inside a text element"));
        }
        self.pos = e + end.len();
        Ok(text)
    }
}

fn parse_int(t: &str) -> Option<i128> {
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => i128::from_str_radix(h, 16).ok(),
        None => t.parse().ok(),
    }
}

/// Text with entities and character references replaced.
fn decode_text(raw: &[u8], at: usize) -> Result<String> {
    let s = std::str::from_utf8(raw).map_err(|_| bad(at, "text is not UTF-8"))?;
    if !s.contains('&') {
        return Ok(s.to_owned());
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 1..];
        let j = tail
            .find(';')
            .filter(|&j| j <= 10)
            .ok_or_else(|| bad(at, "unterminated entity"))?;
        let ent = &tail[..j];
        let c = match ent {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code =
                    if let Some(h) = ent.strip_prefix("#x").or_else(|| ent.strip_prefix("#X")) {
                        u32::from_str_radix(h, 16).ok()
                    } else if let Some(d) = ent.strip_prefix('#') {
                        d.parse().ok()
                    } else {
                        None
                    };
                code.and_then(char::from_u32)
                    .ok_or_else(|| bad(at, format!("unknown entity &{ent};")))?
            }
        };
        out.push(c);
        rest = &tail[j + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Decodes base64, ignoring whitespace; `None` on any other character or a bad length.
pub fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc = 0u32;
    let mut bits = 0u32;
    let mut pad = 0usize;
    for &c in text {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => {
                pad += 1;
                continue;
            }
            c if c.is_ascii_whitespace() => continue,
            _ => return None,
        };
        if pad > 0 {
            return None; // data after padding
        }
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    (pad <= 2 && bits < 6).then_some(out)
}

/// Encodes base64 in lines of `line` characters, each starting with `indent`.
pub fn base64_encode(data: &[u8], line: usize, indent: &str) -> String {
    let mut flat = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                flat.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                flat.push('=');
            }
        }
    }
    let mut out = String::with_capacity(flat.len() + flat.len() / line * (indent.len() + 1));
    for chunk in flat.as_bytes().chunks(line.max(4)) {
        out.push_str(indent);
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// Writes `value` as an XML property list, indented with tabs as Apple's tools write it.
pub fn write(value: &Value) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n<plist version=\"1.0\">\n",
    );
    write_value(&mut out, value, 0);
    out.push_str("</plist>\n");
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn write_value(out: &mut String, v: &Value, depth: usize) {
    let ind = "\t".repeat(depth);
    match v {
        Value::Dict(items) => {
            out.push_str(&format!("{ind}<dict>\n"));
            for (k, v) in items {
                out.push_str(&format!("{ind}\t<key>{}</key>\n", escape(k)));
                write_value(out, v, depth + 1);
            }
            out.push_str(&format!("{ind}</dict>\n"));
        }
        Value::Array(items) => {
            out.push_str(&format!("{ind}<array>\n"));
            for v in items {
                write_value(out, v, depth + 1);
            }
            out.push_str(&format!("{ind}</array>\n"));
        }
        Value::String(s) => out.push_str(&format!("{ind}<string>{}</string>\n", escape(s))),
        Value::Data(d) => {
            out.push_str(&format!("{ind}<data>\n"));
            out.push_str(&base64_encode(d, 44, &ind));
            out.push_str(&format!("{ind}</data>\n"));
        }
        Value::Integer(i) => out.push_str(&format!("{ind}<integer>{i}</integer>\n")),
        Value::Real(r) => out.push_str(&format!("{ind}<real>{r}</real>\n")),
        Value::Bool(true) => out.push_str(&format!("{ind}<true/>\n")),
        Value::Bool(false) => out.push_str(&format!("{ind}<false/>\n")),
        Value::Date(d) => out.push_str(&format!("{ind}<date>{}</date>\n", escape(d))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_known_answers() {
        assert_eq!(base64_decode(b"bWlzaA==").unwrap(), b"mish");
        assert_eq!(base64_decode(b"bWlz\n\taA==").unwrap(), b"mish");
        assert_eq!(base64_decode(b"").unwrap(), b"");
        assert!(base64_decode(b"bW*z").is_none());
        assert!(base64_decode(b"bQ==bQ").is_none());
        assert_eq!(base64_encode(b"mish", 76, ""), "bWlzaA==\n");
        for n in 0..40 {
            let d: Vec<u8> = (0..n).map(|i| (i * 37) as u8).collect();
            assert_eq!(
                base64_decode(base64_encode(&d, 44, "\t\t").as_bytes()).unwrap(),
                d
            );
        }
    }

    #[test]
    fn parses_what_hdiutil_writes() {
        let text = br#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<!-- a comment -->
<dict>
	<key>resource-fork</key>
	<dict>
		<key>blkx</key>
		<array>
			<dict>
				<key>Attributes</key>
				<string>0x0050</string>
				<key>Data</key>
				<data>
				bWlzaA==
				</data>
				<key>Name</key>
				<string>disk &amp; &lt;image&gt; &#x41;</string>
				<key>Empty</key>
				<string/>
			</dict>
		</array>
		<key>n</key><integer>-5</integer>
		<key>t</key><true/>
	</dict>
</dict>
</plist>
"#;
        let v = parse(text).unwrap();
        let rf = v.get("resource-fork").unwrap();
        let b = &rf.get("blkx").unwrap().as_array().unwrap()[0];
        assert_eq!(b.get("Attributes").unwrap().as_u64(), Some(0x50));
        assert_eq!(b.get("Data").unwrap().as_data().unwrap(), b"mish");
        assert_eq!(b.get("Name").unwrap().as_str(), Some("disk & <image> A"));
        assert_eq!(b.get("Empty").unwrap().as_str(), Some(""));
        assert_eq!(rf.get("n"), Some(&Value::Integer(-5)));
        assert_eq!(rf.get("t"), Some(&Value::Bool(true)));
        // What we write reads back the same.
        assert_eq!(parse(write(&v).as_bytes()).unwrap(), v);
    }

    #[test]
    fn hostile_documents_are_errors() {
        let deep = "<array>".repeat(MAX_DEPTH + 1);
        for t in [
            "<plist><dict><key>a</key></dict></plist>",
            "<plist><dict><string>x</string></dict></plist>",
            "<plist><array></dict></plist>",
            "<plist><array>",
            "<plist><string>x</plist>",
            "<plist><integer>zz</integer></plist>",
            "<plist><data>@@</data></plist>",
            "<plist><string>&bogus;</string></plist>",
            "<plist><string>a</string><string>b</string></plist>",
            "<plist><foo/></plist>",
            "<plist>text</plist>",
            "<!-- never closed",
            "",
            deep.as_str(),
        ] {
            assert!(parse(t.as_bytes()).is_err(), "{t}");
        }
    }
}
