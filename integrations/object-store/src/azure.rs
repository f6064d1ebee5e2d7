//! The `azure` flavor: Azure Blob Storage (and ADLS Gen2 through `abfs://`).

use std::sync::Arc;

use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use zenml_artifact_store::{ArtifactStore, ArtifactStoreError, ArtifactStoreFlavor};
use zenml_core::{ComponentContext, ConfigError, SecretString, ValidateConfig, flavor};

use crate::location::BucketUri;
use crate::settings::{bucket_config, check_endpoint};
use crate::store::BucketArtifactStore;
use crate::{backend_config_error, install_crypto_provider};

/// The flavor's name, in errors.
const FLAVOR: &str = "azure";

/// The URI schemes the flavor serves.
const SCHEMES: [&str; 3] = ["az", "abfs", "abfss"];

bucket_config! {
    /// Configuration of the `azure` artifact store flavor.
    ///
    /// Credentials come from Azure's standard sources when none is given here: the
    /// environment (`AZURE_STORAGE_ACCOUNT_KEY`, `AZURE_STORAGE_SAS_KEY`, a service principal
    /// in `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET` and `AZURE_TENANT_ID`), workload identity
    /// (`AZURE_FEDERATED_TOKEN_FILE`), and the managed identity of an Azure machine.
    pub struct AzureArtifactStoreConfig {
        /// The container and prefix that hold the artifacts: `az://container/prefix`, or
        /// `abfs://container@account.dfs.core.windows.net/prefix`.
        pub path: String,
        /// The storage account. Default: the account of an `abfs://` URI, else
        /// `AZURE_STORAGE_ACCOUNT_NAME`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub account: Option<String>,
        /// The account's access key. Kept in the secrets file.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[config(secret)]
        pub access_key: Option<SecretString>,
        /// A shared access signature (the query string, without `?`). Kept in the secrets
        /// file.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[config(secret)]
        pub sas_token: Option<SecretString>,
        /// The blob service's URL, for private endpoints and test servers. Default: the
        /// account's public endpoint.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub endpoint: Option<String>,
        /// Use the local storage emulator (Azurite) with its development account, at
        /// `AZURITE_BLOB_STORAGE_URL` or `http://127.0.0.1:10000`.
        #[serde(default)]
        pub use_emulator: bool,
        /// Allow a plain `http://` endpoint (test servers). Leave off for real accounts.
        #[serde(default)]
        pub allow_http: bool,
    }
}

impl ValidateConfig for AzureArtifactStoreConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        BucketUri::parse(&self.path, &SCHEMES)?;
        self.transfer().validate()?;
        if let Some(url) = &self.endpoint {
            check_endpoint("endpoint", url, self.allow_http)?;
        }
        if self.access_key.is_some() && self.sas_token.is_some() {
            return Err(ConfigError::InvalidValue {
                key: "sas_token".to_owned(),
                message: "give `access_key` or `sas_token`, not both".to_owned(),
            });
        }
        Ok(())
    }
}

#[flavor(
    name = "azure",
    description = "Artifacts in an Azure Blob Storage container",
    example = r#"path = "az://my-container/zenml"
account = "mystorageaccount""#,
    schemes = ["az", "abfs", "abfss"]
)]
impl ArtifactStoreFlavor for AzureArtifactStoreConfig {
    fn open(
        &self,
        _context: &ComponentContext,
    ) -> Result<Box<dyn ArtifactStore>, ArtifactStoreError> {
        self.validate()
            .map_err(|e| ArtifactStoreError::Config(e.to_string()))?;
        install_crypto_provider();
        let uri = BucketUri::parse(&self.path, &SCHEMES)
            .map_err(|e| ArtifactStoreError::Config(e.to_string()))?;
        let transfer = self.transfer();
        let allow_http = self.allow_http || self.use_emulator;
        let mut builder = MicrosoftAzureBuilder::from_env()
            .with_container_name(&uri.bucket)
            .with_use_emulator(self.use_emulator)
            .with_retry(transfer.retry())
            .with_client_options(transfer.client_options(allow_http));
        if let Some(account) = self.account.as_ref().or(uri.account.as_ref()) {
            builder = builder.with_account(account);
        }
        if let Some(endpoint) = &self.endpoint {
            builder = builder.with_endpoint(endpoint.clone());
        }
        if let Some(key) = &self.access_key {
            builder = builder.with_access_key(key.expose());
        }
        if let Some(sas) = &self.sas_token {
            builder = builder.with_config(AzureConfigKey::SasKey, sas.expose());
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
