//! `zenml artifact lineage` and `zenml run dag`: graphs of step runs and artifacts, as
//! tables, JSON or Graphviz DOT.

use zenml::pipeline::Client;
use zenml::pipeline::lineage::{EdgeKind, Lineage, LineageNode, short_type};
use zenml::pipeline::time::format_duration;

use crate::args::OutputFormat;
use crate::output::{Output, table, write_stdout};

/// `zenml artifact lineage ID [--depth N] [--max-nodes N]`.
pub(crate) fn artifact_lineage(
    out: Output,
    client: &Client,
    id: &str,
    depth: Option<usize>,
    max_nodes: usize,
) -> anyhow::Result<()> {
    let lineage = client.artifact_lineage_bounded(id, depth, max_nodes)?;
    let title = match lineage.node(id) {
        Some(LineageNode::Artifact(a)) => format!(
            "Lineage of artifact {} ({}, output `{}`), {}",
            a.id,
            short_type(&a.rust_type),
            a.output_name,
            match depth {
                Some(d) => format!("{d} step run(s) up and down"),
                None => "all the way up and down".to_owned(),
            }
        ),
        _ => format!("Lineage of artifact {id}"),
    };
    render(out, &lineage, &title)
}

/// `zenml run dag RUN`.
pub(crate) fn run_dag(out: Output, client: &Client, run: &str) -> anyhow::Result<()> {
    let record = client.run(run)?.record;
    let lineage = client.run_dag(&record.id)?;
    let title = format!(
        "Run `{}` of pipeline `{}`: {}",
        record.name,
        record.pipeline_name,
        record.status.as_str()
    );
    render(out, &lineage, &title)
}

fn render(out: Output, lineage: &Lineage, title: &str) -> anyhow::Result<()> {
    if out.format == OutputFormat::Dot {
        write_stdout(&lineage.to_dot());
        return Ok(());
    }
    out.show(serde_json::to_value(lineage)?, || tables(lineage, title));
    Ok(())
}

/// A short name for a node: `step trainer [run]`, `artifact 1a2b3c4d (output)`, or `step run
/// ID` for a step run outside the graph.
fn node_label(lineage: &Lineage, id: &str) -> String {
    match lineage.node(id) {
        Some(LineageNode::StepRun(s)) => format!("step {} [{}]", s.step, s.run),
        Some(LineageNode::Artifact(a)) => {
            format!("artifact {} ({})", short_id(&a.id), a.output_name)
        }
        // A producer outside the graph (beyond the depth, or another run's).
        None => format!("step run {id}"),
    }
}

fn short_id(id: &str) -> String {
    id.chars().take(8).collect()
}

/// Three tables: the step runs, the artifacts, the edges.
fn tables(lineage: &Lineage, title: &str) -> String {
    let steps = table(
        [
            "STEP",
            "RUN",
            "STATUS",
            "DURATION",
            "STEP RUN ID",
            "CODE HASH",
            "PARAMETERS",
        ],
        lineage.step_runs().map(|s| {
            [
                s.step.clone(),
                s.run.clone(),
                match &s.original_step_run_id {
                    Some(original) => {
                        format!("{} (from {})", s.status.as_str(), short_id(original))
                    }
                    None => s.status.as_str().to_owned(),
                },
                format_duration(s.ended_at - s.started_at),
                s.id.clone(),
                s.code_hash.chars().take(12).collect(),
                s.parameters
                    .as_object()
                    .map(|o| {
                        o.iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default(),
            ]
        }),
    );
    let artifacts = table(
        ["ARTIFACT", "OUTPUT", "TYPE", "SIZE", "PRODUCED BY"],
        lineage.artifacts().map(|a| {
            [
                a.id.clone(),
                a.output_name.clone(),
                short_type(&a.rust_type),
                format!("{} bytes", a.size),
                node_label(lineage, &a.producer_step_run_id),
            ]
        }),
    );
    let edges = table(
        ["FROM", "EDGE", "TO"],
        lineage.edges.iter().map(|e| {
            [
                node_label(lineage, &e.from),
                match e.kind {
                    EdgeKind::CachedFrom => e.kind.as_str().to_owned(),
                    kind => format!("{} `{}`", kind.as_str(), e.name),
                },
                node_label(lineage, &e.to),
            ]
        }),
    );
    let left_out = match (lineage.left_out, lineage.max_nodes) {
        (0, _) => String::new(),
        (n, Some(max)) => format!(
            "\n\n{n} more node(s) next to these were left out at the limit of {max} nodes; \
             raise --max-nodes or lower --depth to see them."
        ),
        (n, None) => format!("\n\n{n} more node(s) were left out."),
    };
    format!("{title}\n\nStep runs\n{steps}\n\nArtifacts\n{artifacts}\n\nEdges\n{edges}{left_out}")
}
