//! zenml-rs: ML pipelines on stacks of orchestrators, metadata stores and artifact stores.
//!
//! This is the crate users depend on. It re-exports the component crates and decides which
//! flavor crates are linked: the built-in flavors always, the integrations behind cargo
//! features (`mysql`).
//!
//! # Linked flavors
//!
//! Flavors register themselves at link time, and the linker drops a crate that nothing
//! references. [`linked_flavor_crates`] is the one place that references every flavor crate
//! of this build, behind the same `cfg`s as the dependencies; binaries call it (the CLI does,
//! in `zenml_cli::run`) so that every registration survives. A binary that links a
//! third-party flavor crate references it itself: `use my_flavor_crate as _;`.

pub use zenml_artifact_store as artifact_store;
pub use zenml_core as core;
pub use zenml_materializer as materializer;
pub use zenml_metadata_store as metadata_store;
pub use zenml_orchestrator as orchestrator;
pub use zenml_stack as stack;

#[cfg(feature = "mysql")]
pub use zenml_mysql as mysql;

/// The flavor crates linked into this build, sorted. Calling it keeps their registrations.
pub fn linked_flavor_crates() -> &'static [&'static str] {
    // Each `use … as _` makes the crate part of the link even when nothing else names it.
    #[cfg(feature = "mysql")]
    #[allow(unused_imports)]
    use zenml_mysql as _;
    #[allow(unused_imports)]
    use {zenml_artifact_store as _, zenml_metadata_store as _, zenml_orchestrator as _};

    &[
        "zenml-artifact-store",
        "zenml-metadata-store",
        #[cfg(feature = "mysql")]
        "zenml-mysql",
        "zenml-orchestrator",
    ]
}
