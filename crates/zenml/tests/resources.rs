//! Step resources: declared in code, replaced from the run configuration, checked before a
//! run is recorded, recorded with the run, and never part of the cache key.

// Test helpers outside `#[test]` functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use zenml::metadata_store::StepStatus;
use zenml::orchestrator::StepResources;
use zenml::pipeline::{Pipeline, RunError};
use zenml::prelude::*;
use zenml::stack::Repository;

#[step(resources(cpus = 2, memory = "4G"))]
fn fit(rows: Param<u32>) -> u32 {
    *rows * 2
}

#[step]
fn report(value: u32) -> String {
    format!("fitted {value}")
}

#[pipeline]
fn fitting() {
    let fitted = fit(10);
    report(fitted);
}

#[step(resources(memory = "lots"))]
fn greedy() -> u32 {
    1
}

#[pipeline]
fn greedy_pipeline() {
    greedy();
}

fn options(root: &Path, config: &str) -> RunOptions {
    RunOptions {
        repository: Some(root.to_path_buf()),
        quiet: true,
        config: toml::from_str(config).unwrap(),
        ..RunOptions::default()
    }
}

fn resolved(pipeline: &Pipeline, config: &str) -> Result<StepResources, zenml::core::ConfigError> {
    let config: RunConfig = toml::from_str(config).unwrap();
    Ok(pipeline.resolve(&config)?.steps["fit"].resources)
}

#[test]
fn the_run_configuration_replaces_declared_resources_key_by_key() {
    let pipeline = fitting();
    assert_eq!(
        resolved(&pipeline, "").unwrap(),
        StepResources {
            cpus: Some(2),
            memory_mib: Some(4096),
            gpus: None
        }
    );
    assert_eq!(
        resolved(
            &pipeline,
            "[steps.fit.resources]\nmemory = \"512M\"\ngpus = 1\n"
        )
        .unwrap(),
        StepResources {
            cpus: Some(2),
            memory_mib: Some(512),
            gpus: Some(1)
        }
    );
    let report = pipeline.resolve(&RunConfig::default()).unwrap();
    assert!(report.steps["report"].resources.is_empty());
}

#[test]
fn invalid_resources_are_refused_before_anything_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    Repository::init(dir.path()).unwrap();
    for (config, expected) in [
        (
            "[steps.fit.resources]\nmemory = \"16Q\"\n",
            "steps.fit.resources.memory",
        ),
        (
            "[steps.fit.resources]\ncpus = 0\n",
            "`cpus` must be at least 1",
        ),
    ] {
        let err = fitting().run(&options(dir.path(), config)).unwrap_err();
        assert!(
            matches!(err, RunError::Config(_)) && err.to_string().contains(expected),
            "{config}: {err}"
        );
    }
    let err = greedy_pipeline().run(&options(dir.path(), "")).unwrap_err();
    assert!(
        err.to_string()
            .contains("#[step(resources(memory))] of step `greedy`")
            && err
                .to_string()
                .contains("`lots` is not an amount of memory"),
        "{err}"
    );
    // An unknown key is a parse error of the file.
    let unknown: Result<RunConfig, _> = toml::from_str("[steps.fit.resources]\ndisk = \"1T\"\n");
    assert!(
        unknown
            .unwrap_err()
            .to_string()
            .contains("unknown field `disk`")
    );
    let client =
        zenml::pipeline::Client::open(&Repository::open(dir.path()).unwrap(), None).unwrap();
    assert!(
        client.runs(None).unwrap().is_empty(),
        "nothing was recorded"
    );
}

#[test]
fn resources_are_recorded_exported_and_not_part_of_the_cache_key() {
    let dir = tempfile::tempdir().unwrap();
    Repository::init(dir.path()).unwrap();
    let first = fitting().run(&options(dir.path(), "")).unwrap();
    let recorded = &first.run.config["steps"]["fit"]["resources"];
    assert_eq!(recorded["cpus"], 2);
    assert_eq!(recorded["memory_mib"], 4096);

    // Other resources, same results: every step is a cache hit.
    let second = fitting()
        .run(&options(dir.path(), "[steps.fit.resources]\ncpus = 16\n"))
        .unwrap();
    assert!(
        second.steps.iter().all(|s| s.status == StepStatus::Cached),
        "{:?}",
        second.steps
    );
    let exported: zenml::pipeline::ResolvedConfig =
        serde_json::from_value(second.run.config.clone()).unwrap();
    let file = toml::to_string(&exported.to_run_config()).unwrap();
    assert!(
        file.contains("[steps.fit.resources]")
            && file.contains("cpus = 16")
            && file.contains("memory = \"4G\""),
        "{file}"
    );
}
