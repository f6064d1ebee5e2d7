//! 200 independent steps: the benchmark of how many steps an orchestrator runs at once
//! (`cargo xtask bench wide` runs it on the `process` and `slurm` orchestrators).
//!
//! ```sh
//! cargo run --release --example wide -- --no-cache
//! ```
//!
//! Every step returns its index; none waits for another, so the orchestrator's limit (its
//! `max_parallelism`, the cluster's free CPUs) is what decides how many run at once.

use std::process::ExitCode;

use zenml::prelude::*;

/// How many steps the pipeline has.
const WIDTH: u64 = 200;

/// Returns its index.
#[step]
fn work(index: Param<u64>) -> u64 {
    *index
}

#[pipeline]
fn wide() {
    for index in 0..WIDTH {
        work(index);
    }
}

fn main() -> ExitCode {
    if let Err(e) = zenml_examples::ensure_repository() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    wide().run_from_args()
}
