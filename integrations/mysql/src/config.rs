//! The `mysql` flavor's configuration and where its password comes from.

use std::path::PathBuf;

use mysql_async::{ClientIdentity, SslOpts};
use serde::{Deserialize, Serialize};
use zenml_core::{
    ComponentContext, ConfigError, ConfigFields, SecretString, ValidateConfig, flavor,
};
use zenml_metadata_store::server::{self, PasswordSettings};
use zenml_metadata_store::{MetadataStore, MetadataStoreError, MetadataStoreFlavor};

use crate::MysqlMetadataStore;

/// The longest MySQL database name.
const MAX_DATABASE_LEN: usize = 64;

/// Configuration of the `mysql` metadata store flavor.
///
/// The password comes from at most one of `password_env`, `password_file` and `password`;
/// with none of them the store connects without a password.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ConfigFields)]
pub struct MysqlMetadataStoreConfig {
    /// The server's host name or IP address, e.g. `db.example.com` or `127.0.0.1`.
    pub host: String,
    /// The server's TCP port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// The MySQL user to connect as.
    #[serde(default = "default_username")]
    pub username: String,
    /// The database that holds zenml's tables: letters, digits and `_`, at most 64. It is
    /// created if missing, when the user is allowed to.
    pub database: String,
    /// The name of an environment variable that holds the password, e.g.
    /// `ZENML_MYSQL_PASSWORD`. The variable must be set wherever the store is opened.
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
    /// How many seconds to wait for the server when connecting before giving up.
    #[serde(default = "default_connect_timeout_secs")]
    pub connect_timeout_secs: u64,
    /// Whether to encrypt the connection with TLS. `false` (the default) connects over plain
    /// TCP; `true` requires TLS and refuses a server that does not offer it.
    #[serde(default)]
    pub tls: bool,
    /// A PEM file with the root certificate(s) that sign the server's certificate, trusted
    /// instead of the built-in (Mozilla) roots, e.g. the CA of a private server. Needs
    /// `tls = true`; a relative path is resolved against the repository root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca: Option<PathBuf>,
    /// A PEM file with the client certificate (chain) to present, for a user created with
    /// `REQUIRE X509` or `REQUIRE SUBJECT`. Give it together with `tls_key`; needs
    /// `tls = true`. A relative path is resolved against the repository root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// A PEM file with the private key of `tls_cert` (PKCS#8, PKCS#1 or SEC1). Give it
    /// together with `tls_cert`; needs `tls = true`. A relative path is resolved against the
    /// repository root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// Whether to verify the server's certificate and that it names `host` (the default,
    /// `true`). `false` is dangerous: the connection is encrypted but accepts any server
    /// certificate for any host name, so anyone who can intercept the traffic can pose as the
    /// server and read the password and the metadata. Use it only for testing.
    #[serde(default = "default_tls_verify")]
    pub tls_verify: bool,
}

fn default_port() -> u16 {
    3306
}

fn default_username() -> String {
    "root".to_owned()
}

fn default_pool_size() -> u32 {
    10
}

fn default_connect_timeout_secs() -> u64 {
    10
}

fn default_tls_verify() -> bool {
    true
}

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_owned(),
        message: message.into(),
    }
}

impl ValidateConfig for MysqlMetadataStoreConfig {
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
        validate_database(&self.database)?;
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

impl MysqlMetadataStoreConfig {
    /// Checks that the `tls_*` keys are used together with `tls = true` and with each other.
    fn validate_tls(&self) -> Result<(), ConfigError> {
        let files = [
            ("tls_ca", &self.tls_ca),
            ("tls_cert", &self.tls_cert),
            ("tls_key", &self.tls_key),
        ];
        if !self.tls {
            let given: Vec<String> = files
                .iter()
                .filter(|(_, path)| path.is_some())
                .map(|(key, _)| format!("`{key}`"))
                .chain((!self.tls_verify).then(|| "`tls_verify`".to_owned()))
                .collect();
            if !given.is_empty() {
                return Err(ConfigError::Invalid(format!(
                    "{} set for the mysql metadata store, but `tls` is false; set `tls = true` to \
                     connect with TLS, or remove {}",
                    if given.len() == 1 {
                        format!("{} is", given[0])
                    } else {
                        format!("{} are", given.join(", "))
                    },
                    if given.len() == 1 { "it" } else { "them" },
                )));
            }
        }
        for (key, path) in files {
            if path.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                return Err(invalid(key, "the file name cannot be empty"));
            }
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => Err(invalid(
                "tls_key",
                "`tls_cert` is set but `tls_key` is not; a client certificate needs its private \
                 key",
            )),
            (None, Some(_)) => Err(invalid(
                "tls_cert",
                "`tls_key` is set but `tls_cert` is not; a private key needs its client \
                 certificate",
            )),
            _ => Ok(()),
        }
    }
}

/// Accepts a database name that is safe to quote with backticks: `[A-Za-z0-9_]{1,64}`.
fn validate_database(name: &str) -> Result<(), ConfigError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_DATABASE_LEN
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(invalid(
            "database",
            format!(
                "`{name}` is not a valid database name; use 1 to {MAX_DATABASE_LEN} letters, \
                 digits or `_`"
            ),
        ))
    }
}

impl MysqlMetadataStoreConfig {
    /// The TLS options of the connection: `None` without `tls`. The certificate and key files
    /// are read here, relative paths against the repository root, so that a missing or
    /// unreadable file is reported by name before connecting.
    pub(crate) fn resolve_tls(
        &self,
        context: &ComponentContext,
    ) -> Result<Option<SslOpts>, MetadataStoreError> {
        if !self.tls {
            return Ok(None);
        }
        let read = |key: &str, file: &PathBuf| {
            let action = match key {
                "tls_ca" => "cannot read the TLS root certificate file (`tls_ca`)",
                "tls_cert" => "cannot read the TLS client certificate file (`tls_cert`)",
                _ => "cannot read the TLS client key file (`tls_key`)",
            };
            server::read_pem_file(context, key, file, action)
        };
        let mut opts = SslOpts::default()
            .with_danger_accept_invalid_certs(!self.tls_verify)
            .with_danger_skip_domain_validation(!self.tls_verify);
        if let Some(ca) = &self.tls_ca {
            opts = opts
                .with_root_certs(vec![read("tls_ca", ca)?.into()])
                .with_disable_built_in_roots(true);
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            opts = opts.with_client_identity(Some(ClientIdentity::new(
                read("tls_cert", cert)?.into(),
                read("tls_key", key)?.into(),
            )));
        }
        Ok(Some(opts))
    }

    /// Where the password comes from.
    fn password_settings(&self) -> PasswordSettings<'_> {
        PasswordSettings {
            flavor: "mysql",
            database: "MySQL",
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

#[flavor(
    name = "mysql",
    description = "Metadata in a MySQL 5.7+ or MariaDB 10.6+ database shared by a team",
    example = r#"host = "db.example.com"
database = "zenml"
username = "zenml"
password_env = "ZENML_MYSQL_PASSWORD""#
)]
impl MetadataStoreFlavor for MysqlMetadataStoreConfig {
    fn open(
        &self,
        context: &ComponentContext,
    ) -> Result<Box<dyn MetadataStore>, MetadataStoreError> {
        Ok(Box::new(MysqlMetadataStore::open(self, context)?))
    }
}

#[cfg(test)]
mod tests {
    use zenml_core::{ComponentKind, FlavorRegistry};

    use super::*;

    fn config() -> MysqlMetadataStoreConfig {
        MysqlMetadataStoreConfig {
            host: "db.example.com".to_owned(),
            port: default_port(),
            username: default_username(),
            database: "zenml".to_owned(),
            password_env: None,
            password_file: None,
            password: None,
            pool_size: default_pool_size(),
            connect_timeout_secs: default_connect_timeout_secs(),
            tls: false,
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
            tls_verify: default_tls_verify(),
        }
    }

    #[test]
    fn tls_keys_need_tls_and_each_other() {
        let without_tls = MysqlMetadataStoreConfig {
            tls_ca: Some("ca.pem".into()),
            ..config()
        };
        let err = without_tls.validate().unwrap_err().to_string();
        assert!(
            err.contains("`tls_ca`") && err.contains("`tls` is false"),
            "{err}"
        );
        let unverified = MysqlMetadataStoreConfig {
            tls_verify: false,
            ..config()
        };
        let err = unverified.validate().unwrap_err().to_string();
        assert!(err.contains("`tls_verify`"), "{err}");
        let cert_only = MysqlMetadataStoreConfig {
            tls: true,
            tls_cert: Some("client.pem".into()),
            ..config()
        };
        let err = cert_only.validate().unwrap_err().to_string();
        assert!(err.contains("`tls_key`"), "{err}");
        let key_only = MysqlMetadataStoreConfig {
            tls: true,
            tls_key: Some("client-key.pem".into()),
            ..config()
        };
        let err = key_only.validate().unwrap_err().to_string();
        assert!(err.contains("`tls_cert`"), "{err}");
        let full = MysqlMetadataStoreConfig {
            tls: true,
            tls_ca: Some("ca.pem".into()),
            tls_cert: Some("client.pem".into()),
            tls_key: Some("client-key.pem".into()),
            ..config()
        };
        full.validate().unwrap();
    }

    #[test]
    fn tls_defaults_to_off_and_verified() {
        let registry = FlavorRegistry::global().unwrap();
        let description = registry.get(ComponentKind::MetadataStore, "mysql").unwrap();
        assert_eq!(
            description.field("tls").unwrap().default_value(),
            Some("false".to_owned())
        );
        assert_eq!(
            description.field("tls_verify").unwrap().default_value(),
            Some("true".to_owned())
        );
        let parsed: MysqlMetadataStoreConfig =
            serde_json::from_str(r#"{"host": "db", "database": "zenml"}"#).unwrap();
        assert!(!parsed.tls && parsed.tls_verify);
        parsed.validate().unwrap();
    }

    #[test]
    fn a_plain_config_is_valid() {
        config().validate().unwrap();
    }

    #[test]
    fn database_names_are_identifiers() {
        for good in ["zenml", "Zen_ML_2", &"x".repeat(64)] {
            assert!(validate_database(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "zen-ml",
            "zen`ml",
            "a b",
            "db;drop",
            "é",
            &"x".repeat(65),
        ] {
            let err = validate_database(bad).unwrap_err();
            assert!(err.to_string().contains("`database`"), "{err}");
        }
    }

    #[test]
    fn hosts_must_be_plain_names() {
        for bad in ["", "  ", "mysql://db", "root@db"] {
            let config = MysqlMetadataStoreConfig {
                host: bad.to_owned(),
                ..config()
            };
            assert!(config.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn at_most_one_password_source() {
        let two = MysqlMetadataStoreConfig {
            password: Some(SecretString::new("hunter2")),
            password_file: Some("pw".into()),
            ..config()
        };
        let err = two.validate().unwrap_err().to_string();
        assert!(
            err.contains("`password`") && err.contains("`password_file`"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
        let one = MysqlMetadataStoreConfig {
            password_env: Some("ZENML_MYSQL_PASSWORD".to_owned()),
            ..config()
        };
        one.validate().unwrap();
    }

    #[test]
    fn limits_are_checked() {
        let zero_pool = MysqlMetadataStoreConfig {
            pool_size: 0,
            ..config()
        };
        assert!(zero_pool.validate().is_err());
        let zero_timeout = MysqlMetadataStoreConfig {
            connect_timeout_secs: 0,
            ..config()
        };
        assert!(zero_timeout.validate().is_err());
    }

    #[test]
    fn the_flavor_is_registered_with_a_secret_password_field() {
        let registry = FlavorRegistry::global().unwrap();
        let description = registry.get(ComponentKind::MetadataStore, "mysql").unwrap();
        description
            .check_table(&description.example_table().unwrap())
            .unwrap();
        let password = description.field("password").unwrap();
        assert!(password.secret && !password.required);
        assert!(description.field("host").unwrap().required);
        assert!(description.field("database").unwrap().required);
        assert_eq!(
            description.field("port").unwrap().default_value(),
            Some("3306".to_owned())
        );
    }

    #[test]
    fn debug_output_hides_the_password() {
        let config = MysqlMetadataStoreConfig {
            password: Some(SecretString::new("hunter2")),
            ..config()
        };
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
