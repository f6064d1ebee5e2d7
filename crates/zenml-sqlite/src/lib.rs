//! The `sqlite` metadata store flavor of zenml-rs: metadata in a database file on this
//! machine, the store of the default stack. A driver crate in sqlx's shape: the kind crate
//! (`zenml-metadata-store`) holds the contract, the model, the schema and the shared SQL;
//! this crate holds what is SQLite's own (the connection, WAL, busy handling, its dialect).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior, params_from_iter};
use serde::{Deserialize, Serialize};
use zenml_core::{ComponentContext, ConfigError, ConfigFields, ValidateConfig, flavor};

use zenml_metadata_store::sql::{self, Dialect, SqlConnection, SqlStore, SqlValue};
use zenml_metadata_store::{MetadataStore, MetadataStoreError, MetadataStoreFlavor};

/// The flavor's name in errors.
const STORE: &str = "sqlite";

/// The longest busy timeout SQLite accepts: a C `int` of milliseconds (about 24 days).
const MAX_BUSY_TIMEOUT_MS: u64 = i32::MAX as u64;

/// The longest pause between two attempts to switch to WAL mode.
const MAX_WAL_RETRY_PAUSE: Duration = Duration::from_millis(50);

/// How many times a transaction is attempted when SQLite reports the database busy or locked
/// despite the busy timeout (which SQLite does not apply in every case).
const MAX_ATTEMPTS: u32 = 8;

/// The pause before the second attempt; each further pause doubles, up to
/// [`MAX_RETRY_PAUSE`], plus a random part so that processes do not retry in step.
const FIRST_RETRY_PAUSE: Duration = Duration::from_millis(5);

/// How many idle read-only connections a store keeps for reuse.
const MAX_IDLE_READERS: usize = 8;

/// The longest pause between two attempts of a transaction.
const MAX_RETRY_PAUSE: Duration = Duration::from_millis(500);

/// How many prepared statements a connection keeps: more than the shared queries.
const STATEMENT_CACHE_CAPACITY: usize = 64;

/// Configuration of the `sqlite` metadata store flavor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ConfigFields)]
pub struct SqliteMetadataStoreConfig {
    /// The database file; created if missing, together with its folder. A relative path is
    /// resolved against the repository root (the folder that holds `.zen/`).
    pub path: PathBuf,
    /// How long, in milliseconds, a write waits for another process's write to finish before
    /// failing. Several processes may write at once (parallel steps, the CLI, a second run)
    /// and SQLite lets one write at a time: the others wait up to this long.
    #[serde(default = "default_busy_timeout_ms")]
    pub busy_timeout_ms: u64,
}

fn default_busy_timeout_ms() -> u64 {
    60_000
}

impl ValidateConfig for SqliteMetadataStoreConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let text = self.path.to_string_lossy();
        if text.trim().is_empty() {
            return Err(ConfigError::InvalidValue {
                key: "path".to_owned(),
                message: "the database file cannot be empty".to_owned(),
            });
        }
        if let Some((scheme, _)) = text.split_once("://") {
            let advice = if matches!(scheme, "mysql" | "mariadb") {
                "; for a MySQL or MariaDB server use the `mysql` metadata store flavor"
            } else {
                ""
            };
            return Err(ConfigError::InvalidValue {
                key: "path".to_owned(),
                message: format!(
                    "`{text}` is a `{scheme}://` URI; the sqlite flavor takes the path of a \
                     database file on this machine{advice}"
                ),
            });
        }
        if self.busy_timeout_ms > MAX_BUSY_TIMEOUT_MS {
            return Err(ConfigError::InvalidValue {
                key: "busy_timeout_ms".to_owned(),
                message: format!(
                    "{} is more than SQLite accepts; use at most {MAX_BUSY_TIMEOUT_MS}",
                    self.busy_timeout_ms
                ),
            });
        }
        Ok(())
    }
}

#[flavor(
    name = "sqlite",
    description = "Metadata in a SQLite database file on this machine",
    example = r#"path = ".zen/metadata.db""#
)]
impl MetadataStoreFlavor for SqliteMetadataStoreConfig {
    fn open(
        &self,
        context: &ComponentContext,
    ) -> Result<Box<dyn MetadataStore>, MetadataStoreError> {
        self.validate()
            .map_err(|e| MetadataStoreError::Config(e.to_string()))?;
        let path = context.resolve(&self.path);
        Ok(Box::new(SqliteMetadataStore::open(
            &path,
            Duration::from_millis(self.busy_timeout_ms),
        )?))
    }
}

/// A metadata store in a SQLite database file.
///
/// The database runs in WAL mode, so that readers do not wait for a writer, with foreign
/// keys enforced. Writers from several processes take turns: every write is one
/// `BEGIN IMMEDIATE` transaction, which waits up to the busy timeout for the others, and
/// which is attempted again from the start (a few times, while within the busy timeout) if
/// SQLite still reports the database busy or locked. The store keeps one connection for
/// writes, used by one thread at a time and never held while a write waits to try again,
/// and read-only connections for reads, one per thread reading at the same moment (kept for
/// reuse): in WAL mode readers see the last commit without waiting for the writer, and
/// never block it.
#[derive(Debug)]
pub struct SqliteMetadataStore {
    path: PathBuf,
    busy_timeout: Duration,
    connection: Mutex<Connection>,
    /// Idle read-only connections.
    readers: Mutex<Vec<Connection>>,
    /// The database file's identity (device and inode) when it was opened.
    file_id: Option<(u64, u64)>,
}

/// The device and inode of the file at `path`, on systems that have them.
fn file_id(path: &Path) -> std::io::Result<Option<(u64, u64)>> {
    let meta = fs::metadata(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Ok(Some((meta.dev(), meta.ino())))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        Ok(None)
    }
}

impl SqliteMetadataStore {
    /// Opens the database at `path`, creating the file and its folder if needed, and brings
    /// its schema to [`schema::SCHEMA_VERSION`]. `busy_timeout` is how long a write waits
    /// for other processes' writes (capped at SQLite's limit of about 24 days).
    pub fn open(
        path: &Path,
        busy_timeout: Duration,
    ) -> Result<SqliteMetadataStore, MetadataStoreError> {
        let file_name = path.file_name().ok_or_else(|| {
            MetadataStoreError::Config(format!(
                "`{}` does not name a database file",
                path.display()
            ))
        })?;
        let folder = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let io_err = |action| {
            move |source| MetadataStoreError::Io {
                action,
                path: folder.to_path_buf(),
                source,
            }
        };
        fs::create_dir_all(folder).map_err(io_err("cannot create the database folder"))?;
        let path = fs::canonicalize(folder)
            .map_err(io_err("cannot resolve the database folder"))?
            .join(file_name);

        let connect_err = |source: rusqlite::Error| MetadataStoreError::Connect {
            uri: sqlite_uri(&path),
            source: Box::new(SqliteError(source)),
        };
        let busy_timeout = busy_timeout.min(Duration::from_millis(MAX_BUSY_TIMEOUT_MS));
        let mut connection = Connection::open(&path).map_err(connect_err)?;
        connection.busy_timeout(busy_timeout).map_err(connect_err)?;
        connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
        enable_wal(&connection, busy_timeout).map_err(connect_err)?;
        connection
            .pragma_update(None, "foreign_keys", true)
            .map_err(connect_err)?;
        // In WAL mode, NORMAL syncs at checkpoints instead of at every commit: a crash of the
        // program loses nothing, a power loss may lose the last commits but never corrupts
        // the database. Artifacts are flushed before their records are committed, so a lost
        // commit leaves unrecorded files, never a record of missing data.
        connection
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(connect_err)?;
        migrate(&mut connection)?;
        let file_id = file_id(&path).map_err(|source| MetadataStoreError::Io {
            action: "cannot inspect the database file",
            path: path.clone(),
            source,
        })?;
        Ok(SqliteMetadataStore {
            path,
            busy_timeout,
            connection: Mutex::new(connection),
            readers: Mutex::new(Vec::new()),
            file_id,
        })
    }

    /// Fails when the database file was deleted or replaced since the store opened it: an
    /// open connection would go on writing into the deleted file, and every record would
    /// be lost without a word.
    fn check_file(&self) -> Result<(), MetadataStoreError> {
        let gone = |detail: String| MetadataStoreError::Io {
            action: "the database file was deleted or replaced while in use; nothing more is recorded in",
            path: self.path.clone(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, detail),
        };
        match file_id(&self.path) {
            Ok(now) if now == self.file_id => Ok(()),
            Ok(_) => Err(gone("another file is at its path now".to_owned())),
            Err(e) => Err(gone(e.to_string())),
        }
    }

    /// A read-only connection: an idle one, or a new one.
    fn reader(&self) -> Result<Connection, MetadataStoreError> {
        if let Some(idle) = self
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
        {
            return Ok(idle);
        }
        let connect_err = |source: rusqlite::Error| MetadataStoreError::Connect {
            uri: sqlite_uri(&self.path),
            source: Box::new(SqliteError(source)),
        };
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(connect_err)?;
        connection
            .busy_timeout(self.busy_timeout)
            .map_err(connect_err)?;
        connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
        Ok(connection)
    }

    /// Keeps `connection` for the next read, unless enough are idle already.
    fn return_reader(&self, connection: Connection) {
        let mut idle = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE_READERS {
            idle.push(connection);
        }
    }

    /// The absolute path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection, for this thread alone.
    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic elsewhere cannot leave the connection inconsistent: a transaction that was
        // not committed is rolled back when it is dropped, also while unwinding.
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `attempt` until it does not fail with `SQLITE_BUSY` or `SQLITE_LOCKED`, at most
    /// [`MAX_ATTEMPTS`] times and, after the first, only while the busy timeout has not
    /// passed since the first began.
    ///
    /// The busy timeout makes SQLite wait for the lock in almost every case, so this is a
    /// second line of defence, e.g. against `SQLITE_BUSY_RECOVERY` or a shared-cache
    /// `SQLITE_LOCKED`, which SQLite reports without waiting.
    fn retry<T>(
        &self,
        mut attempt: impl FnMut() -> Result<T, MetadataStoreError>,
    ) -> Result<T, MetadataStoreError> {
        let started = Instant::now();
        let mut pause = FIRST_RETRY_PAUSE;
        let mut attempts = 1;
        loop {
            match attempt() {
                Err(e)
                    if is_busy(&e)
                        && attempts < MAX_ATTEMPTS
                        && started.elapsed() < self.busy_timeout =>
                {
                    std::thread::sleep(with_jitter(pause));
                    pause = (pause * 2).min(MAX_RETRY_PAUSE);
                    attempts += 1;
                }
                result => return result,
            }
        }
    }
}

impl SqlStore for SqliteMetadataStore {
    fn flavor(&self) -> &'static str {
        STORE
    }

    fn database_uri(&self) -> String {
        sqlite_uri(&self.path)
    }

    /// Runs `body` in a `BEGIN IMMEDIATE` transaction and commits it; see [`Self::retry`].
    /// A local `COMMIT` is never lost with a connection: `committed` is never asked.
    fn write<T>(
        &self,
        mut body: impl FnMut(&mut dyn SqlConnection) -> Result<T, MetadataStoreError>,
        _committed: impl FnMut(&mut dyn SqlConnection) -> Result<Option<T>, MetadataStoreError>,
    ) -> Result<T, MetadataStoreError> {
        self.check_file()?;
        // The connection is taken for one attempt at a time: while a write waits to try
        // again, other threads of this process may write.
        self.retry(|| {
            let mut connection = self.lock();
            let transaction = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(backend)?;
            let value = body(&mut Session(&transaction))?;
            transaction.commit().map_err(backend)?;
            Ok(value)
        })
    }

    /// Runs `body` on a read-only connection of its own, outside a transaction; see
    /// [`Self::retry`].
    fn read<T>(
        &self,
        mut body: impl FnMut(&mut dyn SqlConnection) -> Result<T, MetadataStoreError>,
    ) -> Result<T, MetadataStoreError> {
        let connection = self.reader()?;
        let result = self.retry(|| body(&mut Session(&connection)));
        self.return_reader(connection);
        result
    }
}

/// A connection (or a transaction on it) lent to the shared queries of [`zenml_metadata_store::sql`].
struct Session<'c>(&'c Connection);

impl SqlConnection for Session<'_> {
    fn dialect(&self) -> &'static dyn Dialect {
        &SqliteDialect
    }

    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, MetadataStoreError> {
        let mut statement = self.0.prepare_cached(sql).map_err(backend)?;
        let changed = statement
            .execute(params_from_iter(params.iter().map(Param)))
            .map_err(backend)?;
        Ok(u64::try_from(changed).unwrap_or(u64::MAX))
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<Vec<SqlValue>>, MetadataStoreError> {
        let mut statement = self.0.prepare_cached(sql).map_err(backend)?;
        let width = statement.column_count();
        let mut rows = statement
            .query(params_from_iter(params.iter().map(Param)))
            .map_err(backend)?;
        let mut result = Vec::new();
        while let Some(row) = rows.next().map_err(backend)? {
            let values = (0..width)
                .map(|i| sql_value(row.get_ref(i).map_err(backend)?))
                .collect::<Result<_, _>>()?;
            result.push(values);
        }
        Ok(result)
    }

    fn is_unique_violation(&self, error: &MetadataStoreError) -> bool {
        sqlite_failure(error).is_some_and(|e| {
            matches!(
                e.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            )
        })
    }
}

/// A parameter of a shared statement, as rusqlite binds it.
struct Param<'v>(&'v SqlValue);

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self.0 {
            SqlValue::Null => ValueRef::Null,
            SqlValue::Int(n) => ValueRef::Integer(*n),
            SqlValue::Text(text) => ValueRef::Text(text.as_bytes()),
        }))
    }
}

/// A column value as the shared queries read it: the schema stores no reals and no blobs.
fn sql_value(value: ValueRef<'_>) -> Result<SqlValue, MetadataStoreError> {
    let corrupt = |message: String| MetadataStoreError::Corrupt {
        what: "column",
        message,
    };
    match value {
        ValueRef::Null => Ok(SqlValue::Null),
        ValueRef::Integer(n) => Ok(SqlValue::Int(n)),
        ValueRef::Text(bytes) => String::from_utf8(bytes.to_vec())
            .map(SqlValue::Text)
            .map_err(|e| corrupt(format!("text that is not UTF-8 ({e})"))),
        ValueRef::Real(x) => Err(corrupt(format!("unexpected real number {x}"))),
        ValueRef::Blob(_) => Err(corrupt("unexpected blob".to_owned())),
    }
}

/// The SQLite failure behind a [`MetadataStoreError::Backend`] error of this flavor.
fn sqlite_failure(error: &MetadataStoreError) -> Option<&rusqlite::ffi::Error> {
    match error {
        MetadataStoreError::Backend {
            store: STORE,
            source,
        } => match source.downcast_ref::<SqliteError>() {
            Some(SqliteError(rusqlite::Error::SqliteFailure(failure, _))) => Some(failure),
            _ => None,
        },
        _ => None,
    }
}

/// Whether `error` is SQLite's "database is busy" or "database is locked".
fn is_busy(error: &MetadataStoreError) -> bool {
    sqlite_failure(error)
        .is_some_and(|e| matches!(e.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked))
}

/// `pause` plus up to as much again, at random.
fn with_jitter(pause: Duration) -> Duration {
    let noise = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let limit = u32::try_from(pause.as_micros()).unwrap_or(u32::MAX).max(1);
    pause + Duration::from_micros(u64::from(noise % limit))
}

fn sqlite_uri(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

fn backend(source: rusqlite::Error) -> MetadataStoreError {
    MetadataStoreError::Backend {
        store: STORE,
        source: Box::new(SqliteError(source)),
    }
}

/// A rusqlite error as this flavor reports it. SQLite's own message says what its result
/// code says, so a failure that has a message does not also give the code as its source:
/// error chains would print the same words twice (`…readonly database: Error code 8:
/// attempt to write a readonly database`).
#[derive(Debug)]
struct SqliteError(rusqlite::Error);

impl std::fmt::Display for SqliteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SqliteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0 {
            rusqlite::Error::SqliteFailure(_, Some(_)) => None,
            other => other.source(),
        }
    }
}

mod dialect;
mod migrate;
#[cfg(test)]
mod tests;

pub use dialect::SqliteDialect;
use migrate::{enable_wal, migrate};
