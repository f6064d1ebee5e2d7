//! Re-hashing a stored artifact completely, for tamper detection (`zenml artifact verify`):
//! unlike [`verify_artifact`](super::verify_artifact), which a cache hit uses and which on a
//! bucket only lists the files, this reads every byte.

use std::io::Read;

use serde::Serialize;
use zenml_artifact_store::{ArtifactStore, GetOptions, ObjectPath};

use super::hash::{StreamingHash, hash_files};
use super::{ArtifactIoError, artifact_objects, local_folder, stored_files};

/// What re-hashing an artifact found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ArtifactCheck {
    /// Its files hash to the recorded hash.
    Intact {
        /// The bytes read.
        bytes: u64,
    },
    /// The store holds none of its files.
    Missing,
    /// Its files hold fewer bytes than were recorded, and do not hash as recorded.
    Truncated {
        /// The bytes found.
        bytes: u64,
        /// The bytes recorded.
        recorded: u64,
    },
    /// Its files do not hash as recorded: changed, added or removed.
    Modified {
        /// The hash of the files found.
        hash: String,
        /// The bytes found.
        bytes: u64,
    },
}

impl ArtifactCheck {
    /// Whether the artifact is as it was written.
    pub fn is_intact(&self) -> bool {
        matches!(self, ArtifactCheck::Intact { .. })
    }

    /// One word for it: `ok`, `missing`, `truncated` or `modified`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ArtifactCheck::Intact { .. } => "ok",
            ArtifactCheck::Missing => "missing",
            ArtifactCheck::Truncated { .. } => "truncated",
            ArtifactCheck::Modified { .. } => "modified",
        }
    }
}

/// Re-hashes the artifact in `folder` of `store` — every byte of every file, in place on a
/// store with local files, streamed from any other — and compares the result with the
/// `recorded_hash` and `recorded_size` it was recorded with. `progress` is told of every
/// chunk of bytes read.
///
/// # Errors
///
/// Store and local failures other than the artifact's absence, and
/// [`ArtifactIoError::NotStorable`] when the folder holds a link or a special file.
pub fn check_artifact(
    store: &dyn ArtifactStore,
    folder: &ObjectPath,
    recorded_hash: &str,
    recorded_size: u64,
    progress: &mut dyn FnMut(u64),
) -> Result<ArtifactCheck, ArtifactIoError> {
    let (hash, bytes, files) =
        match local_folder(store, folder) {
            Some(dir) => {
                let files = stored_files(&dir)?;
                let (hash, bytes) = hash_files(&files)?;
                progress(bytes);
                (hash, bytes, files.len())
            }
            None => {
                let objects = artifact_objects(store, folder)?;
                let mut hash = StreamingHash::new();
                let mut buffer = vec![0u8; 1 << 20];
                for (relative, meta) in &objects {
                    let mut object = store.get_opts(&meta.path, GetOptions::default())?;
                    hash.begin_file(relative, object.range.end - object.range.start);
                    loop {
                        let read = object.reader.read(&mut buffer).map_err(|source| {
                            ArtifactIoError::Io {
                                action: "cannot read the artifact file",
                                path: meta.path.as_str().into(),
                                source,
                            }
                        })?;
                        if read == 0 {
                            break;
                        }
                        hash.update(&buffer[..read]);
                        progress(read as u64);
                    }
                }
                let (digest, bytes) = hash.finish();
                (digest, bytes, objects.len())
            }
        };
    Ok(if hash.eq_ignore_ascii_case(recorded_hash) {
        ArtifactCheck::Intact { bytes }
    } else if files == 0 {
        ArtifactCheck::Missing
    } else if bytes < recorded_size {
        ArtifactCheck::Truncated {
            bytes,
            recorded: recorded_size,
        }
    } else {
        ArtifactCheck::Modified { hash, bytes }
    })
}
