//! The `mysql` metadata store flavor: metadata in a MySQL 5.7+ or MariaDB 10.6+ database, so
//! that a team shares one record of its pipelines and runs.
//!
//! ```toml
//! [metadata_store]
//! flavor = "mysql"
//! host = "db.example.com"
//! database = "zenml"
//! username = "zenml"
//! password_env = "ZENML_MYSQL_PASSWORD"
//! ```
//!
//! Opening the store ([`MysqlMetadataStore::open`]) connects, creates the database if it is
//! missing and the user may create it, and applies the schema migrations shared with the
//! `sqlite` flavor ([`zenml_metadata_store::schema`]). The password comes from an
//! environment variable, a file only its owner can read, or the CLI's secrets file; it never
//! appears in the store's URI, in errors or in debug output.
//!
//! With `tls = true` the connection is encrypted with TLS (rustls) and the server's
//! certificate is verified against the built-in roots, or against the CA in `tls_ca`; a
//! client certificate for users created `REQUIRE X509` comes from `tls_cert` and `tls_key`.
//!
//! The flavor registers itself at link time. A linker keeps a crate's registrations only
//! when the binary references the crate, so a binary that offers this flavor must name it,
//! e.g. with `use zenml_mysql as _;`.

mod config;
mod dialect;
mod store;

pub use config::MysqlMetadataStoreConfig;
pub use dialect::MysqlDialect;
pub use store::MysqlMetadataStore;
