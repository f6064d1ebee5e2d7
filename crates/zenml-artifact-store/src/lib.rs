//! The artifact store: where artifact bytes live.
//!
//! [`ArtifactStore`] is the contract every flavor implements; [`ArtifactStoreFlavor`] is the
//! trait a flavor's configuration implements to open one. Keys are [`ObjectPath`]s, which are
//! validated so that nothing a user names can leave the store's root. This crate ships the
//! `local` flavor ([`LocalArtifactStore`]), a folder on this machine.

mod error;
mod local;
mod path;

use std::fmt;
use std::path::{Path, PathBuf};

use zenml_core::{ComponentContext, ComponentKind, FlavorKind};

pub use error::ArtifactStoreError;
pub use local::{LocalArtifactStore, LocalArtifactStoreConfig};
pub use path::{ObjectPath, ObjectPathError};

/// A place that holds artifact bytes under [`ObjectPath`] keys.
///
/// # Contract
///
/// Implementations are used from many threads at once and must uphold:
///
/// - **Atomic writes.** After [`put`](ArtifactStore::put),
///   [`put_file`](ArtifactStore::put_file) or
///   [`put_file_moving`](ArtifactStore::put_file_moving) returns `Ok`, the object holds
///   exactly the new bytes. If the call fails or the process dies during it, the object is
///   either absent or holds its earlier bytes: a reader never sees a partial object.
/// - **Contained keys.** Every key lives below the store's root. [`ObjectPath`] guarantees the
///   key is well formed; an implementation must not interpret it in a way that leaves the root
///   (for instance by following links placed inside the store).
/// - **Listing is complete and sorted.** [`list`](ArtifactStore::list) returns every object
///   below the prefix, at any depth, in lexicographic order of the key, and never returns the
///   implementation's own staging data.
/// - **Deleting is idempotent.** Deleting an absent object succeeds.
/// - **Errors are typed.** A missing object is [`ArtifactStoreError::NotFound`], whatever the
///   backend reports.
pub trait ArtifactStore: fmt::Debug + Send + Sync {
    /// A URI naming this store's root, e.g. `file:///home/me/project/.zen/artifacts` or
    /// `s3://bucket/prefix`. Two stores with the same URI hold the same objects.
    fn uri(&self) -> String;

    /// Writes `data` to `path`, replacing any earlier object, atomically.
    fn put(&self, path: &ObjectPath, data: &[u8]) -> Result<(), ArtifactStoreError>;

    /// Copies the local file `source` to `path`, atomically, and returns the bytes written.
    /// Use it for large objects: it does not hold the whole object in memory.
    fn put_file(&self, path: &ObjectPath, source: &Path) -> Result<u64, ArtifactStoreError>;

    /// Moves the local file `source` to `path`, atomically, and returns the bytes written.
    ///
    /// Like [`put_file`](ArtifactStore::put_file), but `source` may be consumed: a store
    /// that keeps objects as files on the same file system renames it into place instead of
    /// copying it, and others copy or upload it. Use it to publish a file written for this
    /// purpose (e.g. in a temporary folder) without copying it again. The atomic-write and
    /// durability guarantees are those of `put_file`.
    ///
    /// `source` must be a regular file: a link is refused, not followed. After `Ok`, `source`
    /// may be gone; after an error it may or may not remain. Either way the caller must not
    /// use it again. A store that renames must make sure the stored object cannot change
    /// later through another name of the same file (a hard link): it copies such a file.
    fn put_file_moving(&self, path: &ObjectPath, source: &Path) -> Result<u64, ArtifactStoreError>;

    /// Reads the whole object at `path`.
    fn get(&self, path: &ObjectPath) -> Result<Vec<u8>, ArtifactStoreError>;

    /// Copies the object at `path` to the local file `destination` and returns the bytes
    /// copied. The destination is replaced atomically.
    fn get_file(&self, path: &ObjectPath, destination: &Path) -> Result<u64, ArtifactStoreError>;

    /// Where the object at `path` is kept as a file on this machine, for zero-copy reads;
    /// `None` for a store that does not keep objects as local files (a remote store).
    ///
    /// For a prefix, it is the local folder that holds the objects below it. The path may
    /// not exist (there is no such object or prefix). A store also returns `None` when
    /// reading there could leave its root (a link on the way); callers then fall back to
    /// [`get`](ArtifactStore::get) and [`get_file`](ArtifactStore::get_file), which report
    /// the problem. The path is for reading only: writing there bypasses atomic writes. A
    /// caller that walks a folder returned here must not follow links found in it.
    fn local_path(&self, path: &ObjectPath) -> Option<PathBuf>;

    /// Whether an object exists at `path`.
    fn exists(&self, path: &ObjectPath) -> Result<bool, ArtifactStoreError>;

    /// Every object below `prefix` (or in the whole store for `None`), sorted.
    fn list(&self, prefix: Option<&ObjectPath>) -> Result<Vec<ObjectPath>, ArtifactStoreError>;

    /// Deletes the object at `path`; succeeds when there is none.
    fn delete(&self, path: &ObjectPath) -> Result<(), ArtifactStoreError>;

    /// Deletes every object below `prefix` and returns how many were deleted.
    fn delete_prefix(&self, prefix: &ObjectPath) -> Result<usize, ArtifactStoreError>;
}

/// The configuration of an artifact store flavor: deserialized from a TOML table whose
/// `flavor` key selects the implementation, it opens the store.
///
/// Declare an implementation with [`zenml_core::flavor`](macro@zenml_core::flavor).
#[typetag::serde(tag = "flavor")]
pub trait ArtifactStoreFlavor: fmt::Debug + Send + Sync {
    /// Opens (and if needed creates) the store this configuration describes.
    fn open(
        &self,
        context: &ComponentContext,
    ) -> Result<Box<dyn ArtifactStore>, ArtifactStoreError>;
}

impl FlavorKind for dyn ArtifactStoreFlavor {
    const KIND: ComponentKind = ComponentKind::ArtifactStore;
}
