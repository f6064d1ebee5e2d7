//! A store written against the contract's required methods only, as a third party's store
//! written before the bounded reads were added: the provided implementations of
//! `query_runs`, `query_runs_after`, `query_artifacts`, `pipeline_metrics`, `step_runs_page`
//! and `artifact_consumers_page` answer the testkit's checks as the SQL flavors do.

use std::time::Duration;

use serde_json::Value;
use zenml_metadata_store::{
    ArtifactLabels, ArtifactName, ArtifactRecord, ArtifactVersion, CacheEntry, CacheFilter,
    MetadataEntry, MetadataStore, MetadataStoreError, Millis, NewRun, PipelineSummary, Resource,
    RunRecord, RunStatus, StepAttemptRecord, StepRunRecord, StepRunWrite,
};
use zenml_sqlite::SqliteMetadataStore;
use zenml_testkit::metadata_store;

/// Delegates every required method to a SQLite store, and nothing else.
#[derive(Debug)]
struct RequiredOnly(SqliteMetadataStore);

impl MetadataStore for RequiredOnly {
    fn uri(&self) -> String {
        self.0.uri()
    }
    fn schema_version(&self) -> Result<u32, MetadataStoreError> {
        self.0.schema_version()
    }
    fn create_run(&self, run: &NewRun) -> Result<RunRecord, MetadataStoreError> {
        self.0.create_run(run)
    }
    fn finish_run(
        &self,
        run_id: &str,
        status: RunStatus,
        ended_at: Millis,
        error: Option<&str>,
    ) -> Result<bool, MetadataStoreError> {
        self.0.finish_run(run_id, status, ended_at, error)
    }
    fn renew_run_lease(&self, run_id: &str, at: Millis) -> Result<bool, MetadataStoreError> {
        self.0.renew_run_lease(run_id, at)
    }
    fn record_step_run(&self, write: &StepRunWrite) -> Result<(), MetadataStoreError> {
        self.0.record_step_run(write)
    }
    fn record_failed_attempt(&self, attempt: &StepAttemptRecord) -> Result<(), MetadataStoreError> {
        self.0.record_failed_attempt(attempt)
    }
    fn log_metadata(&self, entries: &[MetadataEntry]) -> Result<(), MetadataStoreError> {
        self.0.log_metadata(entries)
    }
    fn tag_artifact(&self, artifact_id: &str, tag: &str) -> Result<bool, MetadataStoreError> {
        self.0.tag_artifact(artifact_id, tag)
    }
    fn untag_artifact(&self, artifact_id: &str, tag: &str) -> Result<bool, MetadataStoreError> {
        self.0.untag_artifact(artifact_id, tag)
    }
    fn invalidate_cache(
        &self,
        filter: &CacheFilter,
        at: Millis,
    ) -> Result<usize, MetadataStoreError> {
        self.0.invalidate_cache(filter, at)
    }
    fn list_pipelines(&self) -> Result<Vec<PipelineSummary>, MetadataStoreError> {
        self.0.list_pipelines()
    }
    fn list_runs(&self, pipeline: Option<&str>) -> Result<Vec<RunRecord>, MetadataStoreError> {
        self.0.list_runs(pipeline)
    }
    fn get_run(&self, name_or_id: &str) -> Result<RunRecord, MetadataStoreError> {
        self.0.get_run(name_or_id)
    }
    fn step_attempts(&self, run_id: &str) -> Result<Vec<StepAttemptRecord>, MetadataStoreError> {
        self.0.step_attempts(run_id)
    }
    fn step_runs(&self, run_id: &str) -> Result<Vec<StepRunRecord>, MetadataStoreError> {
        self.0.step_runs(run_id)
    }
    fn get_step_run(&self, id: &str) -> Result<StepRunRecord, MetadataStoreError> {
        self.0.get_step_run(id)
    }
    fn step_inputs(&self, id: &str) -> Result<Vec<(String, ArtifactRecord)>, MetadataStoreError> {
        self.0.step_inputs(id)
    }
    fn step_outputs(&self, id: &str) -> Result<Vec<(String, ArtifactRecord)>, MetadataStoreError> {
        self.0.step_outputs(id)
    }
    fn artifact_consumers(
        &self,
        artifact_id: &str,
    ) -> Result<Vec<(String, StepRunRecord)>, MetadataStoreError> {
        self.0.artifact_consumers(artifact_id)
    }
    fn get_artifact(&self, id: &str) -> Result<ArtifactRecord, MetadataStoreError> {
        self.0.get_artifact(id)
    }
    fn artifact_ids_in_store(&self, uri: &str) -> Result<Vec<String>, MetadataStoreError> {
        self.0.artifact_ids_in_store(uri)
    }
    fn list_artifacts(&self) -> Result<Vec<ArtifactRecord>, MetadataStoreError> {
        self.0.list_artifacts()
    }
    fn artifact_names(&self) -> Result<Vec<ArtifactName>, MetadataStoreError> {
        self.0.artifact_names()
    }
    fn artifact_versions(&self, name: &str) -> Result<Vec<ArtifactVersion>, MetadataStoreError> {
        self.0.artifact_versions(name)
    }
    fn artifact_version(
        &self,
        name: &str,
        version: Option<u32>,
    ) -> Result<ArtifactVersion, MetadataStoreError> {
        self.0.artifact_version(name, version)
    }
    fn artifact_labels(
        &self,
        artifact_ids: &[&str],
    ) -> Result<Vec<(String, ArtifactLabels)>, MetadataStoreError> {
        self.0.artifact_labels(artifact_ids)
    }
    fn metadata(&self, resource: &Resource) -> Result<Vec<(String, Value)>, MetadataStoreError> {
        self.0.metadata(resource)
    }
    fn step_metadata_bulk(
        &self,
        ids: &[String],
    ) -> Result<Vec<(String, String, Value)>, MetadataStoreError> {
        self.0.step_metadata_bulk(ids)
    }
    fn cache_candidates(
        &self,
        cache_key: &str,
        limit: usize,
    ) -> Result<Vec<StepRunRecord>, MetadataStoreError> {
        self.0.cache_candidates(cache_key, limit)
    }
    fn cache_entries(&self, filter: &CacheFilter) -> Result<Vec<CacheEntry>, MetadataStoreError> {
        self.0.cache_entries(filter)
    }
}

#[test]
fn the_provided_bounded_reads_pass_the_checks() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let store = RequiredOnly(
        SqliteMetadataStore::open(&dir.path().join("m.db"), Duration::from_secs(10))
            .expect("a sqlite store"),
    );
    metadata_store::runs_are_queried_in_pages(&store);
    metadata_store::artifacts_are_queried_in_pages(&store);
    metadata_store::runs_are_followed_by_cursor(&store);
    metadata_store::pipeline_metrics_cover_the_newest_runs(&store);
    metadata_store::step_runs_and_consumers_are_paged(&store);
}
