//! `diskimg drives`.

use crate::cli::DrivesArgs;
use anyhow::{Result, bail};

pub fn run(_a: DrivesArgs) -> Result<()> {
    bail!("not yet")
}
