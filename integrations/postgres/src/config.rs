//! The `postgres` flavor's configuration.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use zenml_core::{
    ComponentContext, ConfigError, ConfigFields, SecretString, ValidateConfig, flavor,
};
use zenml_metadata_store::server::PasswordSettings;
use zenml_metadata_store::{MetadataStore, MetadataStoreError, MetadataStoreFlavor};

use crate::PostgresMetadataStore;

/// The longest PostgreSQL identifier (`NAMEDATALEN - 1`).
const MAX_IDENTIFIER_LEN: usize = 63;

/// Whether and how the connection uses TLS, as libpq's `sslmode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    /// Plain TCP only.
    Disable,
    /// TLS when the server offers it, plain TCP otherwise; the certificate is not verified.
    #[default]
    Prefer,
    /// TLS, refusing a server without it; the certificate is not verified.
    Require,
    /// TLS, with a certificate signed by a trusted CA, whatever host it names.
    VerifyCa,
    /// TLS, with a certificate signed by a trusted CA that names `host`.
    VerifyFull,
}

impl SslMode {
    /// The mode as written in a configuration, e.g. `verify-full`.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// Whether the server's certificate is checked against the trusted roots.
    pub fn verifies(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyFull)
    }
}

/// Configuration of the `postgres` metadata store flavor.
///
/// The password comes from at most one of `password_env`, `password_file` and `password`;
/// with none of them the store connects without a password (as the server's `trust`
/// authentication allows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ConfigFields)]
pub struct PostgresMetadataStoreConfig {
    /// The server's host name or IP address, e.g. `db.example.com` or `127.0.0.1`.
    pub host: String,
    /// The server's TCP port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// The PostgreSQL role to connect as.
    #[serde(default = "default_username")]
    pub username: String,
    /// The database that holds zenml's tables: letters, digits and `_`, at most 63. It is
    /// created if missing, when the role is allowed to.
    pub database: String,
    /// The schema inside the database that holds the tables (letters, digits and `_`, at
    /// most 63), created if missing; without it, the role's default (`public`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// The name of an environment variable that holds the password, e.g.
    /// `ZENML_POSTGRES_PASSWORD`. The variable must be set wherever the store is opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// A file that holds the password (one trailing newline is ignored). On Unix it must be
    /// readable by its owner only (`chmod 600`); a file other users can access is refused. A
    /// relative path is resolved against the repository root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// The password itself. The CLI keeps it in the secrets file (mode 0600), never in a
    /// stack definition; prefer `password_env` or `password_file` for shared setups.
    #[config(secret)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretString>,
    /// The most connections this process keeps open to the server.
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,
    /// How many seconds to wait for the server when connecting before giving up; also how
    /// long an operation whose connection was lost keeps trying again.
    #[serde(default = "default_connect_timeout_secs")]
    pub connect_timeout_secs: u64,
    /// TLS, as libpq's `sslmode`: `disable`, `prefer` (TLS when the server offers it, the
    /// default), `require`, `verify-ca` (the certificate must be signed by a trusted CA) or
    /// `verify-full` (… and name `host`). Only the `verify-*` modes protect against a server
    /// that is not the one you meant.
    #[serde(default)]
    pub sslmode: SslMode,
    /// A PEM file with the root certificate(s) that sign the server's certificate, trusted
    /// instead of the built-in (Mozilla) roots, e.g. the CA of a private server. Needs
    /// `sslmode` `verify-ca` or `verify-full`; a relative path is resolved against the
    /// repository root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sslrootcert: Option<PathBuf>,
    /// A PEM file with the client certificate (chain) to present, for `cert` authentication
    /// or a `clientcert=verify-*` rule of the server. Give it together with `sslkey`; needs
    /// TLS (`sslmode` other than `disable`). A relative path is resolved against the
    /// repository root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sslcert: Option<PathBuf>,
    /// A PEM file with the private key of `sslcert` (PKCS#8, PKCS#1 or SEC1). Give it
    /// together with `sslcert`. A relative path is resolved against the repository root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sslkey: Option<PathBuf>,
}

fn default_port() -> u16 {
    5432
}

fn default_username() -> String {
    "postgres".to_owned()
}

fn default_pool_size() -> u32 {
    10
}

fn default_connect_timeout_secs() -> u64 {
    10
}

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_owned(),
        message: message.into(),
    }
}

impl ValidateConfig for PostgresMetadataStoreConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let host = self.host.trim();
        if host.is_empty() {
            return Err(invalid("host", "the server's host name cannot be empty"));
        }
        if host.contains('/') || host.contains('@') {
            return Err(invalid(
                "host",
                format!(
                    "`{host}` is not a host name; give the server's name or address only \
                     (the port, user and database have their own keys)"
                ),
            ));
        }
        if self.port == 0 {
            return Err(invalid("port", "the port must be between 1 and 65535"));
        }
        if self.username.is_empty() {
            return Err(invalid("username", "the user name cannot be empty"));
        }
        validate_identifier("database", &self.database)?;
        if let Some(schema) = &self.schema {
            validate_identifier("schema", schema)?;
        }
        self.password_settings().validate()?;
        if self.pool_size == 0 {
            return Err(invalid("pool_size", "the pool needs at least 1 connection"));
        }
        if self.connect_timeout_secs == 0 {
            return Err(invalid(
                "connect_timeout_secs",
                "the connect timeout must be at least 1 second",
            ));
        }
        self.validate_tls()
    }
}

impl PostgresMetadataStoreConfig {
    /// Checks that the `ssl*` files fit `sslmode` and each other.
    fn validate_tls(&self) -> Result<(), ConfigError> {
        let files = [
            ("sslrootcert", &self.sslrootcert),
            ("sslcert", &self.sslcert),
            ("sslkey", &self.sslkey),
        ];
        for (key, path) in files {
            if path.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                return Err(invalid(key, "the file name cannot be empty"));
            }
        }
        if self.sslrootcert.is_some() && !self.sslmode.verifies() {
            return Err(invalid(
                "sslrootcert",
                format!(
                    "a root certificate is only used to verify the server, but `sslmode` is \
                     `{}`; set `sslmode = \"verify-full\"` (or `verify-ca`), or remove \
                     `sslrootcert`",
                    self.sslmode.as_str()
                ),
            ));
        }
        if self.sslmode == SslMode::Disable && (self.sslcert.is_some() || self.sslkey.is_some()) {
            return Err(invalid(
                if self.sslcert.is_some() {
                    "sslcert"
                } else {
                    "sslkey"
                },
                "a client certificate needs TLS, but `sslmode` is `disable`",
            ));
        }
        match (&self.sslcert, &self.sslkey) {
            (Some(_), None) => Err(invalid(
                "sslkey",
                "`sslcert` is set but `sslkey` is not; a client certificate needs its private \
                 key",
            )),
            (None, Some(_)) => Err(invalid(
                "sslcert",
                "`sslkey` is set but `sslcert` is not; a private key needs its client \
                 certificate",
            )),
            _ => Ok(()),
        }
    }

    /// Where the password comes from.
    fn password_settings(&self) -> PasswordSettings<'_> {
        PasswordSettings {
            flavor: "postgres",
            database: "PostgreSQL",
            username: &self.username,
            password: self.password.as_ref(),
            password_env: self.password_env.as_deref(),
            password_file: self.password_file.as_deref(),
        }
    }

    /// The password from whichever source is configured: `None` when none is, so the store
    /// connects without one. Errors name the variable or file that could not be used.
    pub fn resolve_password(
        &self,
        context: &ComponentContext,
    ) -> Result<Option<SecretString>, MetadataStoreError> {
        self.password_settings().resolve(context)
    }
}

/// Accepts a name that is safe to quote with double quotes: `[A-Za-z0-9_]{1,63}`.
fn validate_identifier(key: &str, name: &str) -> Result<(), ConfigError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_IDENTIFIER_LEN
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(invalid(
            key,
            format!(
                "`{name}` is not a valid {key} name; use 1 to {MAX_IDENTIFIER_LEN} letters, \
                 digits or `_`"
            ),
        ))
    }
}

#[flavor(
    name = "postgres",
    description = "Metadata in a PostgreSQL 11+ database shared by a team",
    example = r#"host = "db.example.com"
database = "zenml"
username = "zenml"
password_env = "ZENML_POSTGRES_PASSWORD""#
)]
impl MetadataStoreFlavor for PostgresMetadataStoreConfig {
    fn open(
        &self,
        context: &ComponentContext,
    ) -> Result<Box<dyn MetadataStore>, MetadataStoreError> {
        Ok(Box::new(PostgresMetadataStore::open(self, context)?))
    }
}

#[cfg(test)]
mod tests {
    use zenml_core::{ComponentKind, FlavorRegistry};

    use super::*;

    fn config() -> PostgresMetadataStoreConfig {
        serde_json::from_str(r#"{"host": "db.example.com", "database": "zenml"}"#).unwrap()
    }

    #[test]
    fn defaults_are_libpqs() {
        let config = config();
        assert_eq!(config.port, 5432);
        assert_eq!(config.username, "postgres");
        assert_eq!(config.sslmode, SslMode::Prefer);
        config.validate().unwrap();
        let registry = FlavorRegistry::global().unwrap();
        let description = registry
            .get(ComponentKind::MetadataStore, "postgres")
            .unwrap();
        assert_eq!(
            description.field("sslmode").unwrap().default_value(),
            Some("prefer".to_owned())
        );
        description
            .check_table(&description.example_table().unwrap())
            .unwrap();
        let password = description.field("password").unwrap();
        assert!(password.secret && !password.required);
        assert!(description.field("host").unwrap().required);
        assert!(description.field("database").unwrap().required);
    }

    #[test]
    fn ssl_modes_are_written_as_libpq_writes_them() {
        for mode in [
            SslMode::Disable,
            SslMode::Prefer,
            SslMode::Require,
            SslMode::VerifyCa,
            SslMode::VerifyFull,
        ] {
            let json = serde_json::to_string(&mode).unwrap();
            assert_eq!(json, format!("\"{}\"", mode.as_str()));
        }
        let err = serde_json::from_str::<PostgresMetadataStoreConfig>(
            r#"{"host": "db", "database": "zenml", "sslmode": "allow-anything"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("verify-full"), "{err}");
    }

    #[test]
    fn tls_files_fit_the_mode_and_each_other() {
        let root_unverified = PostgresMetadataStoreConfig {
            sslrootcert: Some("ca.pem".into()),
            sslmode: SslMode::Require,
            ..config()
        };
        let err = root_unverified.validate().unwrap_err().to_string();
        assert!(
            err.contains("`sslrootcert`") && err.contains("verify-full"),
            "{err}"
        );
        let cert_without_tls = PostgresMetadataStoreConfig {
            sslcert: Some("client.pem".into()),
            sslkey: Some("client-key.pem".into()),
            sslmode: SslMode::Disable,
            ..config()
        };
        assert!(cert_without_tls.validate().is_err());
        let cert_only = PostgresMetadataStoreConfig {
            sslcert: Some("client.pem".into()),
            ..config()
        };
        let err = cert_only.validate().unwrap_err().to_string();
        assert!(err.contains("`sslkey`"), "{err}");
        let full = PostgresMetadataStoreConfig {
            sslmode: SslMode::VerifyFull,
            sslrootcert: Some("ca.pem".into()),
            sslcert: Some("client.pem".into()),
            sslkey: Some("client-key.pem".into()),
            ..config()
        };
        full.validate().unwrap();
    }

    #[test]
    fn database_and_schema_names_are_identifiers() {
        for good in ["zenml", "Zen_ML_2", &"x".repeat(63)] {
            assert!(validate_identifier("database", good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "zen-ml",
            "zen\"ml",
            "a b",
            "db;drop",
            "é",
            &"x".repeat(64),
        ] {
            let err = validate_identifier("schema", bad).unwrap_err();
            assert!(err.to_string().contains("`schema`"), "{err}");
        }
        let bad_schema = PostgresMetadataStoreConfig {
            schema: Some("a.b".to_owned()),
            ..config()
        };
        assert!(bad_schema.validate().is_err());
    }

    #[test]
    fn hosts_must_be_plain_names_and_limits_hold() {
        for bad in ["", "  ", "postgres://db", "root@db"] {
            let config = PostgresMetadataStoreConfig {
                host: bad.to_owned(),
                ..config()
            };
            assert!(config.validate().is_err(), "{bad:?}");
        }
        let zero_pool = PostgresMetadataStoreConfig {
            pool_size: 0,
            ..config()
        };
        assert!(zero_pool.validate().is_err());
        let zero_timeout = PostgresMetadataStoreConfig {
            connect_timeout_secs: 0,
            ..config()
        };
        assert!(zero_timeout.validate().is_err());
    }

    #[test]
    fn debug_output_hides_the_password() {
        let config = PostgresMetadataStoreConfig {
            password: Some(SecretString::new("hunter2")),
            ..config()
        };
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
