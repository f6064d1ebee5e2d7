//! How many step runs per second the active stack's metadata store records: one run, then
//! `--steps N` (default 500) step runs, each with three new artifacts, written directly with
//! `record_step_run` (metadata only: no step runs, no artifact files). It measures the store
//! (`cargo xtask bench record-rate` runs it from 1 and from 8 processes on each flavor).
//!
//! ```sh
//! cargo run --release --example record_rate -- --steps 1000
//! ```
//!
//! `--start-at MS` (milliseconds since the Unix epoch) makes the process open the store,
//! then wait until that moment before recording, so that several processes record at once.
//! The last line is machine-readable: `step_runs=N start_ms=… end_ms=…`.

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use zenml::metadata_store::{
    ArtifactRecord, MetadataStore, NewRun, StepRunRecord, StepRunWrite, StepStatus,
};
use zenml::stack::open_stack;

/// Milliseconds since the Unix epoch.
fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// The options: `--steps N` and `--start-at MS`.
struct Options {
    steps: usize,
    start_at: Option<i64>,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        steps: 500,
        start_at: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("`{name}` needs a value"));
        match arg.as_str() {
            "--steps" => {
                options.steps = value("--steps")?
                    .parse()
                    .map_err(|e| format!("`--steps`: {e}"))?;
            }
            "--start-at" => {
                options.start_at = Some(
                    value("--start-at")?
                        .parse()
                        .map_err(|e| format!("`--start-at`: {e}"))?,
                );
            }
            other => {
                return Err(format!(
                    "unknown argument `{other}`; usage: record_rate [--steps N] [--start-at MS]"
                ));
            }
        }
    }
    Ok(options)
}

/// A step run of `run_id` with three new artifacts; ids are unique to this process.
fn step_run(run_id: &str, prefix: &str, n: usize) -> StepRunWrite {
    let step_id = format!("{prefix}-s{n}");
    let at = now_ms();
    let new_outputs = (0..3)
        .map(|i| {
            let id = format!("{prefix}-a{n}-{i}");
            ArtifactRecord {
                uri: format!("file:///bench/record_rate/{id}"),
                artifact_store_uri: "file:///bench".to_owned(),
                path: format!("record_rate/{id}"),
                id,
                rust_type: "u64".to_owned(),
                materializer_id: "zenml.json".to_owned(),
                materializer_version: 1,
                content_hash: format!("{n:032x}{i:032x}"),
                size: 8,
                producer_step_run_id: step_id.clone(),
                output_name: format!("output_{i}"),
                created_at: at,
            }
        })
        .collect();
    StepRunWrite {
        step: StepRunRecord {
            id: step_id,
            run_id: run_id.to_owned(),
            name: format!("step_{n}"),
            status: StepStatus::Completed,
            started_at: at,
            ended_at: at,
            code_hash: "record_rate".to_owned(),
            cache_key: None,
            parameters: serde_json::json!({ "n": n }),
            error: None,
            original_step_run_id: None,
            cache_invalidated_at: None,
            attempt: 1,
        },
        inputs: Vec::new(),
        new_outputs,
        reused_outputs: Vec::new(),
        metadata: Vec::new(),
        artifact_labels: Vec::new(),
    }
}

fn run() -> Result<(), String> {
    let options = options()?;
    // Keeps every linked flavor's registration, `mysql` included.
    zenml::linked_flavor_crates();
    let repo = zenml_examples::ensure_repository().map_err(|e| e.to_string())?;
    let (stack_name, _) = repo.active_stack_name().map_err(|e| e.to_string())?;
    let stack = open_stack(&repo, stack_name.as_str()).map_err(|e| e.to_string())?;
    let store: &dyn MetadataStore = stack.metadata_store.as_ref();

    // Unique across processes: the process id and the start time, in at most 36 characters.
    let prefix = format!("{:x}-{:x}", std::process::id(), now_ms());
    let run_id = format!("{prefix}-run");
    store
        .create_run(&NewRun {
            id: run_id.clone(),
            pipeline_name: "record_rate".to_owned(),
            name: format!("record_rate-{prefix}"),
            started_at: now_ms(),
            config: serde_json::json!({}),
            stack: serde_json::json!({}),
            spec: serde_json::Value::Null,
            lease_expires_at: None,
        })
        .map_err(|e| e.to_string())?;
    let writes: Vec<StepRunWrite> = (0..options.steps)
        .map(|n| step_run(&run_id, &prefix, n))
        .collect();

    if let Some(start_at) = options.start_at {
        let wait = start_at - now_ms();
        if wait > 0 {
            std::thread::sleep(Duration::from_millis(wait.unsigned_abs()));
        }
    }
    let start = now_ms();
    let started = std::time::Instant::now();
    for write in &writes {
        store.record_step_run(write).map_err(|e| e.to_string())?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let end = now_ms();
    println!(
        "record_rate: {} step runs with 3 artifacts each on {} in {:.3} s: {:.0} step runs/s",
        options.steps,
        store.uri(),
        seconds,
        options.steps as f64 / seconds
    );
    println!("step_runs={} start_ms={start} end_ms={end}", options.steps);
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
