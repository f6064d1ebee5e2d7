//! What the cache key and the records promise (issue "Trust"): steps are told apart by
//! their module, parameters are compared as their type reads them, and nothing that cannot
//! be recorded faithfully is recorded as `null`.

// Test helpers outside `#[test]` functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use zenml::metadata_store::StepStatus;
use zenml::pipeline::{Pipeline, RunError, RunOutcome};
use zenml::prelude::*;
use zenml::stack::Repository;

fn repo() -> (tempfile::TempDir, Repository) {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path()).unwrap();
    (dir, repo)
}

fn run(pipeline: Pipeline, root: &Path, config: RunConfig) -> Result<RunOutcome, RunError> {
    pipeline.run(&RunOptions {
        repository: Some(root.to_path_buf()),
        quiet: true,
        config,
        ..RunOptions::default()
    })
}

fn status(outcome: &RunOutcome, step: &str) -> StepStatus {
    outcome
        .steps
        .iter()
        .find(|s| s.name == step)
        .unwrap_or_else(|| panic!("no step {step}: {:?}", outcome.steps))
        .status
}

mod first {
    use zenml::prelude::*;

    /// Identical, token for token, to `second::same`.
    #[step]
    pub fn same(value: Param<u32>) -> u32 {
        *value + 1
    }
}

mod second {
    use zenml::prelude::*;

    /// Identical, token for token, to `first::same`.
    #[step]
    pub fn same(value: Param<u32>) -> u32 {
        *value + 1
    }
}

#[pipeline]
fn twins() {
    first::same(1);
    second::same(1);
}

#[test]
fn identical_steps_in_different_modules_do_not_share_cache_hits() {
    let (dir, _repo) = repo();
    let pipeline = twins();
    let hashes: Vec<&str> = pipeline
        .steps()
        .iter()
        .map(|s| s.code_hash.as_str())
        .collect();
    assert_ne!(
        hashes[0], hashes[1],
        "the module is part of a step's code identity"
    );
    let outcome = run(twins(), dir.path(), RunConfig::default()).unwrap();
    assert_eq!(status(&outcome, "same"), StepStatus::Completed);
    assert_eq!(status(&outcome, "same_2"), StepStatus::Completed);
    let again = run(twins(), dir.path(), RunConfig::default()).unwrap();
    assert_eq!(status(&again, "same"), StepStatus::Cached);
    assert_eq!(status(&again, "same_2"), StepStatus::Cached);
}

#[step]
fn scale(factor: Param<f64>, name: Param<String>) -> String {
    format!("{} × {}", name.as_str(), *factor)
}

#[pipeline]
fn scaling() {
    scale(1.0, "x".to_owned());
}

#[test]
fn a_parameter_is_compared_as_its_type_reads_it() {
    let (dir, _repo) = repo();
    let first = run(scaling(), dir.path(), RunConfig::default()).unwrap();
    assert_eq!(status(&first, "scale"), StepStatus::Completed);
    // `factor = 1` is the integer 1 in TOML; as an `f64` it is the code's default 1.0.
    let config: RunConfig = toml::from_str("[steps.scale.parameters]\nfactor = 1\n").unwrap();
    let second = run(scaling(), dir.path(), config).unwrap();
    assert_eq!(status(&second, "scale"), StepStatus::Cached);
    let recorded = &second.steps[0].parameters["factor"];
    assert!(
        recorded.is_f64(),
        "recorded as the type reads it: {recorded}"
    );
    // NaN in a run configuration is refused, naming the key.
    let config: RunConfig = toml::from_str("[steps.scale.parameters]\nfactor = nan\n").unwrap();
    let error = run(scaling(), dir.path(), config).unwrap_err().to_string();
    assert!(
        error.contains("steps.scale.parameters.factor") && error.contains("NaN"),
        "{error}"
    );
}

#[step]
fn threshold(limit: Param<f64>) -> bool {
    *limit > 0.5
}

#[pipeline]
fn thresholds() {
    threshold(f64::NAN);
}

#[test]
fn a_default_that_cannot_be_recorded_is_refused_unless_configured() {
    let (dir, repo) = repo();
    let error = run(thresholds(), dir.path(), RunConfig::default())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("steps.threshold.parameters.limit")
            && error.contains("default in the pipeline's code cannot be recorded"),
        "{error}"
    );
    let client = Client::open(&repo, None).unwrap();
    assert!(
        client.runs(None).unwrap().is_empty(),
        "nothing was recorded"
    );
    let config: RunConfig = toml::from_str("[steps.threshold.parameters]\nlimit = 0.7\n").unwrap();
    let outcome = run(thresholds(), dir.path(), config).unwrap();
    assert_eq!(status(&outcome, "threshold"), StepStatus::Completed);
}

#[derive(serde::Serialize)]
struct Losses {
    train: f64,
    test: f64,
}

#[step]
fn diverge(ctx: &StepContext) -> u32 {
    ctx.log_metadata("accuracy", 0.5);
    ctx.log_metadata(
        "losses",
        Losses {
            train: 0.25,
            test: f64::INFINITY,
        },
    );
    1
}

#[pipeline]
fn diverging() {
    diverge();
}

#[test]
fn a_metric_json_cannot_hold_fails_the_step_naming_it() {
    let (dir, _repo) = repo();
    let error = run(diverging(), dir.path(), RunConfig::default()).unwrap_err();
    let RunError::StepsFailed {
        failures, outcome, ..
    } = &error
    else {
        panic!("{error}");
    };
    assert_eq!(failures.len(), 1);
    assert!(
        failures[0]
            .1
            .contains("metadata `losses` of step `diverge`")
            && failures[0].1.contains("`losses.test` is NaN or infinite"),
        "{error}"
    );
    assert_eq!(status(outcome, "diverge"), StepStatus::Failed);
}

/// A value whose serialization panics, as a buggy `Serialize` implementation may.
struct Exploding;

impl serde::Serialize for Exploding {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        panic!("the value blew up while it was serialized")
    }
}

/// Logs metadata from a thread of its own that panics while logging, and goes on.
#[step]
fn shaken(ctx: &StepContext) -> u32 {
    ctx.log_metadata("before", 1);
    std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            ctx.log_metadata("from_thread", 2);
            ctx.log_metadata("exploding", Exploding);
        });
        assert!(worker.join().is_err(), "the worker panicked");
    });
    ctx.log_metadata("after", 3);
    7
}

#[pipeline]
fn shaking() {
    shaken();
}

#[test]
fn a_panic_in_a_steps_thread_while_logging_loses_no_metadata() {
    let (dir, repo) = repo();
    let outcome = run(shaking(), dir.path(), RunConfig::default()).unwrap();
    assert_eq!(status(&outcome, "shaken"), StepStatus::Completed);
    let client = zenml::pipeline::Client::open(&repo, None).unwrap();
    let recorded = client.run(&outcome.run.name).unwrap();
    let step = recorded.step("shaken").unwrap();
    assert_eq!(step.output::<u32>("output").unwrap(), 7);
    let keys: Vec<String> = step
        .metadata()
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, ["after", "before", "from_thread"]);
}
