//! Migrations: a fresh store at the current schema, reopening, and databases of schema versions 2 and 4 upgraded.

use super::helpers::*;
use super::*;

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

/// Rows that a database at schema version 4 (the version before cancelled runs) holds and a
/// version 2 one could not, for flavors' upgrade tests from the previous version: insert
/// [`VERSION_2_ROWS`] and then these into an empty database made by applying
/// `schema::MIGRATIONS[..4]`, open the store (which migrates it), then run
/// [`check_version_4_rows_upgraded`].
///
/// They give run `run-1` a spec and a lease, make `train` its second attempt, and record
/// the failed first one.
pub const VERSION_4_ROWS: &str = "
UPDATE pipeline_runs SET spec = '{\"steps\": [\"load\", \"train\"]}', lease_expires_at = 2500
    WHERE id = '00000000-0000-4000-8000-000000000002';
UPDATE step_runs SET attempt = 2 WHERE id = '00000000-0000-4000-8000-000000000004';
INSERT INTO step_attempts (id, run_id, name, attempt, started_at, ended_at, error) VALUES
    ('00000000-0000-4000-8000-000000000006', '00000000-0000-4000-8000-000000000002',
     'train', 1, 1250, 1290, 'out of memory')
";

/// Checks a store whose database held [`VERSION_2_ROWS`] and [`VERSION_4_ROWS`] at schema
/// version 4 or 5 and was then migrated: the run keeps its spec and lease, the step runs
/// their attempts, the failed attempt is there, the old step run is still a cache entry, the
/// store records a run of the new status (`cancelled`), and the old artifacts have no name
/// or tag while new ones get versions from 1.
pub fn check_version_4_rows_upgraded(store: &dyn MetadataStore) {
    let id = |n: u32| format!("00000000-0000-4000-8000-{n:012}");
    let run = ok(store.get_run("run-1"), "get_run");
    assert_eq!(
        (&run.spec, run.lease_expires_at, run.status),
        (
            &json!({"steps": ["load", "train"]}),
            Some(2500),
            RunStatus::Completed
        )
    );
    let attempts: Vec<(String, u32)> = ok(store.step_runs(&run.id), "step_runs")
        .into_iter()
        .map(|step| (step.name, step.attempt))
        .collect();
    assert_eq!(
        attempts,
        vec![("load".to_owned(), 1), ("train".to_owned(), 2)]
    );
    assert_eq!(
        ok(store.step_attempts(&run.id), "step_attempts"),
        vec![StepAttemptRecord {
            id: id(6),
            run_id: id(2),
            name: "train".to_owned(),
            attempt: 1,
            started_at: 1250,
            ended_at: 1290,
            error: "out of memory".to_owned(),
        }]
    );
    let cached: Vec<String> = ok(store.cache_candidates("key-load", 5), "cache_candidates")
        .into_iter()
        .map(|step| step.id)
        .collect();
    assert_eq!(cached, vec![id(3)]);

    // What version 5 added works on the upgraded database.
    let pipeline = unique("upgraded");
    let cancelled = ok(
        store.create_run(&new_run(&pipeline, &unique("run"), now())),
        "create_run",
    );
    assert!(ok(
        store.finish_run(&cancelled.id, RunStatus::Cancelled, now(), Some("stopped")),
        "finish_run"
    ));
    assert_eq!(
        ok(store.get_run(&cancelled.id), "get_run").status,
        RunStatus::Cancelled
    );

    // What version 6 added: names, versions and tags, none on the old artifacts.
    let old: Vec<String> = ok(store.list_artifacts(), "list_artifacts")
        .into_iter()
        .filter(|a| a.created_at < 10_000)
        .map(|a| a.id)
        .collect();
    assert!(!old.is_empty(), "the old rows hold artifacts");
    let old: Vec<&str> = old.iter().map(String::as_str).collect();
    assert_eq!(ok(store.artifact_labels(&old), "artifact_labels"), vec![]);
    assert!(ok(store.tag_artifact(old[0], "upgraded"), "tag_artifact"));
    super::artifacts_are_named_versioned_and_tagged(store);
}
