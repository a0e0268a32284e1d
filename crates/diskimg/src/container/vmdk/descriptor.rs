//! The VMDK text descriptor (VMware "Virtual Disk Format 1.1", section "The Descriptor File").
//!
//! Lines are `key = value` pairs (values optionally quoted), extent lines
//! (`RW 16777216 SPARSE "disk.vmdk"`, `RDONLY 2048 FLAT "disk-flat.vmdk" 0`, `NOACCESS 100 ZERO`),
//! the disk database (`ddb.geometry.cylinders = "16"`), comments (`#`) and blank lines. Any
//! other line is an error: a descriptor is small, and garbage in it means the file is not one.

use crate::error::{Error, Result};

/// Longest descriptor parsed.
pub const MAX_DESCRIPTOR_LEN: usize = 1 << 20;
/// Most extent lines.
pub const MAX_EXTENTS: usize = 32768;
/// `parentCID` of a disk without a parent.
pub const NO_PARENT_CID: u32 = 0xFFFF_FFFF;

/// Access mode of an extent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read-write.
    Rw,
    /// Read-only.
    RdOnly,
    /// Not accessible (read as zeros here).
    NoAccess,
}

/// Extent types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtentType {
    /// A flat (raw) file, hosted products.
    Flat,
    /// A hosted sparse extent (`KDMV` header).
    Sparse,
    /// Reads as zeros; no file.
    Zero,
    /// A flat file on ESXi (VMFS).
    Vmfs,
    /// An ESXi sparse (`COWD`) snapshot extent.
    VmfsSparse,
    /// A raw device mapping.
    VmfsRdm,
    /// A raw device.
    VmfsRaw,
    /// An ESXi space-efficient sparse extent.
    SeSparse,
}

impl ExtentType {
    fn parse(s: &str) -> Option<ExtentType> {
        Some(match s {
            "FLAT" => ExtentType::Flat,
            "SPARSE" => ExtentType::Sparse,
            "ZERO" => ExtentType::Zero,
            "VMFS" => ExtentType::Vmfs,
            "VMFSSPARSE" => ExtentType::VmfsSparse,
            "VMFSRDM" => ExtentType::VmfsRdm,
            "VMFSRAW" => ExtentType::VmfsRaw,
            "SESPARSE" => ExtentType::SeSparse,
            _ => return None,
        })
    }

    /// The name as the descriptor spells it.
    pub fn name(self) -> &'static str {
        match self {
            ExtentType::Flat => "FLAT",
            ExtentType::Sparse => "SPARSE",
            ExtentType::Zero => "ZERO",
            ExtentType::Vmfs => "VMFS",
            ExtentType::VmfsSparse => "VMFSSPARSE",
            ExtentType::VmfsRdm => "VMFSRDM",
            ExtentType::VmfsRaw => "VMFSRAW",
            ExtentType::SeSparse => "SESPARSE",
        }
    }
}

/// One extent line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtentLine {
    /// Access mode.
    pub access: Access,
    /// Guest sectors (512 bytes) the extent holds.
    pub sectors: u64,
    /// Extent type.
    pub kind: ExtentType,
    /// The extent's file, relative to the descriptor (none for ZERO).
    pub file: Option<String>,
    /// Sector offset in the file where the extent starts (FLAT/VMFS).
    pub offset: u64,
}

/// A parsed descriptor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VmdkDescriptor {
    /// `version`.
    pub version: Option<String>,
    /// `encoding`.
    pub encoding: Option<String>,
    /// Content id, changed on every write.
    pub cid: Option<u32>,
    /// The parent's content id; [`NO_PARENT_CID`] without a parent.
    pub parent_cid: Option<u32>,
    /// `createType` (`monolithicSparse`, `streamOptimized`, `twoGbMaxExtentFlat`, `vmfs`...).
    pub create_type: Option<String>,
    /// Where the parent is (relative to this descriptor, or absolute).
    pub parent_file_name_hint: Option<String>,
    /// Extents in guest order.
    pub extents: Vec<ExtentLine>,
    /// Disk database (`ddb.*`) entries.
    pub ddb: Vec<(String, String)>,
    /// Other keys.
    pub other: Vec<(String, String)>,
}

impl VmdkDescriptor {
    /// Whether `b` looks like a descriptor (for probing).
    pub fn looks_like(b: &[u8]) -> bool {
        let text = &b[..b.len().min(4096)];
        let s = String::from_utf8_lossy(text);
        s.trim_start().starts_with("# Disk DescriptorFile")
            || (s.contains("createType") && s.contains("CID"))
    }

    /// Parses descriptor text (NUL-terminated when embedded).
    pub fn parse(raw: &[u8]) -> Result<VmdkDescriptor> {
        let bad = |line: usize, msg: String| {
            Error::corrupt("vmdk", "descriptor", 0, format!("line {line}: {msg}"))
        };
        if raw.len() > MAX_DESCRIPTOR_LEN {
            return Err(Error::limit(
                "vmdk",
                "descriptor",
                0,
                format!(
                    "descriptor of {} bytes (at most {MAX_DESCRIPTOR_LEN})",
                    raw.len()
                ),
            ));
        }
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        let text = String::from_utf8_lossy(&raw[..end]);
        let mut d = VmdkDescriptor::default();
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let first = line.split_whitespace().next().unwrap_or("");
            let access = match first {
                "RW" => Some(Access::Rw),
                "RDONLY" => Some(Access::RdOnly),
                "NOACCESS" => Some(Access::NoAccess),
                _ => None,
            };
            if let Some(access) = access {
                if d.extents.len() >= MAX_EXTENTS {
                    return Err(Error::limit(
                        "vmdk",
                        "descriptor",
                        0,
                        format!("more than {MAX_EXTENTS} extents"),
                    ));
                }
                d.extents
                    .push(parse_extent(access, &line[first.len()..]).map_err(|m| bad(n, m))?);
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                return Err(bad(
                    n,
                    format!("neither an extent nor key = value: {line:.60}"),
                ));
            };
            let key = k.trim();
            if key.is_empty() || key.contains(char::is_whitespace) {
                return Err(bad(n, format!("bad key {key:.60}")));
            }
            let value = unquote(v.trim()).to_owned();
            let hex = |v: &str| {
                u32::from_str_radix(v.trim_start_matches("0x"), 16)
                    .map_err(|_| bad(n, format!("{key} {v:.20} is not hexadecimal")))
            };
            match key {
                "version" => d.version = Some(value),
                "encoding" => d.encoding = Some(value),
                "CID" => d.cid = Some(hex(&value)?),
                "parentCID" => d.parent_cid = Some(hex(&value)?),
                "createType" => d.create_type = Some(value),
                "parentFileNameHint" => d.parent_file_name_hint = Some(value),
                k if k.starts_with("ddb.") => d.ddb.push((k.to_owned(), value)),
                k => d.other.push((k.to_owned(), value)),
            }
        }
        Ok(d)
    }

    /// The descriptor as text, in the order VMware writes it: header keys, the extent lines,
    /// then the disk database. Values are quoted where VMware quotes them.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut t = String::from("# Disk DescriptorFile\n");
        let _ = writeln!(t, "version={}", self.version.as_deref().unwrap_or("1"));
        if let Some(e) = &self.encoding {
            let _ = writeln!(t, "encoding=\"{e}\"");
        }
        let _ = writeln!(t, "CID={:08x}", self.cid.unwrap_or(0));
        let _ = writeln!(
            t,
            "parentCID={:08x}",
            self.parent_cid.unwrap_or(NO_PARENT_CID)
        );
        for (k, v) in &self.other {
            let _ = writeln!(t, "{k}={v}");
        }
        if let Some(c) = &self.create_type {
            let _ = writeln!(t, "createType=\"{c}\"");
        }
        if let Some(h) = &self.parent_file_name_hint {
            let _ = writeln!(t, "parentFileNameHint=\"{h}\"");
        }
        t.push_str("\n# Extent description\n");
        for e in &self.extents {
            let access = match e.access {
                Access::Rw => "RW",
                Access::RdOnly => "RDONLY",
                Access::NoAccess => "NOACCESS",
            };
            let _ = write!(t, "{access} {} {}", e.sectors, e.kind.name());
            if let Some(f) = &e.file {
                let _ = write!(t, " \"{f}\"");
            }
            if matches!(e.kind, ExtentType::Flat | ExtentType::Vmfs) {
                let _ = write!(t, " {}", e.offset);
            }
            t.push('\n');
        }
        t.push_str("\n# The Disk Data Base\n#DDB\n\n");
        for (k, v) in &self.ddb {
            let _ = writeln!(t, "{k} = \"{v}\"");
        }
        t
    }

    /// A disk database value.
    pub fn ddb(&self, key: &str) -> Option<&str> {
        self.ddb
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the descriptor names a parent.
    pub fn has_parent(&self) -> bool {
        self.parent_cid.is_some_and(|c| c != NO_PARENT_CID) || self.parent_file_name_hint.is_some()
    }
}

fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(v)
}

/// `16777216 SPARSE "name with spaces.vmdk" 0`, after the access word.
fn parse_extent(access: Access, rest: &str) -> std::result::Result<ExtentLine, String> {
    let rest = rest.trim_start();
    let (size, rest) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let sectors: u64 = size
        .parse()
        .map_err(|_| format!("extent size {size:.20} is not a number"))?;
    let rest = rest.trim_start();
    let (kind, rest) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let kind = ExtentType::parse(kind).ok_or_else(|| format!("unknown extent type {kind:.20}"))?;
    let rest = rest.trim();
    let (file, rest) = if let Some(q) = rest.strip_prefix('"') {
        let close = q.find('"').ok_or("unterminated file name")?;
        (Some(q[..close].to_owned()), q[close + 1..].trim())
    } else if rest.is_empty() {
        (None, "")
    } else {
        return Err(format!("file name must be quoted: {rest:.40}"));
    };
    let offset = if rest.is_empty() {
        0
    } else {
        rest.parse()
            .map_err(|_| format!("extent offset {rest:.20} is not a number"))?
    };
    if file.is_none() && kind != ExtentType::Zero {
        return Err(format!("{} extent without a file", kind.name()));
    }
    Ok(ExtentLine {
        access,
        sectors,
        kind,
        file,
        offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_descriptor_with_every_kind_of_line() {
        let text = b"# Disk DescriptorFile\nversion=1\nencoding=\"UTF-8\"\nCID=9cc4fef4\nparentCID=ffffffff\ncreateType=\"twoGbMaxExtentFlat\"\nparentFileNameHint=\"base dir/base.vmdk\"\n\n# Extent description\nRW 4192256 FLAT \"my disk-f001.vmdk\" 0\nRDONLY 2048 VMFS \"x-flat.vmdk\" 10\nNOACCESS 100 ZERO\n\nddb.virtualHWVersion = \"4\"\nddb.geometry.cylinders = \"4161\"\n\0garbage after the NUL";
        let d = VmdkDescriptor::parse(text).unwrap();
        assert_eq!(d.cid, Some(0x9cc4_fef4));
        assert_eq!(d.parent_cid, Some(NO_PARENT_CID));
        assert_eq!(d.create_type.as_deref(), Some("twoGbMaxExtentFlat"));
        assert_eq!(
            d.parent_file_name_hint.as_deref(),
            Some("base dir/base.vmdk")
        );
        assert_eq!(d.extents.len(), 3);
        assert_eq!(d.extents[0].file.as_deref(), Some("my disk-f001.vmdk"));
        assert_eq!(d.extents[1].access, Access::RdOnly);
        assert_eq!(d.extents[1].offset, 10);
        assert_eq!(d.extents[2].kind, ExtentType::Zero);
        assert_eq!(d.ddb("ddb.geometry.cylinders"), Some("4161"));
    }

    #[test]
    fn written_text_parses_back() {
        let d = VmdkDescriptor {
            version: Some("1".into()),
            encoding: Some("UTF-8".into()),
            cid: Some(0x1234_abcd),
            parent_cid: Some(0x0000_0042),
            create_type: Some("twoGbMaxExtentFlat".into()),
            parent_file_name_hint: Some("base dir/base.vmdk".into()),
            extents: vec![
                ExtentLine {
                    access: Access::Rw,
                    sectors: 4192256,
                    kind: ExtentType::Flat,
                    file: Some("d-f001.vmdk".into()),
                    offset: 0,
                },
                ExtentLine {
                    access: Access::Rw,
                    sectors: 100,
                    kind: ExtentType::Sparse,
                    file: Some("d-s002.vmdk".into()),
                    offset: 0,
                },
            ],
            ddb: vec![("ddb.adapterType".into(), "lsilogic".into())],
            other: Vec::new(),
        };
        assert_eq!(VmdkDescriptor::parse(d.to_text().as_bytes()).unwrap(), d);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(VmdkDescriptor::parse(b"createType=\"x\"\nthis is not a descriptor\n").is_err());
        assert!(VmdkDescriptor::parse(b"RW abc SPARSE \"x\"\n").is_err());
        assert!(VmdkDescriptor::parse(b"RW 10 SPARSE x.vmdk\n").is_err());
        assert!(VmdkDescriptor::parse(b"RW 10 FLAT\n").is_err());
        assert!(VmdkDescriptor::parse(b"CID=zz\n").is_err());
    }
}
