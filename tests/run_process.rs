//! Pipelines on the `process` orchestrator: every step in a process of its own, started from
//! the pipeline's program in its step mode, as a user runs them.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;
use zenml_e2e::{Zenml, eventually, pairs};

/// Each step's status in `run`, by name.
fn statuses(zen: &Zenml, run: &str) -> Vec<(String, String)> {
    zen.step_statuses(run)
}

#[test]
fn every_step_runs_in_a_process_of_its_own_and_a_rerun_is_cached() {
    let zen = Zenml::init();
    zen.use_process_stack();
    zen.example("diamond", &["--run-name", "first"])
        .ok()
        .stdout_has(&["Run `first` of pipeline `diamond` completed: 4 steps."]);
    assert_eq!(
        statuses(&zen, "first"),
        pairs(&[
            ("join", "completed"),
            ("left", "completed"),
            ("right", "completed"),
            ("source", "completed")
        ])
    );
    // Four steps, four processes, none of them the `zenml` process reading the records.
    let pids: BTreeSet<u64> = ["source", "left", "right", "join"]
        .iter()
        .map(|step| {
            zen.json(&["step", "describe", "first", step])["metadata"]["pid"]
                .as_u64()
                .expect("a pid")
        })
        .collect();
    assert_eq!(pids.len(), 4, "{pids:?}");
    let join = zen.json(&["step", "describe", "first", "join"]);
    let total = join["outputs"][0]["artifact"]["id"]
        .as_str()
        .expect("an id");
    assert!(
        zen.ok(&["artifact", "describe", total])
            .stdout
            .contains("zenml.json")
    );

    // A second run: every step process finds its cache hit.
    zen.example("diamond", &["--run-name", "second"])
        .ok()
        .stdout_has(&["4 steps, 4 cached."]);

    // The run records the spec of the program that started it.
    let run = zen.json(&["run", "describe", "second"])["run"].clone();
    let steps: Vec<&str> = run["spec"]["steps"]
        .as_array()
        .expect("a spec")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(steps, ["source", "left", "right", "join"]);
    assert!(run["lease_expires_at"].as_i64().is_some(), "{run:#}");

    // The training example too.
    zen.example("training", &[])
        .ok()
        .stdout_has(&["completed: 4 steps."]);
}

#[test]
fn a_step_that_crashes_fails_alone_and_the_run_says_how() {
    let zen = Zenml::init();
    zen.use_process_stack();
    let cases = [
        ("error", "left refused to go on"),
        ("panic", "the step panicked: left panicked"),
        ("exit", "the step's process exited with code 3"),
        (
            "abort",
            "the step's process was killed by signal 6 (SIGABRT)",
        ),
        (
            "kill",
            "the step's process was killed by signal 9 (SIGKILL)",
        ),
        (
            "segv",
            "the step's process was killed by signal 11 (SIGSEGV)",
        ),
    ];
    for (crash, expected) in cases {
        let file = format!("{crash}.toml");
        zen.write(
            &file,
            &format!("[steps.left.parameters]\ncrash = \"{crash}\"\n"),
        );
        let run = format!("crash-{crash}");
        zen.example("diamond", &["--config", &file, "--run-name", &run])
            .fails()
            .stderr_has(&[&format!("run `{run}` failed"), "step `left`", expected]);
        let statuses = statuses(&zen, &run);
        let right = if crash == "error" {
            "completed"
        } else {
            "cached"
        };
        assert_eq!(
            statuses
                .iter()
                .map(|(n, s)| (n.as_str(), s.as_str()))
                .collect::<Vec<_>>(),
            [
                ("join", "skipped"),
                ("left", "failed"),
                ("right", right),
                ("source", right)
            ],
            "{crash}"
        );
        let left = zen.json(&["step", "describe", &run, "left"]);
        assert!(
            left["step"]["error"]
                .as_str()
                .is_some_and(|e| e.contains(expected)),
            "{crash}: {left:#}"
        );
        let described = zen.json(&["run", "describe", &run]);
        assert_eq!(described["run"]["status"], "failed", "{crash}");
    }
}

#[test]
fn a_killed_step_process_is_tried_again_when_the_step_has_retries() {
    let zen = Zenml::init();
    zen.use_process_stack();
    let marker = zen.path("crashed-once");
    zen.write(
        "retry.toml",
        &format!(
            "[steps.left]\nretries = 1\nretry_delay_secs = 0\n\
             [steps.left.parameters]\ncrash = \"kill\"\ncrash_once = {}\n",
            Value::String(marker.display().to_string())
        ),
    );
    zen.example(
        "diamond",
        &["--config", "retry.toml", "--run-name", "retried"],
    )
    .ok()
    .stdout_has(&["Run `retried` of pipeline `diamond` completed: 4 steps."]);
    assert!(marker.exists());
    let left = zen.json(&["step", "describe", "retried", "left"]);
    assert_eq!(left["step"]["status"], "completed", "{left:#}");
    assert_eq!(left["step"]["attempt"], 2, "{left:#}");
    let failed = left["failed_attempts"].as_array().expect("failed attempts");
    assert_eq!(failed.len(), 1, "{left:#}");
    assert_eq!(failed[0]["attempt"], 1);
    assert!(
        failed[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("killed by signal 9 (SIGKILL)")),
        "{left:#}"
    );
    zen.ok(&["step", "describe", "retried", "left"])
        .stdout_has(&["attempt 1 failed", "signal 9"]);

    // Out of retries: the last attempt's failure is the step's.
    std::fs::remove_file(&marker).expect("remove the marker");
    zen.write(
        "no-retry.toml",
        &format!(
            "[steps.left.parameters]\ncrash = \"exit\"\ncrash_once = {}\n",
            Value::String(marker.display().to_string())
        ),
    );
    zen.example(
        "diamond",
        &["--config", "no-retry.toml", "--run-name", "not-retried"],
    )
    .fails()
    .stderr_has(&["exited with code 3"]);
    let left = zen.json(&["step", "describe", "not-retried", "left"]);
    assert_eq!(
        (
            left["step"]["attempt"].as_u64(),
            left["step"]["status"].as_str()
        ),
        (Some(1), Some("failed"))
    );
    assert_eq!(left["failed_attempts"], serde_json::json!([]));
}

#[test]
fn a_run_whose_driver_is_killed_is_interrupted_and_its_running_step_still_records() {
    let zen = Zenml::init();
    zen.use_process_stack();
    let release = zen.path("release");
    zen.write(
        "hold.toml",
        &format!(
            "[steps.source.parameters]\nhold_until = {}\n",
            Value::String(release.display().to_string())
        ),
    );
    let driver = zen
        .example(
            "diamond",
            &["--config", "hold.toml", "--run-name", "orphaned"],
        )
        .env("ZENML_RUN_LEASE_SECS", "1")
        .spawn();
    eventually(Duration::from_secs(60), "the run's start", || {
        let runs = zen.json(&["run", "list"])["items"].clone();
        runs.as_array()?
            .iter()
            .any(|r| r["name"] == "orphaned")
            .then_some(())
    });
    let killed = std::process::Command::new("kill")
        .args(["-9", &driver.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());

    // Nobody renews the lease: the run reads as interrupted, never running forever.
    eventually(Duration::from_secs(30), "the run's interruption", || {
        let run = zen.json(&["run", "describe", "orphaned"]);
        (run["run"]["status"] == "interrupted").then_some(())
    });
    zen.ok(&["run", "list"])
        .stdout_has(&["orphaned", "interrupted"]);

    // The step that was running lives on in its own process, and records itself; nothing
    // schedules the rest.
    std::fs::write(&release, b"go").expect("release");
    eventually(Duration::from_secs(60), "the held step's record", || {
        let steps = statuses(&zen, "orphaned");
        (steps == pairs(&[("source", "completed")])).then_some(())
    });
    assert_eq!(
        zen.json(&["run", "describe", "orphaned"])["run"]["status"],
        "interrupted"
    );
    // Waited for last: the step's process shares the driver's output pipes.
    let ended = driver.wait();
    assert_eq!(ended.code, None, "killed by a signal: {ended}");
}
