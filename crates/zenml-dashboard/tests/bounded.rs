//! Every page and endpoint reads a bounded number of records: a run of many steps is shown
//! and drawn a page at a time, an artifact's consumers are paged, a lineage holds at most
//! its node cap and says how many nodes it left out, a metric chart reads the newest runs
//! asked for.

#![allow(clippy::unwrap_used)]

mod common;

use serde_json::{Value, json};
use zenml_metadata_store::{
    ArtifactRecord, MetadataEntry, MetadataStore, NewRun, Resource, RunStatus, StepRunRecord,
    StepRunWrite, StepStatus,
};
use zenml_pipeline::Client;
use zenml_sqlite as _;
use zenml_stack::Repository;

/// Steps of the wide run: a `source` and this many consumers of its artifact.
const CONSUMERS: usize = 119;
/// Runs of the `metrics` pipeline, each logging `train.accuracy`.
const METRIC_RUNS: usize = 5;

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn artifact(store_uri: &str, producer: &str, output: &str, at: i64) -> ArtifactRecord {
    let id = uuid();
    let path = format!("wide/{output}/{id}");
    ArtifactRecord {
        uri: format!("{store_uri}/{path}"),
        artifact_store_uri: store_uri.to_owned(),
        path,
        id,
        rust_type: "u64".to_owned(),
        materializer_id: "zenml.json".to_owned(),
        materializer_version: 1,
        content_hash: "0".repeat(64),
        size: 2,
        producer_step_run_id: producer.to_owned(),
        output_name: output.to_owned(),
        created_at: at,
    }
}

fn step(run_id: &str, name: &str, at: i64) -> StepRunRecord {
    StepRunRecord {
        id: uuid(),
        run_id: run_id.to_owned(),
        name: name.to_owned(),
        status: StepStatus::Completed,
        started_at: at,
        ended_at: at + 1,
        code_hash: "0".repeat(64),
        cache_key: None,
        parameters: json!({}),
        error: None,
        original_step_run_id: None,
        cache_invalidated_at: None,
        attempt: 1,
    }
}

fn new_run(store: &dyn MetadataStore, pipeline: &str, name: &str, at: i64) -> String {
    store
        .create_run(&NewRun {
            id: uuid(),
            pipeline_name: pipeline.to_owned(),
            name: name.to_owned(),
            started_at: at,
            config: json!({}),
            stack: json!({}),
            spec: Value::Null,
            lease_expires_at: None,
        })
        .unwrap()
        .id
}

/// A run `wide` of a `source` step and [`CONSUMERS`] steps that each consume its output,
/// and [`METRIC_RUNS`] runs of pipeline `metrics`.
fn serve() -> common::Served {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path()).unwrap();
    let client = Client::open(&repo, None).unwrap();
    let store = client.stack().metadata_store.as_ref();
    let store_uri = client.stack().artifact_store.uri();
    let now = 1_800_000_000_000;
    let run = new_run(store, "wide", "wide", now);
    let source = step(&run, "source", now);
    let shared = artifact(&store_uri, &source.id, "output", now);
    let shared_id = shared.id.clone();
    store
        .record_step_run(&StepRunWrite {
            step: source,
            inputs: Vec::new(),
            new_outputs: vec![shared],
            reused_outputs: Vec::new(),
            metadata: Vec::new(),
            artifact_labels: Vec::new(),
        })
        .unwrap();
    for i in 0..CONSUMERS {
        let at = now + 1 + i as i64;
        let consumer = step(&run, &format!("consumer_{i}"), at);
        let output = artifact(&store_uri, &consumer.id, "output", at);
        store
            .record_step_run(&StepRunWrite {
                step: consumer,
                inputs: vec![("value".to_owned(), shared_id.clone())],
                new_outputs: vec![output],
                reused_outputs: Vec::new(),
                metadata: Vec::new(),
                artifact_labels: Vec::new(),
            })
            .unwrap();
    }
    store
        .finish_run(&run, RunStatus::Completed, now + 1_000, None)
        .unwrap();
    for i in 0..METRIC_RUNS {
        let at = now + 2_000 + i as i64 * 10;
        let run = new_run(store, "metrics", &format!("metrics-{i}"), at);
        let train = step(&run, "train", at);
        store
            .record_step_run(&StepRunWrite {
                metadata: vec![MetadataEntry {
                    resource: Resource::StepRun(train.id.clone()),
                    key: "accuracy".to_owned(),
                    value: json!(i as f64 / 10.0),
                }],
                step: train,
                inputs: Vec::new(),
                new_outputs: Vec::new(),
                reused_outputs: Vec::new(),
                artifact_labels: Vec::new(),
            })
            .unwrap();
        store
            .finish_run(&run, RunStatus::Completed, at + 5, None)
            .unwrap();
    }
    common::serve(dir, &repo, None, json!({ "run": run, "shared": shared_id }))
}

fn id(served: &common::Served, key: &str) -> String {
    served.ids[key].as_str().unwrap().to_owned()
}

#[test]
fn a_run_of_many_steps_is_shown_and_drawn_a_page_at_a_time() {
    let served = serve();
    let run = id(&served, "run");
    let steps = CONSUMERS as u64 + 1;

    let detail = served.get(&format!("/api/v1/runs/{run}")).json();
    assert_eq!(detail["step_count"], steps);
    assert_eq!(detail["steps"].as_array().unwrap().len(), 50);

    let last = served
        .get(&format!("/api/v1/runs/{run}/steps?page=3&per_page=50"))
        .json();
    assert_eq!(last["total"], steps);
    assert_eq!(last["total_exact"], true);
    assert_eq!(last["items"].as_array().unwrap().len(), 20);

    let dag = served
        .get(&format!("/api/v1/runs/{run}/dag?per_page=30"))
        .json();
    let step_nodes = dag["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "step_run")
        .count();
    assert_eq!(step_nodes, 30);
    assert_eq!(dag["left_out"], steps - 30);

    let page = served.get(&format!("/runs/{run}?page=2"));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Steps 51–100 of 120"), "{}", page.body);
    assert!(page.body.contains("70 more steps are on the other pages"));
    assert_eq!(page.body.matches("class=\"dag-step\"").count(), 50);
    assert!(
        page.body
            .contains(&format!("/runs/{run}?page=3&amp;per_page=50"))
    );

    let beyond = served.get(&format!("/runs/{run}?per_page=201"));
    assert_eq!(beyond.status, 400, "{}", beyond.body);
    assert!(beyond.body.contains("per_page"));
}

#[test]
fn consumers_are_paged_and_lineage_keeps_to_its_node_cap() {
    let served = served_once();
    let shared = id(served, "shared");

    let detail = served
        .get(&format!("/api/v1/artifacts/{shared}?per_page=25&page=5"))
        .json();
    assert_eq!(detail["consumer_count"], CONSUMERS as u64);
    assert_eq!(
        detail["consumers"].as_array().unwrap().len(),
        CONSUMERS - 100
    );
    let page = served.get(&format!("/artifacts/{shared}?per_page=25"));
    assert_eq!(page.status, 200);
    assert!(page.body.contains(&format!("Consumers ({CONSUMERS})")));
    assert_eq!(page.body.matches("class=\"step-link\"").count(), 25);

    let capped = served
        .get(&format!("/api/v1/artifacts/{shared}/lineage?max_nodes=10"))
        .json();
    assert_eq!(capped["nodes"].as_array().unwrap().len(), 10);
    assert_eq!(capped["max_nodes"], 10);
    let left_out = capped["left_out"].as_u64().unwrap();
    assert!(left_out >= 100, "left out: {left_out}");
    for edge in capped["edges"].as_array().unwrap() {
        let ends = [&edge["from"], &edge["to"]];
        for end in ends {
            assert!(
                capped["nodes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|n| n["id"] == *end),
                "an edge to a node outside the graph: {edge}"
            );
        }
    }
    let whole = served
        .get(&format!(
            "/api/v1/artifacts/{shared}/lineage?max_nodes=1000"
        ))
        .json();
    // The source, the shared artifact, every consumer and its output.
    assert_eq!(whole["nodes"].as_array().unwrap().len(), 2 + 2 * CONSUMERS);
    assert_eq!(whole["left_out"], 0);

    let lineage_page = served.get(&format!("/artifacts/{shared}/lineage?max_nodes=10"));
    assert_eq!(lineage_page.status, 200);
    assert!(lineage_page.body.contains("id=\"lineage-left-out\""));
    let refused = served.get(&format!("/api/v1/artifacts/{shared}/lineage?max_nodes=0"));
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json()["parameter"], "max_nodes");
}

#[test]
fn a_metric_chart_reads_the_newest_runs_asked_for() {
    let served = served_once();
    let two = served
        .get("/api/v1/pipelines/metrics/metrics/train.accuracy?runs=2")
        .json();
    assert_eq!(two["runs"], 2);
    let values: Vec<f64> = two["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_f64().unwrap())
        .collect();
    assert_eq!(values, vec![0.3, 0.4], "the newest two, oldest first");
    let all = served
        .get("/api/v1/pipelines/metrics/metrics/train.accuracy")
        .json();
    assert_eq!(all["runs"], 200);
    assert_eq!(all["points"].as_array().unwrap().len(), METRIC_RUNS);
    for bad in ["runs=0", "runs=1001", "runs=x"] {
        let refused = served.get(&format!(
            "/api/v1/pipelines/metrics/metrics/train.accuracy?{bad}"
        ));
        assert_eq!(refused.status, 400, "{bad}");
        assert_eq!(refused.json()["parameter"], "runs");
    }
    let page = served.get("/pipelines/metrics?runs=3");
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("chart.svg?metric=train.accuracy&amp;runs=3")
    );
    let chart = served.get("/pipelines/metrics/chart.svg?runs=3");
    assert_eq!(chart.status, 200);
    assert_eq!(chart.body.matches("<circle").count(), 3, "{}", chart.body);
}

/// One served fixture for the tests that only read it.
fn served_once() -> &'static common::Served {
    static SERVED: std::sync::OnceLock<common::Served> = std::sync::OnceLock::new();
    SERVED.get_or_init(serve)
}
