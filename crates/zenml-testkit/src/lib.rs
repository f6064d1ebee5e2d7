//! Conformance suites for zenml-rs flavor crates: one suite per component kind, which every
//! flavor runs on itself. **Not semver-stable**: checks are added, renamed and tightened as
//! the contracts are; pin the exact version you test against.
//!
//! Each kind has a module with the same shape:
//!
//! - [`metadata_store`], [`artifact_store`], [`orchestrator`]: `pub fn`s over the kind's
//!   trait object (`&dyn MetadataStore`, …), one per check, that **panic** on a violation
//!   like an assertion does, so they can be called from a `#[test]` directly; and a
//!   `run_all` entry point that runs every check, catches the panics and returns a
//!   [`SuiteReport`]: check group → check → passed / failed (message) / skipped (reason).
//! - [`materializer`]: typed round-trip checks of the built-in materializers, the generic
//!   [`materializer::check_materializer`] for a crate's own materializer, and `run_all` over
//!   every registered Rust type.
//!
//! A flavor crate adds the testkit as a dev-dependency (`default-features = false` skips
//! the matrix runner's dependencies) and runs its suite in a test:
//!
//! ```no_run
//! // tests/testkit.rs of a metadata store flavor crate, in a `#[test]` function:
//! # use std::sync::Arc;
//! # use std::time::Duration;
//! # use zenml_metadata_store::MetadataStore;
//! # use zenml_sqlite::SqliteMetadataStore;
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("metadata.db");
//! let open = || -> Arc<dyn MetadataStore> {
//!     Arc::new(SqliteMetadataStore::open(&path, Duration::from_secs(30)).unwrap())
//! };
//! let report = zenml_testkit::metadata_store::run_all(&open);
//! report.assert_passed(); // panics listing every failed check with its message
//! assert!(report.skips().is_empty(), "{:?}", report.skips());
//! ```
//!
//! A third-party flavor crate may call the suites from any test. The kind crates of this
//! repository, which the testkit itself depends on, call them from integration tests
//! (`tests/testkit.rs`): in their `#[cfg(test)]` modules the crate is a second copy, whose
//! types are not the ones the testkit's trait objects name.
//!
//! The `zenml-flavor-matrix` binary (feature `runner`, on by default; run it through
//! `cargo xtask test-flavors`) opens every flavor linked into the `zenml` facade from a test
//! configuration, runs its kind's suite and prints a flavor × check-group matrix; see
//! [`matrix`].

pub mod artifact_store;
pub mod certificates;
pub mod fault_proxy;
pub mod mariadb;
pub mod materializer;
pub mod matrix;
pub mod metadata_store;
pub mod orchestrator;
pub mod postgres;
mod report;
pub mod services;

pub use report::{CheckReport, GroupReport, Outcome, SuiteReport, not_applicable, run_check, skip};
