//! `diskimg hash`.

use crate::cli::HashArgs;
use crate::progress::ByteBar;
use anyhow::Result;
use diskimg::device::DeviceRef;
use diskimg::io::FileSource;
use diskimg::ops::hash::{hash_device, parse_list};
use std::sync::Arc;

pub fn run(a: HashArgs) -> Result<()> {
    let algorithms = parse_list(&a.algo)?;
    let cancel = crate::signals::cancel_flag()?;
    let device: DeviceRef = if a.device {
        let image = super::open(&a.image, &a.secret)?;
        image.content().device.clone()
    } else {
        Arc::new(FileSource::open(&a.image)?)
    };
    let bar = ByteBar::new(a.quiet || a.json, device.size(), cancel);
    let digests = hash_device(device.as_ref(), &algorithms, &bar);
    bar.finish();
    let digests = digests.map_err(|e| e.with_file(&a.image))?;
    if a.json {
        let v = serde_json::json!({
            "schema": 1,
            "file": a.image.display().to_string(),
            "what": if a.device { "device" } else { "file" },
            "size": device.size(),
            "digests": digests.iter().map(|d| (d.algorithm.name().to_owned(), serde_json::Value::from(d.hex.clone()))).collect::<serde_json::Map<String, serde_json::Value>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for d in &digests {
            // BSD style names the algorithm, so several digests stay readable.
            println!(
                "{} ({}) = {}",
                d.algorithm.name().to_uppercase(),
                a.image.display(),
                d.hex
            );
        }
    }
    Ok(())
}
