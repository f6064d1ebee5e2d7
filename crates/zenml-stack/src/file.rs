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
    Ok(read_toml_with_text(path)?.0)
}

/// Like [`read_toml`], also returning the text that was parsed.
pub(crate) fn read_toml_with_text<T: DeserializeOwned>(
    path: &Path,
) -> Result<(T, String), RepositoryError> {
    let text = read_text(path)?;
    Ok((zenml_core::parse_toml_file(path, &text)?, text))
}

/// Reads a whole text file.
pub(crate) fn read_text(path: &Path) -> Result<String, RepositoryError> {
    fs::read_to_string(path).map_err(|source| RepositoryError::Io {
        action: "cannot read",
        path: path.to_path_buf(),
        source,
    })
}

/// Holds an exclusive lock on `.zen/lock` while it lives, so that only one process at a time
/// replaces the repository's files.
pub(crate) struct WriteLock(#[allow(dead_code)] fs::File);

impl WriteLock {
    pub(crate) fn acquire(zen_dir: &Path) -> Result<WriteLock, RepositoryError> {
        let path = zen_dir.join("lock");
        let io = |action| {
            let path = path.clone();
            move |source| RepositoryError::Io {
                action,
                path,
                source,
            }
        };
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io("cannot open the lock file"))?;
        file.lock().map_err(io("cannot lock"))?;
        Ok(WriteLock(file))
    }
}

/// Serializes `value` as TOML after `header` and replaces `path` atomically. The temporary
/// file is created by `tempfile` with mode 0600 and keeps it through the rename, which
/// suits the secrets file; `private = false` widens it to 0644 for plain definitions.
pub(crate) fn write_toml<T: Serialize>(
    path: &Path,
    header: &str,
    value: &T,
    private: bool,
) -> Result<(), RepositoryError> {
    let text = toml_text(path, header, value)?;
    let io = |action| {
        move |source| RepositoryError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = NamedTempFile::new_in(dir).map_err(io("cannot create a temporary file for"))?;
    tmp.write_all(text.as_bytes()).map_err(io("cannot write"))?;
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

/// The text [`write_toml`] writes for `value`.
pub(crate) fn toml_text<T: Serialize>(
    path: &Path,
    header: &str,
    value: &T,
) -> Result<String, RepositoryError> {
    let body = toml::to_string_pretty(value).map_err(|e| RepositoryError::Io {
        action: "cannot serialize",
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    Ok(format!("{header}{body}"))
}
