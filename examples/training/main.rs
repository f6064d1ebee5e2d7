//! A training pipeline: load → split → train → evaluate, with parameters and metrics.
//!
//! ```sh
//! cargo run --example training
//! cargo run --example training -- --config examples/training/run.toml
//! zenml run describe <run>
//! ```
//!
//! The "model" is a least-squares line fitted by gradient descent: small enough to read,
//! real enough that its parameters change its metrics.

use std::process::ExitCode;

use serde::{Deserialize, Serialize};
use zenml::prelude::*;

/// A fitted line `y = slope * x + intercept`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Model {
    slope: f64,
    intercept: f64,
    epochs: u32,
}

/// A data set: (x, y) points.
type Points = Vec<(f64, f64)>;

/// Points on the line `y = 3x + 2` with deterministic noise.
#[step]
fn load(rows: Param<u32>, noise: Param<f64>) -> Points {
    (0..*rows)
        .map(|i| {
            let x = f64::from(i) / f64::from(*rows);
            // A fixed pseudo-random wobble in [-0.5, 0.5), so that runs are reproducible.
            // `rem_euclid`, not `fract`: the sine is negative half the time, and `fract`
            // keeps the sign, which would shift the whole line down.
            let wobble = ((f64::from(i) * 12.9898).sin() * 43_758.547).rem_euclid(1.0) - 0.5;
            (x, 3.0 * x + 2.0 + wobble * *noise)
        })
        .collect()
}

/// Every `test_every`-th point goes to the test set.
#[step(outputs(train, test))]
fn split(data: Points, test_every: Param<u32>) -> Result<(Points, Points), String> {
    if *test_every < 2 {
        return Err(format!(
            "test_every must be at least 2, got {}",
            *test_every
        ));
    }
    let every = *test_every as usize;
    let (test, train): (Vec<_>, Vec<_>) = data
        .into_iter()
        .enumerate()
        .partition(|(i, _)| i % every == 0);
    Ok((
        train.into_iter().map(|(_, p)| p).collect(),
        test.into_iter().map(|(_, p)| p).collect(),
    ))
}

/// Gradient descent on the mean squared error.
#[step]
fn trainer(
    ctx: &StepContext,
    train: Points,
    learning_rate: Param<f64>,
    epochs: Param<u32>,
) -> Model {
    let (mut slope, mut intercept) = (0.0, 0.0);
    let n = train.len().max(1) as f64;
    for _ in 0..*epochs {
        let (mut grad_slope, mut grad_intercept) = (0.0, 0.0);
        for (x, y) in &train {
            let error = slope * x + intercept - y;
            grad_slope += 2.0 * error * x / n;
            grad_intercept += 2.0 * error / n;
        }
        slope -= *learning_rate * grad_slope;
        intercept -= *learning_rate * grad_intercept;
    }
    ctx.log_metadata("final_slope", slope);
    Model {
        slope,
        intercept,
        epochs: *epochs,
    }
}

/// Mean squared error on the test set.
#[step]
fn evaluate(ctx: &StepContext, model: Model, test: Points) -> f64 {
    let mse = test
        .iter()
        .map(|(x, y)| (model.slope * x + model.intercept - y).powi(2))
        .sum::<f64>()
        / test.len().max(1) as f64;
    ctx.log_metadata("mse", mse);
    ctx.log_metadata("slope", model.slope);
    ctx.log_metadata("intercept", model.intercept);
    mse
}

#[pipeline]
fn training() {
    let data = load(1000, 0.5);
    let (train, test) = split(data, 5);
    let model = trainer(train, 0.5, 200);
    evaluate(model, test);
}

fn main() -> ExitCode {
    if let Err(e) = zenml_examples::ensure_repository() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    training().run_from_args()
}
