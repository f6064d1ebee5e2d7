//! The post-execution API: pipelines, runs, steps, parameters, artifacts and their values.

use std::any::Any;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::Value;
use zenml_artifact_store::ObjectPath;
use zenml_materializer::{BytesMaterializer, JsonMaterializer, Materializer};
use zenml_metadata_store::{
    ArtifactRecord, CacheEntry, CacheFilter, MetadataStoreError, Millis, PipelineSummary, Resource,
    RunRecord, StepRunRecord,
};
use zenml_stack::{OpenStack, Repository, RepositoryError, open_stack};

mod pages;

use crate::artifact_io::{ArtifactIoError, read_artifact};
use crate::compare::{PipelineComparison, RunComparison};
use crate::lineage::Lineage;
use crate::prune::{PruneOptions, PrunePlan, PruneReport};

/// Why a post-execution query failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// No such pipeline, run, step, output or artifact.
    #[error("{what} `{key}` not found{hint}")]
    NotFound {
        /// What was looked for.
        what: &'static str,
        /// The name or id.
        key: String,
        /// What exists instead, starting with `; `, or empty.
        hint: String,
    },
    /// The artifact holds another type than the one asked for.
    #[error("artifact {artifact} holds a `{stored}`, not a `{requested}`")]
    WrongType {
        /// The artifact's id.
        artifact: String,
        /// The type it was written from.
        stored: String,
        /// The type asked for.
        requested: String,
    },
    /// The artifact was written by a materializer that `load` does not know.
    #[error(
        "artifact {artifact} was written by materializer `{materializer}`; load it with `load_with::<{materializer}-materializer>()`"
    )]
    UnknownMaterializer {
        /// The artifact's id.
        artifact: String,
        /// The materializer's id.
        materializer: String,
    },
    /// The repository or stack could not be opened.
    #[error(transparent)]
    Repository(#[from] RepositoryError),
    /// The metadata store failed.
    #[error(transparent)]
    MetadataStore(MetadataStoreError),
    /// Reading the artifact failed (including a hash mismatch).
    #[error(transparent)]
    Artifact(#[from] ArtifactIoError),
    /// The run has ended, so it cannot be cancelled.
    #[error(
        "run `{run}` is already {status}; only a running (or interrupted) run can be cancelled"
    )]
    NotRunning {
        /// The run's name.
        run: String,
        /// Its status.
        status: &'static str,
    },
    /// The orchestrator could not stop a run's steps.
    #[error(transparent)]
    Orchestrator(zenml_orchestrator::OrchestratorError),
}

impl From<MetadataStoreError> for ClientError {
    fn from(error: MetadataStoreError) -> Self {
        match error {
            MetadataStoreError::NotFound { what, key } => ClientError::NotFound {
                what,
                key,
                hint: String::new(),
            },
            other => ClientError::MetadataStore(other),
        }
    }
}

/// Reads what a stack's metadata store recorded, and loads artifacts from its artifact
/// store.
#[derive(Debug)]
pub struct Client {
    stack: OpenStack,
    staging: PathBuf,
    /// The repository, when the client was opened on one.
    repo: Option<Repository>,
}

impl Client {
    /// A client for the active stack (or `ZENML_STACK`) of the repository around the working
    /// directory.
    pub fn from_current_dir() -> Result<Client, ClientError> {
        let cwd = std::env::current_dir().map_err(|source| RepositoryError::Io {
            action: "cannot read the current folder",
            path: PathBuf::from("."),
            source,
        })?;
        Client::open(&Repository::discover(&cwd)?, None)
    }

    /// A client for `stack` (default: the active stack) of `repo`.
    pub fn open(repo: &Repository, stack: Option<&str>) -> Result<Client, ClientError> {
        let name = match stack {
            Some(s) => s.to_owned(),
            None => repo.active_stack_name()?.0.to_string(),
        };
        Ok(Client {
            stack: open_stack(repo, &name)?,
            staging: repo.zen_dir().join("staging"),
            repo: Some(repo.clone()),
        })
    }

    /// The open stack this client reads.
    pub fn stack(&self) -> &OpenStack {
        &self.stack
    }

    /// The repository the client was opened on.
    pub(crate) fn repository(&self) -> Option<&Repository> {
        self.repo.as_ref()
    }

    /// Every pipeline with its run count and newest run.
    pub fn pipelines(&self) -> Result<Vec<PipelineSummary>, ClientError> {
        Ok(self.stack.metadata_store.list_pipelines()?)
    }

    /// The runs of `pipeline` (or of all pipelines), newest first.
    pub fn runs(&self, pipeline: Option<&str>) -> Result<Vec<RunView<'_>>, ClientError> {
        if let Some(name) = pipeline {
            self.require_pipeline(name)?;
        }
        Ok(self
            .stack
            .metadata_store
            .list_runs(pipeline)?
            .into_iter()
            .map(|record| RunView {
                client: self,
                record,
            })
            .collect())
    }

    /// The newest run of `pipeline`.
    pub fn latest_run(&self, pipeline: &str) -> Result<RunView<'_>, ClientError> {
        self.runs(Some(pipeline))?
            .into_iter()
            .next()
            .ok_or_else(|| ClientError::NotFound {
                what: "run of pipeline",
                key: pipeline.to_owned(),
                hint: "; the pipeline has no runs yet".to_owned(),
            })
    }

    /// The run with this name or id.
    pub fn run(&self, name_or_id: &str) -> Result<RunView<'_>, ClientError> {
        let record = self
            .stack
            .metadata_store
            .get_run(name_or_id)
            .map_err(|e| match e {
                MetadataStoreError::NotFound { .. } => ClientError::NotFound {
                    what: "run",
                    key: name_or_id.to_owned(),
                    hint: "; `zenml run list` shows the runs".to_owned(),
                },
                other => other.into(),
            })?;
        Ok(RunView {
            client: self,
            record,
        })
    }

    /// Every artifact, newest first.
    pub fn artifacts(&self) -> Result<Vec<ArtifactRecord>, ClientError> {
        Ok(self.stack.metadata_store.list_artifacts()?)
    }

    /// Loads an artifact as a `T`, verifying its type and its content hash. Works for the
    /// built-in materializers (`zenml.json`, the fallback for serde types, and
    /// `zenml.bytes`); use [`Client::load_with`] for others.
    pub fn load<T: serde::Serialize + DeserializeOwned + 'static>(
        &self,
        artifact: &ArtifactRecord,
    ) -> Result<T, ClientError> {
        check_type::<T>(artifact)?;
        if artifact.materializer_id == JsonMaterializer::<T>::ID {
            return self.read(artifact, &JsonMaterializer::<T>::new());
        }
        if artifact.materializer_id == BytesMaterializer.id() {
            let bytes: Box<dyn Any> = Box::new(self.read(artifact, &BytesMaterializer)?);
            return bytes
                .downcast::<T>()
                .map(|b| *b)
                .map_err(|_| wrong_type::<T>(artifact));
        }
        Err(ClientError::UnknownMaterializer {
            artifact: artifact.id.clone(),
            materializer: artifact.materializer_id.clone(),
        })
    }

    /// Loads an artifact with materializer `M`, which must be the one that wrote it.
    pub fn load_with<M: Materializer + Default>(
        &self,
        artifact: &ArtifactRecord,
    ) -> Result<M::Value, ClientError>
    where
        M::Value: 'static,
    {
        check_type::<M::Value>(artifact)?;
        let materializer = M::default();
        if materializer.id() != artifact.materializer_id {
            return Err(ClientError::UnknownMaterializer {
                artifact: artifact.id.clone(),
                materializer: artifact.materializer_id.clone(),
            });
        }
        self.read(artifact, &materializer)
    }

    fn read<M: Materializer>(
        &self,
        artifact: &ArtifactRecord,
        materializer: &M,
    ) -> Result<M::Value, ClientError> {
        let folder = ObjectPath::new(&artifact.path).map_err(|e| {
            ArtifactIoError::from(zenml_artifact_store::ArtifactStoreError::from(e))
        })?;
        Ok(read_artifact(
            self.stack.artifact_store.as_ref(),
            staging_dir(&self.staging),
            &folder,
            &artifact.content_hash,
            materializer,
        )?)
    }

    fn require_pipeline(&self, name: &str) -> Result<(), ClientError> {
        let pipelines = self.pipelines()?;
        if pipelines.iter().any(|p| p.pipeline.name == name) {
            return Ok(());
        }
        Err(ClientError::NotFound {
            what: "pipeline",
            key: name.to_owned(),
            hint: format!(
                "; recorded pipelines: {}",
                if pipelines.is_empty() {
                    "(none)".to_owned()
                } else {
                    pipelines
                        .iter()
                        .map(|p| p.pipeline.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
        })
    }
}

/// Lineage, comparisons, the cache and pruning.
impl Client {
    /// The lineage of artifact `id`: its producer step run (with parameters, code hash, run
    /// and status), the producer's inputs, their producers and so on upward, and the step
    /// runs that consumed it (in any run), their outputs, their consumers and so on
    /// downward, each way up to `depth` levels of step runs (`None`: unlimited; `Some(0)`:
    /// the artifact alone). A `cached` step run brings the original step run whose outputs
    /// it reused, linked by a `cached_from` edge. See [`Lineage`].
    pub fn artifact_lineage(&self, id: &str, depth: Option<usize>) -> Result<Lineage, ClientError> {
        let root = self.artifact(id)?;
        Ok(crate::lineage::artifact_lineage(
            self.stack.metadata_store.as_ref(),
            &root,
            depth,
            None,
        )?)
    }

    /// The lineage of artifact `id` as [`artifact_lineage`](Self::artifact_lineage) gives it,
    /// holding at most `max_nodes` nodes (at least 1): breadth first, so the nodes nearest
    /// the artifact are kept, and [`Lineage::left_out`] says how many next to them did not
    /// fit. What it reads from the store is bounded by `max_nodes`, however many runs
    /// consumed the artifact.
    pub fn artifact_lineage_bounded(
        &self,
        id: &str,
        depth: Option<usize>,
        max_nodes: usize,
    ) -> Result<Lineage, ClientError> {
        let root = self.artifact(id)?;
        Ok(crate::lineage::artifact_lineage(
            self.stack.metadata_store.as_ref(),
            &root,
            depth,
            Some(max_nodes),
        )?)
    }

    /// The graph of the run with this name or id: its step runs, their input and output
    /// artifacts, and the edges between them. A `cached` step run links to the outputs it
    /// reused; its original step run is named in the node, not added.
    pub fn run_dag(&self, run: &str) -> Result<Lineage, ClientError> {
        let run = self.run(run)?;
        Ok(crate::lineage::run_dag(
            self.stack.metadata_store.as_ref(),
            &run.record.id,
            None,
        )?)
    }

    /// The graph of a page of the run with this name or id: the step runs `offset..offset +
    /// limit` in the order of [`step_runs`](zenml_metadata_store::MetadataStore::step_runs)
    /// with their inputs and outputs; [`Lineage::left_out`] counts the step runs on other
    /// pages. For drawing runs of many steps a page at a time.
    pub fn run_dag_page(&self, run: &str, offset: u64, limit: u64) -> Result<Lineage, ClientError> {
        let run = self.run(run)?;
        Ok(crate::lineage::run_dag(
            self.stack.metadata_store.as_ref(),
            &run.record.id,
            Some((offset, limit)),
        )?)
    }

    /// Compares runs `a` and `b` (names or ids) step by step: each step's status, duration,
    /// parameters (with a `differs` flag each) and metrics side by side. See
    /// [`RunComparison`].
    pub fn compare_runs(&self, a: &str, b: &str) -> Result<RunComparison, ClientError> {
        let a = self.run(a)?;
        let b = self.run(b)?;
        Ok(crate::compare::compare_runs(
            self.stack.metadata_store.as_ref(),
            &a.record,
            &b.record,
        )?)
    }

    /// Every run of `pipelines` (of every pipeline when empty) as one row, newest first,
    /// with a column per `step.parameter` and per `step.metric` seen in any of them. An
    /// unknown pipeline is [`ClientError::NotFound`]. See [`PipelineComparison`].
    pub fn compare_pipelines(&self, pipelines: &[&str]) -> Result<PipelineComparison, ClientError> {
        let mut names: Vec<String> = pipelines.iter().map(|p| (*p).to_owned()).collect();
        names.sort();
        names.dedup();
        let mut runs = Vec::new();
        if names.is_empty() {
            names = self
                .pipelines()?
                .into_iter()
                .map(|p| p.pipeline.name)
                .collect();
            runs = self.stack.metadata_store.list_runs(None)?;
        } else {
            for name in &names {
                self.require_pipeline(name)?;
                runs.extend(self.stack.metadata_store.list_runs(Some(name))?);
            }
            runs.sort_by(|x, y| {
                y.started_at
                    .cmp(&x.started_at)
                    .then_with(|| y.name.cmp(&x.name))
            });
        }
        Ok(crate::compare::compare_pipelines(
            self.stack.metadata_store.as_ref(),
            names,
            &runs,
        )?)
    }

    /// The cache entries that `filter` selects, newest first: completed step runs with a
    /// cache key that later step runs may reuse. A pipeline that was never run is
    /// [`ClientError::NotFound`]; a step name that matches nothing gives an empty list.
    pub fn cache_entries(&self, filter: &CacheFilter) -> Result<Vec<CacheEntry>, ClientError> {
        if let Some(pipeline) = &filter.pipeline {
            self.require_pipeline(pipeline)?;
        }
        Ok(self.stack.metadata_store.cache_entries(filter)?)
    }

    /// Invalidates the cache entries that `filter` selects and returns how many there were:
    /// from now on those step runs are never reused, so the next run computes those steps
    /// again. The step runs stay recorded, and so do their artifacts. A pipeline that was
    /// never run is [`ClientError::NotFound`].
    pub fn invalidate_cache(&self, filter: &CacheFilter) -> Result<usize, ClientError> {
        if let Some(pipeline) = &filter.pipeline {
            self.require_pipeline(pipeline)?;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as Millis)
            .unwrap_or(0);
        Ok(self.stack.metadata_store.invalidate_cache(filter, now)?)
    }

    /// What [`prune`](Self::prune) would delete from the artifact store and the staging
    /// folder (`.zen/staging`), and what it keeps: see [`PrunePlan`]. Deletes nothing.
    pub fn prune_plan(&self, options: &PruneOptions) -> Result<PrunePlan, ClientError> {
        crate::prune::prune_plan(
            self.stack.artifact_store.as_ref(),
            self.stack.metadata_store.as_ref(),
            &self.staging,
            options,
        )
    }

    /// Deletes what `plan` lists, except what was recorded or modified since it was made.
    /// A recorded artifact's folder is never deleted.
    pub fn prune(&self, plan: &PrunePlan) -> Result<PruneReport, ClientError> {
        crate::prune::prune(
            self.stack.artifact_store.as_ref(),
            self.stack.metadata_store.as_ref(),
            plan,
        )
    }
}

fn staging_dir(path: &Path) -> &Path {
    let _ = std::fs::create_dir_all(path);
    path
}

fn check_type<T: 'static>(artifact: &ArtifactRecord) -> Result<(), ClientError> {
    if crate::type_key::same_type(&artifact.rust_type, std::any::type_name::<T>()) {
        Ok(())
    } else {
        Err(wrong_type::<T>(artifact))
    }
}

fn wrong_type<T>(artifact: &ArtifactRecord) -> ClientError {
    ClientError::WrongType {
        artifact: artifact.id.clone(),
        stored: artifact.rust_type.clone(),
        requested: std::any::type_name::<T>().to_owned(),
    }
}

/// A recorded run.
#[derive(Debug, Clone)]
pub struct RunView<'c> {
    client: &'c Client,
    /// The run's record.
    pub record: RunRecord,
}

impl<'c> RunView<'c> {
    /// The run's steps, in the order they finished.
    pub fn steps(&self) -> Result<Vec<StepView<'c>>, ClientError> {
        Ok(self
            .client
            .stack
            .metadata_store
            .step_runs(&self.record.id)?
            .into_iter()
            .map(|record| StepView {
                client: self.client,
                record,
            })
            .collect())
    }

    /// The step named `name`.
    pub fn step(&self, name: &str) -> Result<StepView<'c>, ClientError> {
        let steps = self.steps()?;
        let names: Vec<String> = steps.iter().map(|s| s.record.name.clone()).collect();
        steps
            .into_iter()
            .find(|s| s.record.name == name)
            .ok_or_else(|| ClientError::NotFound {
                what: "step",
                key: name.to_owned(),
                hint: format!(
                    "; run `{}` has steps: {}",
                    self.record.name,
                    names.join(", ")
                ),
            })
    }

    /// Metadata logged about the run.
    pub fn metadata(&self) -> Result<Vec<(String, Value)>, ClientError> {
        Ok(self
            .client
            .stack
            .metadata_store
            .metadata(&Resource::Run(self.record.id.clone()))?)
    }
}

/// A recorded step run.
#[derive(Debug, Clone)]
pub struct StepView<'c> {
    client: &'c Client,
    /// The step run's record.
    pub record: StepRunRecord,
}

impl StepView<'_> {
    /// The step's parameters (a JSON object).
    pub fn parameters(&self) -> &Value {
        &self.record.parameters
    }

    /// Parameter `name` as a `T`.
    pub fn parameter<T: DeserializeOwned>(&self, name: &str) -> Result<T, ClientError> {
        let value = self
            .record
            .parameters
            .get(name)
            .ok_or_else(|| ClientError::NotFound {
                what: "parameter",
                key: name.to_owned(),
                hint: format!(
                    "; step `{}` has: {}",
                    self.record.name,
                    self.record
                        .parameters
                        .as_object()
                        .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "))
                        .unwrap_or_default()
                ),
            })?;
        T::deserialize(value).map_err(|e| ClientError::WrongType {
            artifact: format!("parameter `{name}`"),
            stored: e.to_string(),
            requested: std::any::type_name::<T>().to_owned(),
        })
    }

    /// The step's inputs: input name and artifact.
    pub fn inputs(&self) -> Result<Vec<(String, ArtifactRecord)>, ClientError> {
        Ok(self
            .client
            .stack
            .metadata_store
            .step_inputs(&self.record.id)?)
    }

    /// The step's outputs: output name and artifact.
    pub fn outputs(&self) -> Result<Vec<(String, ArtifactRecord)>, ClientError> {
        Ok(self
            .client
            .stack
            .metadata_store
            .step_outputs(&self.record.id)?)
    }

    /// The artifact of output `name`.
    pub fn output_artifact(&self, name: &str) -> Result<ArtifactRecord, ClientError> {
        let outputs = self.outputs()?;
        let names: Vec<String> = outputs.iter().map(|(n, _)| n.clone()).collect();
        outputs
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| a)
            .ok_or_else(|| ClientError::NotFound {
                what: "output",
                key: name.to_owned(),
                hint: format!(
                    "; step `{}` has outputs: {}",
                    self.record.name,
                    if names.is_empty() {
                        "(none)".to_owned()
                    } else {
                        names.join(", ")
                    }
                ),
            })
    }

    /// Output `name`, loaded as a `T` (see [`Client::load`]).
    pub fn output<T: serde::Serialize + DeserializeOwned + 'static>(
        &self,
        name: &str,
    ) -> Result<T, ClientError> {
        self.client.load(&self.output_artifact(name)?)
    }

    /// Metadata logged by the step about itself.
    pub fn metadata(&self) -> Result<Vec<(String, Value)>, ClientError> {
        Ok(self
            .client
            .stack
            .metadata_store
            .metadata(&Resource::StepRun(self.record.id.clone()))?)
    }
}
