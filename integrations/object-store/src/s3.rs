//! The `s3` flavor: AWS S3 and S3-compatible servers.

use std::sync::Arc;

use object_store::aws::{AmazonS3Builder, S3ConditionalPut, S3CopyIfNotExists};
use zenml_artifact_store::{ArtifactStore, ArtifactStoreError, ArtifactStoreFlavor};
use zenml_core::{ComponentContext, ConfigError, SecretString, ValidateConfig, flavor};

use crate::aws_profile;
use crate::location::BucketUri;
use crate::settings::{bucket_config, check_endpoint};
use crate::store::BucketArtifactStore;
use crate::{backend_config_error, install_crypto_provider};

/// The flavor's name, in errors.
const FLAVOR: &str = "s3";

bucket_config! {
    /// Configuration of the `s3` artifact store flavor.
    ///
    /// Credentials come from AWS's standard sources when none is given here: the environment
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), a named profile
    /// of the shared files (`profile`, or `AWS_PROFILE`; static keys), web identity
    /// (`AWS_WEB_IDENTITY_TOKEN_FILE` with `AWS_ROLE_ARN`), the ECS container endpoint, and
    /// the EC2 instance metadata service. A literal key given with `--secret-access-key` is
    /// kept in the secrets file, never in `config.toml`.
    pub struct S3ArtifactStoreConfig {
        /// The bucket and prefix that hold the artifacts, `s3://bucket/prefix`.
        pub path: String,
        /// The bucket's region, e.g. `eu-west-1`. Default: `AWS_REGION` or
        /// `AWS_DEFAULT_REGION`, else `us-east-1`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub region: Option<String>,
        /// The server's URL, for S3-compatible servers (MinIO, Ceph, R2, a local test
        /// server), e.g. `http://127.0.0.1:9000`. Default: AWS's endpoint for the region.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub endpoint: Option<String>,
        /// Address the bucket as a host name (`https://bucket.host/key`) instead of a path
        /// (`https://host/bucket/key`). Path style works with AWS and with most
        /// S3-compatible servers; some require virtual-hosted style.
        #[serde(default)]
        pub virtual_hosted_style: bool,
        /// Allow plain `http://` endpoints (local test servers). Leave off for real buckets.
        #[serde(default)]
        pub allow_http: bool,
        /// A named profile of the shared AWS files (`~/.aws/credentials` and `~/.aws/config`,
        /// or `AWS_SHARED_CREDENTIALS_FILE` and `AWS_CONFIG_FILE`) whose static keys (and
        /// region) to use. Default: `AWS_PROFILE`, when set.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub profile: Option<String>,
        /// Send unsigned requests, for public buckets; no credentials are looked up.
        #[serde(default)]
        pub skip_signature: bool,
        /// The access key id, when it is not taken from the standard sources. Kept in the
        /// secrets file.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[config(secret)]
        pub access_key_id: Option<SecretString>,
        /// The secret access key that goes with `access_key_id`. Kept in the secrets file.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[config(secret)]
        pub secret_access_key: Option<SecretString>,
        /// A session token for temporary credentials. Kept in the secrets file.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[config(secret)]
        pub session_token: Option<SecretString>,
    }
}

impl ValidateConfig for S3ArtifactStoreConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        BucketUri::parse(&self.path, &["s3"])?;
        self.transfer().validate()?;
        if self.access_key_id.is_some() != self.secret_access_key.is_some() {
            return Err(ConfigError::InvalidValue {
                key: "secret_access_key".to_owned(),
                message: "`access_key_id` and `secret_access_key` are given together or not at all"
                    .to_owned(),
            });
        }
        if self.profile.is_some() && self.access_key_id.is_some() {
            return Err(ConfigError::InvalidValue {
                key: "profile".to_owned(),
                message: "give a `profile` or literal keys, not both".to_owned(),
            });
        }
        if let Some(endpoint) = &self.endpoint {
            check_endpoint("endpoint", endpoint, self.allow_http)?;
        }
        Ok(())
    }
}

#[flavor(
    name = "s3",
    description = "Artifacts in an AWS S3 bucket or an S3-compatible server",
    example = r#"path = "s3://my-bucket/zenml"
region = "eu-west-1""#,
    schemes = ["s3"]
)]
impl ArtifactStoreFlavor for S3ArtifactStoreConfig {
    fn open(
        &self,
        _context: &ComponentContext,
    ) -> Result<Box<dyn ArtifactStore>, ArtifactStoreError> {
        self.validate()
            .map_err(|e| ArtifactStoreError::Config(e.to_string()))?;
        install_crypto_provider();
        let uri = BucketUri::parse(&self.path, &["s3"])
            .map_err(|e| ArtifactStoreError::Config(e.to_string()))?;
        let transfer = self.transfer();
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&uri.bucket)
            .with_virtual_hosted_style_request(self.virtual_hosted_style)
            .with_skip_signature(self.skip_signature)
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            .with_copy_if_not_exists(S3CopyIfNotExists::Multipart)
            .with_retry(transfer.retry())
            .with_client_options(transfer.client_options(self.allow_http));
        let profile_name = self
            .profile
            .clone()
            .or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()));
        let profile = match (&profile_name, &self.access_key_id) {
            (Some(name), None) => Some(
                aws_profile::load(name).map_err(|e| ArtifactStoreError::Config(e.to_string()))?,
            ),
            _ => None,
        };
        let profile_region = profile.as_ref().and_then(|p| p.region.clone());
        if let Some(region) = self.region.as_ref().or(profile_region.as_ref()) {
            builder = builder.with_region(region);
        } else if std::env::var_os("AWS_REGION").is_none()
            && std::env::var_os("AWS_DEFAULT_REGION").is_none()
        {
            builder = builder.with_region("us-east-1");
        }
        if let Some(profile) = profile {
            builder = builder
                .with_access_key_id(profile.access_key_id)
                .with_secret_access_key(profile.secret_access_key);
            if let Some(token) = profile.session_token {
                builder = builder.with_token(token);
            }
        }
        if let Some(endpoint) = &self.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let (Some(id), Some(secret)) = (&self.access_key_id, &self.secret_access_key) {
            builder = builder
                .with_access_key_id(id.expose())
                .with_secret_access_key(secret.expose());
            if let Some(token) = &self.session_token {
                builder = builder.with_token(token.expose());
            }
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
