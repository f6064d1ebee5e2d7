//! Pipelines, runs and a run: `/pipelines`, `/pipelines/{name}`, `/runs`, `/runs/{id}`.

use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::html;

use super::*;
use crate::api::load;
use crate::api::params::Params;
use crate::graph::lineage_svg;

/// `GET /pipelines`.
pub(crate) async fn pipelines(State(state): State<AppState>) -> PageResult {
    let pipelines = state.backend.call(load::pipelines).await?;
    Ok(layout(
        "Pipelines",
        html! {
            @if pipelines.is_empty() {
                p { "No runs yet. Run a pipeline (for example " code { "cargo run --example quickstart" } ") and reload." }
            }
            table #pipelines {
                thead { tr { th { "pipeline" } th { "runs" } th { "latest run" } th { "status" } th { "started" } } }
                tbody {
                    @for pipeline in &pipelines {
                        tr {
                            td { a.pipeline-link href={ "/pipelines/" (encode(&pipeline.name)) } { (pipeline.name) } }
                            td { a href={ "/runs?pipeline=" (encode(&pipeline.name)) } { (pipeline.run_count) } }
                            @if let Some(run) = &pipeline.latest_run {
                                td { a.run-link href={ "/runs/" (run.id) } { (run.name) } }
                                td { (status(&run.status)) }
                                td { (time(Some(run.started_at))) }
                            } @else {
                                td {} td {} td {}
                            }
                        }
                    }
                }
            }
        },
    ))
}

/// `GET /pipelines/{name}`: its runs and a chart of a metric across them.
pub(crate) async fn pipeline(
    State(state): State<AppState>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> PageResult {
    let params = Params::parse(query.as_deref());
    let metric = params.get("metric").map(str::to_owned);
    let chart_runs = params.chart_runs()?;
    let (mut run_query, number) = params.run_query()?;
    run_query.pipeline = Some(name.clone());
    let per_page = run_query.limit;
    let pipeline = name.clone();
    let (runs, total, series) = state
        .backend
        .call(move |stores| {
            let (runs, total) = load::runs(stores, &run_query)?;
            let series = load::metric_series(stores, &pipeline, metric.as_deref(), chart_runs)?;
            Ok((runs, total, series))
        })
        .await?;
    Ok(layout(
        &format!("Pipeline {name}"),
        html! {
            section #chart {
                h2 { "Metrics across runs" }
                @if series.metrics.is_empty() {
                    p { "Its steps logged no numeric metrics." }
                } @else {
                    form #metric-form method="get" {
                        label { "Metric "
                            select #metric name="metric" {
                                @for m in &series.metrics {
                                    option value=(m) selected[*m == series.metric] { (m) }
                                }
                            }
                        }
                        label { "over the newest "
                            input #chart-runs type="number" name="runs" min="1" max=(load::MAX_CHART_RUNS) value=(series.runs);
                            " runs"
                        }
                        button type="submit" { "Show" }
                    }
                    img #metric-chart alt={ "chart of " (series.metric) }
                        src={ "/pipelines/" (encode(&name)) "/chart.svg?metric=" (encode(&series.metric)) "&runs=" (series.runs) };
                }
            }
            h2 { "Runs (" (total) ")" }
            (runs_table(&runs))
            (pagination(&format!("/pipelines/{}?runs={chart_runs}&", encode(&name)), number, per_page, Total::exact(total)))
        },
    ))
}

/// `GET /runs`: filtered, sorted, paginated.
pub(crate) async fn runs(State(state): State<AppState>, RawQuery(query): RawQuery) -> PageResult {
    let params = Params::parse(query.as_deref());
    let (run_query, number) = params.run_query()?;
    let per_page = run_query.limit;
    let filter = run_query.clone();
    let (runs, total) = state
        .backend
        .call(move |stores| load::runs(stores, &filter))
        .await?;
    let pipelines = state.pipeline_names().await?;
    let sort = params.get("sort").unwrap_or("-started").to_owned();
    let mut base = String::from("/runs?");
    if let Some(pipeline) = &run_query.pipeline {
        base.push_str(&format!("pipeline={}&", encode(pipeline)));
    }
    if let Some(status) = run_query.status {
        base.push_str(&format!("status={}&", status.as_str()));
    }
    base.push_str(&format!("sort={}&", encode(&sort)));
    let statuses = ["running", "completed", "failed", "interrupted", "cancelled"];
    let sorts = [
        ("-started", "newest first"),
        ("started", "oldest first"),
        ("name", "name A–Z"),
        ("-name", "name Z–A"),
    ];
    Ok(layout(
        "Runs",
        html! {
            form #run-filter method="get" action="/runs" {
                label { "Pipeline "
                    select name="pipeline" {
                        option value="" { "all" }
                        @for p in &pipelines {
                            option value=(p) selected[run_query.pipeline.as_deref() == Some(p.as_str())] { (p) }
                        }
                    }
                }
                label { "Status "
                    select name="status" {
                        option value="" { "any" }
                        @for s in statuses {
                            option value=(s) selected[run_query.status.map(|x| x.as_str()) == Some(s)] { (s) }
                        }
                    }
                }
                label { "Sort "
                    select name="sort" {
                        @for (value, text) in sorts {
                            option value=(value) selected[sort == value] { (text) }
                        }
                    }
                }
                button type="submit" { "Filter" }
            }
            p { (total) " runs" }
            (runs_table(&runs))
            (pagination(&base, number, per_page, Total::exact(total)))
        },
    ))
}

/// `GET /runs/{id}?page=N`: the run's summary, a page of its steps ([`load::STEPS_PER_PAGE`]
/// unless `per_page` says otherwise) and their graph, its stack and configuration. A run
/// of many steps is drawn a page at a time: each page's graph holds that page's steps and
/// their artifacts, whatever the run's size.
pub(crate) async fn run(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> PageResult {
    let params = Params::parse(query.as_deref());
    let number = params.number("page", 1, 1, u64::from(u32::MAX))?;
    let per_page = params.number("per_page", load::STEPS_PER_PAGE, 1, 200)?;
    let offset = (number - 1).saturating_mul(per_page);
    let (detail, dag) = state
        .backend
        .call(move |stores| {
            Ok((
                load::run(stores, &id, offset, per_page)?,
                load::run_dag(stores, &id, offset, per_page)?,
            ))
        })
        .await?;
    let run = &detail.run;
    let paged = detail.step_count > per_page;
    let base = format!("/runs/{}?", run.id);
    Ok(layout_with(
        &run.name,
        Some((&run.id, &run.status)),
        html! {
            dl #run-summary {
                dt { "pipeline" } dd { a href={ "/pipelines/" (encode(&run.pipeline)) } { (run.pipeline) } }
                dt { "status" } dd { (status(&run.status)) }
                dt { "started" } dd { (time(Some(run.started_at))) }
                dt { "ended" } dd { (time(run.ended_at)) }
                dt { "duration" } dd { (duration(run.duration_ms)) }
                dt { "steps" } dd { (detail.step_count) }
                dt { "id" } dd { code { (run.id) } }
                @if let Some(error) = &run.error { dt { "error" } dd { pre.error { (error) } } }
            }
            h2 { "DAG" }
            @if paged {
                p #dag-page.note {
                    "Steps " (offset + 1) "–" (offset + detail.steps.len() as u64) " of " (detail.step_count)
                    " and their artifacts; " (dag.left_out) " more steps are on the other pages."
                }
            }
            div.graph-frame { (lineage_svg(&dag, "dag")) }
            @if paged { (pager(&base, number, per_page, Total::exact(detail.step_count), ("← previous steps", "next steps →"))) }
            h2 { "Steps" }
            table #steps {
                thead { tr { th { "step" } th { "status" } th { "started" } th { "duration" } th { "attempt" } th { "cached from" } } }
                tbody {
                    @for step in &detail.steps {
                        tr {
                            td { a.step-link href={ "/steps/" (step.id) } { (step.name) } }
                            td { (status(&step.status)) }
                            td { (time(Some(step.started_at))) }
                            td { (duration(Some(step.duration_ms))) }
                            td { (step.attempt) }
                            td {
                                @if let (Some(original), Some(original_run)) = (&step.original_step_run_id, &step.original_run_id) {
                                    a.cached-from href={ "/runs/" (original_run) } { "run" }
                                    " · "
                                    a href={ "/steps/" (original) } { "step" }
                                }
                            }
                        }
                    }
                }
            }
            @if paged { (pager(&base, number, per_page, Total::exact(detail.step_count), ("← previous steps", "next steps →"))) }
            @if !detail.metadata.is_empty() {
                h2 { "Metadata" }
                table #run-metadata {
                    @for entry in &detail.metadata { tr { th { (entry.key) } td { code { (value_text(&entry.value)) } } } }
                }
            }
            h2 { "Stack" }
            pre #stack { (pretty(&detail.stack)) }
            h2 { "Configuration" }
            p { a #config-download href={ "/runs/" (run.id) "/config.toml" } download { "Download as TOML" } " (what " code { "zenml run export-config" } " writes)" }
            pre #config { (pretty(&detail.config)) }
        },
    ))
}

/// `GET /runs/{id}/config.toml`.
pub(crate) async fn config_toml(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let (file, text) = state
        .backend
        .call(move |stores| load::run_config_toml(stores, &id))
        .await?;
    let safe: String = file
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/toml; charset=utf-8".to_owned(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{safe}\""),
            ),
        ],
        text,
    )
        .into_response())
}
