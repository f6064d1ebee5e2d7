//! Comparing runs and charting a metric: `/compare`, `/pipelines/{name}/chart.svg`.

use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::*;
use crate::api::load;
use crate::api::model::ComparedValue;
use crate::api::params::Params;
use zenml_metadata_store::RunQuery;

fn compared_table(id: &str, runs: &[RunItem], rows: &[ComparedValue]) -> Markup {
    html! {
        table id=(id) {
            thead { tr { th { "" } @for run in runs { th { a href={ "/runs/" (run.id) } { (run.name) } } } } }
            tbody {
                @for row in rows {
                    tr class=[row.differs.then_some("differs")] {
                        th { (row.key) }
                        @for value in &row.values { td { code { (value_text(value)) } } }
                    }
                }
            }
        }
    }
}

/// `GET /compare?runs=A&runs=B…`: the runs side by side; with fewer than two, a picker of
/// recent runs.
pub(crate) async fn compare(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> PageResult {
    let params = Params::parse(query.as_deref());
    if params.all("runs").len() < 2 {
        let (recent, _) = state
            .backend
            .call(|stores| load::runs(stores, &RunQuery::default()))
            .await?;
        return Ok(layout(
            "Compare runs",
            html! {
                p { "Pick two or more runs." }
                (runs_table(&recent))
            },
        ));
    }
    let ids = params.compared_runs()?;
    let comparison = state
        .backend
        .call(move |stores| load::compare(stores, &ids))
        .await?;
    let differing = comparison
        .parameters
        .iter()
        .filter(|row| row.differs)
        .count();
    Ok(layout(
        "Compare runs",
        html! {
            p { (comparison.runs.len()) " runs; " (differing) " parameters differ (marked)." }
            @if comparison.steps_left_out > 0 {
                p #compare-left-out.note {
                    "Only the first " (load::COMPARED_STEPS) " steps of each run are compared; "
                    (comparison.steps_left_out) " step runs are left out."
                }
            }
            h2 { "Parameters" }
            (compared_table("compare-parameters", &comparison.runs, &comparison.parameters))
            h2 { "Metrics" }
            (compared_table("compare-metrics", &comparison.runs, &comparison.metrics))
            h2 { "Runs" }
            table #compare-runs {
                thead { tr { th { "run" } th { "pipeline" } th { "status" } th { "started" } th { "duration" } } }
                tbody {
                    @for run in &comparison.runs {
                        tr {
                            td { a.run-link href={ "/runs/" (run.id) } { (run.name) } }
                            td { (run.pipeline) }
                            td { (status(&run.status)) }
                            td { (time(Some(run.started_at))) }
                            td { (duration(run.duration_ms)) }
                        }
                    }
                }
            }
        },
    ))
}

/// `GET /pipelines/{name}/chart.svg?metric=KEY&runs=N`.
pub(crate) async fn chart(
    State(state): State<AppState>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let params = Params::parse(query.as_deref());
    let metric = params.get("metric").map(str::to_owned);
    let runs = params.chart_runs()?;
    let series = state
        .backend
        .call(move |stores| load::metric_series(stores, &name, metric.as_deref(), runs))
        .await?;
    let svg = crate::chart::metric_chart(&series)?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}
