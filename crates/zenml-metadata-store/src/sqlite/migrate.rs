//! Opening a database: WAL mode, and the schema brought to the current version.

use super::*;

/// Switches the database to WAL mode, which lets readers go on while a process writes.
///
/// The switch needs an exclusive lock, and SQLite does not wait for that one through the busy
/// handler (waiting could deadlock), so it is retried here until `busy_timeout` has passed.
/// Where WAL is impossible (some network file systems) SQLite keeps its rollback journal,
/// which is slower but safe, so the mode it reports back is not checked.
pub(super) fn enable_wal(connection: &Connection, busy_timeout: Duration) -> rusqlite::Result<()> {
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
pub(super) fn current_version(connection: &Connection) -> Result<u32, MetadataStoreError> {
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
pub(super) fn migrate(connection: &mut Connection) -> Result<(), MetadataStoreError> {
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
