//! The artifact store error type.

use std::path::PathBuf;

use crate::ObjectPathError;

/// What can go wrong in an artifact store. Each backend maps its own failures into these
/// variants; [`ArtifactStoreError::Backend`] carries the backend's error as its source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArtifactStoreError {
    /// No object at this key.
    #[error("artifact store object `{path}` does not exist")]
    NotFound {
        /// The key.
        path: String,
    },
    /// A [`PutMode::Create`](crate::PutMode::Create) write found an object at its key; the
    /// existing object was left untouched.
    #[error("artifact store object `{path}` already exists and is never overwritten")]
    AlreadyExists {
        /// The key.
        path: String,
    },
    /// A read asked for a byte range the object does not have.
    #[error("artifact store object `{path}` has {size} bytes; {range} is not a readable range")]
    InvalidRange {
        /// The key.
        path: String,
        /// The requested range, described.
        range: String,
        /// The object's size.
        size: u64,
    },
    /// Streaming an object's bytes failed part way, or ended before all of them arrived.
    #[error("cannot read artifact store object `{path}`: {source}")]
    Read {
        /// The key.
        path: String,
        /// The failure.
        source: std::io::Error,
    },
    /// A key that is not a valid object path.
    #[error(transparent)]
    InvalidPath(#[from] ObjectPathError),
    /// The store's configuration cannot be used.
    #[error("invalid artifact store configuration: {0}")]
    Config(String),
    /// A local file system operation failed.
    #[error("{action} `{}`: {source}", path.display())]
    Io {
        /// What was being done, e.g. `cannot write`.
        action: &'static str,
        /// The local path involved.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A backend-specific failure.
    #[error("{store} artifact store: {source}")]
    Backend {
        /// The flavor, e.g. `s3`.
        store: &'static str,
        /// The backend's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}
