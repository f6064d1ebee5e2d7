//! The `sqlite` flavor against the shared behavioural suite, with several writers at once, and
//! schema upgrades of databases written by earlier versions.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, params};
use serde_json::json;
use zenml_metadata_store::schema::{MIGRATIONS, RECORD_MIGRATION_SQL, SCHEMA_VERSION};
use zenml_metadata_store::{MetadataStore, MetadataStoreError, NewRun};
use zenml_sqlite::SqliteMetadataStore;
use zenml_testkit::metadata_store as conformance;

const TIMEOUT: Duration = Duration::from_secs(30);

fn open(path: &Path) -> SqliteMetadataStore {
    SqliteMetadataStore::open(path, TIMEOUT).expect("cannot open the test database")
}

fn new_run(name: &str) -> NewRun {
    NewRun {
        id: uuid_like(name),
        pipeline_name: "training".to_owned(),
        name: name.to_owned(),
        started_at: 1_700_000_000_000,
        config: json!({}),
        stack: json!({}),
        spec: serde_json::Value::Null,
        lease_expires_at: None,
    }
}

/// A UUID-shaped id derived from `seed`.
fn uuid_like(seed: &str) -> String {
    let hex: String = seed.bytes().map(|b| format!("{b:02x}")).collect();
    let hex = format!("{hex:0<32}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[test]
fn the_conformance_suite_passes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("metadata.db"));
    conformance::check_store(&store);
    // Twice on the same database: the suite does not depend on an empty store.
    conformance::check_store(&open(&dir.path().join("metadata.db")));
}

#[test]
fn the_testkit_suite_passes_with_a_store_per_opening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metadata.db");
    let open_store = || Arc::new(open(&path)) as Arc<dyn MetadataStore>;
    let report = conformance::run_all(&open_store);
    report.assert_passed();
    assert!(report.skips().is_empty(), "{:?}", report.skips());
}

#[test]
fn writers_in_several_threads_with_their_own_stores_never_fail() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metadata.db");
    drop(open(&path));
    let open_store = || Arc::new(open(&path)) as Arc<dyn MetadataStore>;
    conformance::check_concurrent_writers(&open_store, 4, 25);
}

#[test]
fn writers_in_several_threads_sharing_one_store_never_fail() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn MetadataStore> = Arc::new(open(&dir.path().join("metadata.db")));
    conformance::check_concurrent_writers(&|| Arc::clone(&store), 4, 10);
}

#[test]
fn a_version_1_database_is_upgraded_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metadata.db");
    // What the previous release wrote: migration 1 only.
    {
        let connection = Connection::open(&path).unwrap();
        for migration in &MIGRATIONS[..1] {
            for statement in migration.statements() {
                connection.execute_batch(statement).unwrap();
            }
            connection
                .execute(
                    RECORD_MIGRATION_SQL,
                    params![
                        migration.version,
                        migration.description,
                        "2025-01-31T14:05:09Z"
                    ],
                )
                .unwrap();
        }
    }

    let store = open(&path);
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    let recorded: Vec<(u32, String)> = Connection::open(&path)
        .unwrap()
        .prepare("SELECT version, applied_at FROM zenml_schema_migrations ORDER BY version")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(recorded.len(), MIGRATIONS.len());
    assert_eq!(recorded[0], (1, "2025-01-31T14:05:09Z".to_owned()));
    assert!(recorded.iter().map(|r| r.0).eq(1..=SCHEMA_VERSION));

    // The upgraded database works, and keeps what is written through a reopening.
    let run = store.create_run(&new_run("after-upgrade")).unwrap();
    drop(store);
    let store = open(&path);
    assert_eq!(store.get_run("after-upgrade").unwrap(), run);
    conformance::check_store(&store);
}

/// Creates `path` as a release that wrote schema `version` did: migrations 1 to `version`,
/// then `rows`.
fn database_at_version(path: &Path, version: usize, rows: &[&str]) {
    let connection = Connection::open(path).expect("cannot open the database");
    for migration in &MIGRATIONS[..version] {
        for statement in migration.statements() {
            connection
                .execute_batch(statement)
                .expect("cannot apply an old migration");
        }
        connection
            .execute(
                RECORD_MIGRATION_SQL,
                params![
                    migration.version,
                    migration.description,
                    "2025-06-01T00:00:00Z"
                ],
            )
            .expect("cannot record an old migration");
    }
    for rows in rows {
        connection
            .execute_batch(rows)
            .expect("cannot write the old rows");
    }
}

#[test]
fn a_version_2_database_is_upgraded_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metadata.db");
    database_at_version(&path, 2, &[conformance::VERSION_2_ROWS]);
    let store = open(&path);
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    conformance::check_version_2_rows_upgraded(&store);
    conformance::check_store(&store);
}

#[test]
fn a_database_of_the_previous_version_is_upgraded_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metadata.db");
    database_at_version(
        &path,
        5,
        &[conformance::VERSION_2_ROWS, conformance::VERSION_4_ROWS],
    );
    let store = open(&path);
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    conformance::check_version_4_rows_upgraded(&store);
    conformance::check_store(&store);
}

#[test]
fn unknown_statuses_are_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metadata.db");
    let store = open(&path);
    let run = store.create_run(&new_run("tampered")).unwrap();
    Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE pipeline_runs SET status = 'paused' WHERE id = ?",
            [&run.id],
        )
        .unwrap();
    let err = store.get_run(&run.id).unwrap_err();
    assert!(
        matches!(err, MetadataStoreError::Corrupt { what: "run", .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("`paused`"), "{err}");
    assert!(store.list_pipelines().is_err());

    Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE pipeline_runs SET status = 'running', config = '{oops' WHERE id = ?",
            [&run.id],
        )
        .unwrap();
    let err = store.list_runs(None).unwrap_err();
    assert!(err.to_string().contains("invalid JSON"), "{err}");
}

#[test]
fn a_writer_waits_for_a_transaction_of_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metadata.db");
    let store = open(&path);
    // Another connection holds the write lock for a while, as another process would.
    let blocker = Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    // That it waits at all is shown by `a_busy_database_past_the_timeout_is_an_error_not_a_hang`
    // (it fails only after its whole timeout); here, that the wait ends in success once the
    // other transaction commits, whenever the write started: a write that did not wait would
    // fail at once with "database is locked".
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| store.create_run(&new_run("patient")));
        blocker.execute_batch("COMMIT").unwrap();
        writer.join().unwrap().unwrap();
    });
    assert_eq!(store.list_runs(Some("training")).unwrap().len(), 1);
}

#[test]
fn a_busy_database_past_the_timeout_is_an_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metadata.db");
    drop(open(&path));
    let store = SqliteMetadataStore::open(&path, Duration::from_millis(200)).unwrap();
    let blocker = Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let started = std::time::Instant::now();
    // On a thread, so that a hang fails the test instead of stalling it.
    let (done, result) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let _ = done.send(store.create_run(&new_run("impatient")));
        });
        let err = result
            .recv_timeout(Duration::from_secs(120))
            .expect("the write hangs past its busy timeout")
            .unwrap_err();
        assert!(matches!(err, MetadataStoreError::Backend { .. }), "{err:?}");
    });
    // It waited its whole timeout before giving up: a lower bound, which sleeps guarantee.
    assert!(started.elapsed() >= Duration::from_millis(200));
    blocker.execute_batch("ROLLBACK").unwrap();
    store.create_run(&new_run("impatient")).unwrap();
}

/// Set in the child processes of [`writers_in_several_processes_never_fail`]: the database.
const CHILD_DATABASE: &str = "ZENML_TEST_SQLITE_CHILD_DATABASE";

const STEPS_PER_PROCESS: usize = 30;

#[test]
fn writers_in_several_processes_never_fail() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metadata.db");
    drop(open(&path));
    let children: Vec<_> = (0..3)
        .map(|_| {
            std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "child_process_writer", "--nocapture"])
                .env(CHILD_DATABASE, &path)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "a writer process failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("1 passed"),
            "the child ran no test"
        );
    }
    let store = open(&path);
    let runs = store.list_runs(Some("multiprocess")).unwrap();
    assert_eq!(runs.len(), 3);
    for run in runs {
        assert_eq!(store.step_runs(&run.id).unwrap().len(), STEPS_PER_PROCESS);
    }
}

/// The writer of [`writers_in_several_processes_never_fail`]; does nothing when run on its
/// own.
#[test]
fn child_process_writer() {
    let Some(path) = std::env::var_os(CHILD_DATABASE) else {
        return;
    };
    let store = open(Path::new(&path));
    let name = format!("multiprocess-{}", std::process::id());
    let run = store
        .create_run(&NewRun {
            id: uuid_like(&format!("p{}", std::process::id())),
            pipeline_name: "multiprocess".to_owned(),
            ..new_run(&name)
        })
        .unwrap();
    for i in 0..STEPS_PER_PROCESS {
        let step = zenml_metadata_store::StepRunRecord {
            id: uuid_like(&format!("{}s{i}", std::process::id())),
            run_id: run.id.clone(),
            name: format!("step-{i}"),
            status: zenml_metadata_store::StepStatus::Completed,
            started_at: 1,
            ended_at: 2 + i as i64,
            code_hash: "h".to_owned(),
            cache_key: None,
            parameters: json!({}),
            error: None,
            original_step_run_id: None,
            cache_invalidated_at: None,
            attempt: 1,
        };
        store
            .record_step_run(&zenml_metadata_store::StepRunWrite {
                metadata: vec![zenml_metadata_store::MetadataEntry {
                    resource: zenml_metadata_store::Resource::StepRun(step.id.clone()),
                    key: "i".to_owned(),
                    value: json!(i),
                }],
                step,
                inputs: Vec::new(),
                new_outputs: Vec::new(),
                reused_outputs: Vec::new(),
                artifact_labels: Vec::new(),
            })
            .unwrap();
    }
}
