//! Reading and atomically replacing the repository's files.

use std::fs;
use std::io::Write;
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tempfile::NamedTempFile;

use crate::RepositoryError;

/// Reads and parses a TOML file; parse errors name the file, line, column and key.
pub(crate) fn read_toml<T: DeserializeOwned>(path: &Path) -> Result<T, RepositoryError> {
    let text = fs::read_to_string(path).map_err(|source| RepositoryError::Io {
        action: "cannot read",
        path: path.to_path_buf(),
        source,
    })?;
    Ok(zenml_core::parse_toml_file(path, &text)?)
}

/// Serializes `value` as TOML after `header` and replaces `path` atomically. The temporary
/// file is created by `tempfile` with mode 0600 and keeps it through the rename, which
/// suits the secrets file; `mode_0644` widens it for plain definitions.
pub(crate) fn write_toml<T: Serialize>(
    path: &Path,
    header: &str,
    value: &T,
    private: bool,
) -> Result<(), RepositoryError> {
    let body = toml::to_string_pretty(value).map_err(|e| RepositoryError::Io {
        action: "cannot serialize",
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    let io = |action| {
        move |source| RepositoryError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = NamedTempFile::new_in(dir).map_err(io("cannot create a temporary file for"))?;
    tmp.write_all(header.as_bytes())
        .map_err(io("cannot write"))?;
    tmp.write_all(body.as_bytes()).map_err(io("cannot write"))?;
    tmp.as_file().sync_all().map_err(io("cannot write"))?;
    #[cfg(unix)]
    if !private {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644))
            .map_err(io("cannot set permissions of"))?;
    }
    #[cfg(not(unix))]
    let _ = private;
    tmp.persist(path)
        .map_err(|e| io("cannot replace")(e.error))?;
    Ok(())
}
