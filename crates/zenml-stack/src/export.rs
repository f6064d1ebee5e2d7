//! The stack export format: one TOML file holding a stack and its components.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use zenml_core::{ComponentKind, ConfigError, Name};

use crate::RepositoryError;
use crate::file::{read_toml, write_toml};

/// A stack with its components' configurations, as `zenml stack export` writes it and
/// `zenml stack import` reads it. Secret values are never part of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackExport {
    /// The zenml version that wrote the file.
    pub zenml_version: String,
    /// The stack's name.
    pub stack_name: Name,
    /// One component per stack kind, keyed `orchestrator`, `metadata_store`, `artifact_store`.
    pub components: BTreeMap<String, ExportedComponent>,
}

/// One component of a [`StackExport`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedComponent {
    /// The component's name.
    pub name: Name,
    /// The flavor.
    pub flavor: String,
    /// The flavor's configuration keys.
    #[serde(flatten)]
    pub config: toml::Table,
}

impl StackExport {
    pub(crate) fn new(
        stack_name: Name,
        components: BTreeMap<String, ExportedComponent>,
    ) -> StackExport {
        StackExport {
            zenml_version: env!("CARGO_PKG_VERSION").to_owned(),
            stack_name,
            components,
        }
    }

    /// Reads an export file. Errors name the file, line, column and key.
    pub fn read(path: &Path) -> Result<StackExport, RepositoryError> {
        let export: StackExport = read_toml(path)?;
        for key in export.components.keys() {
            if key
                .parse::<ComponentKind>()
                .map_or(true, |k| !ComponentKind::STACK_KINDS.contains(&k))
            {
                return Err(ConfigError::Invalid(format!(
                    "{}: unknown component kind `{key}` under [components]; expected orchestrator, metadata_store and artifact_store",
                    path.display()
                ))
                .into());
            }
        }
        for kind in ComponentKind::STACK_KINDS {
            if !export.components.contains_key(kind.config_key()) {
                return Err(ConfigError::Invalid(format!(
                    "{}: the stack has no {}; a stack needs [components.orchestrator], [components.metadata_store] and [components.artifact_store]",
                    path.display(),
                    kind.human_name()
                ))
                .into());
            }
        }
        Ok(export)
    }

    /// Writes the export to `path`, replacing it atomically.
    pub fn write(&self, path: &Path) -> Result<(), RepositoryError> {
        let header = "# A zenml stack: `zenml stack import <this file>` registers it with its components.\n\n";
        write_toml(path, header, self, false)
    }

    /// The component of `kind`.
    pub fn component(&self, kind: ComponentKind) -> Result<&ExportedComponent, RepositoryError> {
        self.components.get(kind.config_key()).ok_or_else(|| {
            ConfigError::Invalid(format!("the exported stack has no {}", kind.human_name())).into()
        })
    }
}
