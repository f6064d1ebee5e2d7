//! Example pipelines of zenml-rs, run as cargo examples from the repository root:
//!
//! - `cargo run --example quickstart`: a three-step pipeline on the default stack; it
//!   creates `.zen/` in the current folder when there is no repository yet.
//! - `cargo run --example training -- [--config run.toml] [--no-cache]`: load → split →
//!   train → evaluate, with parameters and metrics.
//!
//! This library holds what the examples share.

use std::path::Path;

use zenml::stack::{Repository, RepositoryError};

/// The repository around the working directory, created (with the default stack) in the
/// working directory when there is none.
pub fn ensure_repository() -> Result<Repository, RepositoryError> {
    let cwd = std::env::current_dir().map_err(|source| RepositoryError::Io {
        action: "cannot read the current folder",
        path: Path::new(".").to_path_buf(),
        source,
    })?;
    match Repository::discover(&cwd) {
        Ok(repo) => Ok(repo),
        Err(RepositoryError::NotARepository { .. }) => match Repository::init(&cwd) {
            Ok(repo) => {
                eprintln!(
                    "Created a zenml repository in `{}` with the default stack (local orchestrator, SQLite metadata, local artifacts).",
                    repo.root().display()
                );
                Ok(repo)
            }
            // Another process created it a moment ago: use that one.
            Err(RepositoryError::AlreadyInitialized { .. }) => Repository::discover(&cwd),
            Err(other) => Err(other),
        },
        Err(other) => Err(other),
    }
}
