//! Pipelines run end to end on a real default stack (SQLite file, local artifact folder) in
//! a temporary repository.

// Test helpers outside `#[test]` functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use serde::{Deserialize, Serialize};
use zenml::metadata_store::{RunStatus, StepStatus};
use zenml::pipeline::RunError;
use zenml::prelude::*;
use zenml::stack::Repository;

fn repo() -> (tempfile::TempDir, Repository) {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path()).unwrap();
    (dir, repo)
}

fn options(root: &Path) -> RunOptions {
    RunOptions {
        repository: Some(root.to_path_buf()),
        quiet: true,
        ..RunOptions::default()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Stats {
    count: usize,
    mean: f64,
}

#[step]
fn make(count: Param<u32>, scale: Param<f64>) -> Vec<f64> {
    (0..*count).map(|i| f64::from(i) * *scale).collect()
}

#[step(outputs(low, high))]
fn halve(values: Vec<f64>) -> (Vec<f64>, Vec<f64>) {
    let mid = values.len() / 2;
    (values[..mid].to_vec(), values[mid..].to_vec())
}

#[step]
fn stats(ctx: &StepContext, values: Vec<f64>) -> Result<Stats, String> {
    if values.is_empty() {
        return Err("no values".to_owned());
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    ctx.log_metadata("mean", mean);
    Ok(Stats {
        count: values.len(),
        mean,
    })
}

#[step]
fn describe(low: Stats, high: Stats) -> String {
    format!(
        "{} values below {}, {} above",
        low.count, high.mean, high.count
    )
}

#[pipeline]
fn analysis() {
    let values = make(10, 2.0);
    let (low, high) = halve(values);
    let low_stats = stats(low);
    let high_stats = stats(high);
    describe(low_stats, high_stats);
}

#[test]
fn a_pipeline_runs_records_and_loads_back() {
    let (dir, repo) = repo();
    let outcome = analysis().run(&options(dir.path())).unwrap();
    assert_eq!(outcome.run.status, RunStatus::Completed);
    assert_eq!(outcome.run.pipeline_name, "analysis");
    assert_eq!(outcome.steps.len(), 5);
    assert!(
        outcome
            .steps
            .iter()
            .all(|s| s.status == StepStatus::Completed)
    );

    let client = Client::open(&repo, None).unwrap();
    let run = client.run(&outcome.run.name).unwrap();
    assert_eq!(
        client.latest_run("analysis").unwrap().record.id,
        run.record.id
    );
    let make = run.step("make").unwrap();
    assert_eq!(make.parameter::<u32>("count").unwrap(), 10);
    assert_eq!(make.parameter::<f64>("scale").unwrap(), 2.0);
    let values: Vec<f64> = make.output("output").unwrap();
    assert_eq!(values.len(), 10);
    assert_eq!(values[3], 6.0);

    // The second call of `stats` is named `stats_2`; both log metadata.
    let high = run.step("stats_2").unwrap();
    let stats: Stats = high.output("output").unwrap();
    assert_eq!(
        stats,
        Stats {
            count: 5,
            mean: 14.0
        }
    );
    assert_eq!(
        high.metadata().unwrap(),
        vec![("mean".to_owned(), serde_json::json!(14.0))]
    );
    let (name, input) = &high.inputs().unwrap()[0];
    assert_eq!(name, "values");
    assert_eq!(input.output_name, "high");

    let text: String = run.step("describe").unwrap().output("output").unwrap();
    assert_eq!(text, "5 values below 14, 5 above");

    // Artifacts live under <pipeline>/<step>/<output>/<artifact id>/ and record hash and size.
    let artifact = make.output_artifact("output").unwrap();
    assert!(
        artifact.path.starts_with("analysis/make/output/"),
        "{}",
        artifact.path
    );
    assert_eq!(artifact.materializer_id, "zenml.json");
    assert_eq!(artifact.content_hash.len(), 64);
    assert!(artifact.size > 0);

    // Typed errors.
    assert!(matches!(
        make.output::<Vec<u32>>("output"),
        Err(zenml::pipeline::ClientError::WrongType { .. })
    ));
    assert!(matches!(
        client.run("nope"),
        Err(zenml::pipeline::ClientError::NotFound { .. })
    ));
    assert!(matches!(
        run.step("nope"),
        Err(zenml::pipeline::ClientError::NotFound { .. })
    ));
}

#[test]
fn the_run_records_its_resolved_config_and_a_stack_snapshot() {
    let (dir, _repo) = repo();
    let outcome = analysis().run(&options(dir.path())).unwrap();
    let config = &outcome.run.config;
    assert_eq!(config["pipeline"], "analysis");
    assert_eq!(config["steps"]["make"]["parameters"]["count"], 10);
    let stack = &outcome.run.stack;
    assert_eq!(stack["name"], "default");
    assert_eq!(stack["components"]["metadata_store"]["flavor"], "sqlite");
}

#[test]
fn parameters_come_from_the_run_config_and_bad_ones_are_refused() {
    let (dir, repo) = repo();
    let file = dir.path().join("run.toml");
    std::fs::write(
        &file,
        "run_name = \"custom-run\"\n[steps.make.parameters]\ncount = 4\n",
    )
    .unwrap();
    let mut opts = options(dir.path());
    opts.config = RunConfig::read(&file).unwrap();
    let outcome = analysis().run(&opts).unwrap();
    assert_eq!(outcome.run.name, "custom-run");
    let client = Client::open(&repo, None).unwrap();
    let values: Vec<f64> = client
        .run("custom-run")
        .unwrap()
        .step("make")
        .unwrap()
        .output("output")
        .unwrap();
    assert_eq!(values, [0.0, 2.0, 4.0, 6.0]);

    // The same name again is a clear error, and nothing runs.
    let err = analysis().run(&opts).unwrap_err().to_string();
    assert!(
        err.contains("a run named `custom-run` already exists"),
        "{err}"
    );

    let bad = |steps: &[(&str, &str, toml::Value)]| {
        let mut opts = options(dir.path());
        for (step, param, value) in steps {
            opts.config
                .steps
                .entry((*step).to_owned())
                .or_default()
                .parameters
                .insert((*param).to_owned(), value.clone());
        }
        analysis().run(&opts).unwrap_err().to_string()
    };
    let err = bad(&[("mak", "count", toml::Value::Integer(1))]);
    assert!(
        err.contains("step `mak`") && err.contains("make, halve"),
        "{err}"
    );
    let err = bad(&[("make", "cout", toml::Value::Integer(1))]);
    assert!(
        err.contains("no parameter `cout`") && err.contains("count, scale"),
        "{err}"
    );
    let err = bad(&[("make", "count", toml::Value::String("many".into()))]);
    assert!(
        err.contains("steps.make.parameters.count") && err.contains("u32"),
        "{err}"
    );
    // Refused configurations record no run.
    assert_eq!(
        Client::open(&repo, None)
            .unwrap()
            .runs(Some("analysis"))
            .unwrap()
            .len(),
        1
    );
}

#[step]
fn explode(values: Vec<f64>) -> Result<Vec<f64>, String> {
    Err(format!("cannot handle {} values", values.len()))
}

#[step]
fn panics(values: Vec<f64>) -> f64 {
    if values.len() > 1 {
        panic!("too many values: {}", values.len());
    }
    0.0
}

#[step]
fn after(values: Vec<f64>) -> usize {
    values.len()
}

#[pipeline]
fn fragile() {
    let values = make(3, 1.0);
    let broken = explode(values);
    after(broken);
    panics(values);
    let other = make(2, 1.0);
    after(other);
}

#[test]
fn a_failing_step_fails_the_run_and_keeps_what_finished() {
    let (dir, repo) = repo();
    let err = fragile().run(&options(dir.path())).unwrap_err();
    let RunError::StepsFailed {
        failures, outcome, ..
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!(outcome.run.status, RunStatus::Failed);
    let failed: Vec<&str> = failures.iter().map(|(s, _)| s.as_str()).collect();
    assert!(
        failed.contains(&"explode") && failed.contains(&"panics"),
        "{failed:?}"
    );
    assert!(err.to_string().contains("cannot handle 3 values"), "{err}");
    assert!(err.to_string().contains("too many values: 3"), "{err}");

    let status = |name: &str| {
        outcome
            .steps
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.status)
    };
    assert_eq!(status("make"), Some(StepStatus::Completed));
    assert_eq!(status("explode"), Some(StepStatus::Failed));
    assert_eq!(status("after"), Some(StepStatus::Skipped));
    assert_eq!(status("make_2"), Some(StepStatus::Completed));
    assert_eq!(status("after_2"), Some(StepStatus::Completed));

    // What finished stays loadable.
    let client = Client::open(&repo, None).unwrap();
    let run = client.run(&outcome.run.name).unwrap();
    let values: Vec<f64> = run.step("make").unwrap().output("output").unwrap();
    assert_eq!(values, [0.0, 1.0, 2.0]);
    let failed_step = run.step("explode").unwrap();
    assert!(failed_step.outputs().unwrap().is_empty());
    assert_eq!(
        failed_step.record.error.as_deref(),
        Some("cannot handle 3 values")
    );
}

#[test]
fn a_corrupted_artifact_fails_to_load_with_a_hash_mismatch() {
    let (dir, repo) = repo();
    let outcome = analysis().run(&options(dir.path())).unwrap();
    let client = Client::open(&repo, None).unwrap();
    let make = client.run(&outcome.run.name).unwrap().step("make").unwrap();
    let artifact = make.output_artifact("output").unwrap();
    let file = dir
        .path()
        .join(".zen/artifacts")
        .join(&artifact.path)
        .join("data.json");
    std::fs::write(&file, "[1.0, 2.0]").unwrap();
    let err = make.output::<Vec<f64>>("output").unwrap_err().to_string();
    assert!(err.contains("hash"), "{err}");
}

#[step]
fn part(index: Param<u64>) -> u64 {
    *index * 10
}

#[step]
fn gather(parts: Collected<u64>, bonus: u64) -> Vec<u64> {
    let mut all = parts.into_inner();
    all.push(bonus);
    all
}

#[pipeline]
fn fan_in() {
    let parts: Vec<_> = (1..=5).map(part).collect();
    let bonus = part(7);
    gather(parts, bonus);
}

#[test]
fn a_collected_input_joins_many_branches_in_order() {
    let (dir, repo) = repo();
    let outcome = fan_in().run(&options(dir.path())).unwrap();
    assert_eq!(outcome.steps.len(), 7);
    let client = Client::open(&repo, None).unwrap();
    let run = client.run(&outcome.run.name).unwrap();
    let gather = run.step("gather").unwrap();
    let mut inputs: Vec<String> = gather
        .inputs()
        .unwrap()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    inputs.sort();
    assert_eq!(
        inputs,
        [
            "bonus", "parts[0]", "parts[1]", "parts[2]", "parts[3]", "parts[4]"
        ]
    );
    assert_eq!(
        gather.output::<Vec<u64>>("output").unwrap(),
        [10, 20, 30, 40, 50, 70]
    );
    // The spec names each wiring; a second run reuses everything.
    let spec = &run.record.spec;
    assert!(spec.to_string().contains("parts[4]"), "{spec}");
    let again = fan_in().run(&options(dir.path())).unwrap();
    assert!(
        again.steps.iter().all(|s| s.status == StepStatus::Cached),
        "{:?}",
        again.steps
    );
}
