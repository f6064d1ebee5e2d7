//! The shared vocabulary of zenml-rs.
//!
//! Every other crate speaks in these terms:
//!
//! - [`ComponentKind`]: the four kinds of stack component (orchestrator, metadata store,
//!   artifact store, materializer).
//! - [`FlavorDescription`] and [`FlavorRegistry`]: every flavor registers a description of
//!   itself at link time (through [`inventory`]); the registry lists them sorted and rejects
//!   duplicate names. A flavor is declared once, with the [`flavor`] attribute on the
//!   implementation of its kind's trait, and its configuration fields are described by
//!   [`derive@ConfigFields`].
//! - [`ConfigError`]: what goes wrong with user-supplied configuration, worded for the user.
//! - [`Name`]: validated names of components, stacks, pipelines and steps.
//! - [`Dag`]: the dependency graph of a pipeline's steps, shared by orchestrators and the
//!   pipeline runner.
//!
//! **Architecture Invariant:** this crate knows no flavor and no kind's trait. It must stay
//! small enough that a third-party flavor crate can depend on it without cost.

mod context;
mod dag;
mod error;
pub mod flavor;
mod kind;
mod name;
mod secret;
pub mod time;
mod toml_error;

pub use context::ComponentContext;
pub use dag::{Dag, DagError, DagNode};
pub use error::{ConfigError, error_chain};
pub use flavor::{
    ConfigField, ConfigFields, FieldKind, FlavorDescription, FlavorKind, FlavorRegistry,
    RegistryError, ValidateConfig,
};
pub use kind::ComponentKind;
pub use name::{MAX_NAME_LEN, Name, NameError};
pub use secret::SecretString;
pub use toml_error::{TomlLocation, parse_toml_file};

/// Declares a flavor: put it on the `impl` of a kind's flavor trait for a config struct.
///
/// ```text
/// #[zenml_core::flavor(
///     name = "local",
///     description = "Artifacts in a folder on this machine",
///     example = r#"path = ".zen/artifacts""#,
/// )]
/// impl ArtifactStoreFlavor for LocalConfig { /* … */ }
/// ```
///
/// It expands to typetag's `#[typetag::serde(name = "local")]` on the `impl` (so the
/// `flavor = "local"` key of a TOML table selects this config type) and an
/// [`inventory`] submission of a [`FlavorDescription`] with the same name, the kind taken
/// from the trait ([`FlavorKind`]), the crate that declares it, the example and the
/// config fields ([`ConfigFields`]). The config type must derive [`derive@ConfigFields`],
/// `serde::Deserialize` and `serde::Serialize`, and implement [`ValidateConfig`]; the crate
/// must depend on `typetag` directly.
pub use zenml_macros::flavor;

/// Derives [`trait@ConfigFields`] from a config struct: each field's name, Rust type, kind,
/// whether it is required, its default (from `#[serde(default)]` or
/// `#[serde(default = "…")]`) and its `///` documentation. Mark a field that holds a secret
/// with `#[config(secret)]`: it is kept out of definition files and redacted in output.
pub use zenml_macros::ConfigFields;

#[doc(hidden)]
pub mod __private {
    pub use inventory;
    pub use toml;
}
