//! The `postgres` metadata store flavor: metadata in a PostgreSQL 11+ database, so that a
//! team shares one record of its pipelines and runs.
//!
//! ```toml
//! [metadata_store]
//! flavor = "postgres"
//! host = "db.example.com"
//! database = "zenml"
//! username = "zenml"
//! password_env = "ZENML_POSTGRES_PASSWORD"
//! sslmode = "verify-full"
//! ```
//!
//! Opening the store ([`PostgresMetadataStore::open`]) connects, creates the database (and
//! the schema, when one is named) if it is missing and the user may create it, and applies
//! the schema migrations shared with the other SQL flavors
//! ([`zenml_metadata_store::schema`]) in the dialect of [`PostgresDialect`]. The password
//! comes from an environment variable, a file only its owner can read, or the CLI's secrets
//! file; it never appears in the store's URI, in errors or in debug output.
//!
//! TLS follows libpq's `sslmode`: `disable`, `prefer` (the default: TLS when the server
//! offers it), `require`, `verify-ca` and `verify-full`, with rustls (no OpenSSL). The
//! server's certificate is checked against the CA in `sslrootcert`, or the built-in roots;
//! a client certificate comes from `sslcert` and `sslkey`.
//!
//! The flavor registers itself at link time. A linker keeps a crate's registrations only
//! when the binary references the crate, so a binary that offers this flavor must name it,
//! e.g. with `use zenml_postgres as _;`.

mod config;
mod dialect;
mod store;
mod tls;

pub use config::{PostgresMetadataStoreConfig, SslMode};
pub use dialect::PostgresDialect;
pub use store::PostgresMetadataStore;
