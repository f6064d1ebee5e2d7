//! The store: a connection pool driven by the process's shared runtime (`zenml-runtime`).

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Params, Pool, PoolConstraints, PoolOpts, Row, TxOpts, Value};
use tokio::runtime::{Handle, Runtime};
use zenml_core::{ComponentContext, ValidateConfig};
use zenml_metadata_store::MetadataStoreError;
use zenml_metadata_store::server::{self, Transient};
use zenml_metadata_store::sql::{self, Dialect, SqlConnection, SqlStore, SqlValue};
use zenml_runtime::RuntimeError;

use crate::{MysqlDialect, MysqlMetadataStoreConfig};

/// The flavor's name in errors.
const STORE: &str = "mysql";

/// The server's error for a user who may not create (or use) a database.
const ER_DBACCESS_DENIED_ERROR: u16 = 1044;

/// The server's error for a refused login (wrong password, unknown user, missing TLS).
const ER_ACCESS_DENIED_ERROR: u16 = 1045;

/// How long dropping the store waits for its connections to close.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The server's error for a duplicate value in a `UNIQUE` or `PRIMARY KEY` index.
const ER_DUP_ENTRY: u16 = 1062;

/// The server's error for a transaction it rolled back to break a deadlock.
const ER_LOCK_DEADLOCK: u16 = 1213;

/// The server's error for a statement that waited too long for a row lock.
const ER_LOCK_WAIT_TIMEOUT: u16 = 1205;

/// The server's error for a connection refused because the server has too many.
const ER_CON_COUNT_ERROR: u16 = 1040;

/// The server's error for a statement refused because the server is shutting down.
const ER_SERVER_SHUTDOWN: u16 = 1053;

/// MariaDB's error for a statement whose connection was killed (`KILL`).
const ER_CONNECTION_KILLED: u16 = 1927;

/// The client error "MySQL server has gone away", as proxies and some servers report it.
const CR_SERVER_GONE_ERROR: u16 = 2006;

/// The client error "Lost connection to MySQL server during query", likewise.
const CR_SERVER_LOST: u16 = 2013;

/// MySQL 8's error for a connection it closed after `wait_timeout` of idleness.
const ER_CLIENT_INTERACTION_TIMEOUT: u16 = 4031;

/// A metadata store in a MySQL or MariaDB database.
///
/// The store blocks on the process's shared Tokio runtime (`zenml_runtime`), because
/// component traits are
/// synchronous: call it from ordinary threads, not from async code (it refuses to run inside
/// a Tokio runtime; use `spawn_blocking` there). Connections come from a pool of at most
/// `pool_size`.
///
/// The queries are those of [`zenml_metadata_store::sql`], shared with the `sqlite` flavor.
/// Every write is one transaction on a pooled connection; a transaction that meets a
/// deadlock or a lock wait timeout is rolled back and run again, a few times at most.
///
/// Connections break: the server closes idle ones, restarts, or an administrator kills them.
/// The pool tests an idle connection before lending it and replaces a dead one, and an
/// operation whose connection is lost part-way (an I/O error, "server has gone away", "lost
/// connection", a killed connection, a server shutting down, a refused reconnection while
/// it restarts) is run again from the start on a fresh connection, with pauses from 20 ms
/// doubling up to 1 s, for at most `connect_timeout_secs` in all. The server rolls back the
/// transaction of a lost connection, so a write is never half recorded; when the connection
/// is lost during the `COMMIT` itself, the retry first checks whether the write was
/// committed after all, so a step run or a run is never recorded twice or reported as failed
/// when it was recorded.
pub struct MysqlMetadataStore {
    uri: String,
    database: String,
    pool: Pool,
    connect_timeout: Duration,
    /// The process's shared runtime.
    runtime: &'static Runtime,
    /// See [`MysqlMetadataStore::lost_connections`].
    lost_connections: AtomicU64,
}

impl MysqlMetadataStore {
    /// Connects to the server `config` names, creates its database if missing (when the user
    /// may), and brings the schema to [`schema::SCHEMA_VERSION`].
    pub fn open(
        config: &MysqlMetadataStoreConfig,
        context: &ComponentContext,
    ) -> Result<MysqlMetadataStore, MetadataStoreError> {
        config
            .validate()
            .map_err(|e| MetadataStoreError::Config(e.to_string()))?;
        refuse_async_context()?;
        let base = Self::connection_opts(config, context)?;
        let uri = mysql_uri(config);
        let connect_timeout = Duration::from_secs(config.connect_timeout_secs);
        let constraints = usize::try_from(config.pool_size)
            .ok()
            .and_then(|max| PoolConstraints::new(1, max))
            .ok_or_else(|| {
                MetadataStoreError::Config(format!("invalid pool_size {}", config.pool_size))
            })?;
        let pooled = base
            .clone()
            .db_name(Some(config.database.as_str()))
            // The store sets no session state (no variables, temporary tables or locks on
            // pooled connections), so a returned connection needs no reset, and keeping it
            // keeps its prepared statements: a reset would make every operation prepare
            // each of its statements again, one more round trip each. A connection returned
            // inside a transaction is still rolled back by the pool.
            .pool_opts(
                PoolOpts::default()
                    .with_constraints(constraints)
                    .with_reset_connection(false),
            );

        let runtime = zenml_runtime::runtime().map_err(runtime_error)?;
        prepare(
            runtime,
            base,
            &config.database,
            &config.username,
            &uri,
            connect_timeout,
        )
        .map_err(|e| hint_tls(e, config.tls))?;
        Ok(MysqlMetadataStore {
            uri,
            database: config.database.clone(),
            pool: Pool::new(pooled),
            connect_timeout,
            runtime,
            lost_connections: AtomicU64::new(0),
        })
    }

    /// How many times an operation of this store lost its connection, or found the server
    /// unreachable, and tried again: for monitoring, and for tests that must know a retry
    /// happened.
    pub fn lost_connections(&self) -> u64 {
        self.lost_connections.load(Ordering::SeqCst)
    }

    /// The options of a connection to the server `config` names, without selecting its
    /// database: address, user, password and TLS. For tests that need a connection of their
    /// own; not a stable interface.
    #[doc(hidden)]
    pub fn connection_opts(
        config: &MysqlMetadataStoreConfig,
        context: &ComponentContext,
    ) -> Result<OptsBuilder, MetadataStoreError> {
        let password = config.resolve_password(context)?;
        let ssl_opts = config.resolve_tls(context)?;
        if ssl_opts.is_some() {
            // rustls needs a process-wide crypto provider; this build has ring only. An
            // error means one is installed already, which is as good.
            let _installed = rustls::crypto::ring::default_provider().install_default();
        }
        Ok(OptsBuilder::default()
            .ip_or_hostname(config.host.trim())
            .tcp_port(config.port)
            .user(Some(config.username.as_str()))
            .pass(password.as_ref().map(|p| p.expose()))
            .ssl_opts(ssl_opts))
    }

    /// The database that holds the tables.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The store's runtime, to block on from this (non-async) thread.
    fn runtime(&self) -> Result<&'static Runtime, MetadataStoreError> {
        refuse_async_context()?;
        Ok(self.runtime)
    }

    /// A pooled connection, waiting at most the connect timeout.
    async fn connection(&self) -> Result<Conn, MetadataStoreError> {
        with_timeout(self.connect_timeout, &self.uri, self.pool.get_conn()).await
    }
}

impl SqlStore for MysqlMetadataStore {
    fn flavor(&self) -> &'static str {
        STORE
    }

    fn database_uri(&self) -> String {
        self.uri.clone()
    }

    /// Runs `body` in a transaction on a pooled connection and commits it, retrying (see
    /// [`retry_transient`]) on a fresh connection when the attempt meets a lock conflict or
    /// loses its connection. When a `COMMIT` lost its connection, the next attempt first
    /// asks `committed` (on a fresh connection) whether the write is in the database after
    /// all, and returns its answer if so.
    fn write<T>(
        &self,
        mut body: impl FnMut(&mut dyn SqlConnection) -> Result<T, MetadataStoreError>,
        mut committed: impl FnMut(&mut dyn SqlConnection) -> Result<Option<T>, MetadataStoreError>,
    ) -> Result<T, MetadataStoreError> {
        let runtime = self.runtime()?;
        let mut commit_unknown = false;
        retry_transient(self.connect_timeout, &self.lost_connections, || {
            // A connection that failed is dropped at the end of its attempt; the pool
            // discards it instead of lending it again.
            let mut conn = runtime.block_on(self.connection())?;
            if commit_unknown {
                let done = committed(&mut Session {
                    runtime,
                    conn: &mut conn,
                })?;
                if let Some(value) = done {
                    return Ok(value);
                }
                commit_unknown = false;
            }
            transaction(runtime, &mut conn, &mut body).map_err(|failure| match failure {
                Failure::Commit(e) => {
                    commit_unknown = is_connection_loss(&e);
                    e
                }
                Failure::Before(e) => e,
            })
        })
    }

    /// Runs `body` on a pooled connection, outside a transaction, retrying on a fresh
    /// connection when the connection is lost.
    fn read<T>(
        &self,
        mut body: impl FnMut(&mut dyn SqlConnection) -> Result<T, MetadataStoreError>,
    ) -> Result<T, MetadataStoreError> {
        let runtime = self.runtime()?;
        retry_transient(self.connect_timeout, &self.lost_connections, || {
            let mut conn = runtime.block_on(self.connection())?;
            body(&mut Session {
                runtime,
                conn: &mut conn,
            })
        })
    }
}

/// Runs `attempt` until it succeeds or fails for good ([`server::retry_transient`]): a
/// deadlock or a lock wait timeout is a conflict, a lost connection (see
/// [`is_connection_loss`]) is retried within `budget`.
fn retry_transient<T>(
    budget: Duration,
    lost: &AtomicU64,
    attempt: impl FnMut() -> Result<T, MetadataStoreError>,
) -> Result<T, MetadataStoreError> {
    server::retry_transient(budget, lost, classify, attempt)
}

/// Whether a failure is worth another attempt.
fn classify(error: &MetadataStoreError) -> Transient {
    if is_lock_conflict(error) {
        Transient::Conflict
    } else if is_connection_loss(error) {
        Transient::ConnectionLost
    } else {
        Transient::No
    }
}

/// Why a transaction failed: before its `COMMIT` was sent (nothing was committed), or at the
/// `COMMIT` (whether it was committed is unknown when the connection was lost).
enum Failure {
    Before(MetadataStoreError),
    Commit(MetadataStoreError),
}

/// Runs `body` in one transaction on `conn`: commits when it succeeds, rolls back otherwise.
fn transaction<T>(
    runtime: &Runtime,
    conn: &mut Conn,
    body: &mut impl FnMut(&mut dyn SqlConnection) -> Result<T, MetadataStoreError>,
) -> Result<T, Failure> {
    let mut transaction = runtime
        .block_on(conn.start_transaction(TxOpts::default()))
        .map_err(|e| Failure::Before(backend(e)))?;
    let result = body(&mut Session {
        runtime,
        conn: &mut transaction,
    });
    match result {
        Ok(value) => {
            runtime
                .block_on(transaction.commit())
                .map_err(|e| Failure::Commit(backend(e)))?;
            Ok(value)
        }
        Err(e) => {
            // The outcome is the body's error; after a deadlock or a lost connection the
            // server has already rolled back, and a connection whose rollback fails is
            // discarded by the pool.
            let _rolled_back = runtime.block_on(transaction.rollback());
            Err(Failure::Before(e))
        }
    }
}

/// A connection (or a transaction on one) lent to the shared queries of
/// [`zenml_metadata_store::sql`], each statement run to completion on the store's runtime.
struct Session<'a, Q: Queryable> {
    runtime: &'a Runtime,
    conn: &'a mut Q,
}

impl<Q: Queryable> SqlConnection for Session<'_, Q> {
    fn dialect(&self) -> &'static dyn Dialect {
        &MysqlDialect
    }

    /// A statement without parameters goes over the text protocol: transaction control and
    /// DDL need no preparing, and not every server prepares every such statement.
    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, MetadataStoreError> {
        let conn = &mut *self.conn;
        self.runtime
            .block_on(async move {
                if params.is_empty() {
                    let result = conn.query_iter(sql).await?;
                    let affected = result.affected_rows();
                    result.drop_result().await?;
                    Ok(affected)
                } else {
                    let result = conn.exec_iter(sql, mysql_params(params)).await?;
                    let affected = result.affected_rows();
                    result.drop_result().await?;
                    Ok(affected)
                }
            })
            .map_err(backend)
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<Vec<SqlValue>>, MetadataStoreError> {
        let rows: Vec<Row> = self
            .runtime
            .block_on(self.conn.exec(sql, mysql_params(params)))
            .map_err(backend)?;
        rows.into_iter()
            .map(|row| row.unwrap().into_iter().map(sql_value).collect())
            .collect()
    }

    fn is_unique_violation(&self, error: &MetadataStoreError) -> bool {
        server_error_code(error) == Some(ER_DUP_ENTRY)
    }
}

fn mysql_params(params: &[SqlValue]) -> Params {
    let values: Vec<Value> = params
        .iter()
        .map(|value| match value {
            SqlValue::Null => Value::NULL,
            SqlValue::Int(n) => Value::Int(*n),
            SqlValue::Text(text) => Value::Bytes(text.as_bytes().to_vec()),
        })
        .collect();
    Params::from(values)
}

/// A column value as the shared queries read it: the schema stores only integers and text.
fn sql_value(value: Value) -> Result<SqlValue, MetadataStoreError> {
    let corrupt = |message: String| MetadataStoreError::Corrupt {
        what: "column",
        message,
    };
    match value {
        Value::NULL => Ok(SqlValue::Null),
        Value::Int(n) => Ok(SqlValue::Int(n)),
        Value::UInt(n) => i64::try_from(n)
            .map(SqlValue::Int)
            .map_err(|_| corrupt(format!("integer {n} out of range"))),
        Value::Bytes(bytes) => String::from_utf8(bytes)
            .map(SqlValue::Text)
            .map_err(|e| corrupt(format!("text that is not UTF-8 ({e})"))),
        other => Err(corrupt(format!("unexpected value {other:?}"))),
    }
}

/// The server's error code behind a [`MetadataStoreError::Backend`] error of this flavor.
/// The server's error code behind a `Backend` error of this flavor.
pub(crate) fn server_error_code(error: &MetadataStoreError) -> Option<u16> {
    match error {
        MetadataStoreError::Backend {
            store: STORE,
            source,
        } => match source.downcast_ref::<mysql_async::Error>() {
            Some(mysql_async::Error::Server(e)) => Some(e.code),
            _ => None,
        },
        _ => None,
    }
}

/// The client library's error behind an error of this flavor, if any.
fn mysql_error(error: &MetadataStoreError) -> Option<&mysql_async::Error> {
    match error {
        MetadataStoreError::Backend {
            store: STORE,
            source,
        }
        | MetadataStoreError::Connect { source, .. } => source.downcast_ref(),
        _ => None,
    }
}

/// Whether `error` means that the connection broke (or a new one could not be made, as while
/// the server restarts): worth running the operation again on a fresh connection. A connect
/// timeout is not: it has already waited as long as the configuration allows.
fn is_connection_loss(error: &MetadataStoreError) -> bool {
    match mysql_error(error) {
        Some(mysql_async::Error::Io(_)) => true,
        Some(mysql_async::Error::Driver(
            mysql_async::DriverError::ConnectionClosed | mysql_async::DriverError::PacketOutOfOrder,
        )) => true,
        Some(mysql_async::Error::Server(e)) => matches!(
            e.code,
            ER_CON_COUNT_ERROR
                | ER_SERVER_SHUTDOWN
                | ER_CONNECTION_KILLED
                | CR_SERVER_GONE_ERROR
                | CR_SERVER_LOST
                | ER_CLIENT_INTERACTION_TIMEOUT
        ),
        _ => false,
    }
}

/// Whether `error` is a deadlock or a lock wait timeout: worth running the transaction again.
fn is_lock_conflict(error: &MetadataStoreError) -> bool {
    matches!(
        server_error_code(error),
        Some(ER_LOCK_DEADLOCK | ER_LOCK_WAIT_TIMEOUT)
    )
}

impl fmt::Debug for MysqlMetadataStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MysqlMetadataStore")
            .field("uri", &self.uri)
            .finish_non_exhaustive()
    }
}

impl Drop for MysqlMetadataStore {
    fn drop(&mut self) {
        if Handle::try_current().is_ok() {
            // Blocking here would panic; the pool's connections close when their tasks end.
            return;
        }
        let runtime = self.runtime;
        // Close the pooled connections so the server does not count them as aborted.
        let pool = self.pool.clone();
        let _closed = runtime
            .block_on(async { tokio::time::timeout(DISCONNECT_TIMEOUT, pool.disconnect()).await });
    }
}

/// `mysql://user@host:port/database`: the store's identity, without the password.
pub(crate) fn mysql_uri(config: &MysqlMetadataStoreConfig) -> String {
    let host = config.host.trim();
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    format!(
        "mysql://{}@{host}:{}/{}",
        config.username, config.port, config.database
    )
}

fn refuse_async_context() -> Result<(), MetadataStoreError> {
    if Handle::try_current().is_ok() {
        return Err(MetadataStoreError::Config(
            "the mysql metadata store is synchronous and cannot be used from async code; call \
             it from a plain thread (for example through tokio::task::spawn_blocking)"
                .to_owned(),
        ));
    }
    Ok(())
}

fn runtime_error(error: RuntimeError) -> MetadataStoreError {
    MetadataStoreError::Backend {
        store: STORE,
        source: Box::new(error),
    }
}

fn backend(source: mysql_async::Error) -> MetadataStoreError {
    MetadataStoreError::Backend {
        store: STORE,
        source: Box::new(source),
    }
}

/// Adds a hint to two connection errors that do not say what to change: a refused login
/// over plain TCP (the user may need TLS) and an unverified server certificate.
fn hint_tls(error: MetadataStoreError, tls: bool) -> MetadataStoreError {
    match error {
        MetadataStoreError::Connect { uri, source }
            if !tls
                && matches!(
                    source.downcast_ref::<mysql_async::Error>(),
                    Some(mysql_async::Error::Server(e)) if e.code == ER_ACCESS_DENIED_ERROR
                ) =>
        {
            MetadataStoreError::Connect {
                uri,
                source: format!(
                    "{source} (the connection is not encrypted; if the user must connect \
                     with TLS, set `tls = true`)"
                )
                .into(),
            }
        }
        MetadataStoreError::Connect { uri, source }
            if tls && source.to_string().contains("invalid peer certificate") =>
        {
            MetadataStoreError::Connect {
                uri,
                source: format!(
                    "{source} (the server's certificate could not be verified; set `tls_ca` to \
                     the certificate of the CA that signed it)"
                )
                .into(),
            }
        }
        other => other,
    }
}

/// Waits for a connection at most `limit`.
async fn with_timeout(
    limit: Duration,
    uri: &str,
    connect: impl Future<Output = mysql_async::Result<Conn>>,
) -> Result<Conn, MetadataStoreError> {
    let connect_err = |source| MetadataStoreError::Connect {
        uri: uri.to_owned(),
        source,
    };
    match tokio::time::timeout(limit, connect).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(connect_err(Box::new(e))),
        Err(_) => Err(connect_err(
            format!(
                "the server did not answer within {} seconds",
                limit.as_secs()
            )
            .into(),
        )),
    }
}

/// Creates and selects the database, then migrates it with the shared runner, on one
/// connection of its own.
fn prepare(
    runtime: &Runtime,
    base: OptsBuilder,
    database: &str,
    username: &str,
    uri: &str,
    connect_timeout: Duration,
) -> Result<(), MetadataStoreError> {
    let mut conn = runtime.block_on(with_timeout(connect_timeout, uri, Conn::new(base)))?;
    let result = runtime
        .block_on(create_and_select(&mut conn, database, username, uri))
        .and_then(|()| {
            sql::migrate(
                &mut Session {
                    runtime,
                    conn: &mut conn,
                },
                STORE,
                &format!("zenml:{database}"),
            )
        });
    // The outcome does not depend on a polite goodbye.
    let _closed = runtime.block_on(conn.disconnect());
    result
}

async fn create_and_select(
    conn: &mut Conn,
    database: &str,
    username: &str,
    uri: &str,
) -> Result<(), MetadataStoreError> {
    // `database` is validated as [A-Za-z0-9_]{1,64}, so backtick quoting is safe. The binary
    // collation compares text as SQLite does: byte for byte.
    let created = conn
        .query_drop(format!(
            "CREATE DATABASE IF NOT EXISTS `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        ))
        .await;
    let may_create = match created {
        Ok(()) => true,
        // A user who may not create databases can still use one an administrator made.
        Err(mysql_async::Error::Server(e)) if e.code == ER_DBACCESS_DENIED_ERROR => false,
        Err(e) => return Err(backend(e)),
    };
    if let Err(e) = conn.query_drop(format!("USE `{database}`")).await {
        let source: Box<dyn std::error::Error + Send + Sync> = if may_create {
            Box::new(e)
        } else {
            format!(
                "`{username}` may not create database `{database}` and cannot use it ({e}); \
                 ask an administrator to create it and grant `{username}` access"
            )
            .into()
        };
        return Err(MetadataStoreError::Connect {
            uri: uri.to_owned(),
            source,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
