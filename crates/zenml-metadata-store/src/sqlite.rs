//! The `sqlite` flavor: metadata in a database file on this machine.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use zenml_core::{ComponentContext, ConfigError, ConfigFields, ValidateConfig, flavor};

use crate::schema::{self, CURRENT_VERSION_SQL, Dialect, MIGRATIONS_TABLE, RECORD_MIGRATION_SQL};
use crate::{MetadataStore, MetadataStoreError, MetadataStoreFlavor};

/// The flavor's name in errors.
const STORE: &str = "sqlite";

/// The longest busy timeout SQLite accepts: a C `int` of milliseconds (about 24 days).
const MAX_BUSY_TIMEOUT_MS: u64 = i32::MAX as u64;

/// The longest pause between two attempts to switch to WAL mode.
const MAX_WAL_RETRY_PAUSE: Duration = Duration::from_millis(50);

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
/// keys enforced. Writers from several processes take turns: each waits up to the busy
/// timeout for the others. The store keeps one connection, used by one thread at a time.
#[derive(Debug)]
pub struct SqliteMetadataStore {
    path: PathBuf,
    connection: Mutex<Connection>,
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
        let mut connection = Connection::open(&path).map_err(connect_err)?;
        connection
            .busy_timeout(busy_timeout.min(Duration::from_millis(MAX_BUSY_TIMEOUT_MS)))
            .map_err(connect_err)?;
        enable_wal(&connection, busy_timeout).map_err(connect_err)?;
        connection
            .pragma_update(None, "foreign_keys", true)
            .map_err(connect_err)?;
        migrate(&mut connection)?;
        Ok(SqliteMetadataStore {
            path,
            connection: Mutex::new(connection),
        })
    }

    /// The absolute path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl MetadataStore for SqliteMetadataStore {
    fn uri(&self) -> String {
        sqlite_uri(&self.path)
    }

    fn schema_version(&self) -> Result<u32, MetadataStoreError> {
        // A panic elsewhere cannot leave the connection inconsistent: SQLite rolls back any
        // transaction that was not committed.
        let connection = self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        current_version(&connection)
    }
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
        for statement in migration.statements() {
            transaction.execute_batch(statement).map_err(failed)?;
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
