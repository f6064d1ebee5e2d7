//! `.zen/secrets.toml`: secret config values, readable by the owner only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zenml_core::ComponentKind;

use crate::RepositoryError;
use crate::file::{read_toml, write_toml};

const HEADER: &str = "# Secret values of zenml components. Keep this file private (mode 0600) and out of\n# version control. Written by `zenml`; entries are removed when their component is.\n\n";

/// Secret values by kind (config key), component name and field.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Secrets {
    #[serde(flatten)]
    by_kind: BTreeMap<String, BTreeMap<String, toml::Table>>,
}

impl Secrets {
    pub(crate) fn path(zen_dir: &Path) -> PathBuf {
        zen_dir.join("secrets.toml")
    }

    pub(crate) fn load(zen_dir: &Path) -> Result<Secrets, RepositoryError> {
        let path = Self::path(zen_dir);
        if !path.exists() {
            return Ok(Secrets::default());
        }
        check_private(&path)?;
        read_toml(&path)
    }

    pub(crate) fn save(&self, zen_dir: &Path) -> Result<(), RepositoryError> {
        write_toml(&Self::path(zen_dir), HEADER, self, true)
    }

    pub(crate) fn get(&self, kind: ComponentKind, name: &str) -> Option<&toml::Table> {
        self.by_kind.get(kind.config_key())?.get(name)
    }

    pub(crate) fn set(&mut self, kind: ComponentKind, name: &str, values: toml::Table) {
        let of_kind = self
            .by_kind
            .entry(kind.config_key().to_owned())
            .or_default();
        if values.is_empty() {
            of_kind.remove(name);
        } else {
            of_kind.insert(name.to_owned(), values);
        }
        if of_kind.is_empty() {
            self.by_kind.remove(kind.config_key());
        }
    }

    pub(crate) fn take(&mut self, kind: ComponentKind, name: &str) -> toml::Table {
        let taken = self
            .by_kind
            .get_mut(kind.config_key())
            .and_then(|m| m.remove(name))
            .unwrap_or_default();
        self.set(kind, name, toml::Table::new()); // drops empty maps
        taken
    }
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), RepositoryError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|source| RepositoryError::Io {
        action: "cannot inspect",
        path: path.to_path_buf(),
        source,
    })?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(RepositoryError::Io {
            action: "refusing to use the secrets file",
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "other users can read it; run `chmod 600` on it",
            ),
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_: &Path) -> Result<(), RepositoryError> {
    Ok(())
}
