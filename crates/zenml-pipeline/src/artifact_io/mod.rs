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
//!    `<pipeline>/<step>/<output>/<artifact id>/<file>`, with a conditional create
//!    ([`PutMode::Create`]): one atomic put per file that never overwrites, which a store
//!    with local files does by renaming the file into place without a copy, and a bucket
//!    by a (multipart) upload.
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

mod hash;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use tempfile::TempDir;
use zenml_artifact_store::{
    ArtifactStore, ArtifactStoreError, GetOptions, ObjectMeta, ObjectPath, PutMode, copy_into_file,
};
use zenml_materializer::{Materializer, MaterializerError};

use hash::{StreamingHash, hash_files};

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
/// each is published with a conditional create ([`PutMode::Create`]) at
/// `folder/<its path in the materializer's folder>`: moved in without a copy on a store with
/// [`LocalFiles`](zenml_artifact_store::LocalFiles), streamed (in parts, for large files)
/// otherwise. No object is ever overwritten, and nothing is listed first, so two writers of
/// one folder cannot both succeed. Empty subfolders are not kept. If publishing fails, the
/// files this call put are deleted (best effort); a crash can leave orphan files, which no
/// record points to.
///
/// # Errors
///
/// - [`ArtifactIoError::AlreadyExists`] when an object exists at one of the artifact's keys.
/// - [`ArtifactIoError::Materializer`] when saving fails; nothing reaches the store.
/// - [`ArtifactIoError::NotStorable`] when the materializer's output holds a link, a special
///   file, or a name that is not a valid key; nothing reaches the store.
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
    for (published, (file, key)) in files.iter().zip(&keys).enumerate() {
        let put = match store.local_files() {
            Some(local) => local.put_file_moving(key, &file.path, PutMode::Create),
            None => store.put_file(key, &file.path, PutMode::Create),
        };
        if let Err(e) = put {
            // Nothing points to the files this call put; removing them only saves space. An
            // object that was there already is someone else's and stays.
            for key in &keys[..published] {
                let _ = store.delete(key);
            }
            return Err(match e {
                ArtifactStoreError::AlreadyExists { .. } => ArtifactIoError::AlreadyExists { uri },
                other => other.into(),
            });
        }
    }
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
        let files = collect_files(&dir)?;
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
/// `expected_hash`. On other stores (buckets) nothing is downloaded: one listing must show
/// the artifact's files with `expected_size` bytes in all. A load
/// ([`read_artifact`]) still verifies the content hash.
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
        return verify(&uri, expected_hash, &collect_files(&dir)?);
    }
    let objects = artifact_objects(store, folder)?;
    if objects.is_empty() {
        // An artifact of no files is still there; otherwise its files are gone.
        return if StreamingHash::new()
            .finish()
            .0
            .eq_ignore_ascii_case(expected_hash)
        {
            Ok(())
        } else {
            Err(ArtifactIoError::Missing { uri })
        };
    }
    let size: u64 = objects.iter().map(|(_, meta)| meta.size).sum();
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

/// The objects of the artifact in `folder`, with their paths relative to it, sorted.
fn artifact_objects(
    store: &dyn ArtifactStore,
    folder: &ObjectPath,
) -> Result<Vec<(String, ObjectMeta)>, ArtifactIoError> {
    let prefix = format!("{folder}/");
    Ok(store
        .list(Some(folder))?
        .into_iter()
        .filter_map(|meta| {
            let relative = meta.path.as_str().strip_prefix(&prefix)?.to_owned();
            Some((relative, meta))
        })
        .collect())
}

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
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use zenml_artifact_store::{GetResult, LocalArtifactStore, LocalFiles, PutResult};
    use zenml_materializer::{BytesMaterializer, JsonMaterializer};

    use super::*;

    /// A local store and a staging folder in a fresh temporary folder.
    struct Fixture {
        dir: TempDir,
        store: LocalArtifactStore,
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let store = LocalArtifactStore::open(&dir.path().join("artifacts"), false).unwrap();
            Fixture { dir, store }
        }

        fn staging(&self) -> PathBuf {
            self.dir.path().join("staging")
        }

        /// What the staging folder holds.
        fn staged(&self) -> Vec<PathBuf> {
            fs::read_dir(self.staging())
                .map(|entries| entries.map(|e| e.unwrap().path()).collect())
                .unwrap_or_default()
        }

        fn write<M: Materializer + ?Sized>(
            &self,
            folder: &str,
            m: &M,
            value: &M::Value,
        ) -> Result<WrittenArtifact, ArtifactIoError> {
            write_artifact(&self.store, &self.staging(), &p(folder), m, value)
        }

        fn read<M: Materializer + ?Sized>(
            &self,
            folder: &str,
            hash: &str,
            m: &M,
        ) -> Result<M::Value, ArtifactIoError> {
            read_artifact(&self.store, &self.staging(), &p(folder), hash, m)
        }

        /// The object's file in the store.
        fn file(&self, key: &str) -> PathBuf {
            LocalFiles::local_path(&self.store, &p(key)).unwrap()
        }
    }

    fn p(s: &str) -> ObjectPath {
        ObjectPath::new(s).unwrap()
    }

    const FOLDER: &str = "pipe/step/output/0b9f4c1e";

    /// Writes the given files, in the given order, then optionally fails.
    #[derive(Debug)]
    struct FilesMaterializer {
        files: Vec<(&'static str, &'static [u8])>,
        fail_after: Option<usize>,
    }

    impl FilesMaterializer {
        fn new(files: &[(&'static str, &'static [u8])]) -> FilesMaterializer {
            FilesMaterializer {
                files: files.to_vec(),
                fail_after: None,
            }
        }
    }

    impl Materializer for FilesMaterializer {
        type Value = ();

        fn id(&self) -> &'static str {
            "test.files"
        }

        fn version(&self) -> u32 {
            1
        }

        fn save(&self, (): &(), dir: &Path) -> Result<(), MaterializerError> {
            for (i, (name, data)) in self.files.iter().enumerate() {
                if self.fail_after == Some(i) {
                    return Err(MaterializerError::Backend {
                        id: self.id(),
                        source: "the disk is on fire".into(),
                    });
                }
                let path = dir.join(name);
                fs::create_dir_all(path.parent().unwrap()).unwrap();
                fs::write(path, data).unwrap();
            }
            Ok(())
        }

        fn load(&self, _dir: &Path) -> Result<(), MaterializerError> {
            Ok(())
        }
    }

    /// Bytes, counting the loads.
    #[derive(Debug, Default)]
    struct CountingLoads {
        loads: AtomicUsize,
    }

    impl Materializer for CountingLoads {
        type Value = Vec<u8>;

        fn id(&self) -> &'static str {
            BytesMaterializer.id()
        }

        fn version(&self) -> u32 {
            BytesMaterializer.version()
        }

        fn save(&self, value: &Vec<u8>, dir: &Path) -> Result<(), MaterializerError> {
            BytesMaterializer.save(value, dir)
        }

        fn load(&self, dir: &Path) -> Result<Vec<u8>, MaterializerError> {
            self.loads.fetch_add(1, Ordering::SeqCst);
            BytesMaterializer.load(dir)
        }
    }

    /// A store without local files: the local store behind the trait, minus the local-files
    /// capability, as an object store would be.
    #[derive(Debug)]
    struct RemoteLike(LocalArtifactStore);

    impl ArtifactStore for RemoteLike {
        fn uri(&self) -> String {
            self.0.uri().replace("file://", "remote://")
        }
        fn put_opts(
            &self,
            path: &ObjectPath,
            data: &[u8],
            mode: PutMode,
        ) -> Result<PutResult, ArtifactStoreError> {
            self.0.put_opts(path, data, mode)
        }
        fn put_stream(
            &self,
            path: &ObjectPath,
            source: &mut dyn std::io::Read,
            mode: PutMode,
        ) -> Result<PutResult, ArtifactStoreError> {
            self.0.put_stream(path, source, mode)
        }
        fn get_opts(
            &self,
            path: &ObjectPath,
            options: GetOptions,
        ) -> Result<GetResult, ArtifactStoreError> {
            self.0.get_opts(path, options)
        }
        fn head(&self, path: &ObjectPath) -> Result<ObjectMeta, ArtifactStoreError> {
            self.0.head(path)
        }
        fn list(&self, prefix: Option<&ObjectPath>) -> Result<Vec<ObjectMeta>, ArtifactStoreError> {
            self.0.list(prefix)
        }
        fn delete(&self, path: &ObjectPath) -> Result<(), ArtifactStoreError> {
            self.0.delete(path)
        }
    }

    fn keys(list: Vec<ObjectMeta>) -> Vec<ObjectPath> {
        list.into_iter().map(|meta| meta.path).collect()
    }

    #[test]
    fn values_round_trip_and_record_hash_size_and_uri() {
        let f = Fixture::new();
        let floats = vec![0.1, -0.0, f64::MAX, 1e-300];
        let json = JsonMaterializer::<Vec<f64>>::new();
        let written = f.write(FOLDER, &json, &floats).unwrap();
        assert_eq!(written.path, p(FOLDER));
        assert_eq!(written.uri, format!("{}/{FOLDER}", f.store.uri()));
        assert_eq!(written.content_hash.len(), 64);
        let on_disk = fs::metadata(f.file(&format!("{FOLDER}/data.json")))
            .unwrap()
            .len();
        assert_eq!(written.size, on_disk);
        let back = f.read(FOLDER, &written.content_hash, &json).unwrap();
        assert_eq!(
            back.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            floats.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );

        let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let written = f.write("p/s/o/2", &BytesMaterializer, &bytes).unwrap();
        assert_eq!(written.size, 3_000_000);
        let back = f
            .read("p/s/o/2", &written.content_hash, &BytesMaterializer)
            .unwrap();
        assert_eq!(back, bytes);

        // Materializers chosen at run time work too.
        let dynamic: &dyn Materializer<Value = Vec<u8>> = &BytesMaterializer;
        let written = f.write("p/s/o/3", dynamic, &vec![4, 2]).unwrap();
        assert_eq!(
            f.read("p/s/o/3", &written.content_hash, dynamic).unwrap(),
            vec![4, 2]
        );
        assert!(f.staged().is_empty(), "{:?}", f.staged());
    }

    #[test]
    fn a_store_without_local_files_is_read_through_a_copy() {
        let f = Fixture::new();
        let remote = RemoteLike(f.store.clone());
        let m = FilesMaterializer::new(&[("a.txt", b"a"), ("sub/b.txt", b"bb")]);
        let written = write_artifact(&remote, &f.staging(), &p(FOLDER), &m, &()).unwrap();
        assert!(written.uri.starts_with("remote://"), "{}", written.uri);
        read_artifact(&remote, &f.staging(), &p(FOLDER), &written.content_hash, &m).unwrap();

        let value = b"remote bytes".to_vec();
        let written =
            write_artifact(&remote, &f.staging(), &p("x/y"), &BytesMaterializer, &value).unwrap();
        let back = read_artifact(
            &remote,
            &f.staging(),
            &p("x/y"),
            &written.content_hash,
            &BytesMaterializer,
        )
        .unwrap();
        assert_eq!(back, value);
        // Both ways give the same hash.
        assert_eq!(
            f.read("x/y", &written.content_hash, &BytesMaterializer)
                .unwrap(),
            value
        );

        fs::write(f.file("x/y/data.bin"), b"remote bytez").unwrap();
        let err = read_artifact(
            &remote,
            &f.staging(),
            &p("x/y"),
            &written.content_hash,
            &BytesMaterializer,
        )
        .unwrap_err();
        assert!(matches!(err, ArtifactIoError::HashMismatch { .. }), "{err}");
        assert!(f.staged().is_empty(), "{:?}", f.staged());
    }

    #[test]
    fn the_store_holds_exactly_the_folder_and_its_files() {
        let f = Fixture::new();
        let m = FilesMaterializer::new(&[
            ("z.txt", b"z"),
            ("nested/deeper/c.bin", b"c"),
            ("a.txt", b"a"),
        ]);
        f.write(FOLDER, &m, &()).unwrap();
        assert_eq!(
            keys(f.store.list(None).unwrap()),
            vec![
                p(&format!("{FOLDER}/a.txt")),
                p(&format!("{FOLDER}/nested/deeper/c.bin")),
                p(&format!("{FOLDER}/z.txt")),
            ]
        );
        f.write("pipe/step/output/other", &BytesMaterializer, &vec![1, 2])
            .unwrap();
        assert_eq!(
            keys(f.store.list(Some(&p("pipe/step/output/other"))).unwrap()),
            vec![p("pipe/step/output/other/data.bin")]
        );
    }

    #[test]
    fn the_hash_is_deterministic_and_independent_of_write_order() {
        let f = Fixture::new();
        let files: [(&str, &[u8]); 4] = [
            ("b.txt", b"bee"),
            ("a/x", b"x"),
            ("a.txt", b""),
            ("a/y/z", b"zed"),
        ];
        let forward = f
            .write("f/1", &FilesMaterializer::new(&files), &())
            .unwrap();
        let mut reversed = files;
        reversed.reverse();
        let backward = f
            .write("f/2", &FilesMaterializer::new(&reversed), &())
            .unwrap();
        assert_eq!(forward.content_hash, backward.content_hash);
        assert_eq!((forward.size, backward.size), (7, 7));
        let again = f
            .write("f/3", &FilesMaterializer::new(&files), &())
            .unwrap();
        assert_eq!(forward.content_hash, again.content_hash);

        // The hash of a folder is the recorded one, and a fixed function of its files.
        let dir = tempfile::tempdir().unwrap();
        FilesMaterializer::new(&files)
            .save(&(), dir.path())
            .unwrap();
        assert_eq!(
            content_hash_of_dir(dir.path()).unwrap(),
            (forward.content_hash.clone(), 7)
        );
        let mut expected = blake3::Hasher::new();
        for (path, data) in [
            ("a.txt", ""),
            ("a/x", "x"),
            ("a/y/z", "zed"),
            ("b.txt", "bee"),
        ] {
            expected.update(&(path.len() as u64).to_le_bytes());
            expected.update(path.as_bytes());
            expected.update(&(data.len() as u64).to_le_bytes());
            expected.update(data.as_bytes());
        }
        assert_eq!(forward.content_hash, expected.finalize().to_hex().as_str());
    }

    #[test]
    fn the_hash_covers_names_contents_and_their_boundaries() {
        let hash = |files: &[(&'static str, &'static [u8])]| {
            let dir = tempfile::tempdir().unwrap();
            FilesMaterializer::new(files).save(&(), dir.path()).unwrap();
            content_hash_of_dir(dir.path()).unwrap().0
        };
        let base = hash(&[("ab", b"c")]);
        for other in [
            hash(&[("a", b"bc")]),
            hash(&[("ab", b"d")]),
            hash(&[("ac", b"c")]),
            hash(&[("ab", b"c"), ("empty", b"")]),
            hash(&[("sub/ab", b"c")]),
            hash(&[]),
        ] {
            assert_ne!(base, other);
        }
        assert_eq!(base, hash(&[("ab", b"c")]));
    }

    #[test]
    fn a_corrupted_file_is_a_hash_mismatch_and_is_never_loaded() {
        let f = Fixture::new();
        let m = CountingLoads::default();
        let written = f.write(FOLDER, &m, &b"precious".to_vec()).unwrap();
        fs::write(f.file(&format!("{FOLDER}/data.bin")), b"precioux").unwrap();
        let err = f.read(FOLDER, &written.content_hash, &m).unwrap_err();
        let ArtifactIoError::HashMismatch {
            uri,
            expected,
            actual,
        } = &err
        else {
            panic!("{err}");
        };
        assert_eq!(uri, &written.uri);
        assert_eq!(expected, &written.content_hash);
        assert_ne!(actual, expected);
        let message = err.to_string();
        assert!(
            message.contains(&written.uri)
                && message.contains(expected.as_str())
                && message.contains(actual.as_str()),
            "{message}"
        );
        assert_eq!(m.loads.load(Ordering::SeqCst), 0);

        // An added file is a change too.
        fs::write(f.file(&format!("{FOLDER}/data.bin")), b"precious").unwrap();
        assert_eq!(
            f.read(FOLDER, &written.content_hash, &m).unwrap(),
            b"precious"
        );
        fs::write(f.file(&format!("{FOLDER}/extra")), b"").unwrap();
        assert!(matches!(
            f.read(FOLDER, &written.content_hash, &m),
            Err(ArtifactIoError::HashMismatch { .. })
        ));
        assert_eq!(m.loads.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn missing_files_are_clear_errors() {
        let f = Fixture::new();
        let written = f.write(FOLDER, &BytesMaterializer, &vec![1, 2, 3]).unwrap();
        f.store.delete(&p(&format!("{FOLDER}/data.bin"))).unwrap();
        let err = f
            .read(FOLDER, &written.content_hash, &BytesMaterializer)
            .unwrap_err();
        assert!(matches!(err, ArtifactIoError::Missing { .. }), "{err}");
        assert!(
            err.to_string()
                .starts_with(&format!("artifact `{}` has no files", written.uri)),
            "{err}"
        );
        let err = f
            .read("never/written", &written.content_hash, &BytesMaterializer)
            .unwrap_err();
        assert!(matches!(err, ArtifactIoError::Missing { .. }), "{err}");

        // One file of two missing: the hash no longer matches.
        let m = FilesMaterializer::new(&[("a", b"1"), ("b", b"2")]);
        let written = f.write("two/files", &m, &()).unwrap();
        f.store.delete(&p("two/files/b")).unwrap();
        let err = f.read("two/files", &written.content_hash, &m).unwrap_err();
        assert!(matches!(err, ArtifactIoError::HashMismatch { .. }), "{err}");
        assert!(f.staged().is_empty(), "{:?}", f.staged());
    }

    #[test]
    fn a_failing_materializer_leaves_nothing_behind() {
        let f = Fixture::new();
        let m = FilesMaterializer {
            files: vec![("first", b"written"), ("second", b"never")],
            fail_after: Some(1),
        };
        let err = f.write(FOLDER, &m, &()).unwrap_err();
        assert!(
            matches!(err, ArtifactIoError::Materializer(_))
                && err.to_string().contains("the disk is on fire"),
            "{err}"
        );
        assert!(f.store.list(None).unwrap().is_empty());
        assert!(f.staging().is_dir());
        assert!(f.staged().is_empty(), "{:?}", f.staged());
    }

    #[test]
    fn an_existing_artifact_is_never_overwritten() {
        let f = Fixture::new();
        let written = f.write(FOLDER, &BytesMaterializer, &vec![1]).unwrap();
        let err = f.write(FOLDER, &BytesMaterializer, &vec![2]).unwrap_err();
        assert!(
            matches!(err, ArtifactIoError::AlreadyExists { .. }),
            "{err}"
        );
        assert_eq!(
            f.read(FOLDER, &written.content_hash, &BytesMaterializer)
                .unwrap(),
            vec![1]
        );
    }

    #[cfg(unix)]
    #[test]
    fn links_are_refused_not_followed() {
        #[derive(Debug)]
        struct Linking(PathBuf);
        impl Materializer for Linking {
            type Value = ();
            fn id(&self) -> &'static str {
                "test.link"
            }
            fn version(&self) -> u32 {
                1
            }
            fn save(&self, (): &(), dir: &Path) -> Result<(), MaterializerError> {
                fs::write(dir.join("plain"), b"ok").unwrap();
                std::os::unix::fs::symlink(&self.0, dir.join("link")).unwrap();
                Ok(())
            }
            fn load(&self, _dir: &Path) -> Result<(), MaterializerError> {
                Ok(())
            }
        }
        let f = Fixture::new();
        let secret = f.dir.path().join("secret");
        fs::write(&secret, b"do not publish").unwrap();
        for target in [secret.clone(), f.dir.path().to_path_buf()] {
            let err = f.write(FOLDER, &Linking(target), &()).unwrap_err();
            assert!(
                matches!(err, ArtifactIoError::NotStorable { .. })
                    && err.to_string().contains("symbolic link"),
                "{err}"
            );
            assert!(f.store.list(None).unwrap().is_empty());
            assert!(f.staged().is_empty(), "{:?}", f.staged());
        }

        // A link placed in an artifact's folder in the store is refused on reading too.
        let written = f.write(FOLDER, &BytesMaterializer, &vec![7]).unwrap();
        std::os::unix::fs::symlink(&secret, f.file(&format!("{FOLDER}/link"))).unwrap();
        let err = f
            .read(FOLDER, &written.content_hash, &BytesMaterializer)
            .unwrap_err();
        assert!(matches!(err, ArtifactIoError::NotStorable { .. }), "{err}");
        assert!(content_hash_of_dir(&f.file(FOLDER)).is_err());
    }

    #[test]
    fn an_empty_artifact_round_trips() {
        let f = Fixture::new();
        let m = FilesMaterializer::new(&[]);
        let written = f.write(FOLDER, &m, &()).unwrap();
        assert_eq!(written.size, 0);
        assert!(f.store.list(None).unwrap().is_empty());
        f.read(FOLDER, &written.content_hash, &m).unwrap();
    }
}
