//! The metadata store suite: every operation of the [`MetadataStore`] contract.
//!
//! Groups (the columns of the flavor matrix):
//!
//! - **records**: runs, step runs, artifacts and metadata are written and read back exactly
//!   ([`runs_are_created_finished_listed_and_found`], [`run_names_are_unique_and_case_sensitive`],
//!   [`step_runs_round_trip_with_lineage_and_metadata`], [`metadata_is_replaced_per_key`],
//!   [`records_the_schema_cannot_hold_are_refused`]);
//! - **queries**: listings, lookups, lineage, the step cache and bulk reads
//!   ([`pipelines_are_summarized`], [`unknown_records_are_not_found`],
//!   [`step_cache_is_found_managed_and_followed`], [`metadata_is_read_in_bulk`]);
//! - **migrations**: what a freshly opened store reports ([`a_fresh_store_is_at_the_current_schema`],
//!   [`reopening_keeps_the_schema_and_the_records`]); flavors also run the upgrade check
//!   [`check_version_2_rows_upgraded`] on a database they filled with [`VERSION_2_ROWS`];
//! - **transactions**: a failing `record_step_run` leaves nothing behind
//!   ([`a_failed_step_run_write_leaves_nothing_behind`]);
//! - **concurrency**: several writers at once ([`check_concurrent_writers`]).
//!
//! Every check uses fresh names and ids (random UUIDs), so they also run on a database that
//! already holds records, and they leave their records behind; the cache check invalidates
//! every cache entry of the store (it checks invalidating everything). A failed check
//! panics, as an assertion does, naming what went wrong; [`run_all`] turns the panics into a
//! [`SuiteReport`].
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use std::time::Duration;
//! # use zenml_metadata_store::{MetadataStore, SqliteMetadataStore};
//! # use zenml_testkit::metadata_store;
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("m.db");
//! let open = || -> Arc<dyn MetadataStore> {
//!     Arc::new(SqliteMetadataStore::open(&path, Duration::from_secs(10)).unwrap())
//! };
//! // One check, panicking on a violation:
//! metadata_store::a_failed_step_run_write_leaves_nothing_behind(open().as_ref());
//! // Every check, reported:
//! metadata_store::run_all(&open).assert_passed();
//! ```

use std::fmt::Debug;
use std::sync::{Arc, Barrier};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;
use zenml_metadata_store::schema::SCHEMA_VERSION;
use zenml_metadata_store::{
    ArtifactRecord, CacheEntry, CacheFilter, MetadataEntry, MetadataStore, MetadataStoreError,
    Millis, NewRun, PipelineSummary, Resource, RunRecord, RunStatus, StepAttemptRecord,
    StepRunRecord, StepRunWrite, StepStatus,
};

use crate::{GroupReport, SuiteReport};

/// The suite's name in reports.
pub const SUITE: &str = "metadata-store";

/// The groups of [`run_all`], in order.
pub const GROUPS: [&str; 5] = [
    "records",
    "queries",
    "migrations",
    "transactions",
    "concurrency",
];

/// Opens a store on the database under test: a new instance per call, or one shared; all
/// on the same database.
pub type Opener<'a> = &'a (dyn Fn() -> Arc<dyn MetadataStore> + Sync);

/// Runs every check on stores from `open` (see [`Opener`]) and reports them by group. When
/// `open` panics, every check fails with its message.
pub fn run_all(open: Opener<'_>) -> SuiteReport {
    let store = match crate::report::catch(open) {
        Ok(store) => store,
        Err(message) => return SuiteReport::unopened(SUITE, &GROUPS, &message),
    };
    let store = store.as_ref();
    let mut records = GroupReport::new("records");
    records
        .run("runs_are_created_finished_listed_and_found", || {
            runs_are_created_finished_listed_and_found(store)
        })
        .run("run_names_are_unique_and_case_sensitive", || {
            run_names_are_unique_and_case_sensitive(store)
        })
        .run("runs_keep_their_spec_and_lease", || {
            runs_keep_their_spec_and_lease(store)
        })
        .run("failed_attempts_are_recorded_once_each", || {
            failed_attempts_are_recorded_once_each(store)
        })
        .run("step_runs_round_trip_with_lineage_and_metadata", || {
            step_runs_round_trip_with_lineage_and_metadata(store)
        })
        .run("metadata_is_replaced_per_key", || {
            metadata_is_replaced_per_key(store)
        })
        .run("records_the_schema_cannot_hold_are_refused", || {
            records_the_schema_cannot_hold_are_refused(store)
        });
    let mut queries = GroupReport::new("queries");
    queries
        .run("pipelines_are_summarized", || {
            pipelines_are_summarized(store)
        })
        .run("unknown_records_are_not_found", || {
            unknown_records_are_not_found(store)
        })
        .run("step_cache_is_found_managed_and_followed", || {
            step_cache_is_found_managed_and_followed(store)
        })
        .run("metadata_is_read_in_bulk", || {
            metadata_is_read_in_bulk(store)
        });
    let mut migrations = GroupReport::new("migrations");
    migrations
        .run("a_fresh_store_is_at_the_current_schema", || {
            a_fresh_store_is_at_the_current_schema(store)
        })
        .run("reopening_keeps_the_schema_and_the_records", || {
            reopening_keeps_the_schema_and_the_records(open)
        });
    let mut transactions = GroupReport::new("transactions");
    transactions.run("a_failed_step_run_write_leaves_nothing_behind", || {
        a_failed_step_run_write_leaves_nothing_behind(store)
    });
    let mut concurrency = GroupReport::new("concurrency");
    concurrency.run("check_concurrent_writers", || {
        check_concurrent_writers(open, 4, 10)
    });
    SuiteReport::new(SUITE)
        .with(records)
        .with(queries)
        .with(migrations)
        .with(transactions)
        .with(concurrency)
}

/// Failed attempts of retried steps: listed by step and attempt; the same attempt (same id)
/// recorded again changes nothing; another record of the same step and attempt number is
/// refused; the step run that follows carries its attempt number; an unknown run is not
/// found.
pub fn failed_attempts_are_recorded_once_each(store: &dyn MetadataStore) {
    let run = ok(
        store.create_run(&new_run(&unique("retried"), &unique("run"), now())),
        "create_run",
    );
    assert!(ok(store.step_attempts(&run.id), "step_attempts").is_empty());
    let attempt = |name: &str, number: u32| StepAttemptRecord {
        id: uuid::Uuid::new_v4().to_string(),
        run_id: run.id.clone(),
        name: name.to_owned(),
        attempt: number,
        started_at: now() - 10,
        ended_at: now(),
        error: format!("{name} attempt {number} failed: exit code {number}"),
    };
    let train_1 = attempt("train", 1);
    let train_2 = attempt("train", 2);
    let load_1 = attempt("load", 1);
    for record in [&train_2, &load_1, &train_1] {
        ok(store.record_failed_attempt(record), "record_failed_attempt");
    }
    ok(
        store.record_failed_attempt(&train_1),
        "recording the same attempt again",
    );
    assert!(
        store
            .record_failed_attempt(&StepAttemptRecord {
                id: uuid::Uuid::new_v4().to_string(),
                ..train_1.clone()
            })
            .is_err(),
        "another record of attempt 1 of `train` is refused"
    );
    assert_eq!(
        ok(store.step_attempts(&run.id), "step_attempts"),
        vec![load_1, train_1, train_2],
        "by step name, then attempt"
    );
    let mut third = step_write(&run.id, "train", now());
    third.step.attempt = 3;
    ok(store.record_step_run(&third), "record_step_run");
    let recorded = ok(store.step_runs(&run.id), "step_runs");
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].attempt, 3, "the step run carries its attempt");
    assert_eq!(
        ok(store.get_step_run(&third.step.id), "get_step_run").attempt,
        3
    );
    let unknown = uuid::Uuid::new_v4().to_string();
    expect_not_found(store.step_attempts(&unknown), "run", &unknown);
    expect_not_found(
        store.record_failed_attempt(&StepAttemptRecord {
            id: uuid::Uuid::new_v4().to_string(),
            run_id: unknown.clone(),
            ..attempt("load", 2)
        }),
        "run",
        &unknown,
    );
}

/// Runs every single-store check on `store`, panicking at the first violation.
pub fn check_store(store: &dyn MetadataStore) {
    a_fresh_store_is_at_the_current_schema(store);
    runs_are_created_finished_listed_and_found(store);
    run_names_are_unique_and_case_sensitive(store);
    runs_keep_their_spec_and_lease(store);
    failed_attempts_are_recorded_once_each(store);
    pipelines_are_summarized(store);
    step_runs_round_trip_with_lineage_and_metadata(store);
    unknown_records_are_not_found(store);
    metadata_is_replaced_per_key(store);
    a_failed_step_run_write_leaves_nothing_behind(store);
    records_the_schema_cannot_hold_are_refused(store);
    step_cache_is_found_managed_and_followed(store);
    metadata_is_read_in_bulk(store);
}

/// A store opened by this program reports [`SCHEMA_VERSION`] and names its database with a
/// URI.
pub fn a_fresh_store_is_at_the_current_schema(store: &dyn MetadataStore) {
    assert_eq!(
        ok(store.schema_version(), "schema_version"),
        SCHEMA_VERSION,
        "a store opened by this program is at the current schema version"
    );
    let uri = store.uri();
    assert!(uri.contains("://"), "the URI `{uri}` has a scheme");
}

/// Opening the database again applies no migration twice (the version stays), gives the same
/// URI, and sees what another instance wrote.
pub fn reopening_keeps_the_schema_and_the_records(open: Opener<'_>) {
    let first = open();
    let run = ok(
        first.create_run(&new_run(&unique("reopen"), &unique("run"), now())),
        "create_run",
    );
    let second = open();
    assert_eq!(
        ok(second.schema_version(), "schema_version"),
        SCHEMA_VERSION
    );
    assert_eq!(second.uri(), first.uri(), "one database, one URI");
    assert_eq!(
        ok(second.get_run(&run.id), "get_run from another instance"),
        run
    );
}

/// Has `threads` threads, each with a store from `open` (all on the same database: separate
/// instances, or one shared), each create a run of one new pipeline (all at once) and
/// record `steps_per_thread` step runs with an artifact and metadata each. Checks that no
/// write failed and that every record is there at the end.
pub fn check_concurrent_writers(
    open: &(dyn Fn() -> Arc<dyn MetadataStore> + Sync),
    threads: usize,
    steps_per_thread: usize,
) {
    let pipeline = unique("concurrent");
    let base = now();
    let start = Barrier::new(threads);
    let run_ids: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (pipeline, start) = (&pipeline, &start);
                scope.spawn(move || {
                    let store = open();
                    start.wait();
                    let run = new_run(pipeline, &format!("{pipeline}-run-{t}"), base);
                    let run = ok(store.create_run(&run), "concurrent create_run");
                    let mut previous: Option<String> = None;
                    for i in 0..steps_per_thread {
                        let at = base + i64::try_from(i).unwrap_or(0);
                        let mut write = step_write(&run.id, &format!("step-{t}-{i}"), at);
                        let artifact = artifact(&write.step, "out", at);
                        write.metadata.push(MetadataEntry {
                            resource: Resource::Artifact(artifact.id.clone()),
                            key: "index".to_owned(),
                            value: json!(i),
                        });
                        write.new_outputs.push(artifact.clone());
                        if let Some(previous) = previous.take() {
                            write.inputs.push(("in".to_owned(), previous));
                        }
                        ok(store.record_step_run(&write), "concurrent record_step_run");
                        previous = Some(artifact.id);
                    }
                    ok(
                        store.finish_run(&run.id, RunStatus::Completed, base + 1_000, None),
                        "concurrent finish_run",
                    );
                    run.id
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("a writer thread panicked"))
            .collect()
    });

    let store = open();
    let summary = summary_of(store.as_ref(), &pipeline);
    assert_eq!(summary.run_count, threads as u64, "{summary:?}");
    for run_id in &run_ids {
        let run = ok(store.get_run(run_id), "get_run");
        assert_eq!(run.status, RunStatus::Completed, "{run:?}");
        let steps = ok(store.step_runs(run_id), "step_runs");
        assert_eq!(steps.len(), steps_per_thread, "steps of run {run_id}");
        for (i, step) in steps.iter().enumerate() {
            let outputs = ok(store.step_outputs(&step.id), "step_outputs");
            assert_eq!(outputs.len(), 1, "outputs of {step:?}");
            let inputs = ok(store.step_inputs(&step.id), "step_inputs");
            assert_eq!(inputs.len(), usize::from(i > 0), "inputs of {step:?}");
            let index = ok(
                store.metadata(&Resource::Artifact(outputs[0].1.id.clone())),
                "metadata",
            );
            assert_eq!(index, vec![("index".to_owned(), json!(i))]);
        }
    }
}

/// Rows as a database at schema version 2 (before step caching) held them, for flavors'
/// upgrade tests: insert them, with plain SQL statements separated by `;`, into an empty
/// database made by applying `schema::MIGRATIONS[..2]`, open the store (which migrates it),
/// then run [`check_version_2_rows_upgraded`].
///
/// They are a run `run-1` of pipeline `pipeline` with a completed step run `load` (cache key
/// `key-load`, output `data` in artifact store `file:///a`) and a step run `train` that
/// consumed `data` and has metadata.
pub const VERSION_2_ROWS: &str = "
INSERT INTO pipelines (id, name, created_at) VALUES
    ('00000000-0000-4000-8000-000000000001', 'pipeline', 1000);
INSERT INTO pipeline_runs
    (id, pipeline_id, name, status, started_at, ended_at, config, stack, error)
VALUES ('00000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000001',
        'run-1', 'completed', 1000, 2000, '{}', '{}', NULL);
INSERT INTO step_runs
    (id, run_id, name, status, started_at, ended_at, code_hash, cache_key, parameters, error,
     original_step_run_id)
VALUES ('00000000-0000-4000-8000-000000000003', '00000000-0000-4000-8000-000000000002',
        'load', 'completed', 1100, 1200, 'hash-load', 'key-load', '{\"rows\": 3}', NULL, NULL),
       ('00000000-0000-4000-8000-000000000004', '00000000-0000-4000-8000-000000000002',
        'train', 'completed', 1300, 1400, 'hash-train', NULL, '{}', NULL, NULL);
INSERT INTO artifacts
    (id, uri, artifact_store_uri, path, rust_type, materializer_id, materializer_version,
     content_hash, size, producer_step_run_id, output_name, created_at)
VALUES ('00000000-0000-4000-8000-000000000005', 'file:///a/load/data/5', 'file:///a',
        'load/data/5', 'u32', 'zenml.json', 1, 'abc', 3,
        '00000000-0000-4000-8000-000000000003', 'data', 1200);
INSERT INTO step_run_outputs (step_run_id, output_name, artifact_id) VALUES
    ('00000000-0000-4000-8000-000000000003', 'data', '00000000-0000-4000-8000-000000000005');
INSERT INTO step_run_inputs (step_run_id, input_name, artifact_id) VALUES
    ('00000000-0000-4000-8000-000000000004', 'data', '00000000-0000-4000-8000-000000000005');
INSERT INTO run_metadata (resource_type, resource_id, meta_key, value, created_at) VALUES
    ('step_run', '00000000-0000-4000-8000-000000000004', 'loss', '0.5', 1400)
";

/// Checks a store whose database held [`VERSION_2_ROWS`] at schema version 2 and was then
/// migrated: the rows are all there, readable by every operation, and the old step run is a
/// valid cache entry. Then invalidates the cache entries of pipeline `pipeline`.
pub fn check_version_2_rows_upgraded(store: &dyn MetadataStore) {
    let id = |n: u32| format!("00000000-0000-4000-8000-{n:012}");
    let run = ok(store.get_run("run-1"), "get_run");
    assert_eq!(
        (run.id.as_str(), run.pipeline_name.as_str(), run.status),
        (id(2).as_str(), "pipeline", RunStatus::Completed)
    );
    assert_eq!(
        (&run.spec, run.lease_expires_at),
        (&serde_json::Value::Null, None),
        "runs recorded before specs and leases have neither"
    );
    let load = StepRunRecord {
        id: id(3),
        run_id: id(2),
        name: "load".to_owned(),
        status: StepStatus::Completed,
        started_at: 1100,
        ended_at: 1200,
        code_hash: "hash-load".to_owned(),
        cache_key: Some("key-load".to_owned()),
        parameters: json!({"rows": 3}),
        error: None,
        original_step_run_id: None,
        cache_invalidated_at: None,
        attempt: 1,
    };
    let train = StepRunRecord {
        id: id(4),
        name: "train".to_owned(),
        started_at: 1300,
        ended_at: 1400,
        code_hash: "hash-train".to_owned(),
        cache_key: None,
        parameters: json!({}),
        ..load.clone()
    };
    let data = ArtifactRecord {
        id: id(5),
        uri: "file:///a/load/data/5".to_owned(),
        artifact_store_uri: "file:///a".to_owned(),
        path: "load/data/5".to_owned(),
        rust_type: "u32".to_owned(),
        materializer_id: "zenml.json".to_owned(),
        materializer_version: 1,
        content_hash: "abc".to_owned(),
        size: 3,
        producer_step_run_id: id(3),
        output_name: "data".to_owned(),
        created_at: 1200,
    };
    assert_eq!(
        ok(store.step_runs(&run.id), "step_runs"),
        vec![load.clone(), train.clone()]
    );
    assert_eq!(ok(store.get_step_run(&train.id), "get_step_run"), train);
    assert_eq!(
        ok(store.step_outputs(&load.id), "step_outputs"),
        vec![("data".to_owned(), data.clone())]
    );
    assert_eq!(
        ok(store.step_inputs(&train.id), "step_inputs"),
        vec![("data".to_owned(), data.clone())]
    );
    assert_eq!(
        ok(store.artifact_consumers(&data.id), "artifact_consumers"),
        vec![("data".to_owned(), train.clone())]
    );
    assert_eq!(
        ok(
            store.artifact_ids_in_store("file:///a"),
            "artifact_ids_in_store"
        ),
        vec![data.id.clone()]
    );
    assert_eq!(
        ok(
            store.step_metadata_bulk(&[train.id.clone(), load.id.clone()]),
            "step_metadata_bulk"
        ),
        vec![(train.id.clone(), "loss".to_owned(), json!(0.5))]
    );

    // The old step run is a cache entry like a new one.
    assert_eq!(
        ok(store.cache_candidates("key-load", 5), "cache_candidates"),
        vec![load.clone()]
    );
    let filter = CacheFilter {
        pipeline: Some("pipeline".to_owned()),
        step: None,
    };
    assert_eq!(
        ok(store.cache_entries(&filter), "cache_entries"),
        vec![CacheEntry {
            step_run: load.clone(),
            run_name: "run-1".to_owned(),
            pipeline_name: "pipeline".to_owned(),
        }]
    );
    assert_eq!(
        ok(store.invalidate_cache(&filter, 5_000), "invalidate_cache"),
        1
    );
    assert_eq!(
        ok(store.cache_candidates("key-load", 5), "cache_candidates"),
        vec![]
    );
    assert_eq!(
        ok(store.get_step_run(&load.id), "get_step_run").cache_invalidated_at,
        Some(5_000)
    );
}

// ----- the checks -----------------------------------------------------------------------------

/// Runs are created `running`, finished (idempotently), listed newest first and found by id or
/// name.
pub fn runs_are_created_finished_listed_and_found(store: &dyn MetadataStore) {
    let pipeline = unique("lifecycle");
    let base = now();
    let first = new_run(&pipeline, &unique("first"), base);
    let second = new_run(&pipeline, &unique("second"), base + 10);

    let created = ok(store.create_run(&first), "create_run");
    assert_eq!(created.id, first.id);
    assert_eq!(created.name, first.name);
    assert_eq!(created.pipeline_name, pipeline);
    assert_eq!(created.status, RunStatus::Running);
    assert_eq!(created.started_at, base);
    assert_eq!(created.ended_at, None);
    assert_eq!(created.config, first.config);
    assert_eq!(created.stack, first.stack);
    assert_eq!(created.error, None);
    let created_second = ok(store.create_run(&second), "create_run");
    assert_eq!(
        created_second.pipeline_id, created.pipeline_id,
        "two runs of one pipeline"
    );

    assert_eq!(ok(store.get_run(&first.id), "get_run by id"), created);
    assert_eq!(ok(store.get_run(&first.name), "get_run by name"), created);

    let runs = ok(store.list_runs(Some(&pipeline)), "list_runs");
    assert_eq!(
        runs,
        vec![created_second.clone(), created.clone()],
        "newest first"
    );
    let everything = ok(store.list_runs(None), "list_runs(None)");
    let ours: Vec<&RunRecord> = everything
        .iter()
        .filter(|r| r.pipeline_name == pipeline)
        .collect();
    assert_eq!(ours, vec![&created_second, &created], "newest first");
    assert!(
        everything
            .windows(2)
            .all(|w| w[0].started_at >= w[1].started_at),
        "list_runs(None) is newest first"
    );

    ok(
        store.finish_run(&first.id, RunStatus::Completed, base + 100, None),
        "finish_run",
    );
    ok(
        store.finish_run(
            &second.id,
            RunStatus::Failed,
            base + 200,
            Some("step `x` failed"),
        ),
        "finish_run",
    );
    // Finishing again with the same values is not an error.
    ok(
        store.finish_run(&first.id, RunStatus::Completed, base + 100, None),
        "finish_run again",
    );
    let finished = ok(store.get_run(&first.name), "get_run");
    assert_eq!(
        (finished.status, finished.ended_at, finished.error),
        (RunStatus::Completed, Some(base + 100), None)
    );
    let failed = ok(store.get_run(&second.id), "get_run");
    assert_eq!(
        (failed.status, failed.ended_at, failed.error.as_deref()),
        (RunStatus::Failed, Some(base + 200), Some("step `x` failed"))
    );
}

/// Run names are unique in the store (a duplicate is `DuplicateRunName` and leaves no pipeline
/// behind) and compare byte for byte.
pub fn run_names_are_unique_and_case_sensitive(store: &dyn MetadataStore) {
    let pipeline = unique("duplicates");
    let base = now();
    let name = unique("Name-Ünïcode");
    let original = ok(
        store.create_run(&new_run(&pipeline, &name, base)),
        "create_run",
    );

    let again = new_run(&pipeline, &name, base + 1);
    expect_duplicate(store.create_run(&again), &name);
    // The same NewRun twice is a duplicate too.
    let twin = new_run(&pipeline, &unique("twin"), base);
    ok(store.create_run(&twin), "create_run");
    expect_duplicate(store.create_run(&twin), &twin.name);

    // Names are unique in the whole store, and the failed create leaves no pipeline behind.
    let other_pipeline = unique("duplicates-other");
    expect_duplicate(
        store.create_run(&new_run(&other_pipeline, &name, base)),
        &name,
    );
    let pipelines = ok(store.list_pipelines(), "list_pipelines");
    assert!(
        pipelines.iter().all(|p| p.pipeline.name != other_pipeline),
        "a failed create_run left its pipeline behind"
    );

    // Names compare byte for byte: another case is another name.
    let lower = name.to_lowercase();
    ok(
        store.create_run(&new_run(&pipeline, &lower, base + 2)),
        "create_run with a name differing in case",
    );
    assert_eq!(ok(store.get_run(&name), "get_run").id, original.id);
    assert_eq!(ok(store.get_run(&lower), "get_run").name, lower);
    assert_eq!(ok(store.list_runs(Some(&pipeline)), "list_runs").len(), 3);
}

/// A run keeps the spec it was created with; a running run whose lease has expired reads as
/// interrupted (also in listings and summaries), a renewal makes it running again, and a
/// finished run's lease can no longer be renewed and no longer matters.
pub fn runs_keep_their_spec_and_lease(store: &dyn MetadataStore) {
    let pipeline = unique("leased");
    let spec = json!({"steps": [{
        "name": "load",
        "code_hash": blake3_like("load"),
        "inputs": [],
        "outputs": [{"name": "output", "materializer": "zenml.json", "version": 1}],
    }]});
    let expired = now() - 60_000;
    let run = ok(
        store.create_run(&NewRun {
            spec: spec.clone(),
            lease_expires_at: Some(expired),
            ..new_run(&pipeline, &unique("run"), now())
        }),
        "create_run",
    );
    assert_eq!((&run.spec, run.lease_expires_at), (&spec, Some(expired)));
    let read = ok(store.get_run(&run.id), "get_run");
    assert_eq!(read.spec, spec, "the spec is kept as given");
    assert_eq!(read.lease_expires_at, Some(expired));
    assert_eq!(
        read.status,
        RunStatus::Interrupted,
        "a running run whose lease expired is interrupted"
    );
    let listed = ok(store.list_runs(Some(&pipeline)), "list_runs");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status, RunStatus::Interrupted, "in listings too");
    let latest = summary_of(store, &pipeline)
        .latest_run
        .expect("a latest run");
    assert_eq!(latest.status, RunStatus::Interrupted, "in summaries too");

    let later = now() + 3_600_000;
    assert!(ok(store.renew_run_lease(&run.id, later), "renew_run_lease"));
    let read = ok(store.get_run(&run.id), "get_run");
    assert_eq!(
        (read.status, read.lease_expires_at),
        (RunStatus::Running, Some(later))
    );
    assert!(
        ok(store.renew_run_lease(&run.id, later), "renew_run_lease"),
        "renewing a running run with the lease it has is still a renewal"
    );

    ok(
        store.finish_run(&run.id, RunStatus::Completed, now(), None),
        "finish_run",
    );
    assert!(
        !ok(store.renew_run_lease(&run.id, later + 1), "renew_run_lease"),
        "a finished run's lease cannot be renewed"
    );
    let read = ok(store.get_run(&run.id), "get_run");
    assert_eq!(
        (read.status, read.lease_expires_at),
        (RunStatus::Completed, Some(later))
    );

    // A finished run whose lease has expired is what it was finished as.
    let failed = ok(
        store.create_run(&NewRun {
            lease_expires_at: Some(expired),
            ..new_run(&pipeline, &unique("run"), now())
        }),
        "create_run",
    );
    ok(
        store.finish_run(&failed.id, RunStatus::Failed, now(), Some("boom")),
        "finish_run",
    );
    assert_eq!(
        ok(store.get_run(&failed.id), "get_run").status,
        RunStatus::Failed
    );
    for status in [RunStatus::Running, RunStatus::Interrupted] {
        assert!(
            matches!(
                store.finish_run(&failed.id, status, now(), None),
                Err(MetadataStoreError::InvalidRecord { .. })
            ),
            "finishing a run as {} is refused",
            status.as_str()
        );
    }

    // Without a spec and a lease: never interrupted.
    let plain = ok(
        store.create_run(&new_run(&pipeline, &unique("run"), expired)),
        "create_run",
    );
    let read = ok(store.get_run(&plain.id), "get_run");
    assert_eq!(
        (read.spec, read.lease_expires_at, read.status),
        (serde_json::Value::Null, None, RunStatus::Running)
    );
    let unknown = uuid::Uuid::new_v4().to_string();
    expect_not_found(store.renew_run_lease(&unknown, later), "run", &unknown);
}

/// Pipelines are listed sorted by name with their run count and newest run.
pub fn pipelines_are_summarized(store: &dyn MetadataStore) {
    let prefix = unique("summary");
    let (a, b) = (format!("{prefix}-a"), format!("{prefix}-B"));
    let base = now();
    let a1 = ok(
        store.create_run(&new_run(&a, &unique("a1"), base)),
        "create_run",
    );
    let a3 = ok(
        store.create_run(&new_run(&a, &unique("a3"), base + 30)),
        "create_run",
    );
    let _a2 = ok(
        store.create_run(&new_run(&a, &unique("a2"), base + 20)),
        "create_run",
    );
    let b1 = ok(
        store.create_run(&new_run(&b, &unique("b1"), base)),
        "create_run",
    );
    ok(
        store.finish_run(&a3.id, RunStatus::Completed, base + 40, None),
        "finish_run",
    );

    let pipelines = ok(store.list_pipelines(), "list_pipelines");
    let names: Vec<&str> = pipelines.iter().map(|p| p.pipeline.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "pipelines are sorted by name, byte for byte");
    let a_summary = summary_of(store, &a);
    assert_eq!(a_summary.run_count, 3);
    assert_eq!(a_summary.pipeline.id, a1.pipeline_id);
    assert_eq!(a_summary.pipeline.created_at, base, "the first run's start");
    let latest = a_summary
        .latest_run
        .expect("a pipeline with runs has a latest run");
    assert_eq!(latest, ok(store.get_run(&a3.id), "get_run"));
    assert_eq!(latest.status, RunStatus::Completed);
    let b_summary = summary_of(store, &b);
    assert_eq!(b_summary.run_count, 1);
    assert_eq!(b_summary.latest_run, Some(b1));
}

/// Step runs round-trip with their inputs, new and reused outputs and metadata, in the
/// documented orders.
pub fn step_runs_round_trip_with_lineage_and_metadata(store: &dyn MetadataStore) {
    let pipeline = unique("lineage");
    let base = now();
    let run = ok(
        store.create_run(&new_run(&pipeline, &unique("run"), base)),
        "create_run",
    );

    // load: no inputs, two new outputs, metadata about itself and an output.
    let mut load = step_write(&run.id, "load", base + 10);
    let labels = artifact(&load.step, "labels", base + 10);
    let features = artifact(&load.step, "features", base + 10);
    load.new_outputs = vec![labels.clone(), features.clone()];
    load.metadata = vec![
        MetadataEntry {
            resource: Resource::StepRun(load.step.id.clone()),
            key: "rows".to_owned(),
            value: json!(150),
        },
        MetadataEntry {
            resource: Resource::StepRun(load.step.id.clone()),
            key: "loader".to_owned(),
            value: json!({"format": "csv", "columns": ["a", "b"]}),
        },
        MetadataEntry {
            resource: Resource::Artifact(features.id.clone()),
            key: "shape".to_owned(),
            value: json!([150, 4]),
        },
    ];
    ok(store.record_step_run(&load), "record_step_run(load)");

    // train: two inputs (given out of order), one output, a cache key and an error-free run.
    let mut train = step_write(&run.id, "train", base + 30);
    train.step.started_at = base + 5;
    train.step.cache_key = Some(unique("cache-key"));
    train.step.parameters = json!({"epochs": 3, "rate": 0.5, "name": "ünï"});
    train.inputs = vec![
        ("y".to_owned(), labels.id.clone()),
        ("x".to_owned(), features.id.clone()),
    ];
    let model = artifact(&train.step, "model", base + 30);
    train.new_outputs = vec![model.clone()];
    ok(store.record_step_run(&train), "record_step_run(train)");

    // evaluate: cached, reusing train's output; reused and new outputs together.
    let mut evaluate = step_write(&run.id, "evaluate", base + 20);
    evaluate.step.status = StepStatus::Cached;
    evaluate.step.original_step_run_id = Some(train.step.id.clone());
    evaluate.inputs = vec![("model".to_owned(), model.id.clone())];
    evaluate.reused_outputs = vec![("b_reused".to_owned(), model.id.clone())];
    let report = artifact(&evaluate.step, "a_report", base + 20);
    evaluate.new_outputs = vec![report.clone()];
    ok(
        store.record_step_run(&evaluate),
        "record_step_run(evaluate)",
    );

    // skipped and failed steps have no outputs.
    let mut failed = step_write(&run.id, "deploy", base + 40);
    failed.step.status = StepStatus::Failed;
    failed.step.error = Some("deploy panicked: no target".to_owned());
    ok(store.record_step_run(&failed), "record_step_run(deploy)");

    let steps = ok(store.step_runs(&run.id), "step_runs");
    assert_eq!(
        steps,
        vec![
            load.step.clone(),
            evaluate.step.clone(),
            train.step.clone(),
            failed.step.clone()
        ],
        "step runs in the order they ended"
    );

    assert_eq!(
        ok(store.step_inputs(&train.step.id), "step_inputs"),
        vec![
            ("x".to_owned(), features.clone()),
            ("y".to_owned(), labels.clone())
        ],
        "inputs sorted by name"
    );
    assert_eq!(
        ok(store.step_outputs(&load.step.id), "step_outputs"),
        vec![
            ("features".to_owned(), features.clone()),
            ("labels".to_owned(), labels.clone())
        ],
        "outputs sorted by name"
    );
    assert_eq!(
        ok(store.step_outputs(&evaluate.step.id), "step_outputs"),
        vec![
            ("a_report".to_owned(), report.clone()),
            ("b_reused".to_owned(), model.clone())
        ],
        "new and reused outputs"
    );
    assert_eq!(ok(store.step_inputs(&load.step.id), "step_inputs"), vec![]);
    assert_eq!(
        ok(store.step_outputs(&failed.step.id), "step_outputs"),
        vec![]
    );

    assert_eq!(ok(store.get_artifact(&model.id), "get_artifact"), model);
    let all = ok(store.list_artifacts(), "list_artifacts");
    let ours: Vec<&str> = all
        .iter()
        .filter(|a| {
            [&labels, &features, &model, &report]
                .iter()
                .any(|o| o.id == a.id)
        })
        .map(|a| a.output_name.as_str())
        .collect();
    assert_eq!(ours.len(), 4, "every artifact is listed once");
    assert_eq!(ours[0], "model", "newest first");
    assert_eq!(ours[1], "a_report", "newest first");
    assert!(
        all.windows(2).all(|w| w[0].created_at >= w[1].created_at),
        "list_artifacts is newest first"
    );

    assert_eq!(
        ok(
            store.metadata(&Resource::StepRun(load.step.id.clone())),
            "metadata"
        ),
        vec![
            (
                "loader".to_owned(),
                json!({"format": "csv", "columns": ["a", "b"]})
            ),
            ("rows".to_owned(), json!(150)),
        ],
        "metadata sorted by key"
    );
    assert_eq!(
        ok(
            store.metadata(&Resource::Artifact(features.id.clone())),
            "metadata"
        ),
        vec![("shape".to_owned(), json!([150, 4]))]
    );
    assert_eq!(
        ok(
            store.metadata(&Resource::Artifact(labels.id.clone())),
            "metadata"
        ),
        vec![]
    );
}

/// Unknown runs, step runs, artifacts and pipelines are typed `NotFound` errors.
pub fn unknown_records_are_not_found(store: &dyn MetadataStore) {
    let missing = uuid::Uuid::new_v4().to_string();
    expect_not_found(store.get_artifact(&missing), "artifact", &missing);
    expect_not_found(store.get_run(&missing), "run", &missing);
    expect_not_found(store.step_runs(&missing), "run", &missing);
    expect_not_found(store.step_inputs(&missing), "step run", &missing);
    expect_not_found(store.step_outputs(&missing), "step run", &missing);
    expect_not_found(
        store.finish_run(&missing, RunStatus::Completed, now(), None),
        "run",
        &missing,
    );
    let pipeline = unique("no-such-pipeline");
    expect_not_found(store.list_runs(Some(&pipeline)), "pipeline", &pipeline);
    expect_not_found(
        store.record_step_run(&step_write(&missing, "orphan", now())),
        "run",
        &missing,
    );
    assert_eq!(
        ok(store.metadata(&Resource::Run(missing.clone())), "metadata"),
        vec![]
    );
}

/// Metadata is replaced per resource and key, and the resource type is part of the key.
pub fn metadata_is_replaced_per_key(store: &dyn MetadataStore) {
    let run = ok(
        store.create_run(&new_run(&unique("metadata"), &unique("run"), now())),
        "create_run",
    );
    let entry = |key: &str, value| MetadataEntry {
        resource: Resource::Run(run.id.clone()),
        key: key.to_owned(),
        value,
    };
    ok(
        store.log_metadata(&[entry("accuracy", json!(0.5)), entry("note", json!("first"))]),
        "log_metadata",
    );
    ok(
        store.log_metadata(&[entry("loss", json!(0.25)), entry("accuracy", json!(0.9))]),
        "log_metadata",
    );
    ok(store.log_metadata(&[]), "log_metadata(nothing)");
    assert_eq!(
        ok(store.metadata(&Resource::Run(run.id.clone())), "metadata"),
        vec![
            ("accuracy".to_owned(), json!(0.9)),
            ("loss".to_owned(), json!(0.25)),
            ("note".to_owned(), json!("first")),
        ]
    );
    // The resource type is part of the key.
    assert_eq!(
        ok(
            store.metadata(&Resource::StepRun(run.id.clone())),
            "metadata"
        ),
        vec![]
    );
}

/// A `record_step_run` that fails part-way (a missing input artifact, a missing reused output,
/// a duplicate step name) leaves none of its records behind.
pub fn a_failed_step_run_write_leaves_nothing_behind(store: &dyn MetadataStore) {
    let base = now();
    let run = ok(
        store.create_run(&new_run(&unique("atomic"), &unique("run"), base)),
        "create_run",
    );

    // An input naming an artifact that does not exist: the foreign key refuses the link,
    // after the step run, its new artifacts and their output links were written.
    let missing = uuid::Uuid::new_v4().to_string();
    let mut broken = step_write(&run.id, "broken", base + 1);
    let orphan = artifact(&broken.step, "out", base + 1);
    broken.new_outputs = vec![orphan.clone()];
    broken.inputs = vec![("in".to_owned(), missing.clone())];
    broken.metadata = vec![MetadataEntry {
        resource: Resource::StepRun(broken.step.id.clone()),
        key: "k".to_owned(),
        value: json!(1),
    }];
    expect_not_found(store.record_step_run(&broken), "artifact", &missing);
    assert_nothing_of(store, &run.id, &broken, &orphan);

    // The same with a reused output.
    let mut reused = step_write(&run.id, "reused", base + 2);
    let orphan2 = artifact(&reused.step, "new", base + 2);
    reused.new_outputs = vec![orphan2.clone()];
    reused.reused_outputs = vec![("old".to_owned(), missing.clone())];
    expect_not_found(store.record_step_run(&reused), "artifact", &missing);
    assert_nothing_of(store, &run.id, &reused, &orphan2);

    // A step name already recorded in the run.
    let first = step_write(&run.id, "twice", base + 3);
    ok(store.record_step_run(&first), "record_step_run");
    let mut second = step_write(&run.id, "twice", base + 4);
    let orphan3 = artifact(&second.step, "out", base + 4);
    second.new_outputs = vec![orphan3.clone()];
    second.metadata = vec![MetadataEntry {
        resource: Resource::Run(run.id.clone()),
        key: "from_the_second_twice".to_owned(),
        value: json!(true),
    }];
    let err = store
        .record_step_run(&second)
        .expect_err("a second step run named `twice` in one run must fail");
    assert!(
        !matches!(err, MetadataStoreError::NotFound { .. }),
        "a duplicate step name is not a missing record: {err:?}"
    );
    assert_nothing_of(store, &run.id, &second, &orphan3);
    assert_eq!(
        ok(store.metadata(&Resource::Run(run.id.clone())), "metadata"),
        vec![]
    );
    assert_eq!(
        ok(store.step_runs(&run.id), "step_runs"),
        vec![first.step],
        "only the first `twice` is recorded"
    );
}

/// Names longer than 255 characters and new outputs of another producer are `InvalidRecord`, in
/// every flavor.
pub fn records_the_schema_cannot_hold_are_refused(store: &dyn MetadataStore) {
    let base = now();
    let long = "n".repeat(256);
    let err = store
        .create_run(&new_run(&unique("limits"), &long, base))
        .expect_err("a 256-character run name must be refused");
    assert!(
        matches!(err, MetadataStoreError::InvalidRecord { .. }),
        "{err:?}"
    );
    // 255 characters, not bytes: allowed.
    let pipeline = unique(&"é".repeat(242));
    assert_eq!(pipeline.chars().count(), 255);
    let run = ok(
        store.create_run(&new_run(&pipeline, &unique("limits"), base)),
        "create_run with a 255-character pipeline name",
    );
    assert_eq!(
        ok(store.get_run(&run.id), "get_run").pipeline_name,
        pipeline
    );

    // A new output must be produced by the step run that records it.
    let mut write = step_write(&run.id, "producer", base);
    let mut stray = artifact(&write.step, "out", base);
    stray.producer_step_run_id = uuid::Uuid::new_v4().to_string();
    write.new_outputs = vec![stray.clone()];
    let err = store
        .record_step_run(&write)
        .expect_err("an artifact of another producer must be refused");
    assert!(
        matches!(err, MetadataStoreError::InvalidRecord { .. }),
        "{err:?}"
    );
    assert_nothing_of(store, &run.id, &write, &stray);
}

/// Cache candidates, cache entries, invalidation by step, pipeline and everything, lineage
/// across runs, and artifacts per artifact store.
pub fn step_cache_is_found_managed_and_followed(store: &dyn MetadataStore) {
    let base = now();
    let (pipeline_a, pipeline_b) = (unique("cache-a"), unique("cache-b"));
    let (load, train, evaluate) = (unique("load"), unique("train"), unique("evaluate"));
    let (load_key, train_key, evaluate_key) = (
        unique("key-load"),
        unique("key-train"),
        unique("key-evaluate"),
    );
    let artifact_store = format!("file:///{}/artifacts", unique("store"));
    let in_store = |step: &StepRunRecord, output: &str, at: Millis| ArtifactRecord {
        artifact_store_uri: artifact_store.clone(),
        ..artifact(step, output, at)
    };
    let record = |write: &StepRunWrite| ok(store.record_step_run(write), "record_step_run");
    let create = |pipeline: &str, at: Millis| {
        ok(
            store.create_run(&new_run(pipeline, &unique("run"), at)),
            "create_run",
        )
    };

    // Run a1: load → train → evaluate (failed, with a cache key).
    let a1 = create(&pipeline_a, base);
    let mut a1_load = step_write(&a1.id, &load, base + 10);
    a1_load.step.cache_key = Some(load_key.clone());
    let data = in_store(&a1_load.step, "data", base + 10);
    a1_load.new_outputs = vec![data.clone()];
    record(&a1_load);
    let mut a1_train = step_write(&a1.id, &train, base + 20);
    a1_train.step.cache_key = Some(train_key.clone());
    a1_train.inputs = vec![("data".to_owned(), data.id.clone())];
    let model_1 = in_store(&a1_train.step, "model", base + 20);
    a1_train.new_outputs = vec![model_1.clone()];
    // Even a step run recorded as invalidated is recorded valid.
    a1_train.step.cache_invalidated_at = Some(base);
    record(&a1_train);
    a1_train.step.cache_invalidated_at = None;
    let mut a1_evaluate = step_write(&a1.id, &evaluate, base + 30);
    a1_evaluate.step.status = StepStatus::Failed;
    a1_evaluate.step.cache_key = Some(evaluate_key.clone());
    a1_evaluate.step.error = Some("evaluate failed".to_owned());
    a1_evaluate.inputs = vec![("model".to_owned(), model_1.id.clone())];
    record(&a1_evaluate);

    // Run a2: load is cached (reusing a1's data); train runs again on that data; evaluate
    // completes without a cache key (caching disabled).
    let a2 = create(&pipeline_a, base + 100);
    let mut a2_load = step_write(&a2.id, &load, base + 110);
    a2_load.step.status = StepStatus::Cached;
    a2_load.step.cache_key = Some(load_key.clone());
    a2_load.step.original_step_run_id = Some(a1_load.step.id.clone());
    a2_load.reused_outputs = vec![("data".to_owned(), data.id.clone())];
    record(&a2_load);
    let mut a2_train = step_write(&a2.id, &train, base + 120);
    a2_train.step.cache_key = Some(train_key.clone());
    a2_train.inputs = vec![("data".to_owned(), data.id.clone())];
    let model_2 = in_store(&a2_train.step, "model", base + 120);
    a2_train.new_outputs = vec![model_2.clone()];
    record(&a2_train);
    let mut a2_evaluate = step_write(&a2.id, &evaluate, base + 130);
    a2_evaluate.inputs = vec![
        ("model".to_owned(), model_2.id.clone()),
        ("baseline".to_owned(), model_1.id.clone()),
    ];
    record(&a2_evaluate);

    // Run a3: train once more on the same data.
    let a3 = create(&pipeline_a, base + 200);
    let mut a3_train = step_write(&a3.id, &train, base + 220);
    a3_train.step.cache_key = Some(train_key.clone());
    a3_train.inputs = vec![("data".to_owned(), data.id.clone())];
    let model_3 = in_store(&a3_train.step, "model", base + 220);
    a3_train.new_outputs = vec![model_3.clone()];
    record(&a3_train);

    // Run b1 of another pipeline: steps with the same names, other cache keys.
    let b_load_key = unique("key-b-load");
    let b_train_key = unique("key-b-train");
    let b1 = create(&pipeline_b, base + 300);
    let mut b1_load = step_write(&b1.id, &load, base + 310);
    b1_load.step.cache_key = Some(b_load_key.clone());
    let b_data = artifact(&b1_load.step, "data", base + 310);
    b1_load.new_outputs = vec![b_data.clone()];
    record(&b1_load);
    let mut b1_train = step_write(&b1.id, &train, base + 320);
    b1_train.step.cache_key = Some(b_train_key.clone());
    b1_train.inputs = vec![("data".to_owned(), b_data.id.clone())];
    record(&b1_train);

    // ----- candidates
    let candidates = |key: &str, limit| ok(store.cache_candidates(key, limit), "cache_candidates");
    assert_eq!(
        candidates(&train_key, 10),
        vec![
            a3_train.step.clone(),
            a2_train.step.clone(),
            a1_train.step.clone()
        ],
        "completed step runs with the key, newest first"
    );
    assert_eq!(
        candidates(&train_key, 2),
        vec![a3_train.step.clone(), a2_train.step.clone()],
        "at most `limit`"
    );
    assert_eq!(candidates(&train_key, 0), vec![], "limit 0");
    assert_eq!(
        candidates(&load_key, 10),
        vec![a1_load.step.clone()],
        "a cached step run is not a candidate"
    );
    assert_eq!(
        candidates(&evaluate_key, 10),
        vec![],
        "failed: no candidate"
    );
    assert_eq!(candidates(&unique("key-none"), 10), vec![]);
    assert_eq!(candidates(&b_train_key, 10), vec![b1_train.step.clone()]);

    // ----- the outputs of a cached step run are the reused artifacts
    assert_eq!(
        ok(store.step_outputs(&a2_load.step.id), "step_outputs"),
        vec![("data".to_owned(), data.clone())]
    );

    // ----- single step runs
    assert_eq!(
        ok(store.get_step_run(&a2_load.step.id), "get_step_run"),
        a2_load.step
    );
    assert_eq!(
        ok(store.get_step_run(&a1_evaluate.step.id), "get_step_run"),
        a1_evaluate.step
    );
    let missing = uuid::Uuid::new_v4().to_string();
    expect_not_found(store.get_step_run(&missing), "step run", &missing);

    // ----- lineage across runs
    assert_eq!(
        ok(store.artifact_consumers(&data.id), "artifact_consumers"),
        vec![
            ("data".to_owned(), a1_train.step.clone()),
            ("data".to_owned(), a2_train.step.clone()),
            ("data".to_owned(), a3_train.step.clone()),
        ],
        "consumers of a reused artifact in later runs, oldest first"
    );
    assert_eq!(
        ok(store.artifact_consumers(&model_1.id), "artifact_consumers"),
        vec![
            ("model".to_owned(), a1_evaluate.step.clone()),
            ("baseline".to_owned(), a2_evaluate.step.clone()),
        ]
    );
    assert_eq!(
        ok(store.artifact_consumers(&model_3.id), "artifact_consumers"),
        vec![],
        "an artifact nothing consumed"
    );
    expect_not_found(store.artifact_consumers(&missing), "artifact", &missing);

    // ----- artifacts of one artifact store
    let mut ours: Vec<String> = [&data, &model_1, &model_2, &model_3]
        .iter()
        .map(|a| a.id.clone())
        .collect();
    ours.sort_unstable();
    assert_eq!(
        ok(
            store.artifact_ids_in_store(&artifact_store),
            "artifact_ids_in_store"
        ),
        ours,
        "exactly the artifacts of that store, sorted"
    );
    assert_eq!(
        ok(
            store.artifact_ids_in_store(&format!("{artifact_store}/nested")),
            "artifact_ids_in_store"
        ),
        Vec::<String>::new(),
        "the URI must match exactly"
    );

    // ----- cache entries
    let entry = |write: &StepRunWrite, run: &RunRecord| CacheEntry {
        step_run: ok(store.get_step_run(&write.step.id), "get_step_run"),
        run_name: run.name.clone(),
        pipeline_name: run.pipeline_name.clone(),
    };
    let entries = |pipeline: Option<&str>, step: Option<&str>| {
        let filter = CacheFilter {
            pipeline: pipeline.map(str::to_owned),
            step: step.map(str::to_owned),
        };
        ok(store.cache_entries(&filter), "cache_entries")
    };
    assert_eq!(
        entries(Some(&pipeline_a), None),
        vec![
            entry(&a3_train, &a3),
            entry(&a2_train, &a2),
            entry(&a1_train, &a1),
            entry(&a1_load, &a1),
        ],
        "completed step runs with a cache key, newest first"
    );
    assert_eq!(
        entries(None, Some(&train)),
        vec![
            entry(&b1_train, &b1),
            entry(&a3_train, &a3),
            entry(&a2_train, &a2),
            entry(&a1_train, &a1),
        ],
        "one step in every pipeline"
    );
    assert_eq!(
        entries(Some(&pipeline_b), Some(&load)),
        vec![entry(&b1_load, &b1)],
        "one step of one pipeline"
    );
    assert_eq!(entries(Some(&unique("no-such-pipeline")), None), vec![]);
    assert_eq!(entries(Some(&pipeline_b), Some(&evaluate)), vec![]);
    let everything = entries(None, None);
    let ids: Vec<&str> = everything.iter().map(|e| e.step_run.id.as_str()).collect();
    for write in [
        &a1_load, &a1_train, &a2_train, &a3_train, &b1_load, &b1_train,
    ] {
        assert!(
            ids.contains(&write.step.id.as_str()),
            "{:?} is an entry",
            write.step
        );
    }
    for write in [&a1_evaluate, &a2_load, &a2_evaluate] {
        assert!(
            !ids.contains(&write.step.id.as_str()),
            "{:?} is no entry",
            write.step
        );
    }
    assert!(
        everything
            .windows(2)
            .all(|w| w[0].step_run.ended_at >= w[1].step_run.ended_at),
        "cache_entries is newest first"
    );

    // ----- invalidation by step name, in every pipeline
    let invalidate = |pipeline: Option<&str>, step: Option<&str>, at: Millis| {
        let filter = CacheFilter {
            pipeline: pipeline.map(str::to_owned),
            step: step.map(str::to_owned),
        };
        ok(store.invalidate_cache(&filter, at), "invalidate_cache")
    };
    let first_at = base + 1_000;
    assert_eq!(invalidate(None, Some(&train), first_at), 4);
    assert_eq!(entries(None, Some(&train)), vec![]);
    assert_eq!(candidates(&train_key, 10), vec![]);
    assert_eq!(candidates(&b_train_key, 10), vec![]);
    assert_eq!(
        candidates(&load_key, 10),
        vec![a1_load.step.clone()],
        "other steps keep their entries"
    );
    let invalidated = ok(store.get_step_run(&a2_train.step.id), "get_step_run");
    assert_eq!(
        invalidated,
        StepRunRecord {
            cache_invalidated_at: Some(first_at),
            ..a2_train.step.clone()
        },
        "an invalidated step run stays recorded, with its cache key"
    );
    assert!(
        ok(store.step_runs(&a2.id), "step_runs").contains(&invalidated),
        "step_runs reads the invalidation too"
    );
    assert_eq!(
        ok(store.step_outputs(&a2_train.step.id), "step_outputs"),
        vec![("model".to_owned(), model_2.clone())],
        "its outputs stay linked"
    );
    assert_eq!(
        invalidate(None, Some(&train), first_at + 1),
        0,
        "nothing left to invalidate"
    );
    assert_eq!(
        ok(store.get_step_run(&a2_train.step.id), "get_step_run").cache_invalidated_at,
        Some(first_at),
        "a second invalidation does not move the first"
    );

    // ----- invalidation by pipeline
    assert_eq!(
        invalidate(Some(&pipeline_a), None, base + 2_000),
        1,
        "a1's load"
    );
    assert_eq!(entries(Some(&pipeline_a), None), vec![]);
    assert_eq!(candidates(&load_key, 10), vec![]);
    assert_eq!(
        ok(store.get_step_run(&a2_load.step.id), "get_step_run"),
        a2_load.step,
        "a cached step run is not invalidated with its original"
    );
    assert_eq!(
        entries(Some(&pipeline_b), None),
        vec![entry(&b1_load, &b1)],
        "other pipelines keep their entries"
    );
    assert_eq!(
        invalidate(Some(&unique("no-such-pipeline")), None, base + 2_000),
        0
    );

    // A new step run with an invalidated key is a candidate again; the old ones are not.
    let a4 = create(&pipeline_a, base + 400);
    let mut a4_train = step_write(&a4.id, &train, base + 420);
    a4_train.step.cache_key = Some(train_key.clone());
    record(&a4_train);
    assert_eq!(candidates(&train_key, 10), vec![a4_train.step.clone()]);
    assert_eq!(
        entries(Some(&pipeline_a), None),
        vec![entry(&a4_train, &a4)]
    );

    // ----- invalidation of everything
    let before = entries(None, None).len();
    assert!(before >= 2, "b1's load and a4's train are entries");
    let last_at = base + 3_000;
    assert_eq!(invalidate(None, None, last_at), before);
    assert_eq!(entries(None, None), vec![]);
    assert_eq!(candidates(&train_key, 10), vec![]);
    assert_eq!(candidates(&b_load_key, 10), vec![]);
    assert_eq!(
        ok(store.get_step_run(&b1_load.step.id), "get_step_run").cache_invalidated_at,
        Some(last_at)
    );
    assert_eq!(
        ok(store.get_step_run(&a1_train.step.id), "get_step_run").cache_invalidated_at,
        Some(first_at)
    );
    assert_eq!(
        ok(store.get_step_run(&a2_evaluate.step.id), "get_step_run"),
        a2_evaluate.step,
        "a step run without a cache key is not an entry, so never invalidated"
    );
    assert_eq!(invalidate(None, None, last_at), 0);
}

/// Step metadata is read in bulk, in the order of the ids, across query chunks.
pub fn metadata_is_read_in_bulk(store: &dyn MetadataStore) {
    let base = now();
    let run = ok(
        store.create_run(&new_run(&unique("bulk"), &unique("run"), base)),
        "create_run",
    );
    let mut first = step_write(&run.id, "first", base + 1);
    first.metadata = vec![
        MetadataEntry {
            resource: Resource::StepRun(first.step.id.clone()),
            key: "loss".to_owned(),
            value: json!(0.5),
        },
        MetadataEntry {
            resource: Resource::StepRun(first.step.id.clone()),
            key: "accuracy".to_owned(),
            value: json!({"train": 0.9}),
        },
        // The same id as another kind of resource: not step metadata.
        MetadataEntry {
            resource: Resource::Artifact(first.step.id.clone()),
            key: "size".to_owned(),
            value: json!(1),
        },
    ];
    ok(store.record_step_run(&first), "record_step_run");
    let mut second = step_write(&run.id, "second", base + 2);
    second.metadata = vec![MetadataEntry {
        resource: Resource::StepRun(second.step.id.clone()),
        key: "loss".to_owned(),
        value: json!(0.25),
    }];
    ok(store.record_step_run(&second), "record_step_run");
    let quiet = step_write(&run.id, "quiet", base + 3);
    ok(store.record_step_run(&quiet), "record_step_run");

    let bulk = |ids: &[String]| ok(store.step_metadata_bulk(ids), "step_metadata_bulk");
    let (f, s) = (first.step.id.clone(), second.step.id.clone());
    assert_eq!(bulk(&[]), vec![]);
    assert_eq!(
        bulk(&[
            s.clone(),
            quiet.step.id.clone(),
            uuid::Uuid::new_v4().to_string(),
            f.clone(),
            s.clone(),
        ]),
        vec![
            (s.clone(), "loss".to_owned(), json!(0.25)),
            (f.clone(), "accuracy".to_owned(), json!({"train": 0.9})),
            (f.clone(), "loss".to_owned(), json!(0.5)),
        ],
        "in the order of the ids, each once, keys sorted"
    );

    // More ids than one query takes: entries on both sides of every chunk boundary.
    let ids: Vec<String> = (0..1_201)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    let marked = [0, 1, 499, 500, 501, 999, 1_000, 1_200];
    let entries: Vec<MetadataEntry> = marked
        .iter()
        .map(|&i| MetadataEntry {
            resource: Resource::StepRun(ids[i].clone()),
            key: "index".to_owned(),
            value: json!(i),
        })
        .collect();
    ok(store.log_metadata(&entries), "log_metadata");
    let mut reversed = ids.clone();
    reversed.reverse();
    let expected: Vec<(String, String, serde_json::Value)> = marked
        .iter()
        .rev()
        .map(|&i| (ids[i].clone(), "index".to_owned(), json!(i)))
        .collect();
    assert_eq!(bulk(&reversed), expected, "across chunks");
}

// ----- helpers --------------------------------------------------------------------------------

/// Asserts that nothing of a failed `write` (step run, new artifact, metadata) is visible.
fn assert_nothing_of(
    store: &dyn MetadataStore,
    run_id: &str,
    write: &StepRunWrite,
    new_artifact: &ArtifactRecord,
) {
    let steps = ok(store.step_runs(run_id), "step_runs");
    assert!(
        steps.iter().all(|s| s.id != write.step.id),
        "a failed record_step_run left its step run behind: {steps:?}"
    );
    expect_not_found(
        store.get_artifact(&new_artifact.id),
        "artifact",
        &new_artifact.id,
    );
    assert!(
        ok(store.list_artifacts(), "list_artifacts")
            .iter()
            .all(|a| a.id != new_artifact.id),
        "a failed record_step_run left an artifact behind"
    );
    expect_not_found(
        store.step_outputs(&write.step.id),
        "step run",
        &write.step.id,
    );
    for resource in [
        Resource::StepRun(write.step.id.clone()),
        Resource::Artifact(new_artifact.id.clone()),
    ] {
        assert_eq!(ok(store.metadata(&resource), "metadata"), vec![]);
    }
}

fn summary_of(store: &dyn MetadataStore, pipeline: &str) -> PipelineSummary {
    ok(store.list_pipelines(), "list_pipelines")
        .into_iter()
        .find(|p| p.pipeline.name == pipeline)
        .unwrap_or_else(|| panic!("pipeline `{pipeline}` is not listed"))
}

fn new_run(pipeline: &str, name: &str, started_at: Millis) -> NewRun {
    NewRun {
        id: uuid::Uuid::new_v4().to_string(),
        pipeline_name: pipeline.to_owned(),
        name: name.to_owned(),
        started_at,
        config: json!({"steps": {"train": {"parameters": {"epochs": 3}}}, "enable_cache": true}),
        stack: json!({
            "orchestrator": {"flavor": "local"},
            "metadata_store": {"flavor": "sqlite", "path": ".zen/metadata.db"},
        }),
        spec: serde_json::Value::Null,
        lease_expires_at: None,
    }
}

/// A completed step run that ended at `ended_at`, with nothing linked.
fn step_write(run_id: &str, name: &str, ended_at: Millis) -> StepRunWrite {
    StepRunWrite {
        step: StepRunRecord {
            id: uuid::Uuid::new_v4().to_string(),
            run_id: run_id.to_owned(),
            name: name.to_owned(),
            status: StepStatus::Completed,
            started_at: ended_at - 1,
            ended_at,
            code_hash: blake3_like(name),
            cache_key: None,
            parameters: json!({}),
            error: None,
            original_step_run_id: None,
            cache_invalidated_at: None,
            attempt: 1,
        },
        inputs: Vec::new(),
        new_outputs: Vec::new(),
        reused_outputs: Vec::new(),
        metadata: Vec::new(),
    }
}

fn artifact(step: &StepRunRecord, output_name: &str, created_at: Millis) -> ArtifactRecord {
    let id = uuid::Uuid::new_v4().to_string();
    let path = format!("{}/{output_name}/{id}", step.name);
    ArtifactRecord {
        uri: format!("file:///repo/.zen/artifacts/{path}"),
        artifact_store_uri: "file:///repo/.zen/artifacts".to_owned(),
        path,
        rust_type: "alloc::vec::Vec<(f64, alloc::string::String)>".to_owned(),
        materializer_id: "zenml.json".to_owned(),
        materializer_version: u32::MAX,
        content_hash: blake3_like(&id),
        size: 1 << 40,
        producer_step_run_id: step.id.clone(),
        output_name: output_name.to_owned(),
        created_at,
        id,
    }
}

/// 64 hex digits, like a blake3 hash.
fn blake3_like(seed: &str) -> String {
    let digits: String = seed.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{digits:0<64}").chars().take(64).collect()
}

/// `prefix` with a random suffix.
fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

fn now() -> Millis {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| {
        Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
    })
}

#[track_caller]
fn ok<T>(result: Result<T, MetadataStoreError>, what: &str) -> T {
    result.unwrap_or_else(|e| panic!("{what} failed: {e} ({e:?})"))
}

#[track_caller]
fn expect_duplicate<T: Debug>(result: Result<T, MetadataStoreError>, name: &str) {
    match result {
        Err(MetadataStoreError::DuplicateRunName { name: found }) => assert_eq!(found, name),
        other => panic!("expected DuplicateRunName for `{name}`, got {other:?}"),
    }
}

#[track_caller]
fn expect_not_found<T: Debug>(result: Result<T, MetadataStoreError>, what: &str, key: &str) {
    match result {
        Err(MetadataStoreError::NotFound {
            what: found_what,
            key: found_key,
        }) => assert_eq!((found_what, found_key.as_str()), (what, key)),
        other => panic!("expected NotFound {{ {what} `{key}` }}, got {other:?}"),
    }
}
