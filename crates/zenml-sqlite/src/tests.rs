//! Tests of the SQLite store's own behaviour (the shared suite runs in tests/).

use zenml_core::{ComponentKind, FlavorRegistry};

use super::*;
use rusqlite::params;
use zenml_metadata_store::schema::{MIGRATIONS, RECORD_MIGRATION_SQL, SCHEMA_VERSION};
use zenml_metadata_store::{
    ArtifactCursor, ArtifactOrder, ArtifactQuery, COUNT_CAP, CacheFilter, StepStatus, Total,
};

const TIMEOUT: Duration = Duration::from_secs(10);

fn recorded_migrations(path: &Path) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM zenml_schema_migrations", [], |row| {
            row.get(0)
        })
        .unwrap()
}

#[test]
fn open_creates_the_file_and_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/folder/metadata.db");
    let store = SqliteMetadataStore::open(&path, TIMEOUT).unwrap();
    assert!(path.is_file());
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(recorded_migrations(&path), MIGRATIONS.len() as i64);
    let applied_at: String = Connection::open(&path)
        .unwrap()
        .query_row(
            "SELECT applied_at FROM zenml_schema_migrations WHERE version = 1",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert!(applied_at.ends_with('Z'), "{applied_at}");
}

#[test]
fn reopening_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metadata.db");
    let first = SqliteMetadataStore::open(&path, TIMEOUT).unwrap();
    let second = SqliteMetadataStore::open(&path, TIMEOUT).unwrap();
    drop(first);
    let third = SqliteMetadataStore::open(&path, TIMEOUT).unwrap();
    assert_eq!(second.uri(), third.uri());
    assert_eq!(third.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(recorded_migrations(&path), MIGRATIONS.len() as i64);
}

#[test]
fn concurrent_first_opens_migrate_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metadata.db");
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| SqliteMetadataStore::open(&path, TIMEOUT)))
            .collect();
        for handle in handles {
            assert_eq!(
                handle.join().unwrap().unwrap().schema_version().unwrap(),
                SCHEMA_VERSION
            );
        }
    });
    assert_eq!(recorded_migrations(&path), MIGRATIONS.len() as i64);
}

#[test]
fn a_newer_database_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metadata.db");
    drop(SqliteMetadataStore::open(&path, TIMEOUT).unwrap());
    Connection::open(&path)
        .unwrap()
        .execute(
            RECORD_MIGRATION_SQL,
            params![
                SCHEMA_VERSION + 1,
                "from the future",
                "2999-01-01T00:00:00Z"
            ],
        )
        .unwrap();
    let err = SqliteMetadataStore::open(&path, TIMEOUT).unwrap_err();
    assert!(
        matches!(
            err,
            MetadataStoreError::SchemaTooNew { found, supported }
                if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("upgrade zenml"), "{err}");
    assert_eq!(recorded_migrations(&path), MIGRATIONS.len() as i64 + 1);
}

fn sqlite_error(code: std::ffi::c_int) -> MetadataStoreError {
    backend(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(code),
        None,
    ))
}

#[test]
fn busy_and_locked_transactions_are_retried_within_the_busy_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteMetadataStore::open(&dir.path().join("m.db"), TIMEOUT).unwrap();
    for code in [rusqlite::ffi::SQLITE_BUSY, rusqlite::ffi::SQLITE_LOCKED] {
        let mut attempts = 0;
        let result = store.retry(|| {
            attempts += 1;
            if attempts < 3 {
                Err(sqlite_error(code))
            } else {
                Ok(attempts)
            }
        });
        assert_eq!(result.unwrap(), 3);
    }

    let mut attempts = 0;
    let err = store
        .retry(|| -> Result<(), _> {
            attempts += 1;
            Err(sqlite_error(rusqlite::ffi::SQLITE_BUSY))
        })
        .unwrap_err();
    assert_eq!(attempts, MAX_ATTEMPTS);
    assert!(is_busy(&err));

    let mut attempts = 0;
    store
        .retry(|| -> Result<(), _> {
            attempts += 1;
            Err(sqlite_error(rusqlite::ffi::SQLITE_CONSTRAINT))
        })
        .unwrap_err();
    assert_eq!(attempts, 1, "other errors are not retried");

    // With no busy timeout left, a busy database is reported at once.
    let impatient = SqliteMetadataStore::open(&dir.path().join("m.db"), Duration::ZERO).unwrap();
    let mut attempts = 0;
    impatient
        .retry(|| -> Result<(), _> {
            attempts += 1;
            Err(sqlite_error(rusqlite::ffi::SQLITE_BUSY))
        })
        .unwrap_err();
    assert_eq!(attempts, 1);
}

#[test]
fn reads_go_on_while_a_write_transaction_of_this_store_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteMetadataStore::open(&dir.path().join("m.db"), TIMEOUT).unwrap();
    let (started, write_started) = std::sync::mpsc::channel();
    let (finish, may_finish) = std::sync::mpsc::channel::<()>();
    let (read, read_done) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        let store = &store;
        let writer = scope.spawn(move || {
            store.write(
                |_conn| {
                    let _ = started.send(());
                    let _ = may_finish.recv();
                    Ok(())
                },
                |_| Ok(None),
            )
        });
        write_started.recv().unwrap();
        scope.spawn(move || {
            let _ = read.send(store.list_pipelines().map(|p| p.len()));
        });
        // The read answers while the write transaction is still open.
        let listed = read_done
            .recv_timeout(Duration::from_secs(120))
            .expect("the read waited for the write transaction");
        assert_eq!(listed.unwrap(), 0);
        finish.send(()).unwrap();
        writer.join().unwrap().unwrap();
    });
    // Read connections are kept for reuse, read-only.
    let reader = store.reader().unwrap();
    assert!(reader.execute_batch("CREATE TABLE t (a)").is_err());
}

#[test]
fn a_deleted_or_replaced_database_file_fails_writes_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    let store = SqliteMetadataStore::open(&path, TIMEOUT).unwrap();
    store.write(|_| Ok(()), |_| Ok(None)).unwrap();
    fs::remove_file(&path).unwrap();
    let err = store.write(|_| Ok(()), |_| Ok(None)).unwrap_err();
    assert!(
        err.to_string().contains("deleted or replaced while in use")
            && err.to_string().contains("m.db"),
        "{err}"
    );
    // Another database at the same path is not this store's either.
    drop(SqliteMetadataStore::open(&path, TIMEOUT).unwrap());
    let err = store.write(|_| Ok(()), |_| Ok(None)).unwrap_err();
    assert!(
        err.to_string().contains("another file is at its path"),
        "{err}"
    );
}

#[test]
fn wal_mode_and_foreign_keys_are_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteMetadataStore::open(&dir.path().join("m.db"), TIMEOUT).unwrap();
    let connection = store.connection.lock().unwrap();
    let mode: String = connection
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let foreign_keys: bool = connection
        .pragma_query_value(None, "foreign_keys", |row| row.get(0))
        .unwrap();
    assert!(foreign_keys);
}

#[test]
fn a_file_that_is_not_a_database_is_reported_with_its_uri() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    fs::write(
        &path,
        "not a database, but long enough to have a header ".repeat(4),
    )
    .unwrap();
    let err = SqliteMetadataStore::open(&path, TIMEOUT).unwrap_err();
    assert!(matches!(err, MetadataStoreError::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains("notes.txt"), "{err}");
}

#[test]
fn config_resolves_relative_paths_against_the_repository_root() {
    let dir = tempfile::tempdir().unwrap();
    let config = SqliteMetadataStoreConfig {
        path: ".zen/metadata.db".into(),
        busy_timeout_ms: default_busy_timeout_ms(),
    };
    let store = config.open(&ComponentContext::new(dir.path())).unwrap();
    let root = fs::canonicalize(dir.path()).unwrap();
    assert_eq!(
        store.uri(),
        format!("sqlite://{}", root.join(".zen/metadata.db").display())
    );
    assert!(root.join(".zen/metadata.db").is_file());
}

#[test]
fn config_rejects_empty_paths_uris_and_huge_timeouts() {
    let config = |path: &str, busy_timeout_ms| SqliteMetadataStoreConfig {
        path: path.into(),
        busy_timeout_ms,
    };
    assert!(config(" ", 1).validate().is_err());
    let err = config("mysql://root@db/zenml", 1).validate().unwrap_err();
    assert!(
        err.to_string().contains("`mysql` metadata store flavor"),
        "{err}"
    );
    assert!(config("sqlite:///x.db", 1).validate().is_err());
    assert!(config("x.db", u64::MAX).validate().is_err());
    assert!(config("x.db", 60_000).validate().is_ok());
    let err = config("", 1)
        .open(&ComponentContext::new("/nonexistent"))
        .unwrap_err();
    assert!(matches!(err, MetadataStoreError::Config(_)), "{err:?}");
}

/// The plan SQLite chooses for `sql` (its parameters unbound), one line per step.
fn query_plan(connection: &Connection, sql: &str) -> Vec<String> {
    let mut statement = connection
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap();
    let nulls = vec![SqlValue::Null; statement.parameter_count()];
    statement
        .query_map(params_from_iter(nulls.iter().map(Param)), |row| {
            row.get::<_, String>(3)
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Asserts that `sql` reads `step_runs`, `artifacts` and the link tables through indexes
/// only: every table access is a `SEARCH`, none a `SCAN`.
fn assert_indexed(connection: &Connection, name: &str, sql: &str) -> Vec<String> {
    let plan = query_plan(connection, sql);
    assert!(
        plan.iter().any(|line| line.starts_with("SEARCH")),
        "{name} searches no index: {plan:#?}"
    );
    assert!(
        !plan.iter().any(|line| line.starts_with("SCAN")),
        "{name} scans a whole table: {plan:#?}"
    );
    plan
}

#[test]
fn lookups_among_100_000_step_runs_use_indexes() {
    const RUNS: usize = 1_000;
    const STEPS: usize = 100;
    /// Each cache key is shared by the step of every `KEY_PERIOD`th run.
    const KEY_PERIOD: usize = 50;

    /// The ids: kind (1 run, 2 step run, 3 artifact), run and step, as a UUID; in SQL
    /// `printf` form here, and in Rust by `id` below.
    const ID: &str = "%08x-%04x-4000-8000-%012x";

    let dir = tempfile::tempdir().unwrap();
    let store = SqliteMetadataStore::open(&dir.path().join("m.db"), TIMEOUT).unwrap();
    let id =
        |kind: u32, run: usize, step: usize| format!("{kind:08x}-{run:04x}-4000-8000-{step:012x}");
    let key = |run: usize, step: usize| format!("key-{step}-{}", run % KEY_PERIOD);
    // Chains of STEPS steps, each consuming the previous step's output; in every seventh
    // run the first step is cached, reusing the first output of the run before, whose
    // consumers are then in two runs. Generated inside SQLite, in one transaction: the
    // rows are those `record_step_run` writes, made much faster than by 100,000 calls.
    let pipeline = id(0, 0, 0);
    let run_id = format!("printf('{ID}', 1, run, 0)");
    let step_run_id = format!("printf('{ID}', 2, run, step)");
    let artifact_id = format!("printf('{ID}', 3, run, step)");
    let previous_first_step_run_id = format!("printf('{ID}', 2, run - 1, 0)");
    let previous_first_artifact_id = format!("printf('{ID}', 3, run - 1, 0)");
    let started = Instant::now();
    store
        .lock()
        .execute_batch(&format!(
            "BEGIN IMMEDIATE;
             INSERT INTO pipelines (id, name, created_at)
                 VALUES ('{pipeline}', 'chain', 0);
             WITH RECURSIVE n(run) AS
                 (SELECT 0 UNION ALL SELECT run + 1 FROM n WHERE run < {RUNS} - 1)
             INSERT INTO pipeline_runs
                 (id, pipeline_id, name, status, started_at, ended_at, config, stack, error)
             SELECT {run_id}, '{pipeline}', 'chain-' || run, 'completed', run * 1000000,
                    run * 1000000 + 999999, '{{}}', '{{}}', NULL FROM n;
             CREATE TEMP TABLE shape AS
             WITH RECURSIVE n(i) AS
                 (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {RUNS} * {STEPS} - 1)
             SELECT i / {STEPS} AS run, i % {STEPS} AS step,
                    (i % {STEPS} = 0 AND (i / {STEPS}) % 7 = 1) AS cached FROM n;
             INSERT INTO step_runs
                 (id, run_id, name, status, started_at, ended_at, code_hash, cache_key,
                  parameters, error, original_step_run_id)
             SELECT {step_run_id}, {run_id}, 'step-' || step,
                    CASE WHEN cached THEN 'cached' ELSE 'completed' END,
                    run * 1000000 + step * 10, run * 1000000 + step * 10 + 5, 'hash',
                    'key-' || step || '-' || (run % {KEY_PERIOD}), '{{}}', NULL,
                    CASE WHEN cached THEN {previous_first_step_run_id} END
             FROM shape;
             INSERT INTO artifacts
                 (id, uri, artifact_store_uri, path, rust_type, materializer_id,
                  materializer_version, content_hash, size, producer_step_run_id,
                  output_name, created_at)
             SELECT {artifact_id}, 'file:///a/' || {artifact_id}, 'file:///a',
                    {artifact_id}, 'u64', 'zenml.json', 1, 'h', 8, {step_run_id}, 'out',
                    run * 1000000 + step * 10 + 5
             FROM shape WHERE NOT cached;
             INSERT INTO step_run_outputs (step_run_id, output_name, artifact_id)
             SELECT {step_run_id}, 'out',
                    CASE WHEN cached THEN {previous_first_artifact_id} ELSE {artifact_id} END
             FROM shape;
             INSERT INTO step_run_inputs (step_run_id, input_name, artifact_id)
             SELECT {step_run_id}, 'in', CASE
                        WHEN step = 1 AND run % 7 = 1 THEN {previous_first_artifact_id}
                        ELSE printf('{ID}', 3, run, step - 1) END
             FROM shape WHERE step > 0;
             DROP TABLE shape;
             COMMIT;",
        ))
        .unwrap();
    eprintln!(
        "recorded {} step runs in {:?}",
        RUNS * STEPS,
        started.elapsed()
    );
    let count = |table: &str| -> i64 {
        store
            .lock()
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| {
                row.get(0)
            })
            .unwrap()
    };
    assert_eq!(count("step_runs"), 100_000);
    assert_eq!(count("step_run_outputs"), 100_000);
    assert_eq!(count("step_run_inputs"), 99_000);

    // The answers.
    let candidates = store.cache_candidates(&key(7, 3), 4).unwrap();
    let expected: Vec<String> = [957, 907, 857, 807]
        .iter()
        .map(|&run| id(2, run, 3))
        .collect();
    assert_eq!(
        candidates.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
        expected
    );
    // Step 0 of run 701 is cached: not a candidate.
    let candidates = store.cache_candidates(&key(1, 0), 6).unwrap();
    let expected: Vec<String> = [951, 901, 851, 801, 751, 651]
        .iter()
        .map(|&run| id(2, run, 0))
        .collect();
    assert_eq!(
        candidates.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
        expected
    );
    assert!(
        candidates
            .iter()
            .all(|s| s.cache_key.as_deref() == Some(key(1, 0).as_str())
                && s.status == StepStatus::Completed)
    );
    assert_eq!(store.get_step_run(&id(2, 500, 42)).unwrap().name, "step-42");
    let inputs = store.step_inputs(&id(2, 500, 42)).unwrap();
    assert_eq!(inputs.len(), 1);
    assert_eq!(inputs[0].1.id, id(3, 500, 41));
    let consumers = store.artifact_consumers(&id(3, 504, 0)).unwrap();
    let consumer_ids: Vec<String> = consumers.into_iter().map(|(_, s)| s.id).collect();
    assert_eq!(
        consumer_ids,
        [id(2, 504, 1), id(2, 505, 1)],
        "in its run and the next"
    );
    let cached = store.get_step_run(&id(2, 505, 0)).unwrap();
    assert_eq!(cached.status, StepStatus::Cached);
    assert_eq!(cached.original_step_run_id, Some(id(2, 504, 0)));
    assert_eq!(
        store.step_outputs(&cached.id).unwrap()[0].1.id,
        id(3, 504, 0)
    );

    // The plans: the shared query texts, as the store runs them.
    let connection = store.lock();
    let plan = assert_indexed(&connection, "cache_candidates", sql::CACHE_CANDIDATES);
    assert!(
        plan.iter()
            .any(|line| line.contains("ix_step_runs_cache_lookup")),
        "cache_candidates does not use its index: {plan:#?}"
    );
    assert_indexed(&connection, "get_step_run", sql::SELECT_STEP_RUN);
    assert_indexed(&connection, "step_inputs", sql::SELECT_STEP_INPUTS);
    assert_indexed(&connection, "step_outputs", sql::SELECT_STEP_OUTPUTS);
    assert_indexed(&connection, "step_runs", sql::LIST_STEP_RUNS);
    // Cache management by step or pipeline reads only the entries it selects.
    for (pipeline, step) in [
        (None, Some("step-3")),
        (Some("chain"), None),
        (Some("chain"), Some("step-3")),
    ] {
        let filter = CacheFilter {
            pipeline: pipeline.map(str::to_owned),
            step: step.map(str::to_owned),
        };
        let entries = sql::cache_entries_sql(&filter).0;
        assert_indexed(&connection, "cache_entries", &entries);
        let invalidate = sql::invalidate_cache_sql(&filter, 0).0;
        assert_indexed(&connection, "invalidate_cache", &invalidate);
    }
    let bulk = sql::step_metadata_bulk_sql(sql::IN_LIST_CHUNK);
    assert_indexed(&connection, "step_metadata_bulk", &bulk);
    let plan = assert_indexed(&connection, "artifact_consumers", sql::ARTIFACT_CONSUMERS);
    assert!(
        plan.iter()
            .any(|line| line.contains("ix_step_run_inputs_artifact")),
        "artifact_consumers does not use its index: {plan:#?}"
    );
    drop(connection);

    // Pages of artifacts are read from `ix_artifacts_created` in its order, also past a
    // cursor, without sorting every artifact.
    let first = store.query_artifacts(&ArtifactQuery::default()).unwrap();
    assert_eq!(first.artifacts[0].id, id(3, RUNS - 1, STEPS - 1));
    let mut deep = ArtifactQuery::default();
    deep.after = Some(ArtifactCursor::of(
        &store.get_artifact(&id(3, 10, 0)).unwrap(),
    ));
    let page = store.query_artifacts(&deep).unwrap();
    assert_eq!(
        page.artifacts[0].id,
        id(3, 9, STEPS - 1),
        "the page after run 10's first"
    );
    assert_eq!(
        page.total,
        Total::capped(u64::MAX, COUNT_CAP),
        "counted up to the cap"
    );
    let connection = store.lock();
    let mut oldest = deep.clone();
    oldest.order = ArtifactOrder::OldestFirst;
    for (what, query) in [
        ("newest", ArtifactQuery::default()),
        ("past a cursor", deep),
        ("oldest", oldest),
    ] {
        let page = sql::query_artifacts_sql(&query, None).page.0;
        let plan = query_plan(&connection, &page);
        assert!(
            plan.iter()
                .any(|line| line.contains("ix_artifacts_created")),
            "a page of artifacts ({what}) does not use its index: {plan:#?}"
        );
        assert!(
            !plan.iter().any(|line| line.contains("TEMP B-TREE")),
            "a page of artifacts ({what}) sorts: {plan:#?}"
        );
    }
    // A pipeline's metrics: its newest runs from the index, their step runs and metadata
    // by key.
    let plan = query_plan(&connection, sql::PIPELINE_METRICS);
    for table in ["l", "s", "m"] {
        assert!(
            !plan
                .iter()
                .any(|line| line.starts_with(&format!("SCAN {table}"))),
            "pipeline_metrics scans `{table}`: {plan:#?}"
        );
    }
}

#[test]
fn the_flavor_is_registered_and_its_example_is_valid() {
    let registry = FlavorRegistry::global().unwrap();
    let description = registry
        .get(ComponentKind::MetadataStore, "sqlite")
        .unwrap();
    description
        .check_table(&description.example_table().unwrap())
        .unwrap();
    assert_eq!(
        description
            .field("busy_timeout_ms")
            .unwrap()
            .default_value(),
        Some("60000".to_owned())
    );
}
