//! The file structure of the UDF side (ECMA-167 part 4, UDF 2.3): the file set descriptor,
//! file entries (UDF 1.02) and extended file entries (2.x), their allocation descriptors and
//! allocation extent descriptors, file identifier descriptors, and the device specification
//! extended attribute.

use super::UdfRevision;
use super::encode::{
    IMPLEMENTATION, charspec, domain_suffix, dstring, implementation_suffix, long_ad, put16, put32,
    put64, regid, seal, short_ad, timestamp,
};
use super::layout::{AED_HEADER, BLOCK, DEVICE_EA, MAX_EXTENT, SHORT_AD, aed_room, entry_header};
use crate::fs::udf::spec::id;
use crate::time::Timestamp;

const B: usize = BLOCK as usize;

/// ICB flags (4/14.6.8): how allocation descriptors are recorded, and the set-id bits.
pub mod icb_flags {
    pub const SHORT_AD: u16 = 0;
    pub const LONG_AD: u16 = 1;
    pub const EMBEDDED: u16 = 3;
    pub const SETUID: u16 = 1 << 6;
    pub const SETGID: u16 = 1 << 7;
    pub const STICKY: u16 = 1 << 8;
}

/// An extent type of an allocation descriptor's length field: the next extent of descriptors.
const NEXT_EXTENT: u32 = 3 << 30;

/// The file set descriptor (4/14.1, UDF 2.3.2) at block 0, with the root's ICB.
pub fn file_set(revision: UdfRevision, label: &str, now: Timestamp, root: (u32, u16)) -> [u8; B] {
    let mut d = [0u8; B];
    timestamp(&mut d[16..28], now);
    put16(&mut d, 28, 3);
    put16(&mut d, 30, 3);
    put32(&mut d, 32, 1);
    put32(&mut d, 36, 1);
    charspec(&mut d[48..112]);
    dstring(&mut d[112..240], label);
    charspec(&mut d[240..304]);
    dstring(&mut d[304..336], label);
    long_ad(&mut d[400..416], BLOCK as u32, root.0, root.1, 0);
    regid(
        &mut d[416..448],
        "*OSTA UDF Compliant",
        domain_suffix(revision.bcd()),
    );
    seal(&mut d, id::FILE_SET, revision.descriptor_version(), 0, 512);
    d
}

/// A terminating descriptor at `location` (it ends the file set descriptor sequence).
pub fn terminator(revision: UdfRevision, location: u32) -> [u8; B] {
    let mut d = [0u8; B];
    seal(
        &mut d,
        id::TERMINATING,
        revision.descriptor_version(),
        location,
        512,
    );
    d
}

/// What a file entry records.
pub struct Entry<'a> {
    /// Its block, in its partition.
    pub location: u32,
    pub file_type: u8,
    /// Allocation descriptor type and set-id bits.
    pub flags: u16,
    pub uid: u32,
    pub gid: u32,
    /// UDF permissions (UDF 3.3.3.3).
    pub permissions: u32,
    pub links: u16,
    pub info_len: u64,
    pub blocks_recorded: u64,
    pub atime: Timestamp,
    pub mtime: Timestamp,
    pub ctime: Timestamp,
    pub unique_id: u64,
    /// Extended attributes.
    pub ea: &'a [u8],
    /// Allocation descriptors, or the embedded data.
    pub ads: &'a [u8],
}

/// A file entry (4/14.9, UDF 2.3.6) for UDF 1.02, an extended file entry (4/14.17) for 2.x;
/// the creation time of an extended entry is the modification time.
pub fn entry(revision: UdfRevision, e: &Entry<'_>) -> [u8; B] {
    let mut d = [0u8; B];
    // ICB tag (4/14.6): strategy 4, one entry.
    put16(&mut d, 20, 4);
    put16(&mut d, 24, 1);
    d[27] = e.file_type;
    put16(&mut d, 34, e.flags);
    put32(&mut d, 36, e.uid);
    put32(&mut d, 40, e.gid);
    put32(&mut d, 44, e.permissions);
    put16(&mut d, 48, e.links);
    put64(&mut d, 56, e.info_len);
    let header = entry_header(revision);
    let (tag, ea_len_at) = if revision.extended_entries() {
        put64(&mut d, 64, e.info_len);
        put64(&mut d, 72, e.blocks_recorded);
        timestamp(&mut d[80..92], e.atime);
        timestamp(&mut d[92..104], e.mtime);
        timestamp(&mut d[104..116], e.mtime);
        timestamp(&mut d[116..128], e.ctime);
        put32(&mut d, 128, 1);
        regid(&mut d[168..200], IMPLEMENTATION, implementation_suffix());
        put64(&mut d, 200, e.unique_id);
        (id::EXTENDED_FILE_ENTRY, 208)
    } else {
        put64(&mut d, 64, e.blocks_recorded);
        timestamp(&mut d[72..84], e.atime);
        timestamp(&mut d[84..96], e.mtime);
        timestamp(&mut d[96..108], e.ctime);
        put32(&mut d, 108, 1);
        regid(&mut d[128..160], IMPLEMENTATION, implementation_suffix());
        put64(&mut d, 160, e.unique_id);
        (id::FILE_ENTRY, 168)
    };
    put32(&mut d, ea_len_at, e.ea.len() as u32);
    put32(&mut d, ea_len_at + 4, e.ads.len() as u32);
    d[header..header + e.ea.len()].copy_from_slice(e.ea);
    let at = header + e.ea.len();
    d[at..at + e.ads.len()].copy_from_slice(e.ads);
    seal(
        &mut d,
        tag,
        revision.descriptor_version(),
        e.location,
        at + e.ads.len(),
    );
    d
}

/// One allocation descriptor of `ad_len` bytes: a `short_ad` (a block of the ICB's own
/// partition) or a `long_ad`.
fn descriptor(ad_len: usize, len: u32, block: u32, partition: u16) -> Vec<u8> {
    let mut ad = vec![0u8; ad_len];
    if ad_len == SHORT_AD {
        short_ad(&mut ad, len, block);
    } else {
        long_ad(&mut ad, len, block, partition, 0);
    }
    ad
}

/// Allocation descriptors of `ad_len` bytes for `len` bytes recorded from `block` of
/// partition `partition`, each extent at most [`MAX_EXTENT`].
pub fn extents(block: u32, len: u64, partition: u16, ad_len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len.div_ceil(MAX_EXTENT) as usize * ad_len);
    let mut done = 0u64;
    while done < len {
        let n = (len - done).min(MAX_EXTENT);
        let at = block + (done / BLOCK) as u32;
        out.extend(descriptor(ad_len, n as u32, at, partition));
        done += n;
    }
    out
}

/// Spreads allocation descriptors of `ad_len` bytes over an entry that holds `room` and,
/// when they do not fit, allocation extent descriptors (4/14.5) at blocks `aed_block..` of
/// partition `partition`, each container's last slot pointing at the next. Returns the
/// entry's descriptors and the extent blocks.
pub fn spread(
    revision: UdfRevision,
    ads: &[u8],
    ad_len: usize,
    room: usize,
    aed_block: u32,
    partition: u16,
) -> (Vec<u8>, Vec<[u8; B]>) {
    let count = ads.len() / ad_len;
    if count <= room {
        return (ads.to_vec(), Vec::new());
    }
    let pointer = |block: u32| descriptor(ad_len, NEXT_EXTENT | BLOCK as u32, block, partition);
    let mut head = ads[..(room - 1) * ad_len].to_vec();
    head.extend(pointer(aed_block));
    let mut rest = &ads[(room - 1) * ad_len..];
    let mut blocks = Vec::new();
    let mut block = aed_block;
    let per = aed_room(ad_len);
    while !rest.is_empty() {
        let mut d = [0u8; B];
        let left = rest.len() / ad_len;
        let n = if left <= per { left } else { per - 1 };
        let mut body = rest[..n * ad_len].to_vec();
        if left > per {
            body.extend(pointer(block + 1));
        }
        put32(&mut d, 20, body.len() as u32);
        d[AED_HEADER..AED_HEADER + body.len()].copy_from_slice(&body);
        seal(
            &mut d,
            id::ALLOC_EXTENT,
            revision.descriptor_version(),
            block,
            AED_HEADER + body.len(),
        );
        blocks.push(d);
        rest = &rest[n * ad_len..];
        block += 1;
    }
    (head, blocks)
}

/// Appends a file identifier descriptor (4/14.4, UDF 2.3.4) to a directory's data that starts
/// at block `first_block`: `characteristics`, the entry it names (block, partition, unique id)
/// and the identifier (empty for the parent entry).
pub fn push_identifier(
    out: &mut Vec<u8>,
    revision: UdfRevision,
    first_block: u32,
    characteristics: u8,
    icb: (u32, u16, u64),
    ident: &[u8],
) {
    let start = out.len();
    let len = super::layout::fid_len(ident.len());
    out.resize(start + len, 0);
    let d = &mut out[start..];
    put16(d, 16, 1);
    d[18] = characteristics;
    d[19] = ident.len() as u8;
    long_ad(&mut d[20..36], BLOCK as u32, icb.0, icb.1, icb.2 as u32);
    d[38..38 + ident.len()].copy_from_slice(ident);
    let location = first_block + (start / B) as u32;
    seal(d, id::FILE_ID, revision.descriptor_version(), location, len);
}

/// The extended attributes of a device (4/14.10.1, 4/14.10.7): the header descriptor, then a
/// device specification with the major and minor numbers.
pub fn device_attributes(revision: UdfRevision, location: u32, major: u32, minor: u32) -> Vec<u8> {
    let mut ea = vec![0u8; DEVICE_EA];
    // Implementation and application attributes would start after the ECMA ones: none.
    put32(&mut ea, 16, DEVICE_EA as u32);
    put32(&mut ea, 20, DEVICE_EA as u32);
    seal(
        &mut ea,
        id::EA_HEADER,
        revision.descriptor_version(),
        location,
        24,
    );
    let spec = &mut ea[24..];
    put32(spec, 0, 12);
    spec[4] = 1;
    put32(spec, 8, 24);
    put32(spec, 12, 0);
    put32(spec, 16, major);
    put32(spec, 20, minor);
    ea
}

/// UDF permissions (UDF 3.3.3.3) from a POSIX mode: read, write and execute per class, with
/// "change attributes" and "delete" where writing is allowed (never deleting the root).
pub fn permissions(mode: u32, root: bool) -> u32 {
    let mut p = (mode & 7) | ((mode >> 3 & 7) << 5) | ((mode >> 6 & 7) << 10);
    for shift in [0, 5, 10] {
        if p & (2 << shift) != 0 {
            p |= 8 << shift;
            if !root {
                p |= 16 << shift;
            }
        }
    }
    p
}

/// ICB flags for the set-id and sticky bits of a POSIX mode.
pub fn mode_flags(mode: u32) -> u16 {
    let mut f = 0;
    if mode & 0o4000 != 0 {
        f |= icb_flags::SETUID;
    }
    if mode & 0o2000 != 0 {
        f |= icb_flags::SETGID;
    }
    if mode & 0o1000 != 0 {
        f |= icb_flags::STICKY;
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_map_each_class() {
        // rwxr-x--- : owner rwx + chattr + delete, group r-x.
        let p = permissions(0o750, false);
        assert_eq!(p, (0b11111 << 10) | (0b00101 << 5));
        assert_eq!(permissions(0o777, true) & (0b10000 << 10), 0);
        assert_eq!(mode_flags(0o4755), icb_flags::SETUID);
    }

    #[test]
    fn descriptors_spill_into_chained_extents() {
        use super::super::layout::{LONG_AD, aed_count};
        let rev = UdfRevision::V2_50;
        let ads = extents(10, 300 * MAX_EXTENT, 0, LONG_AD);
        assert_eq!(ads.len(), 300 * LONG_AD);
        let (head, blocks) = spread(rev, &ads, LONG_AD, 114, 500, 0);
        assert_eq!(head.len(), 114 * LONG_AD);
        assert_eq!(blocks.len(), aed_count(300, 114, LONG_AD) as usize);
        // The entry's last descriptor points at the first extent, which points at the next.
        let le32 = |b: &[u8]| u32::from_le_bytes(b[..4].try_into().unwrap());
        assert_eq!(le32(&head[113 * 16..]) >> 30, 3);
        assert_eq!(le32(&head[113 * 16 + 4..]), 500);
        assert_eq!(le32(&blocks[0][20..]) as usize, 126 * 16);
        assert_eq!(le32(&blocks[0][24 + 125 * 16 + 4..]), 501);
        assert_eq!(le32(&blocks[0][12..]), 500);
        // Data descriptors: 113 + 125 + the rest, in order.
        assert_eq!(113 + 125 + le32(&blocks[1][20..]) as usize / 16, 300);
        assert_eq!(
            le32(&blocks[1][24 + 4..]),
            10 + 238 * (MAX_EXTENT / BLOCK) as u32
        );
        // Short descriptors: twice as many fit.
        let short = extents(10, 300 * MAX_EXTENT, 0, SHORT_AD);
        let (head, blocks) = spread(rev, &short, SHORT_AD, 229, 9, 0);
        assert_eq!((head.len(), blocks.len()), (229 * 8, 1));
        assert_eq!(le32(&blocks[0][20..]) as usize, (300 - 228) * 8);
    }
}
