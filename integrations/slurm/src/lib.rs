//! The `slurm` orchestrator flavor: every step of a run is a Slurm batch job running the
//! pipeline's program in its step mode, with the step's resources as Slurm options.
//!
//! Steps are submitted as they become ready (their upstream steps succeeded), not all at
//! once with `--dependency=afterok:…`: the run's own scheduler then decides what runs, so
//! caching, retries and the skipping of dependants behave exactly as on every other
//! orchestrator, and a step's record is read as soon as its job ends. The cost is one
//! scheduling hop per step, which Slurm's `afterok` would pay too (its scheduler ticks each
//! second).
//!
//! A step's `[steps.NAME.settings.slurm]` ([`SlurmJobSettings`]) replaces the
//! orchestrator's partition, time limit, account and qos for its job, and adds extra
//! `sbatch` arguments. With `--detach`, the run's driver is itself a batch job (one CPU, no
//! time limit beyond the partition's) that submits the steps as they become ready; a
//! cancelled run's jobs are stopped with `scancel`.

mod config;
mod job;
mod settings;

pub use config::SlurmOrchestratorConfig;
pub use job::{JobEnd, SlurmOrchestrator};
pub use settings::SlurmJobSettings;
