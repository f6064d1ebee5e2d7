//! The materializer error types.

use std::path::PathBuf;

/// What can go wrong when saving or loading a value. Every variant about a value names the
/// materializer (`id`) and the Rust type it stores.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MaterializerError {
    /// A file system operation failed.
    #[error("{action} `{}`: {source}", path.display())]
    Io {
        /// What was being done, e.g. `cannot write`.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The folder lacks a file the materializer reads: it was written by another
    /// materializer, or not completely.
    #[error(
        "materializer `{id}` cannot load a value of type `{rust_type}`: `{}` does not exist; {}",
        file.display(), found_text(found)
    )]
    MissingFile {
        /// The materializer.
        id: &'static str,
        /// The Rust type it loads.
        rust_type: &'static str,
        /// The missing file.
        file: PathBuf,
        /// Names of what the folder holds instead, sorted (at most ten).
        found: Vec<String>,
    },
    /// The data is not a value of the expected type in this materializer's format.
    #[error(
        "materializer `{id}` cannot load a value of type `{rust_type}` from `{}`: {message}",
        file.display()
    )]
    Mismatch {
        /// The materializer.
        id: &'static str,
        /// The Rust type it loads.
        rust_type: &'static str,
        /// The file that does not match.
        file: PathBuf,
        /// What does not match.
        message: String,
    },
    /// The value cannot be stored exactly by this materializer.
    #[error("materializer `{id}` cannot save this value of type `{rust_type}`: {message}")]
    Unsupported {
        /// The materializer.
        id: &'static str,
        /// The Rust type it saves.
        rust_type: &'static str,
        /// Why not.
        message: String,
    },
    /// A materializer-specific failure.
    #[error("materializer `{id}`: {source}")]
    Backend {
        /// The materializer.
        id: &'static str,
        /// The materializer's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

fn found_text(found: &[String]) -> String {
    if found.is_empty() {
        "the folder is empty".to_owned()
    } else {
        format!("the folder holds: {}", found.join(", "))
    }
}

/// Why the materializer registry is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MaterializerRegistryError {
    /// Two registrations claim the same Rust type.
    #[error(
        "Rust type `{rust_type}` has two registered materializers: `{first_id}` from crate \
         `{first_source}` and `{second_id}` from crate `{second_source}`; remove one of the \
         two registrations"
    )]
    DuplicateType {
        /// The Rust type, as written in the registrations.
        rust_type: &'static str,
        /// The first materializer's id.
        first_id: &'static str,
        /// The crate of the first registration.
        first_source: &'static str,
        /// The second materializer's id.
        second_id: &'static str,
        /// The crate of the second registration.
        second_source: &'static str,
    },
}
