//! What the checks share: records to write, unique names, and assertions.

use super::*;

/// Asserts that nothing of a failed `write` (step run, new artifact, metadata) is visible.
pub(super) fn assert_nothing_of(
    store: &dyn MetadataStore,
    run_id: &str,
    write: &StepRunWrite,
    new_artifact: &ArtifactRecord,
) {
    let steps = ok(store.step_runs(run_id), "step_runs");
    assert!(
        steps.iter().all(|s| s.id != write.step.id),
        "a failed record_step_run left its step run behind: {steps:?}"
    );
    expect_not_found(
        store.get_artifact(&new_artifact.id),
        "artifact",
        &new_artifact.id,
    );
    assert!(
        ok(store.list_artifacts(), "list_artifacts")
            .iter()
            .all(|a| a.id != new_artifact.id),
        "a failed record_step_run left an artifact behind"
    );
    expect_not_found(
        store.step_outputs(&write.step.id),
        "step run",
        &write.step.id,
    );
    for resource in [
        Resource::StepRun(write.step.id.clone()),
        Resource::Artifact(new_artifact.id.clone()),
    ] {
        assert_eq!(ok(store.metadata(&resource), "metadata"), vec![]);
    }
}

pub(super) fn summary_of(store: &dyn MetadataStore, pipeline: &str) -> PipelineSummary {
    ok(store.list_pipelines(), "list_pipelines")
        .into_iter()
        .find(|p| p.pipeline.name == pipeline)
        .unwrap_or_else(|| panic!("pipeline `{pipeline}` is not listed"))
}

pub(super) fn new_run(pipeline: &str, name: &str, started_at: Millis) -> NewRun {
    NewRun {
        id: uuid::Uuid::new_v4().to_string(),
        pipeline_name: pipeline.to_owned(),
        name: name.to_owned(),
        started_at,
        config: json!({"steps": {"train": {"parameters": {"epochs": 3}}}, "enable_cache": true}),
        stack: json!({
            "orchestrator": {"flavor": "local"},
            "metadata_store": {"flavor": "sqlite", "path": ".zen/metadata.db"},
        }),
        spec: serde_json::Value::Null,
        lease_expires_at: None,
    }
}

/// A completed step run that ended at `ended_at`, with nothing linked.
pub(super) fn step_write(run_id: &str, name: &str, ended_at: Millis) -> StepRunWrite {
    StepRunWrite {
        step: StepRunRecord {
            id: uuid::Uuid::new_v4().to_string(),
            run_id: run_id.to_owned(),
            name: name.to_owned(),
            status: StepStatus::Completed,
            started_at: ended_at - 1,
            ended_at,
            code_hash: blake3_like(name),
            cache_key: None,
            parameters: json!({}),
            error: None,
            original_step_run_id: None,
            cache_invalidated_at: None,
            attempt: 1,
        },
        inputs: Vec::new(),
        new_outputs: Vec::new(),
        reused_outputs: Vec::new(),
        metadata: Vec::new(),
        artifact_labels: Vec::new(),
    }
}

pub(super) fn artifact(
    step: &StepRunRecord,
    output_name: &str,
    created_at: Millis,
) -> ArtifactRecord {
    let id = uuid::Uuid::new_v4().to_string();
    let path = format!("{}/{output_name}/{id}", step.name);
    ArtifactRecord {
        uri: format!("file:///repo/.zen/artifacts/{path}"),
        artifact_store_uri: "file:///repo/.zen/artifacts".to_owned(),
        path,
        rust_type: "alloc::vec::Vec<(f64, alloc::string::String)>".to_owned(),
        materializer_id: "zenml.json".to_owned(),
        materializer_version: u32::MAX,
        content_hash: blake3_like(&id),
        size: 1 << 40,
        producer_step_run_id: step.id.clone(),
        output_name: output_name.to_owned(),
        created_at,
        id,
    }
}

/// 64 hex digits, like a blake3 hash.
pub(super) fn blake3_like(seed: &str) -> String {
    let digits: String = seed.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{digits:0<64}").chars().take(64).collect()
}

/// `prefix` with a random suffix.
pub(super) fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

pub(super) fn now() -> Millis {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| {
        Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
    })
}

#[track_caller]
pub(super) fn ok<T>(result: Result<T, MetadataStoreError>, what: &str) -> T {
    result.unwrap_or_else(|e| panic!("{what} failed: {e} ({e:?})"))
}

#[track_caller]
pub(super) fn expect_duplicate<T: Debug>(result: Result<T, MetadataStoreError>, name: &str) {
    match result {
        Err(MetadataStoreError::DuplicateRunName { name: found }) => assert_eq!(found, name),
        other => panic!("expected DuplicateRunName for `{name}`, got {other:?}"),
    }
}

#[track_caller]
pub(super) fn expect_not_found<T: Debug>(
    result: Result<T, MetadataStoreError>,
    what: &str,
    key: &str,
) {
    match result {
        Err(MetadataStoreError::NotFound {
            what: found_what,
            key: found_key,
        }) => assert_eq!((found_what, found_key.as_str()), (what, key)),
        other => panic!("expected NotFound {{ {what} `{key}` }}, got {other:?}"),
    }
}
