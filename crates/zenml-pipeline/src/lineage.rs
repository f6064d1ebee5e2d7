//! Lineage: which step runs produced and consumed which artifacts, as a graph.
//!
//! A [`Lineage`] has two kinds of nodes, step runs and artifacts, and three kinds of edges:
//!
//! - `input`: artifact → the step run that consumed it, labelled with the input's name;
//! - `output`: step run → an artifact it produced (or, for a `cached` step run, reused),
//!   labelled with the output's name;
//! - `cached_from`: a `cached` step run → the original step run whose outputs it reused.
//!
//! [`Client::artifact_lineage`](crate::Client::artifact_lineage) walks from one artifact
//! upward (its producer, the producer's inputs, their producers, …) and downward (the step
//! runs that consumed it, in any run, their outputs, their consumers, …), each way up to a
//! depth counted in step runs. [`Client::run_dag`](crate::Client::run_dag) gives the graph of
//! one run. Nodes and edges are deduplicated; [`Lineage::to_dot`] renders the graph for
//! Graphviz.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use zenml_metadata_store::{
    ArtifactRecord, MetadataStore, MetadataStoreError, Millis, StepRunRecord, StepStatus,
};

/// A lineage graph: step runs and artifacts, and how they are connected.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Lineage {
    /// The artifact whose lineage this is; `None` for the graph of a run.
    pub root: Option<String>,
    /// How many step runs deep the graph was followed each way; `None` when unlimited (and
    /// for the graph of a run).
    pub depth: Option<usize>,
    /// The nodes, each once, in the order they were found.
    pub nodes: Vec<LineageNode>,
    /// The edges, each once, in the order they were found.
    pub edges: Vec<LineageEdge>,
}

/// A node of a [`Lineage`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LineageNode {
    /// A step run.
    StepRun(LineageStepRun),
    /// An artifact.
    Artifact(LineageArtifact),
}

impl LineageNode {
    /// The id of the step run or artifact.
    pub fn id(&self) -> &str {
        match self {
            LineageNode::StepRun(step) => &step.id,
            LineageNode::Artifact(artifact) => &artifact.id,
        }
    }
}

/// A step run in a [`Lineage`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineageStepRun {
    /// The step run's id.
    pub id: String,
    /// The step's name.
    pub step: String,
    /// The run's id.
    pub run_id: String,
    /// The run's name.
    pub run: String,
    /// The run's pipeline.
    pub pipeline: String,
    /// The step run's outcome.
    pub status: StepStatus,
    /// The hash of the step's code.
    pub code_hash: String,
    /// The step's resolved parameters (a JSON object).
    pub parameters: Value,
    /// When it started.
    pub started_at: Millis,
    /// When it ended.
    pub ended_at: Millis,
    /// For a `cached` step run: the step run that really produced its outputs.
    pub original_step_run_id: Option<String>,
}

/// An artifact in a [`Lineage`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineageArtifact {
    /// The artifact's id.
    pub id: String,
    /// The Rust type of its value.
    pub rust_type: String,
    /// The output name it was produced under.
    pub output_name: String,
    /// The step run that produced it (never a `cached` one).
    pub producer_step_run_id: String,
    /// Where it lives.
    pub uri: String,
    /// The blake3 hash of its content.
    pub content_hash: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was recorded.
    pub created_at: Millis,
}

/// What an edge of a [`Lineage`] means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    /// Artifact → the step run that consumed it; the edge's name is the input's.
    Input,
    /// Step run → an artifact it produced or, when `cached`, reused; the edge's name is the
    /// output's.
    Output,
    /// A `cached` step run → the step run whose outputs it reused; no name.
    CachedFrom,
}

impl EdgeKind {
    /// The kind as shown to people: `input`, `output`, `cached from`.
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::Input => "input",
            EdgeKind::Output => "output",
            EdgeKind::CachedFrom => "cached from",
        }
    }
}

/// An edge of a [`Lineage`], between the nodes with ids `from` and `to`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LineageEdge {
    /// The id of the node it starts at.
    pub from: String,
    /// The id of the node it ends at.
    pub to: String,
    /// What it means.
    pub kind: EdgeKind,
    /// The input or output name; empty for `cached_from`.
    pub name: String,
}

impl Lineage {
    /// The node with this id.
    pub fn node(&self, id: &str) -> Option<&LineageNode> {
        self.nodes.iter().find(|n| n.id() == id)
    }

    /// The step run nodes.
    pub fn step_runs(&self) -> impl Iterator<Item = &LineageStepRun> {
        self.nodes.iter().filter_map(|n| match n {
            LineageNode::StepRun(s) => Some(s),
            LineageNode::Artifact(_) => None,
        })
    }

    /// The artifact nodes.
    pub fn artifacts(&self) -> impl Iterator<Item = &LineageArtifact> {
        self.nodes.iter().filter_map(|n| match n {
            LineageNode::Artifact(a) => Some(a),
            LineageNode::StepRun(_) => None,
        })
    }

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

/// Collects nodes and edges, each once.
struct GraphBuilder<'s> {
    store: &'s dyn MetadataStore,
    graph: Lineage,
    node_ids: HashSet<String>,
    edge_set: HashSet<LineageEdge>,
    /// Run id → (run name, pipeline name).
    runs: HashMap<String, (String, String)>,
}

impl<'s> GraphBuilder<'s> {
    fn new(store: &'s dyn MetadataStore, root: Option<String>, depth: Option<usize>) -> Self {
        GraphBuilder {
            store,
            graph: Lineage {
                root,
                depth,
                nodes: Vec::new(),
                edges: Vec::new(),
            },
            node_ids: HashSet::new(),
            edge_set: HashSet::new(),
            runs: HashMap::new(),
        }
    }

    fn add_artifact(&mut self, artifact: &ArtifactRecord) {
        if self.node_ids.insert(artifact.id.clone()) {
            self.graph
                .nodes
                .push(LineageNode::Artifact(LineageArtifact {
                    id: artifact.id.clone(),
                    rust_type: artifact.rust_type.clone(),
                    output_name: artifact.output_name.clone(),
                    producer_step_run_id: artifact.producer_step_run_id.clone(),
                    uri: artifact.uri.clone(),
                    content_hash: artifact.content_hash.clone(),
                    size: artifact.size,
                    created_at: artifact.created_at,
                }));
        }
    }

    /// Adds a step run; with `follow_original`, a `cached` step run brings the step run it
    /// reused and a `cached_from` edge to it.
    fn add_step(
        &mut self,
        step: &StepRunRecord,
        follow_original: bool,
    ) -> Result<(), MetadataStoreError> {
        if self.node_ids.insert(step.id.clone()) {
            let (run, pipeline) = self.run_names(&step.run_id)?;
            self.graph.nodes.push(LineageNode::StepRun(LineageStepRun {
                id: step.id.clone(),
                step: step.name.clone(),
                run_id: step.run_id.clone(),
                run,
                pipeline,
                status: step.status,
                code_hash: step.code_hash.clone(),
                parameters: step.parameters.clone(),
                started_at: step.started_at,
                ended_at: step.ended_at,
                original_step_run_id: step.original_step_run_id.clone(),
            }));
        }
        if follow_original
            && step.status == StepStatus::Cached
            && let Some(original) = &step.original_step_run_id
        {
            if !self.node_ids.contains(original) {
                let record = self.store.get_step_run(original)?;
                self.add_step(&record, false)?;
            }
            self.add_edge(&step.id, original, EdgeKind::CachedFrom, "");
        }
        Ok(())
    }

    fn add_edge(&mut self, from: &str, to: &str, kind: EdgeKind, name: &str) {
        let edge = LineageEdge {
            from: from.to_owned(),
            to: to.to_owned(),
            kind,
            name: name.to_owned(),
        };
        if self.edge_set.insert(edge.clone()) {
            self.graph.edges.push(edge);
        }
    }

    fn run_names(&mut self, run_id: &str) -> Result<(String, String), MetadataStoreError> {
        if let Some(names) = self.runs.get(run_id) {
            return Ok(names.clone());
        }
        let run = self.store.get_run(run_id)?;
        let names = (run.name, run.pipeline_name);
        self.runs.insert(run_id.to_owned(), names.clone());
        Ok(names)
    }
}

/// Whether another level of step runs may be followed after `level` levels.
fn within(depth: Option<usize>, level: usize) -> bool {
    depth.is_none_or(|d| level < d)
}

/// The lineage of `root`: upward and downward, each up to `depth` levels of step runs
/// (unlimited for `None`; `Some(0)` is the artifact alone). Breadth first, so that an
/// artifact reached by two paths is followed as far as the shorter one allows.
pub(crate) fn artifact_lineage(
    store: &dyn MetadataStore,
    root: &ArtifactRecord,
    depth: Option<usize>,
) -> Result<Lineage, MetadataStoreError> {
    let mut builder = GraphBuilder::new(store, Some(root.id.clone()), depth);
    builder.add_artifact(root);

    // Upward: producers and their inputs.
    let mut expanded: HashSet<String> = HashSet::new();
    let mut frontier = vec![root.clone()];
    let mut level = 0;
    while !frontier.is_empty() && within(depth, level) {
        level += 1;
        let mut next = Vec::new();
        for artifact in frontier {
            if !expanded.insert(artifact.id.clone()) {
                continue;
            }
            let producer = store.get_step_run(&artifact.producer_step_run_id)?;
            builder.add_step(&producer, true)?;
            builder.add_edge(
                &producer.id,
                &artifact.id,
                EdgeKind::Output,
                &artifact.output_name,
            );
            for (name, input) in store.step_inputs(&producer.id)? {
                builder.add_artifact(&input);
                builder.add_edge(&input.id, &producer.id, EdgeKind::Input, &name);
                next.push(input);
            }
        }
        frontier = next;
    }

    // Downward: consumers and their outputs.
    let mut expanded: HashSet<String> = HashSet::new();
    let mut expanded_steps: HashSet<String> = HashSet::new();
    let mut frontier = vec![root.clone()];
    let mut level = 0;
    while !frontier.is_empty() && within(depth, level) {
        level += 1;
        let mut next = Vec::new();
        for artifact in frontier {
            if !expanded.insert(artifact.id.clone()) {
                continue;
            }
            for (name, consumer) in store.artifact_consumers(&artifact.id)? {
                builder.add_step(&consumer, true)?;
                builder.add_edge(&artifact.id, &consumer.id, EdgeKind::Input, &name);
                if !expanded_steps.insert(consumer.id.clone()) {
                    continue;
                }
                for (output, produced) in store.step_outputs(&consumer.id)? {
                    builder.add_artifact(&produced);
                    builder.add_edge(&consumer.id, &produced.id, EdgeKind::Output, &output);
                    next.push(produced);
                }
            }
        }
        frontier = next;
    }
    Ok(builder.graph)
}

/// The graph of one run: its step runs with their inputs and outputs. The original step
/// runs of `cached` steps are not added (they belong to other runs); each cached step run
/// names its original in `original_step_run_id`.
pub(crate) fn run_dag(
    store: &dyn MetadataStore,
    run_id: &str,
) -> Result<Lineage, MetadataStoreError> {
    let mut builder = GraphBuilder::new(store, None, None);
    for step in store.step_runs(run_id)? {
        builder.add_step(&step, false)?;
        for (name, input) in store.step_inputs(&step.id)? {
            builder.add_artifact(&input);
            builder.add_edge(&input.id, &step.id, EdgeKind::Input, &name);
        }
        for (name, output) in store.step_outputs(&step.id)? {
            builder.add_artifact(&output);
            builder.add_edge(&step.id, &output.id, EdgeKind::Output, &name);
        }
    }
    Ok(builder.graph)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::Path;
    use std::time::Duration;

    use serde_json::json;
    use zenml_metadata_store::{NewRun, StepRunWrite};
    use zenml_sqlite::SqliteMetadataStore;

    use super::*;

    pub(crate) fn open_store(dir: &Path) -> SqliteMetadataStore {
        SqliteMetadataStore::open(&dir.join("metadata.db"), Duration::from_secs(30))
            .expect("a test database")
    }

    /// A fresh UUID.
    pub(crate) fn id() -> String {
        uuid::Uuid::new_v4().to_string()
    }

    /// Records a run named `name` of pipeline `pipeline` starting at `at`; returns its id.
    pub(crate) fn run(store: &dyn MetadataStore, pipeline: &str, name: &str, at: Millis) -> String {
        let run = store
            .create_run(&NewRun {
                id: id(),
                pipeline_name: pipeline.to_owned(),
                name: name.to_owned(),
                started_at: at,
                config: json!({}),
                stack: json!({}),
                spec: serde_json::Value::Null,
                lease_expires_at: None,
            })
            .expect("a run");
        run.id
    }

    pub(crate) fn artifact(producer: &str, output: &str, store_uri: &str) -> ArtifactRecord {
        let id = id();
        ArtifactRecord {
            uri: format!("{store_uri}/p/s/{output}/{id}"),
            artifact_store_uri: store_uri.to_owned(),
            path: format!("p/s/{output}/{id}"),
            id,
            rust_type: "alloc::vec::Vec<f64>".to_owned(),
            materializer_id: "zenml.json".to_owned(),
            materializer_version: 1,
            content_hash: "0".repeat(64),
            size: 10,
            producer_step_run_id: producer.to_owned(),
            output_name: output.to_owned(),
            created_at: 1,
        }
    }

    /// A step run write: `inputs` by (name, artifact id), new outputs by name.
    pub(crate) struct StepSpec<'a> {
        pub(crate) run: &'a str,
        pub(crate) name: &'a str,
        pub(crate) parameters: Value,
        pub(crate) inputs: Vec<(&'a str, String)>,
        pub(crate) outputs: Vec<&'a str>,
        pub(crate) cached_from: Option<(String, Vec<(&'a str, String)>)>,
        pub(crate) at: Millis,
        pub(crate) store_uri: &'a str,
    }

    impl<'a> StepSpec<'a> {
        pub(crate) fn new(run: &'a str, name: &'a str, at: Millis) -> Self {
            StepSpec {
                run,
                name,
                parameters: json!({}),
                inputs: Vec::new(),
                outputs: Vec::new(),
                cached_from: None,
                at,
                store_uri: "file:///store",
            }
        }
    }

    /// Records `spec`; returns the step run id and its new outputs by name.
    pub(crate) fn step(
        store: &dyn MetadataStore,
        spec: StepSpec<'_>,
    ) -> (String, HashMap<String, ArtifactRecord>) {
        let step_id = id();
        let outputs: Vec<ArtifactRecord> = spec
            .outputs
            .iter()
            .map(|o| artifact(&step_id, o, spec.store_uri))
            .collect();
        let (status, original, reused) = match &spec.cached_from {
            Some((original, reused)) => (
                StepStatus::Cached,
                Some(original.clone()),
                reused
                    .iter()
                    .map(|(n, a)| ((*n).to_owned(), a.clone()))
                    .collect(),
            ),
            None => (StepStatus::Completed, None, Vec::new()),
        };
        store
            .record_step_run(&StepRunWrite {
                step: StepRunRecord {
                    id: step_id.clone(),
                    run_id: spec.run.to_owned(),
                    name: spec.name.to_owned(),
                    status,
                    started_at: spec.at,
                    ended_at: spec.at + 5,
                    code_hash: "c0de".to_owned(),
                    cache_key: Some(format!("key-{}", spec.name)),
                    parameters: spec.parameters,
                    error: None,
                    original_step_run_id: original,
                    cache_invalidated_at: None,
                    attempt: 1,
                },
                inputs: spec
                    .inputs
                    .iter()
                    .map(|(n, a)| ((*n).to_owned(), a.clone()))
                    .collect(),
                new_outputs: outputs.clone(),
                reused_outputs: reused,
                metadata: Vec::new(),
            })
            .expect("a recorded step run");
        (
            step_id,
            outputs
                .into_iter()
                .map(|a| (a.output_name.clone(), a))
                .collect(),
        )
    }

    /// Two runs of load → split → train: the second reuses load and split (cached).
    struct Fixture {
        store: SqliteMetadataStore,
        _dir: tempfile::TempDir,
        load: (String, HashMap<String, ArtifactRecord>),
        split: (String, HashMap<String, ArtifactRecord>),
        train: (String, HashMap<String, ArtifactRecord>),
        cached_split: String,
        train2: (String, HashMap<String, ArtifactRecord>),
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path());
        let r1 = run(&store, "p", "r1", 100);
        let load = step(
            &store,
            StepSpec {
                outputs: vec!["output"],
                parameters: json!({"rows": 10}),
                ..StepSpec::new(&r1, "load", 100)
            },
        );
        let data = load.1["output"].id.clone();
        let split = step(
            &store,
            StepSpec {
                inputs: vec![("data", data.clone())],
                outputs: vec!["test", "train"],
                ..StepSpec::new(&r1, "split", 110)
            },
        );
        let train = step(
            &store,
            StepSpec {
                inputs: vec![("train", split.1["train"].id.clone())],
                outputs: vec!["output"],
                parameters: json!({"lr": 0.5}),
                ..StepSpec::new(&r1, "train", 120)
            },
        );
        let r2 = run(&store, "p", "r2", 200);
        let (_, _) = step(
            &store,
            StepSpec {
                cached_from: Some((load.0.clone(), vec![("output", data.clone())])),
                ..StepSpec::new(&r2, "load", 200)
            },
        );
        let (cached_split, _) = step(
            &store,
            StepSpec {
                inputs: vec![("data", data)],
                cached_from: Some((
                    split.0.clone(),
                    vec![
                        ("test", split.1["test"].id.clone()),
                        ("train", split.1["train"].id.clone()),
                    ],
                )),
                ..StepSpec::new(&r2, "split", 210)
            },
        );
        let train2 = step(
            &store,
            StepSpec {
                inputs: vec![("train", split.1["train"].id.clone())],
                outputs: vec!["output"],
                parameters: json!({"lr": 0.7}),
                ..StepSpec::new(&r2, "train", 220)
            },
        );
        Fixture {
            store,
            _dir: dir,
            load,
            split,
            train,
            cached_split,
            train2,
        }
    }

    fn has_edge(graph: &Lineage, from: &str, to: &str, kind: EdgeKind, name: &str) -> bool {
        graph
            .edges
            .iter()
            .any(|e| e.from == from && e.to == to && e.kind == kind && e.name == name)
    }

    #[test]
    fn lineage_goes_up_and_down_and_follows_cached_step_runs() {
        let f = fixture();
        let train_set = f.split.1["train"].clone();
        let graph = artifact_lineage(&f.store, &train_set, None).unwrap();
        assert_eq!(graph.root.as_deref(), Some(train_set.id.as_str()));
        // Upward: split, its input, load.
        let data = &f.load.1["output"];
        assert!(has_edge(
            &graph,
            &f.split.0,
            &train_set.id,
            EdgeKind::Output,
            "train"
        ));
        assert!(has_edge(
            &graph,
            &data.id,
            &f.split.0,
            EdgeKind::Input,
            "data"
        ));
        assert!(has_edge(
            &graph,
            &f.load.0,
            &data.id,
            EdgeKind::Output,
            "output"
        ));
        // Downward: both trainers, in both runs, and their outputs.
        for (train, _) in [&f.train, &f.train2] {
            assert!(has_edge(
                &graph,
                &train_set.id,
                train,
                EdgeKind::Input,
                "train"
            ));
        }
        assert!(graph.node(&f.train2.1["output"].id).is_some());
        // The sibling output `test` is neither an ancestor nor a descendant.
        assert!(graph.node(&f.split.1["test"].id).is_none());
        // Nothing twice.
        let ids: HashSet<&str> = graph.nodes.iter().map(LineageNode::id).collect();
        assert_eq!(ids.len(), graph.nodes.len());
        let edges: HashSet<&LineageEdge> = graph.edges.iter().collect();
        assert_eq!(edges.len(), graph.edges.len());
        // Run names and parameters are on the step nodes.
        let Some(LineageNode::StepRun(train2)) = graph.node(&f.train2.0) else {
            panic!("train2 is a step node");
        };
        assert_eq!((train2.run.as_str(), train2.pipeline.as_str()), ("r2", "p"));
        assert_eq!(train2.parameters, json!({"lr": 0.7}));

        // Downward from `data`: the cached split of r2 consumed it too, and leads to the
        // split that really produced its outputs.
        let graph = artifact_lineage(&f.store, data, None).unwrap();
        assert!(has_edge(
            &graph,
            &data.id,
            &f.cached_split,
            EdgeKind::Input,
            "data"
        ));
        assert!(has_edge(
            &graph,
            &f.cached_split,
            &f.split.0,
            EdgeKind::CachedFrom,
            ""
        ));
        assert!(has_edge(
            &graph,
            &f.cached_split,
            &train_set.id,
            EdgeKind::Output,
            "train"
        ));
        let Some(LineageNode::StepRun(cached)) = graph.node(&f.cached_split) else {
            panic!("the cached split is a step node");
        };
        assert_eq!(cached.status, StepStatus::Cached);
        assert_eq!(
            cached.original_step_run_id.as_deref(),
            Some(f.split.0.as_str())
        );
    }

    #[test]
    fn depth_limits_both_directions() {
        let f = fixture();
        let train_set = f.split.1["train"].clone();
        let alone = artifact_lineage(&f.store, &train_set, Some(0)).unwrap();
        assert_eq!(alone.nodes.len(), 1);
        assert!(alone.edges.is_empty());

        let one = artifact_lineage(&f.store, &train_set, Some(1)).unwrap();
        // Up: split and its input; not load.
        assert!(one.node(&f.split.0).is_some());
        assert!(one.node(&f.load.1["output"].id).is_some());
        assert!(one.node(&f.load.0).is_none());
        // Down: the trainers and their outputs.
        assert!(one.node(&f.train.1["output"].id).is_some());
        assert_eq!(one.depth, Some(1));
        let all = artifact_lineage(&f.store, &train_set, None).unwrap();
        assert!(all.nodes.len() > one.nodes.len());
    }

    #[test]
    fn the_dag_of_a_run_has_its_steps_and_artifacts() {
        let f = fixture();
        let r2 = f.store.get_run("r2").unwrap();
        let dag = run_dag(&f.store, &r2.id).unwrap();
        assert_eq!(dag.step_runs().count(), 3);
        // load's output, split's two outputs (reused), train2's output.
        assert_eq!(dag.artifacts().count(), 4);
        assert!(
            dag.node(&f.split.0).is_none(),
            "originals stay out of a run's graph"
        );
        assert!(has_edge(
            &dag,
            &f.cached_split,
            &f.split.1["test"].id,
            EdgeKind::Output,
            "test"
        ));
        assert!(has_edge(
            &dag,
            &f.split.1["train"].id,
            &f.train2.0,
            EdgeKind::Input,
            "train"
        ));
    }

    #[test]
    fn dot_quotes_and_escapes_everything() {
        let f = fixture();
        let mut graph = artifact_lineage(&f.store, &f.load.1["output"], None).unwrap();
        if let Some(LineageNode::StepRun(step)) = graph
            .nodes
            .iter_mut()
            .find(|n| matches!(n, LineageNode::StepRun(_)))
        {
            step.step = "we\"ird\\name\nline".to_owned();
            step.parameters = json!({"q": "a \"b\" {c} -> d; \\"});
        }
        let dot = graph.to_dot();
        assert!(
            dot.starts_with("digraph lineage {\n") && dot.ends_with("}\n"),
            "{dot}"
        );
        assert!(dot.contains(r#"we\"ird\\name\nline"#), "{dot}");
        assert!(dot.contains(r#"q=a \"b\" {c} -> d; \\"#), "{dot}");
        assert!(dot.contains("shape=box") && dot.contains("shape=ellipse"));
        assert!(dot.contains("style=dotted"), "a cached-from edge: {dot}");
        assert!(dot.contains("penwidth=2.5"), "the root is marked: {dot}");
        // Every statement line holds an even number of unescaped quotes.
        for line in dot.lines() {
            let mut quotes = 0;
            let mut escaped = false;
            for c in line.chars() {
                if escaped {
                    escaped = false;
                    continue;
                }
                match c {
                    '\\' => escaped = true,
                    '"' => quotes += 1,
                    _ => {}
                }
            }
            assert_eq!(quotes % 2, 0, "unbalanced quotes in {line}");
        }
    }

    #[test]
    fn short_types_drop_module_paths() {
        assert_eq!(short_type("alloc::vec::Vec<(f64, f64)>"), "Vec<(f64, f64)>");
        assert_eq!(
            short_type("std::collections::HashMap<alloc::string::String, training::Model>"),
            "HashMap<String, Model>"
        );
        assert_eq!(short_type("f64"), "f64");
    }
}
