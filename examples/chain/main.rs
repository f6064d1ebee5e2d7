//! A chain of 20 trivial steps: the benchmark of orchestration overhead
//! (`cargo xtask bench chain` runs it from a release build).
//!
//! ```sh
//! cargo run --release --example chain
//! ```
//!
//! It prints the whole run's wall time and the time per step, measured inside the process
//! (opening the stack, recording the run, every step's artifact and record). On the
//! `process` orchestrator each step is a process of its own, and the time includes starting
//! them.

use std::process::ExitCode;
use std::time::Instant;

use zenml::pipeline::Invocation;
use zenml::prelude::*;

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
    let mut value = start(0);
    for _ in 1..20 {
        value = increment(value);
    }
}

fn main() -> ExitCode {
    if let Err(e) = zenml_examples::ensure_repository() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let pipeline = chain();
    let args: Vec<String> = std::env::args().skip(1).collect();
    // One step of a run (as the `process` orchestrator starts it), `--help`, `--version`:
    // the program's ordinary command line, without the timing line.
    if !matches!(pipeline.parse_args(args.clone()), Ok(Invocation::Run(_))) {
        return pipeline.run_from_args();
    }
    let started = Instant::now();
    match pipeline.run_with_args(args) {
        Ok(outcome) => {
            let elapsed = started.elapsed().as_secs_f64() * 1000.0;
            let steps = outcome.steps.len();
            println!(
                "chain: run `{}` of {steps} steps in {elapsed:.1} ms ({:.2} ms per step)",
                outcome.run.name,
                elapsed / steps.max(1) as f64
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
