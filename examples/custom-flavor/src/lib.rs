//! Acme's flavors for zenml-rs: an example of a flavor crate written outside the zenml-rs
//! repository.
//!
//! It declares one artifact store flavor, `acme.mirror` ([`MirrorArtifactStoreConfig`]): a
//! folder on this machine whose every object is also written to a second folder, the
//! mirror. Reads come from the primary folder and fall back to the mirror, which heals the
//! primary.
//!
//! Flavors register at link time, so a program sees them only if it references this crate.
//! The `acme-zenml` binary (`src/bin/acme-zenml.rs`) is the whole `zenml` command line plus
//! these flavors:
//!
//! ```text
//! use acme_zenml_flavors as _;
//!
//! fn main() -> std::process::ExitCode {
//!     zenml_cli::run()
//! }
//! ```

mod mirror;

pub use mirror::{MirrorArtifactStore, MirrorArtifactStoreConfig};
