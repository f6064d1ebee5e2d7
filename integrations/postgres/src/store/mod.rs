//! The store: a connection pool driven by the process's shared runtime (`zenml-runtime`).

mod connection;
mod errors;
mod pool;
mod session;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio_postgres::error::SqlState;
use zenml_core::{ComponentContext, ValidateConfig};
use zenml_metadata_store::MetadataStoreError;
use zenml_metadata_store::server;
use zenml_metadata_store::sql::{self, SqlConnection, SqlStore};

use crate::{PostgresMetadataStoreConfig, SslMode, tls};

use connection::Connection;
pub(crate) use errors::STORE;
use errors::{classify, is_connection_loss, runtime_error};
use pool::{Pool, Pooled};
use session::Session;

/// The database a role connects to in order to create the store's database.
const MAINTENANCE_DATABASE: &str = "postgres";

/// A metadata store in a PostgreSQL database.
///
/// The store blocks on the process's shared Tokio runtime (`zenml_runtime`), because
/// component traits are synchronous: call it from ordinary threads, not from async code (it
/// refuses to run inside a Tokio runtime; use `spawn_blocking` there). Connections come from
/// a pool of at most `pool_size`, each keeping its prepared statements.
///
/// The queries are those of [`zenml_metadata_store::sql`], shared with the other SQL
/// flavors, with `$n` parameters. Every write is one transaction on a pooled connection
/// (`READ COMMITTED`); a transaction that meets a deadlock, a serialization failure or a lock
/// timeout is rolled back and run again, a few times at most. No statement follows a failed
/// one in a transaction: PostgreSQL would refuse it.
///
/// Connections break: an administrator terminates them (`pg_terminate_backend`), the server
/// restarts or shuts down. An operation whose connection is lost part-way, or that cannot
/// connect while the server restarts, is run again from the start on a fresh connection,
/// with pauses from 20 ms doubling up to 1 s, for at most `connect_timeout_secs` in all. The
/// server rolls back the transaction of a lost connection, so a write is never half
/// recorded; when the connection is lost during the `COMMIT` itself, the retry first checks
/// whether the write was committed after all, so a step run or a run is never recorded
/// twice or reported as failed when it was recorded.
pub struct PostgresMetadataStore {
    uri: String,
    database: String,
    pool: Pool,
    connect_timeout: Duration,
    /// The process's shared runtime.
    runtime: &'static Runtime,
    /// See [`PostgresMetadataStore::lost_connections`].
    lost_connections: AtomicU64,
}

impl PostgresMetadataStore {
    /// Connects to the server `config` names, creates its database and schema if missing
    /// (when the role may), and brings the schema to
    /// [`SCHEMA_VERSION`](zenml_metadata_store::schema::SCHEMA_VERSION).
    pub fn open(
        config: &PostgresMetadataStoreConfig,
        context: &ComponentContext,
    ) -> Result<PostgresMetadataStore, MetadataStoreError> {
        config
            .validate()
            .map_err(|e| MetadataStoreError::Config(e.to_string()))?;
        zenml_runtime::refuse_async_context().map_err(runtime_error)?;
        let runtime = zenml_runtime::runtime().map_err(runtime_error)?;
        let uri = postgres_uri(config);
        let connect_timeout = Duration::from_secs(config.connect_timeout_secs);
        let pg_config = Self::connection_config(config, context)?;
        let connector = tls::connector(config, context)?;

        let first = prepare(
            runtime,
            config,
            &pg_config,
            &connector,
            &uri,
            connect_timeout,
        )
        .map_err(|e| hint_tls(e, config.sslmode))?;
        let pool_size = usize::try_from(config.pool_size).map_err(|_| {
            MetadataStoreError::Config(format!("invalid pool_size {}", config.pool_size))
        })?;
        // The connection that migrated is the pool's first: a new one costs the server a
        // process, and the client a TLS handshake.
        let pool = Pool::new(
            pg_config,
            connector,
            &uri,
            pool_size,
            connect_timeout,
            first,
        );
        Ok(PostgresMetadataStore {
            uri,
            database: config.database.clone(),
            pool,
            connect_timeout,
            runtime,
            lost_connections: AtomicU64::new(0),
        })
    }

    /// The settings of a connection to the store's database: address, role, password,
    /// TLS mode, timeouts and the schema as the search path. For tests that need a
    /// connection of their own; not a stable interface.
    #[doc(hidden)]
    pub fn connection_config(
        config: &PostgresMetadataStoreConfig,
        context: &ComponentContext,
    ) -> Result<tokio_postgres::Config, MetadataStoreError> {
        let password = config.resolve_password(context)?;
        let mut pg = tokio_postgres::Config::new();
        pg.host(config.host.trim())
            .port(config.port)
            .user(&config.username)
            .dbname(&config.database)
            .application_name("zenml")
            .connect_timeout(Duration::from_secs(config.connect_timeout_secs))
            .ssl_mode(match config.sslmode {
                SslMode::Disable => tokio_postgres::config::SslMode::Disable,
                SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
                SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                    tokio_postgres::config::SslMode::Require
                }
            });
        if let Some(password) = &password {
            pg.password(password.expose());
        }
        if let Some(schema) = &config.schema {
            // Validated as [A-Za-z0-9_]{1,63}; quoted so that its case is kept.
            pg.options(format!("-c search_path=\"{schema}\""));
        }
        Ok(pg)
    }

    /// How many times an operation of this store lost its connection, or found the server
    /// unreachable, and tried again: for monitoring, and for tests that must know a retry
    /// happened.
    pub fn lost_connections(&self) -> u64 {
        self.lost_connections.load(Ordering::SeqCst)
    }

    /// The database that holds the tables.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The store's runtime, to block on from this (non-async) thread.
    fn runtime(&self) -> Result<&'static Runtime, MetadataStoreError> {
        zenml_runtime::refuse_async_context().map_err(runtime_error)?;
        Ok(self.runtime)
    }

    /// A pooled connection, waiting at most the connect timeout.
    fn connection(&self, runtime: &Runtime) -> Result<Pooled<'_>, MetadataStoreError> {
        self.pool.get(runtime)
    }

    /// Runs `attempt` with [`server::retry_transient`] under this store's budget.
    fn retry<T>(
        &self,
        attempt: impl FnMut() -> Result<T, MetadataStoreError>,
    ) -> Result<T, MetadataStoreError> {
        server::retry_transient(
            self.connect_timeout,
            &self.lost_connections,
            classify,
            attempt,
        )
    }
}

impl SqlStore for PostgresMetadataStore {
    fn flavor(&self) -> &'static str {
        STORE
    }

    fn database_uri(&self) -> String {
        self.uri.clone()
    }

    /// Runs `body` between `BEGIN` and `COMMIT` on a pooled connection, retrying on a fresh
    /// connection when the attempt meets a conflict or loses its connection. When a
    /// `COMMIT` lost its connection, the next attempt first asks `committed` whether the
    /// write is in the database after all, and returns its answer if so.
    fn write<T>(
        &self,
        mut body: impl FnMut(&mut dyn SqlConnection) -> Result<T, MetadataStoreError>,
        mut committed: impl FnMut(&mut dyn SqlConnection) -> Result<Option<T>, MetadataStoreError>,
    ) -> Result<T, MetadataStoreError> {
        let runtime = self.runtime()?;
        let mut commit_unknown = false;
        self.retry(|| {
            let mut connection = self.connection(runtime)?;
            let mut session = Session::new(runtime, &mut connection);
            if commit_unknown {
                if let Some(value) = committed(&mut session)? {
                    return Ok(value);
                }
                commit_unknown = false;
            }
            session.begin();
            match body(&mut session) {
                Ok(value) => match session.commit() {
                    Ok(_) => Ok(value),
                    Err(e) => {
                        commit_unknown = is_connection_loss(&e);
                        Err(e)
                    }
                },
                Err(e) => {
                    // The outcome is the body's error. A connection whose rollback fails
                    // (lost, or in a state no longer known) never goes back to the pool.
                    if session.rollback().is_err() {
                        connection.discard();
                    }
                    Err(e)
                }
            }
        })
    }

    /// Runs `body` on a pooled connection, outside a transaction, retrying on a fresh
    /// connection when the connection is lost.
    fn read<T>(
        &self,
        mut body: impl FnMut(&mut dyn SqlConnection) -> Result<T, MetadataStoreError>,
    ) -> Result<T, MetadataStoreError> {
        let runtime = self.runtime()?;
        self.retry(|| {
            let mut connection = self.connection(runtime)?;
            body(&mut Session::new(runtime, &mut connection))
        })
    }
}

impl fmt::Debug for PostgresMetadataStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresMetadataStore")
            .field("uri", &self.uri)
            .finish_non_exhaustive()
    }
}

impl Drop for PostgresMetadataStore {
    fn drop(&mut self) {
        if zenml_runtime::refuse_async_context().is_ok() {
            // A goodbye to the server for each idle connection, so that it logs no
            // unexpected end of file; inside async code the sockets are just closed.
            self.pool.close(self.runtime);
        }
    }
}

/// `postgres://user@host:port/database`, with `?options=-csearch_path%3Dschema` for a
/// schema: the store's identity as libpq would connect to it, without the password.
pub(crate) fn postgres_uri(config: &PostgresMetadataStoreConfig) -> String {
    let host = config.host.trim();
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    let mut uri = format!(
        "postgres://{}@{host}:{}/{}",
        config.username, config.port, config.database
    );
    if let Some(schema) = &config.schema {
        uri.push_str(&format!("?options=-csearch_path%3D{schema}"));
    }
    uri
}

/// Adds a hint to two connection errors that do not say what to change: an unverified
/// server certificate, and a server that refuses connections without TLS.
fn hint_tls(error: MetadataStoreError, sslmode: SslMode) -> MetadataStoreError {
    let MetadataStoreError::Connect { uri, source } = error else {
        return error;
    };
    let text = source.to_string();
    let hint = if sslmode.verifies() && text.contains("invalid peer certificate") {
        "the server's certificate could not be verified; set `sslrootcert` to the certificate \
         of the CA that signed it"
    } else if sslmode == SslMode::Disable && text.contains("no encryption") {
        "the server requires TLS; set `sslmode` to `verify-full` (or `require`)"
    } else {
        return MetadataStoreError::Connect { uri, source };
    };
    MetadataStoreError::Connect {
        uri,
        source: format!("{text} ({hint})").into(),
    }
}

/// Creates the database (from the maintenance database) and the schema when missing, then
/// migrates; returns the connection to the database, for the pool.
fn prepare(
    runtime: &Runtime,
    config: &PostgresMetadataStoreConfig,
    pg_config: &tokio_postgres::Config,
    connector: &tokio_postgres_rustls::MakeRustlsConnect,
    uri: &str,
    timeout: Duration,
) -> Result<Connection, MetadataStoreError> {
    let connect = |pg: &tokio_postgres::Config| {
        Connection::open(runtime, pg, connector.clone(), uri, timeout)
    };
    let mut connection = match connect(pg_config) {
        Err(e) if errors::sql_state(&e) == Some(&SqlState::INVALID_CATALOG_NAME) => {
            let mut maintenance = pg_config.clone();
            maintenance.dbname(MAINTENANCE_DATABASE);
            let mut admin = connect(&maintenance)?;
            let created = create_database(
                &mut Session::new(runtime, &mut admin),
                &config.database,
                &config.username,
                uri,
            );
            admin.close(runtime, timeout);
            created?;
            connect(pg_config)?
        }
        other => other?,
    };
    let prepared = prepare_schema(&mut Session::new(runtime, &mut connection), config, uri);
    match prepared {
        Ok(()) => Ok(connection),
        Err(e) => {
            connection.close(runtime, timeout);
            Err(e)
        }
    }
}

/// Creates the configured schema if missing, and migrates.
fn prepare_schema(
    session: &mut Session<'_>,
    config: &PostgresMetadataStoreConfig,
    uri: &str,
) -> Result<(), MetadataStoreError> {
    if let Some(schema) = &config.schema {
        create_schema(session, schema, &config.username, uri)?;
    }
    let lock = format!(
        "zenml:{}:{}",
        config.database,
        config.schema.as_deref().unwrap_or("public")
    );
    sql::migrate(session, STORE, &lock)
}

/// `CREATE DATABASE`, in UTF-8 with the `C` collation, so that names compare and sort byte
/// for byte as in the other flavors. Another process creating it at the same moment is as
/// good.
fn create_database(
    admin: &mut Session<'_>,
    database: &str,
    username: &str,
    uri: &str,
) -> Result<(), MetadataStoreError> {
    // `database` is validated as [A-Za-z0-9_]{1,63}, so double-quote quoting is safe.
    let statement = format!(
        "CREATE DATABASE \"{database}\" TEMPLATE template0 ENCODING 'UTF8' \
         LC_COLLATE 'C' LC_CTYPE 'C'"
    );
    match admin.execute(&statement, &[]) {
        Ok(_) => Ok(()),
        // Two processes creating it at once: the loser sees the catalog's unique index.
        Err(e)
            if matches!(
                errors::sql_state(&e),
                Some(&SqlState::DUPLICATE_DATABASE | &SqlState::UNIQUE_VIOLATION)
            ) =>
        {
            Ok(())
        }
        Err(e) if errors::sql_state(&e) == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => {
            Err(MetadataStoreError::Connect {
                uri: uri.to_owned(),
                source: format!(
                    "database `{database}` does not exist and `{username}` may not create it \
                     ({e}); ask an administrator to create it and grant `{username}` access"
                )
                .into(),
            })
        }
        Err(e) => Err(e),
    }
}

/// `CREATE SCHEMA` unless it exists; a role that may not create schemas can still use one
/// an administrator made.
fn create_schema(
    session: &mut Session<'_>,
    schema: &str,
    username: &str,
    uri: &str,
) -> Result<(), MetadataStoreError> {
    let exists = session.query(
        "SELECT COUNT(*) FROM pg_namespace WHERE nspname = ?",
        &[schema.into()],
    )?;
    if exists.first().and_then(|row| row.first()) != Some(&sql::SqlValue::Int(0)) {
        return Ok(());
    }
    match session.execute(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""), &[]) {
        Ok(_) => Ok(()),
        Err(e) if errors::is_unique_violation(&e) => Ok(()),
        Err(e) if errors::sql_state(&e) == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => {
            Err(MetadataStoreError::Connect {
                uri: uri.to_owned(),
                source: format!(
                    "schema `{schema}` does not exist and `{username}` may not create it; ask \
                     an administrator to create it and grant `{username}` access"
                )
                .into(),
            })
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests;
