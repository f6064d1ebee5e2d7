//! Pipelines and steps: building the DAG, running it on a stack, materializing outputs into
//! the artifact store, recording everything in the metadata store, and reading it back.
//!
//! Users write steps with `#[step]` and pipelines with `#[pipeline]` (from the facade
//! crate `zenml`); those macros expand into calls of this crate's builder. A run:
//!
//! 1. resolves the run configuration (defaults in code, overrides from TOML) and records
//!    the run with its resolved configuration and a stack snapshot (secrets redacted);
//! 2. hands the DAG to the stack's orchestrator;
//! 3. for each step, loads its inputs (verifying their hashes), calls the function,
//!    materializes each output into a fresh temporary folder, publishes it under
//!    `<pipeline>/<step>/<output>/<artifact id>/` in the artifact store, and only then
//!    records the step run, its outputs and links in one metadata transaction.
//!
//! [`Client`] reads it all back.

pub mod artifact_io;
mod artifact_view;
mod attempts;
mod builder;
mod cache;
mod cancel;
mod client;
pub mod compare;
mod config;
mod drive;
mod entrypoint;
mod finite;
mod last_error;
pub mod lineage;
pub mod logs;
mod outputs;
mod pipeline;
mod program;
pub mod prune;
mod runner;
mod select;
mod spec;
mod step;
pub mod type_key;
mod verify;

pub use artifact_view::ArtifactView;
pub use attempts::job_key;
pub use builder::{DeclaredResources, InputSpec, OutputOptions, OutputSpec, ParamSpec, StepNode};
pub use cancel::CancelReport;
pub use client::{Client, ClientError, RunView, StepView};
pub use compare::{PipelineComparison, RunComparison};
pub use config::{
    DEFAULT_RUN_NAME, ResolvedConfig, ResolvedStep, ResourcesConfig, RunConfig, StepConfig,
};
pub use drive::{CANCEL_ACKNOWLEDGED, DRIVE_OPTION};
pub use entrypoint::{ATTEMPT_OPTION, RUN_OPTION, STEP_OPTION};
pub use lineage::{Lineage, LineageNode};
pub use logs::StepLogs;
pub use pipeline::{LEASE_ENV, Pipeline, RunError, RunOptions, RunOutcome};
pub use program::Invocation;
pub use prune::{PruneOptions, PrunePlan, PruneReport};
pub use spec::{InputWiring, OutputDeclaration, PipelineSpec, StepSpec};
pub use step::{Collected, IntoStepResult, Output, Param, StepContext, StepError};
pub use verify::{ArtifactSelection, Verification};
/// Formatting of times and durations for people (from `zenml_core`).
pub use zenml_core::time;

/// What `#[step]` and `#[pipeline]` expand into; not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::builder::StepBuilder;
    pub use crate::runner::StepInvocation;
    pub use crate::select::{BoxedMaterializer, Select, ViaDefault, ViaSerde, explicit};
    pub use serde_json;
}
