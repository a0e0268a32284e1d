//! Apple disk image (UDIF) integrity records: the CRC-32 of the data fork (of each segment),
//! of every blkx table's sectors and the master checksum, checked by
//! [`crate::container::dmg::verify`] as `hdiutil verify` checks them.

use super::{CheckResult, IntegrityCheck, Status, VerifyInput, layers};
use crate::container::OpenContext;
use crate::container::dmg::verify::{CheckStatus, verify};
use crate::error::Result;

/// The DMG check.
pub const CHECK: IntegrityCheck = IntegrityCheck {
    name: "dmg-checksum",
    run,
};

fn run(input: &VerifyInput<'_>) -> Result<Vec<CheckResult>> {
    let mut out = Vec::new();
    for (_, layer) in layers(input.image) {
        let Some((container, _)) = &layer.container else {
            continue;
        };
        if container.format() != crate::container::dmg::FORMAT {
            continue;
        }
        let ctx = OpenContext {
            path: Some(input.path.to_path_buf()),
            ..OpenContext::default()
        };
        for c in verify(layer.device.clone(), &ctx)?.checks {
            let (status, message) = match c.status {
                CheckStatus::Ok => (Status::Pass, format!("{} matches", c.algorithm)),
                CheckStatus::Mismatch => (Status::Fail, format!("{} differs", c.algorithm)),
                CheckStatus::Skipped => (
                    Status::Skipped,
                    format!("checksum {} is not computed", c.algorithm),
                ),
            };
            let mut r = CheckResult::new(CHECK.name, c.record, status, message);
            r.algorithm = Some(c.algorithm);
            r.expected = Some(c.expected);
            r.actual = c.actual;
            r.offset = Some(c.offset);
            out.push(r);
        }
    }
    Ok(out)
}
