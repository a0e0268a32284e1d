//! `diskimg image`.

use crate::cli::ImageArgs;
use anyhow::{Result, bail};

pub fn run(_a: ImageArgs) -> Result<()> {
    bail!("not yet")
}
