//! The `.zen/` repository: registered components, stacks and the active stack.
//!
//! A repository is a folder with a `.zen/` directory, found like git finds `.git/`: by
//! walking up from the working directory (`ZENML_REPOSITORY_PATH` overrides the search).
//! It holds:
//!
//! - `.zen/config.toml`: every component and stack definition and the active stack, in one
//!   human-readable TOML file. Every command replaces it atomically (write a temporary file,
//!   then rename), so a failed or interrupted command leaves it as it was.
//! - `.zen/secrets.toml` (mode 0600): secret config values (passwords given literally),
//!   which never enter `config.toml`, listings or exports.
//!
//! Every definition is checked against the [`zenml_core::FlavorRegistry`] before it is
//! written, so `config.toml` only ever holds configurations that the linked flavors accept.
//! [`open_stack`] turns a stack definition into working components.
//!
//! **Architecture Invariant:** this crate knows flavors only through the registry and the
//! kinds' traits; it never names a flavor's type. (The default stack names the built-in
//! flavors `local` and `sqlite` by their registered names.)

mod error;
mod export;
mod file;
mod open;
mod repository;
mod secrets;
#[cfg(test)]
mod tests;

pub use error::RepositoryError;
pub use export::{ExportedComponent, StackExport};
pub use open::{OpenStack, open_stack};
pub use repository::{
    ActiveStackSource, ComponentDefinition, ImportReport, REPOSITORY_PATH_ENV, Repository,
    STACK_ENV, StackDefinition, ZEN_DIR,
};
