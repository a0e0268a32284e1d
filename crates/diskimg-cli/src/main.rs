//! The `diskimg` command: argument parsing, progress and output formatting only. Everything it
//! does is a function of the `diskimg` library.

mod cli;
mod cmd;
mod output;
mod progress;
mod signals;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let compare = matches!(args.command, cli::Command::Compare(_));
    match cmd::run(args) {
        Ok(code) => code,
        Err(e) => {
            // Broken pipes (`diskimg cat x | head`) end quietly, as other tools do.
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("diskimg: {}", one_line(&e));
            // compare: 1 means "different", so errors are 2, as with qemu-img compare.
            ExitCode::from(if compare { 2 } else { 1 })
        }
    }
}

/// The error and its causes on one line, without repeating a cause already in the message.
fn one_line(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !out.contains(&c) {
            out.push_str(": ");
            out.push_str(&c);
        }
    }
    out.replace('\n', " ")
}
