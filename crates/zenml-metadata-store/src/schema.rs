//! The relational schema shared by the SQL flavors (`sqlite` in this crate, `mysql` in
//! `zenml-mysql`).
//!
//! The schema is the ordered list [`MIGRATIONS`]; [`SCHEMA_VERSION`] is the version of the
//! last one. Every SQL flavor opens its database with the one runner,
//! [`crate::sql::migrate`]:
//!
//! 1. Read the recorded version: 0 when [`Dialect::table_exists_sql`] says that
//!    [`MIGRATIONS_TABLE`] does not exist, otherwise the result of [`CURRENT_VERSION_SQL`].
//! 2. Ask [`pending`] for the migrations to apply; it refuses a database newer than this
//!    program ([`MetadataStoreError::SchemaTooNew`]).
//! 3. Apply each pending migration in its own transaction, taking the database's write lock
//!    (and the dialect's migration lock, if it has one) first and re-reading the version
//!    inside it (another process may have migrated in the meantime): run its statements as
//!    [`Migration::statements_in`] gives them for the flavor's dialect, then record it with
//!    [`RECORD_MIGRATION_SQL`].
//!
//! # Writing migrations
//!
//! - The SQL must be accepted by SQLite 3.35+, MySQL 5.7+ and MariaDB 10.6+. The few
//!   fragments that differ between them live in each flavor's [`Dialect`], nowhere else;
//!   `LONGTEXT` stands for the dialect's [long text type](Dialect::long_text_type).
//! - Statements are separated by `;`; a `;` inside a string literal is not supported.
//! - Values are never spliced into SQL: migrations are constant text, and queries use `?`
//!   parameters, which a dialect may number ([`Dialect::placeholder`]).
//! - A released migration is never edited; change the schema by appending one.
//! - MySQL and MariaDB commit DDL statements implicitly, so there a migration is not atomic.
//!   Write each statement so that running it again after a partial failure is harmless
//!   (`CREATE TABLE IF NOT EXISTS`, `CREATE INDEX` after the table, …). MySQL 5.7 and 8 know
//!   no `CREATE INDEX IF NOT EXISTS` and no `ADD COLUMN IF NOT EXISTS`, so the `mysql` flavor
//!   treats "duplicate key name" from a `CREATE INDEX` statement ([`is_create_index`]) and
//!   "duplicate column name" from an `ALTER TABLE … ADD COLUMN` statement ([`is_add_column`])
//!   as done; add one column per `ALTER TABLE` statement. Index names are unique in the whole database (SQLite
//!   requires it): prefix them with their table's name.
//! - Foreign keys are table constraints (`CONSTRAINT fk_… FOREIGN KEY (…) REFERENCES …`):
//!   MySQL silently ignores a `REFERENCES` clause written on a column.
//!
//! The queries on these tables, shared by the SQL flavors too, are in [`crate::sql`].

use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::MetadataStoreError;
use crate::sql::Dialect;

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

    /// The migration's statements as `dialect` runs them: [`statements`](Self::statements),
    /// with each `LONGTEXT` written as the dialect's
    /// [`long_text_type`](Dialect::long_text_type) and the dialect's
    /// [`table_options`](Dialect::table_options) appended to every `CREATE TABLE`.
    pub fn statements_in<'d>(
        &self,
        dialect: &'d dyn Dialect,
    ) -> impl Iterator<Item = Cow<'static, str>> + 'd {
        let sql: &'static str = self.sql;
        sql.split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(move |statement| {
                let mut statement = Cow::Borrowed(statement);
                let long_text = dialect.long_text_type();
                if long_text != LONG_TEXT && statement.contains(LONG_TEXT) {
                    statement = Cow::Owned(statement.replace(LONG_TEXT, long_text));
                }
                let options = dialect.table_options();
                if !options.is_empty() && is_create_table(&statement) {
                    statement = Cow::Owned(format!("{statement} {options}"));
                }
                statement
            })
    }
}

/// The type name migrations use for JSON documents and free text; each dialect writes it
/// as its [`long_text_type`](Dialect::long_text_type).
pub const LONG_TEXT: &str = "LONGTEXT";

/// Whether `statement` is a `CREATE TABLE` statement.
fn is_create_table(statement: &str) -> bool {
    let mut words = statement.split_whitespace();
    matches!(
        (words.next(), words.next()),
        (Some(create), Some(table))
            if create.eq_ignore_ascii_case("CREATE") && table.eq_ignore_ascii_case("TABLE")
    )
}

/// Whether `statement` is a `CREATE INDEX` (or `CREATE UNIQUE INDEX`) statement: one that a
/// flavor without `CREATE INDEX IF NOT EXISTS` may find already applied when it re-runs a
/// migration that failed part-way.
pub fn is_create_index(statement: &str) -> bool {
    let words: Vec<&str> = statement.split_whitespace().take(3).collect();
    match words.as_slice() {
        [create, index, ..] if create.eq_ignore_ascii_case("CREATE") => {
            index.eq_ignore_ascii_case("INDEX")
                || (index.eq_ignore_ascii_case("UNIQUE")
                    && words
                        .get(2)
                        .is_some_and(|w| w.eq_ignore_ascii_case("INDEX")))
        }
        _ => false,
    }
}

/// Whether `statement` is an `ALTER TABLE … ADD COLUMN …` statement: one that a flavor
/// without `ADD COLUMN IF NOT EXISTS` may find already applied when it re-runs a migration
/// that failed part-way.
pub fn is_add_column(statement: &str) -> bool {
    let words: Vec<&str> = statement.split_whitespace().take(5).collect();
    match words.as_slice() {
        [alter, table, _, add, column] => {
            alter.eq_ignore_ascii_case("ALTER")
                && table.eq_ignore_ascii_case("TABLE")
                && add.eq_ignore_ascii_case("ADD")
                && column.eq_ignore_ascii_case("COLUMN")
        }
        _ => false,
    }
}

/// The table that records which migrations a database has had.
pub const MIGRATIONS_TABLE: &str = "zenml_schema_migrations";

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "schema bookkeeping",
        sql: "CREATE TABLE IF NOT EXISTS zenml_schema_migrations (
              version INTEGER PRIMARY KEY,
              description VARCHAR(255) NOT NULL,
              applied_at VARCHAR(40) NOT NULL
          )",
    },
    Migration {
        version: 2,
        description: "pipelines, runs, step runs, artifacts, lineage and run metadata",
        sql: MIGRATION_2,
    },
    Migration {
        version: 3,
        description: "step cache invalidation, and indexes for cache lookups and lineage",
        sql: MIGRATION_3,
    },
    Migration {
        version: 4,
        description: "a run's pipeline spec and its driver's lease, and attempts of retried steps",
        sql: MIGRATION_4,
    },
    Migration {
        version: 5,
        description: "the run status `cancelled`, and an index of runs by status",
        sql: MIGRATION_5,
    },
    Migration {
        version: 6,
        description: "named, versioned and tagged artifacts",
        sql: MIGRATION_6,
    },
    Migration {
        version: 7,
        description: "an index of runs by start time, for pages of runs",
        sql: MIGRATION_7,
    },
    Migration {
        version: 8,
        description: "indexes for pages of artifacts and of a pipeline's runs",
        sql: MIGRATION_8,
    },
];

/// Migration 2: the record model of [`crate::model`].
///
/// Types valid in every dialect: ids are `CHAR(36)` (hyphenated UUIDs); names and keys are
/// `VARCHAR(255)`, short enough for MySQL to index them; JSON documents and free text are
/// `LONGTEXT` (up to 4 GiB in MySQL, where `TEXT` stops at 64 KiB; SQLite gives it text
/// affinity); times are `BIGINT` milliseconds since the Unix epoch, UTC. Foreign keys are
/// table constraints, because MySQL ignores a `REFERENCES` clause written on a column.
const MIGRATION_2: &str = "
CREATE TABLE IF NOT EXISTS pipelines (
    id CHAR(36) NOT NULL,
    name VARCHAR(255) NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT uq_pipelines_name UNIQUE (name)
);
CREATE TABLE IF NOT EXISTS pipeline_runs (
    id CHAR(36) NOT NULL,
    pipeline_id CHAR(36) NOT NULL,
    name VARCHAR(255) NOT NULL,
    status VARCHAR(32) NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at BIGINT NULL,
    config LONGTEXT NOT NULL,
    stack LONGTEXT NOT NULL,
    error LONGTEXT NULL,
    PRIMARY KEY (id),
    CONSTRAINT uq_pipeline_runs_name UNIQUE (name),
    CONSTRAINT fk_pipeline_runs_pipeline FOREIGN KEY (pipeline_id) REFERENCES pipelines (id)
);
CREATE INDEX ix_pipeline_runs_pipeline_started ON pipeline_runs (pipeline_id, started_at);
CREATE TABLE IF NOT EXISTS step_runs (
    id CHAR(36) NOT NULL,
    run_id CHAR(36) NOT NULL,
    name VARCHAR(255) NOT NULL,
    status VARCHAR(32) NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at BIGINT NOT NULL,
    code_hash VARCHAR(255) NOT NULL,
    cache_key VARCHAR(255) NULL,
    parameters LONGTEXT NOT NULL,
    error LONGTEXT NULL,
    original_step_run_id CHAR(36) NULL,
    PRIMARY KEY (id),
    CONSTRAINT uq_step_runs_run_name UNIQUE (run_id, name),
    CONSTRAINT fk_step_runs_run FOREIGN KEY (run_id) REFERENCES pipeline_runs (id)
);
CREATE INDEX ix_step_runs_cache_key ON step_runs (cache_key);
CREATE TABLE IF NOT EXISTS artifacts (
    id CHAR(36) NOT NULL,
    uri LONGTEXT NOT NULL,
    artifact_store_uri LONGTEXT NOT NULL,
    path LONGTEXT NOT NULL,
    rust_type LONGTEXT NOT NULL,
    materializer_id VARCHAR(255) NOT NULL,
    materializer_version BIGINT NOT NULL,
    content_hash VARCHAR(255) NOT NULL,
    size BIGINT NOT NULL,
    producer_step_run_id CHAR(36) NOT NULL,
    output_name VARCHAR(255) NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT fk_artifacts_producer FOREIGN KEY (producer_step_run_id) REFERENCES step_runs (id)
);
CREATE INDEX ix_artifacts_producer ON artifacts (producer_step_run_id);
CREATE TABLE IF NOT EXISTS step_run_inputs (
    step_run_id CHAR(36) NOT NULL,
    input_name VARCHAR(255) NOT NULL,
    artifact_id CHAR(36) NOT NULL,
    PRIMARY KEY (step_run_id, input_name),
    CONSTRAINT fk_step_run_inputs_step_run FOREIGN KEY (step_run_id) REFERENCES step_runs (id),
    CONSTRAINT fk_step_run_inputs_artifact FOREIGN KEY (artifact_id) REFERENCES artifacts (id)
);
CREATE INDEX ix_step_run_inputs_artifact ON step_run_inputs (artifact_id);
CREATE TABLE IF NOT EXISTS step_run_outputs (
    step_run_id CHAR(36) NOT NULL,
    output_name VARCHAR(255) NOT NULL,
    artifact_id CHAR(36) NOT NULL,
    PRIMARY KEY (step_run_id, output_name),
    CONSTRAINT fk_step_run_outputs_step_run FOREIGN KEY (step_run_id) REFERENCES step_runs (id),
    CONSTRAINT fk_step_run_outputs_artifact FOREIGN KEY (artifact_id) REFERENCES artifacts (id)
);
CREATE INDEX ix_step_run_outputs_artifact ON step_run_outputs (artifact_id);
CREATE TABLE IF NOT EXISTS run_metadata (
    resource_type VARCHAR(32) NOT NULL,
    resource_id CHAR(36) NOT NULL,
    meta_key VARCHAR(255) NOT NULL,
    value LONGTEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (resource_type, resource_id, meta_key)
)
";

/// Migration 3: step caching, cache management and lineage.
///
/// - `step_runs.cache_invalidated_at`: when the step run's cache entry was invalidated
///   (`NULL`: never). An invalidated step run is never a cache hit again but keeps its
///   `cache_key`, so that what happened stays on record.
/// - `ix_step_runs_cache_lookup`: a cache lookup (the completed, valid step runs with one
///   cache key, newest first) reads only its own entries, in order.
/// - `ix_step_runs_name`: cache management by step name (listing and invalidating the
///   entries of one step across runs) without reading every step run.
///
/// Lineage needs nothing new: inputs by step run use the primary key of `step_run_inputs`,
/// consumers of an artifact `ix_step_run_inputs_artifact`, and artifacts by producer
/// `ix_artifacts_producer`. `ix_step_runs_cache_key` of migration 2 stays (a migration
/// that dropped it would need dialect-specific SQL); lookups use the new index.
const MIGRATION_3: &str = "
ALTER TABLE step_runs ADD COLUMN cache_invalidated_at BIGINT NULL;
CREATE INDEX ix_step_runs_cache_lookup
    ON step_runs (cache_key, status, cache_invalidated_at, ended_at);
CREATE INDEX ix_step_runs_name ON step_runs (name)
";

/// Migration 4: what another process needs to run one step of a recorded run, how a run
/// whose driver is gone is told from one still running, and attempts of retried steps.
///
/// - `pipeline_runs.spec`: the pipeline's spec as the run's program declared it (each
///   step's code hash, inputs, outputs and materializers), JSON; `NULL` for runs recorded
///   before. A step started by another process checks its program against it.
/// - `pipeline_runs.lease_expires_at`: until when the process driving the run has promised
///   to be alive; it renews the lease while the run goes on. A `running` run whose lease
///   has expired is read as `interrupted`. `NULL`: no lease (runs recorded before).
/// - `step_runs.attempt`: which attempt of the step the step run is (1 for the first).
/// - `step_attempts`: the failed attempts of steps that were tried again; the final one
///   (success or failure) is the step run.
const MIGRATION_4: &str = "
ALTER TABLE pipeline_runs ADD COLUMN spec LONGTEXT NULL;
ALTER TABLE pipeline_runs ADD COLUMN lease_expires_at BIGINT NULL;
ALTER TABLE step_runs ADD COLUMN attempt BIGINT NOT NULL DEFAULT 1;
CREATE TABLE IF NOT EXISTS step_attempts (
    id CHAR(36) NOT NULL,
    run_id CHAR(36) NOT NULL,
    name VARCHAR(255) NOT NULL,
    attempt BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at BIGINT NOT NULL,
    error LONGTEXT NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT uq_step_attempts_run_name_attempt UNIQUE (run_id, name, attempt),
    CONSTRAINT fk_step_attempts_run FOREIGN KEY (run_id) REFERENCES pipeline_runs (id)
)
";

/// Migration 5: cancelled runs.
///
/// A run can now be recorded with the status `cancelled` (`zenml run cancel`), which a
/// program of schema 4 cannot read; the version step makes such a program refuse the
/// database as too new instead of failing on the first cancelled run it reads.
///
/// - `ix_pipeline_runs_status`: the running runs (to cancel, to drive, to keep what they
///   may still record from a prune) are found without reading every run.
const MIGRATION_5: &str = "
CREATE INDEX ix_pipeline_runs_status ON pipeline_runs (status)
";

/// Migration 6: artifacts under names, with versions, and tags.
///
/// - `artifact_names`: each name with its latest version. A step run that records a new
///   version of a name increments `latest_version` with an `UPDATE`, whose row lock makes
///   concurrent writers of one name take their numbers one after the other on every
///   database, before it inserts the version.
/// - `artifact_versions`: which artifact is which version of which name; an artifact has at
///   most one name, and a name each version once.
/// - `artifact_tags`: free labels on artifacts, given by the step that made them or later
///   (`zenml artifact tag`), found by tag through `ix_artifact_tags_tag`.
const MIGRATION_6: &str = "
CREATE TABLE IF NOT EXISTS artifact_names (
    name VARCHAR(255) NOT NULL,
    latest_version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (name)
);
CREATE TABLE IF NOT EXISTS artifact_versions (
    artifact_id CHAR(36) NOT NULL,
    name VARCHAR(255) NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (artifact_id),
    CONSTRAINT uq_artifact_versions_name_version UNIQUE (name, version),
    CONSTRAINT fk_artifact_versions_artifact FOREIGN KEY (artifact_id) REFERENCES artifacts (id),
    CONSTRAINT fk_artifact_versions_name FOREIGN KEY (name) REFERENCES artifact_names (name)
);
CREATE TABLE IF NOT EXISTS artifact_tags (
    artifact_id CHAR(36) NOT NULL,
    tag VARCHAR(255) NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (artifact_id, tag),
    CONSTRAINT fk_artifact_tags_artifact FOREIGN KEY (artifact_id) REFERENCES artifacts (id)
);
CREATE INDEX ix_artifact_tags_tag ON artifact_tags (tag)
";

/// Migration 7: pages of runs.
///
/// - `ix_pipeline_runs_started`: runs in the order listings show them (newest first, ties
///   by name), so that a page of runs (`query_runs`, the dashboard) reads its rows from the
///   index instead of sorting every run.
const MIGRATION_7: &str = "
CREATE INDEX ix_pipeline_runs_started ON pipeline_runs (started_at, name)
";

/// Migration 8: pages of artifacts and of one pipeline's runs.
///
/// - `ix_artifacts_created`: artifacts in the order listings show them (newest first, ties
///   by id), so that a page of artifacts (`query_artifacts`) reads its rows from the index,
///   and a page past a cursor starts where the cursor points instead of counting its way
///   there.
/// - `ix_pipeline_runs_pipeline_started_name`: one pipeline's runs newest first with ties
///   by name, for its pages and for the newest runs whose metrics a chart draws.
/// - `ix_artifacts_materializer`: artifacts of one materializer, newest first.
const MIGRATION_8: &str = "
CREATE INDEX ix_artifacts_created ON artifacts (created_at, id);
CREATE INDEX ix_artifacts_materializer ON artifacts (materializer_id, created_at);
CREATE INDEX ix_pipeline_runs_pipeline_started_name ON pipeline_runs (pipeline_id, started_at, name)
";

/// The schema version this program writes: the version of the last migration.
pub const SCHEMA_VERSION: u32 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// Reads the recorded version (0 when no migration was recorded) as one integer column.
pub const CURRENT_VERSION_SQL: &str =
    "SELECT COALESCE(MAX(version), 0) FROM zenml_schema_migrations";

/// Records an applied migration; parameters: version, description, applied-at timestamp
/// ([`timestamp_now`]).
pub const RECORD_MIGRATION_SQL: &str =
    "INSERT INTO zenml_schema_migrations (version, description, applied_at) VALUES (?, ?, ?)";

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
    zenml_core::time::rfc3339(i64::try_from(seconds).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::dialect::test_dialects::{Custom, Plain};

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
        assert_eq!(timestamp_now().len(), 20);
    }

    #[test]
    fn dialects_add_their_table_options_to_create_table_only() {
        let migration = &MIGRATIONS[1];
        let sqlite: Vec<_> = migration.statements_in(&Plain).collect();
        assert!(
            sqlite
                .iter()
                .zip(migration.statements())
                .all(|(a, b)| a == b)
        );
        for (statement, original) in migration.statements_in(&Custom).zip(migration.statements()) {
            if original.starts_with("CREATE TABLE") {
                assert!(statement.ends_with("COLLATE utf8mb4_bin"), "{statement}");
                assert!(!statement.contains(LONG_TEXT), "{statement}");
                assert_eq!(
                    statement.matches(" TEXT ").count(),
                    original.matches(" LONGTEXT ").count(),
                    "{statement}"
                );
            } else {
                assert_eq!(statement, original);
                assert!(is_create_index(&statement), "{statement}");
            }
        }
        assert!(is_create_index("create unique  index ix ON t (a)"));
        assert!(!is_create_index("CREATE TABLE t (a INTEGER)"));
        assert!(!is_create_table("CREATE INDEX ix ON t (a)"));
    }

    #[test]
    fn migrations_name_indexes_after_their_tables() {
        let statements = MIGRATIONS.iter().flat_map(Migration::statements);
        for statement in statements.filter(|s| is_create_index(s)) {
            let words: Vec<&str> = statement.split_whitespace().collect();
            // CREATE INDEX ix_<table>_… ON <table> (…)
            assert_eq!(words[3], "ON", "{statement}");
            assert!(
                words[2].starts_with(&format!("ix_{}_", words[4])),
                "{statement}"
            );
        }
    }

    #[test]
    fn migrations_after_2_only_add_tables_columns_and_indexes() {
        let statements: Vec<&str> = MIGRATIONS[2..]
            .iter()
            .flat_map(Migration::statements)
            .collect();
        assert!(!statements.is_empty());
        for statement in &statements {
            assert!(
                is_add_column(statement)
                    || is_create_index(statement)
                    || statement.starts_with("CREATE TABLE IF NOT EXISTS"),
                "{statement}"
            );
            // One column per ALTER TABLE, so that a re-run can skip exactly what was done.
            assert_eq!(
                statement.matches("ADD COLUMN").count(),
                usize::from(is_add_column(statement))
            );
        }
        for column in [
            "cache_invalidated_at BIGINT NULL",
            "spec LONGTEXT NULL",
            "lease_expires_at BIGINT NULL",
            "attempt BIGINT NOT NULL DEFAULT 1",
        ] {
            assert!(statements.iter().any(|s| s.contains(column)), "{column}");
        }
        assert!(is_add_column("alter  table t add column c BIGINT"));
        assert!(!is_add_column("ALTER TABLE t ADD INDEX ix (c)"));
        assert!(!is_add_column("ALTER TABLE t"));
        assert!(!is_add_column("CREATE INDEX ix ON t (a)"));
    }

    #[test]
    fn recorded_versions_must_fit() {
        assert_eq!(recorded_version(3, "sqlite").unwrap(), 3);
        assert!(recorded_version(-1, "sqlite").is_err());
    }
}
