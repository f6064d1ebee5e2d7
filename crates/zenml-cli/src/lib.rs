//! The `zenml` command line.
//!
//! [`run`] parses the process's arguments and runs the command; the `zenml` binary is just
//! that call. A team that writes its own flavor crates builds its own binary the same way,
//! so that `flavor list` and every command see those flavors too:
//!
//! ```text
//! use my_flavor_crate as _; // keep the crate's flavor registrations in the link
//!
//! fn main() -> std::process::ExitCode {
//!     zenml_cli::run()
//! }
//! ```

mod args;
mod commands;
mod output;
mod settings;

use std::process::ExitCode;

use clap::Parser;

/// Runs the `zenml` command line with the process's arguments and returns its exit code:
/// 0 on success, 1 when the command failed (the reason is printed to stderr), 2 for a
/// malformed command line.
pub fn run() -> ExitCode {
    let linked = zenml::linked_flavor_crates();
    debug_assert!(!linked.is_empty());
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match commands::dispatch(cli) {
        Ok(()) => match output::stdout_error() {
            None => ExitCode::SUCCESS,
            Some(err) => {
                eprintln!("error: cannot write the output to stdout: {err}");
                ExitCode::FAILURE
            }
        },
        Err(err) => {
            // Messages often embed their cause; print a cause only when it adds something.
            let mut shown = err.to_string();
            eprintln!("error: {shown}");
            let mut source = err.source();
            while let Some(cause) = source {
                let text = cause.to_string();
                if !shown.contains(&text) {
                    eprintln!("  caused by: {text}");
                    shown.push_str(&text);
                }
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}
