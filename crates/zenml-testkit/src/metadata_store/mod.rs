//! The metadata store suite: every operation of the [`MetadataStore`] contract.
//!
//! Groups (the columns of the flavor matrix):
//!
//! - **records**: runs, step runs, artifacts and metadata are written and read back exactly
//!   ([`runs_are_created_finished_listed_and_found`], [`run_names_are_unique_and_case_sensitive`],
//!   [`step_runs_round_trip_with_lineage_and_metadata`], [`metadata_is_replaced_per_key`],
//!   [`records_the_schema_cannot_hold_are_refused`],
//!   [`artifacts_are_named_versioned_and_tagged`]);
//! - **queries**: listings, lookups, lineage, the step cache and bulk reads
//!   ([`pipelines_are_summarized`], [`unknown_records_are_not_found`],
//!   [`step_cache_is_found_managed_and_followed`], [`metadata_is_read_in_bulk`]);
//! - **migrations**: what a freshly opened store reports ([`a_fresh_store_is_at_the_current_schema`],
//!   [`reopening_keeps_the_schema_and_the_records`]); flavors also run the upgrade check
//!   [`check_version_2_rows_upgraded`] on a database they filled with [`VERSION_2_ROWS`], and
//!   [`check_version_4_rows_upgraded`] on one of the previous version with [`VERSION_4_ROWS`]
//!   too;
//! - **transactions**: a failing `record_step_run` leaves nothing behind
//!   ([`a_failed_step_run_write_leaves_nothing_behind`]);
//! - **concurrency**: several writers at once ([`check_concurrent_writers`],
//!   [`concurrent_writers_number_versions_uniquely`]).
//!
//! Flavors whose database is a server also run the fault checks, which need the flavor's
//! help to break connections or restart the server and so are not part of [`run_all`]:
//! [`operations_after_broken_connections_succeed`],
//! [`recording_survives_connections_broken_meanwhile`] and
//! [`operations_survive_a_server_restart`].
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
//! # use zenml_metadata_store::MetadataStore;
//! # use zenml_sqlite::SqliteMetadataStore;
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
    Millis, NewRun, PipelineSummary, Resource, RunOrder, RunQuery, RunRecord, RunStatus,
    StepAttemptRecord, StepRunRecord, StepRunWrite, StepStatus,
};

use crate::{GroupReport, SuiteReport};

mod faults;
mod helpers;
mod migrations;
mod names;
mod pages;
mod queries;
mod records;
mod writes;

pub use faults::*;
pub use migrations::*;
pub use names::*;
pub use pages::*;
pub use queries::*;
pub use records::*;
pub use writes::*;

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
        })
        .run("artifacts_are_named_versioned_and_tagged", || {
            artifacts_are_named_versioned_and_tagged(store)
        });
    let mut queries = GroupReport::new("queries");
    queries
        .run("pipelines_are_summarized", || {
            pipelines_are_summarized(store)
        })
        .run("runs_are_queried_in_pages", || {
            runs_are_queried_in_pages(store)
        })
        .run("unknown_records_are_not_found", || {
            unknown_records_are_not_found(store)
        })
        .run("step_cache_is_found_managed_and_followed", || {
            step_cache_is_found_managed_and_followed(store)
        })
        .run("metadata_is_read_in_bulk", || {
            metadata_is_read_in_bulk(store)
        })
        .run("artifacts_are_queried_in_pages", || {
            artifacts_are_queried_in_pages(store)
        })
        .run("runs_are_followed_by_cursor", || {
            runs_are_followed_by_cursor(store)
        })
        .run("pipeline_metrics_cover_the_newest_runs", || {
            pipeline_metrics_cover_the_newest_runs(store)
        })
        .run("step_runs_and_consumers_are_paged", || {
            step_runs_and_consumers_are_paged(store)
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
    concurrency
        .run("check_concurrent_writers", || {
            check_concurrent_writers(open, 4, 10)
        })
        .run("concurrent_writers_number_versions_uniquely", || {
            concurrent_writers_number_versions_uniquely(open, 4, 5)
        });
    SuiteReport::new(SUITE)
        .with(records)
        .with(queries)
        .with(migrations)
        .with(transactions)
        .with(concurrency)
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
    artifacts_are_named_versioned_and_tagged(store);
    artifacts_are_queried_in_pages(store);
    runs_are_followed_by_cursor(store);
    pipeline_metrics_cover_the_newest_runs(store);
    step_runs_and_consumers_are_paged(store);
}
