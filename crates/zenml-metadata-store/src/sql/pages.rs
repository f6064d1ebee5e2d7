//! The bounded reads: pages of runs, artifacts, step runs and consumers, and a pipeline's
//! metrics, each filtered, ordered, counted and paged in the database, so that a page costs
//! what it shows, not what the store holds.

use super::rows::*;
use super::*;
use crate::query::{
    ArtifactCursor, ArtifactOrder, ArtifactPage, ArtifactQuery, COUNT_CAP, MetricPoint,
    MetricQuery, Page, RunCursor, StepRunCursor, Total, check_page_bounds,
};

/// A `WHERE` clause and its parameters, built one condition at a time.
#[derive(Default)]
struct Conditions {
    sql: String,
    params: Vec<SqlValue>,
}

impl Conditions {
    fn and(&mut self, clause: &str, params: impl IntoIterator<Item = SqlValue>) {
        self.sql.push_str(if self.sql.is_empty() {
            " WHERE "
        } else {
            " AND "
        });
        self.sql.push_str(clause);
        self.params.extend(params);
    }
}

/// The one integer of a count query.
fn single_count(
    conn: &mut dyn SqlConnection,
    sql: &str,
    params: &[SqlValue],
    what: &'static str,
) -> Result<u64, MetadataStoreError> {
    map_rows(conn, sql, params, what, Columns::count)?
        .into_iter()
        .next()
        .ok_or_else(|| MetadataStoreError::Corrupt {
            what,
            message: "a count returned no row".to_owned(),
        })
}

fn limit_offset(limit: u64, offset: u64) -> [SqlValue; 2] {
    [
        SqlValue::Int(i64::try_from(limit).unwrap_or(i64::MAX)),
        SqlValue::Int(i64::try_from(offset).unwrap_or(i64::MAX)),
    ]
}

/// The id of the pipeline named `pipeline`, or [`MetadataStoreError::NotFound`].
fn pipeline_id(conn: &mut dyn SqlConnection, pipeline: &str) -> Result<String, MetadataStoreError> {
    map_rows(
        conn,
        SELECT_PIPELINE_ID,
        &[pipeline.into()],
        "pipeline",
        Columns::text,
    )?
    .into_iter()
    .next()
    .ok_or_else(|| not_found("pipeline", pipeline))
}

// ----- runs -----------------------------------------------------------------------------------

/// [`MetadataStore::query_runs`](crate::MetadataStore::query_runs) and
/// [`MetadataStore::query_runs_after`](crate::MetadataStore::query_runs_after): the filters,
/// the order and the page in the database (a count and one page of rows, without the runs'
/// configuration, stack and spec). The page is chosen in a derived table read from
/// `ix_pipeline_runs_started` (or the filter's index), past the cursor by a condition on the
/// index's own columns, so that a page deep in the history costs what the first does.
pub fn query_runs(
    conn: &mut dyn SqlConnection,
    query: &RunQuery,
    after: Option<&RunCursor>,
) -> Result<RunPage, MetadataStoreError> {
    query.check_bounds()?;
    let mut filter = Conditions::default();
    if let Some(pipeline) = &query.pipeline {
        // By the pipeline's id, so that neither the count nor the page joins `pipelines`.
        let id = pipeline_id(conn, pipeline)?;
        filter.and("r.pipeline_id = ?", [id.into()]);
    }
    if let Some(status) = query.status {
        // `interrupted` is a `running` run whose lease expired; `running` excludes those.
        let running = || {
            [
                RunStatus::Running.as_str().into(),
                SqlValue::Int(now_millis()),
            ]
        };
        match status {
            RunStatus::Running => filter.and(RUNNING_WITH_LEASE, running()),
            RunStatus::Interrupted => filter.and(RUNNING_LEASE_EXPIRED, running()),
            other => filter.and("r.status = ?", [other.as_str().into()]),
        }
    }
    let total = single_count(
        conn,
        &format!("{COUNT_RUNS_FROM}{}", filter.sql),
        &filter.params,
        "run",
    )?;
    if let Some(cursor) = after {
        let start = || SqlValue::Int(cursor.started_at);
        let name = || SqlValue::from(cursor.name.as_str());
        match query.order {
            RunOrder::NewestFirst => filter.and(
                "r.started_at <= ? AND (r.started_at < ? OR r.name < ?)",
                [start(), start(), name()],
            ),
            RunOrder::OldestFirst => filter.and(
                "r.started_at >= ? AND (r.started_at > ? OR r.name > ?)",
                [start(), start(), name()],
            ),
            RunOrder::NameAscending => filter.and("r.name > ?", [name()]),
            RunOrder::NameDescending => filter.and("r.name < ?", [name()]),
        }
    }
    let order = match query.order {
        RunOrder::NewestFirst => " ORDER BY r.started_at DESC, r.name DESC",
        RunOrder::OldestFirst => " ORDER BY r.started_at, r.name",
        RunOrder::NameAscending => " ORDER BY r.name",
        RunOrder::NameDescending => " ORDER BY r.name DESC",
    };
    let mut params = filter.params;
    params.extend(limit_offset(query.limit, query.offset));
    let sql = format!(
        "{RUN_OVERVIEW_COLUMNS}{RUN_PAGE_IDS}{}{order} LIMIT ? OFFSET ?{RUN_OVERVIEW_JOIN}{order}",
        filter.sql
    );
    let now = now_millis();
    let runs = map_rows(conn, &sql, &params, "run", |columns| {
        let id = columns.text()?;
        let pipeline_name = columns.text()?;
        let name = columns.text()?;
        let text = columns.text()?;
        let status = RunStatus::parse(&text)
            .filter(|status| *status != RunStatus::Interrupted)
            .ok_or_else(|| columns.corrupt(format!("unknown run status `{text}`")))?;
        let started_at = columns.int()?;
        let ended_at = columns.opt_int()?;
        let error = columns.opt_text()?;
        let lease_expires_at = columns.opt_int()?;
        Ok(RunOverview {
            id,
            pipeline_name,
            name,
            status: status.at(lease_expires_at, now),
            started_at,
            ended_at,
            error,
            step_runs: columns.count()?,
            cached_step_runs: columns.count()?,
        })
    })?;
    Ok(RunPage { runs, total })
}

// ----- artifacts ------------------------------------------------------------------------------

/// The artifacts with the tables their filters need, and the conditions; `pipeline_id` is
/// the id of the query's pipeline.
fn artifact_source(query: &ArtifactQuery, pipeline_id: Option<String>) -> (String, Conditions) {
    let mut from = String::from(" FROM artifacts a");
    let mut filter = Conditions::default();
    if let Some(name) = &query.name {
        from.push_str(" JOIN artifact_versions v ON v.artifact_id = a.id");
        filter.and("v.name = ?", [name.as_str().into()]);
    }
    if let Some(tag) = &query.tag {
        from.push_str(" JOIN artifact_tags t ON t.artifact_id = a.id");
        filter.and("t.tag = ?", [tag.as_str().into()]);
    }
    if query.step.is_some() || pipeline_id.is_some() {
        from.push_str(" JOIN step_runs s ON s.id = a.producer_step_run_id");
    }
    if let Some(step) = &query.step {
        filter.and("s.name = ?", [step.as_str().into()]);
    }
    if let Some(id) = pipeline_id {
        from.push_str(" JOIN pipeline_runs r ON r.id = s.run_id");
        filter.and("r.pipeline_id = ?", [id.into()]);
    }
    if let Some(materializer) = &query.materializer {
        filter.and("a.materializer_id = ?", [materializer.as_str().into()]);
    }
    if let Some(rust_type) = &query.rust_type {
        filter.and("a.rust_type = ?", [rust_type.as_str().into()]);
    }
    if let Some(after) = query.created_after {
        filter.and("a.created_at >= ?", [SqlValue::Int(after)]);
    }
    if let Some(before) = query.created_before {
        filter.and("a.created_at < ?", [SqlValue::Int(before)]);
    }
    (from, filter)
}

/// The two statements of [`query_artifacts`], each with its parameters.
#[derive(Debug)]
pub struct ArtifactPageSql {
    /// Counts the artifacts that pass the filters, up to [`COUNT_CAP`].
    pub count: (String, Vec<SqlValue>),
    /// Reads the page.
    pub page: (String, Vec<SqlValue>),
}

/// The statements of [`query_artifacts`] for `query`, whose pipeline (if any) has the id
/// `pipeline_id`.
pub fn query_artifacts_sql(query: &ArtifactQuery, pipeline_id: Option<String>) -> ArtifactPageSql {
    let (from, mut filter) = artifact_source(query, pipeline_id);
    let mut count_params = filter.params.clone();
    count_params.push(SqlValue::Int(i64::try_from(COUNT_CAP).unwrap_or(i64::MAX)));
    let count = format!(
        "SELECT COUNT(*) FROM (SELECT 1 AS one{from}{} LIMIT ?) c",
        filter.sql
    );
    if let Some(ArtifactCursor { created_at, id }) = &query.after {
        let (at, id) = (
            || SqlValue::Int(*created_at),
            || SqlValue::from(id.as_str()),
        );
        match query.order {
            ArtifactOrder::NewestFirst => filter.and(
                "a.created_at <= ? AND (a.created_at < ? OR a.id < ?)",
                [at(), at(), id()],
            ),
            ArtifactOrder::OldestFirst => filter.and(
                "a.created_at >= ? AND (a.created_at > ? OR a.id > ?)",
                [at(), at(), id()],
            ),
        }
    }
    let order = match query.order {
        ArtifactOrder::NewestFirst => " ORDER BY a.created_at DESC, a.id DESC",
        ArtifactOrder::OldestFirst => " ORDER BY a.created_at, a.id",
    };
    let mut params = filter.params;
    params.extend(limit_offset(query.limit, query.offset));
    let page = format!(
        "SELECT {}{from}{}{order} LIMIT ? OFFSET ?",
        artifact_columns!(),
        filter.sql
    );
    ArtifactPageSql {
        count: (count, count_params),
        page: (page, params),
    }
}

/// [`MetadataStore::query_artifacts`](crate::MetadataStore::query_artifacts): the count
/// stops at [`COUNT_CAP`] rows, and the page is read in the order of
/// `ix_artifacts_created` (`created_at`, `id`) past the cursor.
pub fn query_artifacts(
    conn: &mut dyn SqlConnection,
    query: &ArtifactQuery,
) -> Result<ArtifactPage, MetadataStoreError> {
    query.check_bounds()?;
    let pipeline = match &query.pipeline {
        Some(name) => Some(pipeline_id(conn, name)?),
        None => None,
    };
    let statements = query_artifacts_sql(query, pipeline);
    let (count_sql, count_params) = &statements.count;
    let counted = single_count(conn, count_sql, count_params, "artifact")?;
    let (page_sql, page_params) = &statements.page;
    let artifacts = map_rows(conn, page_sql, page_params, "artifact", artifact_record)?;
    Ok(ArtifactPage::new(
        artifacts,
        Total::capped(counted, COUNT_CAP),
        query.limit,
    ))
}

// ----- metrics --------------------------------------------------------------------------------

/// The step metadata of a pipeline's newest runs: the runs are chosen in a derived table
/// (from `ix_pipeline_runs_pipeline_started`), their step runs by `uq_step_runs_run_name`,
/// the metadata by its primary key. Parameters: pipeline id, limit, resource type; the
/// step and key conditions and the order follow.
pub const PIPELINE_METRICS: &str = "SELECT r.id, r.name, r.started_at, s.name, m.meta_key, m.value \
     FROM (SELECT l.id, l.name, l.started_at FROM pipeline_runs l WHERE l.pipeline_id = ? \
           ORDER BY l.started_at DESC, l.name DESC LIMIT ?) r \
     JOIN step_runs s ON s.run_id = r.id \
     JOIN run_metadata m ON m.resource_type = ? \
          AND m.resource_id = COALESCE(s.original_step_run_id, s.id)";

/// [`MetadataStore::pipeline_metrics`](crate::MetadataStore::pipeline_metrics): one query.
pub fn pipeline_metrics(
    conn: &mut dyn SqlConnection,
    query: &MetricQuery,
) -> Result<Vec<MetricPoint>, MetadataStoreError> {
    check_page_bounds("runs", 0, query.runs)?;
    let id = pipeline_id(conn, &query.pipeline)?;
    let mut sql = PIPELINE_METRICS.to_owned();
    let mut params = vec![
        id.into(),
        SqlValue::Int(i64::try_from(query.runs).unwrap_or(i64::MAX)),
        Resource::StepRun(String::new()).type_name().into(),
    ];
    if let Some(step) = &query.step {
        sql.push_str(" WHERE s.name = ?");
        params.push(step.as_str().into());
    }
    if let Some(key) = &query.key {
        sql.push_str(if query.step.is_some() {
            " AND m.meta_key = ?"
        } else {
            " WHERE m.meta_key = ?"
        });
        params.push(key.as_str().into());
    }
    sql.push_str(" ORDER BY r.started_at, r.name, s.name, m.meta_key");
    map_rows(conn, &sql, &params, "metadata", |columns| {
        Ok(MetricPoint {
            run_id: columns.text()?,
            run_name: columns.text()?,
            started_at: columns.int()?,
            step: columns.text()?,
            key: columns.text()?,
            value: columns.json()?,
        })
    })
}

// ----- step runs and consumers ----------------------------------------------------------------

const COUNT_STEP_RUNS_OF_RUN: &str = "SELECT COUNT(*) FROM step_runs WHERE run_id = ?";

const COUNT_CONSUMERS: &str = "SELECT COUNT(*) FROM step_run_inputs WHERE artifact_id = ?";

/// What a page of the records linked to one record reads: how to count them, how to list
/// them, and how to tell an owner without records from an unknown one.
struct LinkedPage<'a> {
    /// What is paged, for the bounds' refusal: `step runs`.
    noun: &'static str,
    /// Counts the records; parameter: the owner's key.
    count: &'a str,
    /// Lists the records in order; parameter: the owner's key (`LIMIT ? OFFSET ?` follows).
    list: &'a str,
    /// Counts owners with the key.
    owner_exists: &'a str,
    /// The owner, as named in a `NotFound`: `run`.
    owner: &'static str,
}

impl LinkedPage<'_> {
    fn read<T>(
        &self,
        conn: &mut dyn SqlConnection,
        key: &str,
        offset: u64,
        limit: u64,
        decode: impl FnMut(&mut Columns) -> Result<T, MetadataStoreError>,
    ) -> Result<Page<T>, MetadataStoreError> {
        check_page_bounds(self.noun, offset, limit)?;
        let total = single_count(conn, self.count, &[key.into()], "step run")?;
        if total == 0 && count(conn, self.owner_exists, key)? == 0 {
            return Err(not_found(self.owner, key));
        }
        let mut params = vec![key.into()];
        params.extend(limit_offset(limit, offset));
        let sql = format!("{} LIMIT ? OFFSET ?", self.list);
        Ok(Page {
            items: map_rows(conn, &sql, &params, "step run", decode)?,
            total: Total::exact(total),
        })
    }
}

/// [`MetadataStore::step_runs_page`](crate::MetadataStore::step_runs_page).
pub fn step_runs_page(
    conn: &mut dyn SqlConnection,
    run_id: &str,
    offset: u64,
    limit: u64,
) -> Result<Page<StepRunRecord>, MetadataStoreError> {
    let page = LinkedPage {
        noun: "step runs",
        count: COUNT_STEP_RUNS_OF_RUN,
        list: LIST_STEP_RUNS,
        owner_exists: COUNT_RUNS_WITH_ID,
        owner: "run",
    };
    page.read(conn, run_id, offset, limit, step_run_record)
}

/// [`MetadataStore::artifact_consumers_page`](crate::MetadataStore::artifact_consumers_page).
pub fn artifact_consumers_page(
    conn: &mut dyn SqlConnection,
    artifact_id: &str,
    offset: u64,
    limit: u64,
) -> Result<Page<(String, StepRunRecord)>, MetadataStoreError> {
    let page = LinkedPage {
        noun: "consumers",
        count: COUNT_CONSUMERS,
        list: ARTIFACT_CONSUMERS,
        owner_exists: COUNT_ARTIFACTS_WITH_ID,
        owner: "artifact",
    };
    page.read(conn, artifact_id, offset, limit, |columns| {
        Ok((columns.text()?, step_run_record(columns)?))
    })
}

/// [`MetadataStore::cache_entries_page`](crate::MetadataStore::cache_entries_page): the
/// entries of [`cache_entries_sql`], counted up to [`COUNT_CAP`], a page at a time.
pub fn cache_entries_page(
    conn: &mut dyn SqlConnection,
    filter: &CacheFilter,
    after: Option<&StepRunCursor>,
    offset: u64,
    limit: u64,
) -> Result<Page<CacheEntry>, MetadataStoreError> {
    check_page_bounds("cache entries", offset, limit)?;
    let (sql, params) = cache_entries_sql(filter);
    // Counted without the entries' columns, whose names repeat (a derived table may not
    // repeat a column's name in MySQL).
    let from = sql.find(" FROM step_runs s").map_or("", |at| &sql[at..]);
    let mut count_params = params.clone();
    count_params.push(SqlValue::Int(i64::try_from(COUNT_CAP).unwrap_or(i64::MAX)));
    let counted = single_count(
        conn,
        &format!("SELECT COUNT(*) FROM (SELECT 1 AS one{from} LIMIT ?) c"),
        &count_params,
        "cache entry",
    )?;
    let (sql, mut params) = cache_entries_after_sql(filter, after);
    params.extend(limit_offset(limit, offset));
    let items = map_rows(
        conn,
        &format!("{sql} LIMIT ? OFFSET ?"),
        &params,
        "cache entry",
        |columns| {
            Ok(CacheEntry {
                step_run: step_run_record(columns)?,
                run_name: columns.text()?,
                pipeline_name: columns.text()?,
            })
        },
    )?;
    Ok(Page {
        items,
        total: Total::capped(counted, COUNT_CAP),
    })
}
