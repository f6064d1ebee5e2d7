//! File access shared by the built-in materializers.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use crate::MaterializerError;

/// How many names a [`MaterializerError::MissingFile`] lists.
const MAX_LISTED: usize = 10;

/// Writes `data` to the new file `dir/name`; fails if it exists already.
pub(crate) fn write_new(dir: &Path, name: &str, data: &[u8]) -> Result<(), MaterializerError> {
    let path = dir.join(name);
    let io_err = |action| {
        let path = path.clone();
        move |source| MaterializerError::Io {
            action,
            path,
            source,
        }
    };
    let mut file = fs::File::create_new(&path).map_err(io_err("cannot create"))?;
    file.write_all(data).map_err(io_err("cannot write"))?;
    file.flush().map_err(io_err("cannot write"))
}

/// Reads the regular file `dir/name`, without following a link.
pub(crate) fn read_regular(
    dir: &Path,
    name: &str,
    id: &'static str,
    rust_type: &'static str,
) -> Result<Vec<u8>, MaterializerError> {
    let path = dir.join(name);
    let meta = match fs::symlink_metadata(&path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(MaterializerError::MissingFile {
                id,
                rust_type,
                found: list(dir)?,
                file: path,
            });
        }
        Err(source) => {
            return Err(MaterializerError::Io {
                action: "cannot inspect",
                path,
                source,
            });
        }
    };
    if !meta.is_file() {
        let what = if meta.file_type().is_symlink() {
            "a link, which is not followed"
        } else {
            "not a regular file"
        };
        return Err(MaterializerError::Mismatch {
            id,
            rust_type,
            file: path,
            message: format!("it is {what}"),
        });
    }
    fs::read(&path).map_err(|source| MaterializerError::Io {
        action: "cannot read",
        path,
        source,
    })
}

/// The sorted names in `dir`, at most [`MAX_LISTED`] and then `…`.
fn list(dir: &Path) -> Result<Vec<String>, MaterializerError> {
    let io_err = |source| MaterializerError::Io {
        action: "cannot list",
        path: dir.to_path_buf(),
        source,
    };
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err)? {
        names.push(
            entry
                .map_err(io_err)?
                .file_name()
                .to_string_lossy()
                .into_owned(),
        );
    }
    names.sort();
    if names.len() > MAX_LISTED {
        names.truncate(MAX_LISTED);
        names.push("…".to_owned());
    }
    Ok(names)
}
