//! `diskimg write`.

use crate::cli::WriteArgs;
use anyhow::{Result, bail};

pub fn run(_a: WriteArgs) -> Result<()> {
    bail!("not yet")
}
