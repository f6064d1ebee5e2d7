//! The `slurm` flavor against the orchestrator suite of zenml-testkit, on the Slurm test
//! cluster that `.ci/services` starts (skipped without it, except under `CI=true`).

use zenml_core::{ComponentContext, ConfigError, ValidateConfig};
use zenml_orchestrator::OrchestratorFlavor;
use zenml_slurm::SlurmOrchestratorConfig;
use zenml_testkit::services::{SLURM, slurm_conf};

fn config(log_dir: &std::path::Path) -> SlurmOrchestratorConfig {
    SlurmOrchestratorConfig {
        partition: Some("debug".to_owned()),
        slurm_conf: Some(slurm_conf().display().to_string()),
        log_dir: Some(log_dir.display().to_string()),
        poll_interval_ms: Some(50),
        ..SlurmOrchestratorConfig::default()
    }
}

#[test]
fn the_slurm_orchestrator_passes_the_testkit_suite() {
    if !SLURM.available_for("the_slurm_orchestrator_passes_the_testkit_suite") {
        return;
    }
    let logs = tempfile::tempdir().expect("a temporary folder");
    let orchestrator = config(logs.path())
        .open(&ComponentContext::new(logs.path()))
        .expect("the orchestrator opens");
    let report = zenml_testkit::orchestrator::run_all(orchestrator.as_ref());
    report.assert_passed();
    assert!(report.skips().is_empty(), "{:?}", report.skips());
    assert!(
        report.not_applicable().is_empty(),
        "{:?}",
        report.not_applicable()
    );
    // Jobs left their scripts and, one per job, their output in the log folder (the suite's
    // runs share one run id, so a later script of a step replaces an earlier one).
    let scripts = walk(logs.path(), ".sh");
    assert!(
        !scripts.is_empty(),
        "no job script in {}",
        logs.path().display()
    );
    assert!(walk(logs.path(), ".log").len() >= scripts.len());
}

#[test]
fn bad_settings_are_refused_naming_the_key() {
    let cases: [(SlurmOrchestratorConfig, &str); 4] = [
        (
            SlurmOrchestratorConfig {
                time_limit: Some("an hour".to_owned()),
                ..SlurmOrchestratorConfig::default()
            },
            "time_limit",
        ),
        (
            SlurmOrchestratorConfig {
                extra_args: vec!["-N2".to_owned()],
                ..SlurmOrchestratorConfig::default()
            },
            "each extra argument is one long option",
        ),
        (
            SlurmOrchestratorConfig {
                extra_args: vec!["--mem=1G".to_owned()],
                ..SlurmOrchestratorConfig::default()
            },
            "set by the orchestrator itself",
        ),
        (
            SlurmOrchestratorConfig {
                max_parallelism: Some(0),
                ..SlurmOrchestratorConfig::default()
            },
            "max_parallelism",
        ),
    ];
    for (config, expected) in cases {
        let err: ConfigError = config.validate().expect_err("refused");
        assert!(err.to_string().contains(expected), "{err}");
    }
    assert!(
        SlurmOrchestratorConfig {
            extra_args: vec!["--exclusive".to_owned(), "--constraint=a100".to_owned()],
            time_limit: Some("1-00:00:00".to_owned()),
            ..SlurmOrchestratorConfig::default()
        }
        .validate()
        .is_ok()
    );
}

/// The files below `dir` whose names end with `suffix`.
fn walk(dir: &std::path::Path, suffix: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path, suffix));
        } else if path.to_string_lossy().ends_with(suffix) {
            found.push(path);
        }
    }
    found
}
