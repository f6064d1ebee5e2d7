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
