//! Writing artifacts into the artifact store and reading them back.
//!
//! An artifact is the folder of files a [`Materializer`] makes of one value. It is immutable
//! and written atomically:
//!
//! 1. The materializer saves the value into a fresh temporary folder under `staging`, a
//!    local folder (the runner passes `<repo>/.zen/staging`).
//! 2. The folder is checked (only regular files and folders; links and special files are
//!    refused, never followed) and hashed.
//! 3. Each file is published under the artifact's fresh folder in the store,
//!    `<pipeline>/<step>/<output>/<artifact id>/<file>`, so that no object is ever
//!    overwritten: a store with local files moves each file in with a conditional create
//!    (a rename that never replaces); on any other store (a bucket) the writer first claims
//!    the folder with one small conditional create of its claim object, [`CLAIM_FILE`],
//!    and then uploads the files (in parts, for large ones) as the folder's only writer.
//!    See `publish.rs`.
//!
//! The artifact becomes visible only when the caller records it in the metadata store,
//! after [`write_artifact`] returned. A failure or a crash before that leaves at most
//! unrecorded orphan files, never a recorded partial artifact; this holds for object stores
//! without a rename too, since nothing relies on renaming a folder.
//!
//! Each artifact records the [`content_hash_of_dir`] of its files and their total size.
//! [`read_artifact`] verifies the hash before the materializer reads anything (hashing a
//! download as its bytes arrive), and fails with [`ArtifactIoError::HashMismatch`] when the
//! files changed.

mod check;
mod hash;
mod publish;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use tempfile::TempDir;
use zenml_artifact_store::{
    ArtifactStore, ArtifactStoreError, GetOptions, ObjectMeta, ObjectPath, copy_into_file,
};
use zenml_materializer::{Materializer, MaterializerError};

pub use check::{ArtifactCheck, check_artifact};
use hash::{StreamingHash, hash_files};
pub use publish::CLAIM_FILE;
use publish::Publication;

/// An artifact published by [`write_artifact`]: what the caller records in the metadata
/// store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenArtifact {
    /// The artifact's folder in the artifact store.
    pub path: ObjectPath,
    /// The folder's URI: the store's [`uri`](ArtifactStore::uri), `/`, then `path`.
    pub uri: String,
    /// The [`content_hash_of_dir`] of the artifact's files: 64 lowercase hex digits.
    pub content_hash: String,
    /// The total size of the artifact's files, in bytes.
    pub size: u64,
}

/// What can go wrong when writing or reading an artifact.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArtifactIoError {
    /// The materializer failed to save or load the value.
    #[error(transparent)]
    Materializer(#[from] MaterializerError),
    /// The artifact store failed.
    #[error(transparent)]
    Store(#[from] ArtifactStoreError),
    /// The artifact's files do not have the hash recorded when it was written: they were
    /// changed, added or removed since. The materializer was not called.
    #[error(
        "artifact `{uri}` is corrupt: its files hash to {actual}, but {expected} was recorded \
         when it was written; its files were changed, added or removed in the artifact store"
    )]
    HashMismatch {
        /// The artifact's URI.
        uri: String,
        /// The hash recorded when it was written.
        expected: String,
        /// The hash of the files found now.
        actual: String,
    },
    /// The artifact store holds no file of the artifact.
    #[error(
        "artifact `{uri}` has no files in the artifact store: they were deleted, or the \
         artifact was written to another artifact store"
    )]
    Missing {
        /// The artifact's URI.
        uri: String,
    },
    /// The artifact's folder in the store is not empty: artifacts are never overwritten,
    /// and each is written to a fresh folder.
    #[error("artifact `{uri}` already exists; an artifact is written once, to a fresh folder")]
    AlreadyExists {
        /// The artifact's URI.
        uri: String,
    },
    /// A materializer's output holds something an artifact cannot: a link, a special file,
    /// or a name that is not a valid artifact store key.
    #[error("cannot store `{}` in an artifact: {reason}", path.display())]
    NotStorable {
        /// The offending local path.
        path: PathBuf,
        /// Why it cannot be stored.
        reason: String,
    },
    /// A local file system operation failed.
    #[error("{action} `{}`: {source}", path.display())]
    Io {
        /// What was being done, e.g. `cannot read`.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
}

/// A regular file of an artifact.
#[derive(Debug)]
struct ArtifactFile {
    /// The path relative to the artifact's folder, `/`-separated.
    pub(super) relative: String,
    /// The local file.
    pub(super) path: PathBuf,
}

/// Saves `value` with `materializer` and publishes its files into `store` under `folder`,
/// a fresh artifact-id folder. `materializer` may be a `&dyn Materializer<Value = T>`.
///
/// The materializer writes into a fresh temporary folder under `staging` (created if
/// missing), which is removed on every path. The artifact's files are hashed there, then
/// each is published at `folder/<its path in the materializer's folder>`: moved in without
/// a copy, each with a conditional create ([`PutMode::Create`](zenml_artifact_store::PutMode)),
/// on a store with [`LocalFiles`](zenml_artifact_store::LocalFiles); on any other store the
/// folder is first claimed by a conditional create of its claim object ([`CLAIM_FILE`], a
/// small manifest of the hash, size and file count), and the files are then streamed in (in
/// parts, for large files) by the folder's one writer. No object is ever overwritten, and
/// nothing is listed first, so two writers of one folder cannot both succeed. Empty
/// subfolders are not kept. If publishing fails, the objects this call put are deleted
/// (best effort); a crash can leave orphan objects, which no record points to.
///
/// # Errors
///
/// - [`ArtifactIoError::AlreadyExists`] when an object exists at one of the artifact's keys
///   or the folder is claimed already.
/// - [`ArtifactIoError::Materializer`] when saving fails; nothing reaches the store.
/// - [`ArtifactIoError::NotStorable`] when the materializer's output holds a link, a special
///   file, a name that is not a valid key, or a file named [`CLAIM_FILE`] at its top;
///   nothing reaches the store.
/// - [`ArtifactIoError::Store`] and [`ArtifactIoError::Io`] for store and local failures.
pub fn write_artifact<M: Materializer + ?Sized>(
    store: &dyn ArtifactStore,
    staging: &Path,
    folder: &ObjectPath,
    materializer: &M,
    value: &M::Value,
) -> Result<WrittenArtifact, ArtifactIoError> {
    let uri = artifact_uri(store, folder);
    let temp = temp_dir_in(staging, "write-")?;
    materializer.save(value, temp.path())?;
    let files = collect_files(temp.path())?;
    if let Some(file) = files.iter().find(|file| file.relative == CLAIM_FILE) {
        return Err(ArtifactIoError::NotStorable {
            path: file.path.clone(),
            reason: format!(
                "the name `{CLAIM_FILE}` is reserved for the artifact's claim in the store"
            ),
        });
    }
    let keys = files
        .iter()
        .map(|file| {
            folder
                .join(&file.relative)
                .map_err(|e| ArtifactIoError::NotStorable {
                    path: file.path.clone(),
                    reason: format!("its name is not a valid artifact store key: {}", e.reason),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (content_hash, size) = hash_files(&files)?;
    Publication {
        files: &files,
        keys: &keys,
        folder,
        content_hash: &content_hash,
        size,
    }
    .run(store, &uri)?;
    Ok(WrittenArtifact {
        path: folder.clone(),
        uri,
        content_hash,
        size,
    })
}

/// Reads the artifact in `store` under `folder` back with `materializer`, after checking
/// that its files hash to `expected_hash` (as recorded by [`write_artifact`]).
///
/// A store that keeps objects as local files
/// ([`LocalFiles`](zenml_artifact_store::LocalFiles)) is read in place, without a copy: the
/// artifact's folder is hashed, then loaded from there. Otherwise the folder's objects are
/// streamed into a fresh temporary folder under `staging` (created if missing, removed on
/// every path) and hashed as their bytes arrive, then loaded. Either way the hash covers
/// exactly the files the materializer sees, and the materializer is called only when it
/// matches.
///
/// # Errors
///
/// - [`ArtifactIoError::Missing`] when the store holds no file of the artifact.
/// - [`ArtifactIoError::HashMismatch`] when the files do not hash to `expected_hash`.
/// - [`ArtifactIoError::NotStorable`] when the artifact's folder holds a link or a special
///   file (it is not followed).
/// - [`ArtifactIoError::Materializer`] when loading fails.
/// - [`ArtifactIoError::Store`] and [`ArtifactIoError::Io`] for store and local failures.
pub fn read_artifact<M: Materializer + ?Sized>(
    store: &dyn ArtifactStore,
    staging: &Path,
    folder: &ObjectPath,
    expected_hash: &str,
    materializer: &M,
) -> Result<M::Value, ArtifactIoError> {
    let uri = artifact_uri(store, folder);
    if let Some(dir) = local_folder(store, folder) {
        let files = stored_files(&dir)?;
        verify(&uri, expected_hash, &files)?;
        return Ok(materializer.load(&dir)?);
    }
    let temp = temp_dir_in(staging, "read-")?;
    download_verified(store, folder, &uri, expected_hash, temp.path())?;
    Ok(materializer.load(temp.path())?)
}

/// Checks that the artifact in `folder` still exists as it was written, without loading it:
/// what a cache hit requires of each reused output.
///
/// On a store with local files, the files are hashed in place and must hash to
/// `expected_hash`. On other stores (buckets) the artifact is not downloaded: one listing
/// must show its files with `expected_size` bytes in all, and its claim object (when it has
/// one: artifacts published before claims existed have none) must name `expected_hash`. A
/// load ([`read_artifact`]) still verifies the content hash of the files themselves.
///
/// # Errors
///
/// [`ArtifactIoError::Missing`] when the store holds no file of the artifact,
/// [`ArtifactIoError::HashMismatch`] when its files changed (or, on a bucket, their sizes
/// no longer add up), and store and local failures.
pub fn verify_artifact(
    store: &dyn ArtifactStore,
    folder: &ObjectPath,
    expected_hash: &str,
    expected_size: u64,
) -> Result<(), ArtifactIoError> {
    let uri = artifact_uri(store, folder);
    if let Some(dir) = local_folder(store, folder) {
        return verify(&uri, expected_hash, &stored_files(&dir)?);
    }
    let (claim, objects) = listed_artifact(store, folder)?;
    let size: u64 = objects.iter().map(|(_, meta)| meta.size).sum();
    if let Some(claim) = claim {
        // The claim names what was published in this folder: it must be this artifact.
        let manifest = publish::read_claim(store, &claim, &uri, expected_hash)?;
        if !manifest.content_hash.eq_ignore_ascii_case(expected_hash) {
            return Err(ArtifactIoError::HashMismatch {
                uri,
                expected: expected_hash.to_owned(),
                actual: format!(
                    "{} (the folder was claimed by another artifact)",
                    manifest.content_hash
                ),
            });
        }
    } else if objects.is_empty() {
        // An artifact of no files written without a claim is still there; otherwise its
        // files are gone.
        let empty = StreamingHash::new().finish().0;
        return if empty.eq_ignore_ascii_case(expected_hash) {
            Ok(())
        } else {
            Err(ArtifactIoError::Missing { uri })
        };
    }
    if objects.is_empty() && expected_size > 0 {
        return Err(ArtifactIoError::Missing { uri });
    }
    if size != expected_size {
        return Err(ArtifactIoError::HashMismatch {
            uri,
            expected: expected_hash.to_owned(),
            actual: format!("unknown (its files hold {size} bytes, not {expected_size})"),
        });
    }
    Ok(())
}

/// The artifact's folder on this machine, when the store keeps local files and it is there.
fn local_folder(store: &dyn ArtifactStore, folder: &ObjectPath) -> Option<PathBuf> {
    store
        .local_files()?
        .local_path(folder)
        .filter(|dir| fs::symlink_metadata(dir).is_ok_and(|meta| meta.is_dir()))
}

/// The objects of the artifact in `folder`, with their paths relative to it, sorted; its
/// claim object ([`CLAIM_FILE`]) is not one of them.
fn artifact_objects(
    store: &dyn ArtifactStore,
    folder: &ObjectPath,
) -> Result<Vec<(String, ObjectMeta)>, ArtifactIoError> {
    Ok(listed_artifact(store, folder)?.1)
}

/// One listing of `folder`: the artifact's claim object, if it has one, and its other
/// objects as [`artifact_objects`] gives them.
fn listed_artifact(
    store: &dyn ArtifactStore,
    folder: &ObjectPath,
) -> Result<ArtifactListing, ArtifactIoError> {
    let prefix = format!("{folder}/");
    let mut claim = None;
    let mut objects = Vec::new();
    for meta in store.list(Some(folder))? {
        let Some(relative) = meta.path.as_str().strip_prefix(&prefix) else {
            continue;
        };
        if relative == CLAIM_FILE {
            claim = Some(meta.path);
        } else {
            objects.push((relative.to_owned(), meta));
        }
    }
    Ok((claim, objects))
}

/// An artifact's claim object (if any) and its files, relative to its folder.
type ArtifactListing = (Option<ObjectPath>, Vec<(String, ObjectMeta)>);

/// Streams the artifact's objects into `dir`, hashing the bytes as they arrive, and fails
/// unless they hash to `expected_hash`.
fn download_verified(
    store: &dyn ArtifactStore,
    folder: &ObjectPath,
    uri: &str,
    expected_hash: &str,
    dir: &Path,
) -> Result<(), ArtifactIoError> {
    let objects = artifact_objects(store, folder)?;
    let mut hash = StreamingHash::new();
    for (relative, meta) in &objects {
        let mut destination = dir.to_path_buf();
        destination.extend(relative.split('/'));
        if let Some(parent) = destination.parent() {
            fs::create_dir_all(parent).map_err(io_error("cannot create folder", parent))?;
        }
        let result = store.get_opts(&meta.path, GetOptions::default())?;
        hash.begin_file(relative, result.range.end - result.range.start);
        copy_into_file(result, &destination, &mut |chunk| hash.update(chunk))?;
    }
    let (actual, _) = hash.finish();
    if actual.eq_ignore_ascii_case(expected_hash) {
        Ok(())
    } else if objects.is_empty() {
        Err(ArtifactIoError::Missing {
            uri: uri.to_owned(),
        })
    } else {
        Err(ArtifactIoError::HashMismatch {
            uri: uri.to_owned(),
            expected: expected_hash.to_owned(),
            actual,
        })
    }
}

/// The content hash of the regular files below `dir`, and their total size in bytes.
///
/// The hash is BLAKE3 (64 lowercase hex digits) over every regular file below `dir`, at any
/// depth, in the byte order of their `/`-separated paths relative to `dir`; for each file it
/// covers, in order: the path's length in bytes (8 bytes, little-endian), the path (UTF-8),
/// the content's length (8 bytes, little-endian) and the content. The lengths make the
/// boundaries between paths and contents unambiguous. Folders count only through the paths
/// of the files they hold, so the hash depends on nothing but the relative paths and the
/// bytes: not on the order files were written in, their times or their permissions.
///
/// # Errors
///
/// [`ArtifactIoError::NotStorable`] for a link (never followed), a special file or a name
/// that is not UTF-8, and [`ArtifactIoError::Io`] when `dir` cannot be read.
pub fn content_hash_of_dir(dir: &Path) -> Result<(String, u64), ArtifactIoError> {
    hash_files(&collect_files(dir)?)
}

/// `store.uri()/folder`.
fn artifact_uri(store: &dyn ArtifactStore, folder: &ObjectPath) -> String {
    format!("{}/{folder}", store.uri())
}

/// A fresh temporary folder in `staging`, creating `staging` if needed.
fn temp_dir_in(staging: &Path, prefix: &str) -> Result<TempDir, ArtifactIoError> {
    fs::create_dir_all(staging).map_err(io_error("cannot create the staging folder", staging))?;
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(staging)
        .map_err(io_error("cannot create a temporary folder in", staging))
}

/// Maps an I/O error on `path` into [`ArtifactIoError::Io`].
pub(super) fn io_error(
    action: &'static str,
    path: &Path,
) -> impl FnOnce(io::Error) -> ArtifactIoError {
    let path = path.to_path_buf();
    move |source| ArtifactIoError::Io {
        action,
        path,
        source,
    }
}

/// Fails unless `files` hash to `expected`; no file at all is [`ArtifactIoError::Missing`].
fn verify(uri: &str, expected: &str, files: &[ArtifactFile]) -> Result<(), ArtifactIoError> {
    let (actual, _) = hash_files(files)?;
    if actual.eq_ignore_ascii_case(expected) {
        Ok(())
    } else if files.is_empty() {
        Err(ArtifactIoError::Missing {
            uri: uri.to_owned(),
        })
    } else {
        Err(ArtifactIoError::HashMismatch {
            uri: uri.to_owned(),
            expected: expected.to_owned(),
            actual,
        })
    }
}

/// The files of the artifact stored in the local folder `dir`: [`collect_files`] without a
/// claim object at its top (a store with local files writes none, but its folder may have
/// been filled by another store's writer).
fn stored_files(dir: &Path) -> Result<Vec<ArtifactFile>, ArtifactIoError> {
    let mut files = collect_files(dir)?;
    files.retain(|file| file.relative != CLAIM_FILE);
    Ok(files)
}

/// The regular files below `dir`, sorted by relative path. Links and special files are
/// errors; a missing `dir` is an I/O error.
fn collect_files(dir: &Path) -> Result<Vec<ArtifactFile>, ArtifactIoError> {
    let mut files = Vec::new();
    walk(dir, "", &mut files)?;
    files.sort_by(|a, b| a.relative.cmp(&b.relative));
    Ok(files)
}

fn walk(dir: &Path, prefix: &str, out: &mut Vec<ArtifactFile>) -> Result<(), ArtifactIoError> {
    for entry in fs::read_dir(dir).map_err(io_error("cannot list", dir))? {
        let entry = entry.map_err(io_error("cannot list", dir))?;
        let path = entry.path();
        let not_storable = |reason: &str| ArtifactIoError::NotStorable {
            path: path.clone(),
            reason: reason.to_owned(),
        };
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            return Err(not_storable("its name is not UTF-8"));
        };
        let relative = format!("{prefix}{name}");
        // `DirEntry::file_type` does not follow links.
        let file_type = entry
            .file_type()
            .map_err(io_error("cannot inspect", &path))?;
        if file_type.is_dir() {
            walk(&path, &format!("{relative}/"), out)?;
        } else if file_type.is_file() {
            out.push(ArtifactFile { relative, path });
        } else if file_type.is_symlink() {
            return Err(not_storable(
                "it is a symbolic link, which is never followed; an artifact holds only \
                 regular files and folders",
            ));
        } else {
            return Err(not_storable(
                "it is not a regular file or folder; an artifact holds only regular files and \
                 folders",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
