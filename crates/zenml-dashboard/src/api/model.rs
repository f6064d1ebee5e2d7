//! What the API answers: the JSON shapes of `/api/v1/`, which the pages render too.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Page<T: ToSchema> {
    /// The items of this page.
    pub(crate) items: Vec<T>,
    /// The page's number, from 1.
    pub(crate) page: u64,
    /// How many items a page holds at most.
    pub(crate) per_page: u64,
    /// How many items there are on all pages; at most the count cap (10,000) when
    /// `total_exact` is false.
    pub(crate) total: u64,
    /// Whether `total` is the exact count, or a lower bound where counting stopped.
    pub(crate) total_exact: bool,
}

/// An error: what went wrong, and the query parameter at fault for a 400.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// What went wrong.
    pub(crate) error: String,
    /// The malformed query parameter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) parameter: Option<String>,
}

/// A pipeline with its run count and newest run.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PipelineItem {
    /// Its name.
    pub(crate) name: String,
    /// How many runs it has.
    pub(crate) run_count: u64,
    /// Its newest run.
    pub(crate) latest_run: Option<RunItem>,
}

/// A run as lists show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct RunItem {
    /// Its id.
    pub(crate) id: String,
    /// Its name.
    pub(crate) name: String,
    /// Its pipeline's name.
    pub(crate) pipeline: String,
    /// `running`, `completed`, `failed`, `interrupted` or `cancelled`.
    pub(crate) status: String,
    /// When it started, in milliseconds since the Unix epoch.
    pub(crate) started_at: i64,
    /// When it ended.
    pub(crate) ended_at: Option<i64>,
    /// How long it took, in milliseconds.
    pub(crate) duration_ms: Option<i64>,
    /// Why it failed.
    pub(crate) error: Option<String>,
    /// How many step runs it recorded (lists only).
    pub(crate) step_runs: Option<u64>,
    /// How many of them were cached (lists only).
    pub(crate) cached_step_runs: Option<u64>,
}

/// A run with everything recorded about it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RunDetail {
    /// The run.
    pub(crate) run: RunItem,
    /// The resolved run configuration.
    #[schema(value_type = Object)]
    pub(crate) config: Value,
    /// The stack snapshot, secrets redacted.
    #[schema(value_type = Object)]
    pub(crate) stack: Value,
    /// The run's metadata.
    pub(crate) metadata: Vec<MetadataItem>,
    /// The first page of its step runs, in the order they finished
    /// (`/runs/{id}/steps` pages through all of them).
    pub(crate) steps: Vec<StepItem>,
    /// How many step runs it has.
    pub(crate) step_count: u64,
}

/// A metadata entry (a metric, a note).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct MetadataItem {
    /// Its key.
    pub(crate) key: String,
    /// Its value.
    #[schema(value_type = Object)]
    pub(crate) value: Value,
}

/// A step run.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct StepItem {
    /// Its id.
    pub(crate) id: String,
    /// Its run's id.
    pub(crate) run_id: String,
    /// The step's name.
    pub(crate) name: String,
    /// `completed`, `failed`, `skipped` or `cached`.
    pub(crate) status: String,
    /// When it started (ms since the epoch).
    pub(crate) started_at: i64,
    /// When it ended.
    pub(crate) ended_at: i64,
    /// How long it took, in milliseconds.
    pub(crate) duration_ms: i64,
    /// The hash of the step's code.
    pub(crate) code_hash: String,
    /// Its cache key.
    pub(crate) cache_key: Option<String>,
    /// Its parameters.
    #[schema(value_type = Object)]
    pub(crate) parameters: Value,
    /// Why it failed.
    pub(crate) error: Option<String>,
    /// For a cached step run: the step run whose outputs it reused.
    pub(crate) original_step_run_id: Option<String>,
    /// For a cached step run: the run of that step run.
    pub(crate) original_run_id: Option<String>,
    /// Which attempt it is, from 1.
    pub(crate) attempt: u32,
}

/// A step run with its artifacts, metrics and logs.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StepDetail {
    /// The step run.
    pub(crate) step: StepItem,
    /// Its run.
    pub(crate) run: RunItem,
    /// Its inputs, by input name.
    pub(crate) inputs: Vec<ArtifactLink>,
    /// Its outputs, by output name.
    pub(crate) outputs: Vec<ArtifactLink>,
    /// Its metrics (the metadata it logged; a cached step's are its original's).
    pub(crate) metrics: Vec<MetadataItem>,
    /// Its logs, where recorded (the last attempt's, at most 256 KiB from the end).
    pub(crate) logs: Option<String>,
}

/// An artifact under the name a step gave it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ArtifactLink {
    /// The input or output name.
    pub(crate) name: String,
    /// The artifact.
    pub(crate) artifact: ArtifactItem,
}

/// An artifact.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ArtifactItem {
    /// Its id.
    pub(crate) id: String,
    /// Where it lives.
    pub(crate) uri: String,
    /// The Rust type of its value.
    pub(crate) rust_type: String,
    /// The materializer that wrote it.
    pub(crate) materializer: String,
    /// The blake3 hash of its files.
    pub(crate) content_hash: String,
    /// Its size in bytes.
    pub(crate) size: u64,
    /// The step run that produced it.
    pub(crate) producer_step_run_id: String,
    /// The output it was produced as.
    pub(crate) output_name: String,
    /// When it was recorded (ms since the epoch).
    pub(crate) created_at: i64,
}

/// An artifact with its labels, consumers and description.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ArtifactDetail {
    /// The artifact.
    pub(crate) artifact: ArtifactItem,
    /// The name it is a version of.
    pub(crate) name: Option<String>,
    /// Its version under that name.
    pub(crate) version: Option<u64>,
    /// Its tags.
    pub(crate) tags: Vec<String>,
    /// The step run that produced it.
    pub(crate) producer: StepItem,
    /// The producer's run.
    pub(crate) producer_run: RunItem,
    /// A page of the step runs that consumed it.
    pub(crate) consumers: Vec<StepItem>,
    /// How many times it was consumed (a step run consuming it under two names counts
    /// twice); at most 10,000, where counting stops.
    pub(crate) consumer_count: u64,
    /// Its schema, when its materializer described it.
    #[schema(value_type = Object)]
    pub(crate) schema: Option<Value>,
    /// Its statistics, when its materializer described it.
    #[schema(value_type = Object)]
    pub(crate) statistics: Option<Value>,
}

/// A named artifact with its latest version.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ArtifactNameItem {
    /// The name.
    pub(crate) name: String,
    /// Its latest version.
    pub(crate) latest_version: u32,
    /// How many versions it has.
    pub(crate) versions: u64,
}

/// The start of an artifact's content, shown as its materializer suggests.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Preview {
    /// `json`, `text`, `hex`, `image`, `table` or `none`.
    pub(crate) kind: String,
    /// The file previewed, inside the artifact.
    pub(crate) file: Option<String>,
    /// The text shown (pretty JSON, text, or a hex dump).
    pub(crate) text: Option<String>,
    /// An image's media type and its bytes in base64, for `image`.
    pub(crate) image: Option<String>,
    /// For raw bytes: a hex dump of the first bytes (also when they are shown as text).
    pub(crate) hex: Option<String>,
    /// A table's header.
    pub(crate) columns: Vec<String>,
    /// A table's first rows.
    pub(crate) rows: Vec<Vec<String>>,
    /// Whether the content goes on beyond what is shown.
    pub(crate) truncated: bool,
}

/// Two or more runs side by side.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Comparison {
    /// The runs, in the order asked for.
    pub(crate) runs: Vec<RunItem>,
    /// One row per `step.parameter`.
    pub(crate) parameters: Vec<ComparedValue>,
    /// One row per `step.metric`.
    pub(crate) metrics: Vec<ComparedValue>,
    /// How many step runs of the compared runs were not read (past the first 200 of a run).
    pub(crate) steps_left_out: u64,
}

/// One parameter or metric across the compared runs.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ComparedValue {
    /// `step.key`.
    pub(crate) key: String,
    /// Its value in each run (`null` where a run has none).
    #[schema(value_type = Vec<Object>)]
    pub(crate) values: Vec<Value>,
    /// Whether the values are not all the same.
    pub(crate) differs: bool,
}

/// A metric across the runs of a pipeline, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MetricSeries {
    /// The pipeline.
    pub(crate) pipeline: String,
    /// How many of the pipeline's newest runs were read.
    pub(crate) runs: u64,
    /// The metric, `step.key`.
    pub(crate) metric: String,
    /// Every metric of the pipeline's runs, to choose from.
    pub(crate) metrics: Vec<String>,
    /// The runs that recorded a number for it.
    pub(crate) points: Vec<MetricPoint>,
}

/// One run's value of a metric.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MetricPoint {
    /// The run's id.
    pub(crate) run_id: String,
    /// The run's name.
    pub(crate) run: String,
    /// When it started (ms since the epoch).
    pub(crate) started_at: i64,
    /// The value.
    pub(crate) value: f64,
}

/// A stack and its components.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StackItem {
    /// Its name.
    pub(crate) name: String,
    /// Whether the dashboard serves it.
    pub(crate) served: bool,
    /// Its components.
    pub(crate) components: Vec<ComponentItem>,
}

/// A component of a stack.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ComponentItem {
    /// `orchestrator`, `metadata-store` or `artifact-store`.
    pub(crate) kind: String,
    /// Its name.
    pub(crate) name: String,
    /// Its flavor.
    pub(crate) flavor: String,
    /// Its settings, without secrets.
    #[schema(value_type = Object)]
    pub(crate) settings: Value,
    /// The names of its secret settings (their values are never shown).
    pub(crate) secret_keys: Vec<String>,
}

/// A flavor.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FlavorItem {
    /// The kind of component it makes.
    pub(crate) kind: String,
    /// Its name.
    pub(crate) name: String,
    /// What it is.
    pub(crate) description: String,
    /// The crate it comes from.
    pub(crate) source: String,
}
