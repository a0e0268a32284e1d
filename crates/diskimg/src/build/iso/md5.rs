//! The implanted MD5 that checkisomd5 (isomd5sum) verifies: an MD5 of the image, with the
//! primary descriptor's application-use field blank and the last 15 sectors left out, plus 20
//! short fragment sums, written as text into that field.

use crate::error::{Error, Result};
use crate::io::copy::{read_exact_at, write_all_at};
use md5::{Digest, Md5};
use std::fs::File;

/// Offset of the application-use field in a volume descriptor, and its size.
pub const APP_USE: usize = 883;
const APP_USE_LEN: usize = 512;
/// Sectors at the end left out of the sum (unreliable reads on burned discs).
const SKIP_SECTORS: u64 = 15;
const FRAGMENTS: u64 = 20;
/// Hex characters kept per fragment.
const FRAGMENT_CHARS: usize = 3;
/// The sum is taken in reads of this size; fragment boundaries are checked after each.
const CHUNK: u64 = 16 * 2048;

/// Computes the sums of the image in `file` (whose primary descriptor at sector `pvd_lba` has
/// a blank application-use field) and writes them into that field. Returns the MD5 in hex.
pub fn implant(file: &File, pvd_lba: u32, volume_blocks: u32) -> Result<String> {
    let total = (u64::from(volume_blocks).saturating_sub(SKIP_SECTORS)) * 2048;
    let fragment = (total / (FRAGMENTS + 1)).max(1);
    let mut md5 = Md5::new();
    let mut fragments = String::new();
    let mut previous = 0u64;
    let mut buf = vec![0u8; CHUNK as usize];
    let mut offset = 0u64;
    while offset < total {
        let n = (total - offset).min(CHUNK) as usize;
        read_exact_at(file, &mut buf[..n], offset).map_err(Error::from)?;
        md5.update(&buf[..n]);
        let current = offset / fragment;
        if current != previous {
            let digest = md5.clone().finalize();
            for b in &digest[..FRAGMENT_CHARS] {
                fragments.push(format!("{b:x}").chars().next().unwrap_or('0'));
            }
            previous = current;
        }
        offset += n as u64;
    }
    let sum: String = md5.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let text = format!(
        "ISO MD5SUM = {sum};SKIPSECTORS = {SKIP_SECTORS};RHLISOSTATUS=0;FRAGMENT SUMS = {fragments};\
         FRAGMENT COUNT = {FRAGMENTS};THIS IS NOT THE SAME AS RUNNING MD5SUM ON THIS ISO!!"
    );
    let mut field = vec![b' '; APP_USE_LEN];
    field[..text.len()].copy_from_slice(text.as_bytes());
    write_all_at(file, &field, u64::from(pvd_lba) * 2048 + APP_USE as u64).map_err(Error::from)?;
    Ok(sum)
}
