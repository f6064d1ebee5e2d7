//! Fills the active stack's metadata store with many recorded runs, for
//! `cargo xtask bench dashboard`: by default 10,000 runs of four 10-step pipelines, so
//! 100,000 step runs, written through the public `MetadataStore` API (records only: no
//! artifact files are written).
//!
//! ```sh
//! zenml init --path /tmp/big && cd /tmp/big
//! cargo run --release -p zenml-dashboard --example seed_runs -- --runs 10000
//! ```
//!
//! The runs look like real ones: a resolved configuration, a stack snapshot and a spec;
//! each step run has parameters, one output artifact wired into the next step, a metric
//! (`loss`) and a cache key; each completed run has a metric (`accuracy`). About 8 % of
//! the runs fail at some step (the later ones are skipped), 10 % take their first steps
//! from the cache of an earlier run, 2 % are cancelled, and the newest three are still
//! running (one of them with an expired lease, so read as interrupted). Start times are a
//! minute apart, the newest a minute ago.
//!
//! Options: `--repo PATH` (default: the current folder or a parent), `--runs N`,
//! `--threads N` (default 1: the store has one writer, and on a 2-core machine more threads
//! only add contention for it). The last line is machine-readable:
//! `runs=N step_runs=N completed=N failed=N cached=N cancelled=N running=N interrupted=N seconds=S`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use zenml_metadata_store::{
    ArtifactRecord, MetadataEntry, MetadataStore, Millis, NewRun, Resource, RunStatus,
    StepRunRecord, StepRunWrite, StepStatus,
};
use zenml_stack::{Repository, open_stack};
// The default stack's `sqlite` flavor registers itself only when linked.
use zenml_sqlite as _;

/// Steps per pipeline.
const STEPS: usize = 10;

/// The pipelines, each a chain of [`STEPS`] steps named `<prefix>_<i>`.
const PIPELINES: [(&str, &str); 4] = [
    ("training", "train"),
    ("feature_etl", "transform"),
    ("evaluation", "evaluate"),
    ("batch_inference", "predict"),
];

/// Runs at the end that are still running, every step recorded but the run not finished
/// (the last of them with an expired lease).
const RUNNING: usize = 3;

/// Run metadata entries written per `log_metadata` transaction.
const METADATA_BATCH: usize = 2_000;

/// The options.
struct Options {
    repo: PathBuf,
    runs: usize,
    threads: usize,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        repo: std::env::current_dir()
            .map_err(|e| format!("cannot read the current folder: {e}"))?,
        runs: 10_000,
        threads: 1,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("`{name}` needs a value"));
        match arg.as_str() {
            "--repo" => options.repo = PathBuf::from(value("--repo")?),
            "--runs" => {
                options.runs = value("--runs")?
                    .parse()
                    .map_err(|e| format!("`--runs`: {e}"))?;
            }
            "--threads" => {
                options.threads = value("--threads")?
                    .parse::<usize>()
                    .map_err(|e| format!("`--threads`: {e}"))?
                    .max(1);
            }
            other => {
                return Err(format!(
                    "unknown argument `{other}`; usage: seed_runs [--repo PATH] [--runs N] [--threads N]"
                ));
            }
        }
    }
    Ok(options)
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> Millis {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Millis::try_from(since.as_millis()).unwrap_or(Millis::MAX)
}

/// A small, fixed mixing function (splitmix64): the "random" choices are the same on every
/// seeding.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A 64-digit hex string derived from `x` (code hashes, cache keys, content hashes).
fn hex64(x: u64) -> String {
    format!(
        "{:016x}{:016x}{:016x}{:016x}",
        mix(x),
        mix(x ^ 1),
        mix(x ^ 2),
        mix(x ^ 3)
    )
}

/// What one seeding writes: ids in UUID form, unique to this seeding (`salt`), per kind of
/// record and number.
struct Ids {
    salt: u32,
}

impl Ids {
    fn id(&self, kind: u16, n: usize) -> String {
        format!("{:08x}-{kind:04x}-4000-8000-{n:012x}", self.salt)
    }
    fn run(&self, run: usize) -> String {
        self.id(1, run)
    }
    fn step(&self, run: usize, step: usize) -> String {
        self.id(2, run * STEPS + step)
    }
    fn artifact(&self, run: usize, step: usize) -> String {
        self.id(3, run * STEPS + step)
    }
}

/// What a run turns out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Completed,
    /// Fails at this step; the later ones are skipped.
    Failed(usize),
    /// Its steps before this one are cached from run `.1`.
    Cached(usize, usize),
    /// Cancelled at this step; the later ones are skipped.
    Cancelled(usize),
    /// Still running; `true` when its lease has expired (read as interrupted).
    Running(bool),
}

/// The shared, read-only context of a seeding.
struct Seeding<'a> {
    store: &'a dyn MetadataStore,
    ids: Ids,
    runs: usize,
    /// When the first run started.
    base: Millis,
    artifact_store_uri: String,
    stack: Value,
    specs: Vec<Value>,
}

/// Counts of what was written, per thread.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    step_runs: usize,
    completed: usize,
    failed: usize,
    cached: usize,
    cancelled: usize,
    running: usize,
    interrupted: usize,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.step_runs += other.step_runs;
        self.completed += other.completed;
        self.failed += other.failed;
        self.cached += other.cached;
        self.cancelled += other.cancelled;
        self.running += other.running;
        self.interrupted += other.interrupted;
    }
}

impl Seeding<'_> {
    /// The fate of run `run`, given the newest completed run of the same pipeline recorded
    /// by the same thread.
    fn fate(&self, run: usize, last_completed: Option<usize>) -> Fate {
        if run + RUNNING >= self.runs {
            return Fate::Running(run + 1 == self.runs);
        }
        let h = mix(run as u64);
        let step = (h / 100 % STEPS as u64) as usize;
        match h % 100 {
            0..8 => Fate::Failed(step),
            8..18 => match last_completed {
                Some(original) => Fate::Cached(step.max(1), original),
                None => Fate::Completed,
            },
            18..20 => Fate::Cancelled(step),
            _ => Fate::Completed,
        }
    }

    fn started_at(&self, run: usize) -> Millis {
        self.base + 60_000 * run as Millis
    }

    /// The parameters of a step of a run: one or two, varying with the run.
    fn parameters(run: usize, step: usize) -> Value {
        if step.is_multiple_of(2) {
            json!({ "learning_rate": 0.001 * (1 + run % 10) as f64, "batch_size": 32 << (run % 3) })
        } else {
            json!({ "threshold": 0.5 + (run % 5) as f64 / 10.0 })
        }
    }

    /// The resolved configuration a run records.
    fn config(&self, pipeline: usize, run: usize, name: &str) -> Value {
        let (pipeline_name, prefix) = PIPELINES[pipeline];
        let steps: serde_json::Map<String, Value> = (0..STEPS)
            .map(|step| {
                (
                    format!("{prefix}_{step}"),
                    json!({
                        "function": format!("seed::{pipeline_name}::{prefix}_{step}"),
                        "enable_cache": null,
                        "parameters": Self::parameters(run, step),
                    }),
                )
            })
            .collect();
        json!({
            "pipeline": pipeline_name,
            "run_name": name,
            "enable_cache": null,
            "pipeline_enable_cache": null,
            "steps": steps,
        })
    }

    /// Records run `run` of pipeline `pipeline` with its step runs, finishes it, and
    /// returns its fate.
    fn record_run(
        &self,
        pipeline: usize,
        run: usize,
        last_completed: Option<usize>,
        run_metrics: &mut Vec<MetadataEntry>,
    ) -> Result<Fate, String> {
        let (pipeline_name, prefix) = PIPELINES[pipeline];
        let fate = self.fate(run, last_completed);
        let run_id = self.ids.run(run);
        let name = format!("{pipeline_name}-{run:05}");
        let started = self.started_at(run);
        let lease_expires_at = match fate {
            Fate::Running(true) => Some(started + 30_000),
            _ => None,
        };
        self.store
            .create_run(&NewRun {
                id: run_id.clone(),
                pipeline_name: pipeline_name.to_owned(),
                name: name.clone(),
                started_at: started,
                config: self.config(pipeline, run, &name),
                stack: self.stack.clone(),
                spec: self.specs[pipeline].clone(),
                lease_expires_at,
            })
            .map_err(|e| format!("cannot record run `{name}`: {e}"))?;
        // The output the next step reads: the previous step's artifact.
        let mut previous: Option<String> = None;
        let mut stopped = false;
        for step in 0..STEPS {
            let step_name = format!("{prefix}_{step}");
            let step_id = self.ids.step(run, step);
            let at = started + 3_000 * step as Millis;
            let code_hash = hex64((pipeline * STEPS + step) as u64);
            let mut record = StepRunRecord {
                id: step_id.clone(),
                run_id: run_id.clone(),
                name: step_name.clone(),
                status: StepStatus::Completed,
                started_at: at,
                ended_at: at + 2_500,
                code_hash,
                cache_key: Some(hex64((1 << 40) | (run * STEPS + step) as u64)),
                parameters: Self::parameters(run, step),
                error: None,
                original_step_run_id: None,
                cache_invalidated_at: None,
                attempt: 1,
            };
            let mut write = StepRunWrite {
                step: record.clone(),
                inputs: previous
                    .iter()
                    .map(|id| ("data".to_owned(), id.clone()))
                    .collect(),
                new_outputs: Vec::new(),
                reused_outputs: Vec::new(),
                metadata: Vec::new(),
                artifact_labels: Vec::new(),
            };
            match fate {
                _ if stopped => {
                    record.status = StepStatus::Skipped;
                    record.ended_at = record.started_at;
                    record.cache_key = None;
                    record.error = Some(format!(
                        "an upstream step of `{step_name}` did not complete"
                    ));
                    write.inputs.clear();
                }
                Fate::Failed(at_step) | Fate::Cancelled(at_step) if step == at_step => {
                    record.status = StepStatus::Failed;
                    record.error = Some(if matches!(fate, Fate::Failed(_)) {
                        format!(
                            "step `{step_name}` failed: value out of range: {} > 1.0 (row {run})",
                            1.0 + (run % 7) as f64
                        )
                    } else {
                        "the run was cancelled".to_owned()
                    });
                    stopped = true;
                }
                Fate::Cached(until, original) if step < until => {
                    let artifact = self.ids.artifact(original, step);
                    record.status = StepStatus::Cached;
                    record.ended_at = record.started_at;
                    record.cache_key = Some(hex64((1 << 40) | (original * STEPS + step) as u64));
                    record.original_step_run_id = Some(self.ids.step(original, step));
                    write.reused_outputs = vec![("output".to_owned(), artifact.clone())];
                    previous = Some(artifact);
                }
                _ => {
                    let artifact = self.ids.artifact(run, step);
                    let path = format!("{pipeline_name}/{step_name}/output/{artifact}");
                    write.new_outputs = vec![ArtifactRecord {
                        id: artifact.clone(),
                        uri: format!("{}/{path}", self.artifact_store_uri.trim_end_matches('/')),
                        artifact_store_uri: self.artifact_store_uri.clone(),
                        path,
                        rust_type: "alloc::vec::Vec<f64>".to_owned(),
                        materializer_id: "zenml.json".to_owned(),
                        materializer_version: 1,
                        content_hash: hex64((2 << 40) | (run * STEPS + step) as u64),
                        size: 1_000 + (mix((run * STEPS + step) as u64) % 100_000),
                        producer_step_run_id: step_id.clone(),
                        output_name: "output".to_owned(),
                        created_at: record.ended_at,
                    }];
                    write.metadata = vec![MetadataEntry {
                        resource: Resource::StepRun(step_id.clone()),
                        key: "loss".to_owned(),
                        value: json!(
                            1.0 / (1.0 + (run / PIPELINES.len()) as f64 / 100.0 + step as f64)
                        ),
                    }];
                    previous = Some(artifact);
                }
            }
            write.step = record;
            self.store
                .record_step_run(&write)
                .map_err(|e| format!("cannot record step `{step_name}` of run `{name}`: {e}"))?;
        }
        let ended = started + 3_000 * STEPS as Millis;
        let finish = match fate {
            Fate::Running(_) => None,
            Fate::Failed(step) => Some((
                RunStatus::Failed,
                Some(format!("step `{prefix}_{step}` failed")),
            )),
            Fate::Cancelled(_) => Some((
                RunStatus::Cancelled,
                Some("cancelled by `zenml run cancel`".to_owned()),
            )),
            Fate::Completed | Fate::Cached(..) => {
                run_metrics.push(MetadataEntry {
                    resource: Resource::Run(run_id.clone()),
                    key: "accuracy".to_owned(),
                    value: json!(
                        0.7 + 0.25 * (run as f64 / self.runs as f64)
                            + (mix(run as u64) % 100) as f64 / 10_000.0
                    ),
                });
                Some((RunStatus::Completed, None))
            }
        };
        if let Some((status, error)) = finish {
            self.store
                .finish_run(&run_id, status, ended, error.as_deref())
                .map_err(|e| format!("cannot finish run `{name}`: {e}"))?;
        }
        Ok(fate)
    }

    /// Records the runs `next` hands out until there are none left; returns the counts.
    fn work(&self, next: &AtomicUsize) -> Result<Counts, String> {
        let mut counts = Counts::default();
        let mut last_completed: [Option<usize>; PIPELINES.len()] = [None; PIPELINES.len()];
        let mut run_metrics = Vec::new();
        loop {
            let run = next.fetch_add(1, Ordering::Relaxed);
            if run >= self.runs {
                break;
            }
            let pipeline = run % PIPELINES.len();
            let fate =
                self.record_run(pipeline, run, last_completed[pipeline], &mut run_metrics)?;
            counts.step_runs += STEPS;
            match fate {
                Fate::Completed => {
                    counts.completed += 1;
                    last_completed[pipeline] = Some(run);
                }
                Fate::Cached(..) => counts.cached += 1,
                Fate::Failed(_) => counts.failed += 1,
                Fate::Cancelled(_) => counts.cancelled += 1,
                Fate::Running(false) => counts.running += 1,
                Fate::Running(true) => counts.interrupted += 1,
            }
            if run_metrics.len() >= METADATA_BATCH {
                self.store
                    .log_metadata(&run_metrics)
                    .map_err(|e| format!("cannot record run metrics: {e}"))?;
                run_metrics.clear();
            }
        }
        if !run_metrics.is_empty() {
            self.store
                .log_metadata(&run_metrics)
                .map_err(|e| format!("cannot record run metrics: {e}"))?;
        }
        Ok(counts)
    }
}

/// The spec a run of pipeline `pipeline` records (the shape of `PipelineSpec::to_json`).
fn spec(pipeline: usize) -> Value {
    let (pipeline_name, prefix) = PIPELINES[pipeline];
    let steps: Vec<Value> = (0..STEPS)
        .map(|step| {
            let parameters = if step.is_multiple_of(2) {
                json!(["learning_rate", "batch_size"])
            } else {
                json!(["threshold"])
            };
            let inputs = if step == 0 {
                json!([])
            } else {
                let upstream = format!("{prefix}_{}", step - 1);
                json!([{ "name": "data", "step": upstream, "output": "output" }])
            };
            json!({
                "name": format!("{prefix}_{step}"),
                "function": format!("seed::{pipeline_name}::{prefix}_{step}"),
                "code_hash": hex64((pipeline * STEPS + step) as u64),
                "parameters": parameters,
                "inputs": inputs,
                "outputs": [{
                    "name": "output",
                    "rust_type": "alloc::vec::Vec<f64>",
                    "materializer": "zenml.json",
                    "materializer_version": 1,
                }],
            })
        })
        .collect();
    json!({ "format": 1, "steps": steps })
}

fn run() -> Result<(), String> {
    let options = options()?;
    let repo = Repository::discover(&options.repo).map_err(|e| e.to_string())?;
    let (stack_name, _) = repo.active_stack_name().map_err(|e| e.to_string())?;
    let stack = open_stack(&repo, stack_name.as_str()).map_err(|e| e.to_string())?;
    let store: &dyn MetadataStore = stack.metadata_store.as_ref();
    if !store
        .list_pipelines()
        .map_err(|e| e.to_string())?
        .is_empty()
    {
        return Err(format!(
            "the store {} already holds pipelines: seed a fresh repository",
            store.uri()
        ));
    }
    let seeding = Seeding {
        store,
        ids: Ids {
            salt: mix(now_ms().unsigned_abs()) as u32,
        },
        runs: options.runs,
        base: now_ms() - 60_000 * (options.runs as Millis + 1),
        artifact_store_uri: stack.artifact_store.uri(),
        stack: json!({
            "name": stack_name.as_str(),
            "components": {
                "orchestrator": { "name": "default", "flavor": "local", "config": {} },
                "metadata_store": {
                    "name": "default", "flavor": "sqlite", "config": { "path": "metadata.db" },
                },
                "artifact_store": {
                    "name": "default", "flavor": "local", "config": { "path": "artifacts" },
                },
            },
        }),
        specs: (0..PIPELINES.len()).map(spec).collect(),
    };
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let results: Vec<Result<Counts, String>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..options.threads)
            .map(|_| scope.spawn(|| seeding.work(&next)))
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err("a seeding thread panicked".to_owned()))
            })
            .collect()
    });
    let mut counts = Counts::default();
    for result in results {
        counts.add(result?);
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "seed_runs: {} runs, {} step runs on {} in {seconds:.1} s ({:.0} step runs/s)",
        options.runs,
        counts.step_runs,
        store.uri(),
        counts.step_runs as f64 / seconds
    );
    println!(
        "runs={} step_runs={} completed={} failed={} cached={} cancelled={} running={} interrupted={} seconds={seconds:.2}",
        options.runs,
        counts.step_runs,
        counts.completed,
        counts.failed,
        counts.cached,
        counts.cancelled,
        counts.running,
        counts.interrupted
    );
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
