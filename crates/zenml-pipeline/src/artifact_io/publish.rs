//! Publishing an artifact's files into the store, so that no object is ever overwritten.
//!
//! Two ways, chosen by what the store can do:
//!
//! - **A store with local files** ([`LocalFiles`]): each file is moved in by renaming it,
//!   with a conditional create ([`PutMode::Create`]) per file. A rename that never replaces
//!   costs the same at any size.
//! - **Any other store** (a bucket): the artifact's folder is first *claimed* with one small
//!   conditional create of its claim object, [`CLAIM_FILE`], a manifest naming the content
//!   hash, the size and the number of files. Only the writer whose claim succeeded writes
//!   below the folder, so its files are then plain writes ([`PutMode::Overwrite`]): a large
//!   file is one multipart upload, with no conditional copy into place (object stores take
//!   no precondition on completing a multipart upload through `object_store`, so a large
//!   conditional create costs a server-side copy of the whole object).
//!
//! **Invariant:** on a store without local files, every writer of an artifact folder claims
//! it first. Two writers of one folder therefore cannot both write into it, and no object of
//! an artifact is ever overwritten, although its files are written without a precondition.

use std::path::PathBuf;

use zenml_artifact_store::{ArtifactStore, ArtifactStoreError, LocalFiles, ObjectPath, PutMode};

use super::{ArtifactFile, ArtifactIoError};

/// The name of the object that claims an artifact's folder on a store without local files,
/// directly below the folder. No materializer may write a file of that name there, and
/// reads and verifications do not count it among the artifact's files.
pub const CLAIM_FILE: &str = ".zenml-artifact.json";

/// The version of the claim manifest's layout.
const CLAIM_FORMAT: u32 = 1;

/// What the claim object of an artifact holds: enough to tell, without downloading the
/// artifact, what was published there.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) struct ClaimManifest {
    /// The manifest layout's version.
    pub(super) format: u32,
    /// The artifact's content hash.
    pub(super) content_hash: String,
    /// The total size of its files in bytes.
    pub(super) size: u64,
    /// How many files it has.
    pub(super) files: usize,
}

/// One file to publish: the local file and its key in the store.
pub(super) struct Publication<'a> {
    /// The artifact's files, sorted by relative path.
    pub(super) files: &'a [ArtifactFile],
    /// Each file's key, in the same order.
    pub(super) keys: &'a [ObjectPath],
    /// The artifact's folder.
    pub(super) folder: &'a ObjectPath,
    /// Its content hash and size, for the claim manifest.
    pub(super) content_hash: &'a str,
    /// The total size of its files.
    pub(super) size: u64,
}

impl Publication<'_> {
    /// Publishes the files into `store`. On failure, what this call put is deleted (best
    /// effort); an object that was there already is someone else's and stays. Returns
    /// [`ArtifactIoError::AlreadyExists`] (with `uri`) when another writer holds the folder.
    pub(super) fn run(&self, store: &dyn ArtifactStore, uri: &str) -> Result<(), ArtifactIoError> {
        let result = match store.local_files() {
            Some(local) => self.move_in(store, local),
            None => self.claim_and_upload(store),
        };
        result.map_err(|e| match e {
            ArtifactStoreError::AlreadyExists { .. } => ArtifactIoError::AlreadyExists {
                uri: uri.to_owned(),
            },
            other => other.into(),
        })
    }

    /// Moves each file in with a conditional create.
    fn move_in(
        &self,
        store: &dyn ArtifactStore,
        local: &dyn LocalFiles,
    ) -> Result<(), ArtifactStoreError> {
        for (published, (file, key)) in self.files.iter().zip(self.keys).enumerate() {
            if let Err(e) = local.put_file_moving(key, &file.path, PutMode::Create) {
                delete_all(store, &self.keys[..published]);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Claims the folder, then writes each file.
    fn claim_and_upload(&self, store: &dyn ArtifactStore) -> Result<(), ArtifactStoreError> {
        let claim = claim_key(self.folder)?;
        let manifest = ClaimManifest {
            format: CLAIM_FORMAT,
            content_hash: self.content_hash.to_owned(),
            size: self.size,
            files: self.files.len(),
        };
        let manifest =
            serde_json::to_vec_pretty(&manifest).map_err(|e| ArtifactStoreError::Io {
                action: "cannot encode the claim manifest of",
                path: PathBuf::from(claim.as_str()),
                source: e.into(),
            })?;
        store.put_opts(&claim, &manifest, PutMode::Create)?;
        for (published, (file, key)) in self.files.iter().zip(self.keys).enumerate() {
            // The claim makes this writer the folder's only one: a plain write suffices.
            if let Err(e) = store.put_file(key, &file.path, PutMode::Overwrite) {
                delete_all(store, &self.keys[..published]);
                delete_all(store, std::slice::from_ref(&claim));
                return Err(e);
            }
        }
        Ok(())
    }
}

/// Reads and decodes the claim object at `claim` of the artifact `uri`, which should have
/// the content hash `expected`; a claim that is not a manifest is a
/// [`ArtifactIoError::HashMismatch`].
pub(super) fn read_claim(
    store: &dyn ArtifactStore,
    claim: &ObjectPath,
    uri: &str,
    expected: &str,
) -> Result<ClaimManifest, ArtifactIoError> {
    let bytes = store.get(claim)?;
    serde_json::from_slice(&bytes).map_err(|e| ArtifactIoError::HashMismatch {
        uri: uri.to_owned(),
        expected: expected.to_owned(),
        actual: format!("unknown (its claim object `{CLAIM_FILE}` is not a claim manifest: {e})"),
    })
}

/// The key of `folder`'s claim object.
pub(super) fn claim_key(folder: &ObjectPath) -> Result<ObjectPath, ArtifactStoreError> {
    folder.join(CLAIM_FILE).map_err(ArtifactStoreError::from)
}

/// Deletes `keys`, ignoring failures: nothing points to them, so removing them only saves
/// space.
fn delete_all(store: &dyn ArtifactStore, keys: &[ObjectPath]) {
    for key in keys {
        let _ = store.delete(key);
    }
}
