//! The store: a connection pool driven by the store's own runtime.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Pool, PoolConstraints, PoolOpts, TxOpts};
use tokio::runtime::{Handle, Runtime};
use zenml_core::{ComponentContext, ValidateConfig};
use zenml_metadata_store::schema::{
    self, CURRENT_VERSION_SQL, Dialect, MIGRATIONS_TABLE, Migration, RECORD_MIGRATION_SQL,
};
use zenml_metadata_store::{MetadataStore, MetadataStoreError};

use crate::MysqlMetadataStoreConfig;

/// The flavor's name in errors.
const STORE: &str = "mysql";

/// The server's error for a user who may not create (or use) a database.
const ER_DBACCESS_DENIED_ERROR: u16 = 1044;

/// How long a process waits for another one that is migrating the same database.
const MIGRATION_LOCK_TIMEOUT_SECS: u32 = 300;

/// How long dropping the store waits for its connections to close.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A metadata store in a MySQL or MariaDB database.
///
/// The store owns a small Tokio runtime and blocks on it, because component traits are
/// synchronous: call it from ordinary threads, not from async code (it refuses to run inside
/// a Tokio runtime; use `spawn_blocking` there). Connections come from a pool of at most
/// `pool_size`.
pub struct MysqlMetadataStore {
    uri: String,
    database: String,
    pool: Pool,
    connect_timeout: Duration,
    /// `None` only while the store is dropped.
    runtime: Option<Runtime>,
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
        let password = config.resolve_password(context)?;
        let uri = mysql_uri(config);
        let connect_timeout = Duration::from_secs(config.connect_timeout_secs);
        let constraints = usize::try_from(config.pool_size)
            .ok()
            .and_then(|max| PoolConstraints::new(1, max))
            .ok_or_else(|| {
                MetadataStoreError::Config(format!("invalid pool_size {}", config.pool_size))
            })?;
        let base = OptsBuilder::default()
            .ip_or_hostname(config.host.trim())
            .tcp_port(config.port)
            .user(Some(config.username.as_str()))
            .pass(password.as_ref().map(|p| p.expose()));
        let pooled = base
            .clone()
            .db_name(Some(config.database.as_str()))
            .pool_opts(PoolOpts::default().with_constraints(constraints));

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("zenml-mysql")
            .enable_all()
            .build()
            .map_err(|source| MetadataStoreError::Backend {
                store: STORE,
                source: Box::new(source),
            })?;
        runtime.block_on(prepare(
            base,
            &config.database,
            &config.username,
            &uri,
            connect_timeout,
        ))?;
        Ok(MysqlMetadataStore {
            uri,
            database: config.database.clone(),
            pool: Pool::new(pooled),
            connect_timeout,
            runtime: Some(runtime),
        })
    }

    /// The database that holds the tables.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// Runs `future` to completion on the store's runtime.
    fn run<T>(
        &self,
        future: impl Future<Output = Result<T, MetadataStoreError>>,
    ) -> Result<T, MetadataStoreError> {
        refuse_async_context()?;
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| MetadataStoreError::Backend {
                store: STORE,
                source: "the store is closed".into(),
            })?;
        runtime.block_on(future)
    }

    /// A pooled connection, waiting at most the connect timeout.
    async fn connection(&self) -> Result<Conn, MetadataStoreError> {
        with_timeout(self.connect_timeout, &self.uri, self.pool.get_conn()).await
    }
}

impl MetadataStore for MysqlMetadataStore {
    fn uri(&self) -> String {
        self.uri.clone()
    }

    fn schema_version(&self) -> Result<u32, MetadataStoreError> {
        self.run(async {
            let mut conn = self.connection().await?;
            current_version(&mut conn).await
        })
    }
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
        let Some(runtime) = self.runtime.take() else {
            return;
        };
        if Handle::try_current().is_ok() {
            // Blocking here would panic; the server sees the connections drop instead.
            runtime.shutdown_background();
            return;
        }
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

fn backend(source: mysql_async::Error) -> MetadataStoreError {
    MetadataStoreError::Backend {
        store: STORE,
        source: Box::new(source),
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

/// Creates and selects the database, then migrates it, on one connection of its own.
async fn prepare(
    base: OptsBuilder,
    database: &str,
    username: &str,
    uri: &str,
    connect_timeout: Duration,
) -> Result<(), MetadataStoreError> {
    let mut conn = with_timeout(connect_timeout, uri, Conn::new(base)).await?;
    let result = create_and_migrate(&mut conn, database, username, uri).await;
    // The outcome does not depend on a polite goodbye.
    let _closed = conn.disconnect().await;
    result
}

async fn create_and_migrate(
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
    migrate(conn, database).await
}

/// The version recorded in the selected database, 0 for a new one.
async fn current_version(conn: &mut Conn) -> Result<u32, MetadataStoreError> {
    let exists: Option<i64> = conn
        .exec_first(Dialect::Mysql.table_exists_sql(), (MIGRATIONS_TABLE,))
        .await
        .map_err(backend)?;
    if exists.unwrap_or(0) == 0 {
        return Ok(0);
    }
    let raw: Option<i64> = conn
        .exec_first(CURRENT_VERSION_SQL, ())
        .await
        .map_err(backend)?;
    schema::recorded_version(raw.unwrap_or(0), STORE)
}

/// Applies the pending migrations under a server-wide lock named after the database, so
/// that processes opening the store at the same time apply each migration once.
async fn migrate(conn: &mut Conn, database: &str) -> Result<(), MetadataStoreError> {
    // This first read takes no lock, so a newer database is refused without waiting.
    let pending = schema::pending(current_version(conn).await?)?;
    if pending.is_empty() {
        return Ok(());
    }
    // MySQL 5.7 accepts lock names of at most 64 characters.
    let lock: String = format!("zenml:{database}").chars().take(64).collect();
    let locked: Option<Option<i64>> = conn
        .exec_first(
            "SELECT GET_LOCK(?, ?)",
            (&lock, MIGRATION_LOCK_TIMEOUT_SECS),
        )
        .await
        .map_err(backend)?;
    if locked.flatten() != Some(1) {
        return Err(MetadataStoreError::Backend {
            store: STORE,
            source: format!(
                "another process has been migrating database `{database}` for \
                 {MIGRATION_LOCK_TIMEOUT_SECS} seconds; try again later"
            )
            .into(),
        });
    }
    let result = apply(conn, pending).await;
    let released = conn
        .exec_drop("SELECT RELEASE_LOCK(?)", (&lock,))
        .await
        .map_err(backend);
    result.and(released)
}

/// Applies `pending` in order, each in its own transaction, re-reading the version first:
/// another process may have applied some while this one waited for the lock.
async fn apply(conn: &mut Conn, pending: &[Migration]) -> Result<(), MetadataStoreError> {
    for migration in pending {
        let found = current_version(conn).await?;
        schema::pending(found)?;
        if found >= migration.version {
            continue;
        }
        let failed = |e: mysql_async::Error| MetadataStoreError::Migration {
            version: migration.version,
            message: format!("{}: {e}", migration.description),
        };
        let mut transaction = conn
            .start_transaction(TxOpts::default())
            .await
            .map_err(failed)?;
        for statement in migration.statements() {
            transaction.query_drop(statement).await.map_err(failed)?;
        }
        transaction
            .exec_drop(
                RECORD_MIGRATION_SQL,
                (
                    migration.version,
                    migration.description,
                    schema::timestamp_now(),
                ),
            )
            .await
            .map_err(failed)?;
        transaction.commit().await.map_err(failed)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(host: &str) -> MysqlMetadataStoreConfig {
        MysqlMetadataStoreConfig {
            host: host.to_owned(),
            port: 3307,
            username: "zenml".to_owned(),
            database: "meta".to_owned(),
            password_env: None,
            password_file: None,
            password: Some(zenml_core::SecretString::new("hunter2")),
            pool_size: 2,
            connect_timeout_secs: 1,
        }
    }

    #[test]
    fn uris_name_the_server_without_the_password() {
        assert_eq!(
            mysql_uri(&config("db.example.com")),
            "mysql://zenml@db.example.com:3307/meta"
        );
        assert_eq!(mysql_uri(&config("::1")), "mysql://zenml@[::1]:3307/meta");
    }

    #[test]
    fn async_callers_are_refused() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let err = runtime.block_on(async {
            MysqlMetadataStore::open(&config("127.0.0.1"), &ComponentContext::new("/")).unwrap_err()
        });
        assert!(err.to_string().contains("spawn_blocking"), "{err}");
    }
}
