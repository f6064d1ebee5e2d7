//! The quickstart: a three-step pipeline on the default stack.
//!
//! ```sh
//! cargo run --example quickstart
//! zenml run list          # then look at what it recorded
//! ```

use std::process::ExitCode;

use zenml::prelude::*;

/// Makes the numbers 1..=count.
#[step]
fn numbers(count: Param<u32>) -> Vec<u64> {
    (1..=u64::from(*count)).collect()
}

/// Squares every number.
#[step]
fn square(values: Vec<u64>) -> Vec<u64> {
    values.iter().map(|v| v * v).collect()
}

/// Adds them up and records the sum as a metric.
#[step]
fn total(ctx: &StepContext, values: Vec<u64>) -> u64 {
    let sum = values.iter().sum();
    ctx.log_metadata("sum", sum);
    sum
}

#[pipeline]
fn quickstart() {
    let values = numbers(10);
    let squares = square(values);
    total(squares);
}

fn main() -> ExitCode {
    if let Err(e) = zenml_examples::ensure_repository() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    quickstart().run_from_args()
}
