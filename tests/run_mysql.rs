//! Pipelines recorded in MySQL: the `mysql` metadata store configured through the CLI (the
//! `config metadata set` shortcut, and `metadata-store register` with a stack), then the
//! training example run on it, shown by `run list` and `run describe`, and cached on its
//! second run; and eight pipeline processes at once against one MySQL database.
//!
//! MariaDB runs on 127.0.0.1:3306 (user root, empty password); each test uses its own
//! database and drops it afterwards. Without a server the tests say how to start one and
//! return early, except under `CI=true`.

use std::collections::BTreeSet;
use std::time::Instant;

use serde_json::Value;
use zenml_e2e::{Cmd, TestDatabase, Zenml, mariadb_available, strings};

/// The variable that holds the password (root's is empty).
const PASSWORD_VAR: &str = "ZENML_E2E_MYSQL_PASSWORD";

/// The steps of the training pipeline.
const TRAINING_STEPS: [&str; 4] = ["load", "split", "trainer", "evaluate"];

/// `zenml ARGS` with the password variable set.
fn zenml(zen: &Zenml, args: &[&str]) -> Cmd {
    zen.cmd(args).env(PASSWORD_VAR, "")
}

/// The example `name` with the password variable set.
fn example(zen: &Zenml, name: &str, args: &[&str]) -> Cmd {
    zen.example(name, args).env(PASSWORD_VAR, "")
}

/// The `status` of each step in `run describe --output json`, by step name.
fn step_statuses(described: &Value) -> Vec<(String, String)> {
    let mut statuses: Vec<(String, String)> = described["steps"]
        .as_array()
        .expect("`steps` is an array")
        .iter()
        .map(|s| {
            (
                s["step"]["name"].as_str().unwrap_or_default().to_owned(),
                s["step"]["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    statuses.sort();
    statuses
}

/// Runs the training example twice on the repository's active stack, which records in
/// `db`: the first run completes every step, the second is cached; both are listed and
/// described by the CLI.
fn training_twice_on_mysql(zen: &Zenml, db: &TestDatabase) {
    zenml(zen, &["stack", "check"]).ok().stdout_has(&[&format!(
        "mysql://root@127.0.0.1:3306/{} (schema version",
        db.name()
    )]);

    let first = example(zen, "training", &[]).ok();
    assert_eq!(first.stderr, "", "{first}");
    first.stdout_has(&["of pipeline `training` completed: 4 steps."]);
    let first_name = first.run_name();

    let listed = zenml(zen, &["run", "list"]).ok();
    listed.stdout_has(&[&first_name, "training", "completed"]);
    let described = zenml(zen, &["run", "describe", &first_name]).json();
    assert_eq!(described["run"]["status"], "completed", "{described:#}");
    let store = &described["run"]["stack"]["components"]["metadata_store"];
    assert_eq!(store["flavor"], "mysql", "{described:#}");
    assert_eq!(store["config"]["database"], db.name(), "{described:#}");
    for (step, status) in step_statuses(&described) {
        assert!(TRAINING_STEPS.contains(&step.as_str()), "{step}");
        assert_eq!(status, "completed", "step {step}");
    }
    let evaluate = zenml(zen, &["step", "describe", &first_name, "evaluate"]).json();
    assert!(evaluate["metadata"]["mse"].is_f64(), "{evaluate:#}");

    // The same pipeline again: every step is a cache hit found in MySQL.
    let second = example(zen, "training", &[]).ok();
    assert_eq!(second.stderr, "", "{second}");
    second.stdout_has(&["4 steps, 4 cached."]);
    let second_name = second.run_name();
    assert_ne!(second_name, first_name);
    let described = zenml(zen, &["run", "describe", &second_name]).json();
    for (step, status) in step_statuses(&described) {
        assert_eq!(status, "cached", "step {step}");
    }

    let runs = zenml(zen, &["run", "list"]).json();
    let names: BTreeSet<String> = strings(&runs, Some("name")).into_iter().collect();
    assert_eq!(names, BTreeSet::from([first_name, second_name]));
}

#[test]
fn training_on_mysql_configured_by_the_shortcut() {
    if !mariadb_available("training_on_mysql_configured_by_the_shortcut") {
        return;
    }
    let db = TestDatabase::new("train_set");
    let zen = Zenml::init();
    zen.set_mysql_metadata(db.name(), PASSWORD_VAR);
    training_twice_on_mysql(&zen, &db);
}

#[test]
fn training_on_a_registered_mysql_stack() {
    if !mariadb_available("training_on_a_registered_mysql_stack") {
        return;
    }
    let db = TestDatabase::new("train_reg");
    let zen = Zenml::init();
    zen.ok(&[
        "metadata-store",
        "register",
        "team-db",
        "--flavor",
        "mysql",
        "--host=127.0.0.1",
        "--port=3306",
        "--username=root",
        &format!("--database={}", db.name()),
        &format!("--password-env={PASSWORD_VAR}"),
    ]);
    zen.ok(&[
        "stack", "register", "team", "-o", "default", "-m", "team-db", "-a", "default", "--set",
    ]);
    training_twice_on_mysql(&zen, &db);
    if let Some(exists) = db.exists() {
        assert!(exists, "the runs created database {}", db.name());
    }
}

#[test]
fn eight_pipeline_processes_at_once_on_one_mysql_database() {
    if !mariadb_available("eight_pipeline_processes_at_once_on_one_mysql_database") {
        return;
    }
    let n = 8;
    let db = TestDatabase::new("concurrent");
    let zen = Zenml::init();
    zen.ok(&[
        "config",
        "metadata",
        "set",
        "mysql",
        "--host",
        "127.0.0.1",
        "--database",
        db.name(),
        "--password-env",
        PASSWORD_VAR,
    ]);
    let start = Instant::now();
    // The database and its schema are created by the processes themselves, all at once.
    let started: Vec<_> = (0..n)
        .map(|_| example(&zen, "quickstart", &["--no-cache"]).spawn())
        .collect();
    let finished: Vec<_> = started.into_iter().map(|s| s.wait()).collect();
    eprintln!(
        "{n} quickstart runs at once on MySQL took {:.2} s",
        start.elapsed().as_secs_f64()
    );

    let mut names = BTreeSet::new();
    for run in &finished {
        run.assert_success();
        // No deadlock, lock wait timeout or other store error reaches the user.
        assert_eq!(run.stderr, "", "{run}");
        names.insert(run.run_name());
    }
    assert_eq!(names.len(), n, "every run has its own name: {names:?}");

    let runs = zenml(&zen, &["run", "list"]).json();
    assert_eq!(runs.as_array().map(Vec::len), Some(n), "{runs:#}");
    assert_eq!(
        strings(&runs, Some("name"))
            .into_iter()
            .collect::<BTreeSet<_>>(),
        names
    );
    for name in &names {
        let described = zenml(&zen, &["run", "describe", name]).json();
        assert_eq!(described["run"]["status"], "completed", "{described:#}");
        let steps = described["steps"].as_array().expect("an array of steps");
        assert_eq!(steps.len(), 3, "{described:#}");
        for step in steps {
            assert_eq!(step["step"]["status"], "completed", "{described:#}");
            assert_eq!(step["outputs"].as_array().map(Vec::len), Some(1));
        }
        let total = zenml(&zen, &["step", "describe", name, "total"]).json();
        assert_eq!(total["metadata"]["sum"], 385);
    }
    let pipelines = zenml(&zen, &["pipeline", "list"]).json();
    assert_eq!(pipelines[0]["run_count"], n);
    let artifacts = zenml(&zen, &["artifact", "list"]).json();
    assert_eq!(artifacts.as_array().map(Vec::len), Some(3 * n));
}
