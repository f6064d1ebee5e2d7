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

/// Applies the pending migrations with the shared runner: each in its own
/// `BEGIN IMMEDIATE` transaction, which is SQLite's database-wide write lock.
pub(super) fn migrate(connection: &mut Connection) -> Result<(), MetadataStoreError> {
    sql::migrate(&mut Session(connection), STORE, "")
}
