//! The `gcs` flavor: Google Cloud Storage.

use std::path::PathBuf;
use std::sync::Arc;

use object_store::StaticCredentialProvider;
use object_store::gcp::{GcpCredential, GoogleCloudStorageBuilder};
use zenml_artifact_store::{ArtifactStore, ArtifactStoreError, ArtifactStoreFlavor};
use zenml_core::{ComponentContext, ConfigError, SecretString, ValidateConfig, flavor};

use crate::location::BucketUri;
use crate::settings::{bucket_config, check_endpoint};
use crate::store::BucketArtifactStore;
use crate::{backend_config_error, install_crypto_provider};

/// The flavor's name, in errors.
const FLAVOR: &str = "gcs";

/// The URI schemes the flavor serves.
const SCHEMES: [&str; 2] = ["gs", "gcs"];

bucket_config! {
    /// Configuration of the `gcs` artifact store flavor.
    ///
    /// Credentials come from Google's standard sources when none is given here: a
    /// service-account file named by `GOOGLE_SERVICE_ACCOUNT` or
    /// `GOOGLE_APPLICATION_CREDENTIALS`, the key in `GOOGLE_SERVICE_ACCOUNT_KEY`, the
    /// application default credentials of `gcloud auth application-default login`, and the
    /// metadata server of a Google Cloud machine.
    pub struct GcsArtifactStoreConfig {
        /// The bucket and prefix that hold the artifacts, `gs://bucket/prefix`.
        pub path: String,
        /// A service-account key file (JSON). Relative paths resolve against the repository
        /// root.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub service_account_path: Option<PathBuf>,
        /// A service-account key (the JSON text itself). Kept in the secrets file.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[config(secret)]
        pub service_account_key: Option<SecretString>,
        /// The storage API's base URL, for private endpoints and test servers. Default:
        /// `https://storage.googleapis.com`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub base_url: Option<String>,
        /// Allow a plain `http://` base URL (test servers). Leave off for real buckets.
        #[serde(default)]
        pub allow_http: bool,
        /// Send unauthenticated requests, for public buckets and test servers; no
        /// credentials are looked up.
        #[serde(default)]
        pub anonymous: bool,
    }
}

impl ValidateConfig for GcsArtifactStoreConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        BucketUri::parse(&self.path, &SCHEMES)?;
        self.transfer().validate()?;
        if let Some(url) = &self.base_url {
            check_endpoint("base_url", url, self.allow_http)?;
        }
        if self.service_account_path.is_some() && self.service_account_key.is_some() {
            return Err(ConfigError::InvalidValue {
                key: "service_account_key".to_owned(),
                message: "give `service_account_path` or `service_account_key`, not both"
                    .to_owned(),
            });
        }
        Ok(())
    }
}

#[flavor(
    name = "gcs",
    description = "Artifacts in a Google Cloud Storage bucket",
    example = r#"path = "gs://my-bucket/zenml""#,
    schemes = ["gs", "gcs"]
)]
impl ArtifactStoreFlavor for GcsArtifactStoreConfig {
    fn open(
        &self,
        context: &ComponentContext,
    ) -> Result<Box<dyn ArtifactStore>, ArtifactStoreError> {
        self.validate()
            .map_err(|e| ArtifactStoreError::Config(e.to_string()))?;
        install_crypto_provider();
        let uri = BucketUri::parse(&self.path, &SCHEMES)
            .map_err(|e| ArtifactStoreError::Config(e.to_string()))?;
        let transfer = self.transfer();
        let mut builder = GoogleCloudStorageBuilder::from_env()
            .with_bucket_name(&uri.bucket)
            .with_retry(transfer.retry())
            .with_client_options(transfer.client_options(self.allow_http));
        if let Some(url) = &self.base_url {
            builder = builder.with_base_url(url);
        }
        if let Some(file) = &self.service_account_path {
            builder = builder.with_service_account_path(context.resolve(file).to_string_lossy());
        }
        if let Some(key) = &self.service_account_key {
            builder = builder.with_service_account_key(key.expose());
        }
        if self.anonymous {
            // Writes ask the credential provider even when signing is skipped; an empty
            // bearer token keeps them from looking for a metadata server.
            builder = builder.with_skip_signature(true).with_credentials(Arc::new(
                StaticCredentialProvider::new(GcpCredential {
                    bearer: String::new(),
                }),
            ));
        }
        let store = builder
            .build()
            .map_err(|e| backend_config_error(FLAVOR, &uri, e))?;
        Ok(Box::new(BucketArtifactStore::new(
            FLAVOR,
            uri.normalized(),
            &uri.prefix,
            Arc::new(store),
            transfer,
        )))
    }
}
