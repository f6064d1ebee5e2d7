//! Tamper detection: re-hashing recorded artifacts against the hashes they were recorded
//! with (`zenml artifact verify`).

use std::collections::BTreeSet;

use serde::Serialize;
use zenml_artifact_store::ObjectPath;
use zenml_metadata_store::ArtifactRecord;

use crate::artifact_io::{ArtifactCheck, ArtifactIoError, check_artifact};
use crate::client::{Client, ClientError};

/// Which artifacts to verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArtifactSelection {
    /// These artifacts, by id.
    Ids(Vec<String>),
    /// Every artifact a run (its name or id) produced or reused.
    Run(String),
    /// Every recorded artifact.
    All,
}

/// What verifying one artifact found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Verification {
    /// Its files were re-hashed.
    Checked(ArtifactCheck),
    /// It was recorded in another artifact store than this client's, which is not checked
    /// from here.
    OtherStore {
        /// That store's URI.
        artifact_store: String,
    },
}

impl Verification {
    /// Whether this finding is a problem: a missing, truncated or modified artifact.
    pub fn is_problem(&self) -> bool {
        matches!(self, Verification::Checked(check) if !check.is_intact())
    }
}

impl Client {
    /// The recorded artifacts that `selection` names, each once, sorted by id. An unknown id
    /// or run is [`ClientError::NotFound`].
    pub fn select_artifacts(
        &self,
        selection: &ArtifactSelection,
    ) -> Result<Vec<ArtifactRecord>, ClientError> {
        let mut artifacts = match selection {
            ArtifactSelection::All => self.artifacts()?,
            ArtifactSelection::Ids(ids) => ids
                .iter()
                .map(|id| self.artifact(id).map(crate::ArtifactView::into_record))
                .collect::<Result<_, _>>()?,
            ArtifactSelection::Run(run) => {
                let mut found = Vec::new();
                for step in self.run(run)?.steps()? {
                    found.extend(step.outputs()?.into_iter().map(|(_, artifact)| artifact));
                }
                found
            }
        };
        let mut seen = BTreeSet::new();
        artifacts.retain(|artifact| seen.insert(artifact.id.clone()));
        artifacts.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(artifacts)
    }

    /// Re-hashes every byte of `artifact` in this client's artifact store and compares it
    /// with what was recorded; `progress` is told of every chunk of bytes read. An artifact
    /// recorded in another artifact store is not read.
    ///
    /// # Errors
    ///
    /// Store failures other than the artifact's absence (a missing artifact is a finding,
    /// [`ArtifactCheck::Missing`]).
    pub fn verify_artifact(
        &self,
        artifact: &ArtifactRecord,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Verification, ClientError> {
        let store = self.stack().artifact_store.as_ref();
        if artifact.artifact_store_uri != store.uri() {
            return Ok(Verification::OtherStore {
                artifact_store: artifact.artifact_store_uri.clone(),
            });
        }
        let folder = ObjectPath::new(&artifact.path)
            .map_err(|e| ClientError::Artifact(ArtifactIoError::Store(e.into())))?;
        Ok(Verification::Checked(check_artifact(
            store,
            &folder,
            &artifact.content_hash,
            artifact.size,
            progress,
        )?))
    }
}
