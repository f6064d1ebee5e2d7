//! zenml-rs: ML pipelines on stacks of orchestrators, metadata stores and artifact stores.
//!
//! This is the crate users depend on. It re-exports the component crates and decides which
//! flavor crates are linked: the built-in flavors always, the integrations behind cargo
//! features (`mysql`, `postgres`; `s3`, `gcs`, `azure`; `slurm`).
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
pub use zenml_pipeline as pipeline;
pub use zenml_stack as stack;

/// The `log` crate, whose records a step emits while it runs in the driver's process are
/// kept as the step's logs (`zenml step logs RUN STEP`) and printed on standard error; see
/// [`pipeline::logs`].
pub use log;

/// Turns a function into a pipeline step.
///
/// ```text
/// #[step]                                   // one output, named `output`
/// fn load(rows: Param<u32>) -> Vec<f64> { … }
///
/// #[step(outputs(train, test))]             // several named outputs: return a tuple
/// fn split(data: Vec<f64>, ratio: Param<f64>) -> (Vec<f64>, Vec<f64>) { … }
///
/// #[step(version = "2", enable_cache = false, materializers(model = ModelMaterializer))]
/// fn train(ctx: &StepContext, train: Vec<f64>) -> Result<Model, MyError> { … }
///
/// #[step(resources(cpus = 8, memory = "32G", gpus = 1))]   // what its machine must offer
/// fn fit(data: Vec<f64>) -> Model { … }
/// ```
///
/// Arguments of type `Param<T>` are parameters (a `T` with a default in the pipeline's
/// code, overridable from the run configuration); `&StepContext` gives the step's context
/// (for logging metadata); every other argument is an input artifact. Called inside a
/// `#[pipeline]`, a step takes the parameters' defaults and typed `Output<T>` handles for
/// its inputs, and returns handles to its outputs, so wiring an output into an input of
/// another type does not compile. A step may return a value, a tuple of values (one per
/// `outputs(…)` name) or a `Result` of those. `version` invalidates the cache when code
/// outside the function changes; `materializers(name = Type)` names the materializer of an
/// input or output instead of the one chosen by its type. `resources(…)` says what the step
/// needs (cores, memory as `512M`/`16G`, GPUs); a run configuration's
/// `[steps.NAME.resources]` replaces it key by key, and orchestrators that place steps on
/// machines reserve it. Resources are not part of the cache key.
pub use zenml_macros::step;

/// Turns a function whose body calls steps into a constructor of a
/// [`Pipeline`](pipeline::Pipeline): `#[pipeline] fn training() { … }` gives
/// `fn training() -> Pipeline`. Options: `name = "…"` (default: the function's name) and
/// `enable_cache = false`.
pub use zenml_macros::pipeline;

/// What a pipeline program needs: `use zenml::prelude::*;`.
pub mod prelude {
    pub use crate::pipeline::{
        Client, Collected, Output, Param, Pipeline, RunConfig, RunOptions, StepContext, StepError,
    };
    pub use crate::{pipeline, step};
}

/// The `ndarray` crate whose arrays are stored as NumPy `.npy` artifacts (feature
/// `ndarray`): use this re-export, so that your arrays are the type the materializer is
/// registered for.
#[cfg(feature = "ndarray")]
pub use zenml_materializer::ndarray;
/// The Arrow crates whose `RecordBatch`es are stored as Parquet artifacts (feature
/// `arrow`).
#[cfg(feature = "arrow")]
pub use zenml_materializer::{arrow_array, arrow_schema};
#[cfg(feature = "mysql")]
pub use zenml_mysql as mysql;
#[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
pub use zenml_object_store as object_store;
/// The `postgres` metadata store flavor (feature `postgres`).
#[cfg(feature = "postgres")]
pub use zenml_postgres as postgres;
/// The `slurm` orchestrator flavor (feature `slurm`).
#[cfg(feature = "slurm")]
pub use zenml_slurm as slurm;
/// The `sqlite` metadata store flavor (feature `sqlite`, on by default).
#[cfg(feature = "sqlite")]
pub use zenml_sqlite as sqlite;

/// The flavor crates linked into this build, sorted. Calling it keeps their registrations.
pub fn linked_flavor_crates() -> &'static [&'static str] {
    // Each `use … as _` makes the crate part of the link even when nothing else names it.
    #[cfg(feature = "mysql")]
    #[allow(unused_imports)]
    use zenml_mysql as _;
    #[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
    #[allow(unused_imports)]
    use zenml_object_store as _;
    #[cfg(feature = "postgres")]
    #[allow(unused_imports)]
    use zenml_postgres as _;
    #[cfg(feature = "slurm")]
    #[allow(unused_imports)]
    use zenml_slurm as _;
    #[cfg(feature = "sqlite")]
    #[allow(unused_imports)]
    use zenml_sqlite as _;
    #[allow(unused_imports)]
    use {zenml_artifact_store as _, zenml_orchestrator as _};

    &[
        "zenml-artifact-store",
        #[cfg(feature = "mysql")]
        "zenml-mysql",
        #[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
        "zenml-object-store",
        "zenml-orchestrator",
        #[cfg(feature = "postgres")]
        "zenml-postgres",
        #[cfg(feature = "slurm")]
        "zenml-slurm",
        #[cfg(feature = "sqlite")]
        "zenml-sqlite",
    ]
}
