//! A built pipeline and how to run it.

use std::path::PathBuf;
use std::sync::{Mutex, mpsc};
use std::time::Duration;

use serde_json::{Value, json};
use zenml_core::{ComponentKind, ConfigError};
use zenml_metadata_store::{
    MetadataStore, MetadataStoreError, Millis, NewRun, RunRecord, StepRunRecord,
};
use zenml_stack::{OpenStack, Repository, RepositoryError, open_stack};

use crate::builder::{StepNode, collect_nodes};
use crate::config::{ResolvedConfig, RunConfig, resolve};
use crate::runner::{Execution, Progress, StepProcesses, now_millis, run_status};
use crate::spec::PipelineSpec;

/// A pipeline: a named DAG of steps, built by a `#[pipeline]` function.
#[derive(Debug)]
pub struct Pipeline {
    name: String,
    enable_cache: Option<bool>,
    nodes: Vec<StepNode>,
}

/// How to run a pipeline.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The run configuration (parameters, caching, run name).
    pub config: RunConfig,
    /// The stack to run on instead of the active one.
    pub stack: Option<String>,
    /// The repository root instead of the one around the working directory.
    pub repository: Option<PathBuf>,
    /// No progress output.
    pub quiet: bool,
    /// The pipeline's program, which orchestrators that run each step in a process of its
    /// own start again in its step mode (`--zenml-run RUN --zenml-step STEP`).
    /// [`Pipeline::run_from_args`] and [`Pipeline::run_with_args`] set it to the running
    /// program; without it, such orchestrators cannot run the steps.
    pub program: Option<PathBuf>,
    /// How long the run's lease lasts: the run is read as interrupted when its process stops
    /// renewing it for that long (it renews it three times per period). Default: the
    /// environment variable `ZENML_RUN_LEASE_SECS`, or 30 seconds.
    pub lease: Option<Duration>,
}

/// The lease of a run when neither [`RunOptions::lease`] nor `ZENML_RUN_LEASE_SECS` says.
const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// The environment variable that sets the default lease, in seconds.
pub const LEASE_ENV: &str = "ZENML_RUN_LEASE_SECS";

impl RunOptions {
    /// The run's lease period: [`RunOptions::lease`], else `ZENML_RUN_LEASE_SECS`, else 30 s.
    pub fn lease(&self) -> Result<Duration, ConfigError> {
        if let Some(lease) = self.lease {
            return Ok(lease);
        }
        match std::env::var(LEASE_ENV) {
            Err(_) => Ok(DEFAULT_LEASE),
            Ok(text) => match text.trim().parse::<f64>() {
                Ok(secs) if secs.is_finite() && secs > 0.0 && secs <= 86_400.0 => {
                    Ok(Duration::from_secs_f64(secs))
                }
                _ => Err(ConfigError::Invalid(format!(
                    "{LEASE_ENV} = `{text}`: expected a number of seconds above 0 and at most \
                     86400"
                ))),
            },
        }
    }
}

/// A finished run: its record and its step runs.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The run.
    pub run: RunRecord,
    /// Its step runs.
    pub steps: Vec<StepRunRecord>,
}

/// Why a run could not start, or did not succeed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// Invalid configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The repository or stack could not be used.
    #[error(transparent)]
    Repository(#[from] RepositoryError),
    /// The metadata store failed.
    #[error(transparent)]
    MetadataStore(#[from] MetadataStoreError),
    /// The orchestrator failed.
    #[error(transparent)]
    Orchestrator(#[from] zenml_orchestrator::OrchestratorError),
    /// The pipeline's steps do not form a DAG.
    #[error(transparent)]
    Dag(#[from] zenml_core::DagError),
    /// A local file operation failed.
    #[error("{action} `{}`: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A process was asked to run one step of a recorded run, and cannot: the run is not
    /// running, its pipeline does not match this program's, the step is unknown or already
    /// recorded as failed or skipped, or an upstream step has not completed.
    #[error("cannot run step `{step}` of run `{run}`: {reason}")]
    StepRefused {
        /// The run, as named.
        run: String,
        /// The step.
        step: String,
        /// Why not.
        reason: String,
    },
    /// One step of a recorded run, run by this process, failed; the failure is recorded.
    #[error("step `{step}` of run `{run}` failed: {error}")]
    StepFailed {
        /// The run's name.
        run: String,
        /// The step.
        step: String,
        /// The step's error.
        error: String,
    },
    /// The run finished, but steps failed: they are recorded, and so is every artifact of
    /// the steps that completed.
    #[error("run `{run}` failed: {}", failures.iter().map(|(s, e)| format!("step `{s}`: {e}")).collect::<Vec<_>>().join("; "))]
    StepsFailed {
        /// The run's name.
        run: String,
        /// Failed steps and their errors.
        failures: Vec<(String, String)>,
        /// The finished run.
        outcome: Box<RunOutcome>,
    },
}

impl Pipeline {
    /// Builds a pipeline by running `body`, in which every step call adds a node.
    pub fn build(name: &str, enable_cache: Option<bool>, body: impl FnOnce()) -> Pipeline {
        Pipeline {
            name: name.to_owned(),
            enable_cache,
            nodes: collect_nodes(body),
        }
    }

    /// The pipeline's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The steps, in the order they were declared.
    pub fn steps(&self) -> &[StepNode] {
        &self.nodes
    }

    /// The pipeline's spec, as every run records it: each step's name, code hash,
    /// parameters, wiring, outputs and materializers.
    pub fn spec(&self) -> PipelineSpec {
        PipelineSpec::of(&self.nodes)
    }

    /// Resolves `config` against this pipeline's defaults.
    pub fn resolve(&self, config: &RunConfig) -> Result<ResolvedConfig, ConfigError> {
        resolve(&self.name, self.enable_cache, &self.nodes, config)
    }

    /// Runs the pipeline on a stack of the repository.
    pub fn run(&self, options: &RunOptions) -> Result<RunOutcome, RunError> {
        zenml_core::Name::new(&self.name).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let dag = Execution::dag(&self.nodes)?;
        let config = self.resolve(&options.config)?;
        let lease = options.lease()?;
        let RunPlace {
            repo,
            stack_name,
            stack,
            staging,
        } = RunPlace::open(options)?;
        let progress = Progress::new(options.quiet);
        let run_id = uuid::Uuid::new_v4().to_string();
        let run = stack.metadata_store.create_run(&NewRun {
            id: run_id.clone(),
            pipeline_name: config.pipeline.clone(),
            name: config.run_name.clone(),
            started_at: now_millis(),
            config: serde_json::to_value(&config).unwrap_or(Value::Null),
            stack: stack_snapshot(&repo, &stack_name)?,
            spec: self.spec().to_json(),
            lease_expires_at: Some(lease_deadline(lease)),
        })?;
        progress.line(&format!(
            "Running pipeline `{}` as run `{}` on stack `{stack_name}`",
            config.pipeline, run.name
        ));
        let execution = Execution {
            pipeline: &config.pipeline,
            run_id: run_id.clone(),
            run_name: run.name.clone(),
            nodes: &self.nodes,
            config: &config,
            stack: &stack,
            staging,
            outputs: Mutex::new(vec![None; self.nodes.len()]),
            started: Mutex::new(Default::default()),
            cached: Mutex::new(Default::default()),
            recorded: Mutex::new(Default::default()),
            attempts: Mutex::new(Default::default()),
            progress,
            step_processes: options.program.clone().map(|program| StepProcesses {
                program,
                repository: repo.root().to_path_buf(),
                stack: stack_name.clone(),
            }),
        };
        let result = std::thread::scope(|scope| {
            let (stop, stopped) = mpsc::channel::<()>();
            let store = stack.metadata_store.as_ref();
            let run_id = run_id.as_str();
            scope.spawn(move || renew_lease(store, run_id, lease, &stopped));
            let result = stack.orchestrator.run(&dag, &execution);
            drop(stop);
            result
        });
        let report = match result {
            Ok(report) => report,
            Err(e) => {
                let message = e.to_string();
                stack.metadata_store.finish_run(
                    &run_id,
                    run_status(false),
                    now_millis(),
                    Some(&message),
                )?;
                return Err(e.into());
            }
        };
        let failures: Vec<(String, String)> = report
            .steps()
            .iter()
            .filter_map(|s| match &s.outcome {
                zenml_orchestrator::StepOutcome::Failed(message) => {
                    Some((s.name.clone(), message.clone()))
                }
                _ => None,
            })
            .collect();
        let error = (!failures.is_empty()).then(|| {
            failures
                .iter()
                .map(|(s, e)| format!("step `{s}` failed: {e}"))
                .collect::<Vec<_>>()
                .join("; ")
        });
        stack.metadata_store.finish_run(
            &run_id,
            run_status(report.is_success()),
            now_millis(),
            error.as_deref(),
        )?;
        let outcome = RunOutcome {
            run: stack.metadata_store.get_run(&run_id)?,
            steps: stack.metadata_store.step_runs(&run_id)?,
        };
        execution.progress.line(&format!(
            "Run `{}` {} in {:.2} s",
            outcome.run.name,
            outcome.run.status.as_str(),
            report.duration().as_secs_f64()
        ));
        if failures.is_empty() {
            Ok(outcome)
        } else {
            Err(RunError::StepsFailed {
                run: outcome.run.name.clone(),
                failures,
                outcome: Box::new(outcome),
            })
        }
    }
}

/// Where a run happens: the repository, the stack (opened) and the staging folder.
pub(crate) struct RunPlace {
    pub(crate) repo: Repository,
    pub(crate) stack_name: String,
    pub(crate) stack: OpenStack,
    pub(crate) staging: PathBuf,
}

impl RunPlace {
    /// Opens the repository and stack that `options` name (or the ones around the current
    /// folder and the active stack), and creates the staging folder.
    pub(crate) fn open(options: &RunOptions) -> Result<RunPlace, RunError> {
        let repo = match &options.repository {
            Some(root) => Repository::open(root)?,
            None => {
                let cwd = std::env::current_dir().map_err(|source| RunError::Io {
                    action: "cannot read the current folder",
                    path: PathBuf::from("."),
                    source,
                })?;
                Repository::discover(&cwd)?
            }
        };
        let stack_name = match &options.stack {
            Some(name) => name.clone(),
            None => repo.active_stack_name()?.0.to_string(),
        };
        let stack = open_stack(&repo, &stack_name)?;
        let staging = repo.zen_dir().join("staging");
        std::fs::create_dir_all(&staging).map_err(|source| RunError::Io {
            action: "cannot create the staging folder",
            path: staging.clone(),
            source,
        })?;
        Ok(RunPlace {
            repo,
            stack_name,
            stack,
            staging,
        })
    }
}

/// When a lease of `lease` taken now expires.
fn lease_deadline(lease: Duration) -> Millis {
    now_millis().saturating_add(Millis::try_from(lease.as_millis()).unwrap_or(Millis::MAX))
}

/// Renews the lease of run `run_id` three times per `lease` until `stopped` says the run
/// is over (its sender is dropped) or the run is no longer running. A failed renewal is
/// reported once on stderr and tried again at the next turn: the run goes on, and is read as
/// interrupted only if no renewal succeeds for a whole period.
fn renew_lease(
    store: &dyn MetadataStore,
    run_id: &str,
    lease: Duration,
    stopped: &mpsc::Receiver<()>,
) {
    let mut warned = false;
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(lease / 3) {
        match store.renew_run_lease(run_id, lease_deadline(lease)) {
            Ok(true) => warned = false,
            Ok(false) => return,
            Err(e) if !warned => {
                eprintln!("warning: cannot renew the lease of run {run_id}: {e}");
                warned = true;
            }
            Err(_) => {}
        }
    }
}

/// The stack's components as recorded with a run: kind, name, flavor and configuration,
/// with secret values replaced by `********`.
fn stack_snapshot(repo: &Repository, stack: &str) -> Result<Value, RepositoryError> {
    let definition = repo.stack(stack)?;
    let mut components = serde_json::Map::new();
    for kind in ComponentKind::STACK_KINDS {
        let component = repo.component(kind, definition.component(kind).as_str())?;
        let mut config: serde_json::Map<String, Value> = component
            .config
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or(Value::Null)))
            .collect();
        for key in repo.component_secret_keys(kind, component.name.as_str()) {
            config.insert(key, Value::String("********".to_owned()));
        }
        components.insert(
            kind.config_key().to_owned(),
            json!({ "name": component.name.as_str(), "flavor": component.flavor, "config": config }),
        );
    }
    Ok(json!({ "name": stack, "components": components }))
}
