//! What the checks share: a scope per check, patterned large objects, assertions.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use zenml_artifact_store::{ArtifactStore, ArtifactStoreError, ObjectPath};

#[cfg(not(unix))]
use crate::skip;

/// A check's own prefix in the store and scratch folder, cleaned up when dropped.
pub(super) struct Scope<'a> {
    store: &'a dyn ArtifactStore,
    pub(super) root: ObjectPath,
    scratch: tempfile::TempDir,
}

impl<'a> Scope<'a> {
    pub(super) fn new(store: &'a dyn ArtifactStore) -> Scope<'a> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Scope {
            store,
            root: ObjectPath::new(&format!("zenml-testkit-{}", &id[..12]))
                .expect("the scope's key is valid"),
            scratch: tempfile::tempdir().expect("cannot create a temporary folder"),
        }
    }

    /// `<scope>/<name>`.
    pub(super) fn key(&self, name: &str) -> ObjectPath {
        self.root
            .join(name)
            .unwrap_or_else(|e| panic!("the testkit's key is invalid: {e}"))
    }

    /// A path in the scratch folder.
    pub(super) fn scratch(&self, name: &str) -> PathBuf {
        self.scratch.path().join(name)
    }
}

impl Drop for Scope<'_> {
    fn drop(&mut self) {
        let _ignored = self.store.delete_prefix(&self.root);
    }
}

/// The folder of a store with a `file://` URI.
pub(super) fn local_root(store: &dyn ArtifactStore) -> Option<PathBuf> {
    store
        .uri()
        .strip_prefix("file://")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
}

#[cfg(unix)]
pub(super) fn plant_link(target: &Path, link: &Path) {
    std::os::unix::fs::symlink(target, link)
        .unwrap_or_else(|e| panic!("cannot plant a link at {}: {e}", link.display()));
}

#[cfg(not(unix))]
pub(super) fn plant_link(_target: &Path, _link: &Path) {
    skip("symbolic links are only planted on Unix")
}

/// The byte at `offset` of a large test object: varies within and across blocks, so that
/// missing, repeated or reordered blocks show.
pub(super) fn pattern(offset: u64) -> u8 {
    ((offset >> 12) as u8).wrapping_mul(31) ^ (offset as u8)
}

/// Writes `len` bytes of [`pattern`] to `path`.
pub(super) fn write_pattern(path: &Path, len: u64) {
    let mut file = fs::File::create(path).expect("cannot create a scratch file");
    let mut block = vec![0u8; 1 << 20];
    let mut offset = 0u64;
    while offset < len {
        let n = block.len().min((len - offset) as usize);
        for (i, byte) in block[..n].iter_mut().enumerate() {
            *byte = pattern(offset + i as u64);
        }
        file.write_all(&block[..n])
            .expect("cannot write a scratch file");
        offset += n as u64;
    }
}

/// Asserts that the file at `path` holds exactly `len` bytes of [`pattern`].
pub(super) fn assert_pattern_file(path: &Path, len: u64, what: &str) {
    let mut file = fs::File::open(path)
        .unwrap_or_else(|e| panic!("{what}: cannot open {}: {e}", path.display()));
    let mut block = vec![0u8; 1 << 20];
    let mut offset = 0u64;
    loop {
        let n = file
            .read(&mut block)
            .unwrap_or_else(|e| panic!("{what}: cannot read {}: {e}", path.display()));
        if n == 0 {
            break;
        }
        if let Some(i) = (0..n).find(|&i| block[i] != pattern(offset + i as u64)) {
            panic!("{what}: the byte at offset {} differs", offset + i as u64);
        }
        offset += n as u64;
    }
    assert_eq!(offset, len, "{what}: the file's length");
}

/// Whether `bytes` are `len` copies of `byte`.
pub(super) fn is_fill(bytes: &[u8], (byte, len): (u8, usize)) -> bool {
    bytes.len() == len && bytes.iter().all(|&b| b == byte)
}

#[track_caller]
pub(super) fn ok<T>(result: Result<T, ArtifactStoreError>, what: &str) -> T {
    result.unwrap_or_else(|e| panic!("{what} failed: {e} ({e:?})"))
}

#[track_caller]
pub(super) fn expect_not_found<T: std::fmt::Debug>(
    result: Result<T, ArtifactStoreError>,
    key: &ObjectPath,
) {
    match result {
        Err(ArtifactStoreError::NotFound { path }) => {
            assert_eq!(path, key.as_str(), "NotFound names the key")
        }
        other => panic!("expected NotFound for `{key}`, got {other:?}"),
    }
}

/// The keys of the objects below `prefix`, sorted.
#[track_caller]
pub(super) fn list_keys(store: &dyn ArtifactStore, prefix: Option<&ObjectPath>) -> Vec<ObjectPath> {
    ok(store.list(prefix), "list")
        .into_iter()
        .map(|meta| meta.path)
        .collect()
}

/// A reader of [`pattern`] bytes that fails with an I/O error after `fail_at` bytes.
pub(super) struct FailingReader {
    pub(super) offset: u64,
    pub(super) fail_at: u64,
}

impl Read for FailingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.offset >= self.fail_at {
            return Err(std::io::Error::other(
                "the source failed part way (testkit)",
            ));
        }
        let n = buf.len().min((self.fail_at - self.offset) as usize);
        for (i, byte) in buf[..n].iter_mut().enumerate() {
            *byte = pattern(self.offset + i as u64);
        }
        self.offset += n as u64;
        Ok(n)
    }
}
