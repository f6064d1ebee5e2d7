//! A built pipeline and how to run it.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use zenml_core::{ComponentKind, ConfigError};
use zenml_metadata_store::{
    MetadataEntry, MetadataStore, MetadataStoreError, NewRun, Resource, RunRecord, RunStatus,
    StepRunRecord,
};
use zenml_orchestrator::{DetachedDriver, StepCommand};
use zenml_stack::{
    OpenStack, REPOSITORY_PATH_ENV, Repository, RepositoryError, STACK_ENV, open_stack,
};

use crate::builder::{StepNode, collect_nodes};
use crate::config::{ResolvedConfig, RunConfig, resolve};
use crate::drive::{DRIVE_OPTION, lease_deadline};
use crate::entrypoint::RUN_OPTION;
use crate::runner::{Execution, Progress, now_millis};
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
    /// Record the run, hand its driver to the orchestrator, and return without waiting for
    /// the run (`--detach`): the run completes without this process. Needs
    /// [`RunOptions::program`] and an orchestrator that can run a driver
    /// ([`Orchestrator::submit_driver`](zenml_orchestrator::Orchestrator::submit_driver)).
    pub detach: bool,
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

/// A finished run: its record and its step runs; or a detached run, just submitted.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The run.
    pub run: RunRecord,
    /// Its step runs.
    pub steps: Vec<StepRunRecord>,
    /// For a detached run ([`RunOptions::detach`]): where its driver runs. The run is
    /// still running, and `steps` is empty.
    pub detached: Option<DetachedDriver>,
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
    /// The run was cancelled (`zenml run cancel`) while it ran: the steps that had not
    /// started are recorded as skipped, and those that were stopped as failed.
    #[error("run `{run}` was cancelled")]
    Cancelled {
        /// The run's name.
        run: String,
        /// The run as it ended.
        outcome: Box<RunOutcome>,
    },
    /// The run failed with `error`, and recording its end failed too: the run stays
    /// recorded as running until its lease expires (then it reads as interrupted).
    #[error("{error}; and the run could not be recorded as finished: {finishing}")]
    NotFinished {
        /// Why the run failed.
        error: Box<RunError>,
        /// Why its end could not be recorded.
        finishing: MetadataStoreError,
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

    /// Runs the pipeline on a stack of the repository: resolves the configuration, records
    /// the run, and drives it to its end through the stack's orchestrator. With
    /// [`RunOptions::detach`], it records the run, hands its driver to the orchestrator
    /// ([`Orchestrator::submit_driver`](zenml_orchestrator::Orchestrator::submit_driver))
    /// and returns at once, the run still running ([`RunOutcome::detached`] says where).
    pub fn run(&self, options: &RunOptions) -> Result<RunOutcome, RunError> {
        zenml_core::Name::new(&self.name).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let dag = Execution::dag(&self.nodes)?;
        let config = self.resolve(&options.config)?;
        let lease = options.lease()?;
        if options.detach && options.program.is_none() {
            return Err(ConfigError::Invalid(
                "a detached run is driven by the pipeline's program, started again in its \
                 driver mode; start the run with `Pipeline::run_from_args`, or set \
                 `RunOptions::program`"
                    .to_owned(),
            )
            .into());
        }
        let place = RunPlace::open(options)?;
        let snapshot = stack_snapshot(&place.repo, &place.stack_name)?;
        check_step_settings(&place.stack, &snapshot, &config)?;
        let first_lease = if options.detach {
            lease.max(DETACHED_START)
        } else {
            lease
        };
        let run = place.stack.metadata_store.create_run(&NewRun {
            id: uuid::Uuid::new_v4().to_string(),
            pipeline_name: config.pipeline.clone(),
            name: config.run_name.clone(),
            started_at: now_millis(),
            config: serde_json::to_value(&config).map_err(|e| {
                ConfigError::Invalid(format!(
                    "the run's configuration cannot be recorded as JSON: {e}"
                ))
            })?,
            stack: snapshot,
            spec: self.spec().to_json(),
            lease_expires_at: Some(lease_deadline(first_lease)),
        })?;
        if options.detach {
            return detach(&place, run, options);
        }
        let progress = Progress::new(options.quiet);
        progress.line(&format!(
            "Running pipeline `{}` as run `{}` on stack `{}`",
            config.pipeline, run.name, place.stack_name
        ));
        self.drive(&dag, &config, &place, &run, lease, progress, options)
    }
}

/// How long the first lease of a detached run lasts at least: its driver renews it once it
/// starts, which on a busy cluster may take a while. (A run whose driver starts later is
/// read as interrupted until then.)
const DETACHED_START: Duration = Duration::from_secs(600);

/// Checks the orchestrator settings of every step (`[steps.NAME.settings.FLAVOR]`) for the
/// flavor of the stack's orchestrator; settings for other flavors are left alone.
fn check_step_settings(
    stack: &OpenStack,
    snapshot: &Value,
    config: &ResolvedConfig,
) -> Result<(), ConfigError> {
    let Some(flavor) =
        snapshot["components"][ComponentKind::Orchestrator.config_key()]["flavor"].as_str()
    else {
        return Ok(());
    };
    for (step, resolved) in &config.steps {
        if let Some(settings) = resolved.settings.get(flavor) {
            stack
                .orchestrator
                .check_step_settings(step, settings)
                .map_err(|message| ConfigError::InvalidValue {
                    key: format!("steps.{step}.settings.{flavor}"),
                    message,
                })?;
        }
    }
    Ok(())
}

/// Hands the driver of the recorded run `run` to the stack's orchestrator; a run whose
/// driver cannot be submitted is recorded as failed.
fn detach(place: &RunPlace, run: RunRecord, options: &RunOptions) -> Result<RunOutcome, RunError> {
    let store = place.stack.metadata_store.as_ref();
    let mut env = vec![
        (
            REPOSITORY_PATH_ENV.to_owned(),
            place.repo.root().display().to_string(),
        ),
        (STACK_ENV.to_owned(), place.stack_name.clone()),
    ];
    if let Some(lease) = options.lease {
        env.push((LEASE_ENV.to_owned(), lease.as_secs_f64().to_string()));
    }
    let driver = StepCommand {
        program: options.program.clone().unwrap_or_default(),
        args: vec![
            RUN_OPTION.to_owned(),
            run.id.clone(),
            DRIVE_OPTION.to_owned(),
        ],
        env,
        current_dir: std::env::current_dir().unwrap_or_else(|_| place.repo.root().to_path_buf()),
        run_id: run.id.clone(),
        step: "driver".to_owned(),
        resources: Default::default(),
        settings: Default::default(),
    };
    let detached = match place.stack.orchestrator.submit_driver(&driver) {
        Ok(detached) => detached,
        Err(e) => {
            let message = e.to_string();
            return Err(fail_run(store, &run.id, e.into(), &message));
        }
    };
    let mut entries = vec![MetadataEntry {
        resource: Resource::Run(run.id.clone()),
        key: "driver".to_owned(),
        value: Value::String(detached.job.clone()),
    }];
    if let Some(log) = &detached.log {
        entries.push(MetadataEntry {
            resource: Resource::Run(run.id.clone()),
            key: "driver.log".to_owned(),
            value: Value::String(log.display().to_string()),
        });
    }
    if let Err(e) = store.log_metadata(&entries) {
        eprintln!(
            "warning: cannot record where the driver of run {} runs: {e}",
            run.name
        );
    }
    Ok(RunOutcome {
        run: store.get_run(&run.id)?,
        steps: Vec::new(),
        detached: Some(detached),
    })
}

/// Records run `run_id` as failed with `message`, and returns `error`, the reason; when
/// the record fails too, the error says both, never the second alone.
pub(crate) fn fail_run(
    store: &dyn MetadataStore,
    run_id: &str,
    error: RunError,
    message: &str,
) -> RunError {
    match store.finish_run(run_id, RunStatus::Failed, now_millis(), Some(message)) {
        Ok(_) => error,
        Err(finishing) => RunError::NotFinished {
            error: Box::new(error),
            finishing,
        },
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
