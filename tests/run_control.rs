//! Controlling runs from outside the process that started them, as a user does: `--detach`,
//! `zenml run cancel`, and `zenml step logs`, on the `local` and `process` orchestrators.

use std::time::Duration;

use serde_json::Value;
use zenml_e2e::{Zenml, eventually};

/// Each step's (name, status, error) in `run`, sorted by name.
fn steps(zen: &Zenml, run: &str) -> Vec<(String, String, String)> {
    let described = zen.json(&["run", "describe", run]);
    let mut steps: Vec<(String, String, String)> = described["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            let text = |key: &str| s["step"][key].as_str().unwrap_or_default().to_owned();
            (text("name"), text("status"), text("error"))
        })
        .collect();
    steps.sort();
    steps
}

/// Waits until run `run` has the status `status`.
fn wait_for_status(zen: &Zenml, run: &str, status: &str) -> Value {
    eventually(
        Duration::from_secs(120),
        &format!("run `{run}` {status}"),
        || {
            let described = zen.json(&["run", "describe", run]);
            (described["run"]["status"] == status).then_some(described)
        },
    )
}

/// Writes a run configuration that holds step `source` until `release` exists.
fn hold_config(zen: &Zenml, release: &std::path::Path) {
    zen.write(
        "hold.toml",
        &format!(
            "[steps.source.parameters]\nhold_until = {}\n",
            Value::String(release.display().to_string())
        ),
    );
}

/// Whether a process of this machine runs step `step` of run `run_id`.
fn step_process_runs(run_id: &str, step: &str) -> bool {
    std::fs::read_dir("/proc").is_ok_and(|entries| {
        entries.filter_map(Result::ok).any(|entry| {
            std::fs::read(entry.path().join("cmdline")).is_ok_and(|cmdline| {
                let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
                args.windows(2)
                    .any(|w| w == [b"--zenml-run", run_id.as_bytes()])
                    && args
                        .windows(2)
                        .any(|w| w == [b"--zenml-step", step.as_bytes()])
            })
        })
    })
}

#[test]
fn step_logs_are_kept_on_every_orchestrator() {
    let zen = Zenml::init();
    // In the driver's process (`local`), a step's logs are its `log` records.
    zen.example("diamond", &["--run-name", "threads"]).ok();
    zen.ok(&["step", "logs", "threads", "right"])
        .stdout_has(&["INFO", "doubled 4 values"]);
    zen.fails(&["step", "logs", "threads", "join"])
        .stderr_has(&["logs of step `join` not found", "wrote nothing"]);
    zen.fails(&["step", "logs", "threads", "nope"])
        .stderr_has(&["step `nope` not found", "source", "left", "right", "join"]);

    // In a process of its own, everything the process wrote.
    zen.use_process_stack();
    zen.example("diamond", &["--run-name", "procs", "--no-cache"])
        .ok();
    zen.ok(&["step", "logs", "procs", "right"])
        .stdout_has(&["right doubles 4 values", "doubled 4 values"]);
    let found = zen.json(&["step", "logs", "procs", "right"]);
    assert_eq!(found["attempt"], 1, "{found:#}");
    assert!(
        found["path"]
            .as_str()
            .is_some_and(|p| p.starts_with(".zenml-logs/") && p.ends_with("/right.1.log")),
        "{found:#}"
    );
    zen.fails(&["step", "logs", "procs", "right", "--attempt", "2"])
        .stderr_has(&["attempt 2 kept none", "attempts with logs: 1"]);
    // They live in the artifact store, with the run.
    let stored = zen
        .path(".zen/artifacts")
        .join(found["path"].as_str().unwrap_or_default());
    assert!(
        std::fs::read_to_string(&stored).is_ok_and(|text| text.contains("right doubles")),
        "{}",
        stored.display()
    );
}

#[test]
fn a_detached_run_completes_without_the_process_that_started_it() {
    let zen = Zenml::init();
    for (stack, run) in [("default", "detached-threads"), ("procs", "detached-procs")] {
        if stack == "procs" {
            zen.use_process_stack();
        }
        zen.example("diamond", &["--detach", "--run-name", run, "--no-cache"])
            .ok()
            .stdout_has(&[
                &format!("Run `{run}` of pipeline `diamond` submitted: its driver runs as process"),
                &format!("`zenml run describe {run}` follows it"),
            ]);
        let described = wait_for_status(&zen, run, "completed");
        assert!(
            steps(&zen, run)
                .iter()
                .all(|(_, status, _)| status == "completed"),
            "{described:#}"
        );
        let log = described["metadata"]["driver.log"]
            .as_str()
            .expect("the driver's output is named")
            .to_owned();
        let driven = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            driven.contains(&format!("Driving run `{run}`")) && driven.contains("completed"),
            "{log}: {driven}"
        );
        zen.ok(&["run", "describe", run])
            .stdout_has(&["driver   process", "output   "]);
    }
    // A driver is not a second driver: a finished run is not driven again.
    let id = zen.json(&["run", "describe", "detached-procs"])["run"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    zen.example("diamond", &["--zenml-run", &id, "--zenml-drive"])
        .fails()
        .stderr_has(&["the run is completed; only a running run is driven"]);
}

#[test]
fn a_cancelled_run_stops_its_running_step_and_starts_no_more() {
    let zen = Zenml::init();
    zen.use_process_stack();
    let release = zen.path("release");
    hold_config(&zen, &release);
    zen.example(
        "diamond",
        &["--config", "hold.toml", "--detach", "--run-name", "held"],
    )
    .ok();
    let id = zen.json(&["run", "describe", "held"])["run"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    eventually(Duration::from_secs(60), "the held step's process", || {
        step_process_runs(&id, "source").then_some(())
    });
    zen.ok(&["run", "cancel", "held"]).stdout_has(&[
        "Cancelled run `held`",
        "1 running step stopped by the orchestrator of stack `procs`",
    ]);
    wait_for_status(&zen, "held", "cancelled");
    // The driver records what it stopped and what it never started.
    let recorded = eventually(Duration::from_secs(60), "every step's record", || {
        let steps = steps(&zen, "held");
        (steps.len() == 4).then_some(steps)
    });
    for (name, status, error) in &recorded {
        let expected = if name == "source" {
            "failed"
        } else {
            "skipped"
        };
        assert_eq!(status, expected, "{recorded:?}");
        assert!(error.contains("cancelled"), "{recorded:?}");
    }
    assert!(
        recorded[3]
            .2
            .contains("the run was cancelled, and the step's process was killed by signal 15"),
        "{recorded:?}"
    );
    assert!(!step_process_runs(&id, "source"));
    let described = zen.json(&["run", "describe", "held"]);
    assert_eq!(described["run"]["status"], "cancelled");
    zen.fails(&["run", "cancel", "held"])
        .stderr_has(&["run `held` is already cancelled"]);
    zen.fails(&["run", "cancel", "no-such-run"])
        .stderr_has(&["run `no-such-run` not found"]);
}

#[test]
fn a_cancelled_run_on_threads_finishes_its_running_step_and_starts_no_more() {
    let zen = Zenml::init();
    let release = zen.path("release");
    hold_config(&zen, &release);
    // Attached, in the background: the program ends when its run does.
    let program = zen
        .example("diamond", &["--config", "hold.toml", "--run-name", "held"])
        .env("ZENML_RUN_LEASE_SECS", "1")
        .spawn();
    eventually(Duration::from_secs(60), "the run's start", || {
        let runs = zen.json(&["run", "list"])["items"].clone();
        runs.as_array()?
            .iter()
            .any(|r| r["name"] == "held" && r["status"] == "running")
            .then_some(())
    });
    zen.ok(&["run", "cancel", "held"])
        .stdout_has(&["Cancelled run `held`", "0 running steps stopped"]);
    // The driver notices at its next lease renewal, and says so.
    eventually(
        Duration::from_secs(60),
        "the driver's acknowledgement",
        || {
            let described = zen.json(&["run", "describe", "held"]);
            described["metadata"]["cancel.acknowledged_at"].as_i64()
        },
    );
    // A thread cannot be stopped: the held step finishes once released; nothing follows.
    std::fs::write(&release, b"go").expect("release the step");
    let ended = program.wait();
    ended.assert_failure();
    ended.stderr_has(&["run `held` was cancelled"]);
    let recorded = steps(&zen, "held");
    let statuses: Vec<(&str, &str)> = recorded
        .iter()
        .map(|(n, s, _)| (n.as_str(), s.as_str()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("join", "skipped"),
            ("left", "skipped"),
            ("right", "skipped"),
            ("source", "completed")
        ]
    );
    assert!(
        recorded[1].2.contains("the run was cancelled"),
        "{recorded:?}"
    );
    assert_eq!(
        zen.json(&["run", "describe", "held"])["run"]["status"],
        "cancelled"
    );
}
