//! Tests of lineage graphs, and helpers that record runs for other modules' tests.

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
            artifact_labels: Vec::new(),
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
    let graph = artifact_lineage(&f.store, &train_set, None, None).unwrap();
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
    let graph = artifact_lineage(&f.store, data, None, None).unwrap();
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
    let alone = artifact_lineage(&f.store, &train_set, Some(0), None).unwrap();
    assert_eq!(alone.nodes.len(), 1);
    assert!(alone.edges.is_empty());

    let one = artifact_lineage(&f.store, &train_set, Some(1), None).unwrap();
    // Up: split and its input; not load.
    assert!(one.node(&f.split.0).is_some());
    assert!(one.node(&f.load.1["output"].id).is_some());
    assert!(one.node(&f.load.0).is_none());
    // Down: the trainers and their outputs.
    assert!(one.node(&f.train.1["output"].id).is_some());
    assert_eq!(one.depth, Some(1));
    let all = artifact_lineage(&f.store, &train_set, None, None).unwrap();
    assert!(all.nodes.len() > one.nodes.len());
}

#[test]
fn a_node_cap_keeps_the_nearest_nodes_and_counts_the_rest() {
    let f = fixture();
    let train_set = f.split.1["train"].clone();
    let all = artifact_lineage(&f.store, &train_set, None, None).unwrap();
    assert_eq!(all.left_out, 0);
    assert_eq!(all.max_nodes, None);

    let capped = artifact_lineage(&f.store, &train_set, None, Some(3)).unwrap();
    assert_eq!(capped.nodes.len(), 3, "{:?}", capped.nodes);
    assert_eq!(capped.max_nodes, Some(3));
    assert!(capped.left_out > 0, "the cap left nodes out");
    assert!(
        capped.nodes.len() as u64 + capped.left_out <= all.nodes.len() as u64,
        "left out counts only nodes the full graph has"
    );
    // Breadth first: the root and its producer come before anything further away.
    assert_eq!(capped.nodes[0].id(), train_set.id);
    assert!(capped.node(&f.split.0).is_some());
    // Every edge joins two nodes of the graph.
    for edge in &capped.edges {
        assert!(capped.node(&edge.from).is_some() && capped.node(&edge.to).is_some());
    }

    let roomy = artifact_lineage(&f.store, &train_set, None, Some(all.nodes.len())).unwrap();
    assert_eq!(roomy.nodes, all.nodes);
    assert_eq!(roomy.left_out, 0);
}

#[test]
fn a_page_of_a_run_graph_counts_the_steps_on_other_pages() {
    let f = fixture();
    let r2 = f.store.get_run("r2").unwrap();
    let first = run_dag(&f.store, &r2.id, Some((0, 2))).unwrap();
    assert_eq!(first.step_runs().count(), 2);
    assert_eq!(first.left_out, 1);
    let second = run_dag(&f.store, &r2.id, Some((2, 2))).unwrap();
    assert_eq!(second.step_runs().count(), 1);
    assert_eq!(second.left_out, 2);
    let whole = run_dag(&f.store, &r2.id, None).unwrap();
    let paged: Vec<&str> = first
        .step_runs()
        .chain(second.step_runs())
        .map(|s| s.id.as_str())
        .collect();
    let all: Vec<&str> = whole.step_runs().map(|s| s.id.as_str()).collect();
    assert_eq!(paged, all);
}

#[test]
fn the_dag_of_a_run_has_its_steps_and_artifacts() {
    let f = fixture();
    let r2 = f.store.get_run("r2").unwrap();
    let dag = run_dag(&f.store, &r2.id, None).unwrap();
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
    let mut graph = artifact_lineage(&f.store, &f.load.1["output"], None, None).unwrap();
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
