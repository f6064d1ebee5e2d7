//! What the runner records about a step's new outputs besides their files: the schemas and
//! statistics their materializers describe, and the names and tags the step gives them.

use zenml_materializer::{Materializer, SCHEMA_KEY, STATISTICS_KEY};
use zenml_metadata_store::{ArtifactRecord, MetadataEntry, NewArtifactLabels, Resource};

use crate::builder::StepNode;
use crate::step::StepError;

/// The metadata entries of artifact `id`, output `name`: its schema and (when `statistics`)
/// its statistics, as `materializer` describes `value`; none for values it does not
/// describe.
pub(crate) fn description_entries<T>(
    materializer: &dyn Materializer<Value = T>,
    value: &T,
    id: &str,
    name: &str,
    statistics: bool,
) -> Result<Vec<MetadataEntry>, StepError> {
    let description = materializer.describe(value, statistics).map_err(|e| {
        StepError::new(format!(
            "output `{name}` cannot be described: {}",
            zenml_core::error_chain(&e)
        ))
    })?;
    let Some(description) = description else {
        return Ok(Vec::new());
    };
    let entry = |key: &str, value: serde_json::Value| MetadataEntry {
        resource: Resource::Artifact(id.to_owned()),
        key: key.to_owned(),
        value,
    };
    let mut entries = vec![entry(
        SCHEMA_KEY,
        serde_json::to_value(&description.schema).map_err(StepError::from_error)?,
    )];
    if let Some(statistics) = &description.statistics {
        entries.push(entry(
            STATISTICS_KEY,
            serde_json::to_value(statistics).map_err(StepError::from_error)?,
        ));
    }
    Ok(entries)
}

/// The names and tags that `node`'s outputs give their new artifacts.
pub(crate) fn artifact_labels(
    node: &StepNode,
    new_outputs: &[ArtifactRecord],
) -> Vec<NewArtifactLabels> {
    new_outputs
        .iter()
        .filter_map(|artifact| {
            let spec = node
                .outputs
                .iter()
                .find(|o| o.name == artifact.output_name)?;
            let options = spec.options;
            (options.artifact_name.is_some() || !options.tags.is_empty()).then(|| {
                NewArtifactLabels {
                    artifact_id: artifact.id.clone(),
                    name: options.artifact_name.map(str::to_owned),
                    tags: options.tags.iter().map(|t| (*t).to_owned()).collect(),
                }
            })
        })
        .collect()
}
