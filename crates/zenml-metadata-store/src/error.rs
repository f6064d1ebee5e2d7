//! The metadata store error type.

use std::path::PathBuf;

/// What can go wrong in a metadata store. Each backend maps its own failures into these
/// variants; [`MetadataStoreError::Backend`] carries the backend's error as its source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataStoreError {
    /// The store's configuration cannot be used.
    #[error("invalid metadata store configuration: {0}")]
    Config(String),
    /// A local file system operation failed.
    #[error("{action} `{}`: {source}", path.display())]
    Io {
        /// What was being done, e.g. `cannot create the database folder`.
        action: &'static str,
        /// The local path involved.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The database could not be opened or reached.
    #[error("cannot open metadata store `{uri}`: {source}")]
    Connect {
        /// The store's URI (never with a password).
        uri: String,
        /// Why.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The database was written by a newer zenml whose schema this one does not know.
    #[error(
        "the metadata database has schema version {found}, but this zenml supports versions up \
         to {supported}; upgrade zenml to use this database (it was not modified)"
    )]
    SchemaTooNew {
        /// The version recorded in the database.
        found: u32,
        /// [`crate::schema::SCHEMA_VERSION`].
        supported: u32,
    },
    /// A schema migration failed; it is not recorded as applied.
    #[error("cannot apply metadata schema migration {version}: {message}")]
    Migration {
        /// The migration's version.
        version: u32,
        /// What failed.
        message: String,
    },
    /// No record with this name or id.
    #[error("no {what} `{key}` in the metadata store")]
    NotFound {
        /// What was looked for, e.g. `run` or `artifact`.
        what: &'static str,
        /// The name or id asked for.
        key: String,
    },
    /// A run name that another run already has.
    #[error("a run named `{name}` already exists; choose another run name")]
    DuplicateRunName {
        /// The name.
        name: String,
    },
    /// A record that the store cannot keep as given, e.g. a name longer than the schema allows
    /// (every SQL flavor refuses the same records, before writing anything).
    #[error("cannot record {what}: {message}")]
    InvalidRecord {
        /// What was being recorded, e.g. `run`.
        what: &'static str,
        /// What is wrong and what is valid.
        message: String,
    },
    /// A query the store refuses as asked (a page too deep or too large): the message says
    /// what is allowed and what to do instead.
    #[error("{message}")]
    InvalidQuery {
        /// What is wrong and what is valid.
        message: String,
    },
    /// A value in the database that this program cannot read (e.g. an unknown status).
    #[error("unreadable {what} in the metadata store: {message}")]
    Corrupt {
        /// What was being read.
        what: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A backend-specific failure.
    #[error("{store} metadata store: {source}")]
    Backend {
        /// The flavor, e.g. `sqlite`.
        store: &'static str,
        /// The backend's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}
