//! CHD integrity (`chdman verify`): every hunk's CRC, the data SHA-1 and the overall SHA-1
//! (data + checksummed metadata) recorded in the header. Images without recorded SHA-1s
//! (chdman writes none for uncompressed CHDs) still have their hunks read; their SHA-1s are
//! reported as skipped. Every layer whose bytes are a CHD is checked, CD images included.

use super::{CheckResult, IntegrityCheck, Status, VerifyInput, layers};
use crate::container::OpenContext;
use crate::container::chd::{self, header::has_magic, verify::check_data};
use crate::error::Result;

/// The CHD check.
pub const CHECK: IntegrityCheck = IntegrityCheck { name: "chd", run };

fn hex(s: &[u8; 20]) -> String {
    s.iter().map(|b| format!("{b:02x}")).collect()
}

fn run(input: &VerifyInput<'_>) -> Result<Vec<CheckResult>> {
    let mut out = Vec::new();
    for (name, layer) in layers(input.image) {
        let mut head = [0u8; 8];
        if layer.device.read_exact_at(0, &mut head).is_err() || !has_magic(&head) {
            continue;
        }
        let ctx = OpenContext {
            path: (name == "image").then(|| input.path.to_path_buf()),
            ..OpenContext::default()
        };
        let dev = match chd::open_device(layer.device.clone(), &ctx) {
            Ok(d) => d,
            Err(e) => {
                out.push(CheckResult::new(
                    CHECK.name,
                    "header",
                    Status::Error,
                    e.message(),
                ));
                continue;
            }
        };
        let data = check_data(&dev, &|n| {
            input.progress.advance(n);
            input.progress.cancelled()
        })?;
        let h = &dev.header;
        let mut hunks = CheckResult::new(
            CHECK.name,
            format!("{} hunk CRCs", h.hunk_count),
            if data.bad_count == 0 {
                Status::Pass
            } else {
                Status::Fail
            },
            if data.bad_count == 0 {
                "every hunk decompresses and matches its CRC".to_owned()
            } else {
                let list: Vec<String> = data
                    .bad_hunks
                    .iter()
                    .map(|(n, e)| format!("hunk {n}: {e}"))
                    .collect();
                format!("{} bad hunk(s): {}", data.bad_count, list.join("; "))
            },
        );
        hunks.algorithm = Some("crc16".into());
        hunks.offset = data
            .bad_hunks
            .first()
            .map(|(n, _)| u64::from(*n) * u64::from(h.hunk_bytes));
        out.push(hunks);
        // Version 3 records the data SHA-1 in `sha1`; versions 4 and 5 in `raw_sha1`, with
        // the overall SHA-1 in `sha1`.
        let (raw_rec, overall_rec) = if h.version == 3 {
            (h.sha1, None)
        } else {
            (h.raw_sha1, Some(h.sha1))
        };
        out.push(sha_result("data SHA-1", raw_rec, data.raw_sha1));
        if let Some(rec) = overall_rec {
            out.push(sha_result("overall SHA-1", rec, data.overall_sha1));
        }
    }
    Ok(out)
}

fn sha_result(subject: &str, recorded: [u8; 20], actual: [u8; 20]) -> CheckResult {
    let (status, message) = if recorded == [0; 20] {
        (Status::Skipped, "no SHA-1 recorded (uncompressed CHD)")
    } else if recorded == actual {
        (Status::Pass, "matches the header")
    } else {
        (Status::Fail, "differs from the header")
    };
    let mut c = CheckResult::new(CHECK.name, subject, status, message);
    c.algorithm = Some("sha1".into());
    c.expected = Some(hex(&recorded));
    c.actual = Some(hex(&actual));
    c
}
