//! SQLite's dialect.

use zenml_metadata_store::sql::Dialect;

/// SQLite 3.35 or later: `?` parameters, `LONGTEXT` (text affinity), `ON CONFLICT` upserts,
/// and `BEGIN IMMEDIATE`, which takes the database-wide write lock at once and so also
/// serializes migrations between processes.
#[derive(Debug, Clone, Copy, Default)]
pub struct SqliteDialect;

impl Dialect for SqliteDialect {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn table_exists_sql(&self) -> &'static str {
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
    }

    fn insert_pipeline_if_absent_sql(&self) -> &'static str {
        "INSERT INTO pipelines (id, name, created_at) VALUES (?, ?, ?) \
         ON CONFLICT (name) DO NOTHING"
    }

    fn upsert_metadata_sql(&self) -> &'static str {
        "INSERT INTO run_metadata (resource_type, resource_id, meta_key, value, created_at) \
         VALUES (?, ?, ?, ?, ?) \
         ON CONFLICT (resource_type, resource_id, meta_key) \
         DO UPDATE SET value = excluded.value, created_at = excluded.created_at"
    }

    fn begin_write_sql(&self) -> &'static str {
        "BEGIN IMMEDIATE"
    }
}
