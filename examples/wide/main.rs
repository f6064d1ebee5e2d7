//! 200 independent steps and a final join: the benchmark of how many steps an orchestrator
//! runs at once (`cargo xtask bench wide` runs it on the `local`, `process` and `slurm`
//! orchestrators).
//!
//! ```sh
//! cargo run --release --example wide -- --no-cache
//! ```
//!
//! Every `work` step returns its index; none waits for another, so the orchestrator's limit
//! (its `max_parallelism`, the cluster's free CPUs) is what decides how many run at once.
//! `total` collects all 200 outputs (a `Collected` input) and adds them up.

use std::process::ExitCode;

use zenml::prelude::*;

/// How many steps the pipeline has.
const WIDTH: u64 = 200;

/// Returns its index.
#[step]
fn work(index: Param<u64>) -> u64 {
    *index
}

/// Adds up every part.
#[step]
fn total(parts: Collected<u64>) -> u64 {
    parts.iter().sum()
}

#[pipeline]
fn wide() {
    let parts: Vec<_> = (0..WIDTH).map(work).collect();
    total(parts);
}

fn main() -> ExitCode {
    if let Err(e) = zenml_examples::ensure_repository() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    wide().run_from_args()
}
