//! The queries of the SQL flavors, shared by all of them.
//!
//! A flavor provides a [`SqlConnection`]: something that runs `?`-parameterized statements
//! and returns rows of [`SqlValue`]s. The functions here implement every
//! [`MetadataStore`](crate::MetadataStore) operation on such a connection, with one query
//! text and one row mapping for every dialect; the few fragments that differ come from the
//! flavor's [`Dialect`], a trait each flavor implements for its database. [`migrate`] is the
//! one migration runner of every SQL flavor. Values are always passed as parameters, never
//! spliced into SQL.
//!
//! A flavor implements [`SqlStore`] (how it lends connections, inside or outside a
//! transaction), and a blanket implementation makes it a
//! [`MetadataStore`](crate::MetadataStore) running the functions here. The flavor owns
//! transactions and retries:
//!
//! - It runs each **write** function ([`create_run`], [`finish_run`], [`record_step_run`],
//!   [`log_metadata`], [`invalidate_cache`], [`tag_artifact`], [`untag_artifact`]) inside one transaction of its own, which it
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
    PipelineSummary, Resource, RunOrder, RunOverview, RunPage, RunQuery, RunRecord, RunStatus,
    StepAttemptRecord, StepRunRecord, StepRunWrite, StepStatus,
};

pub(crate) mod dialect;
mod migrate;
mod store;

pub use dialect::{Dialect, MigrationLock, bind_placeholders};
pub use migrate::{MIGRATION_LOCK_TIMEOUT_SECS, current_version, migrate};
pub use store::SqlStore;

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
    /// The connection's dialect. Statements reach [`execute`](Self::execute) and
    /// [`query`](Self::query) with `?` parameters; a dialect that numbers its parameters
    /// rewrites them there ([`bind_placeholders`]).
    fn dialect(&self) -> &'static dyn Dialect;

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

const SELECT_RUN_ID_BY_NAME: &str = "SELECT id FROM pipeline_runs WHERE name = ?";

const COUNT_RUNS_WITH_ID: &str = "SELECT COUNT(*) FROM pipeline_runs WHERE id = ?";

/// Finishes a run that is still recorded as running.
const FINISH_RUN: &str = "UPDATE pipeline_runs SET status = ?, ended_at = ?, error = ? \
     WHERE id = ? AND status = ?";

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

/// A page of runs as [`query_runs`] lists them, in two parts: the page's runs are chosen
/// first (in a derived table, `page`, which a `WHERE` clause, an order and
/// `LIMIT ? OFFSET ?` complete, read from `ix_pipeline_runs_started` or the filter's index),
/// then their columns and step counts are read for those runs only; the order follows.
/// The step counts are served by `uq_step_runs_run_name` (`run_id` first).
const RUN_PAGE_IDS: &str = "SELECT r.id AS id FROM pipeline_runs r";

/// The columns of the runs of a page (see [`RUN_PAGE_IDS`]); the derived table `page`
/// precedes the `JOIN`.
const RUN_OVERVIEW_COLUMNS: &str = "SELECT r.id, p.name, r.name, r.status, r.started_at, \
     r.ended_at, r.error, r.lease_expires_at, \
     (SELECT COUNT(*) FROM step_runs s WHERE s.run_id = r.id), \
     (SELECT COUNT(*) FROM step_runs s WHERE s.run_id = r.id AND s.status = 'cached') FROM (";

/// Joins the runs of a page to their columns; the order follows.
const RUN_OVERVIEW_JOIN: &str =
    ") page JOIN pipeline_runs r ON r.id = page.id JOIN pipelines p ON p.id = r.pipeline_id";

/// How many runs pass a filter; a `WHERE` clause follows.
const COUNT_RUNS_FROM: &str = "SELECT COUNT(*) FROM pipeline_runs r";

/// A run recorded `running` (parameter) whose lease has not expired at a time (parameter).
const RUNNING_WITH_LEASE: &str =
    "r.status = ? AND (r.lease_expires_at IS NULL OR r.lease_expires_at >= ?)";

/// A run recorded `running` (parameter) whose lease expired before a time (parameter).
const RUNNING_LEASE_EXPIRED: &str = "r.status = ? AND r.lease_expires_at < ?";

const SELECT_RUN_BY_ID: &str = concat!(select_runs!(), " WHERE r.id = ?");

const SELECT_RUN_BY_NAME: &str = concat!(select_runs!(), " WHERE r.name = ?");

/// A run's step runs; parameter: run id.
pub const LIST_STEP_RUNS: &str = concat!(
    "SELECT ",
    step_run_columns!(),
    " FROM step_runs s WHERE s.run_id = ? ORDER BY s.ended_at, s.started_at, s.name"
);

/// The step run of a step in a run; parameters: run id, step name. Served by
/// `uq_step_runs_run_name`.
pub const SELECT_STEP_RUN_NAMED: &str = concat!(
    "SELECT ",
    step_run_columns!(),
    " FROM step_runs s WHERE s.run_id = ? AND s.name = ?"
);

/// One step run; parameter: its id. Served by the primary key of `step_runs`.
pub const SELECT_STEP_RUN: &str = concat!(
    "SELECT ",
    step_run_columns!(),
    " FROM step_runs s WHERE s.id = ?"
);

/// Parameters: cache key, status `completed`, limit. Served by `ix_step_runs_cache_lookup`.
pub const CACHE_CANDIDATES: &str = concat!(
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
pub const ARTIFACT_CONSUMERS: &str = concat!(
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

/// A step run's inputs with their artifacts; parameter: step run id. Served by the
/// primary keys of `step_run_inputs` and `artifacts`.
pub const SELECT_STEP_INPUTS: &str = concat!(
    "SELECT i.input_name, ",
    artifact_columns!(),
    " FROM step_run_inputs i JOIN artifacts a ON a.id = i.artifact_id \
     WHERE i.step_run_id = ? ORDER BY i.input_name"
);

/// A step run's outputs with their artifacts; parameter: step run id. Served by the
/// primary keys of `step_run_outputs` and `artifacts`.
pub const SELECT_STEP_OUTPUTS: &str = concat!(
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

mod checks;
mod names;
mod pages;
mod read;
mod rows;
mod write;

pub use names::*;
pub use pages::*;
pub use read::*;
pub use write::*;

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

#[cfg(test)]
mod tests;
