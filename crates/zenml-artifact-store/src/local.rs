//! The `local` flavor: artifacts in a folder on this machine.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tempfile::NamedTempFile;
use zenml_core::{ComponentContext, ConfigError, ConfigFields, ValidateConfig, flavor};

use crate::path::STAGING_DIR;
use crate::{ArtifactStore, ArtifactStoreError, ArtifactStoreFlavor, ObjectPath};

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
/// atomic; with `sync` on, the file is flushed to disk first.
/// [`put_file_moving`](ArtifactStore::put_file_moving) renames the caller's file into place
/// the same way (flushing it first with `sync` on), without a copy; it copies instead when
/// the file is on another file system or has other hard links.
/// [`local_path`](ArtifactStore::local_path) returns the object's file.
#[derive(Debug, Clone)]
pub struct LocalArtifactStore {
    root: PathBuf,
    staging: PathBuf,
    sync: bool,
}

impl LocalArtifactStore {
    /// Opens the store rooted at `root`, creating the folder if needed.
    pub fn open(root: &Path, sync: bool) -> Result<LocalArtifactStore, ArtifactStoreError> {
        let io_err = |action, path: &Path| {
            let path = path.to_path_buf();
            move |source| ArtifactStoreError::Io {
                action,
                path,
                source,
            }
        };
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

    /// Writes through `fill` into a staged file, then publishes it at `path`.
    fn publish(
        &self,
        path: &ObjectPath,
        fill: impl FnOnce(&mut fs::File) -> io::Result<u64>,
    ) -> Result<u64, ArtifactStoreError> {
        let target = self.file_path(path);
        reject_links(&self.root, &target, path)?;
        let mut staged =
            NamedTempFile::new_in(&self.staging).map_err(|source| ArtifactStoreError::Io {
                action: "cannot create a staging file in",
                path: self.staging.clone(),
                source,
            })?;
        let write_err = |source| ArtifactStoreError::Io {
            action: "cannot write",
            path: target.clone(),
            source,
        };
        let written = fill(staged.as_file_mut()).map_err(write_err)?;
        staged.as_file_mut().flush().map_err(write_err)?;
        if self.sync {
            staged.as_file().sync_data().map_err(write_err)?;
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|source| ArtifactStoreError::Io {
                action: "cannot create folder",
                path: parent.to_path_buf(),
                source,
            })?;
        }
        staged.persist(&target).map_err(|e| write_err(e.error))?;
        Ok(written)
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

    fn collect(&self, dir: &Path, out: &mut Vec<ObjectPath>) -> Result<(), ArtifactStoreError> {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(ArtifactStoreError::Io {
                    action: "cannot list",
                    path: dir.to_path_buf(),
                    source,
                });
            }
        };
        for entry in entries {
            let entry = entry.map_err(|source| ArtifactStoreError::Io {
                action: "cannot list",
                path: dir.to_path_buf(),
                source,
            })?;
            let file_type = entry.file_type().map_err(|source| ArtifactStoreError::Io {
                action: "cannot inspect",
                path: entry.path(),
                source,
            })?;
            let full = entry.path();
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
                if let Ok(path) = ObjectPath::new(&key.join("/")) {
                    out.push(path);
                }
            }
        }
        Ok(())
    }
}

impl ArtifactStore for LocalArtifactStore {
    fn uri(&self) -> String {
        format!("file://{}", self.root.display())
    }

    fn put(&self, path: &ObjectPath, data: &[u8]) -> Result<(), ArtifactStoreError> {
        self.publish(path, |file| {
            file.write_all(data)?;
            Ok(data.len() as u64)
        })
        .map(drop)
    }

    fn put_file(&self, path: &ObjectPath, source: &Path) -> Result<u64, ArtifactStoreError> {
        let mut input = fs::File::open(source).map_err(|e| ArtifactStoreError::Io {
            action: "cannot read",
            path: source.to_path_buf(),
            source: e,
        })?;
        self.publish(path, |file| io::copy(&mut input, file))
    }

    fn put_file_moving(&self, path: &ObjectPath, source: &Path) -> Result<u64, ArtifactStoreError> {
        let read_err = |source_err| ArtifactStoreError::Io {
            action: "cannot read",
            path: source.to_path_buf(),
            source: source_err,
        };
        let meta = fs::symlink_metadata(source).map_err(read_err)?;
        if !meta.is_file() {
            return Err(read_err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file (links are not followed)",
            )));
        }
        let file = fs::File::open(source).map_err(read_err)?;
        let meta = file.metadata().map_err(read_err)?;
        if has_other_names(&meta) {
            // Renaming would let a write through the other name change the stored object.
            return self.put_file(path, source);
        }
        let target = self.file_path(path);
        reject_links(&self.root, &target, path)?;
        let write_err = |source| ArtifactStoreError::Io {
            action: "cannot write",
            path: target.clone(),
            source,
        };
        if self.sync {
            file.sync_data().map_err(write_err)?;
        }
        drop(file);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|source| ArtifactStoreError::Io {
                action: "cannot create folder",
                path: parent.to_path_buf(),
                source,
            })?;
        }
        match fs::rename(source, &target) {
            Ok(()) => Ok(meta.len()),
            // Another file system: copy through the staging folder instead.
            Err(e) if e.kind() == io::ErrorKind::CrossesDevices => self.put_file(path, source),
            Err(e) => Err(write_err(e)),
        }
    }

    fn get(&self, path: &ObjectPath) -> Result<Vec<u8>, ArtifactStoreError> {
        let file = self.file_path(path);
        reject_links(&self.root, &file, path)?;
        fs::read(&file).map_err(Self::not_found_or(path, "cannot read", &file))
    }

    fn get_file(&self, path: &ObjectPath, destination: &Path) -> Result<u64, ArtifactStoreError> {
        let file = self.file_path(path);
        reject_links(&self.root, &file, path)?;
        let mut input =
            fs::File::open(&file).map_err(Self::not_found_or(path, "cannot read", &file))?;
        let dest_dir = destination
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let dest_err = |source| ArtifactStoreError::Io {
            action: "cannot write",
            path: destination.to_path_buf(),
            source,
        };
        let mut staged = NamedTempFile::new_in(dest_dir).map_err(dest_err)?;
        let copied = io::copy(&mut input, staged.as_file_mut()).map_err(dest_err)?;
        staged.persist(destination).map_err(|e| dest_err(e.error))?;
        Ok(copied)
    }

    fn local_path(&self, path: &ObjectPath) -> Option<PathBuf> {
        let file = self.file_path(path);
        reject_links(&self.root, &file, path).ok()?;
        Some(file)
    }

    fn exists(&self, path: &ObjectPath) -> Result<bool, ArtifactStoreError> {
        let file = self.file_path(path);
        reject_links(&self.root, &file, path)?;
        match fs::symlink_metadata(&file) {
            Ok(meta) => Ok(meta.is_file()),
            Err(e) if is_absent(&e) => Ok(false),
            Err(source) => Err(ArtifactStoreError::Io {
                action: "cannot inspect",
                path: file,
                source,
            }),
        }
    }

    fn list(&self, prefix: Option<&ObjectPath>) -> Result<Vec<ObjectPath>, ArtifactStoreError> {
        let mut out = Vec::new();
        match prefix {
            None => self.collect(&self.root, &mut out)?,
            Some(prefix) => {
                let base = self.file_path(prefix);
                match fs::symlink_metadata(&base) {
                    Ok(meta) if meta.is_file() => out.push(prefix.clone()),
                    Ok(meta) if meta.is_dir() => self.collect(&base, &mut out)?,
                    _ => {}
                }
            }
        }
        out.sort();
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
            Err(source) => Err(ArtifactStoreError::Io {
                action: "cannot delete",
                path: file,
                source,
            }),
        }
    }

    fn delete_prefix(&self, prefix: &ObjectPath) -> Result<usize, ArtifactStoreError> {
        let objects = self.list(Some(prefix))?;
        for object in &objects {
            self.delete(object)?;
        }
        Ok(objects.len())
    }
}

impl LocalArtifactStore {
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
            store.list(None).unwrap(),
            vec![
                p("other"),
                p("pipe/step/out/1/data.json"),
                p("pipe/step/out/2/data.json")
            ]
        );
        assert_eq!(
            store.list(Some(&p("pipe/step/out/2"))).unwrap(),
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
        assert_eq!(store.put_file(&p("big/blob"), &src).unwrap(), 100_000);
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
            store.put_file_moving(&p("a/b/moved"), &src).unwrap(),
            10_000
        );
        assert!(!src.exists(), "the source was renamed, not copied");
        let file = store.local_path(&p("a/b/moved")).unwrap();
        assert_eq!(file, store.root().join("a").join("b").join("moved"));
        assert_eq!(fs::read(&file).unwrap(), vec![3u8; 10_000]);
        assert_eq!(store.local_path(&p("a")).unwrap(), store.root().join("a"));
        // Replacing is atomic too.
        fs::write(&src, b"new").unwrap();
        assert_eq!(store.put_file_moving(&p("a/b/moved"), &src).unwrap(), 3);
        assert_eq!(store.get(&p("a/b/moved")).unwrap(), b"new");
        assert!(matches!(
            store.put_file_moving(&p("x"), &dir.path().join("absent")),
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
        store.put_file_moving(&p("obj"), &src).unwrap();
        fs::write(&other, b"changed!").unwrap();
        assert_eq!(store.get(&p("obj")).unwrap(), b"original");

        std::os::unix::fs::symlink(&other, dir.path().join("link")).unwrap();
        let err = store
            .put_file_moving(&p("linked"), &dir.path().join("link"))
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
