//! Pipelines on the `slurm` orchestrator, on the two-node Slurm test cluster that
//! `.ci/services` starts: every step a batch job, as a user runs them, on the default stores
//! (a folder both nodes of this machine see) and on a team's stores (MySQL and the S3 test
//! server). Skipped without the services, except under `CI=true`.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;
use zenml_e2e::{TestDatabase, Zenml, eventually, mariadb_available};
use zenml_testkit::services::{S3, SLURM, fresh_prefix, slurm_conf};

/// Registers the `slurm` orchestrator `cluster` on the test cluster.
fn register_cluster(zen: &Zenml) {
    zen.ok(&[
        "orchestrator",
        "register",
        "cluster",
        "--flavor",
        "slurm",
        "--partition",
        "debug",
        "--slurm-conf",
        &slurm_conf().display().to_string(),
        "--poll-interval-ms",
        "50",
    ]);
}

/// Registers a `slurm` orchestrator on the test cluster and makes a stack of it (and the
/// default stores: a folder both nodes of this machine see) active.
fn slurm_stack(zen: &Zenml) {
    register_cluster(zen);
    zen.ok(&[
        "stack", "register", "cluster", "-o", "cluster", "-m", "default", "-a", "default", "--set",
    ]);
}

/// What step `step` of `run` recorded about where it ran: (node, job id).
fn placement(zen: &Zenml, run: &str, step: &str) -> (String, String) {
    let described = zen.json(&["step", "describe", run, step]);
    let text = |key: &str| {
        described["metadata"][key]
            .as_str()
            .unwrap_or_else(|| panic!("`{step}` recorded no `{key}`: {described:#}"))
            .to_owned()
    };
    (text("node"), text("slurm_job"))
}

#[test]
fn every_step_is_a_job_and_a_rerun_is_cached() {
    if !SLURM.available_for("every_step_is_a_job_and_a_rerun_is_cached") {
        return;
    }
    let zen = Zenml::init();
    slurm_stack(&zen);
    zen.example("diamond", &["--run-name", "on-slurm"])
        .ok()
        .stdout_has(&["Run `on-slurm` of pipeline `diamond` completed: 4 steps."]);
    let jobs: BTreeSet<String> = ["source", "left", "right", "join"]
        .iter()
        .map(|step| {
            let (node, job) = placement(&zen, "on-slurm", step);
            assert!(node == "n1" || node == "n2", "{step} ran on {node}");
            job
        })
        .collect();
    assert_eq!(jobs.len(), 4, "one job per step: {jobs:?}");
    // The orchestrator records each step's job id with the run, as `step describe` shows.
    let (_, job) = placement(&zen, "on-slurm", "left");
    let left = zen.json(&["step", "describe", "on-slurm", "left"]);
    assert_eq!(
        left["jobs"],
        serde_json::json!([{ "attempt": 1, "job": job }]),
        "{left:#}"
    );
    zen.ok(&["step", "describe", "on-slurm", "left"])
        .stdout_has(&["job (attempt 1)", &job]);
    // Each job's script and output are kept below .zen/slurm/<run id>/.
    let run_id = zen.json(&["run", "describe", "on-slurm"])["run"]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let logs = zen.path(&format!(".zen/slurm/{run_id}"));
    for step in ["source", "left", "right", "join"] {
        assert!(logs.join(format!("{step}-1.sh")).is_file(), "{step}");
    }

    zen.example("diamond", &["--run-name", "again"])
        .ok()
        .stdout_has(&["4 steps, 4 cached."]);

    // The training example, whose steps pass real artifacts through the shared store.
    zen.example("training", &[])
        .ok()
        .stdout_has(&["completed: 4 steps."]);
}

#[test]
fn steps_running_at_once_spread_over_both_nodes() {
    if !SLURM.available_for("steps_running_at_once_spread_over_both_nodes") {
        return;
    }
    let zen = Zenml::init();
    slurm_stack(&zen);
    // `left` and `right` each need a whole node (2 CPUs); `left` holds its node until
    // `right` has completed, so `right` can only have run on the other node.
    let release = zen.path("release-left");
    zen.write(
        "spread.toml",
        &format!(
            "[steps.left.resources]\ncpus = 2\n[steps.right.resources]\ncpus = 2\n\
             [steps.left.parameters]\nhold_until = {}\n",
            Value::String(release.display().to_string())
        ),
    );
    let driver = zen
        .example(
            "diamond",
            &["--config", "spread.toml", "--run-name", "spread"],
        )
        .spawn();
    eventually(Duration::from_secs(120), "`right` completing", || {
        let runs = zen.json(&["run", "list"])["items"].clone();
        runs.as_array()?.iter().find(|r| r["name"] == "spread")?;
        let right = zen
            .cmd(&["--output", "json", "step", "describe", "spread", "right"])
            .run();
        (right.code == Some(0) && right.stdout.contains("\"completed\"")).then_some(())
    });
    std::fs::write(&release, b"go").expect("release left");
    driver
        .wait()
        .assert_success()
        .stdout_has(&["Run `spread` of pipeline `diamond` completed: 4 steps."]);
    let (left, _) = placement(&zen, "spread", "left");
    let (right, _) = placement(&zen, "spread", "right");
    assert_ne!(
        left, right,
        "`left` and `right` ran at once on different nodes"
    );
}

#[test]
fn a_failing_job_skips_its_dependants_and_says_how_it_ended() {
    if !SLURM.available_for("a_failing_job_skips_its_dependants_and_says_how_it_ended") {
        return;
    }
    let zen = Zenml::init();
    slurm_stack(&zen);
    zen.write("crash.toml", "[steps.left.parameters]\ncrash = \"kill\"\n");
    zen.example(
        "diamond",
        &["--config", "crash.toml", "--run-name", "crashed"],
    )
    .fails()
    .stderr_has(&["step `left`", "killed by signal 9 (SIGKILL)"]);
    let described = zen.json(&["run", "describe", "crashed"]);
    let status = |name: &str| {
        described["steps"]
            .as_array()
            .and_then(|steps| steps.iter().find(|s| s["step"]["name"] == name))
            .map(|s| s["step"]["status"].as_str().unwrap_or_default().to_owned())
    };
    assert_eq!(status("left").as_deref(), Some("failed"));
    assert_eq!(status("join").as_deref(), Some("skipped"));
    assert_eq!(status("right").as_deref(), Some("completed"));
}

/// The Slurm state of job `job` (`scontrol show job`), as `key=value` pairs.
fn job_fields(job: &str) -> String {
    let output = std::process::Command::new("scontrol")
        .env("SLURM_CONF", slurm_conf())
        .args(["show", "job", "-o", job])
        .output()
        .expect("scontrol runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_detached_run_is_a_driver_job_that_can_be_cancelled() {
    if !SLURM.available_for("a_detached_run_is_a_driver_job_that_can_be_cancelled") {
        return;
    }
    let zen = Zenml::init();
    slurm_stack(&zen);
    let release = zen.path("release");
    zen.write(
        "hold.toml",
        &format!(
            "[steps.source.parameters]\nhold_until = {}\n",
            Value::String(release.display().to_string())
        ),
    );
    // The submitting program returns at once; the driver is a job of its own.
    zen.example(
        "diamond",
        &["--config", "hold.toml", "--detach", "--run-name", "held"],
    )
    .ok()
    .stdout_has(&["Run `held` of pipeline `diamond` submitted: its driver runs as Slurm job"]);
    let source_job = eventually(Duration::from_secs(120), "the source step's job", || {
        let described = zen.json(&["run", "describe", "held"]);
        described["metadata"]["job.source.1"]
            .as_str()
            .map(str::to_owned)
    });
    zen.ok(&["run", "cancel", "held"]).stdout_has(&[
        "Cancelled run `held`",
        "1 running step stopped by the orchestrator of stack `cluster`",
    ]);
    let recorded = eventually(Duration::from_secs(120), "every step's record", || {
        let described = zen.json(&["run", "describe", "held"]);
        let steps = described["steps"].as_array()?.clone();
        (steps.len() == 4).then_some(steps)
    });
    for step in &recorded {
        let (name, status) = (&step["step"]["name"], &step["step"]["status"]);
        let expected = if name == "source" {
            "failed"
        } else {
            "skipped"
        };
        assert_eq!(status, expected, "{name}: {step:#}");
        assert!(
            step["step"]["error"]
                .as_str()
                .is_some_and(|e| e.contains("cancelled")),
            "{step:#}"
        );
    }
    assert!(job_fields(&source_job).contains("JobState=CANCELLED"));
    assert_eq!(
        zen.json(&["run", "describe", "held"])["run"]["status"],
        "cancelled"
    );

    // Detached again, with nothing held: the run completes without its submitter, with
    // per-step Slurm settings, and keeps each job's output as the step's logs.
    zen.write(
        "settings.toml",
        "[steps.right.settings.slurm]\ntime_limit = \"7:00\"\n\
         [steps.right.settings.process]\n",
    );
    zen.example(
        "diamond",
        &[
            "--config",
            "settings.toml",
            "--detach",
            "--run-name",
            "free",
        ],
    )
    .ok();
    eventually(Duration::from_secs(180), "the detached run's end", || {
        let described = zen.json(&["run", "describe", "free"]);
        (described["run"]["status"] == "completed").then_some(())
    });
    zen.ok(&["step", "logs", "free", "right"])
        .stdout_has(&["right doubles 4 values", "doubled 4 values"]);
    let right_job = zen.json(&["run", "describe", "free"])["metadata"]["job.right.1"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        job_fields(&right_job).contains("TimeLimit=00:07:00"),
        "{}",
        job_fields(&right_job)
    );
    let left_job = zen.json(&["run", "describe", "free"])["metadata"]["job.left.1"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!job_fields(&left_job).contains("TimeLimit=00:07:00"));

    // Settings Slurm does not know are refused before anything is recorded or submitted.
    let runs = zen.json(&["run", "list"])["items"]
        .clone()
        .as_array()
        .map_or(0, Vec::len);
    zen.write(
        "typo.toml",
        "[steps.right.settings.slurm]\npartiton = \"gpu\"\n",
    );
    zen.example("diamond", &["--config", "typo.toml"])
        .fails()
        .stderr_has(&["steps.right.settings.slurm", "unknown field `partiton`"]);
    zen.write("flavor.toml", "[steps.right.settings.slurmm]\n");
    zen.example("diamond", &["--config", "flavor.toml"])
        .fails()
        .stderr_has(&["steps.right.settings.slurmm", "slurm"]);
    assert_eq!(
        zen.json(&["run", "list"])["items"]
            .clone()
            .as_array()
            .map_or(0, Vec::len),
        runs
    );
}

#[test]
fn training_on_slurm_with_mysql_and_s3_is_cached_across_runs() {
    let test = "training_on_slurm_with_mysql_and_s3_is_cached_across_runs";
    if !SLURM.available_for(test) || !mariadb_available(test) || !S3.available_for(test) {
        return;
    }
    // The team setup: the stores every node reaches over the network.
    let db = TestDatabase::new("slurm_s3");
    let prefix = fresh_prefix("e2e-slurm");
    let zen = Zenml::init();
    zen.ok(&[
        "config",
        "metadata",
        "set",
        "mysql",
        "--host",
        "127.0.0.1",
        "--username",
        "root",
        "--database",
        db.name(),
    ]);
    zen.set_s3_artifacts(&prefix, "slurm-secret");
    register_cluster(&zen);
    zen.ok(&["stack", "update", "-o", "cluster"]);

    let first = zen.example("training", &[]).ok();
    first.stdout_has(&["of pipeline `training` completed: 4 steps."]);
    let second = zen.example("training", &[]).ok();
    second.stdout_has(&["4 steps, 4 cached."]);
    // The jobs' scripts carry no secret: the key stays in the secrets file.
    let scripts = std::fs::read_dir(zen.path(".zen/slurm"))
        .expect("the job folder")
        .flatten()
        .flat_map(|run| {
            std::fs::read_dir(run.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .filter(|f| f.path().extension().is_some_and(|e| e == "sh"))
        .map(|f| std::fs::read_to_string(f.path()).unwrap_or_default())
        .collect::<Vec<_>>();
    assert!(!scripts.is_empty());
    assert!(scripts.iter().all(|s| !s.contains("slurm-secret")));
    let artifacts = zen.json(&["artifact", "list"])["items"].clone();
    assert!(
        artifacts.as_array().is_some_and(|a| !a.is_empty()
            && a.iter()
                .all(|x| x["uri"].as_str().is_some_and(|u| u.starts_with("s3://")))),
        "{artifacts:#}"
    );
}
