//! Bucket artifact store flavors of zenml-rs, on [`object_store`]: `s3` (AWS S3 and
//! S3-compatible servers), `gcs` (Google Cloud Storage) and `azure` (Azure Blob Storage), one
//! cargo feature each, so that a build compiles only the clients it links.
//!
//! Every flavor opens a [`BucketArtifactStore`]: the `ArtifactStore` contract on an
//! `object_store` client, with multipart uploads and ranged parallel downloads for large
//! objects, conditional creates, and the retry settings of the flavor's configuration. A
//! flavor declares the URI schemes it serves (`s3`; `gs`, `gcs`; `az`, `abfs`, `abfss`), so
//! `zenml config artifacts set s3://bucket/prefix` finds it through the flavor registry.
//!
//! Credentials never live in `config.toml`: each flavor reads its provider's standard
//! sources (environment variables, instance metadata, service-account files, workload
//! identity), and a literal key is a `#[config(secret)]` field, which the CLI keeps in the
//! secrets file and never prints.
//!
//! **Architecture Invariant:** no key reaches a bucket without passing `ObjectPath`
//! validation, and nothing outside the URI's prefix is read, listed or written.

#[cfg(feature = "s3")]
mod aws_profile;
#[cfg(feature = "azure")]
mod azure;
#[cfg(feature = "gcs")]
mod gcs;
mod location;
#[cfg(feature = "s3")]
mod s3;
mod settings;
mod store;
mod transfer;

#[cfg(feature = "azure")]
pub use azure::AzureArtifactStoreConfig;
#[cfg(feature = "gcs")]
pub use gcs::GcsArtifactStoreConfig;
#[cfg(feature = "s3")]
pub use s3::S3ArtifactStoreConfig;
pub use store::BucketArtifactStore;

/// The flavors this build of the crate declares, sorted.
pub const FLAVORS: &[&str] = &[
    #[cfg(feature = "azure")]
    "azure",
    #[cfg(feature = "gcs")]
    "gcs",
    #[cfg(feature = "s3")]
    "s3",
];

/// rustls needs a process-wide crypto provider; this build has ring only. An error means one
/// is installed already, which is as good.
fn install_crypto_provider() {
    let _installed = rustls::crypto::ring::default_provider().install_default();
}

/// A client that `object_store` refused to build from the configuration.
fn backend_config_error(
    flavor: &'static str,
    uri: &location::BucketUri,
    error: object_store::Error,
) -> zenml_artifact_store::ArtifactStoreError {
    zenml_artifact_store::ArtifactStoreError::Config(format!(
        "{flavor} artifact store `{}`: {error}",
        uri.normalized()
    ))
}
