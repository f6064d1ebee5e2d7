//! The `sqlite` flavor: metadata in a database file on this machine.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior, params, params_from_iter};
use serde::{Deserialize, Serialize};
use zenml_core::{ComponentContext, ConfigError, ConfigFields, ValidateConfig, flavor};

use crate::schema::{self, CURRENT_VERSION_SQL, Dialect, MIGRATIONS_TABLE, RECORD_MIGRATION_SQL};
use crate::sql::{self, SqlConnection, SqlValue};
use crate::{
    MetadataStore, MetadataStoreError, MetadataStoreFlavor, NewRun, RunRecord, StepRunWrite,
};

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
            source: Box::new(source),
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
            source: Box::new(source),
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

    /// Runs `body` in a `BEGIN IMMEDIATE` transaction and commits it; see [`Self::retry`].
    fn write<T>(
        &self,
        mut body: impl FnMut(&mut dyn SqlConnection) -> Result<T, MetadataStoreError>,
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

impl MetadataStore for SqliteMetadataStore {
    fn uri(&self) -> String {
        sqlite_uri(&self.path)
    }

    fn schema_version(&self) -> Result<u32, MetadataStoreError> {
        current_version(&self.lock())
    }

    fn create_run(&self, run: &NewRun) -> Result<RunRecord, MetadataStoreError> {
        self.write(|conn| sql::create_run(conn, run))
    }

    fn record_step_run(&self, write: &StepRunWrite) -> Result<(), MetadataStoreError> {
        self.write(|conn| sql::record_step_run(conn, write))
    }

    crate::forward_sql_operations!();
}

/// A connection (or a transaction on it) lent to the shared queries of [`crate::sql`].
struct Session<'c>(&'c Connection);

impl SqlConnection for Session<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, MetadataStoreError> {
        let mut statement = self.0.prepare_cached(sql).map_err(backend)?;
        let changed = statement
            .execute(params_from_iter(params))
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
        let mut rows = statement.query(params_from_iter(params)).map_err(backend)?;
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

impl ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
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
        } => match source.downcast_ref::<rusqlite::Error>() {
            Some(rusqlite::Error::SqliteFailure(failure, _)) => Some(failure),
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
        source: Box::new(source),
    }
}

/// Switches the database to WAL mode, which lets readers go on while a process writes.
///
/// The switch needs an exclusive lock, and SQLite does not wait for that one through the busy
/// handler (waiting could deadlock), so it is retried here until `busy_timeout` has passed.
/// Where WAL is impossible (some network file systems) SQLite keeps its rollback journal,
/// which is slower but safe, so the mode it reports back is not checked.
fn enable_wal(connection: &Connection, busy_timeout: Duration) -> rusqlite::Result<()> {
    let deadline = Instant::now().checked_add(busy_timeout);
    let mut pause = Duration::from_millis(1);
    loop {
        match connection
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))
        {
            Ok(_mode) => return Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == ErrorCode::DatabaseBusy
                    && deadline.is_none_or(|d| Instant::now() < d) =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(MAX_WAL_RETRY_PAUSE);
            }
            Err(e) => return Err(e),
        }
    }
}

/// The version recorded in the database, 0 for a new one.
fn current_version(connection: &Connection) -> Result<u32, MetadataStoreError> {
    let exists: i64 = connection
        .query_row(
            Dialect::Sqlite.table_exists_sql(),
            [MIGRATIONS_TABLE],
            |row| row.get(0),
        )
        .map_err(backend)?;
    if exists == 0 {
        return Ok(0);
    }
    let raw: i64 = connection
        .query_row(CURRENT_VERSION_SQL, [], |row| row.get(0))
        .map_err(backend)?;
    schema::recorded_version(raw, STORE)
}

/// Applies the pending migrations, each in its own `BEGIN IMMEDIATE` transaction.
fn migrate(connection: &mut Connection) -> Result<(), MetadataStoreError> {
    // This first read takes no lock, so a newer database is refused without waiting.
    let pending = schema::pending(current_version(connection)?)?;
    for migration in pending {
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        // Holding the write lock now, read again: another process may have migrated while
        // this one waited. Dropping the transaction rolls it back.
        let found = current_version(&transaction)?;
        schema::pending(found)?;
        if found >= migration.version {
            continue;
        }
        let failed = |e: rusqlite::Error| MetadataStoreError::Migration {
            version: migration.version,
            message: format!("{}: {e}", migration.description),
        };
        for statement in migration.statements_in(Dialect::Sqlite) {
            transaction.execute_batch(&statement).map_err(failed)?;
        }
        transaction
            .execute(
                RECORD_MIGRATION_SQL,
                params![
                    migration.version,
                    migration.description,
                    schema::timestamp_now()
                ],
            )
            .map_err(failed)?;
        transaction.commit().map_err(failed)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use zenml_core::{ComponentKind, FlavorRegistry};

    use super::*;
    use crate::schema::{MIGRATIONS, SCHEMA_VERSION};
    use crate::{CacheFilter, StepStatus};

    const TIMEOUT: Duration = Duration::from_secs(10);

    fn recorded_migrations(path: &Path) -> i64 {
        Connection::open(path)
            .unwrap()
            .query_row("SELECT COUNT(*) FROM zenml_schema_migrations", [], |row| {
                row.get(0)
            })
            .unwrap()
    }

    #[test]
    fn open_creates_the_file_and_the_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/folder/metadata.db");
        let store = SqliteMetadataStore::open(&path, TIMEOUT).unwrap();
        assert!(path.is_file());
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(recorded_migrations(&path), MIGRATIONS.len() as i64);
        let applied_at: String = Connection::open(&path)
            .unwrap()
            .query_row(
                "SELECT applied_at FROM zenml_schema_migrations WHERE version = 1",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert!(applied_at.ends_with('Z'), "{applied_at}");
    }

    #[test]
    fn reopening_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metadata.db");
        let first = SqliteMetadataStore::open(&path, TIMEOUT).unwrap();
        let second = SqliteMetadataStore::open(&path, TIMEOUT).unwrap();
        drop(first);
        let third = SqliteMetadataStore::open(&path, TIMEOUT).unwrap();
        assert_eq!(second.uri(), third.uri());
        assert_eq!(third.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(recorded_migrations(&path), MIGRATIONS.len() as i64);
    }

    #[test]
    fn concurrent_first_opens_migrate_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metadata.db");
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| SqliteMetadataStore::open(&path, TIMEOUT)))
                .collect();
            for handle in handles {
                assert_eq!(
                    handle.join().unwrap().unwrap().schema_version().unwrap(),
                    SCHEMA_VERSION
                );
            }
        });
        assert_eq!(recorded_migrations(&path), MIGRATIONS.len() as i64);
    }

    #[test]
    fn a_newer_database_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metadata.db");
        drop(SqliteMetadataStore::open(&path, TIMEOUT).unwrap());
        Connection::open(&path)
            .unwrap()
            .execute(
                RECORD_MIGRATION_SQL,
                params![
                    SCHEMA_VERSION + 1,
                    "from the future",
                    "2999-01-01T00:00:00Z"
                ],
            )
            .unwrap();
        let err = SqliteMetadataStore::open(&path, TIMEOUT).unwrap_err();
        assert!(
            matches!(
                err,
                MetadataStoreError::SchemaTooNew { found, supported }
                    if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("upgrade zenml"), "{err}");
        assert_eq!(recorded_migrations(&path), MIGRATIONS.len() as i64 + 1);
    }

    fn sqlite_error(code: std::ffi::c_int) -> MetadataStoreError {
        backend(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(code),
            None,
        ))
    }

    #[test]
    fn busy_and_locked_transactions_are_retried_within_the_busy_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteMetadataStore::open(&dir.path().join("m.db"), TIMEOUT).unwrap();
        for code in [rusqlite::ffi::SQLITE_BUSY, rusqlite::ffi::SQLITE_LOCKED] {
            let mut attempts = 0;
            let result = store.retry(|| {
                attempts += 1;
                if attempts < 3 {
                    Err(sqlite_error(code))
                } else {
                    Ok(attempts)
                }
            });
            assert_eq!(result.unwrap(), 3);
        }

        let mut attempts = 0;
        let err = store
            .retry(|| -> Result<(), _> {
                attempts += 1;
                Err(sqlite_error(rusqlite::ffi::SQLITE_BUSY))
            })
            .unwrap_err();
        assert_eq!(attempts, MAX_ATTEMPTS);
        assert!(is_busy(&err));

        let mut attempts = 0;
        store
            .retry(|| -> Result<(), _> {
                attempts += 1;
                Err(sqlite_error(rusqlite::ffi::SQLITE_CONSTRAINT))
            })
            .unwrap_err();
        assert_eq!(attempts, 1, "other errors are not retried");

        // With no busy timeout left, a busy database is reported at once.
        let impatient =
            SqliteMetadataStore::open(&dir.path().join("m.db"), Duration::ZERO).unwrap();
        let mut attempts = 0;
        impatient
            .retry(|| -> Result<(), _> {
                attempts += 1;
                Err(sqlite_error(rusqlite::ffi::SQLITE_BUSY))
            })
            .unwrap_err();
        assert_eq!(attempts, 1);
    }

    #[test]
    fn reads_go_on_while_a_write_transaction_of_this_store_is_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteMetadataStore::open(&dir.path().join("m.db"), TIMEOUT).unwrap();
        let (started, write_started) = std::sync::mpsc::channel();
        let (finish, may_finish) = std::sync::mpsc::channel::<()>();
        let (read, read_done) = std::sync::mpsc::channel();
        std::thread::scope(|scope| {
            let store = &store;
            let writer = scope.spawn(move || {
                store.write(|_conn| {
                    let _ = started.send(());
                    let _ = may_finish.recv();
                    Ok(())
                })
            });
            write_started.recv().unwrap();
            scope.spawn(move || {
                let _ = read.send(store.list_pipelines().map(|p| p.len()));
            });
            // The read answers while the write transaction is still open.
            let listed = read_done
                .recv_timeout(Duration::from_secs(120))
                .expect("the read waited for the write transaction");
            assert_eq!(listed.unwrap(), 0);
            finish.send(()).unwrap();
            writer.join().unwrap().unwrap();
        });
        // Read connections are kept for reuse, read-only.
        let reader = store.reader().unwrap();
        assert!(reader.execute_batch("CREATE TABLE t (a)").is_err());
    }

    #[test]
    fn a_deleted_or_replaced_database_file_fails_writes_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let store = SqliteMetadataStore::open(&path, TIMEOUT).unwrap();
        store.write(|_| Ok(())).unwrap();
        fs::remove_file(&path).unwrap();
        let err = store.write(|_| Ok(())).unwrap_err();
        assert!(
            err.to_string().contains("deleted or replaced while in use")
                && err.to_string().contains("m.db"),
            "{err}"
        );
        // Another database at the same path is not this store's either.
        drop(SqliteMetadataStore::open(&path, TIMEOUT).unwrap());
        let err = store.write(|_| Ok(())).unwrap_err();
        assert!(
            err.to_string().contains("another file is at its path"),
            "{err}"
        );
    }

    #[test]
    fn wal_mode_and_foreign_keys_are_on() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteMetadataStore::open(&dir.path().join("m.db"), TIMEOUT).unwrap();
        let connection = store.connection.lock().unwrap();
        let mode: String = connection
            .pragma_query_value(None, "journal_mode", |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let foreign_keys: bool = connection
            .pragma_query_value(None, "foreign_keys", |row| row.get(0))
            .unwrap();
        assert!(foreign_keys);
    }

    #[test]
    fn a_file_that_is_not_a_database_is_reported_with_its_uri() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        fs::write(
            &path,
            "not a database, but long enough to have a header ".repeat(4),
        )
        .unwrap();
        let err = SqliteMetadataStore::open(&path, TIMEOUT).unwrap_err();
        assert!(matches!(err, MetadataStoreError::Connect { .. }), "{err:?}");
        assert!(err.to_string().contains("notes.txt"), "{err}");
    }

    #[test]
    fn config_resolves_relative_paths_against_the_repository_root() {
        let dir = tempfile::tempdir().unwrap();
        let config = SqliteMetadataStoreConfig {
            path: ".zen/metadata.db".into(),
            busy_timeout_ms: default_busy_timeout_ms(),
        };
        let store = config.open(&ComponentContext::new(dir.path())).unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        assert_eq!(
            store.uri(),
            format!("sqlite://{}", root.join(".zen/metadata.db").display())
        );
        assert!(root.join(".zen/metadata.db").is_file());
    }

    #[test]
    fn config_rejects_empty_paths_uris_and_huge_timeouts() {
        let config = |path: &str, busy_timeout_ms| SqliteMetadataStoreConfig {
            path: path.into(),
            busy_timeout_ms,
        };
        assert!(config(" ", 1).validate().is_err());
        let err = config("mysql://root@db/zenml", 1).validate().unwrap_err();
        assert!(
            err.to_string().contains("`mysql` metadata store flavor"),
            "{err}"
        );
        assert!(config("sqlite:///x.db", 1).validate().is_err());
        assert!(config("x.db", u64::MAX).validate().is_err());
        assert!(config("x.db", 60_000).validate().is_ok());
        let err = config("", 1)
            .open(&ComponentContext::new("/nonexistent"))
            .unwrap_err();
        assert!(matches!(err, MetadataStoreError::Config(_)), "{err:?}");
    }

    /// The plan SQLite chooses for `sql` (its parameters unbound), one line per step.
    fn query_plan(connection: &Connection, sql: &str) -> Vec<String> {
        let mut statement = connection
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        let nulls = vec![SqlValue::Null; statement.parameter_count()];
        statement
            .query_map(params_from_iter(&nulls), |row| row.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// Asserts that `sql` reads `step_runs`, `artifacts` and the link tables through indexes
    /// only: every table access is a `SEARCH`, none a `SCAN`.
    fn assert_indexed(connection: &Connection, name: &str, sql: &str) -> Vec<String> {
        let plan = query_plan(connection, sql);
        assert!(
            plan.iter().any(|line| line.starts_with("SEARCH")),
            "{name} searches no index: {plan:#?}"
        );
        assert!(
            !plan.iter().any(|line| line.starts_with("SCAN")),
            "{name} scans a whole table: {plan:#?}"
        );
        plan
    }

    #[test]
    fn lookups_among_100_000_step_runs_use_indexes() {
        const RUNS: usize = 1_000;
        const STEPS: usize = 100;
        /// Each cache key is shared by the step of every `KEY_PERIOD`th run.
        const KEY_PERIOD: usize = 50;

        /// The ids: kind (1 run, 2 step run, 3 artifact), run and step, as a UUID; in SQL
        /// `printf` form here, and in Rust by `id` below.
        const ID: &str = "%08x-%04x-4000-8000-%012x";

        let dir = tempfile::tempdir().unwrap();
        let store = SqliteMetadataStore::open(&dir.path().join("m.db"), TIMEOUT).unwrap();
        let id = |kind: u32, run: usize, step: usize| {
            format!("{kind:08x}-{run:04x}-4000-8000-{step:012x}")
        };
        let key = |run: usize, step: usize| format!("key-{step}-{}", run % KEY_PERIOD);
        // Chains of STEPS steps, each consuming the previous step's output; in every seventh
        // run the first step is cached, reusing the first output of the run before, whose
        // consumers are then in two runs. Generated inside SQLite, in one transaction: the
        // rows are those `record_step_run` writes, made much faster than by 100,000 calls.
        let pipeline = id(0, 0, 0);
        let run_id = format!("printf('{ID}', 1, run, 0)");
        let step_run_id = format!("printf('{ID}', 2, run, step)");
        let artifact_id = format!("printf('{ID}', 3, run, step)");
        let previous_first_step_run_id = format!("printf('{ID}', 2, run - 1, 0)");
        let previous_first_artifact_id = format!("printf('{ID}', 3, run - 1, 0)");
        let started = Instant::now();
        store
            .lock()
            .execute_batch(&format!(
                "BEGIN IMMEDIATE;
                 INSERT INTO pipelines (id, name, created_at)
                     VALUES ('{pipeline}', 'chain', 0);
                 WITH RECURSIVE n(run) AS
                     (SELECT 0 UNION ALL SELECT run + 1 FROM n WHERE run < {RUNS} - 1)
                 INSERT INTO pipeline_runs
                     (id, pipeline_id, name, status, started_at, ended_at, config, stack, error)
                 SELECT {run_id}, '{pipeline}', 'chain-' || run, 'completed', run * 1000000,
                        run * 1000000 + 999999, '{{}}', '{{}}', NULL FROM n;
                 CREATE TEMP TABLE shape AS
                 WITH RECURSIVE n(i) AS
                     (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {RUNS} * {STEPS} - 1)
                 SELECT i / {STEPS} AS run, i % {STEPS} AS step,
                        (i % {STEPS} = 0 AND (i / {STEPS}) % 7 = 1) AS cached FROM n;
                 INSERT INTO step_runs
                     (id, run_id, name, status, started_at, ended_at, code_hash, cache_key,
                      parameters, error, original_step_run_id)
                 SELECT {step_run_id}, {run_id}, 'step-' || step,
                        CASE WHEN cached THEN 'cached' ELSE 'completed' END,
                        run * 1000000 + step * 10, run * 1000000 + step * 10 + 5, 'hash',
                        'key-' || step || '-' || (run % {KEY_PERIOD}), '{{}}', NULL,
                        CASE WHEN cached THEN {previous_first_step_run_id} END
                 FROM shape;
                 INSERT INTO artifacts
                     (id, uri, artifact_store_uri, path, rust_type, materializer_id,
                      materializer_version, content_hash, size, producer_step_run_id,
                      output_name, created_at)
                 SELECT {artifact_id}, 'file:///a/' || {artifact_id}, 'file:///a',
                        {artifact_id}, 'u64', 'zenml.json', 1, 'h', 8, {step_run_id}, 'out',
                        run * 1000000 + step * 10 + 5
                 FROM shape WHERE NOT cached;
                 INSERT INTO step_run_outputs (step_run_id, output_name, artifact_id)
                 SELECT {step_run_id}, 'out',
                        CASE WHEN cached THEN {previous_first_artifact_id} ELSE {artifact_id} END
                 FROM shape;
                 INSERT INTO step_run_inputs (step_run_id, input_name, artifact_id)
                 SELECT {step_run_id}, 'in', CASE
                            WHEN step = 1 AND run % 7 = 1 THEN {previous_first_artifact_id}
                            ELSE printf('{ID}', 3, run, step - 1) END
                 FROM shape WHERE step > 0;
                 DROP TABLE shape;
                 COMMIT;",
            ))
            .unwrap();
        eprintln!(
            "recorded {} step runs in {:?}",
            RUNS * STEPS,
            started.elapsed()
        );
        let count = |table: &str| -> i64 {
            store
                .lock()
                .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| {
                    row.get(0)
                })
                .unwrap()
        };
        assert_eq!(count("step_runs"), 100_000);
        assert_eq!(count("step_run_outputs"), 100_000);
        assert_eq!(count("step_run_inputs"), 99_000);

        // The answers.
        let candidates = store.cache_candidates(&key(7, 3), 4).unwrap();
        let expected: Vec<String> = [957, 907, 857, 807]
            .iter()
            .map(|&run| id(2, run, 3))
            .collect();
        assert_eq!(
            candidates.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
            expected
        );
        // Step 0 of run 701 is cached: not a candidate.
        let candidates = store.cache_candidates(&key(1, 0), 6).unwrap();
        let expected: Vec<String> = [951, 901, 851, 801, 751, 651]
            .iter()
            .map(|&run| id(2, run, 0))
            .collect();
        assert_eq!(
            candidates.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
            expected
        );
        assert!(
            candidates
                .iter()
                .all(|s| s.cache_key.as_deref() == Some(key(1, 0).as_str())
                    && s.status == StepStatus::Completed)
        );
        assert_eq!(store.get_step_run(&id(2, 500, 42)).unwrap().name, "step-42");
        let inputs = store.step_inputs(&id(2, 500, 42)).unwrap();
        assert_eq!(inputs.len(), 1);
        assert_eq!(inputs[0].1.id, id(3, 500, 41));
        let consumers = store.artifact_consumers(&id(3, 504, 0)).unwrap();
        let consumer_ids: Vec<String> = consumers.into_iter().map(|(_, s)| s.id).collect();
        assert_eq!(
            consumer_ids,
            [id(2, 504, 1), id(2, 505, 1)],
            "in its run and the next"
        );
        let cached = store.get_step_run(&id(2, 505, 0)).unwrap();
        assert_eq!(cached.status, StepStatus::Cached);
        assert_eq!(cached.original_step_run_id, Some(id(2, 504, 0)));
        assert_eq!(
            store.step_outputs(&cached.id).unwrap()[0].1.id,
            id(3, 504, 0)
        );

        // The plans: the shared query texts, as the store runs them.
        let connection = store.lock();
        let plan = assert_indexed(&connection, "cache_candidates", sql::CACHE_CANDIDATES);
        assert!(
            plan.iter()
                .any(|line| line.contains("ix_step_runs_cache_lookup")),
            "cache_candidates does not use its index: {plan:#?}"
        );
        assert_indexed(&connection, "get_step_run", sql::SELECT_STEP_RUN);
        assert_indexed(&connection, "step_inputs", sql::SELECT_STEP_INPUTS);
        assert_indexed(&connection, "step_outputs", sql::SELECT_STEP_OUTPUTS);
        assert_indexed(&connection, "step_runs", sql::LIST_STEP_RUNS);
        // Cache management by step or pipeline reads only the entries it selects.
        for (pipeline, step) in [
            (None, Some("step-3")),
            (Some("chain"), None),
            (Some("chain"), Some("step-3")),
        ] {
            let filter = CacheFilter {
                pipeline: pipeline.map(str::to_owned),
                step: step.map(str::to_owned),
            };
            let entries = sql::cache_entries_sql(&filter).0;
            assert_indexed(&connection, "cache_entries", &entries);
            let invalidate = sql::invalidate_cache_sql(&filter, 0).0;
            assert_indexed(&connection, "invalidate_cache", &invalidate);
        }
        let bulk = sql::step_metadata_bulk_sql(sql::IN_LIST_CHUNK);
        assert_indexed(&connection, "step_metadata_bulk", &bulk);
        let plan = assert_indexed(&connection, "artifact_consumers", sql::ARTIFACT_CONSUMERS);
        assert!(
            plan.iter()
                .any(|line| line.contains("ix_step_run_inputs_artifact")),
            "artifact_consumers does not use its index: {plan:#?}"
        );
    }

    #[test]
    fn the_flavor_is_registered_and_its_example_is_valid() {
        let registry = FlavorRegistry::global().unwrap();
        let description = registry
            .get(ComponentKind::MetadataStore, "sqlite")
            .unwrap();
        description
            .check_table(&description.example_table().unwrap())
            .unwrap();
        assert_eq!(
            description
                .field("busy_timeout_ms")
                .unwrap()
                .default_value(),
            Some("60000".to_owned())
        );
    }
}
