//! The metadata store: where zenml records what ran.
//!
//! [`MetadataStore`] is the contract every flavor implements; [`MetadataStoreFlavor`] is the
//! trait a flavor's configuration implements to open one. The SQL flavors share one schema,
//! kept in [`schema`] as an ordered list of migrations that every SQL dialect accepts. This
//! crate ships the `sqlite` flavor ([`SqliteMetadataStore`]), a database file on this
//! machine; the `mysql` flavor lives in the `zenml-mysql` integration crate.
//!
//! What a store records is in [`model`]. The SQL flavors share their queries too: [`sql`]
//! implements every operation on a connection that a flavor provides.

pub mod conformance;
mod error;
pub mod model;
pub mod schema;
pub mod sql;
mod sqlite;

use std::fmt;

use zenml_core::{ComponentContext, ComponentKind, FlavorKind};

pub use error::MetadataStoreError;
pub use model::{
    ArtifactRecord, MetadataEntry, Millis, NewRun, PipelineRecord, PipelineSummary, Resource,
    RunRecord, RunStatus, StepRunRecord, StepRunWrite, StepStatus,
};
pub use sqlite::{SqliteMetadataStore, SqliteMetadataStoreConfig};

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
/// [`conformance`] checks much of this on a store.
pub trait MetadataStore: fmt::Debug + Send + Sync {
    /// A URI naming this store's database, e.g. `sqlite:///home/me/project/.zen/metadata.db`
    /// or `mysql://zenml@db.example.com:3306/zenml`. Two stores with the same URI hold the
    /// same records. Never contains a password.
    fn uri(&self) -> String;

    /// The schema version recorded in the database; [`schema::SCHEMA_VERSION`] for a store
    /// opened by this program, unless a newer one has migrated it since.
    fn schema_version(&self) -> Result<u32, MetadataStoreError>;

    // ----- writing ----------------------------------------------------------------------

    /// Records a run that starts now, with status `running`, creating its pipeline on the
    /// pipeline's first run. A name already used by another run is
    /// [`MetadataStoreError::DuplicateRunName`]. Returns the run as recorded.
    fn create_run(&self, run: &NewRun) -> Result<RunRecord, MetadataStoreError>;

    /// Records the end of a run: its final status, when it ended and, for a failed run, why.
    /// An unknown run is [`MetadataStoreError::NotFound`].
    fn finish_run(
        &self,
        run_id: &str,
        status: RunStatus,
        ended_at: Millis,
        error: Option<&str>,
    ) -> Result<(), MetadataStoreError>;

    /// Records a finished step run with its input links, its new output artifacts, its reused
    /// outputs and its metadata, **in one transaction**: a reader sees all of it or none.
    ///
    /// An unknown run, or an input or reused output naming an unknown artifact, is
    /// [`MetadataStoreError::NotFound`]; a step name already recorded in the run fails; a new
    /// output whose producer is not this step run is [`MetadataStoreError::InvalidRecord`].
    /// In every case of failure nothing is recorded.
    fn record_step_run(&self, write: &StepRunWrite) -> Result<(), MetadataStoreError>;

    /// Records metadata entries (replacing earlier values of the same resource and key), all
    /// or none. The resources are not checked to exist.
    fn log_metadata(&self, entries: &[MetadataEntry]) -> Result<(), MetadataStoreError>;

    // ----- reading ----------------------------------------------------------------------

    /// Every pipeline, sorted by name, with its run count and newest run (as in
    /// [`list_runs`](Self::list_runs)).
    fn list_pipelines(&self) -> Result<Vec<PipelineSummary>, MetadataStoreError>;

    /// The runs of the pipeline named `pipeline` (or of every pipeline), newest first: by
    /// start time, descending, then by name, descending. An unknown pipeline is
    /// [`MetadataStoreError::NotFound`].
    fn list_runs(&self, pipeline: Option<&str>) -> Result<Vec<RunRecord>, MetadataStoreError>;

    /// The run with this id or, if there is none, with this name;
    /// [`MetadataStoreError::NotFound`] if there is neither.
    fn get_run(&self, name_or_id: &str) -> Result<RunRecord, MetadataStoreError>;

    /// The step runs of a run, in the order they finished (ties by start time, then by
    /// name). An unknown run is [`MetadataStoreError::NotFound`].
    fn step_runs(&self, run_id: &str) -> Result<Vec<StepRunRecord>, MetadataStoreError>;

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

    /// The artifact with this id; [`MetadataStoreError::NotFound`] if there is none.
    fn get_artifact(&self, id: &str) -> Result<ArtifactRecord, MetadataStoreError>;

    /// Every artifact, newest first (by `created_at`).
    fn list_artifacts(&self) -> Result<Vec<ArtifactRecord>, MetadataStoreError>;

    /// The metadata of a resource, sorted by key; empty for a resource without metadata,
    /// known or not.
    fn metadata(
        &self,
        resource: &Resource,
    ) -> Result<Vec<(String, serde_json::Value)>, MetadataStoreError>;
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
