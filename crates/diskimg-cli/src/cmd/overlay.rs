//! `diskimg commit` and `diskimg rebase`.

use crate::cli::{CommitArgs, RebaseArgs};
use crate::output::print_json;
use crate::progress::Bar;
use anyhow::Result;
use diskimg::ops::overlay::{commit as commit_overlay, rebase as rebase_overlay, rebase_unsafe};

pub fn commit(a: CommitArgs) -> Result<()> {
    let bar = Bar::new(a.quiet || a.json);
    let r = commit_overlay(&a.overlay, &bar);
    bar.finish();
    let s = r?;
    if a.json {
        return print_json(&s);
    }
    if !a.quiet {
        eprintln!(
            "committed {} into {}",
            a.overlay.display(),
            s.base.display()
        );
    }
    Ok(())
}

pub fn rebase(a: RebaseArgs) -> Result<()> {
    let base = (!a.backing.is_empty()).then_some(std::path::Path::new(&a.backing));
    if a.unsafe_ {
        return Ok(rebase_unsafe(
            &a.overlay,
            base,
            a.backing_format.as_deref(),
        )?);
    }
    let bar = Bar::new(a.quiet);
    let r = rebase_overlay(&a.overlay, base, a.backing_format.as_deref(), &bar);
    bar.finish();
    r?;
    Ok(())
}
