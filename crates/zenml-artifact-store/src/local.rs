//! The `local` flavor: artifacts in a folder on this machine.

use std::fs;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tempfile::NamedTempFile;
use zenml_core::{ComponentContext, ConfigError, ConfigFields, ValidateConfig, flavor};

use crate::path::STAGING_DIR;
use crate::{
    ArtifactStore, ArtifactStoreError, ArtifactStoreFlavor, GetOptions, GetResult, LocalFiles,
    ObjectMeta, ObjectPath, PutMode, PutResult,
};

/// Configuration of the `local` artifact store flavor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ConfigFields)]
pub struct LocalArtifactStoreConfig {
    /// The folder that holds the artifacts; created if missing. A relative path is resolved
    /// against the repository root (the folder that holds `.zen/`).
    pub path: PathBuf,
    /// Flush every object to disk before it becomes visible, so that a power loss cannot leave
    /// a published object with missing bytes. Turn off only for scratch stores.
    #[serde(default = "default_sync")]
    pub sync: bool,
}

fn default_sync() -> bool {
    true
}

impl ValidateConfig for LocalArtifactStoreConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let text = self.path.to_string_lossy();
        if text.trim().is_empty() {
            return Err(ConfigError::InvalidValue {
                key: "path".to_owned(),
                message: "the artifact folder cannot be empty".to_owned(),
            });
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(ConfigError::InvalidValue {
                key: "path".to_owned(),
                message: format!(
                    "`{text}` is a `{scheme}://` URI; the local flavor takes a folder on this machine"
                ),
            });
        }
        Ok(())
    }
}

#[flavor(
    name = "local",
    description = "Artifacts in a folder on this machine",
    example = r#"path = ".zen/artifacts""#
)]
impl ArtifactStoreFlavor for LocalArtifactStoreConfig {
    fn open(
        &self,
        context: &ComponentContext,
    ) -> Result<Box<dyn ArtifactStore>, ArtifactStoreError> {
        self.validate()
            .map_err(|e| ArtifactStoreError::Config(e.to_string()))?;
        let root = context.resolve(&self.path);
        Ok(Box::new(LocalArtifactStore::open(&root, self.sync)?))
    }
}

/// An artifact store in a local folder.
///
/// Objects are files below the root. A write goes to a temporary file in the root's
/// `.zenml-staging` folder (on the same file system) and is renamed into place, which is
/// atomic; with `sync` on, the file is flushed to disk first. A [`PutMode::Create`] write
/// publishes without replacing (a rename that refuses an existing target), so of two
/// concurrent creates exactly one wins. The store has the [`LocalFiles`] capability:
/// [`put_file_moving`](LocalFiles::put_file_moving) renames the caller's file into place the
/// same way (flushing it first with `sync` on), without a copy; it copies instead when the
/// file is on another file system or has other hard links.
/// [`local_path`](LocalFiles::local_path) returns the object's file.
#[derive(Debug, Clone)]
pub struct LocalArtifactStore {
    root: PathBuf,
    staging: PathBuf,
    sync: bool,
}

impl LocalArtifactStore {
    /// Opens the store rooted at `root`, creating the folder if needed.
    pub fn open(root: &Path, sync: bool) -> Result<LocalArtifactStore, ArtifactStoreError> {
        fs::create_dir_all(root).map_err(io_err("cannot create the artifact folder", root))?;
        let root =
            fs::canonicalize(root).map_err(io_err("cannot resolve the artifact folder", root))?;
        let staging = root.join(STAGING_DIR);
        fs::create_dir_all(&staging)
            .map_err(io_err("cannot create the staging folder", &staging))?;
        Ok(LocalArtifactStore {
            root,
            staging,
            sync,
        })
    }

    /// The absolute root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn file_path(&self, path: &ObjectPath) -> PathBuf {
        let mut file = self.root.clone();
        file.extend(path.segments());
        file
    }

    /// Writes through `fill` into a staged file, then publishes it at `path` by `mode`.
    fn publish(
        &self,
        path: &ObjectPath,
        mode: PutMode,
        fill: impl FnOnce(&mut fs::File) -> io::Result<u64>,
    ) -> Result<PutResult, ArtifactStoreError> {
        let target = self.file_path(path);
        reject_links(&self.root, &target, path)?;
        let mut staged = NamedTempFile::new_in(&self.staging)
            .map_err(io_err("cannot create a staging file in", &self.staging))?;
        let write_err = io_err("cannot write", &target);
        let written = fill(staged.as_file_mut()).map_err(&write_err)?;
        staged.as_file_mut().flush().map_err(&write_err)?;
        if self.sync {
            staged.as_file().sync_data().map_err(&write_err)?;
        }
        create_parent(&target)?;
        let persisted = match mode {
            PutMode::Overwrite => staged.persist(&target),
            PutMode::Create => staged.persist_noclobber(&target),
        };
        let file = persisted.map_err(|e| self.publish_error(path, &target, e.error))?;
        Ok(put_result(&file.metadata().map_err(&write_err)?, written))
    }

    /// The error of a failed publication at `target`: an existing file there is
    /// [`ArtifactStoreError::AlreadyExists`].
    fn publish_error(
        &self,
        path: &ObjectPath,
        target: &Path,
        error: io::Error,
    ) -> ArtifactStoreError {
        if error.kind() == io::ErrorKind::AlreadyExists
            && fs::symlink_metadata(target).is_ok_and(|m| m.is_file())
        {
            ArtifactStoreError::AlreadyExists {
                path: path.to_string(),
            }
        } else {
            io_err("cannot write", target)(error)
        }
    }

    fn not_found_or(
        path: &ObjectPath,
        action: &'static str,
        file: &Path,
    ) -> impl FnOnce(io::Error) -> ArtifactStoreError {
        let (path, file) = (path.to_string(), file.to_path_buf());
        move |source| {
            if is_absent(&source) {
                ArtifactStoreError::NotFound { path }
            } else {
                ArtifactStoreError::Io {
                    action,
                    path: file,
                    source,
                }
            }
        }
    }

    /// The metadata of the regular file `file` holding the object `path`.
    fn meta_of(path: ObjectPath, meta: &fs::Metadata) -> ObjectMeta {
        ObjectMeta {
            path,
            size: meta.len(),
            last_modified: meta.modified().ok(),
            e_tag: Some(e_tag(meta)),
            version: None,
        }
    }

    fn collect(&self, dir: &Path, out: &mut Vec<ObjectMeta>) -> Result<(), ArtifactStoreError> {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(io_err("cannot list", dir)(source)),
        };
        for entry in entries {
            let entry = entry.map_err(io_err("cannot list", dir))?;
            let full = entry.path();
            let file_type = entry.file_type().map_err(io_err("cannot inspect", &full))?;
            if full == self.staging {
                continue;
            }
            if file_type.is_dir() {
                self.collect(&full, out)?;
            } else if file_type.is_file() {
                // Symbolic links are not objects: following one could leave the root.
                let relative = full.strip_prefix(&self.root).unwrap_or(&full);
                let key: Vec<String> = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                let Ok(path) = ObjectPath::new(&key.join("/")) else {
                    continue;
                };
                match entry.metadata() {
                    Ok(meta) => out.push(Self::meta_of(path, &meta)),
                    // Deleted while listing: not an object any more.
                    Err(e) if is_absent(&e) => {}
                    Err(source) => return Err(io_err("cannot inspect", &full)(source)),
                }
            }
        }
        Ok(())
    }

    /// Removes folders left empty by a delete, up to (not including) the root.
    fn prune_empty_parents(&self, file: &Path) {
        let mut dir = file.parent();
        while let Some(d) = dir {
            if d == self.root || !d.starts_with(&self.root) || fs::remove_dir(d).is_err() {
                break;
            }
            dir = d.parent();
        }
    }
}

impl ArtifactStore for LocalArtifactStore {
    fn uri(&self) -> String {
        format!("file://{}", self.root.display())
    }

    fn put_opts(
        &self,
        path: &ObjectPath,
        data: &[u8],
        mode: PutMode,
    ) -> Result<PutResult, ArtifactStoreError> {
        self.publish(path, mode, |file| {
            file.write_all(data)?;
            Ok(data.len() as u64)
        })
    }

    fn put_stream(
        &self,
        path: &ObjectPath,
        source: &mut dyn Read,
        mode: PutMode,
    ) -> Result<PutResult, ArtifactStoreError> {
        self.publish(path, mode, |file| io::copy(source, file))
    }

    fn get_opts(
        &self,
        path: &ObjectPath,
        options: GetOptions,
    ) -> Result<GetResult, ArtifactStoreError> {
        let file = self.file_path(path);
        reject_links(&self.root, &file, path)?;
        let mut input =
            fs::File::open(&file).map_err(Self::not_found_or(path, "cannot read", &file))?;
        let meta = input.metadata().map_err(io_err("cannot inspect", &file))?;
        if !meta.is_file() {
            return Err(ArtifactStoreError::NotFound {
                path: path.to_string(),
            });
        }
        let meta = Self::meta_of(path.clone(), &meta);
        let range = match &options.range {
            Some(range) => range.resolve(path, meta.size)?,
            None => 0..meta.size,
        };
        if range.start > 0 {
            input
                .seek(SeekFrom::Start(range.start))
                .map_err(io_err("cannot read", &file))?;
        }
        let len = range.end - range.start;
        Ok(GetResult {
            meta,
            range,
            reader: Box::new(ExactReader::new(input, len)),
        })
    }

    fn head(&self, path: &ObjectPath) -> Result<ObjectMeta, ArtifactStoreError> {
        let file = self.file_path(path);
        reject_links(&self.root, &file, path)?;
        let meta = fs::symlink_metadata(&file).map_err(Self::not_found_or(
            path,
            "cannot inspect",
            &file,
        ))?;
        if !meta.is_file() {
            return Err(ArtifactStoreError::NotFound {
                path: path.to_string(),
            });
        }
        Ok(Self::meta_of(path.clone(), &meta))
    }

    fn list(&self, prefix: Option<&ObjectPath>) -> Result<Vec<ObjectMeta>, ArtifactStoreError> {
        let mut out = Vec::new();
        match prefix {
            None => self.collect(&self.root, &mut out)?,
            Some(prefix) => {
                let base = self.file_path(prefix);
                match fs::symlink_metadata(&base) {
                    Ok(meta) if meta.is_file() => out.push(Self::meta_of(prefix.clone(), &meta)),
                    Ok(meta) if meta.is_dir() => self.collect(&base, &mut out)?,
                    _ => {}
                }
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    fn delete(&self, path: &ObjectPath) -> Result<(), ArtifactStoreError> {
        let file = self.file_path(path);
        reject_links(&self.root, &file, path)?;
        match fs::remove_file(&file) {
            Ok(()) => {
                self.prune_empty_parents(&file);
                Ok(())
            }
            Err(e) if is_absent(&e) => Ok(()),
            Err(source) => Err(io_err("cannot delete", &file)(source)),
        }
    }

    fn local_files(&self) -> Option<&dyn LocalFiles> {
        Some(self)
    }
}

impl LocalFiles for LocalArtifactStore {
    fn local_path(&self, path: &ObjectPath) -> Option<PathBuf> {
        let file = self.file_path(path);
        reject_links(&self.root, &file, path).ok()?;
        Some(file)
    }

    fn put_file_moving(
        &self,
        path: &ObjectPath,
        source: &Path,
        mode: PutMode,
    ) -> Result<PutResult, ArtifactStoreError> {
        let read_err = io_err("cannot read", source);
        let meta = fs::symlink_metadata(source).map_err(&read_err)?;
        if !meta.is_file() {
            return Err(read_err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file (links are not followed)",
            )));
        }
        let file = fs::File::open(source).map_err(&read_err)?;
        let meta = file.metadata().map_err(&read_err)?;
        if has_other_names(&meta) {
            // Renaming would let a write through the other name change the stored object.
            return self.put_file(path, source, mode);
        }
        let target = self.file_path(path);
        reject_links(&self.root, &target, path)?;
        if self.sync {
            file.sync_data().map_err(io_err("cannot write", &target))?;
        }
        drop(file);
        create_parent(&target)?;
        let moved = match mode {
            PutMode::Overwrite => fs::rename(source, &target),
            // A hard link never replaces an existing file; the source name goes afterwards.
            PutMode::Create => fs::hard_link(source, &target).map(|()| {
                let _ = fs::remove_file(source);
            }),
        };
        match moved {
            Ok(()) => {
                let published =
                    fs::symlink_metadata(&target).map_err(io_err("cannot inspect", &target))?;
                Ok(put_result(&published, meta.len()))
            }
            // Another file system, or one without hard links: copy through the staging folder.
            Err(e)
                if e.kind() == io::ErrorKind::CrossesDevices
                    || (mode == PutMode::Create && e.kind() == io::ErrorKind::PermissionDenied) =>
            {
                self.put_file(path, source, mode)
            }
            Err(e) => Err(self.publish_error(path, &target, e)),
        }
    }
}

/// A reader of exactly `remaining` bytes: ending early is an
/// [`io::ErrorKind::UnexpectedEof`] error, and it never yields more.
struct ExactReader<R> {
    inner: R,
    remaining: u64,
}

impl<R: Read> ExactReader<R> {
    fn new(inner: R, len: u64) -> ExactReader<R> {
        ExactReader {
            inner,
            remaining: len,
        }
    }
}

impl<R: Read> Read for ExactReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let max = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the file ended {} bytes early", self.remaining),
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// The [`PutResult`] of a published file.
fn put_result(meta: &fs::Metadata, written: u64) -> PutResult {
    PutResult {
        size: written,
        e_tag: Some(e_tag(meta)),
        version: None,
    }
}

/// An ETag for a file: its inode, modification time and size, which change whenever a
/// write publishes a new file at its name (as `object_store`'s local store does).
fn e_tag(meta: &fs::Metadata) -> String {
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("{:x}-{modified:x}-{:x}", inode(meta), meta.len())
}

#[cfg(unix)]
fn inode(meta: &fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    meta.ino()
}

#[cfg(not(unix))]
fn inode(_meta: &fs::Metadata) -> u64 {
    0
}

/// Creates the folder that will hold `target`.
fn create_parent(target: &Path) -> Result<(), ArtifactStoreError> {
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent).map_err(io_err("cannot create folder", parent))?;
    }
    Ok(())
}

/// Maps an I/O error on `path` into [`ArtifactStoreError::Io`].
fn io_err(action: &'static str, path: &Path) -> impl Fn(io::Error) -> ArtifactStoreError {
    let path = path.to_path_buf();
    move |source| ArtifactStoreError::Io {
        action,
        path: path.clone(),
        source,
    }
}

/// Whether the file has other hard links than the one it was opened by.
#[cfg(unix)]
fn has_other_names(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    meta.nlink() > 1
}

/// Whether the file has other hard links than the one it was opened by. Without a portable
/// way to count them, assume it may.
#[cfg(not(unix))]
fn has_other_names(_meta: &fs::Metadata) -> bool {
    true
}

/// Whether an I/O error means "no such object": the path is missing, or a part of it that
/// should be a folder is a file (`a/b` when `a` is an object).
fn is_absent(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// Refuses to read through a symbolic link inside the store: a link could point anywhere.
fn reject_links(root: &Path, file: &Path, path: &ObjectPath) -> Result<(), ArtifactStoreError> {
    let mut current = root.to_path_buf();
    for segment in path.segments() {
        current.push(segment);
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(ArtifactStoreError::Io {
                    action: "refusing to follow a symbolic link at",
                    path: file.to_path_buf(),
                    source: io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "links may point outside the store",
                    ),
                });
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, LocalArtifactStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalArtifactStore::open(&dir.path().join("artifacts"), false).unwrap();
        (dir, store)
    }

    fn p(s: &str) -> ObjectPath {
        ObjectPath::new(s).unwrap()
    }

    fn keys(list: Vec<ObjectMeta>) -> Vec<ObjectPath> {
        list.into_iter().map(|m| m.path).collect()
    }

    #[test]
    fn put_get_list_exists_delete() {
        let (_dir, store) = store();
        store
            .put(&p("pipe/step/out/1/data.json"), b"[1,2]")
            .unwrap();
        store.put(&p("pipe/step/out/2/data.json"), b"[3]").unwrap();
        store.put(&p("other"), b"x").unwrap();
        assert_eq!(
            store.get(&p("pipe/step/out/1/data.json")).unwrap(),
            b"[1,2]"
        );
        assert!(store.exists(&p("other")).unwrap());
        assert!(!store.exists(&p("missing")).unwrap());
        assert_eq!(
            keys(store.list(None).unwrap()),
            vec![
                p("other"),
                p("pipe/step/out/1/data.json"),
                p("pipe/step/out/2/data.json")
            ]
        );
        assert_eq!(
            keys(store.list(Some(&p("pipe/step/out/2"))).unwrap()),
            vec![p("pipe/step/out/2/data.json")]
        );
        assert_eq!(store.delete_prefix(&p("pipe")).unwrap(), 2);
        store.delete(&p("other")).unwrap();
        store.delete(&p("other")).unwrap();
        assert!(store.list(None).unwrap().is_empty());
        assert!(matches!(
            store.get(&p("other")),
            Err(ArtifactStoreError::NotFound { .. })
        ));
    }

    #[test]
    fn a_key_below_an_object_is_absent_not_an_error() {
        let (_dir, store) = store();
        store.put(&p("blocked"), b"x").unwrap();
        assert!(!store.exists(&p("blocked/object")).unwrap());
        assert!(matches!(
            store.get(&p("blocked/object")),
            Err(ArtifactStoreError::NotFound { .. })
        ));
        store.delete(&p("blocked/object")).unwrap();
    }

    #[test]
    fn files_round_trip_and_replace_atomically() {
        let (dir, store) = store();
        let src = dir.path().join("src.bin");
        fs::write(&src, vec![7u8; 100_000]).unwrap();
        assert_eq!(
            store
                .put_file(&p("big/blob"), &src, PutMode::Overwrite)
                .unwrap()
                .size,
            100_000
        );
        store.put(&p("big/blob"), b"replaced").unwrap();
        let dst = dir.path().join("dst.bin");
        assert_eq!(store.get_file(&p("big/blob"), &dst).unwrap(), 8);
        assert_eq!(fs::read(dst).unwrap(), b"replaced");
        // Nothing is left behind in the staging folder.
        assert_eq!(
            fs::read_dir(store.root().join(STAGING_DIR))
                .unwrap()
                .count(),
            0
        );
    }

    #[test]
    fn moving_a_file_in_renames_it_and_local_path_finds_it() {
        let (dir, store) = store();
        let src = dir.path().join("moved.bin");
        fs::write(&src, vec![3u8; 10_000]).unwrap();
        assert_eq!(
            store
                .put_file_moving(&p("a/b/moved"), &src, PutMode::Create)
                .unwrap()
                .size,
            10_000
        );
        assert!(!src.exists(), "the source was renamed, not copied");
        let file = store.local_path(&p("a/b/moved")).unwrap();
        assert_eq!(file, store.root().join("a").join("b").join("moved"));
        assert_eq!(fs::read(&file).unwrap(), vec![3u8; 10_000]);
        assert_eq!(store.local_path(&p("a")).unwrap(), store.root().join("a"));
        // Replacing is atomic too.
        fs::write(&src, b"new").unwrap();
        assert_eq!(
            store
                .put_file_moving(&p("a/b/moved"), &src, PutMode::Overwrite)
                .unwrap()
                .size,
            3
        );
        assert_eq!(store.get(&p("a/b/moved")).unwrap(), b"new");
        assert!(matches!(
            store.put_file_moving(&p("x"), &dir.path().join("absent"), PutMode::Create),
            Err(ArtifactStoreError::Io { .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn moving_copies_a_hard_linked_file_and_refuses_links() {
        let (dir, store) = store();
        let src = dir.path().join("shared.bin");
        let other = dir.path().join("other-name");
        fs::write(&src, b"original").unwrap();
        fs::hard_link(&src, &other).unwrap();
        store
            .put_file_moving(&p("obj"), &src, PutMode::Create)
            .unwrap();
        fs::write(&other, b"changed!").unwrap();
        assert_eq!(store.get(&p("obj")).unwrap(), b"original");

        std::os::unix::fs::symlink(&other, dir.path().join("link")).unwrap();
        let err = store
            .put_file_moving(&p("linked"), &dir.path().join("link"), PutMode::Create)
            .unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        assert!(!store.exists(&p("linked")).unwrap());
        assert!(dir.path().join("link").exists());
    }

    #[cfg(unix)]
    #[test]
    fn links_inside_the_store_are_not_followed() {
        let (dir, store) = store();
        fs::write(dir.path().join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), store.root().join("link")).unwrap();
        assert!(store.get(&p("link")).is_err());
        assert!(store.list(None).unwrap().is_empty());
        assert_eq!(store.local_path(&p("link")), None);
        std::os::unix::fs::symlink(dir.path(), store.root().join("dirlink")).unwrap();
        assert_eq!(store.local_path(&p("dirlink/secret")), None);
    }

    #[test]
    fn config_rejects_uris_and_resolves_relative_paths() {
        let bad = LocalArtifactStoreConfig {
            path: "s3://b/x".into(),
            sync: true,
        };
        assert!(bad.validate().unwrap_err().to_string().contains("s3://"));
        let dir = tempfile::tempdir().unwrap();
        let good = LocalArtifactStoreConfig {
            path: "arts".into(),
            sync: true,
        };
        let store = good.open(&ComponentContext::new(dir.path())).unwrap();
        assert!(store.uri().ends_with("/arts"), "{}", store.uri());
    }
}

#[cfg(test)]
mod create_tests {
    use super::*;

    #[test]
    fn create_never_replaces_and_moving_in_honours_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalArtifactStore::open(&dir.path().join("a"), false).unwrap();
        let key = ObjectPath::new("k/v").unwrap();
        store.put_opts(&key, b"first", PutMode::Create).unwrap();
        let err = store
            .put_opts(&key, b"second", PutMode::Create)
            .unwrap_err();
        assert!(
            matches!(err, ArtifactStoreError::AlreadyExists { .. }),
            "{err}"
        );
        let src = dir.path().join("src");
        fs::write(&src, b"third").unwrap();
        let err = store
            .put_file_moving(&key, &src, PutMode::Create)
            .unwrap_err();
        assert!(
            matches!(err, ArtifactStoreError::AlreadyExists { .. }),
            "{err}"
        );
        assert_eq!(store.get(&key).unwrap(), b"first");
        let head = store.head(&key).unwrap();
        assert_eq!(head.size, 5);
        assert!(head.e_tag.is_some() && head.last_modified.is_some());
        assert_eq!(store.get_range(&key, 1..3).unwrap(), b"ir");
        assert!(matches!(
            store.head(&ObjectPath::new("k").unwrap()),
            Err(ArtifactStoreError::NotFound { .. })
        ));
        assert_eq!(
            fs::read_dir(store.root().join(STAGING_DIR))
                .unwrap()
                .count(),
            0
        );
    }
}
