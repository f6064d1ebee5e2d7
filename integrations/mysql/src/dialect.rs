//! MySQL's and MariaDB's dialect.

use zenml_metadata_store::MetadataStoreError;
use zenml_metadata_store::schema;
use zenml_metadata_store::sql::{Dialect, MigrationLock};

use crate::store::server_error_code;

/// The server's error for an `ALTER TABLE … ADD COLUMN` whose column exists.
const ER_DUP_FIELDNAME: u16 = 1060;

/// The server's error for a `CREATE INDEX` whose index exists.
const ER_DUP_KEYNAME: u16 = 1061;

/// MySQL 5.7 or later, or MariaDB 10.6 or later: `?` parameters, `LONGTEXT`, InnoDB tables
/// with the binary collation, `ON DUPLICATE KEY` upserts, and a server-wide named lock
/// around migrations, whose DDL commits implicitly.
#[derive(Debug, Clone, Copy, Default)]
pub struct MysqlDialect;

impl Dialect for MysqlDialect {
    fn name(&self) -> &'static str {
        "mysql"
    }

    fn table_exists_sql(&self) -> &'static str {
        "SELECT COUNT(*) FROM information_schema.tables \
         WHERE table_schema = DATABASE() AND table_name = ?"
    }

    /// InnoDB, whatever the server's default engine, since other engines ignore foreign
    /// keys and transactions; and the binary collation, whatever the database's default, so
    /// that names compare and sort byte for byte as in SQLite (`Run` and `run` are two
    /// names).
    fn table_options(&self) -> &'static str {
        "ENGINE = InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
    }

    /// Not `INSERT IGNORE`, which would also turn other errors into warnings.
    fn insert_pipeline_if_absent_sql(&self) -> &'static str {
        "INSERT INTO pipelines (id, name, created_at) VALUES (?, ?, ?) \
         ON DUPLICATE KEY UPDATE id = id"
    }

    /// `VALUES(column)` is deprecated in MySQL 8.0.20+ but still accepted, and it is the
    /// only form that MySQL 5.7 and MariaDB accept.
    fn upsert_metadata_sql(&self) -> &'static str {
        "INSERT INTO run_metadata (resource_type, resource_id, meta_key, value, created_at) \
         VALUES (?, ?, ?, ?, ?) \
         ON DUPLICATE KEY UPDATE value = VALUES(value), created_at = VALUES(created_at)"
    }

    /// An update of the key's first column to itself: MySQL counts no changed row for it
    /// (the connection does not ask for found rows), so the statement counts 0 when the
    /// row existed. `INSERT IGNORE` would also silence other errors.
    fn on_conflict_do_nothing(&self, key: &str) -> String {
        let first = key.split(',').next().unwrap_or(key).trim();
        format!(" ON DUPLICATE KEY UPDATE {first} = {first}")
    }

    fn begin_write_sql(&self) -> &'static str {
        "START TRANSACTION"
    }

    fn migration_lock(&self) -> Option<MigrationLock> {
        Some(MigrationLock {
            acquire: "SELECT GET_LOCK(?, ?)",
            release: "SELECT RELEASE_LOCK(?)",
        })
    }

    /// DDL commits at once here: an index or a column made by an earlier, interrupted
    /// attempt at this migration is done. MySQL 5.7 and 8 know no `CREATE INDEX IF NOT
    /// EXISTS` and no `ADD COLUMN IF NOT EXISTS`.
    fn already_applied(&self, statement: &str, error: &MetadataStoreError) -> bool {
        match server_error_code(error) {
            Some(ER_DUP_KEYNAME) => schema::is_create_index(statement),
            Some(ER_DUP_FIELDNAME) => schema::is_add_column(statement),
            _ => false,
        }
    }
}
