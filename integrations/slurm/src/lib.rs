//! The `slurm` orchestrator flavor: every step of a run is a Slurm batch job running the
//! pipeline's program in its step mode, with the step's resources as Slurm options.
//!
//! Steps are submitted as they become ready (their upstream steps succeeded), not all at
//! once with `--dependency=afterok:…`: the run's own scheduler then decides what runs, so
//! caching, retries and the skipping of dependants behave exactly as on every other
//! orchestrator, and a step's record is read as soon as its job ends. The cost is one
//! scheduling hop per step, which Slurm's `afterok` would pay too (its scheduler ticks each
//! second).

mod config;
mod job;

pub use config::SlurmOrchestratorConfig;
pub use job::{JobEnd, SlurmOrchestrator};
