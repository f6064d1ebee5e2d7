//! A chain of 20 trivial steps: the benchmark of orchestration overhead
//! (`cargo xtask bench chain` runs it from a release build).
//!
//! ```sh
//! cargo run --release --example chain
//! ZENML_CHAIN_STEPS=1000 cargo run --release --example chain
//! ```
//!
//! It prints the whole run's wall time and the time per step, measured inside the process
//! (opening the stack, recording the run, every step's artifact and record). On the
//! `process` orchestrator each step is a process of its own, and the time includes starting
//! them.

use std::process::ExitCode;

use zenml::prelude::*;

/// The environment variable that sets the chain's length (default 20).
const LENGTH_VAR: &str = "ZENML_CHAIN_STEPS";

/// The first value.
#[step]
fn start(value: Param<u64>) -> u64 {
    *value
}

/// One more.
#[step]
fn increment(value: u64) -> u64 {
    value + 1
}

#[pipeline]
fn chain() {
    let length = zenml_examples::size_from_env(LENGTH_VAR, 20).unwrap_or(20);
    let mut value = start(0);
    for _ in 1..length {
        value = increment(value);
    }
}

fn main() -> ExitCode {
    if let Err(e) = zenml_examples::ensure_repository() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    if let Err(e) = zenml_examples::size_from_env(LENGTH_VAR, 20) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    zenml_examples::run_timed("chain", chain())
}
