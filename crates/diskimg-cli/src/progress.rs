//! A progress bar on standard error, shown only on a terminal.

use diskimg::build::iso::IsoProgress;
use diskimg::ops::extract::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// Extraction progress: a byte bar on a terminal; warnings and errors always printed.
pub struct Bar {
    bar: Option<ProgressBar>,
}

impl Bar {
    pub fn new(quiet: bool) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            b.set_style(
                ProgressStyle::with_template(
                    "{bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} {msg} eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b
        });
        Bar { bar }
    }

    /// Sets the number of bytes the bar counts to.
    pub fn set_total(&self, bytes: u64) {
        if let Some(b) = &self.bar {
            b.set_length(bytes);
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }

    fn say(&self, line: &str) {
        match &self.bar {
            Some(b) => b.println(line),
            None => eprintln!("{line}"),
        }
    }
}

impl Progress for Bar {
    fn wants_totals(&self) -> bool {
        self.bar.is_some()
    }

    fn totals(&self, bytes: u64, files: u64) {
        if let Some(b) = &self.bar {
            b.set_length(bytes);
            b.set_message(format!("{files} files"));
        }
    }

    fn advance(&self, bytes: u64, _files: u64) {
        if let Some(b) = &self.bar {
            b.inc(bytes);
        }
    }

    fn warn(&self, message: &str) {
        self.say(&format!("diskimg: warning: {message}"));
    }

    fn error(&self, message: &str) {
        self.say(&format!("diskimg: error: {message}"));
    }
}

impl IsoProgress for Bar {
    fn advance(&self, bytes: u64) {
        if let Some(b) = &self.bar {
            b.inc(bytes);
        }
    }
}

impl diskimg::ops::convert::ConvertProgress for Bar {
    fn start(&self, total: u64) {
        if let Some(b) = &self.bar {
            b.set_length(total);
        }
    }

    fn advance(&self, bytes: u64) {
        if let Some(b) = &self.bar {
            b.inc(bytes);
        }
    }
}

/// A byte-count bar with speed and time left, for long reads and writes (hash, verify,
/// write, image); it also carries the Ctrl-C flag the library polls.
pub struct ByteBar {
    bar: Option<ProgressBar>,
    cancel: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl ByteBar {
    pub fn new(
        quiet: bool,
        total: u64,
        cancel: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            b.set_style(
                ProgressStyle::with_template(
                    "{msg:8} {bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b
        });
        ByteBar { bar, cancel }
    }

    /// Starts a new phase (`writing`, `verifying`) counting to `total`.
    pub fn phase(&self, name: &str, total: u64) {
        if let Some(b) = &self.bar {
            b.set_message(name.to_owned());
            b.set_length(total);
            b.set_position(0);
            b.reset_eta();
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl diskimg::ops::hash::HashProgress for ByteBar {
    fn advance(&self, bytes: u64) {
        if let Some(b) = &self.bar {
            b.inc(bytes);
        }
    }
    fn cancelled(&self) -> bool {
        self.cancel.load(std::sync::atomic::Ordering::Acquire)
    }
}

impl diskimg::drive::WriteProgress for ByteBar {
    fn phase(&self, name: &str, total: u64) {
        ByteBar::phase(self, name, total);
    }
}
