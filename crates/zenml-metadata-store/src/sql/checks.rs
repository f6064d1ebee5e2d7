//! Checks of records before they are written: lengths and values the schema cannot hold.

use super::*;

// ----- checks ---------------------------------------------------------------------------------

/// Refuses, before anything is written, what some SQL dialect could not store as given (MySQL
/// would refuse or, outside strict mode, truncate a value longer than its column).
pub(super) fn check_step_run_write(write: &StepRunWrite) -> Result<(), MetadataStoreError> {
    const WHAT: &str = "step run";
    let step = &write.step;
    check_id(WHAT, "id", &step.id)?;
    check_id(WHAT, "run id", &step.run_id)?;
    check_name(WHAT, "name", &step.name)?;
    check_name(WHAT, "code hash", &step.code_hash)?;
    if let Some(cache_key) = &step.cache_key {
        check_name(WHAT, "cache key", cache_key)?;
    }
    if let Some(original) = &step.original_step_run_id {
        check_id(WHAT, "original step run id", original)?;
    }
    for (name, artifact_id) in write.inputs.iter().chain(&write.reused_outputs) {
        check_name(WHAT, "input or output name", name)?;
        check_id(WHAT, "artifact id", artifact_id)?;
    }
    for artifact in &write.new_outputs {
        check_artifact(artifact, &step.id)?;
    }
    for entry in &write.metadata {
        check_metadata_entry(entry)?;
    }
    Ok(())
}

pub(super) fn check_artifact(
    artifact: &ArtifactRecord,
    step_run_id: &str,
) -> Result<(), MetadataStoreError> {
    const WHAT: &str = "artifact";
    check_id(WHAT, "id", &artifact.id)?;
    check_name(WHAT, "materializer id", &artifact.materializer_id)?;
    check_name(WHAT, "content hash", &artifact.content_hash)?;
    check_name(WHAT, "output name", &artifact.output_name)?;
    if artifact.producer_step_run_id != step_run_id {
        return Err(MetadataStoreError::InvalidRecord {
            what: WHAT,
            message: format!(
                "artifact `{}` names step run `{}` as its producer, but step run `{step_run_id}` \
                 records it as a new output",
                artifact.id, artifact.producer_step_run_id
            ),
        });
    }
    artifact_size(artifact).map(drop)
}

pub(super) fn artifact_size(artifact: &ArtifactRecord) -> Result<i64, MetadataStoreError> {
    i64::try_from(artifact.size).map_err(|_| MetadataStoreError::InvalidRecord {
        what: "artifact",
        message: format!(
            "size {} is more than the largest storable size, {}",
            artifact.size,
            i64::MAX
        ),
    })
}

pub(super) fn check_metadata_entry(entry: &MetadataEntry) -> Result<(), MetadataStoreError> {
    check_id("metadata", "resource id", entry.resource.id())?;
    check_name("metadata", "key", &entry.key)
}

pub(super) fn check_id(
    what: &'static str,
    field: &str,
    value: &str,
) -> Result<(), MetadataStoreError> {
    check_length(what, field, value, MAX_ID_CHARS)
}

pub(super) fn check_name(
    what: &'static str,
    field: &str,
    value: &str,
) -> Result<(), MetadataStoreError> {
    check_length(what, field, value, MAX_NAME_CHARS)
}

pub(super) fn check_length(
    what: &'static str,
    field: &str,
    value: &str,
    max: usize,
) -> Result<(), MetadataStoreError> {
    let chars = value.chars().count();
    if chars > max {
        return Err(MetadataStoreError::InvalidRecord {
            what,
            message: format!("the {field} has {chars} characters; at most {max} are allowed"),
        });
    }
    Ok(())
}
