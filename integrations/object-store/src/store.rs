//! [`BucketArtifactStore`]: the [`ArtifactStore`] contract on any `object_store` backend.

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use futures_util::TryStreamExt;
use object_store::path::{Path as StorePath, PathPart};
use object_store::{ObjectStore, ObjectStoreExt};
use percent_encoding::percent_decode_str;
use zenml_artifact_store::{
    ArtifactStore, ArtifactStoreError, GetOptions, GetResult, ObjectMeta, ObjectPath, PutMode,
    PutResult, copy_into_file,
};

use crate::settings::TransferSettings;
use crate::transfer;

/// The folder below the store's prefix that holds uploads in progress. No [`ObjectPath`]
/// can name it (its first segment is reserved), so listings never show it.
const UPLOADS: &str = ".zenml-staging";

/// An artifact store in a bucket, on an `object_store` client (S3, GCS, Azure, or any other
/// implementation of `ObjectStore`).
///
/// Keys live below the URI's prefix. Every write is atomic: small objects are one `PUT`, large
/// ones (more than one part) a multipart upload, which the backend makes visible only when it
/// completes. [`PutMode::Create`] is the backend's conditional create (`If-None-Match: *` on
/// S3 and Azure, `x-goog-if-generation-match: 0` on GCS); a large create is uploaded below
/// `<prefix>/.zenml-staging/` and then copied into place with the backend's copy-if-not-exists,
/// because multipart uploads take no precondition. A read is one streamed GET pinned to the
/// object's ETag, so that an object replaced during the read fails the read instead of
/// mixing two versions (whole reads, `get` and `get_file`, then start again).
///
/// Blocking calls run on the process's shared runtime (`zenml_runtime`); call the store from
/// ordinary threads, not from async code.
pub struct BucketArtifactStore {
    flavor: &'static str,
    uri: String,
    prefix: StorePath,
    store: Arc<dyn ObjectStore>,
    transfer: TransferSettings,
}

impl fmt::Debug for BucketArtifactStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BucketArtifactStore")
            .field("flavor", &self.flavor)
            .field("uri", &self.uri)
            .finish_non_exhaustive()
    }
}

impl BucketArtifactStore {
    /// A store of flavor `flavor` (named in errors) whose root is `uri`, keeping its objects
    /// below `prefix` of `store`.
    pub(crate) fn new(
        flavor: &'static str,
        uri: String,
        prefix: &str,
        store: Arc<dyn ObjectStore>,
        transfer: TransferSettings,
    ) -> BucketArtifactStore {
        BucketArtifactStore {
            flavor,
            uri,
            prefix: StorePath::from_iter(prefix.split('/').filter(|s| !s.is_empty())),
            store,
            transfer,
        }
    }

    /// The backend's location of `path`.
    fn location(&self, path: &ObjectPath) -> StorePath {
        path.segments()
            .map(PathPart::from)
            .fold(self.prefix.clone(), |location, part| location.join(part))
    }

    /// The key of a backend location below the prefix, when it is a valid [`ObjectPath`].
    fn key_of(&self, location: &StorePath) -> Option<ObjectPath> {
        let segments: Vec<String> = location
            .prefix_match(&self.prefix)?
            .map(|part| {
                percent_decode_str(part.as_ref())
                    .decode_utf8()
                    .map(|s| s.into_owned())
            })
            .collect::<Result<_, _>>()
            .ok()?;
        ObjectPath::new(&segments.join("/")).ok()
    }

    /// Maps a backend error on `path`.
    pub(crate) fn error(
        &self,
        path: &ObjectPath,
        error: object_store::Error,
    ) -> ArtifactStoreError {
        map_error(self.flavor, &self.uri, path, error)
    }

    /// Runs `future` on the shared runtime.
    fn block_on<F: std::future::Future>(&self, future: F) -> Result<F::Output, ArtifactStoreError> {
        zenml_runtime::block_on(future).map_err(|e| ArtifactStoreError::Backend {
            store: self.flavor,
            source: Box::new(e),
        })
    }

    fn meta(&self, path: ObjectPath, meta: object_store::ObjectMeta) -> ObjectMeta {
        ObjectMeta {
            path,
            size: meta.size,
            last_modified: Some(meta.last_modified.into()),
            e_tag: meta.e_tag,
            version: meta.version,
        }
    }
}

/// Maps an `object_store` error on `path` of the store `uri` into the contract's errors: a
/// missing object is `NotFound`, a failed create precondition `AlreadyExists` (Azure answers
/// 412 where the others answer 409 or their own code), anything else a backend error that
/// names the store.
pub(crate) fn map_error(
    flavor: &'static str,
    uri: &str,
    path: &ObjectPath,
    error: object_store::Error,
) -> ArtifactStoreError {
    match error {
        object_store::Error::NotFound { .. } => ArtifactStoreError::NotFound {
            path: path.to_string(),
        },
        object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. } => {
            ArtifactStoreError::AlreadyExists {
                path: path.to_string(),
            }
        }
        other => ArtifactStoreError::Backend {
            store: flavor,
            source: Box::new(BackendFailure {
                uri: uri.to_owned(),
                path: path.to_string(),
                source: other,
            }),
        },
    }
}

/// A backend failure, naming the store and the key.
#[derive(Debug, thiserror::Error)]
#[error("`{uri}`, object `{path}`: {source}")]
pub(crate) struct BackendFailure {
    uri: String,
    path: String,
    #[source]
    source: object_store::Error,
}

/// How many times a read starts again when the object is replaced while it is read.
const READ_ATTEMPTS: usize = 3;

impl BucketArtifactStore {
    /// Runs `read` again (a few times at most) when it failed because the object was
    /// replaced while it was read: a whole read then returns one version, never a mix.
    fn retry_replaced<T>(
        &self,
        read: impl Fn() -> Result<T, ArtifactStoreError>,
    ) -> Result<T, ArtifactStoreError> {
        let mut attempt = 1;
        loop {
            match read() {
                Err(ArtifactStoreError::Read { source, .. })
                    if transfer::is_object_changed(&source) && attempt < READ_ATTEMPTS =>
                {
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

impl ArtifactStore for BucketArtifactStore {
    fn uri(&self) -> String {
        self.uri.clone()
    }

    fn put_opts(
        &self,
        path: &ObjectPath,
        data: &[u8],
        mode: PutMode,
    ) -> Result<PutResult, ArtifactStoreError> {
        let location = self.location(path);
        let payload = bytes::Bytes::copy_from_slice(data);
        let result = self
            .block_on(transfer::put_small(
                self.store.as_ref(),
                &location,
                payload,
                mode,
            ))?
            .map_err(|e| self.error(path, e))?;
        Ok(PutResult {
            size: data.len() as u64,
            e_tag: result.e_tag,
            version: result.version,
        })
    }

    fn put_stream(
        &self,
        path: &ObjectPath,
        source: &mut dyn Read,
        mode: PutMode,
    ) -> Result<PutResult, ArtifactStoreError> {
        let location = self.location(path);
        let staging = self
            .prefix
            .clone()
            .join(UPLOADS)
            .join(uuid::Uuid::new_v4().simple().to_string().as_str());
        let upload = transfer::Upload {
            store: self.store.as_ref(),
            location: &location,
            staging: &staging,
            mode,
            part_size: self.transfer.part_size(),
            max_concurrency: self.transfer.max_concurrency,
        };
        self.block_on(upload.run(source))?.map_err(|e| match e {
            transfer::UploadError::Source(source) => ArtifactStoreError::Io {
                action: "cannot read the source of",
                path: path.as_str().into(),
                source,
            },
            transfer::UploadError::Store(e) => self.error(path, e),
        })
    }

    fn get_opts(
        &self,
        path: &ObjectPath,
        options: GetOptions,
    ) -> Result<GetResult, ArtifactStoreError> {
        let location = self.location(path);
        // One GET of the range, pinned to the ETag `head` saw; an object replaced between the
        // two is read again from its new metadata.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let head = self
                .block_on(self.store.head(&location))?
                .map_err(|e| self.error(path, e))?;
            let range = match &options.range {
                Some(range) => range.resolve(path, head.size)?,
                None => 0..head.size,
            };
            let meta = self.meta(path.clone(), head.clone());
            if range.is_empty() {
                return Ok(GetResult {
                    meta,
                    range,
                    reader: Box::new(transfer::StreamReader::empty()),
                });
            }
            let request = object_store::GetOptions {
                range: Some(object_store::GetRange::Bounded(range.clone())),
                if_match: head.e_tag.clone(),
                ..object_store::GetOptions::default()
            };
            match self.block_on(self.store.get_opts(&location, request))? {
                Ok(result) => {
                    let runtime =
                        zenml_runtime::runtime().map_err(|e| ArtifactStoreError::Backend {
                            store: self.flavor,
                            source: Box::new(e),
                        })?;
                    let reader = transfer::StreamReader::start(
                        runtime,
                        result,
                        range.end - range.start,
                        format!("{}/{path}", self.uri),
                    );
                    return Ok(GetResult {
                        meta,
                        range,
                        reader: Box::new(reader),
                    });
                }
                Err(object_store::Error::Precondition { .. }) if attempt < READ_ATTEMPTS => {}
                // Replaced between every HEAD and its GET: a read of a changing object, which
                // whole reads (`get`, `get_file`) start again; never a failed create.
                Err(object_store::Error::Precondition { .. }) => {
                    return Err(ArtifactStoreError::Read {
                        path: path.to_string(),
                        source: transfer::object_changed(&format!("{}/{path}", self.uri)),
                    });
                }
                Err(e) => return Err(self.error(path, e)),
            }
        }
    }

    fn get(&self, path: &ObjectPath) -> Result<Vec<u8>, ArtifactStoreError> {
        self.retry_replaced(|| self.get_opts(path, GetOptions::default())?.bytes())
    }

    fn get_file(&self, path: &ObjectPath, destination: &Path) -> Result<u64, ArtifactStoreError> {
        self.retry_replaced(|| {
            let result = self.get_opts(path, GetOptions::default())?;
            copy_into_file(result, destination, &mut |_| {})
        })
    }

    fn head(&self, path: &ObjectPath) -> Result<ObjectMeta, ArtifactStoreError> {
        let location = self.location(path);
        let meta = self
            .block_on(self.store.head(&location))?
            .map_err(|e| self.error(path, e))?;
        Ok(self.meta(path.clone(), meta))
    }

    fn list(&self, prefix: Option<&ObjectPath>) -> Result<Vec<ObjectMeta>, ArtifactStoreError> {
        let location = match prefix {
            Some(prefix) => self.location(prefix),
            None => self.prefix.clone(),
        };
        let listed: Vec<object_store::ObjectMeta> = self
            .block_on(self.store.list(Some(&location)).try_collect())?
            .map_err(|e| {
                let key = prefix.cloned().unwrap_or_else(|| {
                    ObjectPath::new("(root)").unwrap_or_else(|_| unreachable!("a valid key"))
                });
                self.error(&key, e)
            })?;
        let mut out: Vec<ObjectMeta> = listed
            .into_iter()
            .filter_map(|meta| {
                // Keys no ObjectPath can name (uploads in progress, objects written by other
                // tools with names we refuse) are not objects of this store.
                let key = self.key_of(&meta.location)?;
                Some(self.meta(key, meta))
            })
            .collect();
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    fn delete(&self, path: &ObjectPath) -> Result<(), ArtifactStoreError> {
        let location = self.location(path);
        match self.block_on(self.store.delete(&location))? {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error(path, e)),
        }
    }
}
