//! The `acme.mirror` artifact store flavor: every object in two local folders.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zenml_artifact_store::{
    ArtifactStore, ArtifactStoreError, ArtifactStoreFlavor, GetOptions, GetResult,
    LocalArtifactStore, LocalFiles, ObjectMeta, ObjectPath, PutMode, PutResult,
};
use zenml_core::{ComponentContext, ConfigError, ConfigFields, ValidateConfig};

/// Configuration of the `acme.mirror` artifact store flavor.
///
/// The `///` comments of the fields are the user documentation: `zenml artifact-store flavor
/// describe acme.mirror` shows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ConfigFields)]
pub struct MirrorArtifactStoreConfig {
    /// The folder that artifacts are read from; created if missing. A relative path is
    /// resolved against the repository root (the folder that holds `.zen/`).
    pub primary: PathBuf,
    /// The folder that keeps a second copy of every artifact, best on another disk; created if
    /// missing. An object missing from `primary` is read from here and copied back. It must not
    /// be `primary`, nor be inside it or contain it.
    pub mirror: PathBuf,
    /// Flush every object to disk, in both folders, before it becomes visible. Turn off only
    /// for scratch stores.
    #[serde(default = "default_sync")]
    pub sync: bool,
}

impl ValidateConfig for MirrorArtifactStoreConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        for (key, folder) in [("primary", &self.primary), ("mirror", &self.mirror)] {
            let text = folder.to_string_lossy();
            if text.trim().is_empty() {
                return Err(invalid(key, "the folder cannot be empty".to_owned()));
            }
            if let Some((scheme, _)) = text.split_once("://") {
                return Err(invalid(
                    key,
                    format!(
                        "`{text}` is a `{scheme}://` URI; acme.mirror takes folders on this machine"
                    ),
                ));
            }
        }
        // By spelling only; `MirrorArtifactStore::open` checks the real folders again.
        check_apart(&self.primary, &self.mirror)
    }
}

fn default_sync() -> bool {
    true
}

fn invalid(key: &str, message: String) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_owned(),
        message,
    }
}

/// The two folders must be different and not nested: a folder inside the other would be
/// listed as objects of the outer one.
fn check_apart(primary: &Path, mirror: &Path) -> Result<(), ConfigError> {
    let (p, m) = (primary.display(), mirror.display());
    if primary == mirror {
        Err(invalid(
            "mirror",
            format!("`{m}` is also the primary folder; a mirror is a second folder"),
        ))
    } else if mirror.starts_with(primary) {
        Err(invalid(
            "mirror",
            format!("`{m}` is inside the primary folder `{p}`; use a folder outside it"),
        ))
    } else if primary.starts_with(mirror) {
        Err(invalid(
            "mirror",
            format!("`{m}` contains the primary folder `{p}`; use a folder outside it"),
        ))
    } else {
        Ok(())
    }
}

#[zenml_core::flavor(
    name = "acme.mirror",
    description = "Artifacts in a local folder, each also kept in a mirror folder that heals it",
    example = r#"primary = ".zen/artifacts"
mirror = "/mnt/backup/zenml-artifacts""#
)]
impl ArtifactStoreFlavor for MirrorArtifactStoreConfig {
    fn open(
        &self,
        context: &ComponentContext,
    ) -> Result<Box<dyn ArtifactStore>, ArtifactStoreError> {
        self.validate()
            .map_err(|e| ArtifactStoreError::Config(e.to_string()))?;
        Ok(Box::new(MirrorArtifactStore::open(
            &context.resolve(&self.primary),
            &context.resolve(&self.mirror),
            self.sync,
        )?))
    }
}

/// An artifact store that keeps every object in two local folders, the primary and the
/// mirror.
///
/// Each folder is a [`LocalArtifactStore`], so every write to either is atomic (staged,
/// flushed, renamed into place). A write goes to the mirror first and then to the primary;
/// when the primary's write fails, the mirror's new copy is deleted again, so a failed write
/// leaves the object absent or with its earlier bytes, as the contract requires. A
/// conditional create ([`PutMode::Create`]) is decided by the mirror's create, which is
/// atomic: of two concurrent creates one wins there and the other gets
/// [`ArtifactStoreError::AlreadyExists`] before touching the primary. Reads come from the
/// primary; an object missing there is read from the mirror and copied back into the
/// primary (the store *heals*). [`list`](ArtifactStore::list) and
/// [`head`](ArtifactStore::head) see the objects of both folders; deletes remove both
/// copies, the mirror's first. Like its folders, the store has the [`LocalFiles`]
/// capability: readers use the primary's files in place.
#[derive(Debug, Clone)]
pub struct MirrorArtifactStore {
    primary: LocalArtifactStore,
    mirror: LocalArtifactStore,
}

impl MirrorArtifactStore {
    /// Opens the store with folders `primary` and `mirror`, creating them if needed.
    ///
    /// # Errors
    ///
    /// [`ArtifactStoreError::Config`] when the two are the same folder or one is inside the
    /// other (checked on the real folders, after links are resolved), and
    /// [`ArtifactStoreError::Io`] when a folder cannot be created.
    pub fn open(
        primary: &Path,
        mirror: &Path,
        sync: bool,
    ) -> Result<MirrorArtifactStore, ArtifactStoreError> {
        let primary = LocalArtifactStore::open(primary, sync)?;
        let mirror = LocalArtifactStore::open(mirror, sync)?;
        check_apart(primary.root(), mirror.root())
            .map_err(|e| ArtifactStoreError::Config(e.to_string()))?;
        Ok(MirrorArtifactStore { primary, mirror })
    }

    /// The folder that reads come from.
    pub fn primary(&self) -> &LocalArtifactStore {
        &self.primary
    }

    /// The folder that keeps the second copy.
    pub fn mirror(&self) -> &LocalArtifactStore {
        &self.mirror
    }

    /// Copies into the primary every object at or below `prefix` (everything for `None`)
    /// that only the mirror has, and returns how many were copied. Reads do this for what
    /// they read; call it to repair a whole primary folder at once.
    ///
    /// # Errors
    ///
    /// The first object that cannot be read from the mirror or written to the primary.
    pub fn heal(&self, prefix: Option<&ObjectPath>) -> Result<usize, ArtifactStoreError> {
        let mut healed = 0;
        for object in self.mirror.list(prefix)? {
            if !self.primary.exists(&object.path)? {
                self.copy_back(&object.path)?;
                healed += 1;
            }
        }
        Ok(healed)
    }

    /// Copies the mirror's object at `path` into the primary.
    fn copy_back(&self, path: &ObjectPath) -> Result<(), ArtifactStoreError> {
        match LocalFiles::local_path(&self.mirror, path) {
            Some(file) => self
                .primary
                .put_file(path, &file, PutMode::Overwrite)
                .map(drop),
            None => self.primary.put(path, &self.mirror.get(path)?).map(drop),
        }
    }

    /// Writes the primary's copy after `mirrored` wrote the mirror's: the mirror's local file
    /// is the source, so a stream is read once.
    fn put_primary_from_mirror(
        &self,
        path: &ObjectPath,
        mode: PutMode,
    ) -> Result<PutResult, ArtifactStoreError> {
        let file = LocalFiles::local_path(&self.mirror, path).ok_or_else(|| {
            ArtifactStoreError::Config(format!("the mirror's copy of `{path}` is behind a link"))
        })?;
        self.primary.put_file(path, &file, mode)
    }

    /// After a failed write to the primary, removes the mirror's copy written just before,
    /// so that the object is not readable with the bytes of a write that failed.
    fn undo_mirror<T>(
        &self,
        path: &ObjectPath,
        result: Result<T, ArtifactStoreError>,
    ) -> Result<T, ArtifactStoreError> {
        if result.is_err() {
            // Best effort: the primary's error is the one to report.
            let _ = self.mirror.delete(path);
        }
        result
    }
}

impl ArtifactStore for MirrorArtifactStore {
    /// The primary folder's `file://` URI: the objects are the primary's (the mirror holds
    /// copies), so records point at files a user can open, and a stack that switches from a
    /// `local` store on the same folder to this flavor keeps its cache and its records.
    fn uri(&self) -> String {
        self.primary.uri()
    }

    fn put_opts(
        &self,
        path: &ObjectPath,
        data: &[u8],
        mode: PutMode,
    ) -> Result<PutResult, ArtifactStoreError> {
        self.mirror.put_opts(path, data, mode)?;
        self.undo_mirror(path, self.primary.put_opts(path, data, mode))
    }

    fn put_stream(
        &self,
        path: &ObjectPath,
        source: &mut dyn Read,
        mode: PutMode,
    ) -> Result<PutResult, ArtifactStoreError> {
        self.mirror.put_stream(path, source, mode)?;
        self.undo_mirror(path, self.put_primary_from_mirror(path, mode))
    }

    fn get_opts(
        &self,
        path: &ObjectPath,
        options: GetOptions,
    ) -> Result<GetResult, ArtifactStoreError> {
        match self.primary.get_opts(path, options.clone()) {
            Err(ArtifactStoreError::NotFound { .. }) => {
                let result = self.mirror.get_opts(path, options)?;
                // Heal. The read succeeds whether or not the primary could be repaired.
                let _ = self.copy_back(path);
                Ok(result)
            }
            other => other,
        }
    }

    fn head(&self, path: &ObjectPath) -> Result<ObjectMeta, ArtifactStoreError> {
        match self.primary.head(path) {
            Err(ArtifactStoreError::NotFound { .. }) => self.mirror.head(path),
            other => other,
        }
    }

    fn list(&self, prefix: Option<&ObjectPath>) -> Result<Vec<ObjectMeta>, ArtifactStoreError> {
        let mut objects = self.primary.list(prefix)?;
        objects.extend(self.mirror.list(prefix)?);
        // Sorted by key, the primary's metadata first for a key both folders hold.
        objects.sort_by(|a, b| a.path.cmp(&b.path));
        objects.dedup_by(|later, earlier| later.path == earlier.path);
        Ok(objects)
    }

    fn delete(&self, path: &ObjectPath) -> Result<(), ArtifactStoreError> {
        // The mirror first: if the primary's delete then fails, the object is still there
        // and whole, rather than deleted and then healed back from the mirror.
        self.mirror.delete(path)?;
        self.primary.delete(path)
    }

    fn local_files(&self) -> Option<&dyn LocalFiles> {
        Some(self)
    }
}

impl LocalFiles for MirrorArtifactStore {
    fn local_path(&self, path: &ObjectPath) -> Option<PathBuf> {
        // Readers use the primary's file or folder in place, so it must hold everything
        // first. If it cannot be healed, `None` sends them to `get_opts`, which reads the
        // mirror.
        self.heal(Some(path)).ok()?;
        LocalFiles::local_path(&self.primary, path)
    }

    fn put_file_moving(
        &self,
        path: &ObjectPath,
        source: &Path,
        mode: PutMode,
    ) -> Result<PutResult, ArtifactStoreError> {
        // Refuse a link before the mirror's copy, which would follow it.
        let read_err = |e| ArtifactStoreError::Io {
            action: "cannot read",
            path: source.to_path_buf(),
            source: e,
        };
        if !fs::symlink_metadata(source).map_err(read_err)?.is_file() {
            return Err(read_err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file (links are not followed)",
            )));
        }
        // The mirror copies; the primary then renames the file into place.
        self.mirror.put_file(path, source, mode)?;
        self.undo_mirror(path, self.primary.put_file_moving(path, source, mode))
    }
}
