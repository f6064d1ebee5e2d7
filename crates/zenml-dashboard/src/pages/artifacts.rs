//! Artifacts: `/artifacts`, `/artifacts/{id}`, `/artifacts/{id}/lineage`.

use axum::extract::{Path, RawQuery, State};
use maud::{Markup, html};
use serde_json::Value;

use super::*;
use crate::api::load;
use crate::api::model::Preview;
use crate::api::params::Params;
use crate::graph::lineage_svg;

/// `GET /artifacts`: the named artifacts, then every artifact, newest first.
pub(crate) async fn artifacts(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> PageResult {
    let (page, per_page, offset) = Params::parse(query.as_deref()).page()?;
    let (names, (artifacts, total)) = state
        .backend
        .call(move |stores| {
            Ok((
                load::artifact_names(stores)?,
                load::artifacts(stores, offset, per_page)?,
            ))
        })
        .await?;
    Ok(layout(
        "Artifacts",
        html! {
            h2 { "Named artifacts" }
            table #artifact-names {
                thead { tr { th { "name" } th { "latest version" } th { "versions" } } }
                tbody {
                    @for name in &names {
                        tr {
                            td { a href={ "/artifacts/" (encode(&name.name)) } { (name.name) } }
                            td { a href={ "/artifacts/" (encode(&format!("{}:{}", name.name, name.latest_version))) } { (name.latest_version) } }
                            td { (name.versions) }
                        }
                    }
                }
            }
            h2 { "All artifacts (" (count_text(total)) ")" }
            table #artifacts {
                thead { tr { th { "artifact" } th { "output" } th { "type" } th { "size" } th { "created" } } }
                tbody {
                    @for artifact in &artifacts {
                        tr {
                            td { a.artifact-link href={ "/artifacts/" (artifact.id) } { code { (artifact.id) } } }
                            td { (artifact.output_name) }
                            td { code { (artifact.rust_type) } }
                            td { (artifact.size) }
                            td { (time(Some(artifact.created_at))) }
                        }
                    }
                }
            }
            (pagination("/artifacts?", page, per_page, total))
        },
    ))
}

fn preview_section(preview: &Preview) -> Markup {
    html! {
        section #preview {
            h2 { "Preview" @if let Some(file) = &preview.file { " of " code { (file) } } }
            @match preview.kind.as_str() {
                "json" => pre.preview-json { (preview.text.as_deref().unwrap_or("")) },
                "text" => pre.preview-text { (preview.text.as_deref().unwrap_or("")) },
                "hex" => pre.preview-hex { (preview.text.as_deref().unwrap_or("")) },
                "image" => { img.preview-image alt="artifact image" src=(preview.image.as_deref().unwrap_or("")); },
                "table" => table.preview-table {
                    thead { tr { @for column in &preview.columns { th { (column) } } } }
                    tbody { @for row in &preview.rows { tr { @for cell in row { td { (cell) } } } } }
                },
                _ => p { (preview.text.as_deref().unwrap_or("No preview.")) },
            }
            @if preview.truncated { p.note { "Only the start is shown." } }
            @if let Some(hex) = preview.hex.as_deref().filter(|_| preview.kind != "hex") {
                details { summary { "The first bytes in hex" } pre.preview-hex { (hex) } }
            }
        }
    }
}

/// The schema of a described table or array.
fn schema_section(schema: &Value) -> Markup {
    html! {
        h2 { "Schema" }
        @if let Some(shape) = schema.get("shape") { p { "shape " code { (shape) } " · dtype " code { (value_text(&schema["dtype"])) } } }
        table #schema {
            thead { tr { th { "column" } th { "type" } th { "nullable" } } }
            tbody {
                @for column in schema["columns"].as_array().into_iter().flatten() {
                    tr { td { (value_text(&column["name"])) } td { code { (value_text(&column["data_type"])) } } td { (value_text(&column["nullable"])) } }
                }
            }
        }
    }
}

/// Statistics: one row per column, the numbers that matter.
fn statistics_section(statistics: &Value) -> Markup {
    let columns = statistics["columns"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    html! {
        h2 { "Statistics" }
        @if let Some(rows) = statistics.get("rows") { p { (value_text(rows)) " rows" } }
        table #statistics {
            thead { tr { th { "column" } th { "count" } th { "nulls" } th { "min" } th { "max" } th { "mean" } th { "std dev" } th { "distinct" } th { "most frequent" } } }
            tbody {
                @for column in &columns {
                    @let numeric = &column["numeric"];
                    tr {
                        td { (value_text(&column["name"])) }
                        td { (value_text(&column["count"])) }
                        td { (value_text(&column["nulls"])) }
                        td { (value_text(&numeric["min"])) }
                        td { (value_text(&numeric["max"])) }
                        td { (value_text(&numeric["mean"])) }
                        td { (value_text(&numeric["std_dev"])) }
                        td { (value_text(&column["distinct"]["value"])) }
                        td {
                            @for top in column["top_values"]["values"].as_array().into_iter().flatten().take(3) {
                                code { (value_text(&top["value"])) } " (" (value_text(&top["count"])) ") "
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /artifacts/{id}?page=N` (an id, a name, or `name:version`): the artifact and a
/// page of its consumers.
pub(crate) async fn artifact(
    State(state): State<AppState>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
) -> PageResult {
    let (number, per_page, offset) = Params::parse(query.as_deref()).page()?;
    let base = format!("/artifacts/{}?", encode(&key));
    let (detail, preview) = state
        .backend
        .call(move |stores| {
            let detail = load::artifact(stores, &key, offset, per_page)?;
            let preview = crate::preview::preview(stores, &detail.artifact.id)?;
            Ok((detail, preview))
        })
        .await?;
    let artifact = &detail.artifact;
    let title = match (&detail.name, detail.version) {
        (Some(name), Some(version)) => format!("Artifact {name}:{version}"),
        _ => format!("Artifact {}", artifact.output_name),
    };
    Ok(layout(
        &title,
        html! {
            dl #artifact-summary {
                dt { "id" } dd { code { (artifact.id) } }
                dt { "type" } dd { code { (artifact.rust_type) } }
                dt { "materializer" } dd { (artifact.materializer) }
                dt { "hash" } dd { code { (artifact.content_hash) } }
                dt { "size" } dd { (artifact.size) " bytes" }
                dt { "URI" } dd { code { (artifact.uri) } }
                dt { "created" } dd { (time(Some(artifact.created_at))) }
                @if let (Some(name), Some(version)) = (&detail.name, detail.version) {
                    dt { "name" } dd { (name) ":" (version) }
                }
                @if !detail.tags.is_empty() {
                    dt { "tags" } dd { @for tag in &detail.tags { span.tag { (tag) } " " } }
                }
                dt { "producer" } dd {
                    a #producer href={ "/steps/" (detail.producer.id) } { (detail.producer.name) }
                    " in run " a href={ "/runs/" (detail.producer_run.id) } { (detail.producer_run.name) }
                }
            }
            p { a #lineage-link href={ "/artifacts/" (artifact.id) "/lineage" } { "Lineage →" } }
            h2 { "Consumers (" (detail.consumer_count) ")" }
            table #consumers {
                thead { tr { th { "step" } th { "status" } th { "run" } } }
                tbody {
                    @for step in &detail.consumers {
                        tr {
                            td { a.step-link href={ "/steps/" (step.id) } { (step.name) } }
                            td { (status(&step.status)) }
                            td { a href={ "/runs/" (step.run_id) } { "run" } }
                        }
                    }
                }
            }
            @if detail.consumer_count > per_page {
                (pager(&base, number, per_page, Total::exact(detail.consumer_count), ("← previous", "next →")))
            }
            (preview_section(&preview))
            @if let Some(schema) = &detail.schema { (schema_section(schema)) }
            @if let Some(statistics) = &detail.statistics { (statistics_section(statistics)) }
        },
    ))
}

/// `GET /artifacts/{id}/lineage?depth=N&max_nodes=M`.
pub(crate) async fn lineage(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> PageResult {
    let (depth, max_nodes) = Params::parse(query.as_deref()).lineage_bounds()?;
    let key = id.clone();
    let (graph, detail) = state
        .backend
        .call(move |stores| {
            let detail = load::artifact(stores, &key, 0, 1)?;
            Ok((
                load::lineage(stores, &detail.artifact.id, depth, max_nodes)?,
                detail,
            ))
        })
        .await?;
    Ok(layout(
        &format!("Lineage of {}", detail.artifact.output_name),
        html! {
            p { "Artifact " a href={ "/artifacts/" (detail.artifact.id) } { code { (detail.artifact.id) } } ": "
                (graph.step_runs().count()) " step runs and " (graph.artifacts().count()) " artifacts, " (depth) " step runs up and down." }
            @if graph.left_out > 0 {
                p #lineage-left-out.note {
                    (graph.left_out) " more nodes next to these are not shown: the graph holds at most "
                    (max_nodes) " nodes, the nearest first. Lower the depth or raise the limit to see them."
                }
            }
            form #lineage-depth method="get" {
                label { "Depth " input type="number" name="depth" min="0" max="50" value=(depth); }
                label { "At most " input type="number" name="max_nodes" min="1" max="1000" value=(max_nodes); " nodes" }
                button type="submit" { "Show" }
            }
            div.graph-frame { (lineage_svg(&graph, "lineage")) }
        },
    ))
}
