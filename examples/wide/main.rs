//! 200 independent steps and a final join: the benchmark of how many steps an orchestrator
//! runs at once (`cargo xtask bench wide` runs it on the `local`, `process` and `slurm`
//! orchestrators), and of the cost per step of a wide run (`cargo xtask bench steps`).
//!
//! ```sh
//! cargo run --release --example wide -- --no-cache
//! ZENML_WIDE_STEPS=1000 cargo run --release --example wide -- --no-cache
//! ```
//!
//! Every `work` step returns its index; none waits for another, so the orchestrator's limit
//! (its `max_parallelism`, the cluster's free CPUs) is what decides how many run at once.
//! `total` collects all their outputs (a `Collected` input) and adds them up.

use std::process::ExitCode;

use zenml::prelude::*;

/// The environment variable that sets how many `work` steps there are (default 200).
const WIDTH_VAR: &str = "ZENML_WIDE_STEPS";

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
    let width = zenml_examples::size_from_env(WIDTH_VAR, 200).unwrap_or(200);
    let parts: Vec<_> = (0..width).map(work).collect();
    total(parts);
}

fn main() -> ExitCode {
    if let Err(e) = zenml_examples::ensure_repository() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    if let Err(e) = zenml_examples::size_from_env(WIDTH_VAR, 200) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    zenml_examples::run_timed("wide", wide())
}
