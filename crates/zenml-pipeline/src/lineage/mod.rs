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

mod dot;

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use zenml_metadata_store::{
    ArtifactRecord, MAX_LIMIT, MetadataStore, MetadataStoreError, Millis, StepRunRecord, StepStatus,
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
    /// The most nodes the graph was allowed to hold; `None` when unbounded.
    #[serde(default)]
    pub max_nodes: Option<usize>,
    /// How many nodes were left out: for a lineage, the nodes next to the graph that did not
    /// fit under [`max_nodes`](Self::max_nodes) (at least this many: what lies beyond them
    /// was not followed); for a page of a run's graph, the step runs on other pages. 0 when
    /// the graph is complete.
    #[serde(default)]
    pub left_out: u64,
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
}

/// Collects nodes and edges, each once.
struct GraphBuilder<'s> {
    store: &'s dyn MetadataStore,
    graph: Lineage,
    node_ids: HashSet<String>,
    edge_set: HashSet<LineageEdge>,
    /// Run id → (run name, pipeline name).
    runs: HashMap<String, (String, String)>,
    /// The nodes left out for want of room, each counted once.
    left_out_ids: HashSet<String>,
}

/// Whether a node was in the graph, added, or left out for want of room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Added {
    /// It is in the graph (now or before).
    Present,
    /// It did not fit under the node cap.
    LeftOut,
}

impl<'s> GraphBuilder<'s> {
    fn new(
        store: &'s dyn MetadataStore,
        root: Option<String>,
        depth: Option<usize>,
        max_nodes: Option<usize>,
    ) -> Self {
        GraphBuilder {
            store,
            graph: Lineage {
                root,
                depth,
                nodes: Vec::new(),
                edges: Vec::new(),
                max_nodes,
                left_out: 0,
            },
            node_ids: HashSet::new(),
            edge_set: HashSet::new(),
            runs: HashMap::new(),
            left_out_ids: HashSet::new(),
        }
    }

    /// How many more nodes fit under the cap.
    fn room(&self) -> usize {
        self.graph
            .max_nodes
            .map_or(usize::MAX, |max| max.saturating_sub(self.graph.nodes.len()))
    }

    /// Whether node `id` is in the graph or, when it is not and fits, may be added; a node
    /// that does not fit is counted as left out.
    fn admit(&mut self, id: &str) -> Added {
        if self.node_ids.contains(id) || self.room() > 0 {
            Added::Present
        } else {
            if self.left_out_ids.insert(id.to_owned()) {
                self.graph.left_out += 1;
            }
            Added::LeftOut
        }
    }

    fn add_artifact(&mut self, artifact: &ArtifactRecord) -> Added {
        if self.admit(&artifact.id) == Added::LeftOut {
            return Added::LeftOut;
        }
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
        Added::Present
    }

    /// Adds a step run; with `follow_original`, a `cached` step run brings the step run it
    /// reused and a `cached_from` edge to it.
    fn add_step(
        &mut self,
        step: &StepRunRecord,
        follow_original: bool,
    ) -> Result<Added, MetadataStoreError> {
        if self.admit(&step.id) == Added::LeftOut {
            return Ok(Added::LeftOut);
        }
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
            let original_added = if self.node_ids.contains(original) {
                Added::Present
            } else if self.admit(original) == Added::LeftOut {
                Added::LeftOut
            } else {
                let record = self.store.get_step_run(original)?;
                self.add_step(&record, false)?
            };
            if original_added == Added::Present {
                self.add_edge(&step.id, original, EdgeKind::CachedFrom, "");
            }
        }
        Ok(Added::Present)
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

    /// The step runs that consumed artifact `id`: all of them when the graph is unbounded,
    /// else one page as large as the room left (those past it counted as left out, by
    /// link: a step that consumed the artifact under two names counts twice).
    fn consumers(&mut self, id: &str) -> Result<Vec<(String, StepRunRecord)>, MetadataStoreError> {
        if self.graph.max_nodes.is_none() {
            return self.store.artifact_consumers(id);
        }
        let limit = self.room().clamp(1, MAX_LIMIT as usize) as u64;
        let page = self.store.artifact_consumers_page(id, 0, limit)?;
        self.graph.left_out += page.total.count.saturating_sub(page.items.len() as u64);
        Ok(page.items)
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
/// (unlimited for `None`; `Some(0)` is the artifact alone), holding at most `max_nodes`
/// nodes (unbounded for `None`; the nodes that did not fit are counted in
/// [`Lineage::left_out`]). Breadth first, so that an artifact reached by two paths is
/// followed as far as the shorter one allows, and the nodes nearest the root are the ones
/// kept.
pub(crate) fn artifact_lineage(
    store: &dyn MetadataStore,
    root: &ArtifactRecord,
    depth: Option<usize>,
    max_nodes: Option<usize>,
) -> Result<Lineage, MetadataStoreError> {
    let mut builder = GraphBuilder::new(
        store,
        Some(root.id.clone()),
        depth,
        max_nodes.map(|max| max.max(1)),
    );
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
            if builder.admit(&artifact.producer_step_run_id) == Added::LeftOut {
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
                if builder.add_artifact(&input) == Added::Present {
                    builder.add_edge(&input.id, &producer.id, EdgeKind::Input, &name);
                    next.push(input);
                }
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
            for (name, consumer) in builder.consumers(&artifact.id)? {
                if builder.add_step(&consumer, true)? == Added::LeftOut {
                    continue;
                }
                builder.add_edge(&artifact.id, &consumer.id, EdgeKind::Input, &name);
                if !expanded_steps.insert(consumer.id.clone()) {
                    continue;
                }
                for (output, produced) in store.step_outputs(&consumer.id)? {
                    if builder.add_artifact(&produced) == Added::Present {
                        builder.add_edge(&consumer.id, &produced.id, EdgeKind::Output, &output);
                        next.push(produced);
                    }
                }
            }
        }
        frontier = next;
    }
    Ok(builder.graph)
}

/// The graph of one run: its step runs with their inputs and outputs; with `page`
/// (offset, limit), only the step runs of that page of [`MetadataStore::step_runs_page`]
/// and theirs, the others counted in [`Lineage::left_out`]. The original step runs of
/// `cached` steps are not added (they belong to other runs); each cached step run names
/// its original in `original_step_run_id`.
pub(crate) fn run_dag(
    store: &dyn MetadataStore,
    run_id: &str,
    page: Option<(u64, u64)>,
) -> Result<Lineage, MetadataStoreError> {
    let mut builder = GraphBuilder::new(store, None, None, None);
    let steps = match page {
        None => store.step_runs(run_id)?,
        Some((offset, limit)) => {
            let page = store.step_runs_page(run_id, offset, limit)?;
            builder.graph.left_out = page.total.count.saturating_sub(page.items.len() as u64);
            page.items
        }
    };
    for step in steps {
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
pub(crate) mod tests;

pub use dot::short_type;
