//! Ctrl-C and termination: the first SIGINT, SIGTERM or SIGHUP asks the running command to
//! stop cleanly (unmount, close connections, stop writing and say so); a second one ends the
//! process at once.

use anyhow::Result;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Calls `stop` on the first termination signal, on a thread of its own.
pub fn on_interrupt(stop: impl FnOnce() + Send + 'static) -> Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::spawn(move || {
        let mut stop = Some(stop);
        for _ in signals.forever() {
            match stop.take() {
                Some(f) => f(),
                None => std::process::exit(130),
            }
        }
    });
    Ok(())
}

/// A flag set by the first termination signal.
pub fn cancel_flag() -> Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    on_interrupt(move || f.store(true, Ordering::Release))?;
    Ok(flag)
}
