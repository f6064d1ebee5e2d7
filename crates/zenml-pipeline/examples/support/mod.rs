//! What the store benchmarks share: recording runs of a chain directly in the metadata
//! store (records only, no artifact files).

use serde_json::json;
use zenml_metadata_store::{
    ArtifactRecord, MetadataStore, NewRun, StepRunRecord, StepRunWrite, StepStatus,
};

/// Steps per recorded chain.
pub(crate) const CHAIN: usize = 10;

/// Records one run of the chain and returns the id of its last artifact.
pub(crate) fn record_chain(
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
            artifact_labels: Vec::new(),
        })?;
        previous = Some(artifact_id);
    }
    Ok(previous.unwrap_or_default())
}
