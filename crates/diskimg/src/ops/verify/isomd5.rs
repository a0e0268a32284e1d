//! The MD5 that `implantisomd5` (isomd5sum; Red Hat, Fedora, many installers) writes into an
//! ISO 9660 image, checked as `checkisomd5` checks it.
//!
//! The record is text in the 512-byte application-use area of the primary volume descriptor
//! (byte 883 of the descriptor): fields separated by `;`, among them `ISO MD5SUM = <32 hex>`,
//! `SKIPSECTORS = <n>`, optionally `FRAGMENT SUMS = <60 hex digits>`, `FRAGMENT COUNT = <n>`
//! and `RHLISOSTATUS=<0|1>`. The MD5 covers the volume (the primary descriptor's volume space
//! size in 2048-byte sectors) less the last `SKIPSECTORS` sectors, with the application-use
//! area read as 512 spaces. The fragment sums split that range into `count + 1` parts: at the
//! first 32 KiB read step of part `k` (k >= 1) the MD5 of everything read so far is taken and
//! the first hexadecimal digit of each of its first `60 / count` bytes must equal digits
//! `(k - 1) * 60 / count ..` of the record. A failed fragment tells roughly where the damage is.

use super::{CheckResult, IntegrityCheck, Status, VerifyInput, layers};
use crate::error::{Error, ErrorKind, Result};
use crate::io::ReadAt;
use crate::ops::hash::{HashProgress, to_hex};
use md5::{Digest, Md5};

/// The implanted-MD5 check.
pub const CHECK: IntegrityCheck = IntegrityCheck {
    name: "iso-md5",
    run,
};

const SECTOR: u64 = 2048;
/// Offset of the application-use area in a volume descriptor.
const APPLICATION_USE: u64 = 883;
const APPLICATION_USE_LEN: usize = 512;
/// Length of the fragment sum string.
const FRAGMENT_SUM_LEN: usize = 60;
/// The step at which fragment sums are taken (checkisomd5's read size).
const STEP: usize = 32 * 1024;
/// Volume descriptors looked at before giving up on finding the primary one.
const MAX_DESCRIPTORS: u64 = 64;
/// Bytes read per call.
const READ_LEN: usize = 128 * STEP;

/// An implanted MD5 record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImplantedMd5 {
    /// Byte offset of the primary volume descriptor.
    pub pvd_offset: u64,
    /// The recorded MD5, lower-case hex.
    pub md5: String,
    /// Sectors at the end left out of the sum.
    pub skip_sectors: u64,
    /// Volume size in bytes from the primary volume descriptor.
    pub volume_size: u64,
    /// The fragment digits and their count, when recorded.
    pub fragments: Option<(String, u64)>,
}

impl ImplantedMd5 {
    /// Bytes covered by the sum.
    pub fn covered(&self) -> u64 {
        self.volume_size
            .saturating_sub(self.skip_sectors.saturating_mul(SECTOR))
    }
}

/// Reads the record from the ISO 9660 volume at the start of `dev`; `None` when there is no
/// primary volume descriptor or it holds no implanted MD5.
pub fn read_record(dev: &dyn ReadAt) -> Result<Option<ImplantedMd5>> {
    let mut d = vec![0u8; SECTOR as usize];
    for i in 0..MAX_DESCRIPTORS {
        let at = (16 + i) * SECTOR;
        if at + SECTOR > dev.size() {
            return Ok(None);
        }
        dev.read_exact_at(at, &mut d)?;
        if &d[1..6] != b"CD001" || d[0] == 255 {
            return Ok(None);
        }
        if d[0] == 1 {
            return Ok(parse(&d, at));
        }
    }
    Ok(None)
}

fn parse(pvd: &[u8], pvd_offset: u64) -> Option<ImplantedMd5> {
    let start = APPLICATION_USE as usize;
    let area = &pvd[start..start + APPLICATION_USE_LEN - 1];
    let text = String::from_utf8_lossy(area);
    let (mut md5, mut skip, mut sums, mut count) = (None, None, None, None);
    for field in text.split(';') {
        let field = field.trim_start_matches('\0');
        if let Some(v) = field.strip_prefix("ISO MD5SUM = ") {
            let v = v.get(..32)?;
            if v.bytes().all(|b| b.is_ascii_hexdigit()) {
                md5 = Some(v.to_ascii_lowercase());
            }
        } else if let Some(v) = field.strip_prefix("SKIPSECTORS = ") {
            skip = v.trim().parse::<u64>().ok();
        } else if let Some(v) = field.strip_prefix("FRAGMENT SUMS = ") {
            sums = v.get(..FRAGMENT_SUM_LEN).map(str::to_ascii_lowercase);
        } else if let Some(v) = field.strip_prefix("FRAGMENT COUNT = ") {
            count = v.trim().parse::<u64>().ok();
        }
    }
    let volume_blocks = u32::from_be_bytes(pvd[84..88].try_into().ok()?);
    Some(ImplantedMd5 {
        pvd_offset,
        md5: md5?,
        skip_sectors: skip?,
        volume_size: u64::from(volume_blocks) * SECTOR,
        fragments: sums.zip(count).filter(|(_, c)| (1..=60).contains(c)),
    })
}

/// What the data says about a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Md5Outcome {
    /// The MD5 computed.
    pub md5: String,
    /// The first fragment whose digits differ, and the byte offset where it ends.
    pub bad_fragment: Option<(u64, u64)>,
}

/// Computes the sum the record describes over `dev`.
pub fn compute(
    dev: &dyn ReadAt,
    rec: &ImplantedMd5,
    progress: &dyn HashProgress,
) -> Result<Md5Outcome> {
    let total = rec.covered();
    if total == 0 || total > dev.size() {
        return Err(Error::corrupt(
            "iso9660",
            "implanted MD5",
            rec.pvd_offset + APPLICATION_USE,
            format!(
                "the record covers {total} bytes, the device has {} bytes",
                dev.size()
            ),
        ));
    }
    let blank_start = rec.pvd_offset + APPLICATION_USE;
    let blank_end = blank_start + APPLICATION_USE_LEN as u64;
    let mut ctx = Md5::new();
    let mut previous = 0u64;
    let mut bad_fragment = None;
    let mut buf = vec![0u8; READ_LEN];
    let mut pos = 0u64;
    while pos < total {
        if progress.cancelled() {
            return Err(Error::new(ErrorKind::Io, "interrupted"));
        }
        let n = usize::try_from(total - pos).map_or(READ_LEN, |r| r.min(READ_LEN));
        let chunk = &mut buf[..n];
        dev.read_exact_at(pos, chunk)?;
        // The implanted text itself reads as spaces.
        let (lo, hi) = (blank_start.max(pos), blank_end.min(pos + n as u64));
        if lo < hi {
            chunk[(lo - pos) as usize..(hi - pos) as usize].fill(b' ');
        }
        for (i, step) in chunk.chunks(STEP).enumerate() {
            ctx.update(step);
            let offset = pos + (i * STEP) as u64;
            let Some((digits, count)) = &rec.fragments else {
                continue;
            };
            let current =
                u64::try_from(u128::from(offset) * u128::from(count + 1) / u128::from(total))
                    .unwrap_or(u64::MAX);
            if current != previous && bad_fragment.is_none() {
                previous = current;
                let per = FRAGMENT_SUM_LEN / *count as usize;
                let sum = ctx.clone().finalize();
                let got: String = sum[..per]
                    .iter()
                    .filter_map(|b| format!("{b:x}").chars().next())
                    .collect();
                let from = usize::try_from(current - 1).unwrap_or(usize::MAX) * per;
                let want = digits.get(from..from + per);
                if want != Some(got.as_str()) {
                    bad_fragment = Some((current, offset + step.len() as u64));
                }
            }
        }
        pos += n as u64;
        progress.advance(n as u64);
    }
    Ok(Md5Outcome {
        md5: to_hex(&ctx.finalize()),
        bad_fragment,
    })
}

fn run(input: &VerifyInput<'_>) -> Result<Vec<CheckResult>> {
    let mut out = Vec::new();
    for (name, layer) in layers(input.image) {
        if !layer.file_systems.iter().any(|f| f.kind == "iso9660") {
            continue;
        }
        let dev = layer.device.as_ref();
        let Some(rec) = read_record(dev)? else {
            continue;
        };
        let subject = if name == "image" {
            "ISO 9660 volume".to_owned()
        } else {
            format!("{name}: ISO 9660 volume")
        };
        let mut r = CheckResult::new(CHECK.name, subject, Status::Pass, String::new());
        r.algorithm = Some("md5".into());
        r.expected = Some(rec.md5.clone());
        match compute(dev, &rec, input.progress) {
            Ok(o) => {
                if o.md5 == rec.md5 {
                    r.message = format!("implanted MD5 matches ({} bytes)", rec.covered());
                } else {
                    r.status = Status::Fail;
                    r.message = match o.bad_fragment {
                        Some((k, end)) => {
                            r.offset = Some(end);
                            format!(
                                "implanted MD5 differs; fragment {k} (ending near byte {end}) is the first that does not match"
                            )
                        }
                        None => "implanted MD5 differs".to_owned(),
                    };
                }
                r.actual = Some(o.md5);
            }
            Err(e) if e.kind() == ErrorKind::Io && input.progress.cancelled() => return Err(e),
            Err(e) => {
                r.status = Status::Error;
                r.message = e.to_string();
            }
        }
        out.push(r);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pvd_with(text: &str, blocks: u32) -> Vec<u8> {
        let mut d = vec![0u8; 2048];
        d[0] = 1;
        d[1..6].copy_from_slice(b"CD001");
        d[84..88].copy_from_slice(&blocks.to_be_bytes());
        let area = &mut d[883..883 + 512];
        area.fill(b' ');
        area[..text.len()].copy_from_slice(text.as_bytes());
        d
    }

    #[test]
    fn parses_the_fields() {
        let t = "ISO MD5SUM = 0123456789abcdef0123456789ABCDEF;SKIPSECTORS = 15;RHLISOSTATUS=1;\
                 FRAGMENT SUMS = 123456789012345678901234567890123456789012345678901234567890;\
                 FRAGMENT COUNT = 20;THIS IS NOT THE SAME AS RUNNING MD5SUM ON THIS ISO!!";
        let r = parse(&pvd_with(t, 100), 32768).unwrap();
        assert_eq!(r.md5, "0123456789abcdef0123456789abcdef");
        assert_eq!(r.skip_sectors, 15);
        assert_eq!(r.volume_size, 100 * 2048);
        assert_eq!(r.fragments.as_ref().unwrap().1, 20);
        assert_eq!(r.covered(), 85 * 2048);
    }

    #[test]
    fn no_record_without_both_required_fields() {
        assert!(parse(&pvd_with("SKIPSECTORS = 15;", 10), 0).is_none());
        assert!(parse(&pvd_with("ISO MD5SUM = 0123;", 10), 0).is_none());
        assert!(parse(&pvd_with("", 10), 0).is_none());
    }
}
