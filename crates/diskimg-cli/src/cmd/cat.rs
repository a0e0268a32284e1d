//! `diskimg cat`.

use crate::cli::CatArgs;
use anyhow::Result;
use diskimg::ops::list::cat;

pub fn run(a: CatArgs) -> Result<()> {
    let image = super::open(&a.image)?;
    let fs = image.select(&a.select.selection())?;
    let mut out = std::io::stdout().lock();
    for p in &a.paths {
        cat(fs.as_ref(), p, &mut out).map_err(std::io::Error::from)?;
    }
    Ok(())
}
