//! Running a pipeline on a stack: resolve the configuration, record the run, let the
//! orchestrator execute the DAG, materialize and record each step's outputs.

use std::collections::{HashMap, HashSet};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use zenml_artifact_store::ObjectPath;
use zenml_core::{Dag, DagNode};
use zenml_materializer::Materializer;
use zenml_metadata_store::{
    ArtifactRecord, MetadataEntry, Millis, Resource, RunStatus, StepRunRecord, StepRunWrite,
    StepStatus,
};
use zenml_orchestrator::StepOutcome;
use zenml_stack::OpenStack;

use crate::artifact_io::{read_artifact, verify_artifact, write_artifact};
use crate::builder::{InputSpec, StepNode};
use crate::cache::{cache_enabled, cache_key};
use crate::config::ResolvedConfig;
use crate::outputs::{artifact_labels, description_entries};
use crate::step::{StepContext, StepError};

/// A reusable earlier step run and its outputs by name.
type CacheHit = (StepRunRecord, HashMap<String, ArtifactRecord>);

/// How many earlier step runs with the same cache key are tried before running the step.
const CACHE_CANDIDATES: usize = 3;

/// What a step's generated code uses while it runs: its parameters, its inputs, its
/// outputs and its context.
#[doc(hidden)]
pub struct StepInvocation<'a> {
    pub(crate) context: StepContext,
    pub(crate) parameters: &'a Map<String, Value>,
    pub(crate) inputs: Vec<(InputSpec, ArtifactRecord)>,
    pub(crate) execution: &'a Execution<'a>,
    pub(crate) node: &'a StepNode,
    pub(crate) step_run_id: String,
    pub(crate) outputs: Mutex<Vec<ArtifactRecord>>,
    /// The schemas and statistics of the outputs written so far, as artifact metadata.
    pub(crate) descriptions: Mutex<Vec<MetadataEntry>>,
}

impl StepInvocation<'_> {
    /// The step's context.
    pub fn context(&self) -> &StepContext {
        &self.context
    }

    /// The resolved value of parameter `name`.
    pub fn param<T: DeserializeOwned>(&self, name: &str) -> Result<T, StepError> {
        let value = self
            .parameters
            .get(name)
            .ok_or_else(|| StepError::new(format!("parameter `{name}` has no value")))?;
        T::deserialize(value).map_err(|e| {
            StepError::new(format!(
                "parameter `{name}` cannot be read as `{}`: {e}",
                std::any::type_name::<T>()
            ))
        })
    }

    /// Loads input `name` with `materializer`, verifying the artifact's hash, type and
    /// materializer.
    pub fn input<T: 'static>(
        &self,
        name: &str,
        materializer: &dyn Materializer<Value = T>,
    ) -> Result<T, StepError> {
        let (spec, artifact) = self
            .inputs
            .iter()
            .find(|(spec, _)| spec.name == name)
            .ok_or_else(|| StepError::new(format!("input `{name}` is not connected")))?;
        self.load(spec, artifact, materializer)
    }

    /// Loads every artifact of the collected input `name`, in the order they were given, as
    /// [`input`](Self::input) loads one.
    pub fn collected<T: 'static>(
        &self,
        name: &str,
        materializer: &dyn Materializer<Value = T>,
    ) -> Result<Vec<T>, StepError> {
        let mut parts: Vec<&(InputSpec, ArtifactRecord)> = self
            .inputs
            .iter()
            .filter(|(spec, _)| spec.name == name)
            .collect();
        parts.sort_by_key(|(spec, _)| spec.index);
        parts
            .into_iter()
            .map(|(spec, artifact)| self.load(spec, artifact, materializer))
            .collect()
    }

    /// Loads `artifact` for input `spec` with `materializer`, verifying its hash, type and
    /// materializer.
    fn load<T: 'static>(
        &self,
        spec: &InputSpec,
        artifact: &ArtifactRecord,
        materializer: &dyn Materializer<Value = T>,
    ) -> Result<T, StepError> {
        let name = spec.recorded_name();
        let expected_type = std::any::type_name::<T>();
        if !crate::type_key::same_type(&artifact.rust_type, expected_type) {
            return Err(StepError::new(format!(
                "input `{name}` expects a `{expected_type}`, but artifact {} holds a `{}`",
                artifact.id, artifact.rust_type
            )));
        }
        if artifact.materializer_id != materializer.id() {
            return Err(StepError::new(format!(
                "input `{name}`: artifact {} was written by materializer `{}`, but this input loads with `{}`; \
                 name the same materializer for the input",
                artifact.id,
                artifact.materializer_id,
                materializer.id()
            )));
        }
        let folder = ObjectPath::new(&artifact.path).map_err(StepError::from_error)?;
        read_artifact(
            self.execution.stack.artifact_store.as_ref(),
            &self.execution.staging,
            &folder,
            &artifact.content_hash,
            materializer,
        )
        .map_err(StepError::from_error)
    }

    /// Materializes output `name` into the artifact store (published, not yet recorded).
    pub fn output<T: 'static>(
        &self,
        name: &'static str,
        materializer: &dyn Materializer<Value = T>,
        value: &T,
    ) -> Result<(), StepError> {
        let id = uuid::Uuid::new_v4().to_string();
        let folder = ObjectPath::new(&format!(
            "{}/{}/{name}/{id}",
            self.execution.pipeline, self.node.name
        ))
        .map_err(StepError::from_error)?;
        let store = self.execution.stack.artifact_store.as_ref();
        let written = write_artifact(store, &self.execution.staging, &folder, materializer, value)
            .map_err(StepError::from_error)?;
        let options = self
            .node
            .outputs
            .iter()
            .find(|spec| spec.name == name)
            .map(|spec| spec.options)
            .unwrap_or_default();
        let entries = description_entries(materializer, value, &id, name, options.statistics)?;
        self.descriptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(entries);
        let record = ArtifactRecord {
            id,
            uri: written.uri,
            artifact_store_uri: store.uri(),
            path: folder.to_string(),
            rust_type: std::any::type_name::<T>().to_owned(),
            materializer_id: materializer.id().to_owned(),
            materializer_version: materializer.version(),
            content_hash: written.content_hash,
            size: written.size,
            producer_step_run_id: self.step_run_id.clone(),
            output_name: name.to_owned(),
            created_at: now_millis(),
        };
        self.outputs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(record);
        Ok(())
    }
}

impl StepError {
    pub(crate) fn from_error(error: impl std::error::Error + 'static) -> StepError {
        StepError::new(zenml_core::error_chain(&error))
    }
}

/// The state of one run while the orchestrator executes it.
pub(crate) struct Execution<'a> {
    pub(crate) pipeline: &'a str,
    pub(crate) run_id: String,
    pub(crate) run_name: String,
    pub(crate) nodes: &'a [StepNode],
    pub(crate) config: &'a ResolvedConfig,
    pub(crate) stack: &'a OpenStack,
    pub(crate) staging: PathBuf,
    /// Each finished node's outputs, by output name.
    pub(crate) outputs: Mutex<Vec<Option<HashMap<String, ArtifactRecord>>>>,
    /// When each node started.
    pub(crate) started: Mutex<HashMap<usize, Millis>>,
    /// The nodes that reused an earlier step run's outputs.
    pub(crate) cached: Mutex<HashSet<usize>>,
    /// The nodes whose outcome is already recorded (by this process or by the step's own
    /// process), so that a failure is not recorded twice.
    pub(crate) recorded: Mutex<HashSet<usize>>,
    /// The attempt each node is at, when past its first (see `attempts.rs`).
    pub(crate) attempts: Mutex<HashMap<usize, u32>>,
    pub(crate) progress: Progress,
    /// How to start a step in a process of its own; `None` when this run cannot.
    pub(crate) step_processes: Option<StepProcesses>,
    /// Set once the run is known to be cancelled: no step starts any more.
    pub(crate) cancelled: AtomicBool,
    /// The last `error:` line of each node's process output, until its outcome is read.
    pub(crate) last_errors: Mutex<HashMap<usize, String>>,
    /// Whether steps run in this process keep the `log` records they emit as their logs
    /// (the driver), or leave that to the orchestrator that captures the whole process's
    /// output (a step's own process).
    pub(crate) keeps_logs: bool,
}

/// What a step's own process needs to find the run: the program, and the repository and
/// stack the run uses.
pub(crate) struct StepProcesses {
    /// The pipeline's program.
    pub(crate) program: PathBuf,
    /// The repository's root.
    pub(crate) repository: PathBuf,
    /// The stack's name.
    pub(crate) stack: String,
}

impl<'a> Execution<'a> {
    /// The state of run `run` (id and name) of the pipeline of `nodes`, before any step
    /// ran, with `outputs` already known (by node) and `progress` shown.
    pub(crate) fn new(
        run: (&str, &str),
        nodes: &'a [StepNode],
        config: &'a ResolvedConfig,
        place: (&'a OpenStack, PathBuf),
        outputs: Vec<Option<HashMap<String, ArtifactRecord>>>,
        progress: Progress,
    ) -> Execution<'a> {
        Execution {
            pipeline: &config.pipeline,
            run_id: run.0.to_owned(),
            run_name: run.1.to_owned(),
            nodes,
            config,
            stack: place.0,
            staging: place.1,
            outputs: Mutex::new(outputs),
            started: Mutex::new(HashMap::new()),
            cached: Mutex::new(HashSet::new()),
            recorded: Mutex::new(HashSet::new()),
            attempts: Mutex::new(HashMap::new()),
            progress,
            step_processes: None,
            cancelled: AtomicBool::new(false),
            last_errors: Mutex::new(HashMap::new()),
            keeps_logs: false,
        }
    }

    pub(crate) fn dag(nodes: &[StepNode]) -> Result<Dag, zenml_core::DagError> {
        Dag::new(
            nodes
                .iter()
                .map(|n| DagNode {
                    name: n.name.clone(),
                    upstream: n.inputs.iter().map(|i| i.node).collect(),
                })
                .collect(),
        )
    }

    fn parameters(&self, node: &StepNode) -> Value {
        self.config
            .steps
            .get(&node.name)
            .map(|s| Value::Object(s.parameters.clone()))
            .unwrap_or_else(|| Value::Object(Map::new()))
    }

    pub(crate) fn run_step(&self, index: usize) -> Result<(), StepError> {
        let node = &self.nodes[index];
        let started_at = now_millis();
        if let Ok(mut started) = self.started.lock() {
            started.insert(index, started_at);
        }
        let mut inputs = Vec::new();
        {
            let outputs = self.outputs.lock().unwrap_or_else(PoisonError::into_inner);
            for spec in &node.inputs {
                let artifact = outputs
                    .get(spec.node)
                    .and_then(Option::as_ref)
                    .and_then(|o| o.get(spec.output))
                    .ok_or_else(|| {
                        StepError::new(format!(
                            "input `{}` needs output `{}` of step `{}`, which has not been recorded",
                            spec.recorded_name(), spec.output, self.nodes[spec.node].name
                        ))
                    })?;
                inputs.push((spec.clone(), artifact.clone()));
            }
        }
        let key = cache_key(
            node,
            &self.parameters(node),
            &inputs,
            &self.stack.artifact_store.uri(),
        );
        if cache_enabled(self.config, &node.name)
            && let Some((original, outputs)) = self.cache_hit(node, &key)?
        {
            return self.record_cached(index, started_at, key, &inputs, original, outputs);
        }
        let empty = Map::new();
        let parameters = self
            .config
            .steps
            .get(&node.name)
            .map(|s| &s.parameters)
            .unwrap_or(&empty);
        let invocation = StepInvocation {
            context: StepContext {
                step_name: node.name.clone(),
                run_name: self.run_name.clone(),
                pipeline_name: self.pipeline.to_owned(),
                step_metadata: Mutex::new(Vec::new()),
                output_metadata: Mutex::new(Vec::new()),
                metadata_errors: Mutex::new(Vec::new()),
            },
            parameters,
            inputs,
            execution: self,
            node,
            step_run_id: uuid::Uuid::new_v4().to_string(),
            outputs: Mutex::new(Vec::new()),
            descriptions: Mutex::new(Vec::new()),
        };
        (node.run)(&invocation)?;
        let metadata_errors = invocation
            .context
            .metadata_errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .join("; ");
        if !metadata_errors.is_empty() {
            return Err(StepError::new(metadata_errors));
        }

        // A lock poisoned by a panic elsewhere still holds every value pushed before it.
        let new_outputs = invocation
            .outputs
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(missing) = node
            .outputs
            .iter()
            .find(|spec| !new_outputs.iter().any(|a| a.output_name == spec.name))
        {
            return Err(StepError::new(format!(
                "output `{}` of step `{}` was not written; the step is not recorded as completed",
                missing.name, node.name
            )));
        }
        let mut metadata: Vec<MetadataEntry> = invocation
            .context
            .step_metadata
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
            .into_iter()
            .map(|(key, value)| MetadataEntry {
                resource: Resource::StepRun(invocation.step_run_id.clone()),
                key,
                value,
            })
            .collect();
        for (output, key, value) in invocation
            .context
            .output_metadata
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
        {
            let artifact = new_outputs
                .iter()
                .find(|a| a.output_name == output)
                .ok_or_else(|| {
                    StepError::new(format!(
                        "metadata was logged for output `{output}`, which this step does not have"
                    ))
                })?;
            metadata.push(MetadataEntry {
                resource: Resource::Artifact(artifact.id.clone()),
                key,
                value,
            });
        }
        metadata.extend(
            invocation
                .descriptions
                .into_inner()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let write = StepRunWrite {
            step: StepRunRecord {
                id: invocation.step_run_id.clone(),
                run_id: self.run_id.clone(),
                name: node.name.clone(),
                status: StepStatus::Completed,
                started_at,
                ended_at: now_millis(),
                code_hash: node.code_hash.clone(),
                cache_key: Some(key),
                parameters: self.parameters(node),
                error: None,
                original_step_run_id: None,
                cache_invalidated_at: None,
                attempt: self.attempt(index),
            },
            inputs: invocation
                .inputs
                .iter()
                .map(|(spec, artifact)| (spec.recorded_name(), artifact.id.clone()))
                .collect(),
            artifact_labels: artifact_labels(node, &new_outputs),
            new_outputs: new_outputs.clone(),
            reused_outputs: Vec::new(),
            metadata,
        };
        self.stack
            .metadata_store
            .record_step_run(&write)
            .map_err(StepError::from_error)?;
        {
            let mut outputs = self.outputs.lock().unwrap_or_else(PoisonError::into_inner);
            outputs[index] = Some(
                new_outputs
                    .into_iter()
                    .map(|a| (a.output_name.clone(), a))
                    .collect(),
            );
        }
        Ok(())
    }

    /// The newest earlier step run with this cache key whose outputs all still exist and
    /// verify, with those outputs by name; `None` on a miss.
    fn cache_hit(&self, node: &StepNode, key: &str) -> Result<Option<CacheHit>, StepError> {
        let store = &self.stack.metadata_store;
        let candidates = store
            .cache_candidates(key, CACHE_CANDIDATES)
            .map_err(StepError::from_error)?;
        'candidates: for candidate in candidates {
            let outputs: HashMap<String, ArtifactRecord> = store
                .step_outputs(&candidate.id)
                .map_err(StepError::from_error)?
                .into_iter()
                .collect();
            for spec in &node.outputs {
                let Some(artifact) = outputs.get(spec.name) else {
                    continue 'candidates;
                };
                let usable = ObjectPath::new(&artifact.path).is_ok_and(|folder| {
                    verify_artifact(
                        self.stack.artifact_store.as_ref(),
                        &folder,
                        &artifact.content_hash,
                        artifact.size,
                    )
                    .is_ok()
                });
                if !usable {
                    // Deleted or corrupted since: this candidate cannot be reused.
                    continue 'candidates;
                }
            }
            return Ok(Some((candidate, outputs)));
        }
        Ok(None)
    }

    /// Records a cache hit: a `cached` step run linked to the original, with the original's
    /// outputs and no new files.
    fn record_cached(
        &self,
        index: usize,
        started_at: Millis,
        key: String,
        inputs: &[(InputSpec, ArtifactRecord)],
        original: StepRunRecord,
        outputs: HashMap<String, ArtifactRecord>,
    ) -> Result<(), StepError> {
        let node = &self.nodes[index];
        let write = StepRunWrite {
            step: StepRunRecord {
                id: uuid::Uuid::new_v4().to_string(),
                run_id: self.run_id.clone(),
                name: node.name.clone(),
                status: StepStatus::Cached,
                started_at,
                ended_at: now_millis(),
                code_hash: node.code_hash.clone(),
                cache_key: Some(key),
                parameters: self.parameters(node),
                error: None,
                original_step_run_id: Some(original.id),
                cache_invalidated_at: None,
                attempt: self.attempt(index),
            },
            inputs: inputs
                .iter()
                .map(|(spec, artifact)| (spec.recorded_name(), artifact.id.clone()))
                .collect(),
            new_outputs: Vec::new(),
            reused_outputs: node
                .outputs
                .iter()
                .filter_map(|spec| {
                    outputs
                        .get(spec.name)
                        .map(|a| (spec.name.to_owned(), a.id.clone()))
                })
                .collect(),
            metadata: Vec::new(),
            artifact_labels: Vec::new(),
        };
        self.stack
            .metadata_store
            .record_step_run(&write)
            .map_err(StepError::from_error)?;
        if let Ok(mut cached) = self.cached.lock() {
            cached.insert(index);
        }
        self.outputs.lock().unwrap_or_else(PoisonError::into_inner)[index] = Some(outputs);
        Ok(())
    }

    /// Records a step that failed or was skipped.
    pub(crate) fn record_unfinished(&self, index: usize, status: StepStatus, error: &str) {
        let first = self
            .recorded
            .lock()
            .map_or(true, |mut recorded| recorded.insert(index));
        if !first {
            return;
        }
        let node = &self.nodes[index];
        let now = now_millis();
        let started_at = self
            .started
            .lock()
            .ok()
            .and_then(|s| s.get(&index).copied())
            .unwrap_or(now);
        let write = StepRunWrite {
            step: StepRunRecord {
                id: uuid::Uuid::new_v4().to_string(),
                run_id: self.run_id.clone(),
                name: node.name.clone(),
                status,
                started_at,
                ended_at: now,
                code_hash: node.code_hash.clone(),
                cache_key: None,
                parameters: self.parameters(node),
                error: Some(error.to_owned()),
                original_step_run_id: None,
                cache_invalidated_at: None,
                attempt: self.attempt(index),
            },
            inputs: Vec::new(),
            new_outputs: Vec::new(),
            reused_outputs: Vec::new(),
            metadata: Vec::new(),
            artifact_labels: Vec::new(),
        };
        if let Err(e) = self.stack.metadata_store.record_step_run(&write) {
            eprintln!(
                "warning: cannot record the {} step `{}`: {e}",
                status.as_str(),
                node.name
            );
        }
    }
}

/// Step progress on a terminal; silent otherwise.
pub(crate) struct Progress {
    enabled: bool,
    start: Instant,
}

impl Progress {
    pub(crate) fn new(quiet: bool) -> Progress {
        Progress {
            enabled: !quiet && std::io::stderr().is_terminal(),
            start: Instant::now(),
        }
    }

    /// Progress shown also when standard error is no terminal: a detached driver's log.
    pub(crate) fn always() -> Progress {
        Progress {
            enabled: true,
            start: Instant::now(),
        }
    }

    /// Whether progress is shown.
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    pub(crate) fn line(&self, text: &str) {
        if self.enabled {
            eprintln!("{text}");
        }
    }

    pub(crate) fn started(&self, step: &str) {
        if self.enabled {
            eprintln!(
                "  ▶ {step} started ({:.1} s)",
                self.start.elapsed().as_secs_f64()
            );
        }
    }

    pub(crate) fn finished(
        &self,
        step: &str,
        outcome: &StepOutcome,
        duration: std::time::Duration,
        cached: bool,
    ) {
        if !self.enabled {
            return;
        }
        let ms = duration.as_secs_f64() * 1000.0;
        match outcome {
            StepOutcome::Succeeded if cached => eprintln!("  ↺ {step} cached ({ms:.1} ms)"),
            StepOutcome::Succeeded => eprintln!("  ✔ {step} completed in {ms:.1} ms"),
            StepOutcome::Failed(message) => {
                eprintln!("  ✘ {step} failed after {ms:.1} ms: {message}")
            }
            StepOutcome::Skipped { because } => eprintln!("  – {step} skipped: {because}"),
        }
    }
}

/// The current time in milliseconds since the Unix epoch.
pub(crate) fn now_millis() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

/// The run status for a finished report.
pub(crate) fn run_status(success: bool) -> RunStatus {
    if success {
        RunStatus::Completed
    } else {
        RunStatus::Failed
    }
}
