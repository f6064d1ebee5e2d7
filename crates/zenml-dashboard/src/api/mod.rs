//! The JSON API under `/api/v1/`: everything the pages show, with pagination on every list
//! and an OpenAPI document at `/api/v1/openapi.json`.

pub(crate) mod load;
pub(crate) mod model;
pub(crate) mod params;

use axum::Json;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use utoipa::OpenApi;

use crate::error::RequestError;
use crate::server::AppState;
use model::*;
use params::Params;
use zenml_metadata_store::Total;

/// The API's routes, under `/api/v1`.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/pipelines", get(pipelines))
        .route("/pipelines/{name}/metrics/{metric}", get(metric_series))
        .route("/runs", get(runs))
        .route("/runs/{id}", get(run))
        .route("/runs/{id}/steps", get(run_steps))
        .route("/runs/{id}/dag", get(run_dag))
        .route("/steps/{id}", get(step))
        .route("/steps/{id}/logs", get(step_logs))
        .route("/artifacts", get(artifacts))
        .route("/artifacts/names", get(artifact_names))
        .route("/artifacts/{id}", get(artifact))
        .route("/artifacts/{id}/preview", get(preview))
        .route("/artifacts/{id}/lineage", get(lineage))
        .route("/compare", get(compare))
        .route("/stacks", get(stacks))
        .route("/flavors", get(flavors))
        .fallback(not_found)
}

impl IntoResponse for RequestError {
    fn into_response(self) -> Response {
        (
            self.status(),
            self.headers(),
            Json(ErrorBody {
                error: self.message(),
                parameter: self.parameter().map(str::to_owned),
            }),
        )
            .into_response()
    }
}

type ApiResult<T> = Result<Json<T>, RequestError>;

async fn not_found() -> RequestError {
    RequestError::NotFound("no such API endpoint".to_owned())
}

/// One page of `items` out of `total` (exact, or counted up to a cap).
fn page<T: utoipa::ToSchema + Serialize>(
    items: Vec<T>,
    page: u64,
    per_page: u64,
    total: Total,
) -> Page<T> {
    Page {
        items,
        page,
        per_page,
        total: total.count,
        total_exact: total.exact,
    }
}

/// A page of `all`: `per_page` items from `offset`.
fn page_of<T: utoipa::ToSchema + Serialize>(
    all: Vec<T>,
    number: u64,
    per_page: u64,
    offset: u64,
) -> Page<T> {
    let total = Total::exact(all.len() as u64);
    let items = all
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(per_page).unwrap_or(usize::MAX))
        .collect();
    page(items, number, per_page, total)
}

/// The pagination parameters of every list.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Documents the parameters that `Params::page` reads.
struct PageParams {
    /// Page number, from 1.
    page: Option<u64>,
    /// Items per page, 1 to 500 (50).
    per_page: Option<u64>,
}

/// The OpenAPI document of this API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "zenml-rs dashboard API",
        description = "Read-only access to the runs, steps, artifacts and stacks of one zenml-rs stack. \
                       With a token (`zenml up --token-env VAR`), send `Authorization: Bearer TOKEN`."
    ),
    paths(
        pipelines,
        metric_series,
        runs,
        run,
        run_steps,
        run_dag,
        step,
        step_logs,
        artifacts,
        artifact_names,
        artifact,
        preview,
        lineage,
        compare,
        stacks,
        flavors
    )
)]
struct ApiDoc;

async fn openapi() -> Response {
    let mut document = ApiDoc::openapi();
    document.servers = Some(vec![utoipa::openapi::Server::new("/api/v1")]);
    match document.to_json() {
        Ok(json) => (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            json,
        )
            .into_response(),
        Err(e) => RequestError::Internal(e.to_string()).into_response(),
    }
}

/// Every pipeline with its run count and newest run.
#[utoipa::path(get, path = "/pipelines", params(
    PageParams),
    responses((status = 200, body = Page<PipelineItem>), (status = 400, body = ErrorBody)))]
async fn pipelines(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> ApiResult<Page<PipelineItem>> {
    let (number, per_page, offset) = Params::parse(query.as_deref()).page()?;
    let all = state.backend.call(load::pipelines).await?;
    Ok(Json(page_of(all, number, per_page, offset)))
}

/// Runs, filtered, sorted and paginated.
#[utoipa::path(get, path = "/runs", params(
    ("pipeline" = Option<String>, Query, description = "Only this pipeline's runs"),
    ("status" = Option<String>, Query, description = "running, completed, failed, interrupted or cancelled"),
    ("sort" = Option<String>, Query, description = "-started (default), started, name or -name"),
    PageParams),
    responses((status = 200, body = Page<RunItem>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn runs(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> ApiResult<Page<RunItem>> {
    let (query, number) = Params::parse(query.as_deref()).run_query()?;
    let per_page = query.limit;
    let (items, total) = state
        .backend
        .call(move |stores| load::runs(stores, &query))
        .await?;
    Ok(Json(page(items, number, per_page, Total::exact(total))))
}

/// A run (by id or name) with its configuration, stack snapshot, metadata, its first
/// step runs and how many it has.
#[utoipa::path(get, path = "/runs/{id}", params(("id" = String, Path, description = "Run id or name")),
    responses((status = 200, body = RunDetail), (status = 404, body = ErrorBody)))]
async fn run(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<RunDetail> {
    Ok(Json(
        state
            .backend
            .call(move |stores| load::run(stores, &id, 0, params::PER_PAGE))
            .await?,
    ))
}

/// A run's step runs.
#[utoipa::path(get, path = "/runs/{id}/steps", params(("id" = String, Path, description = "Run id or name"),
    PageParams),
    responses((status = 200, body = Page<StepItem>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn run_steps(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Page<StepItem>> {
    let (number, per_page, offset) = Params::parse(query.as_deref()).page()?;
    let (items, total) = state
        .backend
        .call(move |stores| load::run_steps(stores, &id, offset, per_page))
        .await?;
    Ok(Json(page(items, number, per_page, Total::exact(total))))
}

/// A run's graph, a page of its step runs at a time: those step runs, their artifacts and
/// the edges between them; `left_out` counts the step runs on other pages.
#[utoipa::path(get, path = "/runs/{id}/dag", params(("id" = String, Path, description = "Run id or name"),
    PageParams),
    responses((status = 200, description = "The lineage graph of the run", body = Object), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn run_dag(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, RequestError> {
    let (_, per_page, offset) = Params::parse(query.as_deref()).page()?;
    let dag = state
        .backend
        .call(move |stores| load::run_dag(stores, &id, offset, per_page))
        .await?;
    Ok(Json(dag).into_response())
}

/// A step run with its run, inputs, outputs, metrics and logs.
#[utoipa::path(get, path = "/steps/{id}", params(("id" = String, Path, description = "Step run id")),
    responses((status = 200, body = StepDetail), (status = 404, body = ErrorBody)))]
async fn step(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<StepDetail> {
    Ok(Json(
        state
            .backend
            .call(move |stores| load::step(stores, &id))
            .await?,
    ))
}

/// A step run's logs as text (the end of them, at most 256 KiB).
#[utoipa::path(get, path = "/steps/{id}/logs", params(("id" = String, Path, description = "Step run id")),
    responses((status = 200, description = "The logs", content_type = "text/plain"), (status = 404, body = ErrorBody)))]
async fn step_logs(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, RequestError> {
    let detail = state
        .backend
        .call(move |stores| load::step(stores, &id))
        .await?;
    let logs = detail.logs.ok_or_else(|| {
        RequestError::NotFound(format!("step run `{}` kept no logs", detail.step.id))
    })?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        logs,
    )
        .into_response())
}

/// Every artifact, newest first.
#[utoipa::path(get, path = "/artifacts", params(
    PageParams),
    responses((status = 200, body = Page<ArtifactItem>), (status = 400, body = ErrorBody)))]
async fn artifacts(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> ApiResult<Page<ArtifactItem>> {
    let (number, per_page, offset) = Params::parse(query.as_deref()).page()?;
    let (items, total) = state
        .backend
        .call(move |stores| load::artifacts(stores, offset, per_page))
        .await?;
    Ok(Json(page(items, number, per_page, total)))
}

/// The names artifacts are versioned under, with their latest versions.
#[utoipa::path(get, path = "/artifacts/names", params(
    PageParams),
    responses((status = 200, body = Page<ArtifactNameItem>), (status = 400, body = ErrorBody)))]
async fn artifact_names(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> ApiResult<Page<ArtifactNameItem>> {
    let (number, per_page, offset) = Params::parse(query.as_deref()).page()?;
    let all = state.backend.call(load::artifact_names).await?;
    Ok(Json(page_of(all, number, per_page, offset)))
}

/// An artifact (by id, name or `name:version`) with its labels, producer, schema,
/// statistics and a page of its consumers (`page`, `per_page`).
#[utoipa::path(get, path = "/artifacts/{id}", params(("id" = String, Path, description = "Artifact id, name or name:version"),
    PageParams),
    responses((status = 200, body = ArtifactDetail), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn artifact(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<ArtifactDetail> {
    let (_, per_page, offset) = Params::parse(query.as_deref()).page()?;
    Ok(Json(
        state
            .backend
            .call(move |stores| load::artifact(stores, &id, offset, per_page))
            .await?,
    ))
}

/// The start of an artifact's content, shown as its materializer suggests.
#[utoipa::path(get, path = "/artifacts/{id}/preview", params(("id" = String, Path, description = "Artifact id")),
    responses((status = 200, body = Preview), (status = 404, body = ErrorBody)))]
async fn preview(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Preview> {
    Ok(Json(
        state
            .backend
            .call(move |stores| crate::preview::preview(stores, &id))
            .await?,
    ))
}

/// The lineage of an artifact, up and down.
#[utoipa::path(get, path = "/artifacts/{id}/lineage", params(("id" = String, Path, description = "Artifact id"),
    ("depth" = Option<u64>, Query, description = "Step runs to follow each way, 0 to 50 (3)"),
    ("max_nodes" = Option<u64>, Query, description = "The most nodes the graph holds, 1 to 1000 (200); `left_out` counts the nodes next to them that did not fit")),
    responses((status = 200, description = "The lineage graph", body = Object), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn lineage(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, RequestError> {
    let params = Params::parse(query.as_deref());
    let (depth, max_nodes) = params.lineage_bounds()?;
    let graph = state
        .backend
        .call(move |stores| load::lineage(stores, &id, depth, max_nodes))
        .await?;
    Ok(Json(graph).into_response())
}

/// Runs side by side: parameters and metrics, with differences marked.
#[utoipa::path(get, path = "/compare", params(("runs" = Vec<String>, Query, description = "Two or more run ids or names (repeat the parameter)")),
    responses((status = 200, body = Comparison), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn compare(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> ApiResult<Comparison> {
    let runs = Params::parse(query.as_deref()).compared_runs()?;
    Ok(Json(
        state
            .backend
            .call(move |stores| load::compare(stores, &runs))
            .await?,
    ))
}

/// A metric across the newest runs of a pipeline, oldest first.
#[utoipa::path(get, path = "/pipelines/{name}/metrics/{metric}", params(
    ("name" = String, Path, description = "Pipeline name"), ("metric" = String, Path, description = "step.key"),
    ("runs" = Option<u64>, Query, description = "How many of the newest runs, 1 to 1000 (200)")),
    responses((status = 200, body = MetricSeries), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn metric_series(
    State(state): State<AppState>,
    Path((name, metric)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> ApiResult<MetricSeries> {
    let runs = Params::parse(query.as_deref()).chart_runs()?;
    Ok(Json(
        state
            .backend
            .call(move |stores| load::metric_series(stores, &name, Some(&metric), runs))
            .await?,
    ))
}

/// Every stack with its components (secrets are named, never shown).
#[utoipa::path(get, path = "/stacks", params(
    PageParams),
    responses((status = 200, body = Page<StackItem>), (status = 400, body = ErrorBody)))]
async fn stacks(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> ApiResult<Page<StackItem>> {
    let (number, per_page, offset) = Params::parse(query.as_deref()).page()?;
    let served = state.stack.clone();
    let all = state
        .backend
        .call(move |stores| load::stacks(stores, &served))
        .await?;
    Ok(Json(page_of(all, number, per_page, offset)))
}

/// Every flavor this program links.
#[utoipa::path(get, path = "/flavors", params(
    PageParams),
    responses((status = 200, body = Page<FlavorItem>), (status = 400, body = ErrorBody)))]
async fn flavors(RawQuery(query): RawQuery) -> ApiResult<Page<FlavorItem>> {
    let (number, per_page, offset) = Params::parse(query.as_deref()).page()?;
    let all = load::flavors()?;
    Ok(Json(page_of(all, number, per_page, offset)))
}
