//! Step caching rules, each tested on a real default stack in a temporary repository.

// Test helpers outside `#[test]` functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;

use zenml::metadata_store::StepStatus;
use zenml::pipeline::{Pipeline, RunOutcome, StepConfig};
use zenml::prelude::*;
use zenml::stack::Repository;

fn repo() -> (tempfile::TempDir, Repository) {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path()).unwrap();
    (dir, repo)
}

fn run(pipeline: Pipeline, root: &Path, config: RunConfig) -> RunOutcome {
    let options = RunOptions {
        repository: Some(root.to_path_buf()),
        quiet: true,
        config,
        ..RunOptions::default()
    };
    pipeline.run(&options).unwrap()
}

fn statuses(outcome: &RunOutcome) -> BTreeMap<String, StepStatus> {
    outcome
        .steps
        .iter()
        .map(|s| (s.name.clone(), s.status))
        .collect()
}

fn with_param(step: &str, name: &str, value: toml::Value) -> RunConfig {
    let mut config = RunConfig::default();
    config
        .steps
        .entry(step.to_owned())
        .or_default()
        .parameters
        .insert(name.to_owned(), value);
    config
}

use StepStatus::{Cached, Completed};

#[step]
fn source(size: Param<u32>) -> Vec<u32> {
    (0..*size).collect()
}

#[step]
fn double(values: Vec<u32>) -> Vec<u32> {
    values.iter().map(|v| v * 2).collect()
}

#[step]
fn total(values: Vec<u32>, offset: Param<u32>) -> u32 {
    values.iter().sum::<u32>() + *offset
}

#[pipeline]
fn numbers() {
    let values = source(5);
    let doubled = double(values);
    total(doubled, 0);
}

#[test]
fn an_unchanged_rerun_is_fully_cached_and_writes_nothing() {
    let (dir, repo) = repo();
    let first = run(numbers(), dir.path(), RunConfig::default());
    assert!(statuses(&first).values().all(|s| *s == Completed));
    let files_before = count_files(&dir.path().join(".zen/artifacts"));

    let second = run(numbers(), dir.path(), RunConfig::default());
    assert!(
        statuses(&second).values().all(|s| *s == Cached),
        "{:?}",
        statuses(&second)
    );
    assert_eq!(
        count_files(&dir.path().join(".zen/artifacts")),
        files_before,
        "no new files"
    );

    // The cached run links to the original step runs and reuses their artifacts.
    let client = Client::open(&repo, None).unwrap();
    let original = client.run(&first.run.name).unwrap().step("total").unwrap();
    let cached = client.run(&second.run.name).unwrap().step("total").unwrap();
    assert_eq!(
        cached.record.original_step_run_id.as_ref(),
        Some(&original.record.id)
    );
    assert_eq!(cached.record.cache_key, original.record.cache_key);
    assert_eq!(
        cached.output_artifact("output").unwrap().id,
        original.output_artifact("output").unwrap().id
    );
    let value: u32 = cached.output("output").unwrap();
    assert_eq!(value, 20);
}

fn count_files(dir: &Path) -> usize {
    let mut count = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                count += 1;
            }
        }
    }
    count
}

#[test]
fn a_changed_parameter_invalidates_that_step_and_its_dependants_only() {
    let (dir, _repo) = repo();
    run(numbers(), dir.path(), RunConfig::default());
    let changed = run(
        numbers(),
        dir.path(),
        with_param("total", "offset", toml::Value::Integer(1)),
    );
    let s = statuses(&changed);
    assert_eq!(
        (s["source"], s["double"], s["total"]),
        (Cached, Cached, Completed)
    );

    let upstream = run(
        numbers(),
        dir.path(),
        with_param("source", "size", toml::Value::Integer(6)),
    );
    let s = statuses(&upstream);
    assert_eq!(
        (s["source"], s["double"], s["total"]),
        (Completed, Completed, Completed)
    );
}

mod first_version {
    use zenml::prelude::*;

    #[step]
    pub fn double(values: Vec<u32>) -> Vec<u32> {
        values.iter().map(|v| v * 2).collect()
    }
}

mod edited {
    use zenml::prelude::*;

    #[step]
    pub fn double(values: Vec<u32>) -> Vec<u32> {
        values.iter().map(|v| v + v).collect()
    }
}

mod bumped {
    use zenml::prelude::*;

    #[step(version = "2")]
    pub fn double(values: Vec<u32>) -> Vec<u32> {
        values.iter().map(|v| v * 2).collect()
    }
}

#[pipeline(name = "versions")]
fn with_first() {
    let values = source(5);
    let doubled = first_version::double(values);
    total(doubled, 0);
}

#[pipeline(name = "versions")]
fn with_edited() {
    let values = source(5);
    let doubled = edited::double(values);
    total(doubled, 0);
}

#[pipeline(name = "versions")]
fn with_bumped() {
    let values = source(5);
    let doubled = bumped::double(values);
    total(doubled, 0);
}

#[test]
fn code_changes_and_version_bumps_invalidate_and_identical_output_still_hits_downstream() {
    let (dir, _repo) = repo();
    run(with_first(), dir.path(), RunConfig::default());

    // The same tokens in another module are another step: it runs (its module is part of
    // its code identity), and its identical output still lets the step after it hit.
    let again = statuses(&run(numbers(), dir.path(), RunConfig::default()));
    assert_eq!(again["double"], Completed);
    let again = statuses(&run(numbers(), dir.path(), RunConfig::default()));
    assert_eq!(again["double"], Cached);

    // Edited code runs again; it produces the same bytes, so `total` still hits.
    let edited = statuses(&run(with_edited(), dir.path(), RunConfig::default()));
    assert_eq!(
        (edited["source"], edited["double"], edited["total"]),
        (Cached, Completed, Cached)
    );

    // A version bump invalidates too.
    let bumped = statuses(&run(with_bumped(), dir.path(), RunConfig::default()));
    assert_eq!((bumped["double"], bumped["total"]), (Completed, Cached));
}

#[test]
fn a_deleted_or_corrupted_artifact_is_never_a_stale_hit() {
    let (dir, repo) = repo();
    let first = run(numbers(), dir.path(), RunConfig::default());
    let client = Client::open(&repo, None).unwrap();
    let step = client.run(&first.run.name).unwrap().step("double").unwrap();
    let artifact = step.output_artifact("output").unwrap();
    let folder = dir.path().join(".zen/artifacts").join(&artifact.path);

    std::fs::write(folder.join("data.json"), "[0, 2, 4, 6, 9]").unwrap();
    let s = statuses(&run(numbers(), dir.path(), RunConfig::default()));
    assert_eq!(
        (s["source"], s["double"], s["total"]),
        (Cached, Completed, Cached)
    );

    // The re-run wrote a new artifact; delete that one and the corrupted one.
    std::fs::remove_dir_all(&folder).unwrap();
    let newest = client
        .latest_run("numbers")
        .unwrap()
        .step("double")
        .unwrap()
        .output_artifact("output")
        .unwrap();
    std::fs::remove_dir_all(dir.path().join(".zen/artifacts").join(&newest.path)).unwrap();
    let s = statuses(&run(numbers(), dir.path(), RunConfig::default()));
    assert_eq!(
        s["double"], Completed,
        "no candidate has its files any more"
    );
}

#[step(enable_cache = false)]
fn uncached_source(size: Param<u32>) -> Vec<u32> {
    (0..*size).collect()
}

#[pipeline]
fn partly_uncached() {
    let values = uncached_source(5);
    let doubled = double(values);
    total(doubled, 0);
}

#[pipeline(enable_cache = false)]
fn uncached_pipeline() {
    let values = source(5);
    let doubled = double(values);
    total(doubled, 0);
}

#[test]
fn caching_can_be_switched_off_per_step_pipeline_and_run() {
    let (dir, _repo) = repo();
    run(partly_uncached(), dir.path(), RunConfig::default());
    // Step level: the source runs again, its identical output gives its dependants hits.
    let s = statuses(&run(partly_uncached(), dir.path(), RunConfig::default()));
    assert_eq!(
        (s["uncached_source"], s["double"], s["total"]),
        (Completed, Cached, Cached)
    );

    // Pipeline level (hits would be available from the runs above: same code and inputs).
    let s = statuses(&run(uncached_pipeline(), dir.path(), RunConfig::default()));
    assert!(s.values().all(|s| *s == Completed), "{s:?}");
    // ... but a step setting in the run configuration wins over the pipeline's.
    let mut config = RunConfig::default();
    config.steps.insert(
        "double".to_owned(),
        StepConfig {
            enable_cache: Some(true),
            ..StepConfig::default()
        },
    );
    let s = statuses(&run(uncached_pipeline(), dir.path(), config));
    assert_eq!(
        (s["source"], s["double"], s["total"]),
        (Completed, Cached, Completed)
    );

    // Run level wins over everything.
    run(numbers(), dir.path(), RunConfig::default());
    let config = RunConfig {
        enable_cache: Some(false),
        ..RunConfig::default()
    };
    let s = statuses(&run(numbers(), dir.path(), config));
    assert!(s.values().all(|s| *s == Completed), "{s:?}");
}

#[pipeline(name = "copy-of-numbers")]
fn numbers_elsewhere() {
    let values = source(5);
    let doubled = double(values);
    total(doubled, 3);
}

#[test]
fn hits_work_across_pipelines_and_exported_configs_rerun_fully_cached() {
    let (dir, repo) = repo();
    let first = run(numbers(), dir.path(), RunConfig::default());
    let s = statuses(&run(numbers_elsewhere(), dir.path(), RunConfig::default()));
    assert_eq!(
        (s["source"], s["double"], s["total"]),
        (Cached, Cached, Completed)
    );

    // The resolved config of a run, written back as a run configuration, repeats it exactly.
    let client = Client::open(&repo, None).unwrap();
    let recorded = client.run(&first.run.name).unwrap().record.config;
    let resolved: zenml::pipeline::ResolvedConfig = serde_json::from_value(recorded).unwrap();
    let file = dir.path().join("exported.toml");
    std::fs::write(&file, toml::to_string(&resolved.to_run_config()).unwrap()).unwrap();
    let again = run(numbers(), dir.path(), RunConfig::read(&file).unwrap());
    assert!(statuses(&again).values().all(|s| *s == Cached));
    assert_eq!(again.run.pipeline_name, "numbers");

    // A config naming another pipeline runs this code as that pipeline (`pipeline copy`).
    let mut copy = RunConfig::read(&file).unwrap();
    copy.pipeline = Some("numbers-b".to_owned());
    let b = run(numbers(), dir.path(), copy);
    assert_eq!(b.run.pipeline_name, "numbers-b");
    assert!(statuses(&b).values().all(|s| *s == Cached));
    assert_eq!(
        client.runs(Some("numbers")).unwrap().len(),
        2,
        "A's record is unchanged"
    );
}
