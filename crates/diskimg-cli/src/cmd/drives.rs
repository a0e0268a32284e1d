//! `diskimg drives`.

use crate::cli::DrivesArgs;
use crate::output::human_size;
use anyhow::Result;
use diskimg::drive::list_drives;

pub fn run(a: DrivesArgs) -> Result<()> {
    let drives = list_drives()?;
    if a.json {
        let v: Vec<serde_json::Value> = drives
            .iter()
            .filter(|d| a.all || d.refusal(false).is_none())
            .map(|d| {
                let mut v = serde_json::to_value(d).unwrap_or_default();
                let refused = d.refusal(false);
                v["writable"] = serde_json::Value::Bool(refused.is_none());
                v["refused"] = refused.map_or(serde_json::Value::Null, serde_json::Value::String);
                v
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let mut hidden = 0;
    println!(
        "{:<14} {:>10}  {:<8} {:<28} STATUS",
        "DRIVE", "SIZE", "BUS", "MODEL"
    );
    for d in &drives {
        let refused = d.refusal(false);
        if refused.is_some() && !a.all {
            hidden += 1;
            continue;
        }
        let model = d
            .model
            .clone()
            .or_else(|| d.backing_file.as_ref().map(|p| p.display().to_string()))
            .unwrap_or_default();
        println!(
            "{:<14} {:>10}  {:<8} {:<28} {}",
            d.path.display(),
            human_size(d.size),
            d.transport.as_deref().unwrap_or("-"),
            model,
            refused.map_or_else(|| "can be written".to_owned(), |w| format!("refused: {w}"))
        );
    }
    if hidden > 0 {
        eprintln!("({hidden} drives that cannot be written are hidden; --all shows them and why)");
    }
    Ok(())
}
