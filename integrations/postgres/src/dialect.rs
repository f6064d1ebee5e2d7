//! PostgreSQL's dialect.

use std::borrow::Cow;

use zenml_metadata_store::sql::{Dialect, MigrationLock};

/// PostgreSQL 11 or later: numbered `$n` parameters, `TEXT` (unlimited) for long text,
/// `ON CONFLICT` upserts, transactional DDL (a migration is atomic), and a session-level
/// advisory lock around migrations, since two concurrent `CREATE TABLE IF NOT EXISTS` of
/// one table can still collide in the catalog.
#[derive(Debug, Clone, Copy, Default)]
pub struct PostgresDialect;

impl Dialect for PostgresDialect {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn placeholder(&self, index: usize) -> Cow<'static, str> {
        Cow::Owned(format!("${index}"))
    }

    fn long_text_type(&self) -> &'static str {
        "TEXT"
    }

    /// In the schema the connection's `search_path` resolves to first: `public`, or the
    /// configured `schema`. From the catalog itself: `information_schema.tables` is a view
    /// whose planning costs a fresh server process milliseconds, on every opening.
    fn table_exists_sql(&self) -> &'static str {
        "SELECT COUNT(*) FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = current_schema() AND c.relname = ? AND c.relkind IN ('r', 'p')"
    }

    fn insert_pipeline_if_absent_sql(&self) -> &'static str {
        "INSERT INTO pipelines (id, name, created_at) VALUES (?, ?, ?) \
         ON CONFLICT (name) DO NOTHING"
    }

    fn upsert_metadata_sql(&self) -> &'static str {
        "INSERT INTO run_metadata (resource_type, resource_id, meta_key, value, created_at) \
         VALUES (?, ?, ?, ?, ?) \
         ON CONFLICT (resource_type, resource_id, meta_key) \
         DO UPDATE SET value = EXCLUDED.value, created_at = EXCLUDED.created_at"
    }

    /// An advisory lock keyed by a 64-bit hash of the name, waited for at most the timeout:
    /// the session's `lock_timeout` is set first (the lateral subquery that takes the lock
    /// runs after the row whose key it uses), and a wait that times out fails with SQLSTATE `55P03`. Releasing resets
    /// the timeout to none.
    fn migration_lock(&self) -> Option<MigrationLock> {
        Some(MigrationLock {
            acquire: "SELECT 1 FROM \
                (SELECT hashtextextended(?, 0) AS key, \
                        set_config('lock_timeout', (CAST(? AS BIGINT) * 1000)::text, false) \
                        AS timeout) AS configured, \
                LATERAL (SELECT pg_advisory_lock(configured.key)) AS taken",
            release: "SELECT pg_advisory_unlock(hashtextextended(?, 0)), \
                set_config('lock_timeout', '0', false)",
        })
    }
}
