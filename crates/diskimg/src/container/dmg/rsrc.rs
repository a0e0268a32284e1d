//! The classic Mac OS resource fork, as older DMGs store their blkx tables (the koly's resource
//! fork, used when an image has no XML property list).
//!
//! Layout (Inside Macintosh: More Macintosh Toolbox, "Resource File Format"), big-endian,
//! offsets relative to the fork:
//!
//! ```text
//! header   data offset, map offset, data length, map length (u32 each)
//! data     per resource: u32 length, bytes
//! map      header copy (16), next map (4), file ref (2), attributes (2),
//!          type list offset (u16, from the map), name list offset (u16, from the map)
//! types    count - 1 (u16); per type: code (4), resources - 1 (u16),
//!          reference list offset (u16, from the type list)
//! refs     per resource: id (i16), name offset (u16, from the name list; 0xffff none),
//!          attributes (u8), data offset (u24, from the data), reserved (u32)
//! names    length (u8), bytes (Mac OS Roman; read as Latin-1)
//! ```

use super::FORMAT;
use crate::container::bytes::{be16, be32};
use crate::error::{Error, Result};

/// Most resources read from one fork.
pub const MAX_RESOURCES: usize = 65_536;

/// One resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// Its type code (`blkx`, `plst`, ...).
    pub code: [u8; 4],
    /// Its id.
    pub id: i16,
    /// Its name, if it has one.
    pub name: Option<String>,
    /// Its attributes.
    pub attributes: u8,
    /// Its data.
    pub data: Vec<u8>,
}

/// Reads every resource of type `code` in the fork `b` (stored at `at` of the image).
pub fn resources_of(b: &[u8], code: &[u8; 4], at: u64) -> Result<Vec<Resource>> {
    let bad = |off: usize, msg: &str| {
        Error::corrupt(FORMAT, "resource fork", at + off as u64, msg.to_owned())
    };
    let slice = |off: usize, len: usize| -> Result<&[u8]> {
        off.checked_add(len)
            .and_then(|end| b.get(off..end))
            .ok_or_else(|| bad(off, "a structure lies past the end of the fork"))
    };
    slice(0, 16)?;
    let data_off = be32(b, 0) as usize;
    let map_off = be32(b, 4) as usize;
    let map = slice(map_off, 30)?;
    let types_off = map_off + usize::from(be16(map, 24));
    let names_off = map_off + usize::from(be16(map, 26));
    let types = slice(types_off, 2)?;
    let type_count = usize::from(be16(types, 0)).wrapping_add(1) & 0xffff;
    let mut out = Vec::new();
    for t in 0..type_count {
        let e = slice(types_off + 2 + t * 8, 8)?;
        if &e[..4] != code {
            continue;
        }
        let n = usize::from(be16(e, 4)) + 1;
        let refs_off = types_off + usize::from(be16(e, 6));
        for r in 0..n {
            if out.len() >= MAX_RESOURCES {
                return Err(Error::limit(
                    FORMAT,
                    "resource fork",
                    at,
                    format!("more than {MAX_RESOURCES} resources"),
                ));
            }
            let re = slice(refs_off + r * 12, 12)?;
            let name_off = be16(re, 2);
            let attributes = re[4];
            let rel = (be32(re, 4) & 0x00ff_ffff) as usize;
            let item = data_off
                .checked_add(rel)
                .ok_or_else(|| bad(refs_off, "resource data offset overflows"))?;
            let len = be32(slice(item, 4)?, 0) as usize;
            let data = slice(item + 4, len)?.to_vec();
            let name = if name_off == 0xffff {
                None
            } else {
                let at = names_off + usize::from(name_off);
                let l = usize::from(slice(at, 1)?[0]);
                Some(slice(at + 1, l)?.iter().map(|&c| char::from(c)).collect())
            };
            out.push(Resource {
                code: *code,
                id: be16(re, 0) as i16,
                name,
                attributes,
                data,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fork holding `items` (id, name, data) of type `code`, laid out as the format says.
    pub(crate) fn build(code: &[u8; 4], items: &[(i16, &str, &[u8])]) -> Vec<u8> {
        let mut data = Vec::new();
        let mut offsets = Vec::new();
        for (_, _, d) in items {
            offsets.push(data.len());
            data.extend_from_slice(&(d.len() as u32).to_be_bytes());
            data.extend_from_slice(d);
        }
        let mut names = Vec::new();
        let mut name_offs = Vec::new();
        for (_, n, _) in items {
            name_offs.push(names.len());
            names.push(n.len() as u8);
            names.extend_from_slice(n.as_bytes());
        }
        let mut map = vec![0u8; 28];
        let types_rel = 28u16;
        let mut types = Vec::new();
        types.extend_from_slice(&0u16.to_be_bytes());
        types.extend_from_slice(code);
        types.extend_from_slice(&((items.len() - 1) as u16).to_be_bytes());
        types.extend_from_slice(&10u16.to_be_bytes());
        for (i, (id, _, _)) in items.iter().enumerate() {
            types.extend_from_slice(&id.to_be_bytes());
            types.extend_from_slice(&(name_offs[i] as u16).to_be_bytes());
            types.push(0x50);
            types.extend_from_slice(&(offsets[i] as u32).to_be_bytes()[1..]);
            types.extend_from_slice(&[0; 4]);
        }
        let names_rel = types_rel as usize + types.len();
        map[24..26].copy_from_slice(&types_rel.to_be_bytes());
        map[26..28].copy_from_slice(&(names_rel as u16).to_be_bytes());
        map.extend_from_slice(&types);
        map.extend_from_slice(&names);
        let mut fork = vec![0u8; 256];
        let data_off = 256u32;
        let map_off = data_off + data.len() as u32;
        fork[0..4].copy_from_slice(&data_off.to_be_bytes());
        fork[4..8].copy_from_slice(&map_off.to_be_bytes());
        fork[8..12].copy_from_slice(&(data.len() as u32).to_be_bytes());
        fork[12..16].copy_from_slice(&(map.len() as u32).to_be_bytes());
        fork.extend_from_slice(&data);
        fork.extend_from_slice(&map);
        fork
    }

    #[test]
    fn reads_resources_and_refuses_bad_offsets() {
        let fork = build(b"blkx", &[(-1, "DDM", b"one"), (0, "disk image", b"two!")]);
        let r = resources_of(&fork, b"blkx", 0).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].id, -1);
        assert_eq!(r[0].name.as_deref(), Some("DDM"));
        assert_eq!(r[1].data, b"two!");
        assert!(resources_of(&fork, b"plst", 0).unwrap().is_empty());
        for cut in [10, 200, fork.len() - 3] {
            assert!(resources_of(&fork[..cut], b"blkx", 0).is_err(), "cut {cut}");
        }
    }
}
