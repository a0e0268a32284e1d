//! `diskimg cat`.

use crate::cli::CatArgs;
use anyhow::Result;
use diskimg::ops::list::cat;

pub fn run(a: CatArgs) -> Result<()> {
    let image = super::open(&a.image, &a.secret)?;
    let fs = super::select(&image, &a.select)?;
    let mut out = std::io::stdout().lock();
    for p in &a.paths {
        match cat(fs.as_ref(), p, &mut out) {
            Ok(_) => {}
            // A closed pipe is the reader's choice, not an error.
            Err(e)
                if e.io_source()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
            {
                return Ok(());
            }
            Err(e) => return Err(e.with_file(&a.image).into()),
        }
    }
    Ok(())
}
