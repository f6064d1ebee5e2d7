//! The queries of the SQL flavors, shared by all of them.
//!
//! A flavor provides a [`SqlConnection`]: something that runs `?`-parameterized statements
//! and returns rows of [`SqlValue`]s. The functions here implement every
//! [`MetadataStore`](crate::MetadataStore) operation on such a connection, with one query
//! text and one row mapping for every dialect; the few fragments that differ come from
//! [`Dialect`]. Values are always passed as parameters, never spliced into SQL.
//!
//! The flavor owns transactions and retries:
//!
//! - It runs each **write** function ([`create_run`], [`finish_run`], [`record_step_run`],
//!   [`log_metadata`], [`invalidate_cache`]) inside one transaction of its own, which it
//!   commits when the function returns `Ok` and rolls back otherwise. Where the dialect has a
//!   database-wide write lock (SQLite) the transaction takes it first (`BEGIN IMMEDIATE`).
//! - Every write function may be run again from the start, in a new transaction, after a
//!   transient conflict (SQLite's `SQLITE_BUSY`, a MySQL deadlock): it has no effect outside
//!   its transaction.
//! - **Read** functions may run inside or outside a transaction.
//!
//! This module is for SQL flavor crates, not for applications.

use std::collections::{HashMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::MetadataStoreError;
use crate::model::{
    ArtifactRecord, CacheEntry, CacheFilter, MetadataEntry, Millis, NewRun, PipelineRecord,
    PipelineSummary, Resource, RunRecord, RunStatus, StepAttemptRecord, StepRunRecord,
    StepRunWrite, StepStatus,
};
use crate::schema::Dialect;

/// A value passed to or read from a statement: the only three kinds the schema uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlValue {
    /// SQL `NULL`.
    Null,
    /// An integer (`BIGINT`, `INTEGER`, counts).
    Int(i64),
    /// Text (`CHAR`, `VARCHAR`, `LONGTEXT`), UTF-8.
    Text(String),
}

impl From<&str> for SqlValue {
    fn from(text: &str) -> SqlValue {
        SqlValue::Text(text.to_owned())
    }
}

impl From<String> for SqlValue {
    fn from(text: String) -> SqlValue {
        SqlValue::Text(text)
    }
}

impl From<i64> for SqlValue {
    fn from(value: i64) -> SqlValue {
        SqlValue::Int(value)
    }
}

impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(value: Option<T>) -> SqlValue {
        value.map_or(SqlValue::Null, Into::into)
    }
}

/// A database connection as a SQL flavor lends it to the functions of this module: inside a
/// transaction for the write functions, inside or outside one for the read functions.
pub trait SqlConnection {
    /// The connection's dialect.
    fn dialect(&self) -> Dialect;

    /// Runs a statement that returns no rows; returns the number of rows it changed.
    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, MetadataStoreError>;

    /// Runs a query and returns all its rows, each with one value per selected column.
    fn query(
        &mut self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<Vec<SqlValue>>, MetadataStoreError>;

    /// Whether `error`, returned by [`execute`](Self::execute), is the violation of a
    /// `UNIQUE` or `PRIMARY KEY` constraint.
    fn is_unique_violation(&self, error: &MetadataStoreError) -> bool;
}

// ----- limits -------------------------------------------------------------------------------

/// The length of an id column (`CHAR(36)`): a hyphenated UUID.
const MAX_ID_CHARS: usize = 36;

/// The length of a name column (`VARCHAR(255)`).
const MAX_NAME_CHARS: usize = 255;

/// How many ids one `IN (…)` list holds at most: far below SQLite's limit of 32,766
/// parameters and MySQL's of 65,535, and short enough to prepare quickly.
pub const IN_LIST_CHUNK: usize = 500;

// ----- query text -----------------------------------------------------------------------------

/// The columns [`run_record`] reads, from `pipeline_runs r` joined with `pipelines p`.
macro_rules! run_columns {
    () => {
        "r.id, r.pipeline_id, p.name, r.name, r.status, r.started_at, r.ended_at, r.config, \
         r.stack, r.error, r.spec, r.lease_expires_at"
    };
}

/// The runs with their pipelines; a `WHERE` clause may follow.
macro_rules! select_runs {
    () => {
        concat!(
            "SELECT ",
            run_columns!(),
            " FROM pipeline_runs r JOIN pipelines p ON p.id = r.pipeline_id"
        )
    };
}

/// How runs are ordered: newest first, ties by name (descending) so the order is total.
macro_rules! newest_runs_first {
    () => {
        " ORDER BY r.started_at DESC, r.name DESC"
    };
}

/// The columns [`step_run_record`] reads, from `step_runs s`.
macro_rules! step_run_columns {
    () => {
        "s.id, s.run_id, s.name, s.status, s.started_at, s.ended_at, s.code_hash, s.cache_key, \
         s.parameters, s.error, s.original_step_run_id, s.cache_invalidated_at, s.attempt"
    };
}

/// How step runs are ordered newest first: by end, then start, then id, so the order is total.
macro_rules! newest_step_runs_first {
    () => {
        " ORDER BY s.ended_at DESC, s.started_at DESC, s.id DESC"
    };
}

/// The columns [`artifact_record`] reads, from `artifacts a`.
macro_rules! artifact_columns {
    () => {
        "a.id, a.uri, a.artifact_store_uri, a.path, a.rust_type, a.materializer_id, \
         a.materializer_version, a.content_hash, a.size, a.producer_step_run_id, a.output_name, \
         a.created_at"
    };
}

const SELECT_PIPELINE_ID: &str = "SELECT id FROM pipelines WHERE name = ?";

const COUNT_PIPELINES_NAMED: &str = "SELECT COUNT(*) FROM pipelines WHERE name = ?";

const INSERT_RUN: &str = "INSERT INTO pipeline_runs \
     (id, pipeline_id, name, status, started_at, ended_at, config, stack, error, spec, \
      lease_expires_at) \
     VALUES (?, ?, ?, ?, ?, NULL, ?, ?, NULL, ?, ?)";

const SELECT_RUN_NAME: &str = "SELECT name FROM pipeline_runs WHERE id = ?";

const COUNT_RUNS_WITH_ID: &str = "SELECT COUNT(*) FROM pipeline_runs WHERE id = ?";

const FINISH_RUN: &str =
    "UPDATE pipeline_runs SET status = ?, ended_at = ?, error = ? WHERE id = ?";

/// Extends the lease of a run that is still recorded as running.
const RENEW_RUN_LEASE: &str =
    "UPDATE pipeline_runs SET lease_expires_at = ? WHERE id = ? AND status = ?";

const SELECT_RUN_STATUS: &str = "SELECT status FROM pipeline_runs WHERE id = ?";

/// `cache_invalidated_at` is left out: a step run is recorded valid (`NULL`).
const INSERT_STEP_RUN: &str = "INSERT INTO step_runs \
     (id, run_id, name, status, started_at, ended_at, code_hash, cache_key, parameters, error, \
      original_step_run_id, attempt) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

const INSERT_STEP_ATTEMPT: &str = "INSERT INTO step_attempts \
     (id, run_id, name, attempt, started_at, ended_at, error) VALUES (?, ?, ?, ?, ?, ?, ?)";

const COUNT_STEP_ATTEMPTS_WITH_ID: &str = "SELECT COUNT(*) FROM step_attempts WHERE id = ?";

const LIST_STEP_ATTEMPTS: &str = "SELECT id, run_id, name, attempt, started_at, ended_at, error \
     FROM step_attempts WHERE run_id = ? ORDER BY name, attempt";

const COUNT_STEP_RUNS_WITH_ID: &str = "SELECT COUNT(*) FROM step_runs WHERE id = ?";

const INSERT_ARTIFACT: &str = "INSERT INTO artifacts \
     (id, uri, artifact_store_uri, path, rust_type, materializer_id, materializer_version, \
      content_hash, size, producer_step_run_id, output_name, created_at) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

const COUNT_ARTIFACTS_WITH_ID: &str = "SELECT COUNT(*) FROM artifacts WHERE id = ?";

const INSERT_STEP_INPUT: &str =
    "INSERT INTO step_run_inputs (step_run_id, input_name, artifact_id) VALUES (?, ?, ?)";

const INSERT_STEP_OUTPUT: &str =
    "INSERT INTO step_run_outputs (step_run_id, output_name, artifact_id) VALUES (?, ?, ?)";

/// Every pipeline with its run count and its newest run (`NULL` columns when it has none).
const LIST_PIPELINES: &str = concat!(
    "SELECT p.id, p.name, p.created_at, \
     (SELECT COUNT(*) FROM pipeline_runs c WHERE c.pipeline_id = p.id), ",
    run_columns!(),
    " FROM pipelines p LEFT JOIN pipeline_runs r ON r.id = \
     (SELECT l.id FROM pipeline_runs l WHERE l.pipeline_id = p.id \
      ORDER BY l.started_at DESC, l.name DESC LIMIT 1) \
     ORDER BY p.name"
);

const LIST_RUNS: &str = concat!(select_runs!(), newest_runs_first!());

const LIST_RUNS_OF_PIPELINE: &str =
    concat!(select_runs!(), " WHERE p.name = ?", newest_runs_first!());

const SELECT_RUN_BY_ID: &str = concat!(select_runs!(), " WHERE r.id = ?");

const SELECT_RUN_BY_NAME: &str = concat!(select_runs!(), " WHERE r.name = ?");

pub(crate) const LIST_STEP_RUNS: &str = concat!(
    "SELECT ",
    step_run_columns!(),
    " FROM step_runs s WHERE s.run_id = ? ORDER BY s.ended_at, s.started_at, s.name"
);

pub(crate) const SELECT_STEP_RUN: &str = concat!(
    "SELECT ",
    step_run_columns!(),
    " FROM step_runs s WHERE s.id = ?"
);

/// Parameters: cache key, status `completed`, limit. Served by `ix_step_runs_cache_lookup`.
pub(crate) const CACHE_CANDIDATES: &str = concat!(
    "SELECT ",
    step_run_columns!(),
    " FROM step_runs s \
     WHERE s.cache_key = ? AND s.status = ? AND s.cache_invalidated_at IS NULL",
    newest_step_runs_first!(),
    " LIMIT ?"
);

/// The cache entries with their run and pipeline names; parameter: status `completed`. The
/// filter's conditions and the order follow ([`cache_entries_sql`]).
const CACHE_ENTRIES: &str = concat!(
    "SELECT ",
    step_run_columns!(),
    ", r.name, p.name FROM step_runs s \
     JOIN pipeline_runs r ON r.id = s.run_id JOIN pipelines p ON p.id = r.pipeline_id \
     WHERE s.status = ? AND s.cache_key IS NOT NULL AND s.cache_invalidated_at IS NULL"
);

/// Invalidates cache entries; parameters: time, status `completed`. The filter's conditions
/// follow ([`invalidate_cache_sql`]): the rows are those [`CACHE_ENTRIES`] selects.
const INVALIDATE_CACHE: &str = "UPDATE step_runs SET cache_invalidated_at = ? \
     WHERE status = ? AND cache_key IS NOT NULL AND cache_invalidated_at IS NULL";

/// The condition on a pipeline's name, for [`INVALIDATE_CACHE`] (where an `UPDATE` of one
/// table cannot join in SQLite).
const IN_RUNS_OF_PIPELINE: &str = " AND run_id IN (SELECT r.id FROM pipeline_runs r \
     JOIN pipelines p ON p.id = r.pipeline_id WHERE p.name = ?)";

/// The step runs that consumed an artifact, oldest first; parameter: artifact id. Served by
/// `ix_step_run_inputs_artifact` and the primary key of `step_runs`.
pub(crate) const ARTIFACT_CONSUMERS: &str = concat!(
    "SELECT i.input_name, ",
    step_run_columns!(),
    " FROM step_run_inputs i JOIN step_runs s ON s.id = i.step_run_id \
     WHERE i.artifact_id = ? ORDER BY s.started_at, s.ended_at, s.id, i.input_name"
);

const ARTIFACT_IDS_IN_STORE: &str =
    "SELECT id FROM artifacts WHERE artifact_store_uri = ? ORDER BY id";

/// The start of a bulk metadata query; parameters: resource type, then the resource ids of
/// the `IN (…)` list that [`in_list`] completes.
const SELECT_METADATA_BULK: &str = "SELECT resource_id, meta_key, value FROM run_metadata \
     WHERE resource_type = ? AND resource_id IN ";

pub(crate) const SELECT_STEP_INPUTS: &str = concat!(
    "SELECT i.input_name, ",
    artifact_columns!(),
    " FROM step_run_inputs i JOIN artifacts a ON a.id = i.artifact_id \
     WHERE i.step_run_id = ? ORDER BY i.input_name"
);

pub(crate) const SELECT_STEP_OUTPUTS: &str = concat!(
    "SELECT o.output_name, ",
    artifact_columns!(),
    " FROM step_run_outputs o JOIN artifacts a ON a.id = o.artifact_id \
     WHERE o.step_run_id = ? ORDER BY o.output_name"
);

const SELECT_ARTIFACT: &str = concat!(
    "SELECT ",
    artifact_columns!(),
    " FROM artifacts a WHERE a.id = ?"
);

const LIST_ARTIFACTS: &str = concat!(
    "SELECT ",
    artifact_columns!(),
    " FROM artifacts a ORDER BY a.created_at DESC, a.producer_step_run_id, a.output_name, a.id"
);

const SELECT_METADATA: &str = "SELECT meta_key, value FROM run_metadata \
     WHERE resource_type = ? AND resource_id = ? ORDER BY meta_key";

// ----- writing --------------------------------------------------------------------------------

/// [`MetadataStore::create_run`](crate::MetadataStore::create_run): finds or creates the
/// pipeline, then inserts the run. A write function (see the module documentation).
pub fn create_run(
    conn: &mut dyn SqlConnection,
    run: &NewRun,
) -> Result<RunRecord, MetadataStoreError> {
    const WHAT: &str = "run";
    check_id(WHAT, "id", &run.id)?;
    check_name(WHAT, "name", &run.name)?;
    check_name(WHAT, "pipeline name", &run.pipeline_name)?;

    // Insert-if-absent, then select: safe when several processes create the same pipeline at
    // once. On MySQL this insert is the transaction's first statement, so the select below
    // is its first consistent read and sees a pipeline another transaction just committed.
    let insert_pipeline = conn.dialect().insert_pipeline_if_absent_sql();
    conn.execute(
        insert_pipeline,
        &[
            new_id().into(),
            run.pipeline_name.as_str().into(),
            run.started_at.into(),
        ],
    )?;
    let pipeline_id = conn
        .query(SELECT_PIPELINE_ID, &[run.pipeline_name.as_str().into()])?
        .into_iter()
        .next()
        .map(|row| Columns::new(row, "pipeline").text())
        .transpose()?
        .ok_or_else(|| MetadataStoreError::Corrupt {
            what: "pipeline",
            message: format!(
                "pipeline `{}` vanished while its run was being recorded",
                run.pipeline_name
            ),
        })?;

    let inserted = conn.execute(
        INSERT_RUN,
        &[
            run.id.as_str().into(),
            pipeline_id.as_str().into(),
            run.name.as_str().into(),
            RunStatus::Running.as_str().into(),
            run.started_at.into(),
            run.config.to_string().into(),
            run.stack.to_string().into(),
            (!run.spec.is_null()).then(|| run.spec.to_string()).into(),
            run.lease_expires_at.into(),
        ],
    );
    if let Err(error) = inserted {
        // The violated constraint is the name's, unless another run already has this id.
        if conn.is_unique_violation(&error) && !id_taken_by_other_run(conn, run)? {
            return Err(MetadataStoreError::DuplicateRunName {
                name: run.name.clone(),
            });
        }
        return Err(error);
    }
    Ok(RunRecord {
        id: run.id.clone(),
        pipeline_id,
        pipeline_name: run.pipeline_name.clone(),
        name: run.name.clone(),
        status: RunStatus::Running,
        started_at: run.started_at,
        ended_at: None,
        config: run.config.clone(),
        stack: run.stack.clone(),
        error: None,
        spec: run.spec.clone(),
        lease_expires_at: run.lease_expires_at,
    })
}

/// Whether a run other than `run` (by name) has `run`'s id.
fn id_taken_by_other_run(
    conn: &mut dyn SqlConnection,
    run: &NewRun,
) -> Result<bool, MetadataStoreError> {
    let rows = conn.query(SELECT_RUN_NAME, &[run.id.as_str().into()])?;
    match rows.into_iter().next() {
        Some(row) => Ok(Columns::new(row, "run").text()? != run.name),
        None => Ok(false),
    }
}

/// [`MetadataStore::finish_run`](crate::MetadataStore::finish_run). A write function.
pub fn finish_run(
    conn: &mut dyn SqlConnection,
    run_id: &str,
    status: RunStatus,
    ended_at: Millis,
    error: Option<&str>,
) -> Result<(), MetadataStoreError> {
    if matches!(status, RunStatus::Running | RunStatus::Interrupted) {
        return Err(MetadataStoreError::InvalidRecord {
            what: "run",
            message: format!(
                "a run is finished as completed or failed, not as {}",
                status.as_str()
            ),
        });
    }
    let changed = conn.execute(
        FINISH_RUN,
        &[
            status.as_str().into(),
            ended_at.into(),
            error.into(),
            run_id.into(),
        ],
    )?;
    // MySQL counts changed rows, not matched ones: 0 may mean "already so".
    if changed == 0 && count(conn, COUNT_RUNS_WITH_ID, run_id)? == 0 {
        return Err(not_found("run", run_id));
    }
    Ok(())
}

/// [`MetadataStore::renew_run_lease`](crate::MetadataStore::renew_run_lease). A write
/// function.
pub fn renew_run_lease(
    conn: &mut dyn SqlConnection,
    run_id: &str,
    expires_at: Millis,
) -> Result<bool, MetadataStoreError> {
    let changed = conn.execute(
        RENEW_RUN_LEASE,
        &[
            expires_at.into(),
            run_id.into(),
            RunStatus::Running.as_str().into(),
        ],
    )?;
    if changed > 0 {
        return Ok(true);
    }
    // MySQL counts changed rows, not matched ones: 0 may mean "the same lease again".
    let rows = conn.query(SELECT_RUN_STATUS, &[run_id.into()])?;
    match rows.into_iter().next() {
        None => Err(not_found("run", run_id)),
        Some(row) => Ok(Columns::new(row, "run").text()? == RunStatus::Running.as_str()),
    }
}

/// [`MetadataStore::record_failed_attempt`](crate::MetadataStore::record_failed_attempt).
/// A write function.
pub fn record_failed_attempt(
    conn: &mut dyn SqlConnection,
    attempt: &StepAttemptRecord,
) -> Result<(), MetadataStoreError> {
    const WHAT: &str = "step attempt";
    check_id(WHAT, "id", &attempt.id)?;
    check_id(WHAT, "run id", &attempt.run_id)?;
    check_name(WHAT, "step name", &attempt.name)?;
    if attempt.attempt == 0 {
        return Err(MetadataStoreError::InvalidRecord {
            what: WHAT,
            message: "attempts are numbered from 1".to_owned(),
        });
    }
    // Checked first, so that no statement follows a failed one: the same attempt again is
    // done already, an unknown run is not found.
    if count(conn, COUNT_STEP_ATTEMPTS_WITH_ID, &attempt.id)? > 0 {
        return Ok(());
    }
    if count(conn, COUNT_RUNS_WITH_ID, &attempt.run_id)? == 0 {
        return Err(not_found("run", &attempt.run_id));
    }
    conn.execute(
        INSERT_STEP_ATTEMPT,
        &[
            attempt.id.as_str().into(),
            attempt.run_id.as_str().into(),
            attempt.name.as_str().into(),
            i64::from(attempt.attempt).into(),
            attempt.started_at.into(),
            attempt.ended_at.into(),
            attempt.error.as_str().into(),
        ],
    )?;
    Ok(())
}

/// [`MetadataStore::step_attempts`](crate::MetadataStore::step_attempts): an unknown run is
/// [`MetadataStoreError::NotFound`].
pub fn step_attempts(
    conn: &mut dyn SqlConnection,
    run_id: &str,
) -> Result<Vec<StepAttemptRecord>, MetadataStoreError> {
    let attempts = map_rows(
        conn,
        LIST_STEP_ATTEMPTS,
        &[run_id.into()],
        "step attempt",
        |columns| {
            Ok(StepAttemptRecord {
                id: columns.text()?,
                run_id: columns.text()?,
                name: columns.text()?,
                attempt: attempt_number(columns)?,
                started_at: columns.int()?,
                ended_at: columns.int()?,
                error: columns.text()?,
            })
        },
    )?;
    if attempts.is_empty() && count(conn, COUNT_RUNS_WITH_ID, run_id)? == 0 {
        return Err(not_found("run", run_id));
    }
    Ok(attempts)
}

/// An attempt number column.
fn attempt_number(columns: &mut Columns) -> Result<u32, MetadataStoreError> {
    let n = columns.int()?;
    u32::try_from(n)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| columns.corrupt(format!("invalid attempt number {n}")))
}

/// [`MetadataStore::record_step_run`](crate::MetadataStore::record_step_run): the step run,
/// its new artifacts, its input links, its output links and its metadata. A write function:
/// the flavor commits all of it or nothing.
pub fn record_step_run(
    conn: &mut dyn SqlConnection,
    write: &StepRunWrite,
) -> Result<(), MetadataStoreError> {
    check_step_run_write(write)?;
    let step = &write.step;
    // Checked first for a clear error; the foreign key would refuse the step run anyway.
    if count(conn, COUNT_RUNS_WITH_ID, &step.run_id)? == 0 {
        return Err(not_found("run", &step.run_id));
    }
    conn.execute(
        INSERT_STEP_RUN,
        &[
            step.id.as_str().into(),
            step.run_id.as_str().into(),
            step.name.as_str().into(),
            step.status.as_str().into(),
            step.started_at.into(),
            step.ended_at.into(),
            step.code_hash.as_str().into(),
            step.cache_key.as_deref().into(),
            step.parameters.to_string().into(),
            step.error.as_deref().into(),
            step.original_step_run_id.as_deref().into(),
            i64::from(step.attempt).into(),
        ],
    )?;
    for artifact in &write.new_outputs {
        conn.execute(
            INSERT_ARTIFACT,
            &[
                artifact.id.as_str().into(),
                artifact.uri.as_str().into(),
                artifact.artifact_store_uri.as_str().into(),
                artifact.path.as_str().into(),
                artifact.rust_type.as_str().into(),
                artifact.materializer_id.as_str().into(),
                i64::from(artifact.materializer_version).into(),
                artifact.content_hash.as_str().into(),
                artifact_size(artifact)?.into(),
                artifact.producer_step_run_id.as_str().into(),
                artifact.output_name.as_str().into(),
                artifact.created_at.into(),
            ],
        )?;
    }
    for (input_name, artifact_id) in &write.inputs {
        link(conn, INSERT_STEP_INPUT, &step.id, input_name, artifact_id)?;
    }
    let new_outputs = write
        .new_outputs
        .iter()
        .map(|a| (a.output_name.as_str(), a.id.as_str()));
    let reused_outputs = write
        .reused_outputs
        .iter()
        .map(|(name, id)| (name.as_str(), id.as_str()));
    for (output_name, artifact_id) in new_outputs.chain(reused_outputs) {
        link(conn, INSERT_STEP_OUTPUT, &step.id, output_name, artifact_id)?;
    }
    upsert_metadata(conn, &write.metadata)
}

/// Links an artifact to a step run as an input or output; an artifact that does not exist
/// (refused by the foreign key) is [`MetadataStoreError::NotFound`].
fn link(
    conn: &mut dyn SqlConnection,
    sql: &str,
    step_run_id: &str,
    name: &str,
    artifact_id: &str,
) -> Result<(), MetadataStoreError> {
    match conn.execute(sql, &[step_run_id.into(), name.into(), artifact_id.into()]) {
        Ok(_) => Ok(()),
        Err(error) => {
            if matches!(count(conn, COUNT_ARTIFACTS_WITH_ID, artifact_id), Ok(0)) {
                Err(not_found("artifact", artifact_id))
            } else {
                Err(error)
            }
        }
    }
}

/// [`MetadataStore::log_metadata`](crate::MetadataStore::log_metadata). A write function.
pub fn log_metadata(
    conn: &mut dyn SqlConnection,
    entries: &[MetadataEntry],
) -> Result<(), MetadataStoreError> {
    for entry in entries {
        check_metadata_entry(entry)?;
    }
    upsert_metadata(conn, entries)
}

/// [`MetadataStore::invalidate_cache`](crate::MetadataStore::invalidate_cache): sets
/// `cache_invalidated_at` on the entries [`cache_entries`] would list. A write function.
pub fn invalidate_cache(
    conn: &mut dyn SqlConnection,
    filter: &CacheFilter,
    at: Millis,
) -> Result<usize, MetadataStoreError> {
    let (sql, params) = invalidate_cache_sql(filter, at);
    // Every selected row changes (from NULL to a time), so MySQL's count of changed rows is
    // the count of matched ones.
    let changed = conn.execute(&sql, &params)?;
    Ok(usize::try_from(changed).unwrap_or(usize::MAX))
}

/// The statement of [`invalidate_cache`] and its parameters.
pub(crate) fn invalidate_cache_sql(filter: &CacheFilter, at: Millis) -> (String, Vec<SqlValue>) {
    let mut params = vec![at.into(), StepStatus::Completed.as_str().into()];
    let mut sql = INVALIDATE_CACHE.to_owned();
    if let Some(pipeline) = &filter.pipeline {
        sql.push_str(IN_RUNS_OF_PIPELINE);
        params.push(pipeline.as_str().into());
    }
    if let Some(step) = &filter.step {
        sql.push_str(" AND name = ?");
        params.push(step.as_str().into());
    }
    (sql, params)
}

fn upsert_metadata(
    conn: &mut dyn SqlConnection,
    entries: &[MetadataEntry],
) -> Result<(), MetadataStoreError> {
    let upsert = conn.dialect().upsert_metadata_sql();
    let now = now_millis();
    for entry in entries {
        conn.execute(
            upsert,
            &[
                entry.resource.type_name().into(),
                entry.resource.id().into(),
                entry.key.as_str().into(),
                entry.value.to_string().into(),
                now.into(),
            ],
        )?;
    }
    Ok(())
}

// ----- reading --------------------------------------------------------------------------------

/// [`MetadataStore::list_pipelines`](crate::MetadataStore::list_pipelines).
pub fn list_pipelines(
    conn: &mut dyn SqlConnection,
) -> Result<Vec<PipelineSummary>, MetadataStoreError> {
    map_rows(conn, LIST_PIPELINES, &[], "pipeline", |columns| {
        let pipeline = PipelineRecord {
            id: columns.text()?,
            name: columns.text()?,
            created_at: columns.int()?,
        };
        let run_count = columns.count()?;
        let latest_run = if columns.next_is_null() {
            None
        } else {
            Some(run_record(columns)?)
        };
        Ok(PipelineSummary {
            pipeline,
            run_count,
            latest_run,
        })
    })
}

/// [`MetadataStore::list_runs`](crate::MetadataStore::list_runs): an unknown pipeline is
/// [`MetadataStoreError::NotFound`].
pub fn list_runs(
    conn: &mut dyn SqlConnection,
    pipeline: Option<&str>,
) -> Result<Vec<RunRecord>, MetadataStoreError> {
    let Some(pipeline) = pipeline else {
        return map_rows(conn, LIST_RUNS, &[], "run", run_record);
    };
    let runs = map_rows(
        conn,
        LIST_RUNS_OF_PIPELINE,
        &[pipeline.into()],
        "run",
        run_record,
    )?;
    if runs.is_empty() && count(conn, COUNT_PIPELINES_NAMED, pipeline)? == 0 {
        return Err(not_found("pipeline", pipeline));
    }
    Ok(runs)
}

/// [`MetadataStore::get_run`](crate::MetadataStore::get_run): by id first, then by name.
pub fn get_run(
    conn: &mut dyn SqlConnection,
    name_or_id: &str,
) -> Result<RunRecord, MetadataStoreError> {
    for sql in [SELECT_RUN_BY_ID, SELECT_RUN_BY_NAME] {
        if let Some(run) = map_rows(conn, sql, &[name_or_id.into()], "run", run_record)?
            .into_iter()
            .next()
        {
            return Ok(run);
        }
    }
    Err(not_found("run", name_or_id))
}

/// [`MetadataStore::step_runs`](crate::MetadataStore::step_runs): an unknown run is
/// [`MetadataStoreError::NotFound`].
pub fn step_runs(
    conn: &mut dyn SqlConnection,
    run_id: &str,
) -> Result<Vec<StepRunRecord>, MetadataStoreError> {
    let steps = map_rows(
        conn,
        LIST_STEP_RUNS,
        &[run_id.into()],
        "step run",
        step_run_record,
    )?;
    if steps.is_empty() && count(conn, COUNT_RUNS_WITH_ID, run_id)? == 0 {
        return Err(not_found("run", run_id));
    }
    Ok(steps)
}

/// [`MetadataStore::step_inputs`](crate::MetadataStore::step_inputs): an unknown step run is
/// [`MetadataStoreError::NotFound`].
pub fn step_inputs(
    conn: &mut dyn SqlConnection,
    step_run_id: &str,
) -> Result<Vec<(String, ArtifactRecord)>, MetadataStoreError> {
    linked_artifacts(conn, SELECT_STEP_INPUTS, step_run_id)
}

/// [`MetadataStore::step_outputs`](crate::MetadataStore::step_outputs): an unknown step run
/// is [`MetadataStoreError::NotFound`].
pub fn step_outputs(
    conn: &mut dyn SqlConnection,
    step_run_id: &str,
) -> Result<Vec<(String, ArtifactRecord)>, MetadataStoreError> {
    linked_artifacts(conn, SELECT_STEP_OUTPUTS, step_run_id)
}

fn linked_artifacts(
    conn: &mut dyn SqlConnection,
    sql: &str,
    step_run_id: &str,
) -> Result<Vec<(String, ArtifactRecord)>, MetadataStoreError> {
    let links = map_rows(conn, sql, &[step_run_id.into()], "artifact", |columns| {
        Ok((columns.text()?, artifact_record(columns)?))
    })?;
    if links.is_empty() && count(conn, COUNT_STEP_RUNS_WITH_ID, step_run_id)? == 0 {
        return Err(not_found("step run", step_run_id));
    }
    Ok(links)
}

/// [`MetadataStore::get_artifact`](crate::MetadataStore::get_artifact).
pub fn get_artifact(
    conn: &mut dyn SqlConnection,
    id: &str,
) -> Result<ArtifactRecord, MetadataStoreError> {
    map_rows(
        conn,
        SELECT_ARTIFACT,
        &[id.into()],
        "artifact",
        artifact_record,
    )?
    .into_iter()
    .next()
    .ok_or_else(|| not_found("artifact", id))
}

/// [`MetadataStore::list_artifacts`](crate::MetadataStore::list_artifacts).
pub fn list_artifacts(
    conn: &mut dyn SqlConnection,
) -> Result<Vec<ArtifactRecord>, MetadataStoreError> {
    map_rows(conn, LIST_ARTIFACTS, &[], "artifact", artifact_record)
}

/// [`MetadataStore::metadata`](crate::MetadataStore::metadata).
pub fn metadata(
    conn: &mut dyn SqlConnection,
    resource: &Resource,
) -> Result<Vec<(String, Value)>, MetadataStoreError> {
    map_rows(
        conn,
        SELECT_METADATA,
        &[resource.type_name().into(), resource.id().into()],
        "metadata",
        |columns| Ok((columns.text()?, columns.json()?)),
    )
}

/// [`MetadataStore::cache_candidates`](crate::MetadataStore::cache_candidates).
pub fn cache_candidates(
    conn: &mut dyn SqlConnection,
    cache_key: &str,
    limit: usize,
) -> Result<Vec<StepRunRecord>, MetadataStoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    map_rows(
        conn,
        CACHE_CANDIDATES,
        &[
            cache_key.into(),
            StepStatus::Completed.as_str().into(),
            limit.into(),
        ],
        "step run",
        step_run_record,
    )
}

/// [`MetadataStore::cache_entries`](crate::MetadataStore::cache_entries).
pub fn cache_entries(
    conn: &mut dyn SqlConnection,
    filter: &CacheFilter,
) -> Result<Vec<CacheEntry>, MetadataStoreError> {
    let (sql, params) = cache_entries_sql(filter);
    map_rows(conn, &sql, &params, "cache entry", |columns| {
        Ok(CacheEntry {
            step_run: step_run_record(columns)?,
            run_name: columns.text()?,
            pipeline_name: columns.text()?,
        })
    })
}

/// The query of [`cache_entries`] and its parameters.
pub(crate) fn cache_entries_sql(filter: &CacheFilter) -> (String, Vec<SqlValue>) {
    let mut params = vec![StepStatus::Completed.as_str().into()];
    let mut sql = CACHE_ENTRIES.to_owned();
    if let Some(pipeline) = &filter.pipeline {
        sql.push_str(" AND p.name = ?");
        params.push(pipeline.as_str().into());
    }
    if let Some(step) = &filter.step {
        sql.push_str(" AND s.name = ?");
        params.push(step.as_str().into());
    }
    sql.push_str(newest_step_runs_first!());
    (sql, params)
}

/// [`MetadataStore::get_step_run`](crate::MetadataStore::get_step_run).
pub fn get_step_run(
    conn: &mut dyn SqlConnection,
    id: &str,
) -> Result<StepRunRecord, MetadataStoreError> {
    map_rows(
        conn,
        SELECT_STEP_RUN,
        &[id.into()],
        "step run",
        step_run_record,
    )?
    .into_iter()
    .next()
    .ok_or_else(|| not_found("step run", id))
}

/// [`MetadataStore::artifact_consumers`](crate::MetadataStore::artifact_consumers): an
/// unknown artifact is [`MetadataStoreError::NotFound`].
pub fn artifact_consumers(
    conn: &mut dyn SqlConnection,
    artifact_id: &str,
) -> Result<Vec<(String, StepRunRecord)>, MetadataStoreError> {
    let consumers = map_rows(
        conn,
        ARTIFACT_CONSUMERS,
        &[artifact_id.into()],
        "step run",
        |columns| Ok((columns.text()?, step_run_record(columns)?)),
    )?;
    if consumers.is_empty() && count(conn, COUNT_ARTIFACTS_WITH_ID, artifact_id)? == 0 {
        return Err(not_found("artifact", artifact_id));
    }
    Ok(consumers)
}

/// [`MetadataStore::artifact_ids_in_store`](crate::MetadataStore::artifact_ids_in_store).
pub fn artifact_ids_in_store(
    conn: &mut dyn SqlConnection,
    artifact_store_uri: &str,
) -> Result<Vec<String>, MetadataStoreError> {
    map_rows(
        conn,
        ARTIFACT_IDS_IN_STORE,
        &[artifact_store_uri.into()],
        "artifact",
        Columns::text,
    )
}

/// [`MetadataStore::step_metadata_bulk`](crate::MetadataStore::step_metadata_bulk): one
/// query per [`IN_LIST_CHUNK`] distinct ids.
pub fn step_metadata_bulk(
    conn: &mut dyn SqlConnection,
    step_run_ids: &[String],
) -> Result<Vec<(String, String, Value)>, MetadataStoreError> {
    let mut seen = HashSet::new();
    let ids: Vec<&str> = step_run_ids
        .iter()
        .map(String::as_str)
        .filter(|id| seen.insert(*id))
        .collect();
    let resource_type = Resource::StepRun(String::new()).type_name();
    let mut by_id: HashMap<String, Vec<(String, Value)>> = HashMap::new();
    for chunk in ids.chunks(IN_LIST_CHUNK) {
        let sql = step_metadata_bulk_sql(chunk.len());
        let params: Vec<SqlValue> = std::iter::once(resource_type.into())
            .chain(chunk.iter().map(|id| (*id).into()))
            .collect();
        let rows = map_rows(conn, &sql, &params, "metadata", |columns| {
            Ok((columns.text()?, columns.text()?, columns.json()?))
        })?;
        for (id, key, value) in rows {
            by_id.entry(id).or_default().push((key, value));
        }
    }
    Ok(ids
        .into_iter()
        .filter_map(|id| by_id.remove_entry(id))
        .flat_map(|(id, entries)| {
            entries
                .into_iter()
                .map(move |(key, value)| (id.clone(), key, value))
        })
        .collect())
}

/// The query of [`step_metadata_bulk`] for `n` ids.
pub(crate) fn step_metadata_bulk_sql(n: usize) -> String {
    format!(
        "{SELECT_METADATA_BULK}{} ORDER BY resource_id, meta_key",
        in_list(n)
    )
}

/// `(?, ?, …)` with `n` placeholders; `n` is at least one (`()` is not SQL).
fn in_list(n: usize) -> String {
    debug_assert!(n > 0, "an empty IN list");
    let mut list = String::with_capacity(3 * n + 2);
    list.push('(');
    for i in 0..n {
        if i > 0 {
            list.push_str(", ");
        }
        list.push('?');
    }
    list.push(')');
    list
}

// ----- rows -----------------------------------------------------------------------------------

/// Runs a query and maps each row with `decode`.
fn map_rows<T>(
    conn: &mut dyn SqlConnection,
    sql: &str,
    params: &[SqlValue],
    what: &'static str,
    mut decode: impl FnMut(&mut Columns) -> Result<T, MetadataStoreError>,
) -> Result<Vec<T>, MetadataStoreError> {
    conn.query(sql, params)?
        .into_iter()
        .map(|row| decode(&mut Columns::new(row, what)))
        .collect()
}

/// The single integer of a `SELECT COUNT(*) … WHERE … = ?` query.
fn count(conn: &mut dyn SqlConnection, sql: &str, key: &str) -> Result<i64, MetadataStoreError> {
    let row = conn.query(sql, &[key.into()])?.into_iter().next();
    let row = row.ok_or_else(|| MetadataStoreError::Corrupt {
        what: "count",
        message: "a count returned no row".to_owned(),
    })?;
    Columns::new(row, "count").int()
}

/// The columns of one row, read in order; a value of the wrong kind is
/// [`MetadataStoreError::Corrupt`].
struct Columns {
    values: std::vec::IntoIter<SqlValue>,
    what: &'static str,
}

impl Columns {
    fn new(row: Vec<SqlValue>, what: &'static str) -> Columns {
        Columns {
            values: row.into_iter(),
            what,
        }
    }

    fn corrupt(&self, message: String) -> MetadataStoreError {
        MetadataStoreError::Corrupt {
            what: self.what,
            message,
        }
    }

    fn next(&mut self) -> Result<SqlValue, MetadataStoreError> {
        self.values
            .next()
            .ok_or_else(|| self.corrupt("a row has fewer columns than expected".to_owned()))
    }

    fn next_is_null(&self) -> bool {
        matches!(self.values.as_slice().first(), Some(SqlValue::Null))
    }

    fn opt_text(&mut self) -> Result<Option<String>, MetadataStoreError> {
        match self.next()? {
            SqlValue::Null => Ok(None),
            SqlValue::Text(text) => Ok(Some(text)),
            SqlValue::Int(n) => Err(self.corrupt(format!("expected text, found the number {n}"))),
        }
    }

    fn text(&mut self) -> Result<String, MetadataStoreError> {
        self.opt_text()?
            .ok_or_else(|| self.corrupt("expected text, found NULL".to_owned()))
    }

    fn opt_int(&mut self) -> Result<Option<i64>, MetadataStoreError> {
        match self.next()? {
            SqlValue::Null => Ok(None),
            SqlValue::Int(n) => Ok(Some(n)),
            SqlValue::Text(text) => {
                Err(self.corrupt(format!("expected a number, found the text `{text}`")))
            }
        }
    }

    fn int(&mut self) -> Result<i64, MetadataStoreError> {
        self.opt_int()?
            .ok_or_else(|| self.corrupt("expected a number, found NULL".to_owned()))
    }

    fn count(&mut self) -> Result<u64, MetadataStoreError> {
        let n = self.int()?;
        u64::try_from(n).map_err(|_| self.corrupt(format!("negative count {n}")))
    }

    fn json(&mut self) -> Result<Value, MetadataStoreError> {
        let text = self.text()?;
        serde_json::from_str(&text).map_err(|e| self.corrupt(format!("invalid JSON ({e})")))
    }

    fn opt_json(&mut self) -> Result<Option<Value>, MetadataStoreError> {
        if self.next_is_null() {
            self.next()?;
            return Ok(None);
        }
        self.json().map(Some)
    }
}

fn run_record(columns: &mut Columns) -> Result<RunRecord, MetadataStoreError> {
    let mut run = RunRecord {
        id: columns.text()?,
        pipeline_id: columns.text()?,
        pipeline_name: columns.text()?,
        name: columns.text()?,
        status: {
            let text = columns.text()?;
            // `interrupted` is read, never written.
            RunStatus::parse(&text)
                .filter(|status| *status != RunStatus::Interrupted)
                .ok_or_else(|| columns.corrupt(format!("unknown run status `{text}`")))?
        },
        started_at: columns.int()?,
        ended_at: columns.opt_int()?,
        config: columns.json()?,
        stack: columns.json()?,
        error: columns.opt_text()?,
        spec: columns.opt_json()?.unwrap_or(Value::Null),
        lease_expires_at: columns.opt_int()?,
    };
    run.status = run.status.at(run.lease_expires_at, now_millis());
    Ok(run)
}

fn step_run_record(columns: &mut Columns) -> Result<StepRunRecord, MetadataStoreError> {
    Ok(StepRunRecord {
        id: columns.text()?,
        run_id: columns.text()?,
        name: columns.text()?,
        status: {
            let text = columns.text()?;
            StepStatus::parse(&text)
                .ok_or_else(|| columns.corrupt(format!("unknown step status `{text}`")))?
        },
        started_at: columns.int()?,
        ended_at: columns.int()?,
        code_hash: columns.text()?,
        cache_key: columns.opt_text()?,
        parameters: columns.json()?,
        error: columns.opt_text()?,
        original_step_run_id: columns.opt_text()?,
        cache_invalidated_at: columns.opt_int()?,
        attempt: attempt_number(columns)?,
    })
}

fn artifact_record(columns: &mut Columns) -> Result<ArtifactRecord, MetadataStoreError> {
    Ok(ArtifactRecord {
        id: columns.text()?,
        uri: columns.text()?,
        artifact_store_uri: columns.text()?,
        path: columns.text()?,
        rust_type: columns.text()?,
        materializer_id: columns.text()?,
        materializer_version: {
            let n = columns.int()?;
            u32::try_from(n)
                .map_err(|_| columns.corrupt(format!("invalid materializer version {n}")))?
        },
        content_hash: columns.text()?,
        size: {
            let n = columns.int()?;
            u64::try_from(n).map_err(|_| columns.corrupt(format!("invalid size {n}")))?
        },
        producer_step_run_id: columns.text()?,
        output_name: columns.text()?,
        created_at: columns.int()?,
    })
}

// ----- checks ---------------------------------------------------------------------------------

/// Refuses, before anything is written, what some SQL dialect could not store as given (MySQL
/// would refuse or, outside strict mode, truncate a value longer than its column).
fn check_step_run_write(write: &StepRunWrite) -> Result<(), MetadataStoreError> {
    const WHAT: &str = "step run";
    let step = &write.step;
    check_id(WHAT, "id", &step.id)?;
    check_id(WHAT, "run id", &step.run_id)?;
    check_name(WHAT, "name", &step.name)?;
    check_name(WHAT, "code hash", &step.code_hash)?;
    if let Some(cache_key) = &step.cache_key {
        check_name(WHAT, "cache key", cache_key)?;
    }
    if let Some(original) = &step.original_step_run_id {
        check_id(WHAT, "original step run id", original)?;
    }
    for (name, artifact_id) in write.inputs.iter().chain(&write.reused_outputs) {
        check_name(WHAT, "input or output name", name)?;
        check_id(WHAT, "artifact id", artifact_id)?;
    }
    for artifact in &write.new_outputs {
        check_artifact(artifact, &step.id)?;
    }
    for entry in &write.metadata {
        check_metadata_entry(entry)?;
    }
    Ok(())
}

fn check_artifact(artifact: &ArtifactRecord, step_run_id: &str) -> Result<(), MetadataStoreError> {
    const WHAT: &str = "artifact";
    check_id(WHAT, "id", &artifact.id)?;
    check_name(WHAT, "materializer id", &artifact.materializer_id)?;
    check_name(WHAT, "content hash", &artifact.content_hash)?;
    check_name(WHAT, "output name", &artifact.output_name)?;
    if artifact.producer_step_run_id != step_run_id {
        return Err(MetadataStoreError::InvalidRecord {
            what: WHAT,
            message: format!(
                "artifact `{}` names step run `{}` as its producer, but step run `{step_run_id}` \
                 records it as a new output",
                artifact.id, artifact.producer_step_run_id
            ),
        });
    }
    artifact_size(artifact).map(drop)
}

fn artifact_size(artifact: &ArtifactRecord) -> Result<i64, MetadataStoreError> {
    i64::try_from(artifact.size).map_err(|_| MetadataStoreError::InvalidRecord {
        what: "artifact",
        message: format!(
            "size {} is more than the largest storable size, {}",
            artifact.size,
            i64::MAX
        ),
    })
}

fn check_metadata_entry(entry: &MetadataEntry) -> Result<(), MetadataStoreError> {
    check_id("metadata", "resource id", entry.resource.id())?;
    check_name("metadata", "key", &entry.key)
}

fn check_id(what: &'static str, field: &str, value: &str) -> Result<(), MetadataStoreError> {
    check_length(what, field, value, MAX_ID_CHARS)
}

fn check_name(what: &'static str, field: &str, value: &str) -> Result<(), MetadataStoreError> {
    check_length(what, field, value, MAX_NAME_CHARS)
}

fn check_length(
    what: &'static str,
    field: &str,
    value: &str,
    max: usize,
) -> Result<(), MetadataStoreError> {
    let chars = value.chars().count();
    if chars > max {
        return Err(MetadataStoreError::InvalidRecord {
            what,
            message: format!("the {field} has {chars} characters; at most {max} are allowed"),
        });
    }
    Ok(())
}

// ----- helpers --------------------------------------------------------------------------------

fn not_found(what: &'static str, key: &str) -> MetadataStoreError {
    MetadataStoreError::NotFound {
        what,
        key: key.to_owned(),
    }
}

/// A fresh id: a random (version 4) UUID, hyphenated.
fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The current time in milliseconds since the Unix epoch.
fn now_millis() -> Millis {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| {
        Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
    })
}

/// Implements the methods of [`MetadataStore`](crate::MetadataStore) that a SQL flavor
/// forwards unchanged to this module: every read, and the writes `finish_run`,
/// `renew_run_lease`, `record_failed_attempt`, `log_metadata` and `invalidate_cache`. Invoke it inside `impl MetadataStore for …` of
/// a type with `read` and `write` methods that run a closure over a [`SqlConnection`]
/// (reads on a connection, writes in a transaction); write the remaining methods
/// (`uri`, `schema_version`, `create_run`, `record_step_run`) by hand.
#[macro_export]
macro_rules! forward_sql_operations {
    () => {
        fn finish_run(
            &self,
            run_id: &str,
            status: $crate::RunStatus,
            ended_at: $crate::Millis,
            error: Option<&str>,
        ) -> Result<(), $crate::MetadataStoreError> {
            self.write(|conn| $crate::sql::finish_run(conn, run_id, status, ended_at, error))
        }

        fn renew_run_lease(
            &self,
            run_id: &str,
            expires_at: $crate::Millis,
        ) -> Result<bool, $crate::MetadataStoreError> {
            self.write(|conn| $crate::sql::renew_run_lease(conn, run_id, expires_at))
        }

        fn record_failed_attempt(
            &self,
            attempt: &$crate::StepAttemptRecord,
        ) -> Result<(), $crate::MetadataStoreError> {
            self.write(|conn| $crate::sql::record_failed_attempt(conn, attempt))
        }

        fn step_attempts(
            &self,
            run_id: &str,
        ) -> Result<Vec<$crate::StepAttemptRecord>, $crate::MetadataStoreError> {
            self.read(|conn| $crate::sql::step_attempts(conn, run_id))
        }

        fn log_metadata(
            &self,
            entries: &[$crate::MetadataEntry],
        ) -> Result<(), $crate::MetadataStoreError> {
            self.write(|conn| $crate::sql::log_metadata(conn, entries))
        }

        fn invalidate_cache(
            &self,
            filter: &$crate::CacheFilter,
            at: $crate::Millis,
        ) -> Result<usize, $crate::MetadataStoreError> {
            self.write(|conn| $crate::sql::invalidate_cache(conn, filter, at))
        }

        fn list_pipelines(
            &self,
        ) -> Result<Vec<$crate::PipelineSummary>, $crate::MetadataStoreError> {
            self.read($crate::sql::list_pipelines)
        }

        fn list_runs(
            &self,
            pipeline: Option<&str>,
        ) -> Result<Vec<$crate::RunRecord>, $crate::MetadataStoreError> {
            self.read(|conn| $crate::sql::list_runs(conn, pipeline))
        }

        fn get_run(
            &self,
            name_or_id: &str,
        ) -> Result<$crate::RunRecord, $crate::MetadataStoreError> {
            self.read(|conn| $crate::sql::get_run(conn, name_or_id))
        }

        fn step_runs(
            &self,
            run_id: &str,
        ) -> Result<Vec<$crate::StepRunRecord>, $crate::MetadataStoreError> {
            self.read(|conn| $crate::sql::step_runs(conn, run_id))
        }

        fn step_inputs(
            &self,
            step_run_id: &str,
        ) -> Result<Vec<(String, $crate::ArtifactRecord)>, $crate::MetadataStoreError> {
            self.read(|conn| $crate::sql::step_inputs(conn, step_run_id))
        }

        fn step_outputs(
            &self,
            step_run_id: &str,
        ) -> Result<Vec<(String, $crate::ArtifactRecord)>, $crate::MetadataStoreError> {
            self.read(|conn| $crate::sql::step_outputs(conn, step_run_id))
        }

        fn get_artifact(
            &self,
            id: &str,
        ) -> Result<$crate::ArtifactRecord, $crate::MetadataStoreError> {
            self.read(|conn| $crate::sql::get_artifact(conn, id))
        }

        fn list_artifacts(
            &self,
        ) -> Result<Vec<$crate::ArtifactRecord>, $crate::MetadataStoreError> {
            self.read($crate::sql::list_artifacts)
        }

        fn metadata(
            &self,
            resource: &$crate::Resource,
        ) -> Result<Vec<(String, $crate::__private::serde_json::Value)>, $crate::MetadataStoreError>
        {
            self.read(|conn| $crate::sql::metadata(conn, resource))
        }

        fn get_step_run(
            &self,
            id: &str,
        ) -> Result<$crate::StepRunRecord, $crate::MetadataStoreError> {
            self.read(|conn| $crate::sql::get_step_run(conn, id))
        }

        fn artifact_consumers(
            &self,
            artifact_id: &str,
        ) -> Result<Vec<(String, $crate::StepRunRecord)>, $crate::MetadataStoreError> {
            self.read(|conn| $crate::sql::artifact_consumers(conn, artifact_id))
        }

        fn artifact_ids_in_store(
            &self,
            artifact_store_uri: &str,
        ) -> Result<Vec<String>, $crate::MetadataStoreError> {
            self.read(|conn| $crate::sql::artifact_ids_in_store(conn, artifact_store_uri))
        }

        fn step_metadata_bulk(
            &self,
            step_run_ids: &[String],
        ) -> Result<
            Vec<(String, String, $crate::__private::serde_json::Value)>,
            $crate::MetadataStoreError,
        > {
            self.read(|conn| $crate::sql::step_metadata_bulk(conn, step_run_ids))
        }

        fn cache_candidates(
            &self,
            cache_key: &str,
            limit: usize,
        ) -> Result<Vec<$crate::StepRunRecord>, $crate::MetadataStoreError> {
            self.read(|conn| $crate::sql::cache_candidates(conn, cache_key, limit))
        }

        fn cache_entries(
            &self,
            filter: &$crate::CacheFilter,
        ) -> Result<Vec<$crate::CacheEntry>, $crate::MetadataStoreError> {
            self.read(|conn| $crate::sql::cache_entries(conn, filter))
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_report_values_of_the_wrong_kind_as_corrupt() {
        let mut columns = Columns::new(
            vec![
                SqlValue::Int(1),
                SqlValue::Null,
                SqlValue::Text("{".to_owned()),
            ],
            "run",
        );
        assert!(matches!(
            columns.text(),
            Err(MetadataStoreError::Corrupt { what: "run", .. })
        ));
        assert!(columns.next_is_null());
        assert!(columns.int().is_err());
        let err = columns.json().unwrap_err();
        assert!(err.to_string().contains("invalid JSON"), "{err}");
        assert!(columns.opt_text().is_err(), "no more columns");
    }

    #[test]
    fn shared_queries_are_assembled_as_expected() {
        assert!(LIST_PIPELINES.contains(run_columns!()));
        assert!(SELECT_STEP_INPUTS.ends_with("ORDER BY i.input_name"));
        assert_eq!(INSERT_ARTIFACT.matches('?').count(), 12);
        assert_eq!(INSERT_STEP_RUN.matches('?').count(), 12);
        assert_eq!(INSERT_STEP_ATTEMPT.matches('?').count(), 7);
        assert_eq!(CACHE_CANDIDATES.matches('?').count(), 3);
        assert!(CACHE_CANDIDATES.ends_with("s.id DESC LIMIT ?"));
        assert!(ARTIFACT_CONSUMERS.contains(step_run_columns!()));
    }

    #[test]
    fn in_lists_have_one_placeholder_per_value() {
        assert_eq!(in_list(1), "(?)");
        assert_eq!(in_list(3), "(?, ?, ?)");
        assert_eq!(in_list(IN_LIST_CHUNK).matches('?').count(), IN_LIST_CHUNK);
    }

    #[test]
    fn lengths_are_checked_in_characters() {
        assert!(check_name("run", "name", &"é".repeat(255)).is_ok());
        let err = check_name("run", "name", &"x".repeat(256)).unwrap_err();
        assert!(matches!(
            err,
            MetadataStoreError::InvalidRecord { what: "run", .. }
        ));
        assert!(err.to_string().contains("at most 255"), "{err}");
        assert!(check_id("run", "id", &new_id()).is_ok());
    }
}
