//! A built pipeline and how to run it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

use serde_json::{Value, json};
use zenml_core::{ComponentKind, ConfigError};
use zenml_metadata_store::{MetadataStoreError, NewRun, RunRecord, StepRunRecord, StepStatus};
use zenml_stack::{Repository, RepositoryError, open_stack};

use crate::builder::{StepNode, collect_nodes};
use crate::config::{ResolvedConfig, RunConfig, resolve};
use crate::runner::{Execution, Progress, now_millis, run_status};

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

    /// Resolves `config` against this pipeline's defaults.
    pub fn resolve(&self, config: &RunConfig) -> Result<ResolvedConfig, ConfigError> {
        resolve(&self.name, self.enable_cache, &self.nodes, config)
    }

    /// Runs the pipeline on a stack of the repository.
    pub fn run(&self, options: &RunOptions) -> Result<RunOutcome, RunError> {
        zenml_core::Name::new(&self.name).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let dag = Execution::dag(&self.nodes)?;
        let config = self.resolve(&options.config)?;
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
        let progress = Progress::new(options.quiet);
        let run_id = uuid::Uuid::new_v4().to_string();
        let run = stack.metadata_store.create_run(&NewRun {
            id: run_id.clone(),
            pipeline_name: config.pipeline.clone(),
            name: config.run_name.clone(),
            started_at: now_millis(),
            config: serde_json::to_value(&config).unwrap_or(Value::Null),
            stack: stack_snapshot(&repo, &stack_name)?,
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
            progress,
        };
        let report = match stack.orchestrator.run(&dag, &execution) {
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

    /// Runs the pipeline as a program's main job, with options from the command line:
    /// `--config FILE`, `--run-name NAME`, `--stack NAME`, `--no-cache`, `--quiet`. Prints
    /// the outcome and returns the process's exit code.
    pub fn run_from_args(&self) -> ExitCode {
        match self.run_with_args(std::env::args().skip(1)) {
            Ok(outcome) => {
                let cached = outcome
                    .steps
                    .iter()
                    .filter(|s| s.status == StepStatus::Cached)
                    .count();
                println!(
                    "Run `{}` of pipeline `{}` completed: {} steps{}.",
                    outcome.run.name,
                    outcome.run.pipeline_name,
                    outcome.steps.len(),
                    if cached > 0 {
                        format!(", {cached} cached")
                    } else {
                        String::new()
                    }
                );
                println!(
                    "Next: `zenml run describe {}` shows its steps and artifacts.",
                    outcome.run.name
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    }

    /// Parses the options of [`Pipeline::run_from_args`] and runs.
    pub fn run_with_args(
        &self,
        args: impl IntoIterator<Item = String>,
    ) -> Result<RunOutcome, RunError> {
        let mut options = RunOptions::default();
        let mut config_file = None;
        let mut run_name = None;
        let mut no_cache = false;
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
                None => (arg.clone(), None),
            };
            let mut value = |what: &str| {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or_else(|| ConfigError::Invalid(format!("`{flag}` needs a {what}")))
            };
            match flag.as_str() {
                "--config" | "-c" => config_file = Some(PathBuf::from(value("file")?)),
                "--run-name" => run_name = Some(value("name")?),
                "--stack" => options.stack = Some(value("stack name")?),
                "--no-cache" => no_cache = true,
                "--quiet" | "-q" => options.quiet = true,
                other => {
                    return Err(ConfigError::Invalid(format!(
                        "unknown option `{other}`; options: --config FILE, --run-name NAME, --stack NAME, --no-cache, --quiet"
                    ))
                    .into());
                }
            }
        }
        if let Some(file) = config_file {
            options.config = RunConfig::read(&file)?;
            // Resolved here too, before the command line's overrides, so that an error in
            // the file names the file.
            self.resolve(&options.config).map_err(|e| {
                ConfigError::Invalid(format!("run configuration `{}`: {e}", file.display()))
            })?;
        }
        if run_name.is_some() {
            options.config.run_name = run_name;
        }
        if no_cache {
            options.config.enable_cache = Some(false);
        }
        self.run(&options)
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
