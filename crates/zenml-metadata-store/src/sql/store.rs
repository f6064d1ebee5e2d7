//! [`SqlStore`]: what a SQL flavor implements to be a [`MetadataStore`], through the blanket
//! implementation below that runs every operation of [`crate::sql`] on the flavor's
//! connections.

use std::fmt;

use serde_json::Value;

use crate::model::{
    ArtifactLabels, ArtifactName, ArtifactRecord, ArtifactVersion, CacheEntry, CacheFilter,
    MetadataEntry, Millis, NewRun, PipelineSummary, Resource, RunPage, RunQuery, RunRecord,
    RunStatus, StepAttemptRecord, StepRunRecord, StepRunWrite,
};
use crate::query::{
    ArtifactPage, ArtifactQuery, MetricPoint, MetricQuery, Page, RunCursor, StepRunCursor,
};
use crate::{MetadataStore, MetadataStoreError};

use super::SqlConnection;

/// A SQL flavor's store: how it lends connections to the shared operations. Every type that
/// implements it is a [`MetadataStore`] (a blanket implementation), each operation being the
/// function of [`crate::sql`] of the same name run through [`read`](Self::read) or
/// [`write`](Self::write).
pub trait SqlStore: fmt::Debug + Send + Sync {
    /// The flavor's name, e.g. `sqlite`, as in its errors.
    fn flavor(&self) -> &'static str;

    /// The store's [`MetadataStore::uri`] (named apart, so that a caller with both traits in
    /// scope calls `uri` unambiguously).
    fn database_uri(&self) -> String;

    /// Runs `body` on a connection, outside a transaction; a flavor may run it again after a
    /// transient failure (a lost connection, a busy database).
    fn read<T>(
        &self,
        body: impl FnMut(&mut dyn SqlConnection) -> Result<T, MetadataStoreError>,
    ) -> Result<T, MetadataStoreError>;

    /// Runs `body` in one write transaction, commits it when `body` returns `Ok` and rolls
    /// it back otherwise; a flavor may run it again, in a new transaction, after a transient
    /// conflict. Where a `COMMIT` can be lost with its connection (a server), the next
    /// attempt first asks `committed`, on a fresh connection, whether the write is in the
    /// database after all (`Some`: it is, and this is its result), so that a write is never
    /// recorded twice.
    fn write<T>(
        &self,
        body: impl FnMut(&mut dyn SqlConnection) -> Result<T, MetadataStoreError>,
        committed: impl FnMut(&mut dyn SqlConnection) -> Result<Option<T>, MetadataStoreError>,
    ) -> Result<T, MetadataStoreError>;
}

/// For writes that may simply run again: nothing to check after a lost `COMMIT`.
fn rerun<T>(_: &mut dyn SqlConnection) -> Result<Option<T>, MetadataStoreError> {
    Ok(None)
}

impl<S: SqlStore> MetadataStore for S {
    fn uri(&self) -> String {
        self.database_uri()
    }

    fn schema_version(&self) -> Result<u32, MetadataStoreError> {
        let flavor = self.flavor();
        self.read(|conn| super::current_version(conn, flavor))
    }

    fn create_run(&self, run: &NewRun) -> Result<RunRecord, MetadataStoreError> {
        self.write(
            |conn| super::create_run(conn, run),
            |conn| match super::get_run(conn, &run.id) {
                Ok(found) if found.name == run.name => Ok(Some(found)),
                Ok(_) | Err(MetadataStoreError::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            },
        )
    }

    fn finish_run(
        &self,
        run_id: &str,
        status: RunStatus,
        ended_at: Millis,
        error: Option<&str>,
    ) -> Result<bool, MetadataStoreError> {
        self.write(
            |conn| super::finish_run(conn, run_id, status, ended_at, error),
            rerun,
        )
    }

    fn renew_run_lease(
        &self,
        run_id: &str,
        expires_at: Millis,
    ) -> Result<bool, MetadataStoreError> {
        self.write(
            |conn| super::renew_run_lease(conn, run_id, expires_at),
            rerun,
        )
    }

    fn record_step_run(&self, write: &StepRunWrite) -> Result<(), MetadataStoreError> {
        self.write(
            |conn| super::record_step_run(conn, write),
            // The step run, its artifacts and links are committed together or not at all.
            |conn| match super::get_step_run(conn, &write.step.id) {
                Ok(found) if found.run_id == write.step.run_id => Ok(Some(())),
                Ok(_) | Err(MetadataStoreError::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            },
        )
    }

    fn record_failed_attempt(&self, attempt: &StepAttemptRecord) -> Result<(), MetadataStoreError> {
        self.write(|conn| super::record_failed_attempt(conn, attempt), rerun)
    }

    fn log_metadata(&self, entries: &[MetadataEntry]) -> Result<(), MetadataStoreError> {
        self.write(|conn| super::log_metadata(conn, entries), rerun)
    }

    fn tag_artifact(&self, artifact_id: &str, tag: &str) -> Result<bool, MetadataStoreError> {
        self.write(|conn| super::tag_artifact(conn, artifact_id, tag), rerun)
    }

    fn untag_artifact(&self, artifact_id: &str, tag: &str) -> Result<bool, MetadataStoreError> {
        self.write(|conn| super::untag_artifact(conn, artifact_id, tag), rerun)
    }

    fn artifact_names(&self) -> Result<Vec<ArtifactName>, MetadataStoreError> {
        self.read(super::artifact_names)
    }

    fn artifact_versions(&self, name: &str) -> Result<Vec<ArtifactVersion>, MetadataStoreError> {
        self.read(|conn| super::artifact_versions(conn, name))
    }

    fn artifact_version(
        &self,
        name: &str,
        version: Option<u32>,
    ) -> Result<ArtifactVersion, MetadataStoreError> {
        self.read(|conn| super::artifact_version(conn, name, version))
    }

    fn artifact_labels(
        &self,
        artifact_ids: &[&str],
    ) -> Result<Vec<(String, ArtifactLabels)>, MetadataStoreError> {
        self.read(|conn| super::artifact_labels(conn, artifact_ids))
    }

    fn invalidate_cache(
        &self,
        filter: &CacheFilter,
        at: Millis,
    ) -> Result<usize, MetadataStoreError> {
        self.write(|conn| super::invalidate_cache(conn, filter, at), rerun)
    }

    fn list_pipelines(&self) -> Result<Vec<PipelineSummary>, MetadataStoreError> {
        self.read(super::list_pipelines)
    }

    fn list_runs(&self, pipeline: Option<&str>) -> Result<Vec<RunRecord>, MetadataStoreError> {
        self.read(|conn| super::list_runs(conn, pipeline))
    }

    fn query_runs(&self, query: &RunQuery) -> Result<RunPage, MetadataStoreError> {
        self.read(|conn| super::query_runs(conn, query, None))
    }

    fn query_runs_after(
        &self,
        query: &RunQuery,
        after: &RunCursor,
    ) -> Result<RunPage, MetadataStoreError> {
        self.read(|conn| super::query_runs(conn, query, Some(after)))
    }

    fn query_artifacts(&self, query: &ArtifactQuery) -> Result<ArtifactPage, MetadataStoreError> {
        self.read(|conn| super::query_artifacts(conn, query))
    }

    fn pipeline_metrics(
        &self,
        query: &MetricQuery,
    ) -> Result<Vec<MetricPoint>, MetadataStoreError> {
        self.read(|conn| super::pipeline_metrics(conn, query))
    }

    fn step_runs_page(
        &self,
        run_id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<Page<StepRunRecord>, MetadataStoreError> {
        self.read(|conn| super::step_runs_page(conn, run_id, offset, limit))
    }

    fn artifact_consumers_page(
        &self,
        artifact_id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<Page<(String, StepRunRecord)>, MetadataStoreError> {
        self.read(|conn| super::artifact_consumers_page(conn, artifact_id, offset, limit))
    }

    fn get_run(&self, name_or_id: &str) -> Result<RunRecord, MetadataStoreError> {
        self.read(|conn| super::get_run(conn, name_or_id))
    }

    fn step_attempts(&self, run_id: &str) -> Result<Vec<StepAttemptRecord>, MetadataStoreError> {
        self.read(|conn| super::step_attempts(conn, run_id))
    }

    fn step_runs(&self, run_id: &str) -> Result<Vec<StepRunRecord>, MetadataStoreError> {
        self.read(|conn| super::step_runs(conn, run_id))
    }

    fn step_run_named(
        &self,
        run_id: &str,
        name: &str,
    ) -> Result<Option<StepRunRecord>, MetadataStoreError> {
        self.read(|conn| super::step_run_named(conn, run_id, name))
    }

    fn get_step_run(&self, id: &str) -> Result<StepRunRecord, MetadataStoreError> {
        self.read(|conn| super::get_step_run(conn, id))
    }

    fn step_inputs(
        &self,
        step_run_id: &str,
    ) -> Result<Vec<(String, ArtifactRecord)>, MetadataStoreError> {
        self.read(|conn| super::step_inputs(conn, step_run_id))
    }

    fn step_outputs(
        &self,
        step_run_id: &str,
    ) -> Result<Vec<(String, ArtifactRecord)>, MetadataStoreError> {
        self.read(|conn| super::step_outputs(conn, step_run_id))
    }

    fn artifact_consumers(
        &self,
        artifact_id: &str,
    ) -> Result<Vec<(String, StepRunRecord)>, MetadataStoreError> {
        self.read(|conn| super::artifact_consumers(conn, artifact_id))
    }

    fn get_artifact(&self, id: &str) -> Result<ArtifactRecord, MetadataStoreError> {
        self.read(|conn| super::get_artifact(conn, id))
    }

    fn artifact_ids_in_store(
        &self,
        artifact_store_uri: &str,
    ) -> Result<Vec<String>, MetadataStoreError> {
        self.read(|conn| super::artifact_ids_in_store(conn, artifact_store_uri))
    }

    fn list_artifacts(&self) -> Result<Vec<ArtifactRecord>, MetadataStoreError> {
        self.read(super::list_artifacts)
    }

    fn metadata(&self, resource: &Resource) -> Result<Vec<(String, Value)>, MetadataStoreError> {
        self.read(|conn| super::metadata(conn, resource))
    }

    fn step_metadata_bulk(
        &self,
        step_run_ids: &[String],
    ) -> Result<Vec<(String, String, Value)>, MetadataStoreError> {
        self.read(|conn| super::step_metadata_bulk(conn, step_run_ids))
    }

    fn cache_candidates(
        &self,
        cache_key: &str,
        limit: usize,
    ) -> Result<Vec<StepRunRecord>, MetadataStoreError> {
        self.read(|conn| super::cache_candidates(conn, cache_key, limit))
    }

    fn cache_entries(&self, filter: &CacheFilter) -> Result<Vec<CacheEntry>, MetadataStoreError> {
        self.read(|conn| super::cache_entries(conn, filter))
    }

    fn cache_entries_page(
        &self,
        filter: &CacheFilter,
        after: Option<&StepRunCursor>,
        offset: u64,
        limit: u64,
    ) -> Result<Page<CacheEntry>, MetadataStoreError> {
        self.read(|conn| super::cache_entries_page(conn, filter, after, offset, limit))
    }
}
