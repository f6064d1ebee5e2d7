//! The migration runner of every SQL flavor: brings a database to
//! [`SCHEMA_VERSION`](crate::schema::SCHEMA_VERSION) over a [`SqlConnection`], each pending
//! migration exactly once even when several processes open the store at the same time.

use crate::MetadataStoreError;
use crate::schema::{self, CURRENT_VERSION_SQL, MIGRATIONS_TABLE, Migration, RECORD_MIGRATION_SQL};

use super::{SqlConnection, SqlValue};

/// How long a process waits for another one's migration, where the dialect has a
/// [migration lock](super::Dialect::migration_lock).
pub const MIGRATION_LOCK_TIMEOUT_SECS: i64 = 300;

/// The version recorded in the database `conn` is connected to, 0 for a new one.
pub fn current_version(
    conn: &mut dyn SqlConnection,
    store: &'static str,
) -> Result<u32, MetadataStoreError> {
    let dialect = conn.dialect();
    let exists = single_int(conn.query(dialect.table_exists_sql(), &[MIGRATIONS_TABLE.into()])?);
    if exists.unwrap_or(0) == 0 {
        return Ok(0);
    }
    let raw = single_int(conn.query(CURRENT_VERSION_SQL, &[])?);
    schema::recorded_version(raw.unwrap_or(0), store)
}

/// Applies the pending migrations on `conn`, a connection outside any transaction, of the
/// flavor `store`. A database newer than this program is refused, unchanged, before any
/// lock is taken. Each migration runs in a write transaction of its own
/// ([`begin_write_sql`](super::Dialect::begin_write_sql)) that reads the version again
/// first: another process may have migrated while this one waited. Where the dialect has a
/// [migration lock](super::Dialect::migration_lock), named `lock_name`, it is held
/// throughout. After a failed statement the transaction is rolled back and nothing else is
/// run in it.
pub fn migrate(
    conn: &mut dyn SqlConnection,
    store: &'static str,
    lock_name: &str,
) -> Result<(), MetadataStoreError> {
    let pending = schema::pending(current_version(conn, store)?)?;
    if pending.is_empty() {
        return Ok(());
    }
    let Some(lock) = conn.dialect().migration_lock() else {
        return apply(conn, pending, store);
    };
    // Lock names are at most 64 characters in MySQL 5.7.
    let name: String = lock_name.chars().take(64).collect();
    let taken = single_int(conn.query(
        lock.acquire,
        &[name.as_str().into(), MIGRATION_LOCK_TIMEOUT_SECS.into()],
    )?);
    if taken != Some(1) {
        return Err(MetadataStoreError::Backend {
            store,
            source: format!(
                "another process has been migrating the database for \
                 {MIGRATION_LOCK_TIMEOUT_SECS} seconds (lock `{name}`); try again later"
            )
            .into(),
        });
    }
    let result = apply(conn, pending, store);
    let released = conn.query(lock.release, &[name.as_str().into()]).map(drop);
    result.and(released)
}

/// Applies `pending` in order, each in its own write transaction.
fn apply(
    conn: &mut dyn SqlConnection,
    pending: &[Migration],
    store: &'static str,
) -> Result<(), MetadataStoreError> {
    let dialect = conn.dialect();
    for migration in pending {
        let failed = |e: MetadataStoreError| match e {
            MetadataStoreError::Migration { .. } | MetadataStoreError::SchemaTooNew { .. } => e,
            other => MetadataStoreError::Migration {
                version: migration.version,
                message: format!("{}: {other}", migration.description),
            },
        };
        conn.execute(dialect.begin_write_sql(), &[])
            .map_err(failed)?;
        match apply_one(conn, migration, store) {
            Ok(()) => {
                conn.execute("COMMIT", &[]).map_err(failed)?;
            }
            Err(e) => {
                // The failed statement was the last one: only the rollback follows it.
                let _rolled_back = conn.execute("ROLLBACK", &[]);
                return Err(failed(e));
            }
        }
    }
    Ok(())
}

/// Inside a write transaction: applies `migration` unless the database has it already.
fn apply_one(
    conn: &mut dyn SqlConnection,
    migration: &Migration,
    store: &'static str,
) -> Result<(), MetadataStoreError> {
    let dialect = conn.dialect();
    let found = current_version(conn, store)?;
    schema::pending(found)?;
    if found >= migration.version {
        return Ok(());
    }
    for statement in migration.statements_in(dialect) {
        match conn.execute(&statement, &[]) {
            Ok(_) => {}
            Err(e) if dialect.already_applied(&statement, &e) => {}
            Err(e) => return Err(e),
        }
    }
    conn.execute(
        RECORD_MIGRATION_SQL,
        &[
            SqlValue::Int(i64::from(migration.version)),
            migration.description.into(),
            schema::timestamp_now().into(),
        ],
    )?;
    Ok(())
}

/// The integer in the first column of the first row, if any.
fn single_int(rows: Vec<Vec<SqlValue>>) -> Option<i64> {
    match rows.into_iter().next()?.into_iter().next()? {
        SqlValue::Int(n) => Some(n),
        SqlValue::Text(text) => text.trim().parse().ok(),
        SqlValue::Null => None,
    }
}
