//! Artifacts in the post-execution API: by id, by name and version, with their tags,
//! schemas and statistics, loaded typed.

use std::ops::Deref;

use serde::de::DeserializeOwned;
use zenml_materializer::{
    DataSchema, DataStatistics, DefaultMaterializer, Materializer, SCHEMA_KEY, STATISTICS_KEY,
};
use zenml_metadata_store::{
    ArtifactLabels, ArtifactName, ArtifactRecord, ArtifactVersion, MetadataStoreError, Resource,
};

use crate::client::{Client, ClientError};

/// One artifact, as [`Client::artifact`] finds it: its record (through `Deref`), its name,
/// version and tags, and what it describes.
#[derive(Debug, Clone)]
pub struct ArtifactView<'c> {
    client: &'c Client,
    record: ArtifactRecord,
    labels: ArtifactLabels,
}

impl Deref for ArtifactView<'_> {
    type Target = ArtifactRecord;

    fn deref(&self) -> &ArtifactRecord {
        &self.record
    }
}

impl<'c> ArtifactView<'c> {
    /// The artifact's record.
    pub fn record(&self) -> &ArtifactRecord {
        &self.record
    }

    /// The artifact's record, owned.
    pub fn into_record(self) -> ArtifactRecord {
        self.record
    }

    /// The name it is a version of, if any.
    pub fn name(&self) -> Option<&str> {
        self.labels.name.as_deref()
    }

    /// Which version of its name it is, if it has a name.
    pub fn version_number(&self) -> Option<u32> {
        self.labels.version
    }

    /// Its tags, sorted.
    pub fn tags(&self) -> &[String] {
        &self.labels.tags
    }

    /// The latest version of this artifact's name (this artifact, when it is the latest).
    /// An artifact without a name is [`ClientError::NotFound`].
    pub fn latest(&self) -> Result<ArtifactView<'c>, ClientError> {
        let name = self.require_name()?;
        self.client.artifact_version(name, None)
    }

    /// Version `version` of this artifact's name.
    pub fn version(&self, version: u32) -> Result<ArtifactView<'c>, ClientError> {
        let name = self.require_name()?;
        self.client.artifact_version(name, Some(version))
    }

    /// Every version of this artifact's name, oldest first.
    pub fn versions(&self) -> Result<Vec<ArtifactView<'c>>, ClientError> {
        let name = self.require_name()?;
        self.client.artifact_versions(name)
    }

    /// The schema its materializer recorded when it was saved (tables and arrays); `None`
    /// for other values.
    pub fn schema(&self) -> Result<Option<DataSchema>, ClientError> {
        self.metadata_value(SCHEMA_KEY)
    }

    /// The statistics recorded when it was saved; `None` for values that are not tables or
    /// arrays, or when the step switched them off.
    pub fn statistics(&self) -> Result<Option<DataStatistics>, ClientError> {
        self.metadata_value(STATISTICS_KEY)
    }

    /// Loads the value as a `T` with `T`'s default materializer (arrays, tables, registered
    /// models, scalars, strings, bytes), verifying its type, materializer and content hash.
    /// For a serde type without a registered materializer, use [`Client::load`].
    pub fn load<T: DefaultMaterializer + 'static>(&self) -> Result<T, ClientError> {
        self.client
            .load_with::<<T as DefaultMaterializer>::Materializer>(&self.record)
    }

    /// Loads the value with materializer `M`, which must be the one that wrote it.
    pub fn load_with<M: Materializer + Default>(&self) -> Result<M::Value, ClientError>
    where
        M::Value: 'static,
    {
        self.client.load_with::<M>(&self.record)
    }

    fn require_name(&self) -> Result<&str, ClientError> {
        self.name().ok_or_else(|| ClientError::NotFound {
            what: "artifact name",
            key: self.record.id.clone(),
            hint: "; the artifact has no name: name an output with \
                   `#[step(outputs(model(name = \"…\")))]`"
                .to_owned(),
        })
    }

    fn metadata_value<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, ClientError> {
        let entries = self
            .client
            .stack()
            .metadata_store
            .metadata(&Resource::Artifact(self.record.id.clone()))?;
        let Some((_, value)) = entries.into_iter().find(|(k, _)| k == key) else {
            return Ok(None);
        };
        serde_json::from_value(value).map(Some).map_err(|e| {
            ClientError::MetadataStore(MetadataStoreError::Corrupt {
                what: "artifact metadata",
                message: format!("`{key}` of artifact {} is unreadable: {e}", self.record.id),
            })
        })
    }
}

/// Artifacts by name and version, and tags.
impl Client {
    /// The artifact that `key` names: an artifact id, a name (its latest version), or
    /// `name:version` (e.g. `iris-classifier:3`).
    pub fn artifact(&self, key: &str) -> Result<ArtifactView<'_>, ClientError> {
        let store = &self.stack().metadata_store;
        if let Some((name, version)) = key.rsplit_once(':')
            && let Ok(version) = version.parse::<u32>()
        {
            return self.artifact_version(name, Some(version));
        }
        match store.get_artifact(key) {
            Ok(record) => return self.view(record),
            Err(MetadataStoreError::NotFound { .. }) => {}
            Err(other) => return Err(other.into()),
        }
        match store.artifact_version(key, None) {
            Ok(version) => Ok(self.version_view(version)),
            Err(MetadataStoreError::NotFound { .. }) => Err(ClientError::NotFound {
                what: "artifact",
                key: key.to_owned(),
                hint: "; give an artifact id, a name or name:version; `zenml artifact list` \
                       shows the artifacts"
                    .to_owned(),
            }),
            Err(other) => Err(other.into()),
        }
    }

    /// Version `version` of the artifacts named `name`, or its latest when `None`.
    pub fn artifact_version(
        &self,
        name: &str,
        version: Option<u32>,
    ) -> Result<ArtifactView<'_>, ClientError> {
        let found = self
            .stack()
            .metadata_store
            .artifact_version(name, version)
            .map_err(|e| self.name_not_found(e))?;
        Ok(self.version_view(found))
    }

    /// Every version of the artifacts named `name`, oldest first.
    pub fn artifact_versions(&self, name: &str) -> Result<Vec<ArtifactView<'_>>, ClientError> {
        let versions = self
            .stack()
            .metadata_store
            .artifact_versions(name)
            .map_err(|e| self.name_not_found(e))?;
        Ok(versions.into_iter().map(|v| self.version_view(v)).collect())
    }

    /// Every artifact name, sorted, with its latest version.
    pub fn artifact_names(&self) -> Result<Vec<ArtifactName>, ClientError> {
        Ok(self.stack().metadata_store.artifact_names()?)
    }

    /// The names, versions and tags of `artifacts`, in their order (empty labels for those
    /// with none).
    pub fn artifact_labels(
        &self,
        artifacts: &[ArtifactRecord],
    ) -> Result<Vec<ArtifactLabels>, ClientError> {
        let ids: Vec<&str> = artifacts.iter().map(|a| a.id.as_str()).collect();
        let found = self.stack().metadata_store.artifact_labels(&ids)?;
        Ok(artifacts
            .iter()
            .map(|a| {
                found
                    .binary_search_by(|(id, _)| id.as_str().cmp(&a.id))
                    .map(|i| found[i].1.clone())
                    .unwrap_or_default()
            })
            .collect())
    }

    /// Tags the artifact `key` names (see [`artifact`](Self::artifact)); returns whether the
    /// tag is new to it.
    pub fn tag_artifact(&self, key: &str, tag: &str) -> Result<bool, ClientError> {
        let id = self.artifact(key)?.record.id;
        Ok(self.stack().metadata_store.tag_artifact(&id, tag)?)
    }

    /// Removes a tag from the artifact `key` names; returns whether it had the tag.
    pub fn untag_artifact(&self, key: &str, tag: &str) -> Result<bool, ClientError> {
        let id = self.artifact(key)?.record.id;
        Ok(self.stack().metadata_store.untag_artifact(&id, tag)?)
    }

    fn view(&self, record: ArtifactRecord) -> Result<ArtifactView<'_>, ClientError> {
        let labels = self
            .stack()
            .metadata_store
            .artifact_labels(&[record.id.as_str()])?
            .into_iter()
            .next()
            .map(|(_, labels)| labels)
            .unwrap_or_default();
        Ok(ArtifactView {
            client: self,
            record,
            labels,
        })
    }

    fn version_view(&self, version: ArtifactVersion) -> ArtifactView<'_> {
        ArtifactView {
            client: self,
            labels: ArtifactLabels {
                name: Some(version.name),
                version: Some(version.version),
                tags: version.tags,
            },
            record: version.artifact,
        }
    }

    fn name_not_found(&self, error: MetadataStoreError) -> ClientError {
        match error {
            MetadataStoreError::NotFound { what, key } => {
                let names = self
                    .artifact_names()
                    .map(|names| {
                        names
                            .iter()
                            .map(|n| n.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                let hint = if what == "artifact version" {
                    "; `zenml artifact versions NAME` lists its versions".to_owned()
                } else if names.is_empty() {
                    "; no artifact has a name yet".to_owned()
                } else {
                    format!("; artifact names: {names}")
                };
                ClientError::NotFound { what, key, hint }
            }
            other => other.into(),
        }
    }
}
