//! The step entrypoint: one step of a recorded run, run by a process other than the one that
//! started the run, on a real default stack in a temporary repository.

// Test helpers outside `#[test]` functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use serde_json::json;
use zenml::metadata_store::{NewRun, RunRecord, RunStatus, StepStatus};
use zenml::pipeline::{Client, Invocation, Pipeline, RunError};
use zenml::prelude::*;
use zenml::stack::{Repository, open_stack};

#[step]
fn numbers(count: Param<u32>) -> Vec<u64> {
    (1..=u64::from(*count)).collect()
}

#[step]
fn square(values: Vec<u64>) -> Vec<u64> {
    values.iter().map(|v| v * v).collect()
}

#[step]
fn total(values: Vec<u64>) -> u64 {
    values.iter().sum()
}

#[pipeline]
fn sums() {
    let values = numbers(4);
    let squares = square(values);
    total(squares);
}

#[step]
fn refuse(values: Vec<u64>) -> Result<u64, StepError> {
    Err(StepError::new(format!(
        "{} values are too many",
        values.len()
    )))
}

#[step]
fn explode(values: Vec<u64>) -> u64 {
    panic!("exploded on {} values", values.len())
}

#[pipeline]
fn failing() {
    let values = numbers(3);
    refuse(values);
    explode(values);
}

/// A fresh repository with its default stack.
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

/// Records a run of `pipeline` on the default stack without running any step, as the
/// process that starts a run on an orchestrator of step processes does, with `spec` as its
/// recorded spec.
fn record_run(
    repo: &Repository,
    pipeline: &Pipeline,
    name: &str,
    spec: serde_json::Value,
) -> RunRecord {
    let stack = open_stack(repo, "default").unwrap();
    let mut config = pipeline.resolve(&RunConfig::default()).unwrap();
    config.run_name = name.to_owned();
    stack
        .metadata_store
        .create_run(&NewRun {
            id: uuid_of(name),
            pipeline_name: config.pipeline.clone(),
            name: name.to_owned(),
            started_at: 1,
            config: serde_json::to_value(&config).unwrap(),
            stack: json!({"name": "default", "components": {}}),
            spec,
            lease_expires_at: None,
        })
        .unwrap()
}

fn uuid_of(name: &str) -> String {
    let hash = format!(
        "{:0>12x}",
        name.bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
            & 0xffff_ffff_ffff
    );
    format!("00000000-0000-4000-8000-{hash}")
}

fn refused(result: Result<impl std::fmt::Debug, RunError>, expected: &[&str]) {
    match result {
        Err(e @ RunError::StepRefused { .. }) => {
            let text = e.to_string();
            for part in expected {
                assert!(text.contains(part), "`{part}` not in: {text}");
            }
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn steps_run_one_by_one_from_the_records_of_their_upstream_steps() {
    let (dir, repo) = repo();
    let pipeline = sums();
    let run = record_run(&repo, &pipeline, "by-steps", pipeline.spec().to_json());

    refused(
        pipeline.run_step("by-steps", "total", &options(dir.path())),
        &[
            "step `total` of run `by-steps`",
            "upstream step `square` has not completed",
        ],
    );
    let first = pipeline
        .run_step("by-steps", "numbers", &options(dir.path()))
        .unwrap();
    assert_eq!(first.run.id, run.id);
    assert_eq!(first.run.status, RunStatus::Running);
    assert_eq!(first.steps.len(), 1);
    assert_eq!(
        (first.steps[0].name.as_str(), first.steps[0].status),
        ("numbers", StepStatus::Completed)
    );

    // By id too; then again: the completed step is not run a second time.
    let squared = pipeline
        .run_step(&run.id, "square", &options(dir.path()))
        .unwrap();
    let again = pipeline
        .run_step("by-steps", "square", &options(dir.path()))
        .unwrap();
    assert_eq!(again.steps[0].id, squared.steps[0].id);
    pipeline
        .run_step("by-steps", "total", &options(dir.path()))
        .unwrap();

    let client = Client::open(&repo, None).unwrap();
    let view = client.run("by-steps").unwrap();
    assert_eq!(view.steps().unwrap().len(), 3);
    assert_eq!(
        view.step("total").unwrap().output::<u64>("output").unwrap(),
        1 + 4 + 9 + 16
    );
    assert_eq!(view.step("square").unwrap().inputs().unwrap().len(), 1);

    // A later run on the ordinary path reuses what the step processes recorded.
    let cached = pipeline.run(&options(dir.path())).unwrap();
    assert!(
        cached.steps.iter().all(|s| s.status == StepStatus::Cached),
        "{:?}",
        cached.steps
    );
}

#[test]
fn a_step_is_refused_when_the_program_or_the_run_does_not_fit() {
    let (dir, repo) = repo();
    let pipeline = sums();

    // Another program's code for one step.
    let mut spec = pipeline.spec();
    spec.steps[1].code_hash = "0".repeat(64);
    record_run(
        &repo,
        &pipeline,
        "other-code",
        serde_json::to_value(&spec).unwrap(),
    );
    refused(
        pipeline.run_step("other-code", "numbers", &options(dir.path())),
        &[
            "not the one the run was started with",
            "step `square` has other code",
        ],
    );
    // Another pipeline altogether, and a run recorded without a spec.
    record_run(
        &repo,
        &pipeline,
        "other-pipeline",
        failing().spec().to_json(),
    );
    refused(
        pipeline.run_step("other-pipeline", "numbers", &options(dir.path())),
        &[
            "the run's steps are numbers, refuse, explode",
            "this program's are numbers, square, total",
        ],
    );
    record_run(&repo, &pipeline, "no-spec", serde_json::Value::Null);
    refused(
        pipeline.run_step("no-spec", "numbers", &options(dir.path())),
        &["recorded no pipeline spec"],
    );

    // An unknown step, and a finished run.
    record_run(&repo, &pipeline, "fits", pipeline.spec().to_json());
    refused(
        pipeline.run_step("fits", "cube", &options(dir.path())),
        &["no such step; its steps: numbers, square, total"],
    );
    let finished = pipeline.run(&options(dir.path())).unwrap();
    refused(
        pipeline.run_step(&finished.run.name, "numbers", &options(dir.path())),
        &["the run is completed"],
    );
    // Nothing was recorded by the refusals.
    let stack = open_stack(&repo, "default").unwrap();
    for run in ["other-code", "other-pipeline", "no-spec", "fits"] {
        let id = stack.metadata_store.get_run(run).unwrap().id;
        assert!(
            stack.metadata_store.step_runs(&id).unwrap().is_empty(),
            "{run}"
        );
    }
    // An unknown run.
    assert!(matches!(
        pipeline.run_step("never-recorded", "numbers", &options(dir.path())),
        Err(RunError::MetadataStore(_))
    ));
}

#[test]
fn failing_and_panicking_steps_are_recorded_and_not_run_again() {
    let (dir, repo) = repo();
    let pipeline = failing();
    record_run(&repo, &pipeline, "fails", pipeline.spec().to_json());
    pipeline
        .run_step("fails", "numbers", &options(dir.path()))
        .unwrap();

    let err = pipeline
        .run_step("fails", "refuse", &options(dir.path()))
        .unwrap_err();
    assert!(
        matches!(&err, RunError::StepFailed { step, .. } if step == "refuse")
            && err.to_string().contains("3 values are too many"),
        "{err}"
    );
    let err = pipeline
        .run_step("fails", "explode", &options(dir.path()))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("the step panicked: exploded on 3 values"),
        "{err}"
    );

    let client = Client::open(&repo, None).unwrap();
    let view = client.run("fails").unwrap();
    for (step, message) in [("refuse", "too many"), ("explode", "panicked")] {
        let record = view.step(step).unwrap();
        assert_eq!(record.record.status, StepStatus::Failed);
        assert!(
            record
                .record
                .error
                .as_deref()
                .unwrap_or("")
                .contains(message)
        );
    }
    refused(
        pipeline.run_step("fails", "refuse", &options(dir.path())),
        &["already recorded as failed"],
    );
}

#[test]
fn the_command_line_has_a_step_mode_help_and_version() {
    let pipeline = sums();
    let args = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    match pipeline
        .parse_args(args(&[
            "--zenml-run",
            "r1",
            "--zenml-step=square",
            "--stack",
            "s",
            "-q",
        ]))
        .unwrap()
    {
        Invocation::Step {
            run,
            step,
            attempt,
            options,
        } => {
            assert_eq!((run.as_str(), step.as_str(), attempt), ("r1", "square", 1));
            assert_eq!(options.stack.as_deref(), Some("s"));
            assert!(options.quiet);
        }
        other => panic!("{other:?}"),
    }
    match pipeline
        .parse_args(args(&["--zenml-run", "r1", "--zenml-drive"]))
        .unwrap()
    {
        Invocation::Drive { run, options } => {
            assert_eq!(run, "r1");
            assert!(
                options.program.is_some(),
                "a driver starts its steps' processes"
            );
        }
        other => panic!("{other:?}"),
    }
    match pipeline.parse_args(args(&["--detach"])).unwrap() {
        Invocation::Run(options) => assert!(options.detach),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        pipeline.parse_args(args(&["--help"])).unwrap(),
        Invocation::Help
    ));
    assert!(matches!(
        pipeline.parse_args(args(&["-V"])).unwrap(),
        Invocation::Version
    ));
    for (bad, message) in [
        (&["--zenml-run", "r1"][..], "goes with `--zenml-step STEP`"),
        (
            &["--zenml-step", "square"][..],
            "`--zenml-step` with `--zenml-run`",
        ),
        (
            &["--zenml-drive"][..],
            "`--zenml-drive` goes with `--zenml-run RUN`",
        ),
        (
            &[
                "--zenml-run",
                "r1",
                "--zenml-step",
                "square",
                "--zenml-drive",
            ][..],
            "give one",
        ),
        (
            &["--zenml-run", "r1", "--zenml-drive", "--detach"][..],
            "cannot change it",
        ),
        (
            &["--zenml-run", "r1", "--zenml-step", "square", "--no-cache"][..],
            "cannot change it",
        ),
        (&["--zenml-run"][..], "needs a run name or id"),
        (&["--frobnicate"][..], "unknown option `--frobnicate`"),
        (&["--zenml-attempt", "2"][..], "goes with"),
        (
            &[
                "--zenml-run",
                "r",
                "--zenml-step",
                "s",
                "--zenml-attempt",
                "0",
            ][..],
            "a number from 1",
        ),
    ] {
        let err = pipeline.parse_args(args(bad)).unwrap_err().to_string();
        assert!(err.contains(message), "{bad:?}: {err}");
    }
    let err = pipeline
        .parse_args(args(&["--frobnicate"]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("--zenml-run RUN --zenml-step STEP") && err.contains("--help"),
        "{err}"
    );
    assert!(pipeline.run_with_args(args(&["--version"])).is_err());
}

#[test]
fn a_run_not_started_from_its_program_cannot_use_step_processes() {
    use zenml::core::{ComponentKind, Name};
    use zenml::stack::StackDefinition;

    let (dir, mut repo) = repo();
    repo.register_component(
        ComponentKind::Orchestrator,
        "procs",
        "process",
        toml::Table::new(),
    )
    .unwrap();
    let default = Name::new("default").unwrap();
    repo.register_stack(
        "procs",
        StackDefinition {
            orchestrator: Name::new("procs").unwrap(),
            metadata_store: default.clone(),
            artifact_store: default,
        },
    )
    .unwrap();
    repo.save().unwrap();
    let options = RunOptions {
        stack: Some("procs".to_owned()),
        ..options(dir.path())
    };
    // `Pipeline::run` from a test: there is no pipeline program to start for each step.
    let err = sums().run(&options).unwrap_err();
    let RunError::StepsFailed { outcome, .. } = &err else {
        panic!("{err}");
    };
    assert!(
        err.to_string()
            .contains("this run was not started from the program's command line"),
        "{err}"
    );
    let statuses: Vec<_> = outcome
        .steps
        .iter()
        .map(|s| (s.name.as_str(), s.status))
        .collect();
    assert!(
        statuses.contains(&("numbers", StepStatus::Failed))
            && statuses.contains(&("square", StepStatus::Skipped))
            && statuses.contains(&("total", StepStatus::Skipped)),
        "{statuses:?}"
    );
}
