//! The write operations: runs, leases, step runs with everything they link, failed
//! attempts, metadata and cache invalidation. Each is a write function (see the module
//! documentation of `sql`).

use super::checks::*;
use super::rows::*;
use super::*;

// ----- writing --------------------------------------------------------------------------------

/// [`MetadataStore::create_run`](crate::MetadataStore::create_run): finds or creates the
/// pipeline, then inserts the run. A write function (see the module documentation).
pub fn create_run(
    conn: &mut dyn SqlConnection,
    run: &NewRun,
) -> Result<RunRecord, MetadataStoreError> {
    const WHAT: &str = "run";
    check_id(WHAT, "id", &run.id)?;
    check_name(WHAT, "name", &run.name)?;
    check_name(WHAT, "pipeline name", &run.pipeline_name)?;

    // Insert-if-absent, then select: safe when several processes create the same pipeline at
    // once. On MySQL this insert is the transaction's first statement, so the select below
    // is its first consistent read and sees a pipeline another transaction just committed.
    let insert_pipeline = conn.dialect().insert_pipeline_if_absent_sql();
    conn.execute(
        insert_pipeline,
        &[
            new_id().into(),
            run.pipeline_name.as_str().into(),
            run.started_at.into(),
        ],
    )?;
    let pipeline_id = conn
        .query(SELECT_PIPELINE_ID, &[run.pipeline_name.as_str().into()])?
        .into_iter()
        .next()
        .map(|row| Columns::new(row, "pipeline").text())
        .transpose()?
        .ok_or_else(|| MetadataStoreError::Corrupt {
            what: "pipeline",
            message: format!(
                "pipeline `{}` vanished while its run was being recorded",
                run.pipeline_name
            ),
        })?;

    // Checked before the insert: no statement follows a failed one in a transaction
    // (PostgreSQL aborts the whole transaction at the first failure).
    if !conn
        .query(SELECT_RUN_ID_BY_NAME, &[run.name.as_str().into()])?
        .is_empty()
    {
        return Err(MetadataStoreError::DuplicateRunName {
            name: run.name.clone(),
        });
    }
    if let Some(row) = conn
        .query(SELECT_RUN_NAME, &[run.id.as_str().into()])?
        .into_iter()
        .next()
    {
        return Err(MetadataStoreError::InvalidRecord {
            what: WHAT,
            message: format!(
                "id `{}` is already the id of run `{}`",
                run.id,
                Columns::new(row, "run").text()?
            ),
        });
    }
    let inserted = conn.execute(
        INSERT_RUN,
        &[
            run.id.as_str().into(),
            pipeline_id.as_str().into(),
            run.name.as_str().into(),
            RunStatus::Running.as_str().into(),
            run.started_at.into(),
            run.config.to_string().into(),
            run.stack.to_string().into(),
            (!run.spec.is_null()).then(|| run.spec.to_string()).into(),
            run.lease_expires_at.into(),
        ],
    );
    if let Err(error) = inserted {
        // The id was free: a unique violation now is a run of the same name that another
        // writer recorded since the check.
        if conn.is_unique_violation(&error) {
            return Err(MetadataStoreError::DuplicateRunName {
                name: run.name.clone(),
            });
        }
        return Err(error);
    }
    Ok(RunRecord {
        id: run.id.clone(),
        pipeline_id,
        pipeline_name: run.pipeline_name.clone(),
        name: run.name.clone(),
        status: RunStatus::Running,
        started_at: run.started_at,
        ended_at: None,
        config: run.config.clone(),
        stack: run.stack.clone(),
        error: None,
        spec: run.spec.clone(),
        lease_expires_at: run.lease_expires_at,
    })
}

/// [`MetadataStore::finish_run`](crate::MetadataStore::finish_run). A write function.
pub fn finish_run(
    conn: &mut dyn SqlConnection,
    run_id: &str,
    status: RunStatus,
    ended_at: Millis,
    error: Option<&str>,
) -> Result<bool, MetadataStoreError> {
    if matches!(status, RunStatus::Running | RunStatus::Interrupted) {
        return Err(MetadataStoreError::InvalidRecord {
            what: "run",
            message: format!(
                "a run is finished as completed, failed or cancelled, not as {}",
                status.as_str()
            ),
        });
    }
    let changed = conn.execute(
        FINISH_RUN,
        &[
            status.as_str().into(),
            ended_at.into(),
            error.into(),
            run_id.into(),
            RunStatus::Running.as_str().into(),
        ],
    )?;
    // The status always changes from running, so even MySQL, which counts changed rows
    // rather than matched ones, counts 1 here when the run was running.
    if changed > 0 {
        return Ok(true);
    }
    if count(conn, COUNT_RUNS_WITH_ID, run_id)? == 0 {
        return Err(not_found("run", run_id));
    }
    Ok(false)
}

/// [`MetadataStore::renew_run_lease`](crate::MetadataStore::renew_run_lease). A write
/// function.
pub fn renew_run_lease(
    conn: &mut dyn SqlConnection,
    run_id: &str,
    expires_at: Millis,
) -> Result<bool, MetadataStoreError> {
    let changed = conn.execute(
        RENEW_RUN_LEASE,
        &[
            expires_at.into(),
            run_id.into(),
            RunStatus::Running.as_str().into(),
        ],
    )?;
    if changed > 0 {
        return Ok(true);
    }
    // MySQL counts changed rows, not matched ones: 0 may mean "the same lease again".
    let rows = conn.query(SELECT_RUN_STATUS, &[run_id.into()])?;
    match rows.into_iter().next() {
        None => Err(not_found("run", run_id)),
        Some(row) => Ok(Columns::new(row, "run").text()? == RunStatus::Running.as_str()),
    }
}

/// [`MetadataStore::record_failed_attempt`](crate::MetadataStore::record_failed_attempt).
/// A write function.
pub fn record_failed_attempt(
    conn: &mut dyn SqlConnection,
    attempt: &StepAttemptRecord,
) -> Result<(), MetadataStoreError> {
    const WHAT: &str = "step attempt";
    check_id(WHAT, "id", &attempt.id)?;
    check_id(WHAT, "run id", &attempt.run_id)?;
    check_name(WHAT, "step name", &attempt.name)?;
    if attempt.attempt == 0 {
        return Err(MetadataStoreError::InvalidRecord {
            what: WHAT,
            message: "attempts are numbered from 1".to_owned(),
        });
    }
    // Checked first, so that no statement follows a failed one: the same attempt again is
    // done already, an unknown run is not found.
    if count(conn, COUNT_STEP_ATTEMPTS_WITH_ID, &attempt.id)? > 0 {
        return Ok(());
    }
    if count(conn, COUNT_RUNS_WITH_ID, &attempt.run_id)? == 0 {
        return Err(not_found("run", &attempt.run_id));
    }
    conn.execute(
        INSERT_STEP_ATTEMPT,
        &[
            attempt.id.as_str().into(),
            attempt.run_id.as_str().into(),
            attempt.name.as_str().into(),
            i64::from(attempt.attempt).into(),
            attempt.started_at.into(),
            attempt.ended_at.into(),
            attempt.error.as_str().into(),
        ],
    )?;
    Ok(())
}

/// [`MetadataStore::step_attempts`](crate::MetadataStore::step_attempts): an unknown run is
/// [`MetadataStoreError::NotFound`].
pub fn step_attempts(
    conn: &mut dyn SqlConnection,
    run_id: &str,
) -> Result<Vec<StepAttemptRecord>, MetadataStoreError> {
    let attempts = map_rows(
        conn,
        LIST_STEP_ATTEMPTS,
        &[run_id.into()],
        "step attempt",
        |columns| {
            Ok(StepAttemptRecord {
                id: columns.text()?,
                run_id: columns.text()?,
                name: columns.text()?,
                attempt: attempt_number(columns)?,
                started_at: columns.int()?,
                ended_at: columns.int()?,
                error: columns.text()?,
            })
        },
    )?;
    if attempts.is_empty() && count(conn, COUNT_RUNS_WITH_ID, run_id)? == 0 {
        return Err(not_found("run", run_id));
    }
    Ok(attempts)
}

/// [`MetadataStore::record_step_run`](crate::MetadataStore::record_step_run): the step run,
/// its new artifacts, its input links, its output links and its metadata. A write function:
/// the flavor commits all of it or nothing.
pub fn record_step_run(
    conn: &mut dyn SqlConnection,
    write: &StepRunWrite,
) -> Result<(), MetadataStoreError> {
    check_step_run_write(write)?;
    super::names::check_labels(&write.artifact_labels, &write.new_outputs)?;
    let step = &write.step;
    // Checked first for a clear error; the foreign key would refuse the step run anyway.
    if count(conn, COUNT_RUNS_WITH_ID, &step.run_id)? == 0 {
        return Err(not_found("run", &step.run_id));
    }
    // The artifacts it links but does not create must exist: checked before anything is
    // written, so that no statement follows a failed one.
    let linked: Vec<&str> = write
        .inputs
        .iter()
        .map(|(_, id)| id.as_str())
        .chain(write.reused_outputs.iter().map(|(_, id)| id.as_str()))
        .collect();
    if let Some(missing) = first_missing_artifact(conn, &linked)? {
        return Err(not_found("artifact", &missing));
    }
    conn.execute(
        INSERT_STEP_RUN,
        &[
            step.id.as_str().into(),
            step.run_id.as_str().into(),
            step.name.as_str().into(),
            step.status.as_str().into(),
            step.started_at.into(),
            step.ended_at.into(),
            step.code_hash.as_str().into(),
            step.cache_key.as_deref().into(),
            step.parameters.to_string().into(),
            step.error.as_deref().into(),
            step.original_step_run_id.as_deref().into(),
            i64::from(step.attempt).into(),
        ],
    )?;
    for artifact in &write.new_outputs {
        conn.execute(
            INSERT_ARTIFACT,
            &[
                artifact.id.as_str().into(),
                artifact.uri.as_str().into(),
                artifact.artifact_store_uri.as_str().into(),
                artifact.path.as_str().into(),
                artifact.rust_type.as_str().into(),
                artifact.materializer_id.as_str().into(),
                i64::from(artifact.materializer_version).into(),
                artifact.content_hash.as_str().into(),
                artifact_size(artifact)?.into(),
                artifact.producer_step_run_id.as_str().into(),
                artifact.output_name.as_str().into(),
                artifact.created_at.into(),
            ],
        )?;
    }
    for (input_name, artifact_id) in &write.inputs {
        link(conn, INSERT_STEP_INPUT, &step.id, input_name, artifact_id)?;
    }
    let new_outputs = write
        .new_outputs
        .iter()
        .map(|a| (a.output_name.as_str(), a.id.as_str()));
    let reused_outputs = write
        .reused_outputs
        .iter()
        .map(|(name, id)| (name.as_str(), id.as_str()));
    for (output_name, artifact_id) in new_outputs.chain(reused_outputs) {
        link(conn, INSERT_STEP_OUTPUT, &step.id, output_name, artifact_id)?;
    }
    super::names::record_labels(conn, &write.artifact_labels)?;
    upsert_metadata(conn, &write.metadata)
}

/// Links an artifact to a step run as an input or output.
fn link(
    conn: &mut dyn SqlConnection,
    sql: &str,
    step_run_id: &str,
    name: &str,
    artifact_id: &str,
) -> Result<(), MetadataStoreError> {
    conn.execute(sql, &[step_run_id.into(), name.into(), artifact_id.into()])
        .map(drop)
}

/// The first of `ids` that names no artifact, if any: one query per [`IN_LIST_CHUNK`]
/// distinct ids.
fn first_missing_artifact(
    conn: &mut dyn SqlConnection,
    ids: &[&str],
) -> Result<Option<String>, MetadataStoreError> {
    let mut distinct: Vec<&str> = ids.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    for chunk in distinct.chunks(IN_LIST_CHUNK) {
        let sql = format!(
            "SELECT id FROM artifacts WHERE id IN {}",
            super::read::in_list(chunk.len())
        );
        let params: Vec<SqlValue> = chunk.iter().map(|id| (*id).into()).collect();
        let found: HashSet<String> = conn
            .query(&sql, &params)?
            .into_iter()
            .map(|row| Columns::new(row, "artifact").text())
            .collect::<Result<_, _>>()?;
        if let Some(missing) = chunk.iter().find(|id| !found.contains(**id)) {
            return Ok(Some((*missing).to_owned()));
        }
    }
    Ok(None)
}

/// [`MetadataStore::log_metadata`](crate::MetadataStore::log_metadata). A write function.
pub fn log_metadata(
    conn: &mut dyn SqlConnection,
    entries: &[MetadataEntry],
) -> Result<(), MetadataStoreError> {
    for entry in entries {
        check_metadata_entry(entry)?;
    }
    upsert_metadata(conn, entries)
}

/// [`MetadataStore::invalidate_cache`](crate::MetadataStore::invalidate_cache): sets
/// `cache_invalidated_at` on the entries [`cache_entries`] would list. A write function.
pub fn invalidate_cache(
    conn: &mut dyn SqlConnection,
    filter: &CacheFilter,
    at: Millis,
) -> Result<usize, MetadataStoreError> {
    let (sql, params) = invalidate_cache_sql(filter, at);
    // Every selected row changes (from NULL to a time), so MySQL's count of changed rows is
    // the count of matched ones.
    let changed = conn.execute(&sql, &params)?;
    Ok(usize::try_from(changed).unwrap_or(usize::MAX))
}

/// The statement of [`invalidate_cache`] and its parameters.
pub fn invalidate_cache_sql(filter: &CacheFilter, at: Millis) -> (String, Vec<SqlValue>) {
    let mut params = vec![at.into(), StepStatus::Completed.as_str().into()];
    let mut sql = INVALIDATE_CACHE.to_owned();
    if let Some(pipeline) = &filter.pipeline {
        sql.push_str(IN_RUNS_OF_PIPELINE);
        params.push(pipeline.as_str().into());
    }
    if let Some(step) = &filter.step {
        sql.push_str(" AND name = ?");
        params.push(step.as_str().into());
    }
    (sql, params)
}

fn upsert_metadata(
    conn: &mut dyn SqlConnection,
    entries: &[MetadataEntry],
) -> Result<(), MetadataStoreError> {
    let upsert = conn.dialect().upsert_metadata_sql();
    let now = now_millis();
    for entry in entries {
        conn.execute(
            upsert,
            &[
                entry.resource.type_name().into(),
                entry.resource.id().into(),
                entry.key.as_str().into(),
                entry.value.to_string().into(),
                now.into(),
            ],
        )?;
    }
    Ok(())
}
