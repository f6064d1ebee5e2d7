//! Opening a stack's components.

use serde::de::DeserializeOwned;
use zenml_artifact_store::{ArtifactStore, ArtifactStoreFlavor};
use zenml_core::{ComponentContext, ComponentKind, Name};
use zenml_metadata_store::{MetadataStore, MetadataStoreFlavor};
use zenml_orchestrator::{Orchestrator, OrchestratorFlavor};

use crate::{Repository, RepositoryError};

/// A stack whose components are open and ready to use.
#[derive(Debug)]
pub struct OpenStack {
    /// The stack's name.
    pub name: Name,
    /// The orchestrator.
    pub orchestrator: Box<dyn Orchestrator>,
    /// The metadata store.
    pub metadata_store: Box<dyn MetadataStore>,
    /// The artifact store.
    pub artifact_store: Box<dyn ArtifactStore>,
}

/// Opens every component of stack `name`, resolving relative paths against the
/// repository root and reading secret values from the secrets file.
pub fn open_stack(repo: &Repository, name: &str) -> Result<OpenStack, RepositoryError> {
    let stack = repo.stack(name)?;
    let context = ComponentContext::new(repo.root());
    let orchestrator: Box<dyn OrchestratorFlavor> = flavor_config(
        repo,
        ComponentKind::Orchestrator,
        stack.component(ComponentKind::Orchestrator),
    )?;
    let metadata_store: Box<dyn MetadataStoreFlavor> = flavor_config(
        repo,
        ComponentKind::MetadataStore,
        stack.component(ComponentKind::MetadataStore),
    )?;
    let artifact_store: Box<dyn ArtifactStoreFlavor> = flavor_config(
        repo,
        ComponentKind::ArtifactStore,
        stack.component(ComponentKind::ArtifactStore),
    )?;
    let failed = |kind: ComponentKind, component: &Name| {
        let component = component.to_string();
        move |source: Box<dyn std::error::Error + Send + Sync>| RepositoryError::Open {
            kind,
            name: component,
            source,
        }
    };
    Ok(OpenStack {
        name: Name::new(name)?,
        orchestrator: orchestrator
            .open(&context)
            .map_err(|e| failed(ComponentKind::Orchestrator, &stack.orchestrator)(e.into()))?,
        metadata_store: metadata_store
            .open(&context)
            .map_err(|e| failed(ComponentKind::MetadataStore, &stack.metadata_store)(e.into()))?,
        artifact_store: artifact_store
            .open(&context)
            .map_err(|e| failed(ComponentKind::ArtifactStore, &stack.artifact_store)(e.into()))?,
    })
}

/// Deserializes a component's configuration (secrets included) into its flavor's type.
fn flavor_config<T: DeserializeOwned>(
    repo: &Repository,
    kind: ComponentKind,
    name: &Name,
) -> Result<T, RepositoryError> {
    let table = repo.component_config_with_secrets(kind, name.as_str())?;
    let flavor = table
        .get("flavor")
        .and_then(|f| f.as_str())
        .unwrap_or_default()
        .to_owned();
    let mut config = table.clone();
    config.remove("flavor");
    zenml_core::FlavorRegistry::global()?.check_component(kind, &flavor, &config)?;
    toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| {
            zenml_core::ConfigError::Invalid(format!(
                "{} `{name}`: {}",
                kind.human_name(),
                e.message().trim()
            ))
            .into()
        })
}
