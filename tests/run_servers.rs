//! Pipelines recorded in a database server, for each server flavor (`mysql`, `postgres`):
//! the store configured through the CLI (the `config metadata set` shortcut, and
//! `metadata-store register` with a stack), then the training example run on it, shown by
//! `run list` and `run describe`, and cached on its second run; and eight pipeline
//! processes at once against one database.
//!
//! MariaDB runs on 127.0.0.1:3306 (user root, empty password), PostgreSQL on
//! 127.0.0.1:5432 (role postgres, trust); each test uses its own database and drops it
//! afterwards. Without a server the tests say how to start one and return early, except
//! under `CI=true`.

use std::collections::BTreeSet;
use std::time::Instant;

use serde_json::Value;
use zenml_e2e::{Cmd, SqlServer, TestDatabase, Zenml, strings};

/// The variable that holds the password (empty: the test users have none).
const PASSWORD_VAR: &str = "ZENML_E2E_SERVER_PASSWORD";

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

/// `zenml config metadata set FLAVOR --host … --database DB --password-env …` for `server`.
fn set_metadata(zen: &Zenml, server: SqlServer, db: &TestDatabase) {
    let mut args = vec![
        "config".to_owned(),
        "metadata".to_owned(),
        "set".to_owned(),
        server.flavor().to_owned(),
    ];
    for setting in server.settings(db.name(), PASSWORD_VAR) {
        let (key, value) = setting.split_once('=').expect("--key=value");
        args.extend([key.to_owned(), value.to_owned()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    zen.ok(&args);
}

/// Runs the training example twice on the repository's active stack, which records in
/// `db` on `server`: the first run completes every step, the second is cached; both are
/// listed and described by the CLI.
fn training_twice(zen: &Zenml, server: SqlServer, db: &TestDatabase) {
    zenml(zen, &["stack", "check"])
        .ok()
        .stdout_has(&[&format!("{} (schema version", server.uri(db.name()))]);

    let first = example(zen, "training", &[]).ok();
    assert_eq!(first.stderr, "", "{first}");
    first.stdout_has(&["of pipeline `training` completed: 4 steps."]);
    let first_name = first.run_name();

    let listed = zenml(zen, &["run", "list"]).ok();
    listed.stdout_has(&[&first_name, "training", "completed"]);
    let described = zenml(zen, &["run", "describe", &first_name]).json();
    assert_eq!(described["run"]["status"], "completed", "{described:#}");
    let store = &described["run"]["stack"]["components"]["metadata_store"];
    assert_eq!(store["flavor"], server.flavor(), "{described:#}");
    assert_eq!(store["config"]["database"], db.name(), "{described:#}");
    for (step, status) in step_statuses(&described) {
        assert!(TRAINING_STEPS.contains(&step.as_str()), "{step}");
        assert_eq!(status, "completed", "step {step}");
    }
    let evaluate = zenml(zen, &["step", "describe", &first_name, "evaluate"]).json();
    assert!(evaluate["metadata"]["mse"].is_f64(), "{evaluate:#}");

    // The same pipeline again: every step is a cache hit found in the server.
    let second = example(zen, "training", &[]).ok();
    assert_eq!(second.stderr, "", "{second}");
    second.stdout_has(&["4 steps, 4 cached."]);
    let second_name = second.run_name();
    assert_ne!(second_name, first_name);
    let described = zenml(zen, &["run", "describe", &second_name]).json();
    for (step, status) in step_statuses(&described) {
        assert_eq!(status, "cached", "step {step}");
    }

    let runs = zenml(zen, &["run", "list"]).json()["items"].clone();
    let names: BTreeSet<String> = strings(&runs, Some("name")).into_iter().collect();
    assert_eq!(names, BTreeSet::from([first_name, second_name]));
}

/// The training example twice on a store set by the `config metadata set` shortcut.
fn training_on_the_shortcut(server: SqlServer, test: &str) {
    if !server.available(test) {
        return;
    }
    let db = TestDatabase::on(server, "train_set");
    let zen = Zenml::init();
    set_metadata(&zen, server, &db);
    training_twice(&zen, server, &db);
}

/// The training example twice on a stack with a registered store.
fn training_on_a_registered_stack(server: SqlServer, test: &str) {
    if !server.available(test) {
        return;
    }
    let db = TestDatabase::on(server, "train_reg");
    let zen = Zenml::init();
    let mut args = vec![
        "metadata-store".to_owned(),
        "register".to_owned(),
        "team-db".to_owned(),
        "--flavor".to_owned(),
        server.flavor().to_owned(),
    ];
    args.extend(server.settings(db.name(), PASSWORD_VAR));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    zen.ok(&args);
    zen.ok(&[
        "stack", "register", "team", "-o", "default", "-m", "team-db", "-a", "default", "--set",
    ]);
    training_twice(&zen, server, &db);
    if let Some(exists) = db.exists() {
        assert!(exists, "the runs created database {}", db.name());
    }
}

#[test]
fn training_on_mysql_configured_by_the_shortcut() {
    training_on_the_shortcut(
        SqlServer::Mysql,
        "training_on_mysql_configured_by_the_shortcut",
    );
}

#[test]
fn training_on_postgres_configured_by_the_shortcut() {
    training_on_the_shortcut(
        SqlServer::Postgres,
        "training_on_postgres_configured_by_the_shortcut",
    );
}

#[test]
fn training_on_a_registered_mysql_stack() {
    training_on_a_registered_stack(SqlServer::Mysql, "training_on_a_registered_mysql_stack");
}

#[test]
fn training_on_a_registered_postgres_stack() {
    training_on_a_registered_stack(
        SqlServer::Postgres,
        "training_on_a_registered_postgres_stack",
    );
}

#[test]
fn eight_pipeline_processes_at_once_on_one_mysql_database() {
    eight_processes_at_once(
        SqlServer::Mysql,
        "eight_pipeline_processes_at_once_on_one_mysql_database",
    );
}

#[test]
fn eight_pipeline_processes_at_once_on_one_postgres_database() {
    eight_processes_at_once(
        SqlServer::Postgres,
        "eight_pipeline_processes_at_once_on_one_postgres_database",
    );
}

/// Eight quickstart processes at once, recording in one database that they create
/// themselves: every run, step run and artifact is recorded, and no error reaches the user.
fn eight_processes_at_once(server: SqlServer, test: &str) {
    if !server.available(test) {
        return;
    }
    let n = 8;
    let db = TestDatabase::on(server, "concurrent");
    let zen = Zenml::init();
    set_metadata(&zen, server, &db);
    let start = Instant::now();
    // The database and its schema are created by the processes themselves, all at once.
    let started: Vec<_> = (0..n)
        .map(|_| example(&zen, "quickstart", &["--no-cache"]).spawn())
        .collect();
    let finished: Vec<_> = started.into_iter().map(|s| s.wait()).collect();
    eprintln!(
        "{n} quickstart runs at once on {} took {:.2} s",
        server.flavor(),
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

    let runs = zenml(&zen, &["run", "list"]).json()["items"].clone();
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
    let pipelines = zenml(&zen, &["pipeline", "list"]).json()["items"].clone();
    assert_eq!(pipelines[0]["run_count"], n);
    let artifacts = zenml(&zen, &["artifact", "list"]).json()["items"].clone();
    assert_eq!(artifacts.as_array().map(Vec::len), Some(3 * n));
}
