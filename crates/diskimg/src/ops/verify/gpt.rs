//! GPT integrity records: the CRC32 of the primary and backup headers and of each header's
//! partition entry array (UEFI specification, "GUID Partition Table"). Checked on every layer
//! that holds a GPT, including a GPT inside a container.

use super::{CheckResult, IntegrityCheck, Status, VerifyInput, layers};
use crate::error::Result;
use crate::partition::gpt::check_crcs;

/// The GPT check.
pub const CHECK: IntegrityCheck = IntegrityCheck {
    name: "gpt-crc",
    run,
};

fn run(input: &VerifyInput<'_>) -> Result<Vec<CheckResult>> {
    let mut out = Vec::new();
    for (name, layer) in layers(input.image) {
        let has_gpt = layer
            .partitions
            .as_ref()
            .is_some_and(|p| p.table.scheme() == "gpt");
        if !has_gpt {
            continue;
        }
        for c in check_crcs(layer.device.as_ref()) {
            let subject = if name == "image" {
                c.structure.to_owned()
            } else {
                format!("{name}: {}", c.structure)
            };
            let (status, message) = match &c.result {
                Ok(()) => (Status::Pass, "CRC32 matches".to_owned()),
                Err(e) => (Status::Fail, e.message().to_owned()),
            };
            let mut r = CheckResult::new(CHECK.name, subject, status, message);
            r.algorithm = Some("crc32".into());
            r.offset = Some(c.offset);
            out.push(r);
        }
    }
    Ok(out)
}
