//! Retries: a failed step is tried again as a new attempt of the same step in the same run;
//! each failed attempt but the last is recorded as such, the last one is the step run.

// Test helpers outside `#[test]` functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use zenml::metadata_store::StepStatus;
use zenml::pipeline::{Client, RunError};
use zenml::prelude::*;
use zenml::stack::Repository;

/// Calls of `flaky`, across the runs of this test file (each test uses its own step).
static FLAKY_CALLS: AtomicU32 = AtomicU32::new(0);
static PANICKY_CALLS: AtomicU32 = AtomicU32::new(0);

/// Fails its first two calls.
#[step(retries = 2)]
fn flaky(value: Param<u32>) -> Result<u32, StepError> {
    let call = FLAKY_CALLS.fetch_add(1, Ordering::SeqCst) + 1;
    if call <= 2 {
        return Err(StepError::new(format!("call {call} failed")));
    }
    Ok(*value)
}

#[step]
fn after(value: u32) -> u32 {
    value + 1
}

#[pipeline]
fn flaky_pipeline() {
    let value = flaky(41);
    after(value);
}

/// Panics on its first call, fails on every later one.
#[step(retries = 1)]
fn hopeless() -> Result<u32, StepError> {
    let call = PANICKY_CALLS.fetch_add(1, Ordering::SeqCst) + 1;
    if call == 1 {
        panic!("first call panics");
    }
    Err(StepError::new(format!("call {call} failed too")))
}

#[pipeline]
fn hopeless_pipeline() {
    hopeless();
}

/// Options that run `step` without waiting between its attempts.
fn options(root: &Path, step: &str) -> RunOptions {
    RunOptions {
        repository: Some(root.to_path_buf()),
        quiet: true,
        config: toml::from_str(&format!("[steps.{step}]\nretry_delay_secs = 0\n")).unwrap(),
        ..RunOptions::default()
    }
}

#[test]
fn a_step_that_fails_twice_succeeds_on_its_third_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path()).unwrap();
    let outcome = flaky_pipeline().run(&options(dir.path(), "flaky")).unwrap();
    let flaky = outcome.steps.iter().find(|s| s.name == "flaky").unwrap();
    assert_eq!((flaky.status, flaky.attempt), (StepStatus::Completed, 3));
    let after = outcome.steps.iter().find(|s| s.name == "after").unwrap();
    assert_eq!((after.status, after.attempt), (StepStatus::Completed, 1));

    let client = Client::open(&repo, None).unwrap();
    let attempts = client
        .stack()
        .metadata_store
        .step_attempts(&outcome.run.id)
        .unwrap();
    let summary: Vec<(u32, &str)> = attempts
        .iter()
        .map(|a| (a.attempt, a.error.as_str()))
        .collect();
    assert_eq!(summary, [(1, "call 1 failed"), (2, "call 2 failed")]);
    assert!(
        attempts
            .iter()
            .all(|a| a.name == "flaky" && a.ended_at >= a.started_at)
    );
    let view = client.run(&outcome.run.name).unwrap();
    assert_eq!(
        view.step("after").unwrap().output::<u32>("output").unwrap(),
        42
    );
}

#[test]
fn a_step_out_of_attempts_fails_with_its_last_error() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path()).unwrap();
    let err = hopeless_pipeline()
        .run(&options(dir.path(), "hopeless"))
        .unwrap_err();
    let RunError::StepsFailed { outcome, .. } = &err else {
        panic!("{err}");
    };
    let step = &outcome.steps[0];
    assert_eq!((step.status, step.attempt), (StepStatus::Failed, 2));
    assert_eq!(step.error.as_deref(), Some("call 2 failed too"));
    let attempts = Client::open(&repo, None)
        .unwrap()
        .stack()
        .metadata_store
        .step_attempts(&outcome.run.id)
        .unwrap();
    assert_eq!(attempts.len(), 1);
    assert!(
        attempts[0]
            .error
            .contains("the step panicked: first call panics"),
        "{attempts:?}"
    );
}

#[test]
fn retries_and_their_delay_come_from_code_or_the_run_configuration() {
    let resolve = |text: &str| {
        flaky_pipeline()
            .resolve(&toml::from_str(text).unwrap())
            .map(|c| (c.steps["flaky"].retries, c.steps["after"].retries))
    };
    assert_eq!(resolve("").unwrap(), (2, 0));
    assert_eq!(
        resolve("[steps.flaky]\nretries = 5\n[steps.after]\nretries = 1\n").unwrap(),
        (5, 1)
    );
    let err = resolve("[steps.flaky]\nretry_delay_secs = -1\n").unwrap_err();
    assert!(
        err.to_string().contains("steps.flaky.retry_delay_secs"),
        "{err}"
    );
    let config = flaky_pipeline()
        .resolve(&toml::from_str("[steps.flaky]\nretry_delay_secs = 0.5\n").unwrap())
        .unwrap();
    let step = &config.steps["flaky"];
    assert_eq!(step.retry_delay(2).as_millis(), 500);
    assert_eq!(step.retry_delay(3).as_millis(), 1000);
    assert_eq!(step.retry_delay(40).as_secs(), 600, "at most ten minutes");
    let exported = toml::to_string(&config.to_run_config()).unwrap();
    assert!(
        exported.contains("retries = 2") && exported.contains("retry_delay_secs = 0.5"),
        "{exported}"
    );
}
