//! A step run: `/steps/{id}`.

use axum::extract::{Path, State};
use maud::{Markup, html};

use super::*;
use crate::api::load;
use crate::api::model::ArtifactLink;

fn artifact_table(id: &str, links: &[ArtifactLink]) -> Markup {
    html! {
        table id=(id) {
            thead { tr { th { "name" } th { "artifact" } th { "type" } th { "size" } } }
            tbody {
                @for link in links {
                    tr {
                        td { (link.name) }
                        td { a.artifact-link href={ "/artifacts/" (link.artifact.id) } { code { (link.artifact.id) } } }
                        td { code { (link.artifact.rust_type) } }
                        td { (link.artifact.size) " bytes" }
                    }
                }
            }
        }
    }
}

/// `GET /steps/{id}`.
pub(crate) async fn step(State(state): State<AppState>, Path(id): Path<String>) -> PageResult {
    let detail = state
        .backend
        .call(move |stores| load::step(stores, &id))
        .await?;
    let step = &detail.step;
    let parameters: Vec<(String, serde_json::Value)> = match &step.parameters {
        serde_json::Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        _ => Vec::new(),
    };
    Ok(layout(
        &step.name,
        html! {
            dl #step-summary {
                dt { "run" } dd { a #step-run href={ "/runs/" (detail.run.id) } { (detail.run.name) } " (" (detail.run.pipeline) ")" }
                dt { "status" } dd { (status(&step.status)) }
                @if let (Some(original), Some(run)) = (&step.original_step_run_id, &step.original_run_id) {
                    dt { "cached from" } dd { a.cached-from href={ "/steps/" (original) } { "the original step run" } " of " a href={ "/runs/" (run) } { "its run" } }
                }
                dt { "started" } dd { (time(Some(step.started_at))) }
                dt { "duration" } dd { (duration(Some(step.duration_ms))) }
                dt { "attempt" } dd { (step.attempt) }
                dt { "code hash" } dd { code { (step.code_hash) } }
                dt { "cache key" } dd { code { (step.cache_key.as_deref().unwrap_or("–")) } }
            }
            @if let Some(error) = &step.error {
                h2 { "Error" }
                pre #step-error { (error) }
            }
            h2 { "Parameters" }
            table #parameters {
                @for (key, value) in &parameters { tr { th { (key) } td { code { (value_text(value)) } } } }
            }
            h2 { "Metrics" }
            table #metrics {
                @for entry in &detail.metrics { tr { th { (entry.key) } td { code { (value_text(&entry.value)) } } } }
            }
            h2 { "Inputs" }
            (artifact_table("inputs", &detail.inputs))
            h2 { "Outputs" }
            (artifact_table("outputs", &detail.outputs))
            @if let Some(logs) = &detail.logs {
                h2 { "Logs" }
                pre #logs { (logs) }
            }
        },
    ))
}
