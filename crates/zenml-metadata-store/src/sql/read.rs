//! The read operations: every query of the record model.

use super::rows::*;
use super::*;

// ----- reading --------------------------------------------------------------------------------

/// [`MetadataStore::list_pipelines`](crate::MetadataStore::list_pipelines).
pub fn list_pipelines(
    conn: &mut dyn SqlConnection,
) -> Result<Vec<PipelineSummary>, MetadataStoreError> {
    map_rows(conn, LIST_PIPELINES, &[], "pipeline", |columns| {
        let pipeline = PipelineRecord {
            id: columns.text()?,
            name: columns.text()?,
            created_at: columns.int()?,
        };
        let run_count = columns.count()?;
        let latest_run = if columns.next_is_null() {
            None
        } else {
            Some(run_record(columns)?)
        };
        Ok(PipelineSummary {
            pipeline,
            run_count,
            latest_run,
        })
    })
}

/// [`MetadataStore::list_runs`](crate::MetadataStore::list_runs): an unknown pipeline is
/// [`MetadataStoreError::NotFound`].
pub fn list_runs(
    conn: &mut dyn SqlConnection,
    pipeline: Option<&str>,
) -> Result<Vec<RunRecord>, MetadataStoreError> {
    let Some(pipeline) = pipeline else {
        return map_rows(conn, LIST_RUNS, &[], "run", run_record);
    };
    let runs = map_rows(
        conn,
        LIST_RUNS_OF_PIPELINE,
        &[pipeline.into()],
        "run",
        run_record,
    )?;
    if runs.is_empty() && count(conn, COUNT_PIPELINES_NAMED, pipeline)? == 0 {
        return Err(not_found("pipeline", pipeline));
    }
    Ok(runs)
}

/// [`MetadataStore::get_run`](crate::MetadataStore::get_run): by id first, then by name.
pub fn get_run(
    conn: &mut dyn SqlConnection,
    name_or_id: &str,
) -> Result<RunRecord, MetadataStoreError> {
    for sql in [SELECT_RUN_BY_ID, SELECT_RUN_BY_NAME] {
        if let Some(run) = map_rows(conn, sql, &[name_or_id.into()], "run", run_record)?
            .into_iter()
            .next()
        {
            return Ok(run);
        }
    }
    Err(not_found("run", name_or_id))
}

/// [`MetadataStore::step_runs`](crate::MetadataStore::step_runs): an unknown run is
/// [`MetadataStoreError::NotFound`].
pub fn step_runs(
    conn: &mut dyn SqlConnection,
    run_id: &str,
) -> Result<Vec<StepRunRecord>, MetadataStoreError> {
    let steps = map_rows(
        conn,
        LIST_STEP_RUNS,
        &[run_id.into()],
        "step run",
        step_run_record,
    )?;
    if steps.is_empty() && count(conn, COUNT_RUNS_WITH_ID, run_id)? == 0 {
        return Err(not_found("run", run_id));
    }
    Ok(steps)
}

/// [`MetadataStore::step_run_named`](crate::MetadataStore::step_run_named): an unknown run
/// is [`MetadataStoreError::NotFound`].
pub fn step_run_named(
    conn: &mut dyn SqlConnection,
    run_id: &str,
    name: &str,
) -> Result<Option<StepRunRecord>, MetadataStoreError> {
    let step = map_rows(
        conn,
        SELECT_STEP_RUN_NAMED,
        &[run_id.into(), name.into()],
        "step run",
        step_run_record,
    )?
    .into_iter()
    .next();
    if step.is_none() && count(conn, COUNT_RUNS_WITH_ID, run_id)? == 0 {
        return Err(not_found("run", run_id));
    }
    Ok(step)
}

/// [`MetadataStore::step_inputs`](crate::MetadataStore::step_inputs): an unknown step run is
/// [`MetadataStoreError::NotFound`].
pub fn step_inputs(
    conn: &mut dyn SqlConnection,
    step_run_id: &str,
) -> Result<Vec<(String, ArtifactRecord)>, MetadataStoreError> {
    linked_artifacts(conn, SELECT_STEP_INPUTS, step_run_id)
}

/// [`MetadataStore::step_outputs`](crate::MetadataStore::step_outputs): an unknown step run
/// is [`MetadataStoreError::NotFound`].
pub fn step_outputs(
    conn: &mut dyn SqlConnection,
    step_run_id: &str,
) -> Result<Vec<(String, ArtifactRecord)>, MetadataStoreError> {
    linked_artifacts(conn, SELECT_STEP_OUTPUTS, step_run_id)
}

fn linked_artifacts(
    conn: &mut dyn SqlConnection,
    sql: &str,
    step_run_id: &str,
) -> Result<Vec<(String, ArtifactRecord)>, MetadataStoreError> {
    let links = map_rows(conn, sql, &[step_run_id.into()], "artifact", |columns| {
        Ok((columns.text()?, artifact_record(columns)?))
    })?;
    if links.is_empty() && count(conn, COUNT_STEP_RUNS_WITH_ID, step_run_id)? == 0 {
        return Err(not_found("step run", step_run_id));
    }
    Ok(links)
}

/// [`MetadataStore::get_artifact`](crate::MetadataStore::get_artifact).
pub fn get_artifact(
    conn: &mut dyn SqlConnection,
    id: &str,
) -> Result<ArtifactRecord, MetadataStoreError> {
    map_rows(
        conn,
        SELECT_ARTIFACT,
        &[id.into()],
        "artifact",
        artifact_record,
    )?
    .into_iter()
    .next()
    .ok_or_else(|| not_found("artifact", id))
}

/// [`MetadataStore::list_artifacts`](crate::MetadataStore::list_artifacts).
pub fn list_artifacts(
    conn: &mut dyn SqlConnection,
) -> Result<Vec<ArtifactRecord>, MetadataStoreError> {
    map_rows(conn, LIST_ARTIFACTS, &[], "artifact", artifact_record)
}

/// [`MetadataStore::metadata`](crate::MetadataStore::metadata).
pub fn metadata(
    conn: &mut dyn SqlConnection,
    resource: &Resource,
) -> Result<Vec<(String, Value)>, MetadataStoreError> {
    map_rows(
        conn,
        SELECT_METADATA,
        &[resource.type_name().into(), resource.id().into()],
        "metadata",
        |columns| Ok((columns.text()?, columns.json()?)),
    )
}

/// [`MetadataStore::cache_candidates`](crate::MetadataStore::cache_candidates).
pub fn cache_candidates(
    conn: &mut dyn SqlConnection,
    cache_key: &str,
    limit: usize,
) -> Result<Vec<StepRunRecord>, MetadataStoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    map_rows(
        conn,
        CACHE_CANDIDATES,
        &[
            cache_key.into(),
            StepStatus::Completed.as_str().into(),
            limit.into(),
        ],
        "step run",
        step_run_record,
    )
}

/// [`MetadataStore::cache_entries`](crate::MetadataStore::cache_entries).
pub fn cache_entries(
    conn: &mut dyn SqlConnection,
    filter: &CacheFilter,
) -> Result<Vec<CacheEntry>, MetadataStoreError> {
    let (sql, params) = cache_entries_sql(filter);
    map_rows(conn, &sql, &params, "cache entry", |columns| {
        Ok(CacheEntry {
            step_run: step_run_record(columns)?,
            run_name: columns.text()?,
            pipeline_name: columns.text()?,
        })
    })
}

/// The query of [`cache_entries`] and its parameters.
pub fn cache_entries_sql(filter: &CacheFilter) -> (String, Vec<SqlValue>) {
    cache_entries_after_sql(filter, None)
}

/// The query of the cache entries that follow the step run `after` (every entry when
/// `None`), and its parameters (see [`cache_entries_page`]).
pub fn cache_entries_after_sql(
    filter: &CacheFilter,
    after: Option<&crate::query::StepRunCursor>,
) -> (String, Vec<SqlValue>) {
    let mut params = vec![StepStatus::Completed.as_str().into()];
    let mut sql = CACHE_ENTRIES.to_owned();
    if let Some(pipeline) = &filter.pipeline {
        sql.push_str(" AND p.name = ?");
        params.push(pipeline.as_str().into());
    }
    if let Some(step) = &filter.step {
        sql.push_str(" AND s.name = ?");
        params.push(step.as_str().into());
    }
    if let Some(cursor) = after {
        sql.push_str(
            " AND s.ended_at <= ? AND (s.ended_at < ? OR s.started_at < ? \
             OR (s.started_at = ? AND s.id < ?))",
        );
        params.extend([
            SqlValue::Int(cursor.ended_at),
            SqlValue::Int(cursor.ended_at),
            SqlValue::Int(cursor.started_at),
            SqlValue::Int(cursor.started_at),
            cursor.id.as_str().into(),
        ]);
    }
    sql.push_str(newest_step_runs_first!());
    (sql, params)
}

/// [`MetadataStore::get_step_run`](crate::MetadataStore::get_step_run).
pub fn get_step_run(
    conn: &mut dyn SqlConnection,
    id: &str,
) -> Result<StepRunRecord, MetadataStoreError> {
    map_rows(
        conn,
        SELECT_STEP_RUN,
        &[id.into()],
        "step run",
        step_run_record,
    )?
    .into_iter()
    .next()
    .ok_or_else(|| not_found("step run", id))
}

/// [`MetadataStore::artifact_consumers`](crate::MetadataStore::artifact_consumers): an
/// unknown artifact is [`MetadataStoreError::NotFound`].
pub fn artifact_consumers(
    conn: &mut dyn SqlConnection,
    artifact_id: &str,
) -> Result<Vec<(String, StepRunRecord)>, MetadataStoreError> {
    let consumers = map_rows(
        conn,
        ARTIFACT_CONSUMERS,
        &[artifact_id.into()],
        "step run",
        |columns| Ok((columns.text()?, step_run_record(columns)?)),
    )?;
    if consumers.is_empty() && count(conn, COUNT_ARTIFACTS_WITH_ID, artifact_id)? == 0 {
        return Err(not_found("artifact", artifact_id));
    }
    Ok(consumers)
}

/// [`MetadataStore::artifact_ids_in_store`](crate::MetadataStore::artifact_ids_in_store).
pub fn artifact_ids_in_store(
    conn: &mut dyn SqlConnection,
    artifact_store_uri: &str,
) -> Result<Vec<String>, MetadataStoreError> {
    map_rows(
        conn,
        ARTIFACT_IDS_IN_STORE,
        &[artifact_store_uri.into()],
        "artifact",
        Columns::text,
    )
}

/// [`MetadataStore::step_metadata_bulk`](crate::MetadataStore::step_metadata_bulk): one
/// query per [`IN_LIST_CHUNK`] distinct ids.
pub fn step_metadata_bulk(
    conn: &mut dyn SqlConnection,
    step_run_ids: &[String],
) -> Result<Vec<(String, String, Value)>, MetadataStoreError> {
    let mut seen = HashSet::new();
    let ids: Vec<&str> = step_run_ids
        .iter()
        .map(String::as_str)
        .filter(|id| seen.insert(*id))
        .collect();
    let resource_type = Resource::StepRun(String::new()).type_name();
    let mut by_id: HashMap<String, Vec<(String, Value)>> = HashMap::new();
    for chunk in ids.chunks(IN_LIST_CHUNK) {
        let sql = step_metadata_bulk_sql(chunk.len());
        let params: Vec<SqlValue> = std::iter::once(resource_type.into())
            .chain(chunk.iter().map(|id| (*id).into()))
            .collect();
        let rows = map_rows(conn, &sql, &params, "metadata", |columns| {
            Ok((columns.text()?, columns.text()?, columns.json()?))
        })?;
        for (id, key, value) in rows {
            by_id.entry(id).or_default().push((key, value));
        }
    }
    Ok(ids
        .into_iter()
        .filter_map(|id| by_id.remove_entry(id))
        .flat_map(|(id, entries)| {
            entries
                .into_iter()
                .map(move |(key, value)| (id.clone(), key, value))
        })
        .collect())
}

/// The query of [`step_metadata_bulk`] for `n` ids.
pub fn step_metadata_bulk_sql(n: usize) -> String {
    format!(
        "{SELECT_METADATA_BULK}{} ORDER BY resource_id, meta_key",
        in_list(n)
    )
}

/// `(?, ?, …)` with `n` placeholders; `n` is at least one (`()` is not SQL).
pub(super) fn in_list(n: usize) -> String {
    debug_assert!(n > 0, "an empty IN list");
    let mut list = String::with_capacity(3 * n + 2);
    list.push('(');
    for i in 0..n {
        if i > 0 {
            list.push_str(", ");
        }
        list.push('?');
    }
    list.push(')');
    list
}
