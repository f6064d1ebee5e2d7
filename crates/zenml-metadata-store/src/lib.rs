//! The metadata store: where zenml records what ran.
//!
//! [`MetadataStore`] is the contract every flavor implements; [`MetadataStoreFlavor`] is the
//! trait a flavor's configuration implements to open one. The SQL flavors share one schema,
//! kept in [`schema`] as an ordered list of migrations that every SQL dialect accepts. The
//! flavors are crates of their own, drivers in sqlx's shape: `sqlite` (`zenml-sqlite`, a
//! database file on this machine, the default stack's store), `mysql` (`zenml-mysql`) and
//! `postgres` (`zenml-postgres`); [`server`] holds what the flavors of database servers share.
//!
//! What a store records is in [`model`]. The SQL flavors share their queries too: [`sql`]
//! implements every operation on a connection that a flavor provides.

mod error;
pub mod model;
mod provided;
pub mod query;
pub mod schema;
pub mod server;
pub mod sql;

use std::fmt;

use zenml_core::{ComponentContext, ComponentKind, FlavorKind};

pub use error::MetadataStoreError;
pub use model::{
    ArtifactLabels, ArtifactName, ArtifactRecord, ArtifactVersion, CacheEntry, CacheFilter,
    MetadataEntry, Millis, NewArtifactLabels, NewRun, PipelineRecord, PipelineSummary, Resource,
    RunOrder, RunOverview, RunPage, RunQuery, RunRecord, RunStatus, StepAttemptRecord,
    StepRunRecord, StepRunWrite, StepStatus,
};
pub use query::{
    ArtifactCursor, ArtifactOrder, ArtifactPage, ArtifactQuery, COUNT_CAP, MAX_LIMIT, MAX_OFFSET,
    MetricPoint, MetricQuery, Page, RunCursor, StepRunCursor, Total,
};

/// A database that records pipelines, runs, steps and their artifacts.
///
/// # Contract
///
/// Implementations are used from many threads, and often from several processes, at once,
/// and must uphold:
///
/// - **Open means ready.** A store returned by [`MetadataStoreFlavor::open`] has a database
///   at [`schema::SCHEMA_VERSION`]: opening creates the database if needed and applies the
///   pending migrations, each exactly once even when several processes open the store at the
///   same time.
/// - **Newer databases are left alone.** A database whose recorded version is newer than
///   [`schema::SCHEMA_VERSION`] is refused with [`MetadataStoreError::SchemaTooNew`] and not
///   modified: an older program must not write a schema it does not know.
/// - **Concurrent writers wait.** A write that meets another process's write waits for it
///   (up to the flavor's configured timeout) instead of failing at once.
/// - **No secrets in identity.** [`uri`](MetadataStore::uri) never contains a password or
///   other credential; it is printed, logged and stored.
/// - **Errors are typed.** A failure is a [`MetadataStoreError`]; the backend's own error is
///   the source of [`MetadataStoreError::Backend`].
/// - **Writes are atomic.** Each write method commits all of its records or none, also when
///   it fails part-way; a transient conflict with another writer (a busy database, a
///   deadlock) is retried, not returned.
/// - **The same records everywhere.** Ids have at most 36 characters, names and keys at most
///   255; a longer one is [`MetadataStoreError::InvalidRecord`] in every flavor. Names
///   compare byte for byte (`Run` and `run` are two names) and sort so.
///
/// The metadata store suite of the `zenml-testkit` crate checks much of this on a store.
pub trait MetadataStore: fmt::Debug + Send + Sync {
    /// A URI naming this store's database, e.g. `sqlite:///home/me/project/.zen/metadata.db`
    /// or `mysql://zenml@db.example.com:3306/zenml`. Two stores with the same URI hold the
    /// same records. Never contains a password.
    fn uri(&self) -> String;

    /// The schema version recorded in the database; [`schema::SCHEMA_VERSION`] for a store
    /// opened by this program, unless a newer one has migrated it since.
    fn schema_version(&self) -> Result<u32, MetadataStoreError>;

    // ----- writing ----------------------------------------------------------------------

    /// Records a run that starts now, with status `running`, its spec and its lease,
    /// creating its pipeline on the pipeline's first run. A name already used by another run
    /// is [`MetadataStoreError::DuplicateRunName`]. Returns the run as recorded.
    fn create_run(&self, run: &NewRun) -> Result<RunRecord, MetadataStoreError>;

    /// Records the end of a running run (an interrupted one included): its final status
    /// (completed, failed or cancelled), when it ended and, for a failed or cancelled run,
    /// why; returns `true`. A run that is already finished keeps what it was finished as:
    /// nothing changes and the answer is `false` (so that a run cancelled while its driver
    /// still ran stays cancelled). An unknown run is [`MetadataStoreError::NotFound`]; the
    /// status running or interrupted is [`MetadataStoreError::InvalidRecord`].
    fn finish_run(
        &self,
        run_id: &str,
        status: RunStatus,
        ended_at: Millis,
        error: Option<&str>,
    ) -> Result<bool, MetadataStoreError>;

    /// Extends the lease of a running run to `expires_at` (milliseconds since the epoch) and
    /// returns `true`; returns `false`, changing nothing, when the run is no longer recorded
    /// as running (it was finished, possibly by another process). A running run is read as
    /// [`RunStatus::Interrupted`] once its lease has expired, and as running again after a
    /// later renewal. An unknown run is [`MetadataStoreError::NotFound`].
    fn renew_run_lease(&self, run_id: &str, expires_at: Millis)
    -> Result<bool, MetadataStoreError>;

    /// Records a finished step run with its input links, its new output artifacts, its reused
    /// outputs and its metadata, **in one transaction**: a reader sees all of it or none.
    ///
    /// An unknown run, or an input or reused output naming an unknown artifact, is
    /// [`MetadataStoreError::NotFound`]; a step name already recorded in the run fails; a new
    /// output whose producer is not this step run is [`MetadataStoreError::InvalidRecord`].
    /// In every case of failure nothing is recorded. The step run is recorded as a valid cache
    /// entry: its [`cache_invalidated_at`](StepRunRecord::cache_invalidated_at) is ignored.
    fn record_step_run(&self, write: &StepRunWrite) -> Result<(), MetadataStoreError>;

    /// Records a failed attempt of a step that will be tried again. Recording an attempt with
    /// the same id again succeeds and changes nothing (a retried write whose acknowledgement
    /// was lost); another attempt with the same run, step and number fails. An unknown run
    /// is [`MetadataStoreError::NotFound`].
    fn record_failed_attempt(&self, attempt: &StepAttemptRecord) -> Result<(), MetadataStoreError>;

    /// Records metadata entries (replacing earlier values of the same resource and key), all
    /// or none. The resources are not checked to exist.
    fn log_metadata(&self, entries: &[MetadataEntry]) -> Result<(), MetadataStoreError>;

    /// Tags an artifact; returns whether the tag is new to it (tagging twice changes
    /// nothing). An unknown artifact is [`MetadataStoreError::NotFound`]; an empty tag or one
    /// longer than 255 characters is [`MetadataStoreError::InvalidRecord`].
    fn tag_artifact(&self, artifact_id: &str, tag: &str) -> Result<bool, MetadataStoreError>;

    /// Removes a tag from an artifact; returns whether it had it. An unknown artifact is
    /// [`MetadataStoreError::NotFound`].
    fn untag_artifact(&self, artifact_id: &str, tag: &str) -> Result<bool, MetadataStoreError>;

    /// Invalidates the cache entries that `filter` selects (those
    /// [`cache_entries`](Self::cache_entries) lists for it): sets their
    /// [`cache_invalidated_at`](StepRunRecord::cache_invalidated_at) to `at`, all or none,
    /// and returns how many there were. An invalidated step run is never a
    /// [cache candidate](Self::cache_candidates) again; it stays recorded, with its cache
    /// key, and step runs that reused its outputs are unchanged. Invalidating again selects
    /// none of the same entries (0 when nothing new matched).
    fn invalidate_cache(
        &self,
        filter: &CacheFilter,
        at: Millis,
    ) -> Result<usize, MetadataStoreError>;

    // ----- reading ----------------------------------------------------------------------

    /// Every pipeline, sorted by name, with its run count and newest run (as in
    /// [`list_runs`](Self::list_runs)).
    fn list_pipelines(&self) -> Result<Vec<PipelineSummary>, MetadataStoreError>;

    /// The runs of the pipeline named `pipeline` (or of every pipeline), newest first: by
    /// start time, descending, then by name, descending. An unknown pipeline is
    /// [`MetadataStoreError::NotFound`].
    fn list_runs(&self, pipeline: Option<&str>) -> Result<Vec<RunRecord>, MetadataStoreError>;

    /// A page of the runs that pass `query`'s filters, in its order, with how many pass in
    /// all. An unknown pipeline is [`MetadataStoreError::NotFound`]; an offset past
    /// [`MAX_OFFSET`] or a limit past [`MAX_LIMIT`] is [`MetadataStoreError::InvalidQuery`]
    /// (deeper pages are reached by [`query_runs_after`](Self::query_runs_after)).
    ///
    /// The provided implementation reads every run with [`list_runs`](Self::list_runs)
    /// and the step runs of the page with [`step_runs`](Self::step_runs); a store that
    /// can filter, count and page in its database (the SQL flavors do) should override it,
    /// since a dashboard asks for pages of a store holding many runs.
    fn query_runs(&self, query: &RunQuery) -> Result<RunPage, MetadataStoreError> {
        provided::query_runs(self, query, None)
    }

    /// The page of runs that follow `after` in `query`'s order, past `query.offset` more:
    /// keyset pagination, whose every page costs what the first does, however deep (what
    /// `zenml run list --all` follows). The total is as [`query_runs`](Self::query_runs)
    /// counts it, the cursor aside.
    ///
    /// The provided implementation reads every run with [`list_runs`](Self::list_runs); a
    /// store that pages in its database should override it.
    fn query_runs_after(
        &self,
        query: &RunQuery,
        after: &RunCursor,
    ) -> Result<RunPage, MetadataStoreError> {
        provided::query_runs(self, query, Some(after))
    }

    /// A page of the artifacts that pass `query`'s filters, in its order, with how many
    /// pass in all (counted up to [`COUNT_CAP`]) and where the next page starts. An unknown
    /// pipeline is [`MetadataStoreError::NotFound`]; an offset past [`MAX_OFFSET`] or a
    /// limit past [`MAX_LIMIT`] is [`MetadataStoreError::InvalidQuery`].
    ///
    /// The provided implementation reads every artifact with
    /// [`list_artifacts`](Self::list_artifacts) and filters them one by one; a store that
    /// can filter, count and page in its database (the SQL flavors do) should override it.
    fn query_artifacts(&self, query: &ArtifactQuery) -> Result<ArtifactPage, MetadataStoreError> {
        provided::query_artifacts(self, query)
    }

    /// The step metadata (metrics) of the newest `query.runs` runs of a pipeline, by run
    /// (oldest first, as a chart draws them), then step, then key: what a chart of a metric
    /// across runs reads, in one query however many runs the pipeline has. A cached step
    /// run contributes the metrics of its original. An unknown pipeline is
    /// [`MetadataStoreError::NotFound`]; more than [`MAX_LIMIT`] runs is
    /// [`MetadataStoreError::InvalidQuery`].
    ///
    /// The provided implementation reads every run of the pipeline with
    /// [`list_runs`](Self::list_runs), then the step runs and metadata of the newest; a store
    /// that can select them in its database should override it.
    fn pipeline_metrics(
        &self,
        query: &MetricQuery,
    ) -> Result<Vec<MetricPoint>, MetadataStoreError> {
        provided::pipeline_metrics(self, query)
    }

    /// A page of a run's step runs, in [`step_runs`](Self::step_runs)' order, with how many
    /// it has. An unknown run is [`MetadataStoreError::NotFound`]; an offset past
    /// [`MAX_OFFSET`] or a limit past [`MAX_LIMIT`] is [`MetadataStoreError::InvalidQuery`].
    ///
    /// The provided implementation pages [`step_runs`](Self::step_runs).
    fn step_runs_page(
        &self,
        run_id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<Page<StepRunRecord>, MetadataStoreError> {
        query::check_page_bounds("step runs", offset, limit)?;
        Ok(Page::of_all(self.step_runs(run_id)?, offset, limit))
    }

    /// A page of the step runs that consumed an artifact, in
    /// [`artifact_consumers`](Self::artifact_consumers)' order, with how many there are. An
    /// unknown artifact is [`MetadataStoreError::NotFound`]; an offset past [`MAX_OFFSET`] or
    /// a limit past [`MAX_LIMIT`] is [`MetadataStoreError::InvalidQuery`].
    ///
    /// The provided implementation pages [`artifact_consumers`](Self::artifact_consumers).
    fn artifact_consumers_page(
        &self,
        artifact_id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<Page<(String, StepRunRecord)>, MetadataStoreError> {
        query::check_page_bounds("consumers", offset, limit)?;
        Ok(Page::of_all(
            self.artifact_consumers(artifact_id)?,
            offset,
            limit,
        ))
    }

    /// The run with this id or, if there is none, with this name;
    /// [`MetadataStoreError::NotFound`] if there is neither.
    fn get_run(&self, name_or_id: &str) -> Result<RunRecord, MetadataStoreError>;

    /// The failed attempts of the steps of run `run_id` that were tried again, by step name
    /// and attempt.
    fn step_attempts(&self, run_id: &str) -> Result<Vec<StepAttemptRecord>, MetadataStoreError>;

    /// The step runs of a run, in the order they finished (ties by start time, then by
    /// name). An unknown run is [`MetadataStoreError::NotFound`].
    fn step_runs(&self, run_id: &str) -> Result<Vec<StepRunRecord>, MetadataStoreError>;

    /// The step run of step `name` in run `run_id`, if the step has one (a step has at most
    /// one step run in a run). An unknown run is [`MetadataStoreError::NotFound`].
    ///
    /// The provided implementation searches [`step_runs`](Self::step_runs); a store should
    /// answer it from an index, since a step process asks it for each of its upstream steps
    /// and the orchestrator once per step, whatever the run's size.
    fn step_run_named(
        &self,
        run_id: &str,
        name: &str,
    ) -> Result<Option<StepRunRecord>, MetadataStoreError> {
        Ok(self
            .step_runs(run_id)?
            .into_iter()
            .find(|step| step.name == name))
    }

    /// The step run with this id; [`MetadataStoreError::NotFound`] (`step run`) if there is
    /// none.
    fn get_step_run(&self, id: &str) -> Result<StepRunRecord, MetadataStoreError>;

    /// The inputs of a step run: input name and artifact, sorted by input name. An unknown
    /// step run is [`MetadataStoreError::NotFound`].
    fn step_inputs(
        &self,
        step_run_id: &str,
    ) -> Result<Vec<(String, ArtifactRecord)>, MetadataStoreError>;

    /// The outputs of a step run (new and reused): output name and artifact, sorted by output
    /// name. An unknown step run is [`MetadataStoreError::NotFound`].
    fn step_outputs(
        &self,
        step_run_id: &str,
    ) -> Result<Vec<(String, ArtifactRecord)>, MetadataStoreError>;

    /// The step runs that consumed the artifact as an input, in any run: input name and
    /// step run, oldest first (by start, then end, then step run id, then input name). A step
    /// run that consumed it under two input names appears twice. Empty for an artifact that
    /// nothing consumed; an unknown artifact is [`MetadataStoreError::NotFound`].
    fn artifact_consumers(
        &self,
        artifact_id: &str,
    ) -> Result<Vec<(String, StepRunRecord)>, MetadataStoreError>;

    /// The artifact with this id; [`MetadataStoreError::NotFound`] if there is none.
    fn get_artifact(&self, id: &str) -> Result<ArtifactRecord, MetadataStoreError>;

    /// The ids of every recorded artifact whose
    /// [`artifact_store_uri`](ArtifactRecord::artifact_store_uri) is exactly this one,
    /// sorted: what a pruner keeps when it deletes the unrecorded folders of an artifact
    /// store. Empty for a store that holds no recorded artifact.
    fn artifact_ids_in_store(
        &self,
        artifact_store_uri: &str,
    ) -> Result<Vec<String>, MetadataStoreError>;

    /// Every artifact, newest first (by `created_at`).
    fn list_artifacts(&self) -> Result<Vec<ArtifactRecord>, MetadataStoreError>;

    /// Every name under which artifacts are versioned, sorted, with its latest version.
    fn artifact_names(&self) -> Result<Vec<ArtifactName>, MetadataStoreError>;

    /// The versions of `name`, oldest (1) first, with their tags. A name never recorded is
    /// [`MetadataStoreError::NotFound`].
    ///
    /// Versions are given by [`record_step_run`](Self::record_step_run) to the new outputs
    /// its [`StepRunWrite::artifact_labels`] name: 1 for a new name, then one more than
    /// the name's latest, unique under concurrent writers (the step runs of a name get
    /// distinct, consecutive numbers in the order they commit).
    fn artifact_versions(&self, name: &str) -> Result<Vec<ArtifactVersion>, MetadataStoreError>;

    /// Version `version` of `name`, or its latest when `None`. An unknown name or version
    /// is [`MetadataStoreError::NotFound`].
    fn artifact_version(
        &self,
        name: &str,
        version: Option<u32>,
    ) -> Result<ArtifactVersion, MetadataStoreError>;

    /// The names, versions and tags of the given artifacts, by artifact id, sorted; an
    /// artifact with neither a name nor a tag (or unknown) is left out.
    fn artifact_labels(
        &self,
        artifact_ids: &[&str],
    ) -> Result<Vec<(String, ArtifactLabels)>, MetadataStoreError>;

    /// The metadata of a resource, sorted by key; empty for a resource without metadata,
    /// known or not.
    fn metadata(
        &self,
        resource: &Resource,
    ) -> Result<Vec<(String, serde_json::Value)>, MetadataStoreError>;

    /// The metadata of many step runs at once (to compare runs): `(step run id, key,
    /// value)`, grouped by step run in the order of `step_run_ids` (an id given twice counts
    /// once), each step run's entries sorted by key. A step run without metadata, known or
    /// not, contributes nothing. Any number of ids is accepted; a SQL flavor queries them in
    /// chunks.
    fn step_metadata_bulk(
        &self,
        step_run_ids: &[String],
    ) -> Result<Vec<(String, String, serde_json::Value)>, MetadataStoreError>;

    // ----- step caching -----------------------------------------------------------------

    /// The cache candidates for `cache_key`: step runs with status `completed` (not `cached`:
    /// a cached step run only points at the outputs of another) with exactly this cache key,
    /// not invalidated, newest first (by end, then start, then id), at most `limit`. The
    /// runner takes the first whose outputs still exist and verify. Fast with many step runs:
    /// the SQL flavors read only the matching entries, through an index.
    fn cache_candidates(
        &self,
        cache_key: &str,
        limit: usize,
    ) -> Result<Vec<StepRunRecord>, MetadataStoreError>;

    /// The cache entries, newest first (as [`cache_candidates`](Self::cache_candidates)),
    /// with their run and pipeline names: the step runs with status `completed`, a cache key
    /// and no invalidation, of the pipeline and step that `filter` names (where it does; a
    /// name that matches nothing gives an empty list).
    fn cache_entries(&self, filter: &CacheFilter) -> Result<Vec<CacheEntry>, MetadataStoreError>;

    /// A page of [`cache_entries`](Self::cache_entries), in its order: those after the
    /// entry `after` (keyset pagination), past `offset` more, at most `limit`, with how many
    /// entries the filter selects (counted up to [`COUNT_CAP`]). An offset past
    /// [`MAX_OFFSET`] or a limit past [`MAX_LIMIT`] is [`MetadataStoreError::InvalidQuery`].
    ///
    /// The provided implementation pages [`cache_entries`](Self::cache_entries); a store
    /// that can page in its database should override it.
    fn cache_entries_page(
        &self,
        filter: &CacheFilter,
        after: Option<&StepRunCursor>,
        offset: u64,
        limit: u64,
    ) -> Result<Page<CacheEntry>, MetadataStoreError> {
        query::check_page_bounds("cache entries", offset, limit)?;
        let mut entries = self.cache_entries(filter)?;
        let total = Total::capped(entries.len() as u64, COUNT_CAP);
        if let Some(cursor) = after {
            entries.retain(|entry| cursor.precedes_newer_first(&entry.step_run));
        }
        let mut page = Page::of_all(entries, offset, limit);
        page.total = total;
        Ok(page)
    }
}

/// The configuration of a metadata store flavor: deserialized from a TOML table whose
/// `flavor` key selects the implementation, it opens the store.
///
/// Declare an implementation with [`macro@zenml_core::flavor`].
#[typetag::serde(tag = "flavor")]
pub trait MetadataStoreFlavor: fmt::Debug + Send + Sync {
    /// Opens (and if needed creates and migrates) the store this configuration describes.
    fn open(
        &self,
        context: &ComponentContext,
    ) -> Result<Box<dyn MetadataStore>, MetadataStoreError>;
}

impl FlavorKind for dyn MetadataStoreFlavor {
    const KIND: ComponentKind = ComponentKind::MetadataStore;
}
