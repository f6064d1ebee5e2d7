//! Reading the stores into the API's shapes, on a store thread; the pages render the same.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use zenml_core::{ComponentKind, FlavorRegistry};
use zenml_metadata_store::{
    ArtifactQuery, ArtifactRecord, MetadataStore, MetricQuery, Resource, RunOverview, RunQuery,
    RunRecord, StepRunRecord, Total,
};
use zenml_pipeline::Lineage;

use super::model::*;
use crate::backend::Stores;
use crate::error::RequestError;

/// The most log text a step page shows: the end of the logs.
const LOG_TAIL_BYTES: usize = 256 * 1024;

fn store(stores: &Stores) -> &dyn MetadataStore {
    stores.client.stack().metadata_store.as_ref()
}

pub(crate) fn run_item(run: &RunRecord) -> RunItem {
    RunItem {
        id: run.id.clone(),
        name: run.name.clone(),
        pipeline: run.pipeline_name.clone(),
        status: run.status.as_str().to_owned(),
        started_at: run.started_at,
        ended_at: run.ended_at,
        duration_ms: run.ended_at.map(|end| end - run.started_at),
        error: run.error.clone(),
        step_runs: None,
        cached_step_runs: None,
    }
}

fn overview_item(run: RunOverview) -> RunItem {
    RunItem {
        duration_ms: run.ended_at.map(|end| end - run.started_at),
        id: run.id,
        name: run.name,
        pipeline: run.pipeline_name,
        status: run.status.as_str().to_owned(),
        started_at: run.started_at,
        ended_at: run.ended_at,
        error: run.error,
        step_runs: Some(run.step_runs),
        cached_step_runs: Some(run.cached_step_runs),
    }
}

fn step_item(stores: &Stores, step: &StepRunRecord) -> StepItem {
    let original_run_id = step.original_step_run_id.as_ref().and_then(|original| {
        store(stores)
            .get_step_run(original)
            .ok()
            .map(|original| original.run_id)
    });
    StepItem {
        id: step.id.clone(),
        run_id: step.run_id.clone(),
        name: step.name.clone(),
        status: step.status.as_str().to_owned(),
        started_at: step.started_at,
        ended_at: step.ended_at,
        duration_ms: step.ended_at - step.started_at,
        code_hash: step.code_hash.clone(),
        cache_key: step.cache_key.clone(),
        parameters: step.parameters.clone(),
        error: step.error.clone(),
        original_step_run_id: step.original_step_run_id.clone(),
        original_run_id,
        attempt: step.attempt,
    }
}

pub(crate) fn artifact_item(artifact: &ArtifactRecord) -> ArtifactItem {
    ArtifactItem {
        id: artifact.id.clone(),
        uri: artifact.uri.clone(),
        rust_type: artifact.rust_type.clone(),
        materializer: format!(
            "{} v{}",
            artifact.materializer_id, artifact.materializer_version
        ),
        content_hash: artifact.content_hash.clone(),
        size: artifact.size,
        producer_step_run_id: artifact.producer_step_run_id.clone(),
        output_name: artifact.output_name.clone(),
        created_at: artifact.created_at,
    }
}

fn metadata_items(entries: Vec<(String, Value)>) -> Vec<MetadataItem> {
    entries
        .into_iter()
        .map(|(key, value)| MetadataItem { key, value })
        .collect()
}

/// Every pipeline with its run count and newest run.
pub(crate) fn pipelines(stores: &Stores) -> Result<Vec<PipelineItem>, RequestError> {
    Ok(store(stores)
        .list_pipelines()?
        .into_iter()
        .map(|summary| PipelineItem {
            name: summary.pipeline.name,
            run_count: summary.run_count,
            latest_run: summary.latest_run.as_ref().map(run_item),
        })
        .collect())
}

/// A page of runs.
pub(crate) fn runs(stores: &Stores, query: &RunQuery) -> Result<(Vec<RunItem>, u64), RequestError> {
    let page = store(stores).query_runs(query)?;
    Ok((
        page.runs.into_iter().map(overview_item).collect(),
        page.total,
    ))
}

/// How many step runs a page of a run's steps holds unless asked otherwise: the run page
/// draws the graph of one such page.
pub(crate) const STEPS_PER_PAGE: u64 = 50;

/// A run with its configuration, stack, metadata, and a page of its steps (`offset`,
/// `limit`) with how many it has.
pub(crate) fn run(
    stores: &Stores,
    id: &str,
    offset: u64,
    limit: u64,
) -> Result<RunDetail, RequestError> {
    let record = store(stores).get_run(id)?;
    let steps = store(stores).step_runs_page(&record.id, offset, limit)?;
    let metadata = store(stores).metadata(&Resource::Run(record.id.clone()))?;
    Ok(RunDetail {
        run: run_item(&record),
        config: record.config,
        stack: record.stack,
        metadata: metadata_items(metadata),
        steps: steps
            .items
            .iter()
            .map(|step| step_item(stores, step))
            .collect(),
        step_count: steps.total.count,
    })
}

/// A page of a run's step runs, with how many it has.
pub(crate) fn run_steps(
    stores: &Stores,
    id: &str,
    offset: u64,
    limit: u64,
) -> Result<(Vec<StepItem>, u64), RequestError> {
    let record = store(stores).get_run(id)?;
    let steps = store(stores).step_runs_page(&record.id, offset, limit)?;
    Ok((
        steps
            .items
            .iter()
            .map(|step| step_item(stores, step))
            .collect(),
        steps.total.count,
    ))
}

/// The run's recorded configuration as the TOML `zenml run export-config` writes.
pub(crate) fn run_config_toml(stores: &Stores, id: &str) -> Result<(String, String), RequestError> {
    let record = store(stores).get_run(id)?;
    let config: zenml_pipeline::ResolvedConfig =
        serde_json::from_value(record.config).map_err(|e| {
            RequestError::Internal(format!(
                "run `{}` recorded a configuration this zenml cannot read: {e}",
                record.name
            ))
        })?;
    let file = format!("{}.toml", record.name);
    let text = config
        .export_toml(&record.name, &file)
        .map_err(|e| RequestError::Internal(format!("cannot write the configuration: {e}")))?;
    Ok((file, text))
}

/// The graph of a page of a run's step runs (`offset`, `limit`), the others counted in
/// [`Lineage::left_out`].
pub(crate) fn run_dag(
    stores: &Stores,
    id: &str,
    offset: u64,
    limit: u64,
) -> Result<Lineage, RequestError> {
    Ok(stores.client.run_dag_page(id, offset, limit)?)
}

/// A step run with its run, artifacts, metrics and logs.
pub(crate) fn step(stores: &Stores, id: &str) -> Result<StepDetail, RequestError> {
    let step = store(stores).get_step_run(id)?;
    let run = store(stores).get_run(&step.run_id)?;
    let links = |pairs: Vec<(String, ArtifactRecord)>| {
        pairs
            .into_iter()
            .map(|(name, artifact)| ArtifactLink {
                name,
                artifact: artifact_item(&artifact),
            })
            .collect::<Vec<_>>()
    };
    let inputs = links(store(stores).step_inputs(&step.id)?);
    let outputs = links(store(stores).step_outputs(&step.id)?);
    let metrics_of = step.original_step_run_id.as_deref().unwrap_or(&step.id);
    let metrics = store(stores).metadata(&Resource::StepRun(metrics_of.to_owned()))?;
    let logs = stores
        .client
        .step_logs(&run.id, &step.name, None)
        .ok()
        .and_then(|logs| {
            let mut text = Vec::new();
            stores.client.read_logs(&logs, &mut text).ok()?;
            let start = text.len().saturating_sub(LOG_TAIL_BYTES);
            Some(String::from_utf8_lossy(&text[start..]).into_owned())
        });
    Ok(StepDetail {
        step: step_item(stores, &step),
        run: run_item(&run),
        inputs,
        outputs,
        metrics: metadata_items(metrics),
        logs,
    })
}

/// A page of artifacts, newest first, and how many there are ([`Total`]: counted up to
/// [`COUNT_CAP`](zenml_metadata_store::COUNT_CAP)).
pub(crate) fn artifacts(
    stores: &Stores,
    offset: u64,
    limit: u64,
) -> Result<(Vec<ArtifactItem>, Total), RequestError> {
    let mut query = ArtifactQuery::default();
    query.offset = offset;
    query.limit = limit;
    let page = store(stores).query_artifacts(&query)?;
    Ok((
        page.artifacts.iter().map(artifact_item).collect(),
        page.total,
    ))
}

/// Every artifact name with its latest version.
pub(crate) fn artifact_names(stores: &Stores) -> Result<Vec<ArtifactNameItem>, RequestError> {
    Ok(store(stores)
        .artifact_names()?
        .into_iter()
        .map(|name| ArtifactNameItem {
            name: name.name,
            latest_version: name.latest_version,
            versions: name.versions,
        })
        .collect())
}

/// An artifact (by id, name or `name:version`) with its labels, producer, description and
/// a page of its consumers (`offset`, `limit`: links of [`artifact_consumers_page`], each
/// step run shown once per page).
///
/// [`artifact_consumers_page`]: MetadataStore::artifact_consumers_page
pub(crate) fn artifact(
    stores: &Stores,
    key: &str,
    offset: u64,
    limit: u64,
) -> Result<ArtifactDetail, RequestError> {
    let view = stores.client.artifact(key)?;
    let record = view.record().clone();
    let producer = store(stores).get_step_run(&record.producer_step_run_id)?;
    let producer_run = store(stores).get_run(&producer.run_id)?;
    let mut seen = BTreeSet::new();
    let page = store(stores).artifact_consumers_page(&record.id, offset, limit)?;
    let consumer_count = page.total.count;
    let consumers = page
        .items
        .into_iter()
        .filter(|(_, step)| seen.insert(step.id.clone()))
        .map(|(_, step)| step_item(stores, &step))
        .collect();
    let schema = view.schema()?.and_then(|s| serde_json::to_value(s).ok());
    let statistics = view
        .statistics()?
        .and_then(|s| serde_json::to_value(s).ok());
    Ok(ArtifactDetail {
        artifact: artifact_item(&record),
        name: view.name().map(str::to_owned),
        version: view.version_number().map(u64::from),
        tags: view.tags().to_vec(),
        producer: step_item(stores, &producer),
        producer_run: run_item(&producer_run),
        consumers,
        consumer_count,
        schema,
        statistics,
    })
}

/// The lineage of an artifact, `depth` step runs each way, at most `max_nodes` nodes.
pub(crate) fn lineage(
    stores: &Stores,
    id: &str,
    depth: usize,
    max_nodes: usize,
) -> Result<Lineage, RequestError> {
    Ok(stores
        .client
        .artifact_lineage_bounded(id, Some(depth), max_nodes)?)
}

/// How many step runs of each run a comparison reads: the first ones, in
/// [`step_runs`](MetadataStore::step_runs)' order.
pub(crate) const COMPARED_STEPS: u64 = 200;

/// Runs side by side: every `step.parameter` and `step.metric` of the first
/// [`COMPARED_STEPS`] step runs of any of them.
pub(crate) fn compare(stores: &Stores, ids: &[String]) -> Result<Comparison, RequestError> {
    let mut runs = Vec::new();
    let mut parameters: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut metrics: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut steps_left_out = 0;
    for (i, id) in ids.iter().enumerate() {
        let record = store(stores).get_run(id)?;
        let page = store(stores).step_runs_page(&record.id, 0, COMPARED_STEPS)?;
        steps_left_out += page.total.count.saturating_sub(page.items.len() as u64);
        for step in page.items {
            if let Value::Object(map) = &step.parameters {
                for (key, value) in map {
                    let row = parameters
                        .entry(format!("{}.{key}", step.name))
                        .or_insert_with(|| vec![Value::Null; ids.len()]);
                    row[i] = value.clone();
                }
            }
            let of = step.original_step_run_id.as_deref().unwrap_or(&step.id);
            for (key, value) in store(stores).metadata(&Resource::StepRun(of.to_owned()))? {
                let row = metrics
                    .entry(format!("{}.{key}", step.name))
                    .or_insert_with(|| vec![Value::Null; ids.len()]);
                row[i] = value;
            }
        }
        runs.push(run_item(&record));
    }
    let rows = |map: BTreeMap<String, Vec<Value>>| {
        map.into_iter()
            .map(|(key, values)| ComparedValue {
                differs: values
                    .iter()
                    .any(|v| !zenml_pipeline::compare::same_value(v, &values[0])),
                key,
                values,
            })
            .collect()
    };
    Ok(Comparison {
        runs,
        parameters: rows(parameters),
        metrics: rows(metrics),
        steps_left_out,
    })
}

/// How many of a pipeline's newest runs its metric chart draws unless asked otherwise, and
/// at most.
pub(crate) const CHART_RUNS: u64 = 200;
/// The most runs a metric chart draws.
pub(crate) const MAX_CHART_RUNS: u64 = 1_000;

/// A metric (`step.key`) across the newest `runs` runs of `pipeline`, oldest first; the
/// first numeric metric those runs have when `metric` is `None`. One query, whatever the
/// pipeline's history holds.
pub(crate) fn metric_series(
    stores: &Stores,
    pipeline: &str,
    metric: Option<&str>,
    runs: u64,
) -> Result<MetricSeries, RequestError> {
    let mut query = MetricQuery::new(pipeline);
    query.runs = runs;
    let recorded = stores.client.pipeline_metrics(&query)?;
    let mut seen = BTreeSet::new();
    let mut all = Vec::new();
    let mut numeric = Vec::new();
    for point in &recorded {
        let column = format!("{}.{}", point.step, point.key);
        if seen.insert(column.clone()) {
            all.push(column);
        }
    }
    for column in &all {
        let has_number = recorded
            .iter()
            .any(|p| p.value.is_number() && format!("{}.{}", p.step, p.key) == *column);
        if has_number {
            numeric.push(column.clone());
        }
    }
    let chosen = match metric {
        Some(metric) => {
            if !all.iter().any(|m| m == metric) {
                return Err(RequestError::NotFound(format!(
                    "pipeline `{pipeline}` has no metric `{metric}` in its newest {runs} runs"
                )));
            }
            metric.to_owned()
        }
        None => numeric.first().cloned().unwrap_or_default(),
    };
    let (step, key) = chosen.split_once('.').unwrap_or(("", ""));
    let points = recorded
        .into_iter()
        .filter(|p| p.step == step && p.key == key)
        .filter_map(|p| {
            Some(MetricPoint {
                value: p.value.as_f64()?,
                run_id: p.run_id,
                run: p.run_name,
                started_at: p.started_at,
            })
        })
        .collect();
    Ok(MetricSeries {
        pipeline: pipeline.to_owned(),
        runs,
        metric: chosen,
        metrics: numeric,
        points,
    })
}

/// Every stack with its components (secrets left out: only their names are shown).
pub(crate) fn stacks(stores: &Stores, served: &str) -> Result<Vec<StackItem>, RequestError> {
    let repo = &stores.repo;
    let internal = |e: zenml_stack::RepositoryError| RequestError::Internal(e.to_string());
    repo.stacks()
        .into_iter()
        .map(|(name, stack)| {
            let components = ComponentKind::STACK_KINDS
                .iter()
                .map(|&kind| {
                    let component = stack.component(kind);
                    let definition = repo.component(kind, component.as_str()).map_err(internal)?;
                    Ok(ComponentItem {
                        kind: kind.cli_name().to_owned(),
                        name: component.to_string(),
                        flavor: definition.flavor.clone(),
                        settings: serde_json::to_value(&definition.config).unwrap_or(Value::Null),
                        secret_keys: repo.component_secret_keys(kind, component.as_str()),
                    })
                })
                .collect::<Result<Vec<_>, RequestError>>()?;
            Ok(StackItem {
                served: name.as_str() == served,
                name: name.to_string(),
                components,
            })
        })
        .collect()
}

/// Every linked flavor, by kind and name.
pub(crate) fn flavors() -> Result<Vec<FlavorItem>, RequestError> {
    let registry = FlavorRegistry::global().map_err(|e| RequestError::Internal(e.to_string()))?;
    Ok(registry
        .all()
        .map(|flavor| FlavorItem {
            kind: flavor.kind.cli_name().to_owned(),
            name: flavor.name.to_owned(),
            description: flavor.description.to_owned(),
            source: flavor.source.to_owned(),
        })
        .collect())
}
