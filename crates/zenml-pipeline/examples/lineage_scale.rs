//! Lineage at scale, for `cargo xtask bench lineage`: a SQLite store holding 100,000 step
//! runs (10,000 runs of a 10-step chain, each step with one input and one output
//! artifact), then the lineage of the last artifact of one chain — 10 steps deep — timed.
//!
//! ```sh
//! cargo run --release -p zenml-pipeline --example lineage_scale
//! ```

use std::time::Instant;

use serde_json::json;
use zenml_metadata_store::{
    ArtifactRecord, MetadataStore, NewRun, StepRunRecord, StepRunWrite, StepStatus,
};
use zenml_pipeline::Client;
use zenml_stack::{Repository, open_stack};

const RUNS: usize = 10_000;
const CHAIN: usize = 10;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let repo = Repository::init(dir.path())?;
    let stack = open_stack(&repo, "default")?;
    let store = stack.metadata_store.as_ref();
    let started = Instant::now();
    let mut probe = String::new();
    for run in 0..RUNS {
        probe = record_chain(store, run)?;
    }
    eprintln!(
        "recorded {} step runs in {:.1} s",
        RUNS * CHAIN,
        started.elapsed().as_secs_f64()
    );
    drop(stack);

    let client = Client::open(&repo, None)?;
    // Warm up, then time.
    let lineage = client.artifact_lineage(&probe, None)?;
    let steps = lineage.step_runs().count();
    assert_eq!(steps, CHAIN, "the lineage holds the whole chain");
    let mut times = Vec::new();
    for _ in 0..100 {
        let start = Instant::now();
        let lineage = client.artifact_lineage(&probe, None)?;
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(lineage.step_runs().count(), CHAIN);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "lineage of an artifact {CHAIN} steps deep among {} step runs: median {:.3} ms, min {:.3} ms, max {:.3} ms",
        RUNS * CHAIN,
        times[times.len() / 2],
        times[0],
        times[times.len() - 1]
    );
    Ok(())
}

/// Records one run of the chain and returns the id of its last artifact.
fn record_chain(
    store: &dyn MetadataStore,
    run: usize,
) -> Result<String, Box<dyn std::error::Error>> {
    let run_id = uuid::Uuid::new_v4().to_string();
    store.create_run(&NewRun {
        id: run_id.clone(),
        pipeline_name: "chain".to_owned(),
        name: format!("chain-{run}"),
        started_at: 0,
        config: json!({}),
        stack: json!({}),
        spec: serde_json::Value::Null,
        lease_expires_at: None,
    })?;
    let mut previous: Option<String> = None;
    for step in 0..CHAIN {
        let step_id = uuid::Uuid::new_v4().to_string();
        let artifact_id = uuid::Uuid::new_v4().to_string();
        let path = format!("chain/step{step}/output/{artifact_id}");
        store.record_step_run(&StepRunWrite {
            step: StepRunRecord {
                id: step_id.clone(),
                run_id: run_id.clone(),
                name: format!("step{step}"),
                status: StepStatus::Completed,
                started_at: 0,
                ended_at: 1,
                code_hash: "code".to_owned(),
                cache_key: Some(format!("{run}-{step}")),
                parameters: json!({ "step": step }),
                error: None,
                original_step_run_id: None,
                cache_invalidated_at: None,
                attempt: 1,
            },
            inputs: previous
                .iter()
                .map(|id| ("input".to_owned(), id.clone()))
                .collect(),
            new_outputs: vec![ArtifactRecord {
                id: artifact_id.clone(),
                uri: format!("file:///bench/{path}"),
                artifact_store_uri: "file:///bench".to_owned(),
                path,
                rust_type: "u64".to_owned(),
                materializer_id: "zenml.json".to_owned(),
                materializer_version: 1,
                content_hash: "0".repeat(64),
                size: 1,
                producer_step_run_id: step_id,
                output_name: "output".to_owned(),
                created_at: 0,
            }],
            reused_outputs: Vec::new(),
            metadata: Vec::new(),
        })?;
        previous = Some(artifact_id);
    }
    Ok(previous.unwrap_or_default())
}
