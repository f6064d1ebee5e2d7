//! The artifact store: where artifact bytes live.
//!
//! [`ArtifactStore`] is the contract every flavor implements; [`ArtifactStoreFlavor`] is the
//! trait a flavor's configuration implements to open one. Keys are [`ObjectPath`]s, which are
//! validated so that nothing a user names can leave the store's root. The contract follows
//! `object_store`'s: metadata ([`ObjectMeta`]) without reads, ranged and streaming reads
//! ([`GetResult`]), streamed writes, and conditional creates ([`PutMode::Create`]). What only
//! a folder on this machine can do is the optional [`LocalFiles`] capability. This crate
//! ships the `local` flavor ([`LocalArtifactStore`]), a folder on this machine.

mod error;
mod local;
mod object;
mod path;

use std::fmt;
use std::fs;
use std::io::{Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use zenml_core::{ComponentContext, ComponentKind, FlavorKind};

pub use error::ArtifactStoreError;
pub use local::{LocalArtifactStore, LocalArtifactStoreConfig};
pub use object::{GetOptions, GetRange, GetResult, ObjectMeta, PutMode, PutResult};
pub use path::{ObjectPath, ObjectPathError};

/// A place that holds artifact bytes under [`ObjectPath`] keys, shaped after
/// [`object_store`](https://docs.rs/object_store)'s `ObjectStore`: objects are written whole
/// (no appends, no renames), read whole, by range or as a stream, and described by
/// [`ObjectMeta`] without being read.
///
/// # Contract
///
/// Implementations are used from many threads at once and must uphold:
///
/// - **Atomic writes.** After [`put_opts`](ArtifactStore::put_opts) or
///   [`put_stream`](ArtifactStore::put_stream) returns `Ok`, the object holds exactly the new
///   bytes. If the call fails or the process dies during it, the object is either absent or
///   holds its earlier bytes: a reader never sees a partial object, whatever the size
///   (a bucket store uploads large objects in parts that become visible only when complete).
/// - **Conditional create.** With [`PutMode::Create`] a write fails with
///   [`ArtifactStoreError::AlreadyExists`] when an object exists at the key, and of two
///   concurrent creates of one key exactly one succeeds. It is one conditional operation of
///   the backend, never a check followed by a write.
/// - **Contained keys.** Every key lives below the store's root. [`ObjectPath`] guarantees the
///   key is well formed; an implementation must not interpret it in a way that leaves the root
///   (for instance by following links placed inside the store).
/// - **Metadata is cheap and truthful.** [`head`](ArtifactStore::head) and
///   [`list`](ArtifactStore::list) report each object's size (and its ETag or version when
///   the backend has one) without reading its bytes.
/// - **Listing is complete and sorted.** [`list`](ArtifactStore::list) returns every object
///   below the prefix, at any depth, in lexicographic order of the key, and never returns the
///   implementation's own staging data.
/// - **Reads are exact.** [`get_opts`](ArtifactStore::get_opts) streams exactly the bytes of
///   the requested range; a transfer cut short is an error, never a short read.
/// - **Deleting is idempotent.** Deleting an absent object succeeds.
/// - **Errors are typed.** A missing object is [`ArtifactStoreError::NotFound`], whatever the
///   backend reports.
///
/// What only some stores can do is a capability a caller asks for, not a method every store
/// fakes: [`local_files`](ArtifactStore::local_files) gives access to objects kept as files
/// on this machine. The provided methods are written in terms of the required ones; a store
/// overrides them only to be faster.
pub trait ArtifactStore: fmt::Debug + Send + Sync {
    /// A URI naming this store's root, e.g. `file:///home/me/project/.zen/artifacts` or
    /// `s3://bucket/prefix`. Two stores with the same URI hold the same objects.
    fn uri(&self) -> String;

    /// Writes `data` to `path` according to `mode`, atomically.
    fn put_opts(
        &self,
        path: &ObjectPath,
        data: &[u8],
        mode: PutMode,
    ) -> Result<PutResult, ArtifactStoreError>;

    /// Writes everything `source` yields to `path` according to `mode`, atomically, without
    /// holding the whole object in memory: a bucket store uploads it in parts (multipart),
    /// a local store copies it into a staged file. Use it for large objects.
    fn put_stream(
        &self,
        path: &ObjectPath,
        source: &mut dyn Read,
        mode: PutMode,
    ) -> Result<PutResult, ArtifactStoreError>;

    /// Opens the object at `path` for reading: its metadata, and a reader streaming the bytes
    /// of `options.range` (the whole object by default).
    fn get_opts(
        &self,
        path: &ObjectPath,
        options: GetOptions,
    ) -> Result<GetResult, ArtifactStoreError>;

    /// The metadata of the object at `path`, without reading it.
    fn head(&self, path: &ObjectPath) -> Result<ObjectMeta, ArtifactStoreError>;

    /// Every object below `prefix` (or in the whole store for `None`) with its metadata,
    /// sorted by key. Whether an object whose key equals `prefix` itself is listed is the
    /// store's choice (a local folder lists it, a bucket, like `object_store`, does not):
    /// callers that want the objects of a folder list the folder.
    fn list(&self, prefix: Option<&ObjectPath>) -> Result<Vec<ObjectMeta>, ArtifactStoreError>;

    /// Deletes the object at `path`; succeeds when there is none.
    fn delete(&self, path: &ObjectPath) -> Result<(), ArtifactStoreError>;

    /// The capability of stores that keep objects as files on this machine; `None` (the
    /// default) for every other store.
    fn local_files(&self) -> Option<&dyn LocalFiles> {
        None
    }

    /// Writes `data` to `path`, replacing any earlier object, atomically.
    fn put(&self, path: &ObjectPath, data: &[u8]) -> Result<PutResult, ArtifactStoreError> {
        self.put_opts(path, data, PutMode::Overwrite)
    }

    /// Writes the local file `source` to `path` according to `mode`, streaming it.
    fn put_file(
        &self,
        path: &ObjectPath,
        source: &Path,
        mode: PutMode,
    ) -> Result<PutResult, ArtifactStoreError> {
        let mut file = fs::File::open(source).map_err(|e| ArtifactStoreError::Io {
            action: "cannot read",
            path: source.to_path_buf(),
            source: e,
        })?;
        self.put_stream(path, &mut file, mode)
    }

    /// Reads the whole object at `path` into memory.
    fn get(&self, path: &ObjectPath) -> Result<Vec<u8>, ArtifactStoreError> {
        self.get_opts(path, GetOptions::default())?.bytes()
    }

    /// Reads the bytes `range` of the object at `path` (clamped to its end).
    fn get_range(
        &self,
        path: &ObjectPath,
        range: Range<u64>,
    ) -> Result<Vec<u8>, ArtifactStoreError> {
        self.get_opts(path, GetOptions::range(GetRange::Bounded(range)))?
            .bytes()
    }

    /// Streams the object at `path` into the local file `destination` and returns the bytes
    /// copied. The destination is replaced atomically: it never holds part of the object.
    fn get_file(&self, path: &ObjectPath, destination: &Path) -> Result<u64, ArtifactStoreError> {
        let result = self.get_opts(path, GetOptions::default())?;
        copy_into_file(result, destination, &mut |_| {})
    }

    /// Whether an object exists at `path`.
    fn exists(&self, path: &ObjectPath) -> Result<bool, ArtifactStoreError> {
        match self.head(path) {
            Ok(_) => Ok(true),
            Err(ArtifactStoreError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes every object below `prefix` and returns how many were deleted.
    fn delete_prefix(&self, prefix: &ObjectPath) -> Result<usize, ArtifactStoreError> {
        let objects = self.list(Some(prefix))?;
        for object in &objects {
            self.delete(&object.path)?;
        }
        Ok(objects.len())
    }
}

/// The capability of an [`ArtifactStore`] that keeps its objects as files on this machine
/// (see [`ArtifactStore::local_files`]): reading them in place and moving files in without a
/// copy.
pub trait LocalFiles: Send + Sync {
    /// Where the object at `path` is kept as a file, for reading in place.
    ///
    /// For a prefix, it is the local folder that holds the objects below it. The path may
    /// not exist (there is no such object or prefix). `None` when reading there could leave
    /// the store's root (a link on the way); callers then fall back to
    /// [`ArtifactStore::get_opts`], which reports the problem. The path is for reading only:
    /// writing there bypasses atomic writes. A caller that walks a folder returned here must
    /// not follow links found in it.
    fn local_path(&self, path: &ObjectPath) -> Option<PathBuf>;

    /// Moves the local file `source` to `path` according to `mode`, atomically, by renaming
    /// it when it is on the same file system (and copying it otherwise).
    ///
    /// `source` must be a regular file: a link is refused, not followed. After `Ok`, `source`
    /// may be gone; after an error it may or may not remain. Either way the caller must not
    /// use it again. The store makes sure the stored object cannot change later through
    /// another name of the same file (a hard link): it copies such a file.
    fn put_file_moving(
        &self,
        path: &ObjectPath,
        source: &Path,
        mode: PutMode,
    ) -> Result<PutResult, ArtifactStoreError>;
}

/// Streams `result` into a fresh temporary file beside `destination`, passing each chunk to
/// `observe` (e.g. a hasher) as it goes, then renames it to `destination`. Fails, leaving
/// `destination` untouched, when fewer or more bytes arrive than the result's range holds.
/// Returns the bytes copied.
pub fn copy_into_file(
    mut result: GetResult,
    destination: &Path,
    observe: &mut dyn FnMut(&[u8]),
) -> Result<u64, ArtifactStoreError> {
    let dest_dir = destination
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dest_err = |source| ArtifactStoreError::Io {
        action: "cannot write",
        path: destination.to_path_buf(),
        source,
    };
    let mut staged = tempfile::NamedTempFile::new_in(dest_dir).map_err(dest_err)?;
    let expected = result.range.end - result.range.start;
    let mut buffer = vec![0u8; COPY_BUFFER];
    let mut copied = 0u64;
    loop {
        let n = match result.reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(ArtifactStoreError::Read {
                    path: result.meta.path.to_string(),
                    source,
                });
            }
        };
        let chunk = &buffer[..n];
        observe(chunk);
        staged.as_file_mut().write_all(chunk).map_err(dest_err)?;
        copied += n as u64;
    }
    if copied != expected {
        return Err(ArtifactStoreError::Read {
            path: result.meta.path.to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("expected {expected} bytes, got {copied}"),
            ),
        });
    }
    staged.persist(destination).map_err(|e| dest_err(e.error))?;
    Ok(copied)
}

/// The buffer size of streamed copies.
const COPY_BUFFER: usize = 1 << 20;

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
