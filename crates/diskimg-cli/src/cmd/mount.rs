//! `diskimg mount`.

use crate::cli::MountArgs;
use anyhow::{Result, bail};

pub fn run(_a: MountArgs) -> Result<()> {
    bail!("not yet")
}
