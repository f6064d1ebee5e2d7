//! A diamond DAG (source → left, right → join) that shows how an orchestrator treats each way
//! a step can end. Every step records the id of the process it ran in (metadata `pid`), so a
//! run on the `process` orchestrator shows one process per step.
//!
//! ```sh
//! zenml orchestrator register procs --flavor process
//! zenml stack register procs -o procs -m default -a default --set
//! cargo run --example diamond                    # four steps, four processes
//! cargo run --example diamond -- --config crash.toml
//! ```
//!
//! with `crash.toml` making the `left` branch end badly:
//!
//! ```toml
//! [steps.left.parameters]
//! crash = "abort"   # "error", "panic", "exit", "abort", "kill" (SIGKILL) or "segv" (SIGSEGV)
//! ```
//!
//! The left branch fails alone: `join` is skipped, `right` completes. With
//! `crash_once = "/tmp/marker"` and `retries = 1` in `[steps.left]`, the first attempt
//! crashes and the second succeeds. On the `process`
//! orchestrator even `exit`, `abort`, `kill` and `segv` take down only the step's own process,
//! and the run records how it ended; on the `local` orchestrator, whose steps are threads of
//! the one process, only `error` and `panic` leave the run alive.
//!
//! The `hold_until` parameter of `source` and of `left` names a file that the step waits
//! for (ten minutes at most): for watching a run in progress. In a Slurm job every step also
//! records its node (`node`) and job id (`slurm_job`).

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use zenml::prelude::*;

/// Makes the numbers 1..=count; waits for `hold_until` to exist first, if given.
#[step]
fn source(
    ctx: &StepContext,
    count: Param<u32>,
    hold_until: Param<String>,
) -> Result<Vec<u64>, StepError> {
    record_where(ctx);
    if !hold_until.is_empty() {
        println!("source waits for {}", hold_until.as_str());
        wait_for(Path::new(hold_until.as_str()))?;
    }
    Ok((1..=u64::from(*count)).collect())
}

/// Squares the numbers, or ends as `crash` says; with `crash_once` (a file's path), only
/// when that file does not exist yet, creating it: the next attempt then succeeds.
#[step]
fn left(
    ctx: &StepContext,
    values: Vec<u64>,
    crash: Param<String>,
    crash_once: Param<String>,
    hold_until: Param<String>,
) -> Result<Vec<u64>, StepError> {
    record_where(ctx);
    if !hold_until.is_empty() {
        wait_for(Path::new(hold_until.as_str()))?;
    }
    let crash = if crash_once.is_empty() {
        crash.as_str()
    } else if Path::new(crash_once.as_str()).exists() {
        ""
    } else {
        std::fs::write(crash_once.as_str(), b"crashed once")
            .map_err(|e| StepError::new(format!("cannot write `{}`: {e}", crash_once.as_str())))?;
        crash.as_str()
    };
    match crash {
        "" => {}
        "error" => return Err(StepError::new("left refused to go on (crash = \"error\")")),
        "panic" => panic!("left panicked (crash = \"panic\")"),
        "exit" => std::process::exit(3),
        "abort" => std::process::abort(),
        "kill" => signal_self("KILL", true)?,
        // Rust's runtime handles a first SIGSEGV itself, to tell a stack overflow from
        // other faults, and then restores the default action: the second one ends the
        // process as a segmentation fault does.
        "segv" => {
            signal_self("SEGV", false)?;
            signal_self("SEGV", true)?;
        }
        other => {
            return Err(StepError::new(format!(
                "unknown crash `{other}`; use error, panic, exit, abort, kill or segv"
            )));
        }
    }
    Ok(values.iter().map(|v| v * v).collect())
}

/// Doubles the numbers.
#[step]
fn right(ctx: &StepContext, values: Vec<u64>) -> Vec<u64> {
    record_where(ctx);
    // Standard output is kept as the step's logs when it runs in a process of its own; a
    // `log` record also when it runs in the driver's process.
    println!("right doubles {} values", values.len());
    zenml::log::info!("doubled {} values", values.len());
    values.iter().map(|v| v * 2).collect()
}

/// Adds both branches up.
#[step]
fn join(ctx: &StepContext, squares: Vec<u64>, doubles: Vec<u64>) -> u64 {
    record_where(ctx);
    squares.iter().chain(&doubles).sum()
}

#[pipeline]
fn diamond() {
    let values = source(4, String::new());
    let squares = left(values, String::new(), String::new(), String::new());
    let doubles = right(values);
    join(squares, doubles);
}

/// Records where the step runs: its process id (`pid`) and, in a Slurm job, the node
/// (`node`) and the job id (`slurm_job`).
fn record_where(ctx: &StepContext) {
    ctx.log_metadata("pid", std::process::id());
    for (key, variable) in [("node", "SLURMD_NODENAME"), ("slurm_job", "SLURM_JOB_ID")] {
        if let Ok(value) = std::env::var(variable) {
            ctx.log_metadata(key, value);
        }
    }
}

/// Waits until `path` exists, ten minutes at most.
fn wait_for(path: &Path) -> Result<(), StepError> {
    let deadline = Instant::now() + Duration::from_secs(600);
    while !path.exists() {
        if Instant::now() > deadline {
            return Err(StepError::new(format!(
                "`{}` did not appear within ten minutes",
                path.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Sends signal `name` to this process with `kill`; when `fatal`, waits for it to end the
/// process.
fn signal_self(name: &str, fatal: bool) -> Result<(), StepError> {
    let status = std::process::Command::new("kill")
        .args([format!("-{name}"), std::process::id().to_string()])
        .status()
        .map_err(|e| StepError::new(format!("cannot run `kill`: {e}")))?;
    if !status.success() {
        return Err(StepError::new(format!("`kill -{name}` failed: {status}")));
    }
    if !fatal {
        return Ok(());
    }
    // The signal ends the process; this only waits for it.
    loop {
        std::thread::park();
    }
}

fn main() -> ExitCode {
    if let Err(e) = zenml_examples::ensure_repository() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    diamond().run_from_args()
}
