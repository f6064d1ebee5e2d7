//! Example pipelines of zenml-rs, run as cargo examples from the repository root:
//!
//! - `cargo run --example quickstart`: a three-step pipeline on the default stack; it
//!   creates `.zen/` in the current folder when there is no repository yet.
//! - `cargo run --example training -- [--config run.toml] [--no-cache]`: load → split →
//!   train → evaluate, with parameters and metrics.
//!
//! This library holds what the examples share.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use zenml::pipeline::{Invocation, Pipeline};
use zenml::stack::{Repository, RepositoryError};

/// How many steps an example of adjustable size has: the whole number in environment
/// variable `var`, or `default` when it is unset. The variable reaches the steps' processes
/// too (the `process` and `slurm` orchestrators), so that they build the same pipeline.
pub fn size_from_env(var: &str, default: u64) -> Result<u64, String> {
    match std::env::var(var) {
        Err(std::env::VarError::NotPresent) => Ok(default),
        Ok(text) => match text.trim().parse::<u64>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(format!(
                "environment variable `{var}` is `{text}`, not a whole number of steps from 1"
            )),
        },
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(format!("environment variable `{var}` is not text"))
        }
    }
}

/// Runs `pipeline` from the command line; a whole run also prints its wall time and the
/// time per step, measured inside the process (opening the stack, recording the run, every
/// step's artifact and record): `NAME: run `RUN` of N steps in T ms (P ms per step)`. One
/// step of a run (as the `process` orchestrator starts it), `--help` and `--version` are the
/// program's ordinary command line, without the timing line.
pub fn run_timed(name: &str, pipeline: Pipeline) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !matches!(pipeline.parse_args(args.clone()), Ok(Invocation::Run(_))) {
        return pipeline.run_from_args();
    }
    let started = Instant::now();
    match pipeline.run_with_args(args) {
        Ok(outcome) => {
            let elapsed = started.elapsed().as_secs_f64() * 1000.0;
            let steps = outcome.steps.len();
            println!(
                "{name}: run `{}` of {steps} steps in {elapsed:.1} ms ({:.2} ms per step)",
                outcome.run.name,
                elapsed / steps.max(1) as f64
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

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
