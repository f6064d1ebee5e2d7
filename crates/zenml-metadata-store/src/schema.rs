//! The relational schema shared by the SQL flavors (`sqlite` in this crate, `mysql` in
//! `zenml-mysql`).
//!
//! The schema is the ordered list [`MIGRATIONS`]; [`SCHEMA_VERSION`] is the version of the
//! last one. Every SQL flavor opens its database the same way:
//!
//! 1. Read the recorded version: 0 when [`Dialect::table_exists_sql`] says that
//!    [`MIGRATIONS_TABLE`] does not exist, otherwise the result of [`CURRENT_VERSION_SQL`].
//! 2. Ask [`pending`] for the migrations to apply; it refuses a database newer than this
//!    program ([`MetadataStoreError::SchemaTooNew`]).
//! 3. Apply each pending migration in its own transaction, taking the database's write lock
//!    first and re-reading the version inside it (another process may have migrated in the
//!    meantime), then record it with [`RECORD_MIGRATION_SQL`].
//!
//! # Writing migrations
//!
//! - The SQL must be accepted by SQLite 3.35+, MySQL 5.7+ and MariaDB 10.6+. The few
//!   fragments that differ between them live in [`Dialect`], nowhere else.
//! - Statements are separated by `;`; a `;` inside a string literal is not supported.
//! - Values are never spliced into SQL: migrations are constant text, and queries use `?`
//!   parameters, which both SQLite and MySQL accept.
//! - A released migration is never edited; change the schema by appending one.
//! - MySQL and MariaDB commit DDL statements implicitly, so there a migration is not atomic.
//!   Write each statement so that running it again after a partial failure is harmless
//!   (`CREATE TABLE IF NOT EXISTS`, `CREATE INDEX` after the table, …).

use std::time::{SystemTime, UNIX_EPOCH};

use crate::MetadataStoreError;

/// One step of the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// The schema version this migration produces; versions are 1, 2, 3, … in order.
    pub version: u32,
    /// What it does, recorded in [`MIGRATIONS_TABLE`]; at most 255 characters.
    pub description: &'static str,
    /// The SQL: one or more statements separated by `;`.
    pub sql: &'static str,
}

impl Migration {
    /// The migration's statements, without their separators and surrounding whitespace.
    pub fn statements(&self) -> impl Iterator<Item = &'static str> {
        self.sql.split(';').map(str::trim).filter(|s| !s.is_empty())
    }
}

/// The table that records which migrations a database has had.
pub const MIGRATIONS_TABLE: &str = "zenml_schema_migrations";

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    description: "schema bookkeeping",
    sql: "CREATE TABLE IF NOT EXISTS zenml_schema_migrations (
              version INTEGER PRIMARY KEY,
              description VARCHAR(255) NOT NULL,
              applied_at VARCHAR(40) NOT NULL
          )",
}];

/// The schema version this program writes: the version of the last migration.
pub const SCHEMA_VERSION: u32 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// Reads the recorded version (0 when no migration was recorded) as one integer column.
pub const CURRENT_VERSION_SQL: &str =
    "SELECT COALESCE(MAX(version), 0) FROM zenml_schema_migrations";

/// Records an applied migration; parameters: version, description, applied-at timestamp
/// ([`timestamp_now`]).
pub const RECORD_MIGRATION_SQL: &str =
    "INSERT INTO zenml_schema_migrations (version, description, applied_at) VALUES (?, ?, ?)";

/// The SQL dialects of the SQL flavors. Every difference between them is a method here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Dialect {
    /// SQLite 3.35 or later.
    Sqlite,
    /// MySQL 5.7 or later, or MariaDB 10.6 or later.
    Mysql,
}

impl Dialect {
    /// A query with one `?` parameter, a table name, that returns one integer column: 1 when
    /// the current database has that table, 0 otherwise.
    pub fn table_exists_sql(self) -> &'static str {
        match self {
            Dialect::Sqlite => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
            }
            Dialect::Mysql => {
                "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_name = ?"
            }
        }
    }
}

/// The migrations a database at version `found` still needs, or
/// [`MetadataStoreError::SchemaTooNew`] when it is newer than [`SCHEMA_VERSION`].
pub fn pending(found: u32) -> Result<&'static [Migration], MetadataStoreError> {
    if found > SCHEMA_VERSION {
        return Err(MetadataStoreError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    let applied = MIGRATIONS.partition_point(|m| m.version <= found);
    Ok(&MIGRATIONS[applied..])
}

/// Checks a version read from the database, as an integer column, of flavor `store`.
pub fn recorded_version(raw: i64, store: &'static str) -> Result<u32, MetadataStoreError> {
    u32::try_from(raw).map_err(|_| MetadataStoreError::Backend {
        store,
        source: format!("the database records an invalid schema version {raw}").into(),
    })
}

/// The current time in UTC as RFC 3339 text with second precision, e.g.
/// `2025-01-31T14:05:09Z`: how timestamps are stored, identical in every dialect.
pub fn timestamp_now() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format_timestamp(seconds)
}

/// Formats seconds since the Unix epoch as RFC 3339 UTC text.
fn format_timestamp(seconds: u64) -> String {
    let days = seconds / 86_400;
    let rest = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for non-negative counts).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_and_well_formed() {
        for (i, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version as usize, i + 1, "{migration:?}");
            assert!(!migration.description.is_empty() && migration.description.len() <= 255);
            assert!(migration.statements().count() > 0, "{migration:?}");
        }
        assert_eq!(SCHEMA_VERSION as usize, MIGRATIONS.len());
        assert!(MIGRATIONS[0].sql.contains(MIGRATIONS_TABLE));
    }

    #[test]
    fn pending_skips_applied_migrations_and_refuses_newer_databases() {
        assert_eq!(pending(0).unwrap(), MIGRATIONS);
        assert!(pending(SCHEMA_VERSION).unwrap().is_empty());
        let err = pending(SCHEMA_VERSION + 1).unwrap_err();
        assert!(matches!(
            err,
            MetadataStoreError::SchemaTooNew { found, supported }
                if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION
        ));
        assert!(err.to_string().contains("upgrade zenml"), "{err}");
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_timestamp(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_timestamp(1_738_332_309), "2025-01-31T14:05:09Z");
        assert_eq!(timestamp_now().len(), 20);
    }

    #[test]
    fn recorded_versions_must_fit() {
        assert_eq!(recorded_version(3, "sqlite").unwrap(), 3);
        assert!(recorded_version(-1, "sqlite").is_err());
    }
}
