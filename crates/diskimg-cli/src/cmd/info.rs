//! `diskimg info`.

use crate::cli::InfoArgs;
use crate::output;
use anyhow::Result;
use diskimg::ops::info::InfoReport;

pub fn run(a: InfoArgs) -> Result<()> {
    let image = super::open(&a.image, &a.secret)?;
    let report = InfoReport::new(&image);
    if a.json {
        output::print_json(&report)?;
    } else {
        print!("{}", output::info_text(&report));
    }
    Ok(())
}
