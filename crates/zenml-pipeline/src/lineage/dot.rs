//! A lineage graph in Graphviz's DOT language.

use std::collections::HashMap;

use serde_json::Value;
use zenml_metadata_store::StepStatus;

use super::{EdgeKind, Lineage, LineageNode};

impl Lineage {
    /// The graph in Graphviz's DOT language: step runs are boxes filled by status (green
    /// completed, blue cached, red failed, grey skipped), artifacts are ellipses (the root's
    /// outline is bold), reused outputs are dashed and `cached from` edges dotted. Every id
    /// and label is quoted and escaped, so `dot -Tsvg` accepts any names.
    pub fn to_dot(&self) -> String {
        let mut dot = String::from("digraph lineage {\n");
        dot.push_str("  graph [rankdir=LR, fontname=\"Helvetica\"];\n");
        dot.push_str("  node [fontname=\"Helvetica\", fontsize=10];\n");
        dot.push_str("  edge [fontname=\"Helvetica\", fontsize=9];\n");
        for node in &self.nodes {
            match node {
                LineageNode::StepRun(step) => {
                    let mut lines = vec![
                        step.step.clone(),
                        format!("run {}", step.run),
                        step.status.as_str().to_owned(),
                    ];
                    if let Some(params) = step.parameters.as_object() {
                        lines.extend(
                            params
                                .iter()
                                .map(|(k, v)| truncate(&format!("{k}={}", value_text(v)), 48)),
                        );
                    }
                    dot.push_str(&format!(
                        "  {} [shape=box, style=\"rounded,filled\", fillcolor={}, label={}];\n",
                        quote(&node_key(node)),
                        quote(status_colour(step.status)),
                        label(&lines)
                    ));
                }
                LineageNode::Artifact(artifact) => {
                    let lines = vec![
                        artifact.output_name.clone(),
                        short_type(&artifact.rust_type),
                        artifact.id.chars().take(8).collect(),
                        format!("{} bytes", artifact.size),
                    ];
                    let root = self.root.as_deref() == Some(artifact.id.as_str());
                    dot.push_str(&format!(
                        "  {} [shape=ellipse, style=filled, fillcolor=\"#fff8dc\"{}, label={}];\n",
                        quote(&node_key(node)),
                        if root { ", penwidth=2.5" } else { "" },
                        label(&lines)
                    ));
                }
            }
        }
        let keys: HashMap<&str, String> =
            self.nodes.iter().map(|n| (n.id(), node_key(n))).collect();
        for edge in &self.edges {
            let (Some(from), Some(to)) = (keys.get(edge.from.as_str()), keys.get(edge.to.as_str()))
            else {
                continue;
            };
            let attributes = match edge.kind {
                EdgeKind::Input => format!("label={}", quote(&edge.name)),
                EdgeKind::Output => {
                    let reused = matches!(
                        self.node(&edge.from),
                        Some(LineageNode::StepRun(s)) if s.status == StepStatus::Cached
                    );
                    format!(
                        "label={}{}",
                        quote(&edge.name),
                        if reused { ", style=dashed" } else { "" }
                    )
                }
                EdgeKind::CachedFrom => {
                    "label=\"cached from\", style=dotted, arrowhead=empty, constraint=false"
                        .to_owned()
                }
            };
            dot.push_str(&format!(
                "  {} -> {} [{attributes}];\n",
                quote(from),
                quote(to)
            ));
        }
        dot.push_str("}\n");
        dot
    }
}

/// The DOT node name of a node: its kind and id, so that no two nodes can share one.
fn node_key(node: &LineageNode) -> String {
    match node {
        LineageNode::StepRun(s) => format!("step_run:{}", s.id),
        LineageNode::Artifact(a) => format!("artifact:{}", a.id),
    }
}

fn status_colour(status: StepStatus) -> &'static str {
    match status {
        StepStatus::Completed => "#c8e6c9",
        StepStatus::Cached => "#bbdefb",
        StepStatus::Failed => "#ffcdd2",
        StepStatus::Skipped => "#e0e0e0",
    }
}

/// `text` as a DOT quoted string: `"` and `\` escaped, line breaks as `\n`, other control
/// characters as spaces.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    push_escaped(&mut out, text);
    out.push('"');
    out
}

fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
}

/// A multi-line DOT label: each line escaped, joined by `\n`.
fn label(lines: &[String]) -> String {
    let mut out = String::from("\"");
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            out.push_str("\\n");
        }
        push_escaped(&mut out, line);
    }
    out.push('"');
    out
}

/// A JSON value as short text: strings without quotes.
fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut short: String = text.chars().take(max.saturating_sub(1)).collect();
        short.push('…');
        short
    }
}

/// A Rust type name without module paths: `alloc::vec::Vec<(f64, f64)>` → `Vec<(f64, f64)>`.
pub fn short_type(rust_type: &str) -> String {
    let mut out = String::with_capacity(rust_type.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        out.push_str(word.rsplit("::").next().unwrap_or(word));
        word.clear();
    };
    for c in rust_type.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}
