//! The provided implementations of the contract's bounded reads, for stores that cannot
//! filter and page in their database: each is built on the contract's whole-history reads,
//! so a third party's store answers every query correctly, if not cheaply.

use std::collections::HashMap;

use crate::model::{
    ArtifactRecord, Resource, RunOrder, RunOverview, RunPage, RunQuery, StepStatus,
};
use crate::query::{
    ArtifactOrder, ArtifactPage, ArtifactQuery, COUNT_CAP, MetricPoint, MetricQuery, RunCursor,
    Total, check_page_bounds,
};
use crate::{MetadataStore, MetadataStoreError};

/// [`MetadataStore::query_runs`] and [`MetadataStore::query_runs_after`] on
/// [`MetadataStore::list_runs`].
pub(crate) fn query_runs<S: MetadataStore + ?Sized>(
    store: &S,
    query: &RunQuery,
    after: Option<&RunCursor>,
) -> Result<RunPage, MetadataStoreError> {
    query.check_bounds()?;
    let mut runs = store.list_runs(query.pipeline.as_deref())?;
    runs.retain(|run| query.status.is_none_or(|status| run.status == status));
    match query.order {
        RunOrder::NewestFirst => {}
        RunOrder::OldestFirst => runs.reverse(),
        RunOrder::NameAscending => runs.sort_by(|a, b| a.name.cmp(&b.name)),
        RunOrder::NameDescending => runs.sort_by(|a, b| b.name.cmp(&a.name)),
    }
    let total = runs.len() as u64;
    let offset = usize::try_from(query.offset).unwrap_or(usize::MAX);
    let limit = usize::try_from(query.limit).unwrap_or(usize::MAX);
    let page = runs
        .into_iter()
        .filter(|run| after.is_none_or(|c| c.precedes(query.order, run.started_at, &run.name)))
        .skip(offset)
        .take(limit)
        .map(|run| {
            let steps = store.step_runs(&run.id)?;
            Ok(RunOverview {
                cached_step_runs: steps
                    .iter()
                    .filter(|step| step.status == StepStatus::Cached)
                    .count() as u64,
                step_runs: steps.len() as u64,
                status: run.status,
                id: run.id,
                pipeline_name: run.pipeline_name,
                name: run.name,
                started_at: run.started_at,
                ended_at: run.ended_at,
                error: run.error,
            })
        })
        .collect::<Result<Vec<_>, MetadataStoreError>>()?;
    Ok(RunPage { runs: page, total })
}

/// [`MetadataStore::query_artifacts`] on [`MetadataStore::list_artifacts`], with the
/// labels and producers of the artifacts that pass the record's own filters.
pub(crate) fn query_artifacts<S: MetadataStore + ?Sized>(
    store: &S,
    query: &ArtifactQuery,
) -> Result<ArtifactPage, MetadataStoreError> {
    query.check_bounds()?;
    if let Some(pipeline) = &query.pipeline {
        // An unknown pipeline is `NotFound`, as in the SQL flavors.
        store.list_runs(Some(pipeline))?;
    }
    let mut artifacts = store.list_artifacts()?;
    artifacts.retain(|artifact| query.admits_record(artifact));
    artifacts.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    if query.order == ArtifactOrder::OldestFirst {
        artifacts.reverse();
    }
    if query.name.is_some() || query.tag.is_some() {
        let ids: Vec<&str> = artifacts.iter().map(|a| a.id.as_str()).collect();
        let labels: HashMap<String, _> = store.artifact_labels(&ids)?.into_iter().collect();
        artifacts.retain(|artifact| {
            labels.get(&artifact.id).is_some_and(|labels| {
                query
                    .name
                    .as_ref()
                    .is_none_or(|n| labels.name.as_ref() == Some(n))
                    && query.tag.as_ref().is_none_or(|t| labels.tags.contains(t))
            })
        });
    }
    if query.pipeline.is_some() || query.step.is_some() {
        let mut kept = Vec::with_capacity(artifacts.len());
        for artifact in artifacts {
            if produced_by(store, &artifact, query)? {
                kept.push(artifact);
            }
        }
        artifacts = kept;
    }
    let total = Total::capped(artifacts.len() as u64, COUNT_CAP);
    let page: Vec<ArtifactRecord> = artifacts
        .into_iter()
        .filter(|artifact| query.is_after_cursor(artifact))
        .skip(usize::try_from(query.offset).unwrap_or(usize::MAX))
        .take(usize::try_from(query.limit).unwrap_or(usize::MAX))
        .collect();
    Ok(ArtifactPage::new(page, total, query.limit))
}

/// Whether `artifact` was produced by a step and pipeline that `query` admits.
fn produced_by<S: MetadataStore + ?Sized>(
    store: &S,
    artifact: &ArtifactRecord,
    query: &ArtifactQuery,
) -> Result<bool, MetadataStoreError> {
    let producer = store.get_step_run(&artifact.producer_step_run_id)?;
    if query
        .step
        .as_ref()
        .is_some_and(|step| *step != producer.name)
    {
        return Ok(false);
    }
    match &query.pipeline {
        None => Ok(true),
        Some(pipeline) => Ok(store.get_run(&producer.run_id)?.pipeline_name == *pipeline),
    }
}

/// [`MetadataStore::pipeline_metrics`] on [`MetadataStore::list_runs`],
/// [`MetadataStore::step_runs`] and [`MetadataStore::step_metadata_bulk`].
pub(crate) fn pipeline_metrics<S: MetadataStore + ?Sized>(
    store: &S,
    query: &MetricQuery,
) -> Result<Vec<MetricPoint>, MetadataStoreError> {
    check_page_bounds("runs", 0, query.runs)?;
    let mut runs = store.list_runs(Some(&query.pipeline))?;
    runs.truncate(usize::try_from(query.runs).unwrap_or(usize::MAX));
    runs.reverse();
    let mut points = Vec::new();
    for run in runs {
        let mut steps = store.step_runs(&run.id)?;
        steps.retain(|step| query.step.as_ref().is_none_or(|name| *name == step.name));
        steps.sort_by(|a, b| a.name.cmp(&b.name));
        for step in steps {
            let of = step.original_step_run_id.unwrap_or(step.id);
            for (key, value) in store.metadata(&Resource::StepRun(of))? {
                if query.key.as_ref().is_none_or(|k| *k == key) {
                    points.push(MetricPoint {
                        run_id: run.id.clone(),
                        run_name: run.name.clone(),
                        started_at: run.started_at,
                        step: step.name.clone(),
                        key,
                        value,
                    });
                }
            }
        }
    }
    Ok(points)
}
