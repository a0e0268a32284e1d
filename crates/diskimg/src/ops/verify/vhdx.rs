//! VHDX integrity records ([MS-VHDX] 2.2): the CRC-32C of both headers and of both region
//! tables. The log's entries carry checksums too, but the reader already refuses a log it
//! cannot replay, and a clean log is not read; they are not checked here.

use super::{CheckResult, IntegrityCheck, Status, VerifyInput, layers};
use crate::container::vhdx::header::{
    HEADER_OFFSETS, REGION_TABLE_OFFSETS, VhdxHeader, read_region_table,
};
use crate::error::Result;

/// The VHDX check.
pub const CHECK: IntegrityCheck = IntegrityCheck {
    name: "vhdx-checksum",
    run,
};

fn run(input: &VerifyInput<'_>) -> Result<Vec<CheckResult>> {
    let mut out = Vec::new();
    for (_, layer) in layers(input.image) {
        let Some((container, _)) = &layer.container else {
            continue;
        };
        if container.format() != "vhdx" {
            continue;
        }
        let file = layer.device.as_ref();
        for (i, &at) in HEADER_OFFSETS.iter().enumerate() {
            let r = VhdxHeader::read(file, at).map(|_| ());
            out.push(result(format!("header {}", i + 1), at, r));
        }
        for (i, &at) in REGION_TABLE_OFFSETS.iter().enumerate() {
            let r = read_region_table(file, at).map(|_| ());
            out.push(result(format!("region table {}", i + 1), at, r));
        }
    }
    Ok(out)
}

fn result(subject: String, offset: u64, r: Result<()>) -> CheckResult {
    let (status, message) = match r {
        Ok(()) => (Status::Pass, "CRC-32C matches".to_owned()),
        Err(e) => (Status::Fail, e.message().to_owned()),
    };
    let mut c = CheckResult::new(CHECK.name, subject, status, message);
    c.algorithm = Some("crc32c".into());
    c.offset = Some(offset);
    c
}
